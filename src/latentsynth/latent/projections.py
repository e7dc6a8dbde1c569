"""2-D projections of encodings (PCA always; t-SNE optional), coloured by class, train and test side by side,
for one or several models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from torch import Tensor


def project(z_train: Tensor, z_test: Tensor, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Project ``[N, d]`` and ``[M, d]`` codes to 2-D with one map fitted on the train codes (PCA), or one
    embedding of both sets (t-SNE, which has no out-of-sample map). Returns the two ``[*, 2]`` arrays and an
    axis note (explained variance for PCA)."""
    a, b = z_train.double().numpy(), z_test.double().numpy()
    if a.shape[1] == 1:
        return np.c_[a, np.zeros_like(a)], np.c_[b, np.zeros_like(b)], "1-D latent"
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(a)
        ev = pca.explained_variance_ratio_
        return pca.transform(a), pca.transform(b), f"PCA, {100 * ev[0]:.0f}% + {100 * ev[1]:.0f}% of variance"
    if method == "tsne":
        both = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(np.r_[a, b])
        return both[: len(a)], both[len(a):], "t-SNE"
    raise ValueError(f"projection method: unknown '{method}' (use pca or tsne)")


def plot_projections(models: list[tuple[str, Tensor, Tensor, Tensor, Tensor]], path: str | Path,
                     method: str = "pca", class_names: tuple[str, ...] = ()) -> Path:
    """One row per model ``(name, z_train, y_train, z_test, y_test)``: train and test projections coloured by
    class."""
    from ..plots import _save, plt

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
    return _save(fig, Path(path))
