"""Model verbs: train, eval, sample, card, compare, presets, config."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import THREADS, fail, guarded, sigterm_interrupts, use_threads

app = typer.Typer()


@app.command()
def train(
    config: str = typer.Argument(..., help="preset name (see `latentsynth presets`), YAML file or run folder"),
    overrides: list[str] = typer.Argument(None, help="key=value overrides, e.g. model.latent_dim=8"),
    out: Path = typer.Option(Path("runs"), "--out", "-o", help="parent folder of the run folder"),
    data_dir: str = typer.Option(None, "--data-dir", help="folder with the IDX files"),
    resume: bool = typer.Option(False, "--resume", help="continue a killed run from its last checkpoint"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    threads: int = THREADS,
) -> None:
    """Train a model; evaluates it on the test set and saves the model folder <out>/<name>."""
    use_threads(threads)
    from ..config import load_config
    from ..training import train as fit

    def go():
        items = list(overrides or [])
        if data_dir:
            items.append(f"data.data_dir={data_dir}")
        if resume and not Path(config).exists():
            from ..config import ConfigError, list_presets

            if config not in list_presets():
                raise ConfigError(f"{config}: no such run folder (nor a preset name); --resume continues a run "
                                  "folder that `latentsynth train` made (<out>/<name>); check the path, or train it "
                                  "first")
        cfg = load_config(config, items)
        with sigterm_interrupts():
            if Path(config).is_dir() and not any(o.startswith("name=") for o in items):
                return fit(cfg, Path(config).parent, resume=resume, quiet=quiet)
            return fit(cfg, out, resume=resume, quiet=quiet)

    run = guarded(go)
    from ..training.fit import launched_rank

    if not launched_rank():  # DDP workers (rank > 0) write and say nothing
        typer.echo(f"saved model folder: {run}")


@app.command("eval")
def eval_(
    run: Path = typer.Argument(..., help="model folder"),
    data_dir: str = typer.Option(None, "--data-dir"),
    iw_samples: int = typer.Option(None, min=1, help="importance samples for the NLL, at least 1 (default: the "
                                                     "run's config, train.eval_iw_samples)"),
    timbre: bool = typer.Option(True, help="frame models: also the timbre scores (probes, morph, loudness, f0)"),
    source: Path = typer.Option(None, help="frame models: a corpus of a sound source never trained on, for the "
                                           "source test (default: the run's data.source_test)"),
    threads: int = THREADS,
) -> None:
    """Evaluate a saved model on the test set (BCE, MSE, latent MMD, IW-NLL) and update its metrics.json."""
    use_threads(threads)
    from ..data import data_module
    from ..evaluation import evaluate
    from ..folders import load, load_metrics, write_json
    from ..training.fit import format_metrics

    def go():
        model = load(run)
        cfg = model.cfg
        data = data_module(cfg, data_dir)
        labels = data.test.labels() if cfg.data.kind == "frames" else None
        res = evaluate(model, data.test.as_tensor(), cfg.train.eval_iw_samples if iw_samples is None else iw_samples,
                       cfg.train.eval_mmd_samples, c=labels)
        if cfg.data.kind == "frames":
            from ..evaluation.audio import note_scores

            res.update(note_scores(model, data, cfg.train.eval_fit_steps))
            if timbre:
                from ..evaluation.timbre import timbre_scores

                res.update(timbre_scores(model, data, source or cfg.data.source_test, res.get("test_spec_sc")))
        metrics = {**load_metrics(run), **res}
        write_json(run / "metrics.json", metrics)
        typer.echo(format_metrics(cfg.name, metrics))

    guarded(go)


@app.command()
def sample(
    run: Path = typer.Argument(..., help="model folder"),
    n: int = typer.Option(100, min=1, help="number of prior samples and of reconstructed test images"),
    seed: int = typer.Option(0),
    data_dir: str = typer.Option(None, "--data-dir"),
) -> None:
    """Write samples.png (decoded prior samples) and reconstructions.png (test images) into the run folder."""
    import torch

    from ..data import data_module
    from ..folders import load
    from ..plots import save_grid, save_reconstructions

    def go():
        model = load(run)
        if model.cfg.data.kind == "frames":  # spectrogram models: test notes and their reconstructions
            from ..evaluation.audio import pick_notes, plot_notes

            data = data_module(model.cfg, data_dir)
            typer.echo(f"wrote {plot_notes(model, data, pick_notes(data, min(n, 8)), run / 'notes.png')}")
            return
        g = torch.Generator().manual_seed(seed)
        p1 = save_grid(model.generate(n, generator=g), run / "samples.png", title=f"{model.cfg.name}: prior samples")
        x = data_module(model.cfg, data_dir).test.as_tensor()[:n]
        p2 = save_reconstructions(x, model.reconstruct(x), run / "reconstructions.png",
                                  title=f"{model.cfg.name}: test images (odd rows) and reconstructions")
        typer.echo(f"wrote {p1} and {p2}")

    guarded(go)


@app.command()
def card(
    runs: list[Path] = typer.Argument(..., help="model folders"),
    note: str = typer.Option("", help="a sentence on why the model was chosen (goes on every card)"),
    to: Path = typer.Option(None, "--to", help="export: copy each model (weights, config, metrics, "
                                      "figures; no checkpoints) to TO/<name> with its card, and index TO/README.md"),
    name: str = typer.Option(None, help="folder name under --to (one run only; default: the run's)"),
) -> None:
    """Write CARD.md (data, representation, settings, scores) into each model folder, from its own files."""
    from ..cards import export_model, write_card

    if name is not None and (to is None or len(runs) != 1):
        fail(ValueError("--name: give it with --to and exactly one model folder"))

    def go():
        from ..folders import check_model_folder

        for run in runs:
            check_model_folder(run)
        for run in runs:
            if to is None:
                typer.echo(f"wrote {write_card(run, note)}")
            else:
                dest = export_model(run, to / (name or run.name), note)
                typer.echo(f"exported {run} -> {dest} (card and {to / 'README.md'})")

    guarded(go)


@app.command()
def compare(runs: list[Path] = typer.Argument(..., help="model folders, or a results.csv and two groups")) -> None:
    """Print the test metrics of several model folders side by side, or, as `compare results.csv A B`, the
    difference between two groups of a sweep (mean of A − mean of B ± standard error, Welch's t-test over seeds)."""
    from ..folders import load_metrics

    if runs[0].suffix == ".csv":
        from ..bench.report import compare_groups, read_results

        if len(runs) != 3:
            fail(ValueError("compare RESULTS.csv A B: give the CSV and exactly two groups"))
        a, b = str(runs[1]), str(runs[2])
        try:
            table = compare_groups(read_results(runs[0]), a, b)
        except (OSError, ValueError) as err:
            fail(ValueError(f"{runs[0]}: {err}"))
        typer.echo(f"{a} − {b} (Welch's t-test over seeds; p not corrected for multiple comparisons)")
        for label, d, se, p in table:
            se_text = "" if se is None else f" ± {se:.4g}"
            p_text = "" if p is None else f"  p = {p:.3g}{' *' if p < 0.05 else ''}"
            typer.echo(f"  {label:<20} {d:+.4g}{se_text}{p_text}")
        return

    from ..folders import check_model_folder
    from ..metric_table import view

    cols = view("compare")
    rows = guarded(lambda: [(str(r), load_metrics(check_model_folder(r))) for r in runs])
    width = max(len(r) for r, _ in rows)
    typer.echo(f"{'run':<{width}}  " + "  ".join(f"{c.name:>12}" for c in cols))
    for name, m in rows:
        cells = []
        for c in cols:
            v = m.get(c.key)
            cells.append(f"{c.format(v):>12}" if isinstance(v, (int, float)) else f"{'-':>12}")
        typer.echo(f"{name:<{width}}  " + "  ".join(cells))


@app.command()
def presets() -> None:
    """List the preset names (<data>-<model>)."""
    from ..config import list_presets

    for name in list_presets():
        typer.echo(name)


@app.command()
def config(
    source: str = typer.Argument(..., help="preset, YAML file or run folder"),
    overrides: list[str] = typer.Argument(None),
) -> None:
    """Print the fully resolved configuration (every valid key with its value)."""
    from ..config import dump_yaml, load_config

    typer.echo(guarded(lambda: dump_yaml(load_config(source, list(overrides or [])))), nl=False)

