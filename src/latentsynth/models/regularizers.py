"""Latent regularizers: none (plain AE), KL (VAE), MMD (WAE-MMD) and adversarial (WAE-GAN).

Each regularizer turns the encodings of a batch into one scalar penalty; the training loss is
``mean_i recon_i + weight(t) * penalty``. The kernels and the MMD estimator below are the single
implementation used everywhere (training, evaluation, images and audio).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import RegularizerConfig
from .priors import GaussianPrior, Prior

# Scales of the multi-scale kernel of Tolstikhin et al. (2018), multiplying the base C = 2 d sigma^2.
MMD_SCALES: tuple[float, ...] = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class Encoding:
    """What the encoder produced for a batch. ``z`` ``[B, d]`` is the code passed to the decoder;
    ``mu`` and ``logvar`` ``[B, d]`` are set for a Gaussian encoder (else ``None``)."""

    z: Tensor
    mu: Tensor | None = None
    logvar: Tensor | None = None
    detune: Tensor | None = None  # [B] semitones, a harmonic model's pitch correction (else None)


# ------------------------------------------------------------------------------------------------ kernels


def squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """Pairwise squared Euclidean distances: ``x`` ``[n, d]``, ``y`` ``[m, d]`` -> ``[n, m]``."""
    d2 = (x * x).sum(1, keepdim=True) + (y * y).sum(1) - 2.0 * x @ y.T
    return d2.clamp_min(0.0)


def kernel_matrix(x: Tensor, y: Tensor, kind: str, c: float | Tensor,
                  scales: tuple[float, ...] = (1.0,)) -> Tensor:
    """Sum over ``scales`` s of k_{sC}(x_i, y_j): ``[n, d]`` x ``[m, d]`` -> ``[n, m]``.

    IMQ: k_C(x, y) = C / (C + ||x - y||^2).  RBF: k_C(x, y) = exp(-||x - y||^2 / C).
    """
    d2 = squared_distances(x, y)
    out = torch.zeros_like(d2)
    for s in scales:
        cs = c * s
        if kind == "imq":
            out = out + cs / (cs + d2)
        elif kind == "rbf":
            out = out + torch.exp(-d2 / cs)
        else:
            raise ValueError(f"regularizer.kernel: unknown kernel '{kind}' (use 'rbf' or 'imq')")
    return out


def default_bandwidth(dim: int, sigma: float) -> float:
    """C = 2 d sigma^2: the expected squared distance between two prior samples."""
    return 2.0 * dim * sigma**2


def median_bandwidth(x: Tensor, y: Tensor) -> Tensor:
    """Median heuristic: the median pairwise squared distance of the pooled sample (no gradient)."""
    pooled = torch.cat([x, y]).detach()
    d2 = squared_distances(pooled, pooled)
    n = len(pooled)
    off = d2[~torch.eye(n, dtype=torch.bool, device=d2.device)]
    return off.median().clamp_min(1e-6)


def mmd(x: Tensor, y: Tensor, kind: str = "imq", c: float | Tensor = 1.0,
        scales: tuple[float, ...] = (1.0,)) -> Tensor:
    """Unbiased (U-statistic) estimate of MMD^2 between samples ``x`` ``[n, d]`` and ``y`` ``[m, d]``.

    Within-sample sums exclude the diagonal and are divided by n(n-1) and m(m-1); the cross term by n m.
    """
    n, m = len(x), len(y)
    if n < 2 or m < 2:
        raise ValueError("mmd: each sample needs at least 2 points")
    kxx = kernel_matrix(x, x, kind, c, scales)
    kyy = kernel_matrix(y, y, kind, c, scales)
    kxy = kernel_matrix(x, y, kind, c, scales)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return sxx + syy - 2.0 * kxy.mean()


# ------------------------------------------------------------------------------------------------ KL


def kl_gaussian_analytic(mu: Tensor, logvar: Tensor, prior_std: float = 1.0) -> Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, prior_std^2 I)) per sample: ``[B, d]`` -> ``[B]``."""
    var_ratio = logvar.exp() / prior_std**2
    return 0.5 * (var_ratio + mu**2 / prior_std**2 - 1.0 - var_ratio.log()).sum(-1)


