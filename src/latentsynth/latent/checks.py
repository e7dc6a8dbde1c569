"""Argument checks shared by the latent path generators (:mod:`.paths`) and the decoded-space geometry
(:mod:`.geodesic`): each returns its argument (or a tensor made from it) or raises ``ValueError`` naming it."""

from __future__ import annotations

import torch
from torch import Tensor


def check_T(T: int, name: str = "T", minimum: int = 2) -> int:
    """``T`` as a number of time steps: an int (not a bool) ``>= minimum``."""
    if isinstance(T, bool) or not isinstance(T, int) or T < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {T!r}")
    return T


def check_path(path: Tensor, name: str = "path", min_len: int = 1) -> Tensor:
    """A floating-point path ``[T, d]`` with ``T >= min_len``."""
    if not isinstance(path, Tensor) or path.dim() != 2 or path.shape[0] < min_len or path.shape[1] < 1:
        shape = tuple(path.shape) if isinstance(path, Tensor) else type(path).__name__
        raise ValueError(f"{name} must be a tensor [T, d] with T >= {min_len}, got {shape}")
    if not path.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {path.dtype}")
    return path


def check_vec(v: Tensor, name: str, d: int | None = None) -> Tensor:
    """A floating-point code ``[d]`` (any ``d`` when ``d`` is None)."""
    if not isinstance(v, Tensor) or v.dim() != 1 or (d is not None and v.shape[0] != d):
        shape = tuple(v.shape) if isinstance(v, Tensor) else type(v).__name__
        want = "[d]" if d is None else f"[{d}]"
        raise ValueError(f"{name} must be a tensor {want}, got {shape}")
    if not v.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {v.dtype}")
    return v


def check_basis(basis: Tensor, d: int) -> Tensor:
    """A plane basis ``[2, d]``."""
    if not isinstance(basis, Tensor) or tuple(basis.shape) != (2, d):
        shape = tuple(basis.shape) if isinstance(basis, Tensor) else type(basis).__name__
        raise ValueError(f"basis must be a tensor [2, d] = [2, {d}] (d from centre), got {shape}")
    return basis


def same_d(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """``a`` and ``b`` have the same latent size (last dimension)."""
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"latent sizes differ: {name_a} has d={a.shape[-1]}, {name_b} has d={b.shape[-1]}")


def alpha_curve(alpha: float | Tensor, T: int, like: Tensor, name: str = "alpha") -> Tensor:
    """A mixing fraction as a ``[T, 1]`` column: a float / 0-d tensor is held constant, a ``[T]`` curve is used
    as is (values outside [0, 1] extrapolate)."""
    a = torch.as_tensor(alpha, dtype=like.dtype, device=like.device)
    if a.dim() == 0:
        return a.expand(T).unsqueeze(-1)
    if a.dim() != 1 or a.shape[0] != T:
        raise ValueError(f"{name} must be a float or a tensor [T] = [{T}], got shape {tuple(a.shape)}")
    return a.unsqueeze(-1)
