"""Reconstruction objectives: per-sample losses summed over all data dimensions.

The decoder outputs raw values ``out`` of the data's shape; a likelihood turns them into a reconstruction
(``mean``) and a per-sample loss (``loss``, ``[B]``). For Bernoulli and Gaussian the loss is the negative
log-likelihood in nats, so ``log_prob = -loss`` feeds the importance-weighted NLL estimate.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import LikelihoodConfig


def _flat_sum(t: Tensor) -> Tensor:
    return t.flatten(1).sum(1)


class Likelihood(nn.Module):
    """Base class; ``is_normalized`` tells whether ``-loss`` is a log-density (needed for the NLL)."""

    is_normalized = False

    def __init__(self, scale: float = 1.0, output: str = "sigmoid"):
        super().__init__()
        self.scale, self.output = scale, output

    def mean(self, out: Tensor) -> Tensor:
        """Reconstruction in data space, same shape as ``out``."""
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        """Per-sample loss: ``out``, ``x`` ``[B, ...]`` -> ``[B]``."""
        raise NotImplementedError


class BernoulliLikelihood(Likelihood):
    """-log Bernoulli(x; sigmoid(out)) = binary cross-entropy with logits, for x in [0, 1]."""

    is_normalized = True

    def mean(self, out: Tensor) -> Tensor:
        return torch.sigmoid(out)

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        return self.scale * _flat_sum(F.binary_cross_entropy_with_logits(out, x, reduction="none"))


class GaussianLikelihood(Likelihood):
    """-log N(x; mean(out), sigma^2), sigma fixed or one learned log-std shared by all dimensions."""

    is_normalized = True

    def __init__(self, sigma: float = 1.0, learn_sigma: bool = False, scale: float = 1.0, output: str = "sigmoid"):
        super().__init__(scale, output)
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        ls = self.log_sigma
        nll = 0.5 * ((x - self.mean(out)) * torch.exp(-ls)) ** 2 + ls + 0.5 * math.log(2 * math.pi)
        return self.scale * _flat_sum(nll)


class MSELikelihood(Likelihood):
    """scale * sum of squared errors (the WAE paper's cost with scale = 0.05)."""

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        return self.scale * _flat_sum((x - self.mean(out)) ** 2)


class L1Likelihood(Likelihood):
    """scale * sum of absolute errors."""

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        return self.scale * _flat_sum((x - self.mean(out)).abs())


class _Spectral(Likelihood):
    """Base of the spectral objectives on spectrogram frames ``[B, W, F]`` (W frames of F bins).

    The data are dB values normalised per bin; ``to_db`` undoes that with the buffers ``offset [F]`` and
    ``gain [F]`` (``dB = x * gain + offset``), set from the training statistics by
    :meth:`set_db_affine` before training and saved with the weights.
    """

    def __init__(self, n_bins: int, scale: float = 1.0, output: str = "identity"):
        super().__init__(scale, output)
        self.register_buffer("offset", torch.zeros(n_bins))
        self.register_buffer("gain", torch.ones(n_bins))

    def set_db_affine(self, offset: Tensor, gain: Tensor) -> None:
        """``offset``, ``gain`` ``[F]``: the normalised frames map to dB as ``x * gain + offset``."""
        self.offset.copy_(torch.as_tensor(offset, dtype=self.offset.dtype))
        self.gain.copy_(torch.as_tensor(gain, dtype=self.gain.dtype))

    def to_db(self, x: Tensor) -> Tensor:
        return x * self.gain + self.offset


class LogMagL1Likelihood(_Spectral):
    """scale * sum over bins and frames of |dB(x) - dB(x_hat)| / 20 (L1 of log10 magnitudes)."""

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        return self.scale * _flat_sum((self.to_db(self.mean(out)) - self.to_db(x)).abs()) / 20.0


class SpectralLikelihood(_Spectral):
    """scale * (spectral convergence + mean |ln S - ln S_hat|) per item, S the linear magnitudes of its frames:
    the single-resolution STFT loss of Yamamoto et al. (2020); SC weighs the loud bins, the log term the quiet
    ones. Same formulas as :mod:`latentsynth.dsp.metrics`."""

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        ln10_20 = math.log(10) / 20.0
        log_ref, log_est = self.to_db(x) * ln10_20, self.to_db(self.mean(out)) * ln10_20  # natural log magnitudes
        ref, est = log_ref.exp().flatten(1), log_est.exp().flatten(1)
        sc = (ref - est).norm(dim=1) / ref.norm(dim=1).clamp_min(1e-8)
        return self.scale * (sc + (log_ref - log_est).abs().flatten(1).mean(1))


def build_likelihood(cfg: LikelihoodConfig, shape: tuple[int, ...] | None = None) -> Likelihood:
    """The configured likelihood; spectral kinds need the data ``shape`` (``[W, F]``: F bins)."""
    if cfg.kind == "bernoulli":
        return BernoulliLikelihood(cfg.scale)
    if cfg.kind == "gaussian":
        return GaussianLikelihood(cfg.sigma, cfg.learn_sigma, cfg.scale, cfg.output)
    if cfg.kind == "mse":
        return MSELikelihood(cfg.scale, cfg.output)
    if cfg.kind == "l1":
        return L1Likelihood(cfg.scale, cfg.output)
    if cfg.kind in ("logmag_l1", "spectral"):
        if not shape:
            raise ValueError(f"likelihood.kind: '{cfg.kind}' needs the data shape [W, F]")
        cls = LogMagL1Likelihood if cfg.kind == "logmag_l1" else SpectralLikelihood
        return cls(shape[-1], cfg.scale, cfg.output)
    raise ValueError(f"likelihood.kind: unknown likelihood '{cfg.kind}'")
