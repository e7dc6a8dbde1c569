"""Latent-structure verbs: explore (figures and probes of saved models) and classifier (the domain classifier of
the generation scores)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import THREADS, guarded, use_threads

app = typer.Typer()


@app.command()
def explore(
    runs: list[Path] = typer.Argument(..., help="one or more model folders (images or spectrogram frames)"),
    tsne: bool = typer.Option(False, "--tsne", help="also a t-SNE projection (slower)"),
    out: Path = typer.Option(None, "--out", help="folder for the joint projection of several models"),
    data_dir: str = typer.Option(None, "--data-dir"),
    seed: int = typer.Option(0),
    threads: int = THREADS,
) -> None:
    """Latent structure and generation figures: projections coloured by class, prior and aggregate-posterior
    samples, traversals, linear and spherical interpolations (into <run>/explore/). Frame models: projections
    coloured by instrument, pitch and dynamics, and decoded prior samples."""
    use_threads(threads)
    from ..data import data_module
    from ..evaluation.probes import encodings
    from ..explore.images import explore as explore_run
    from ..explore.projections import plot_projections
    from ..folders import load

    def go():
        joint = []
        for run in runs:
            model = load(run)
            data = data_module(model.cfg, data_dir)
            if model.cfg.data.kind == "frames":
                from ..explore.frames import explore_frames

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

    guarded(go)


@app.command()
def classifier(
    dataset: str = typer.Argument(..., help="mnist or fashion-mnist"),
    out: Path = typer.Option(None, "--out", help="folder (default: ~/.cache/latentsynth/classifiers/<dataset>)"),
    epochs: int = typer.Option(None, help="default 4 for MNIST, 10 for Fashion-MNIST"),
    data_dir: str = typer.Option(None, "--data-dir"),
    threads: int = THREADS,
) -> None:
    """Train (if absent) the domain classifier used by the generation scores and print its test accuracy."""
    use_threads(threads)
    from ..evaluation.classifier import default_classifier_dir, ensure_classifier
    from ..folders import load_metrics

    def go():
        folder = out or default_classifier_dir(dataset)
        ensure_classifier(dataset, folder, data_dir, epochs)
        typer.echo(f"{folder}: test accuracy {load_metrics(folder).get('test_accuracy', float('nan')):.4f}")

    guarded(go)
