"""``latentsynth explore`` for frame models: where notes land in the latent space.

Writes into ``<run>/explore/``: ``projection_pca.png`` (and ``projection_tsne.png``): train and test frames
projected to 2-D, coloured by instrument, pitch (MIDI) and dynamics; ``probes.json``: how much of each
attribute the codes carry (:func:`attribute_probes`); ``samples_prior.png``: decoded prior samples as frames
side by side (dB, lowest bin at the bottom).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..evaluation.probes import encodings
from ..folders import write_json
from ..latent.projections import project
from ..models import AutoEncoder
from ..models.conditioning import DbScale
from ..plots import plt, save_figure
from .images import decode_mean

ATTRIBUTES = ("instrument", "pitch", "dynamics")
DYNAMICS_ORDER = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")


def note_attributes(data, notes: torch.Tensor) -> dict[str, list]:
    """Instrument, pitch (int) and dynamics of the notes ``[N]`` (indices into ``data.notes``)."""
    rows = [data.notes[int(k)] for k in notes]
    return {"instrument": [r["instrument"] for r in rows], "pitch": [int(r["pitch"]) for r in rows],
            "dynamics": [r["dynamics"] for r in rows]}


def attribute_probes(z_train: torch.Tensor, a_train: dict[str, list], z_test: torch.Tensor,
                     a_test: dict[str, list], k: int = 10) -> dict[str, float]:
    """k-nearest-neighbour probes of the codes: fitted on train codes ``[N, d]``, scored on test codes ``[M, d]``
    (test notes are notes the model never saw). Euclidean distance in the latent space.

    ``instrument_acc`` / ``dynamics_acc``: accuracy of the majority vote of the k nearest train codes;
    ``pitch_mae``: mean absolute error (semitones) of the mean pitch of the k nearest train codes. Chance levels
    from the attribute alone: ``*_chance`` (accuracy of always answering the most frequent train class) and
    ``pitch_mae_chance`` (MAE of always answering the median train pitch).
    """
    from ..evaluation.probes import knn_accuracy, knn_mae, majority_chance, median_chance_mae

    k = min(k, len(z_train))  # a tiny corpus may have fewer codes
    out: dict[str, float] = {"k": k}
    for key in ("instrument", "dynamics"):
        out[f"{key}_acc"] = knn_accuracy(z_train, a_train[key], z_test, a_test[key], k)
        out[f"{key}_chance"] = majority_chance(a_train[key], a_test[key])
    out["pitch_mae"] = knn_mae(z_train, a_train["pitch"], z_test, a_test["pitch"], k)
    out["pitch_mae_chance"] = median_chance_mae(a_train["pitch"], a_test["pitch"])
    return out


def plot_note_projections(name: str, z_train: torch.Tensor, a_train: dict[str, list], z_test: torch.Tensor,
                          a_test: dict[str, list], path: str | Path, method: str = "pca") -> Path:
    """Two rows (train, test) x three columns (instrument, pitch, dynamics) of 2-D projections of codes
    ``[N, d]`` / ``[M, d]``; ``a_*`` hold the attribute lists of :func:`note_attributes`."""
    pt, pv, note = project(z_train, z_test, method)
    fig, axes = plt.subplots(2, 3, figsize=(15, 9), squeeze=False)
    instruments = sorted(set(a_train["instrument"]) | set(a_test["instrument"]))
    dyn = [d for d in DYNAMICS_ORDER if d in set(a_train["dynamics"]) | set(a_test["dynamics"])]
    dyn += sorted((set(a_train["dynamics"]) | set(a_test["dynamics"])) - set(dyn))
    cmap = plt.get_cmap("tab10" if max(len(instruments), len(dyn)) <= 10 else "tab20")
    for row, (pts, attrs, part) in enumerate(((pt, a_train, "train"), (pv, a_test, "test"))):
        for col, key in enumerate(ATTRIBUTES):
            ax = axes[row, col]
            if key == "pitch":
                sc = ax.scatter(pts[:, 0], pts[:, 1], c=attrs["pitch"], cmap="viridis", s=2, alpha=0.6)
                fig.colorbar(sc, ax=ax, fraction=0.04, label="MIDI pitch")
            else:
                levels = instruments if key == "instrument" else dyn
                for i, lev in enumerate(levels):
                    m = np.array([v == lev for v in attrs[key]])
                    if m.any():
                        ax.scatter(pts[m, 0], pts[m, 1], s=2, alpha=0.6, color=cmap(i % cmap.N), label=lev)
                ax.legend(fontsize=6, markerscale=4, ncol=2 if len(levels) > 8 else 1, loc="best")
            ax.set_title(f"{part}, by {key}", fontsize=9)
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(f"{name}: frame codes ({note})", fontsize=10)
    return save_figure(fig, Path(path))


def explore_frames(model: AutoEncoder, out: str | Path, data, tsne: bool = False, n: int = 10000,
                   n_plot: int = 4000, n_samples: int = 64, seed: int = 0) -> list[Path]:
    """Write the frame-model figures and probes into ``out`` (``n`` train and ``n`` test frames encoded and
    probed, ``n_plot`` of them drawn); returns the paths."""
    out = Path(out)
    zt, nt, zv, nv = encodings(model, data, n=n, seed=seed)
    at, av = note_attributes(data, nt), note_attributes(data, nv)
    probes = attribute_probes(zt, at, zv, av)
    write_json(out / "probes.json", {"train_frames": len(zt), "test_frames": len(zv), **probes})
    paths = [out / "probes.json"]
    m = n_plot  # the plots show a (random) part of the probed codes
    sub = lambda a: {key: v[:m] for key, v in a.items()}  # noqa: E731
    paths.append(plot_note_projections(model.cfg.name, zt[:m], sub(at), zv[:m], sub(av), out / "projection_pca.png",
                                       "pca"))
    if tsne:
        paths.append(plot_note_projections(model.cfg.name, zt[:m], sub(at), zv[:m], sub(av),
                                           out / "projection_tsne.png", "tsne"))
    g = torch.Generator().manual_seed(seed)
    # a conditioned model decodes each sample with the labels of a random training window
    c = data.train.labels()[torch.randint(len(data.train), (n_samples,), generator=g)] if model.conditioned else None
    frames = decode_mean(model, model.prior.sample(n_samples, generator=g), c)  # [S, W, F] normalised
    db = DbScale.from_info(data.audio_info()).to_db(frames).reshape(-1, frames.shape[-1]).T  # [F, S * W]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.imshow(db.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80,
              vmax=float(db.max()), interpolation="nearest")
    ax.set_title(f"{model.cfg.name}: {n_samples} decoded prior samples ({data.cfg.representation} frames, dB)",
                 fontsize=9)
    ax.set_xlabel("sample"), ax.set_ylabel("bin")
    paths.append(save_figure(fig, out / "samples_prior.png"))
    return paths
