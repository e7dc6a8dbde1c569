"""Figures: image grids (samples, reconstructions)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import Tensor  # noqa: E402


def mosaic(images: Tensor, nrow: int, pad: int = 2) -> np.ndarray:
    """``[N, 1, H, W]`` values in [0, 1] -> one ``[rows*(H+pad)+pad, nrow*(W+pad)+pad]`` array."""
    imgs = images.detach().cpu().float().clamp(0, 1)[:, 0].numpy()
    n, h, w = imgs.shape
    rows = math.ceil(n / nrow)
    out = np.ones((rows * (h + pad) + pad, nrow * (w + pad) + pad), dtype=np.float32)
    for i, im in enumerate(imgs):
        r, c = divmod(i, nrow)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = im
    return out


def save_figure(fig, path: str | Path) -> Path:
    """Write a matplotlib figure as PNG atomically (temporary file, then rename) and close it."""
    from .folders import atomic_write

    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, bbox_inches="tight"))
    finally:
        plt.close(fig)


def save_grid(images: Tensor, path: str | Path, nrow: int = 10, title: str | None = None) -> Path:
    """Write images ``[N, 1, H, W]`` as one PNG grid."""
    grid = mosaic(images, nrow)
    fig, ax = plt.subplots(figsize=(grid.shape[1] / 40, grid.shape[0] / 40 + (0.4 if title else 0)))
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def save_reconstructions(x: Tensor, recon: Tensor, path: str | Path, nrow: int = 10,
                         title: str | None = None) -> Path:
    """Rows alternate originals and reconstructions: ``x``, ``recon`` ``[N, 1, H, W]``."""
    pairs = []
    for i in range(0, len(x), nrow):
        pairs += [x[i : i + nrow], recon[i : i + nrow]]
    return save_grid(torch.cat(pairs), path, nrow, title)
