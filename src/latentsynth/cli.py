"""The ``latentsynth`` command line: one typer app."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Regularized auto-encoders (AE, VAE, WAE) and latent audio synthesis.")


def _mount_audio() -> None:
    from .audio_cli import app as audio_app

    app.add_typer(audio_app, name="audio", help="Audio corpora (render, import), spectrogram frames, round trips.")


_mount_audio()


def _fail(err: Exception, code: int = 2) -> None:
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(code)


def _run_guarded(fn, *args, **kwargs):
    from .config import ConfigError
    from .data.idx import DataError
    from .training.module import NonFiniteLossError

    try:
        return fn(*args, **kwargs)
    except (ConfigError, DataError, FileNotFoundError) as err:
        _fail(err, 2)
    except NonFiniteLossError as err:
        _fail(err, 3)


@app.command()
def train(
    config: str = typer.Argument(..., help="preset name (see `latentsynth presets`), YAML file or run folder"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. model.latent_dim=8"),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="parent folder of the run folder"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with the IDX files"),
    resume: bool = typer.Option(False, "--resume", help="continue a killed run from its last checkpoint"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Train a model; evaluates it on the test set and saves the model folder <out>/<name>."""
    from .config import load_config
    from .training import train as fit

    def go():
        items = list(overrides or [])
        if data_dir:
            items.append(f"data.data_dir={data_dir}")
        cfg = load_config(config, items)
        if Path(config).is_dir() and not any(o.startswith("name=") for o in items):
            return fit(cfg, Path(config).parent, resume=resume, quiet=quiet)
        return fit(cfg, out, resume=resume, quiet=quiet)

    run = _run_guarded(go)
    typer.echo(f"saved model folder: {run}")


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="model folder"),
    data_dir: str = typer.Option(None, "--data-dir"),
    iw_samples: int = typer.Option(None, help="importance samples for the NLL (default: the run's config)"),
) -> None:
    """Evaluate a saved model on the test set (BCE, MSE, latent MMD, IW-NLL) and update its metrics.json."""
    from .data import data_module
    from .evaluation import evaluate
    from .folders import load, load_metrics, write_json
    from .training.fit import format_metrics

    def go():
        model = load(run)
        cfg = model.cfg
        data = data_module(cfg, data_dir)
        res = evaluate(model, data.test.as_tensor(), iw_samples or cfg.train.eval_iw_samples,
                       cfg.train.eval_mmd_samples)
        if cfg.data.kind == "frames":
            from .evaluation.audio import audio_scores

            res.update(audio_scores(model, data))
        metrics = {**load_metrics(run), **res}
        write_json(run / "metrics.json", metrics)
        typer.echo(format_metrics(cfg.name, metrics))

    _run_guarded(go)


