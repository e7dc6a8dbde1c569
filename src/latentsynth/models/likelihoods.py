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
from ..dsp.metrics import log_magnitude_l1, spectral_convergence


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

    The data are normalised dB values; the model's :class:`~.conditioning.DbScale` (``db``, passed in, not
    owned) maps them back to dB and linear magnitudes with the training statistics.
    """

    def __init__(self, db, scale: float = 1.0, output: str = "identity"):
        super().__init__(scale, output)
        self.__dict__["db"] = db  # registered once, on the AutoEncoder


class LogMagL1Likelihood(_Spectral):
    """scale * sum over bins and frames of |dB(x) - dB(x_hat)| / 20 (L1 of log10 magnitudes)."""

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        return self.scale * _flat_sum((self.db.to_db(self.mean(out)) - self.db.to_db(x)).abs()) / 20.0


def frame_level_db(mag: Tensor) -> Tensor:
    """The level of each frame of linear magnitudes ``[..., F]``: ``10 log10(sum_f S_f^2 + 1e-10)`` dB ``[...]``."""
    return 10 * torch.log10(mag.pow(2).sum(-1) + 1e-10)


class SpectralLikelihood(_Spectral):
    """scale * (spectral convergence + log_weight * mean |ln S - ln S_hat|), S the linear magnitudes of an
    item's frames: the STFT loss of Yamamoto et al. (2020), with the formulas of :mod:`latentsynth.dsp.metrics`.
    SC weighs the loud bins (the harmonic peaks), the log term the quiet ones.

    ``sc="item"``: SC of each item. ``sc="batch"``: SC of the whole batch, ``||S - S_hat||_F / ||S||_F`` over
    every item (energy-weighted: a quiet frame counts for its energy), shared out over the items in proportion
    to their squared error so that the mean over the batch is exactly the batch SC. ``resolutions = R > 1``
    adds the same terms on magnitudes averaged over 2, 4, ... 2^(R-1) adjacent bins and averages the R terms.
    ``level_weight > 0`` adds ``level_weight * mean_t |L_t - L_hat_t|`` per item, ``L_t = 10 log10 sum_f S^2`` the
    level of frame t in dB (:func:`frame_level_db`): the mean and median estimates of the terms above fall
    short of a noisy bin's power, so the decoded frames come out quieter than the note without it.
    """

    def __init__(self, db, scale: float = 1.0, output: str = "identity", sc: str = "item",
                 log_weight: float = 1.0, resolutions: int = 1, level_weight: float = 0.0):
        super().__init__(db, scale, output)
        self.sc, self.log_weight, self.resolutions = sc, log_weight, resolutions
        self.level_weight = level_weight

    def loss(self, out: Tensor, x: Tensor) -> Tensor:
        lin_ref, lin_est = self.db.to_linear(x), self.db.to_linear(self.mean(out))  # [B, W, F]
        ref, est = lin_ref.flatten(0, -2), lin_est.flatten(0, -2)  # [B * W, F]
        b = len(x)
        total = torch.zeros(b, device=x.device, dtype=x.dtype)
        for r in range(self.resolutions):
            if r:
                ref, est = F.avg_pool1d(ref[:, None], 2)[:, 0], F.avg_pool1d(est[:, None], 2)[:, 0]
            r_i, e_i = ref.view(b, -1, ref.shape[-1]), est.view(b, -1, est.shape[-1])  # [B, W, F']
            if self.sc == "item":
                sc = spectral_convergence(r_i, e_i)
            else:
                err = (r_i - e_i).pow(2).flatten(1).sum(1)  # [B]
                batch_sc = err.sum().sqrt() / r_i.pow(2).sum().sqrt().clamp_min(1e-8)
                sc = batch_sc * b * err / err.sum().clamp_min(1e-20)
            total = total + sc + self.log_weight * log_magnitude_l1(r_i, e_i, eps=0.0)
        total = total / self.resolutions
        if self.level_weight:
            gap = frame_level_db(lin_ref) - frame_level_db(lin_est)  # [B, W]
            total = total + self.level_weight * gap.abs().flatten(1).mean(1)  # [B]
        return self.scale * total


def build_likelihood(cfg: LikelihoodConfig, shape: tuple[int, ...] | None = None, db=None) -> Likelihood:
    """The configured likelihood; spectral kinds need the model's dB scale ``db`` (frame models)."""
    if cfg.kind == "bernoulli":
        return BernoulliLikelihood(cfg.scale)
    if cfg.kind == "gaussian":
        return GaussianLikelihood(cfg.sigma, cfg.learn_sigma, cfg.scale, cfg.output)
    if cfg.kind == "mse":
        return MSELikelihood(cfg.scale, cfg.output)
    if cfg.kind == "l1":
        return L1Likelihood(cfg.scale, cfg.output)
    if cfg.kind in ("logmag_l1", "spectral"):
        if db is None:
            raise ValueError(f"likelihood.kind: '{cfg.kind}' is for spectrogram frames (data.name=frames)")
        if cfg.kind == "logmag_l1":
            return LogMagL1Likelihood(db, cfg.scale, cfg.output)
        return SpectralLikelihood(db, cfg.scale, cfg.output, cfg.sc, cfg.log_weight, cfg.resolutions,
                                  cfg.level_weight)
    raise ValueError(f"likelihood.kind: unknown likelihood '{cfg.kind}'")
