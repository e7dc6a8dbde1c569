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
    """KL(N(mu, diag exp(logvar)) || N(0, prior_std^2 I)) per sample: ``[B, d]`` -> ``[B]`` (the sum over
    dimensions of :func:`kl_gaussian_per_dim`)."""
    return kl_gaussian_per_dim(mu, logvar, prior_std).sum(-1)


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


def kl_gaussian_per_dim(mu: Tensor, logvar: Tensor, prior_std: float = 1.0) -> Tensor:
    """KL(N(mu_j, exp(logvar_j)) || N(0, prior_std^2)) of each dimension: ``[B, d]`` -> ``[B, d]``."""
    var_ratio = logvar.exp() / prior_std**2
    return 0.5 * (var_ratio + mu**2 / prior_std**2 - 1.0 - var_ratio.log())


def free_bits_kl(kl_per_dim: Tensor, free_bits: float) -> Tensor:
    """Free bits (Kingma et al. 2016): sum over dimensions j of max(free_bits, mean_b KL_bj): ``[B, d]`` -> ``[]``.

    A dimension whose batch-mean KL is below ``free_bits`` nats costs the constant ``free_bits`` (no gradient), so
    the penalty cannot push it to the prior and switch it off; above the floor it is the plain KL.
    """
    return kl_per_dim.mean(0).clamp_min(free_bits).sum()


class KLRegularizer(Regularizer):
    """Mean over the batch of KL(q(z|x) || p(z)): analytic for a Gaussian prior, else Monte-Carlo.
    ``free_bits`` > 0 (nats per dimension, analytic KL only) clamps each dimension's batch-mean KL from below."""

    def __init__(self, estimator: str = "auto", free_bits: float = 0.0):
        super().__init__()
        self.estimator, self.free_bits = estimator, free_bits

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        if enc.mu is None or enc.logvar is None:
            raise ValueError("model.encoder: the KL regularizer needs a 'gaussian' encoder")
        analytic = self.estimator == "analytic" or (self.estimator == "auto" and isinstance(prior, GaussianPrior))
        if analytic:
            if not isinstance(prior, GaussianPrior):
                raise ValueError("regularizer.kl_estimator: 'analytic' needs a Gaussian prior")
            if self.free_bits > 0:
                return free_bits_kl(kl_gaussian_per_dim(enc.mu, enc.logvar, prior.scale), self.free_bits)
            return kl_gaussian_analytic(enc.mu, enc.logvar, prior.scale).mean()
        if self.free_bits > 0:
            raise ValueError("regularizer.free_bits: needs the analytic KL (a Gaussian prior)")
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


def discriminator_updates(step: int, steps: int = 1, warmup_steps: int = 0, warmup_updates: int = 5) -> int:
    """How many discriminator updates follow auto-encoder step ``step`` (0-based global step): ``warmup_updates``
    during the first ``warmup_steps`` steps, then ``steps``."""
    return warmup_updates if step < warmup_steps else steps


def instance_noise_std(sigma: float, step: int, total_steps: int, anneal: str = "none") -> float:
    """The std of the critic's instance noise after ``step`` (0-based global step) of ``total_steps``.

    ``none``: ``sigma`` throughout. ``linear``: sigma (1 - step / total_steps), 0 from ``total_steps`` on (the
    supports of codes and prior samples are blurred early, when the critic would separate them perfectly, and
    the game ends on the clean codes).
    """
    if anneal == "none" or sigma == 0:
        return float(sigma)
    if anneal == "linear":
        return float(sigma) * max(0.0, 1.0 - step / max(1, total_steps))
    raise ValueError(f"regularizer.disc_instance_noise_anneal: unknown schedule '{anneal}' (use 'none' or 'linear')")


def gradient_penalty(logits_fn, z_prior: Tensor, z_enc: Tensor, kind: str) -> Tensor:
    """A discriminator's gradient penalty, before its weight: ``[n, d]`` samples -> ``[]``.

    ``r1``: 1/2 E_prior ||grad_z D(z)||^2 (Mescheder et al. 2018: the critic is flat on the real data).
    ``wgan-gp``: E (||grad_z D(z~)|| - 1)^2 at z~ = u z_prior + (1 - u) z_enc, u ~ U(0, 1) per pair
    (Gulrajani et al. 2017). ``z_enc`` is detached; the result has a graph to the discriminator's weights.
    """
    if kind == "r1":
        z = z_prior.detach().requires_grad_(True)
    elif kind == "wgan-gp":
        u = torch.rand(len(z_prior), 1, device=z_prior.device, dtype=z_prior.dtype)
        z = (u * z_prior.detach() + (1 - u) * z_enc.detach()).requires_grad_(True)
    else:
        raise ValueError(f"regularizer.disc_penalty: unknown penalty '{kind}' (use 'r1' or 'wgan-gp')")
    with torch.enable_grad():  # also under no_grad (an evaluation of the loss): the penalty is a gradient
        (grad,) = torch.autograd.grad(logits_fn(z).sum(), z, create_graph=True)
    norm2 = grad.pow(2).sum(1)
    if kind == "r1":
        return 0.5 * norm2.mean()
    return (norm2.add(1e-12).sqrt() - 1.0).pow(2).mean()


