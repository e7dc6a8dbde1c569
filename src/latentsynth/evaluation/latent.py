"""Latent-space statistics of the aggregate posterior q(z) = E_x q(z|x) against the prior."""

from __future__ import annotations

import torch
from torch import Tensor


def gaussian_kl(m0: Tensor, s0: Tensor, m1: Tensor, s1: Tensor) -> float:
    """KL(N(m0, s0) || N(m1, s1)) for means ``[d]`` and full covariances ``[d, d]``."""
    d = len(m0)
    s1_inv = torch.linalg.inv(s1)
    diff = (m1 - m0).unsqueeze(1)
    _, logdet0 = torch.linalg.slogdet(s0)
    _, logdet1 = torch.linalg.slogdet(s1)
    return 0.5 * float(torch.trace(s1_inv @ s0) + (diff.T @ s1_inv @ diff).squeeze() - d + logdet1 - logdet0)


def _moments(z: Tensor) -> tuple[Tensor, Tensor]:
    z = z.double()
    m = z.mean(0)
    c = (z - m).T @ (z - m) / (len(z) - 1)
    return m, c + 1e-6 * torch.eye(z.shape[1], dtype=z.dtype)


def active_units(mu: Tensor, threshold: float = 0.01) -> int:
    """Number of latent dimensions whose posterior mean varies across data: Var_x[E q(z_j|x)] > threshold
    (Burda et al. 2016). ``mu`` ``[N, d]``."""
    return int((mu.double().var(0) > threshold).sum())


def aggregate_posterior_stats(z: Tensor, mu: Tensor, prior_samples: Tensor) -> dict[str, object]:
    """Statistics of codes ``z`` ``[N, d]`` (samples of q(z)) and posterior means ``mu`` ``[N, d]`` against
    ``prior_samples`` ``[M, d]``.

    Returns the per-dimension mean and variance of q(z) (lists), the KL of a Gaussian fit of q(z) to a Gaussian
    fit of the prior (exactly the prior when it is Gaussian), and the number of active units.
    """
    mq, cq = _moments(z)
    mp, cp = _moments(prior_samples)
    return {
        "agg_mean": mq.tolist(),
        "agg_var": cq.diagonal().tolist(),
        "agg_mean_abs_max": float(mq.abs().max()),
        "agg_var_mean": float(cq.diagonal().mean()),
        "agg_kl_gauss": gaussian_kl(mq, cq, mp, cp),
        "active_units": active_units(mu),
    }
