"""Figures of synthesis: a path drawn over the training codes beside the spectrogram of what it rendered."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from ..dsp.transforms import SpecConfig, compress, stft_magnitude
from ..models.conditioning import LABELS
from ..plots import plt, save_figure
from .engine import Synth
from .generators import plane


def project(synth: Synth, z: Tensor, dims: tuple[int, int] | None = None) -> np.ndarray:
    """Codes ``[N, d]`` -> 2-D coordinates ``[N, 2]`` in the plane of :func:`~.generators.plane` (PCA of the
    training codes by default)."""
    centre, basis, _ = plane(synth, dims)
    return ((z - centre) @ basis.T).numpy()


def plot_path(synth: Synth, z: Tensor, audio: np.ndarray, path: str | Path, title: str = "",
              color_by: str = "instrument", dims: tuple[int, int] | None = None) -> Path:
    """Left: the training codes (coloured by ``instrument`` or ``pitch``) and the path ``z [T, d]`` (start
    marked, time as colour) in the PCA plane; right: the dB STFT of ``audio [samples]``."""
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1, 1.4]})
    if synth.codes is not None:
        pts = project(synth, synth.codes.codes, dims)
        labels = synth.codes.labels
        if color_by == "pitch":
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=labels[:, 0].numpy(), cmap="viridis", s=3, alpha=0.35)
            fig.colorbar(sc, ax=ax, fraction=0.04, label="MIDI pitch")
        else:
            names = synth.info.vocab.get("instrument", [])
            col = labels[:, LABELS.index("instrument")].long()
            cmap = plt.get_cmap("tab20" if len(names) > 10 else "tab10")
            for i, name in enumerate(names):
                m = (col == i).numpy()
                if m.any():
                    ax.scatter(pts[m, 0], pts[m, 1], s=3, alpha=0.35, color=cmap(i % cmap.N), label=name)
            ax.legend(fontsize=6, markerscale=3, loc="best", ncol=2 if len(names) > 8 else 1)
    p = project(synth, z.detach(), dims)
    ax.plot(p[:, 0], p[:, 1], color="black", lw=0.8, alpha=0.6)
    ax.scatter(p[:, 0], p[:, 1], c=np.linspace(0, 1, len(p)), cmap="plasma", s=8, zorder=3)
    ax.scatter(p[:1, 0], p[:1, 1], marker="o", s=60, facecolors="none", edgecolors="black", zorder=4)
    ax.set_title("path in the " + ("PCA plane of the training codes" if dims is None else f"plane of dims {dims}"),
                 fontsize=9)
    ax.set_xticks([]), ax.set_yticks([])
    spec: SpecConfig = synth.spec.model_copy(update={"representation": "stft"})
    db = compress(stft_magnitude(np.asarray(audio, dtype=np.float32), spec), spec)
    sr, hop = spec.sample_rate, spec.hop_length
    ax2.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=float(db.max()) - 80, vmax=float(db.max()),
               extent=(0, db.shape[1] * hop / sr, 0, sr / 2 / 1000), interpolation="nearest")
    ax2.set_xlabel("s"), ax2.set_ylabel("kHz")
    ax2.set_title(f"rendered audio ({len(audio) / sr:.2f} s)", fontsize=9)
    fig.suptitle(title or synth.model.cfg.name, fontsize=10)
    return save_figure(fig, Path(path))
