"""Latent priors p(z): each has ``sample(n)`` and, where a density exists, ``log_prob(z)``.

Priors are ``nn.Module`` so that their constants follow the model to its device; they have no trainable
parameters and no state in the saved weights (everything is rebuilt from the config).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import PriorConfig


class Prior(nn.Module):
    """Base class. ``dim`` is the latent size d; ``sigma`` the per-dimension std used by MMD kernels."""

    has_log_prob: bool = True

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.register_buffer("_device_probe", torch.zeros(()), persistent=False)

    @property
    def sigma(self) -> float:
        """Per-dimension standard deviation of the prior (sets the MMD kernel scale C = 2 d sigma^2)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw ``n`` samples: returns ``[n, d]``."""
        raise NotImplementedError

    def log_prob(self, z: Tensor) -> Tensor:
        """Log density of ``z`` ``[..., d]``: returns ``[...]``."""
        raise NotImplementedError(f"the {type(self).__name__} prior has no density in R^d")

    def _randn(self, *shape: int, generator: torch.Generator | None) -> Tensor:
        dev = self._device_probe.device
        if generator is not None and generator.device != dev:
            return torch.randn(*shape, generator=generator).to(dev)
        return torch.randn(*shape, generator=generator, device=dev)


class GaussianPrior(Prior):
    """Isotropic N(0, scale^2 I)."""

    def __init__(self, dim: int, scale: float = 1.0):
        super().__init__(dim)
        self.scale = scale

    @property
    def sigma(self) -> float:
        return self.scale

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return self._randn(n, self.dim, generator=generator) * self.scale

    def log_prob(self, z: Tensor) -> Tensor:
        return (-0.5 * (z / self.scale) ** 2 - math.log(self.scale) - 0.5 * math.log(2 * math.pi)).sum(-1)


class UniformPrior(Prior):
    """Uniform on the cube [-scale, scale]^d."""

    def __init__(self, dim: int, scale: float = 1.0):
        super().__init__(dim)
        self.scale = scale

    @property
    def sigma(self) -> float:
        return self.scale / math.sqrt(3.0)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        u = torch.rand(n, self.dim, generator=generator).to(self._device_probe.device)
        return (2 * u - 1) * self.scale

    def log_prob(self, z: Tensor) -> Tensor:
        inside = (z.abs() <= self.scale).all(-1)
        value = torch.full(z.shape[:-1], -self.dim * math.log(2 * self.scale), dtype=z.dtype, device=z.device)
        return torch.where(inside, value, torch.full_like(value, -math.inf))


class MixturePrior(Prior):
    """Equal-weight mixture of K isotropic Gaussians N(m_k, s^2 I).

    The means are drawn once from ``seed`` as random directions scaled to length ``radius`` (for d = 2 they
    are evenly spaced on the circle), so a saved model rebuilds the same prior from its config.
    """

    def __init__(self, dim: int, n_components: int = 10, component_std: float = 0.5, radius: float = 3.0,
                 seed: int = 0):
        super().__init__(dim)
        if dim == 1:
            means = torch.linspace(-radius, radius, n_components).unsqueeze(1)
        elif dim == 2:
            angle = torch.arange(n_components) * (2 * math.pi / n_components)
            means = radius * torch.stack([angle.cos(), angle.sin()], 1)
        else:
            g = torch.Generator().manual_seed(seed)
            means = torch.randn(n_components, dim, generator=g)
            means = radius * means / means.norm(dim=1, keepdim=True)
        self.register_buffer("means", means, persistent=False)  # [K, d]
        self.component_std = component_std

    @property
    def sigma(self) -> float:
        # root mean per-dimension variance of the mixture: sqrt(s^2 + trace(Cov of the means) / d)
        spread = self.means.var(0, unbiased=False).sum().item() / self.dim
        return math.sqrt(self.component_std**2 + spread)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        k = torch.randint(len(self.means), (n,), generator=generator).to(self.means.device)
        return self.means[k] + self.component_std * self._randn(n, self.dim, generator=generator)

    def log_prob(self, z: Tensor) -> Tensor:
        s = self.component_std
        diff = z.unsqueeze(-2) - self.means  # [..., K, d]
        comp = (-0.5 * (diff / s) ** 2).sum(-1) - self.dim * (math.log(s) + 0.5 * math.log(2 * math.pi))
        return torch.logsumexp(comp, -1) - math.log(len(self.means))


class HyperspherePrior(Prior):
    """Uniform on the sphere of radius ``scale`` in R^d (no density in R^d: use MMD or adversarial)."""

    has_log_prob = False

    def __init__(self, dim: int, scale: float = 1.0):
        super().__init__(dim)
        self.scale = scale

    @property
    def sigma(self) -> float:
        return self.scale / math.sqrt(self.dim)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        g = self._randn(n, self.dim, generator=generator)
        return self.scale * g / g.norm(dim=1, keepdim=True).clamp_min(1e-12)


def build_prior(cfg: PriorConfig, dim: int) -> Prior:
    """The prior named by ``cfg.kind`` in dimension ``dim``."""
    if cfg.kind == "gaussian":
        return GaussianPrior(dim, cfg.scale)
    if cfg.kind == "uniform":
        return UniformPrior(dim, cfg.scale)
    if cfg.kind == "mixture":
        return MixturePrior(dim, cfg.n_components, cfg.component_std, cfg.radius, cfg.seed)
    if cfg.kind == "hypersphere":
        return HyperspherePrior(dim, cfg.scale)
    raise ValueError(f"prior.kind: unknown prior '{cfg.kind}'")
