"""Projections of encodings (PCA always; t-SNE optional) coloured by class, train and test side by side, for
one or several models."""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from ..latent.projections import project
from ..plots import plt, save_figure


def plot_projections(models: list[tuple[str, Tensor, Tensor, Tensor, Tensor]], path: str | Path,
                     method: str = "pca", class_names: tuple[str, ...] = ()) -> Path:
    """One row per model ``(name, z_train, y_train, z_test, y_test)``: train and test projections coloured by
    class."""
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 4.6 * len(models)), squeeze=False)
    for row, (name, zt, yt, zv, yv) in enumerate(models):
        pt, pv, note = project(zt, zv, method)
        for ax, pts, ys, part in ((axes[row, 0], pt, yt, "train"), (axes[row, 1], pv, yv, "test")):
            sc = ax.scatter(pts[:, 0], pts[:, 1], c=ys.numpy(), cmap="tab10", s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
            ax.set_title(f"{name}: {part} ({note})", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        cbar = fig.colorbar(sc, ax=axes[row].tolist(), ticks=range(10), fraction=0.025)
        if class_names:
            cbar.ax.set_yticklabels(class_names, fontsize=7)
    return save_figure(fig, path)