class AdversarialRegularizer(Regularizer):
    """WAE-GAN: a discriminator D(z) (logit of "drawn from the prior") with its own optimizer.

    Encoder penalty: mean of -log sigmoid(D(z_enc)) (non-saturating).
    Discriminator loss: -(1 - s) log sigmoid(D(z_prior)) - s log(1 - sigmoid(D(z_prior))) - log(1 - sigmoid(D(z_enc)))
    (one-sided label smoothing ``s``), plus ``penalty_weight`` x a gradient penalty (``penalty``: none, r1, wgan-gp).

    Instance noise (Sønderby et al. 2017; Arjovsky & Bottou 2017): with ``noise_std`` > 0 the critic sees
    z + noise_std * eps, eps ~ N(0, I) drawn afresh, for the codes and the prior samples alike, in its own loss
    (the R1 penalty is taken at the noisy prior samples) and in the encoder's penalty (whose gradient still reaches
    the codes); the decoder always gets the clean code. Blurring both distributions makes their supports overlap,
    so a critic cannot separate them perfectly and its logit keeps a slope. The training loop sets ``noise_std``
    each step (:func:`instance_noise_std`); it starts at ``instance_noise``.
    """

    def __init__(self, dim: int, hidden: list[int], label_smoothing: float = 0.0, penalty: str = "none",
                 penalty_weight: float = 1.0, prior_logit: bool = False, instance_noise: float = 0.0):
        super().__init__()
        layers: list[nn.Module] = []
        width = dim
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, 1))
        self.discriminator = nn.Sequential(*layers)
        self.label_smoothing, self.gp, self.gp_weight = label_smoothing, penalty, penalty_weight
        self.prior_logit = prior_logit
        self.noise_std = float(instance_noise)  # the current instance-noise std (a float, not saved)

    def blur(self, z: Tensor) -> Tensor:
        """``[B, d]`` -> ``z + noise_std * eps`` (eps ~ N(0, I), fresh each call); ``z`` itself when noise_std is 0."""
        if self.noise_std <= 0:
            return z
        return z + self.noise_std * torch.randn_like(z)

    def logits(self, z: Tensor, prior: Prior | None = None) -> Tensor:
        """``[B, d]`` -> ``[B]``. With ``prior_logit`` (and a ``prior``) the network's output plus the prior's
        centred log density log p(z) - E_p log p = d/2 - ||z||^2 / (2 sigma^2) (Gaussian prior): the network learns
        only the residual log q/p, and codes far out in the tails are called "encoded" from the first step
        (the log-prior term of the WAE authors' latent discriminator)."""
        out = self.discriminator(z).squeeze(-1)
        if self.prior_logit and prior is not None:
            if not isinstance(prior, GaussianPrior):
                raise ValueError("regularizer.disc_prior_logit: needs a Gaussian prior")
            out = out + 0.5 * z.shape[-1] - 0.5 * z.pow(2).sum(-1) / prior.scale**2
        return out

    def penalty(self, enc: Encoding, prior: Prior) -> Tensor:
        return F.softplus(-self.logits(self.blur(enc.z), prior)).mean()

    def discriminator_loss(self, z_enc: Tensor, prior: Prior) -> Tensor:
        """Loss of the discriminator on detached encodings ``[B, d]`` and as many prior samples."""
        return self.discriminator_step(z_enc, prior)[0]

    def discriminator_step(self, z_enc: Tensor, prior: Prior) -> tuple[Tensor, Tensor]:
        """(loss, accuracy): the discriminator's loss on detached encodings ``[B, d]`` and as many prior samples,
        and the fraction of both it classifies right (logit > 0 for the prior), a diagnostic."""
        zp = self.blur(prior.sample(len(z_enc)).to(z_enc))
        ze = self.blur(z_enc.detach())
        lp, le = self.logits(zp, prior), self.logits(ze, prior)
        s = self.label_smoothing
        loss = (1 - s) * F.softplus(-lp).mean() + F.softplus(le).mean()
        if s > 0:
            loss = loss + s * F.softplus(lp).mean()
        if self.gp != "none" and self.gp_weight > 0:
            loss = loss + self.gp_weight * gradient_penalty(lambda z: self.logits(z, prior), zp, ze, self.gp)
        acc = 0.5 * ((lp > 0).float().mean() + (le <= 0).float().mean())
        return loss, acc.detach()


def build_regularizer(cfg: RegularizerConfig, dim: int) -> Regularizer:
    if cfg.kind == "none":
        return NoRegularizer()
    if cfg.kind == "kl":
        return KLRegularizer(cfg.kl_estimator, cfg.free_bits)
    if cfg.kind == "mmd":
        return MMDRegularizer(cfg.kernel, cfg.multiscale, cfg.bandwidth)
    if cfg.kind == "adversarial":
        return AdversarialRegularizer(dim, cfg.disc_hidden, cfg.disc_label_smoothing, cfg.disc_penalty,
                                      cfg.disc_penalty_weight, cfg.disc_prior_logit, cfg.disc_instance_noise)
    raise ValueError(f"regularizer.kind: unknown regularizer '{cfg.kind}'")
