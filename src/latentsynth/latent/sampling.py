"""Sampling from the aggregate posterior: a Gaussian mixture fitted to training codes (ex-post density
estimation, Ghosh et al. 2020; pythae's GMM sampler)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.mixture import GaussianMixture
from torch import Tensor


def fit_aggregate_posterior(z: Tensor, n_components: int = 10, seed: int = 0) -> GaussianMixture:
    """Full-covariance GMM on codes ``[N, d]``."""
    gmm = GaussianMixture(n_components=n_components, covariance_type="full", random_state=seed, reg_covar=1e-4)
    return gmm.fit(z.double().numpy())


def sample_aggregate_posterior(gmm: GaussianMixture, n: int, seed: int = 0) -> Tensor:
    """``n`` codes ``[n, d]`` from the fitted mixture (shuffled so components mix in a grid)."""
    gmm.random_state = seed
    z, _ = gmm.sample(n)
    rng = np.random.default_rng(seed)
    return torch.from_numpy(z[rng.permutation(n)]).float()