def gaussian_log_density(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last dimension: ``[..., d]`` -> ``[...]``."""
    return (-0.5 * ((z - mu) ** 2 / logvar.exp() + logvar + math.log(2 * math.pi))).sum(-1)


def kl_monte_carlo(enc: Encoding, prior: Prior) -> Tensor:
    """One-sample estimate log q(z|x) - log p(z) at the encoder's sample ``z``: returns ``[B]``."""
    assert enc.mu is not None and enc.logvar is not None
    return gaussian_log_density(enc.z, enc.mu, enc.logvar) - prior.log_prob(enc.z)


# ------------------------------------------------------------------------------------------------ modules


class Regularizer(nn.Module):
    """Maps a batch's :class:`Encoding` to a scalar penalty against ``prior``."""

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        raise NotImplementedError


class NoRegularizer(Regularizer):
    """Plain auto-encoder: no penalty."""

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        return enc.z.new_zeros(())


class KLRegularizer(Regularizer):
    """Mean over the batch of KL(q(z|x) || p(z)): analytic for a Gaussian prior, else Monte-Carlo."""

    def __init__(self, estimator: str = "auto"):
        super().__init__()
        self.estimator = estimator

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        if enc.mu is None or enc.logvar is None:
            raise ValueError("model.encoder: the KL regularizer needs a 'gaussian' encoder")
        analytic = self.estimator == "analytic" or (self.estimator == "auto" and isinstance(prior, GaussianPrior))
        if analytic:
            if not isinstance(prior, GaussianPrior):
                raise ValueError("regularizer.kl_estimator: 'analytic' needs a Gaussian prior")
            return kl_gaussian_analytic(enc.mu, enc.logvar, prior.scale).mean()
        return kl_monte_carlo(enc, prior).mean()


class MMDRegularizer(Regularizer):
    """MMD^2 between the batch's codes and as many prior samples (WAE-MMD)."""

    def __init__(self, kernel: str = "imq", multiscale: bool = True, bandwidth: float | str | None = None):
        super().__init__()
        self.kernel, self.bandwidth = kernel, bandwidth
        self.scales = MMD_SCALES if multiscale else (1.0,)

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        z = enc.z
        zp = prior.sample(len(z)).to(z)
        if self.bandwidth == "median":
            c: float | Tensor = median_bandwidth(z, zp)
        elif self.bandwidth is None:
            c = default_bandwidth(z.shape[1], prior.sigma)
        else:
            c = float(self.bandwidth)
        return mmd(z, zp, self.kernel, c, self.scales)


class AdversarialRegularizer(Regularizer):
    """WAE-GAN: a discriminator D(z) (logit of "drawn from the prior") with its own optimizer.

    Encoder penalty: mean of -log sigmoid(D(z_enc)) (non-saturating).
    Discriminator loss: -log sigmoid(D(z_prior)) - log(1 - sigmoid(D(z_enc))).
    """

    def __init__(self, dim: int, hidden: list[int]):
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.discriminator = nn.Sequential(*layers)

    def logits(self, z: Tensor) -> Tensor:
        """``[B, d]`` -> ``[B]``."""
        return self.discriminator(z).squeeze(-1)

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        return F.softplus(-self.logits(enc.z)).mean()

    def discriminator_loss(self, z_enc: Tensor, prior: Prior) -> Tensor:
        """Loss of the discriminator on detached encodings ``[B, d]`` and as many prior samples."""
        zp = prior.sample(len(z_enc)).to(z_enc)
        return F.softplus(-self.logits(zp)).mean() + F.softplus(self.logits(z_enc.detach())).mean()


def build_regularizer(cfg: RegularizerConfig, dim: int) -> Regularizer:
    if cfg.kind == "none":
        return NoRegularizer()
    if cfg.kind == "kl":
        return KLRegularizer(cfg.kl_estimator)
    if cfg.kind == "mmd":
        return MMDRegularizer(cfg.kernel, cfg.multiscale, cfg.bandwidth)
    if cfg.kind == "adversarial":
        return AdversarialRegularizer(dim, cfg.disc_hidden)
    raise ValueError(f"regularizer.kind: unknown regularizer '{cfg.kind}'")
