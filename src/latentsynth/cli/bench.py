"""``latentsynth bench``: sweeps of model variations and their report."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import guarded, use_threads

app = typer.Typer()


@app.command()
def bench(
    sweep: str = typer.Argument(None, help="built-in sweep (see --list) or sweep YAML file"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides applied to every run"),
    out: Path = typer.Option(Path("runs/bench"), "--out", "-o", help="parent folder of the sweep folder"),
    workers: int = typer.Option(1, "--workers", "-j", help="runs trained in parallel (worker processes)"),
    backend: str = typer.Option("local", "--backend", help="local (this machine's processes) or ray (Ray tasks; "
                                "pip install 'latentsynth[ray]')"),
    address: str = typer.Option(None, "--address", help="Ray cluster address ('auto': the running cluster; "
                                "default: a local Ray instance)"),
    shard: str = typer.Option(None, "--shard", help="i/n: train only every n-th run from the i-th (SLURM job "
                              "arrays, Kubernetes indexed jobs); run folders are claimed, no run is trained twice"),
    threads: int = typer.Option(None, "--threads", min=1, envvar="LATENTSYNTH_THREADS",
                                 help="torch threads of each run (default 1; env LATENTSYNTH_THREADS)"),
    paper_protocol: bool = typer.Option(None, "--paper-protocol/--cpu-protocol",
                                        help="the sweep's full-length protocol (default: on when CUDA is present)"),
    list_: bool = typer.Option(False, "--list", help="list the built-in sweeps and exit"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the planned runs and exit"),
    report_only: bool = typer.Option(False, "--report-only", help="rewrite the report from finished runs"),
    generation: bool = typer.Option(True, "--generation/--no-generation",
                                    help="score generation with the domain classifier (trained once if missing)"),
) -> None:
    """Run a sweep of model variations (resumable: finished runs are skipped) and write
    results.csv, summary.md, summary.html and summary.png into <out>/<sweep>/."""
    from ..bench import expand, list_sweeps, load_sweep, run_sweep, write_report
    from ..bench.runner import parse_shard

    if list_ or sweep is None:
        for name in list_sweeps():
            typer.echo(f"{name:<16} {load_sweep(name).description.strip().splitlines()[0][:100]}")
        return

    use_threads(threads)  # exported: worker processes inherit it

    def go():
        import torch

        part = parse_shard(shard) if shard else None
        spec = load_sweep(sweep)
        paper = torch.cuda.is_available() if paper_protocol is None else paper_protocol
        runs = expand(spec, paper_protocol=paper, extra=list(overrides or []))
        if dry_run:
            for r in runs:
                typer.echo(f"{r.name:<40} {r.config.model.encoder:<13} {r.config.regularizer.kind:<11} "
                           f"{r.config.likelihood.kind:<9} {r.config.prior.kind:<11} z={r.config.model.latent_dim} "
                           f"epochs={r.config.train.max_epochs}")
            return
        if report_only:
            root = out / spec.name
            write_report(spec, runs, root)
        else:
            root = run_sweep(spec, runs, out, workers, generation=generation, threads=threads, backend=backend,
                             address=address, shard=part)
        typer.echo((root / "summary.md").read_text())
        typer.echo(f"results: {root / 'results.csv'}  report: {root / 'summary.html'}")

    guarded(go)