@app.command()
def sample(
    run: Path = typer.Argument(..., help="model folder"),
    n: int = typer.Option(100, help="number of prior samples and of reconstructed test images"),
    seed: int = typer.Option(0),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """Write samples.png (decoded prior samples) and reconstructions.png (test images) into the run folder."""
    import torch

    from .data import data_module
    from .folders import load
    from .plots import save_grid, save_reconstructions

    def go():
        model = load(run)
        if model.cfg.data.kind == "frames":  # spectrogram models: test notes and their reconstructions
            from .evaluation.audio import pick_notes, plot_notes

            data = data_module(model.cfg, data_dir)
            typer.echo(f"wrote {plot_notes(model, data, pick_notes(data, min(n, 8)), run / 'notes.png')}")
            return
        g = torch.Generator().manual_seed(seed)
        p1 = save_grid(model.generate(n, generator=g), run / "samples.png", title=f"{model.cfg.name}: prior samples")
        x = data_module(model.cfg, data_dir).test.as_tensor()[:n]
        p2 = save_reconstructions(x, model.reconstruct(x), run / "reconstructions.png",
                                  title=f"{model.cfg.name}: test images (odd rows) and reconstructions")
        typer.echo(f"wrote {p1} and {p2}")

    _run_guarded(go)


@app.command()
def explore(
    runs: list[Path] = typer.Argument(..., help="one or more model folders (images or spectrogram frames)"),
    tsne: bool = typer.Option(False, "--tsne", help="also a t-SNE projection (slower)"),
    out: Path = typer.Option(None, "--out", help="folder for the joint projection of several models"),
    data_dir: str = typer.Option(None, "--data-dir"),
    seed: int = typer.Option(0),
) -> None:
    """Latent structure and generation figures: projections coloured by class, prior and aggregate-posterior
    samples, traversals, linear and spherical interpolations (into <run>/explore/). Frame models: projections
    coloured by instrument, pitch and dynamics, and decoded prior samples."""
    from .data import data_module
    from .folders import load
    from .latent.explore import encodings
    from .latent.explore import explore as explore_run
    from .latent.projections import plot_projections

    def go():
        joint = []
        for run in runs:
            model = load(run)
            data = data_module(model.cfg, data_dir)
            if model.cfg.data.kind == "frames":
                from .latent.explore_frames import explore_frames

                for p in explore_frames(model, run / "explore", data, tsne=tsne, seed=seed):
                    typer.echo(f"wrote {p}")
                pr = json.loads((run / "explore" / "probes.json").read_text())
                typer.echo(f"k-NN probes of the test codes: instrument {pr['instrument_acc']:.3f} (chance "
                           f"{pr['instrument_chance']:.3f}), dynamics {pr['dynamics_acc']:.3f} (chance "
                           f"{pr['dynamics_chance']:.3f}), pitch MAE {pr['pitch_mae']:.2f} semitones (chance "
                           f"{pr['pitch_mae_chance']:.2f})")
                continue
            for p in explore_run(model, run / "explore", data, tsne=tsne, seed=seed):
                typer.echo(f"wrote {p}")
            pr = json.loads((run / "explore" / "probes.json").read_text())
            typer.echo(f"class probes of the test codes: k-NN {pr['probe_class_knn']:.3f}, linear "
                       f"{pr['probe_class_linear']:.3f} (chance {pr['probe_class_chance']:.3f})")
            if len(runs) > 1:
                zt, yt, zv, yv = encodings(model, data, n=3000, seed=seed)
                joint.append((model.cfg.name, zt, yt, zv, yv))
        for method in ("pca", "tsne") if tsne else ("pca",):
            if joint:
                target = (out or runs[0].parent) / f"projections_{method}.png"
                if method == "tsne":  # t-SNE is quadratic in the points: 2,000 per panel
                    joint = [(name, zt[:2000], yt[:2000], zv[:2000], yv[:2000]) for name, zt, yt, zv, yv in joint]
                typer.echo(f"wrote {plot_projections(joint, target, method, data.classes)}")

    _run_guarded(go)


@app.command()
def classifier(
    dataset: str = typer.Argument(..., help="mnist or fashion-mnist"),
    out: Path = typer.Option(None, "--out", help="folder (default: ~/.cache/latentsynth/classifiers/<dataset>)"),
    epochs: int = typer.Option(None, help="default 4 for MNIST, 10 for Fashion-MNIST"),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """Train (if absent) the domain classifier used by the generation scores and print its test accuracy."""
    from .evaluation.classifier import default_classifier_dir, ensure_classifier
    from .folders import load_metrics

    def go():
        folder = out or default_classifier_dir(dataset)
        ensure_classifier(dataset, folder, data_dir, epochs)
        typer.echo(f"{folder}: test accuracy {load_metrics(folder).get('test_accuracy', float('nan')):.4f}")

    _run_guarded(go)


@app.command()
def card(
    runs: list[Path] = typer.Argument(..., help="model folders"),
    note: str = typer.Option("", help="a sentence on why the model was chosen (goes on every card)"),
    to: Path = typer.Option(None, "--to", help="export: copy each model (weights, config, metrics, "
                                      "figures; no checkpoints) to TO/<name> with its card, and index TO/README.md"),
    name: str = typer.Option(None, help="folder name under --to (one run only; default: the run's)"),
) -> None:
    """Write CARD.md (data, representation, settings, scores) into each model folder, from its own files."""
    from .cards import export_model, write_card

    if name is not None and (to is None or len(runs) != 1):
        _fail(ValueError("--name: give it with --to and exactly one model folder"))

    def go():
        for run in runs:
            if to is None:
                typer.echo(f"wrote {write_card(run, note)}")
            else:
                dest = export_model(run, to / (name or run.name), note)
                typer.echo(f"exported {run} -> {dest} (card and {to / 'README.md'})")

    _run_guarded(go)


@app.command()
def compare(runs: list[Path] = typer.Argument(..., help="model folders, or a results.csv and two groups")) -> None:
    """Print the test metrics of several model folders side by side, or, as `compare results.csv A B`, the
    difference between two groups of a sweep (mean of A − mean of B ± standard error, Welch's t-test over seeds)."""
    from .folders import load_metrics

    if runs[0].suffix == ".csv":
        from .bench.report import compare_groups, read_results

        if len(runs) != 3:
            _fail(ValueError("compare RESULTS.csv A B: give the CSV and exactly two groups"))
        a, b = str(runs[1]), str(runs[2])
        try:
            table = compare_groups(read_results(runs[0]), a, b)
        except (OSError, ValueError) as err:
            _fail(ValueError(f"{runs[0]}: {err}"))
        typer.echo(f"{a} − {b} (Welch's t-test over seeds; p not corrected for multiple comparisons)")
        for label, d, se, p in table:
            se_text = "" if se is None else f" ± {se:.4g}"
            p_text = "" if p is None else f"  p = {p:.3g}{' *' if p < 0.05 else ''}"
            typer.echo(f"  {label:<20} {d:+.4g}{se_text}{p_text}")
        return

    cols = ["test_bce", "test_mse", "test_latent_mmd", "test_nll_iw", "epochs", "train_samples_per_s",
            "wall_seconds"]
    rows = [(str(r), load_metrics(r)) for r in runs]
    width = max(len(r) for r, _ in rows)
    typer.echo(f"{'run':<{width}}  " + "  ".join(f"{c.removeprefix('test_'):>12}" for c in cols))
    for name, m in rows:
        cells = []
        for c in cols:
            v = m.get(c)
            cells.append(f"{v:>12.4g}" if isinstance(v, (int, float)) else f"{'-':>12}")
        typer.echo(f"{name:<{width}}  " + "  ".join(cells))


@app.command()
def bench(
    sweep: str = typer.Argument(None, help="built-in sweep (see --list) or sweep YAML file"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides applied to every run"),
    out: Path = typer.Option(Path("runs/bench"), "--out", "-o", help="parent folder of the sweep folder"),
    workers: int = typer.Option(1, "--workers", "-j", help="runs trained in parallel (worker processes)"),
    threads: int = typer.Option(None, "--threads", min=1, help="torch threads per run (default: cores / workers)"),
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
    from .bench import expand, list_sweeps, load_sweep, run_sweep, write_report

    if list_ or sweep is None:
        for name in list_sweeps():
            typer.echo(f"{name:<16} {load_sweep(name).description.strip().splitlines()[0][:100]}")
        return

    def go():
        import torch

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
            root = run_sweep(spec, runs, out, workers, generation=generation, threads=threads)
        typer.echo((root / "summary.md").read_text())
        typer.echo(f"results: {root / 'results.csv'}  report: {root / 'summary.html'}")

    _run_guarded(go)


@app.command()
def presets() -> None:
    """List the preset names (<data>-<model>)."""
    from .config import list_presets

    for name in list_presets():
        typer.echo(name)


@app.command()
def config(
    source: str = typer.Argument(..., help="preset, YAML file or run folder"),
    overrides: list[str] = typer.Argument(None),
) -> None:
    """Print the fully resolved configuration (every valid key with its value)."""
    from .config import dump_yaml, load_config

    typer.echo(_run_guarded(lambda: dump_yaml(load_config(source, list(overrides or [])))), nl=False)


def main() -> None:
    app(prog_name="latentsynth")


if __name__ == "__main__":
    sys.exit(main())
