"""Paths in latent space: interpolations and traversals (shared by images and, later, audio)."""

from __future__ import annotations

import torch
from torch import Tensor


def lerp(a: Tensor, b: Tensor, steps: int) -> Tensor:
    """Straight line from ``a`` to ``b`` ``[d]`` (or ``[B, d]``): returns ``[steps, *a.shape]``."""
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).view(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


def slerp(a: Tensor, b: Tensor, steps: int, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation (White 2016) between ``a`` and ``b`` ``[..., d]``: returns ``[steps, ..., d]``.

    Follows the great circle through a and b with the norm interpolated linearly; falls back to lerp when the
    two vectors are (anti)parallel.
    """
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).view(-1, *([1] * a.dim()))
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = ((a / na.clamp_min(eps)) * (b / nb.clamp_min(eps))).sum(-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    ok = so.abs() > 1e-4
    safe = torch.where(ok, so, torch.ones_like(so))
    wa = torch.where(ok, torch.sin((1 - t) * omega) / safe, 1 - t)
    wb = torch.where(ok, torch.sin(t * omega) / safe, t)
    return wa * a + wb * b


def traversal(base: Tensor, dims: list[int] | None, values: Tensor) -> Tensor:
    """Move one dimension at a time: for each dim j in ``dims`` and each value v, a copy of ``base`` ``[d]`` with
    z_j = v. Returns ``[len(dims), len(values), d]``."""
    dims = list(range(base.shape[-1])) if dims is None else dims
    out = base.expand(len(dims), len(values), base.shape[-1]).clone()
    for i, j in enumerate(dims):
        out[i, :, j] = values
    return out
