"""2-D projections of encodings: PCA (a map fitted on train codes) or t-SNE (one embedding of both sets).
The figures drawn from them are in :mod:`latentsynth.explore.projections`."""

from __future__ import annotations

import numpy as np
from sklearn.manifold import TSNE
from torch import Tensor

from .planes import pca_projection


def project(z_train: Tensor, z_test: Tensor, method: str = "pca", seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Project ``[N, d]`` and ``[M, d]`` codes to 2-D with one map fitted on the train codes (PCA), or one
    embedding of both sets (t-SNE, which has no out-of-sample map). Returns the two ``[*, 2]`` arrays and an
    axis note (explained variance for PCA)."""
    a, b = z_train.double().numpy(), z_test.double().numpy()
    if a.shape[1] == 1:
        return np.c_[a, np.zeros_like(a)], np.c_[b, np.zeros_like(b)], "1-D latent"
    if method == "pca":
        (pa, pb), ev = pca_projection(z_train.double(), z_test.double())  # the one PCA (and sign) of latent.planes
        return pa.numpy(), pb.numpy(), f"PCA, {100 * ev[0]:.0f}% + {100 * ev[1]:.0f}% of variance"
    if method == "tsne":
        both = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(np.r_[a, b])
        return both[: len(a)], both[len(a):], "t-SNE"
    raise ValueError(f"projection method: unknown '{method}' (use pca or tsne)")
