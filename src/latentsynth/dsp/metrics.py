"""Distances between magnitude spectrograms and between signals (torch, batched, any device).

Magnitudes are linear STFT magnitudes ``[..., F, T]``; signals are ``[B, N]``. Every function returns
one value per leading index (``[...]`` / ``[B]``), so ``.mean()`` gives the data-set figure.
"""

from __future__ import annotations

import torch

from .griffinlim import stft


def spectral_convergence(target: torch.Tensor, estimate: torch.Tensor) -> torch.Tensor:
    """``||target - estimate||_F / ||target||_F`` over the last two dims: ``[..., F, T]`` x2 -> ``[...]``.

    Used as ``spectral_convergence(S, |STFT(griffinlim(S))|)`` to judge phase reconstruction (0 is perfect).
    """
    num = torch.linalg.vector_norm(target - estimate, dim=(-2, -1))
    return num / torch.linalg.vector_norm(target, dim=(-2, -1)).clamp_min(1e-12)


def log_spectral_distance(target: torch.Tensor, estimate: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Log-spectral distance in dB: ``mean_t sqrt(mean_f (20 log10((target+eps)/(estimate+eps)))^2)``.

    ``[..., F, T]`` x2 -> ``[...]``. ``eps`` (linear amplitude) keeps near-silent bins from dominating.
    """
    diff = 20 * torch.log10((target + eps) / (estimate + eps))
    return diff.pow(2).mean(dim=-2).sqrt().mean(dim=-1)


def log_magnitude_l1(target: torch.Tensor, estimate: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Mean absolute difference of natural-log magnitudes, ``mean |ln(target+eps) - ln(estimate+eps)|`` over
    the last two dims: ``[..., F, T]`` x2 -> ``[...]``."""
    return (torch.log(target + eps) - torch.log(estimate + eps)).abs().mean(dim=(-2, -1))


MR_RESOLUTIONS: tuple[tuple[int, int], ...] = ((512, 128), (1024, 256), (2048, 512))  # (n_fft, hop) pairs
MR_EPS = 1e-4  # added to magnitudes before the log of the multi-resolution distance


def multi_resolution_stft_distance(
    x: torch.Tensor, y: torch.Tensor,
    resolutions: tuple[tuple[int, int], ...] = MR_RESOLUTIONS,
    eps: float = MR_EPS,
) -> torch.Tensor:
    """Multi-resolution STFT distance (Yamamoto et al. 2020): ``[B, N]`` x2 -> ``[B]``.

    Mean over ``(n_fft, hop)`` resolutions of spectral convergence plus the mean absolute difference of
    log magnitudes (``eps`` is added to magnitudes before the log: below the 16-bit noise floor, above
    float32 STFT round-off, so empty bins of synthetic notes do not dominate). Signals are cut to the
    shorter length.
    """
    n = min(x.shape[-1], y.shape[-1])
    x, y = x[..., :n], y[..., :n]
    total = torch.zeros(x.shape[:-1], device=x.device)
    for n_fft, hop in resolutions:
        mx, my = stft(x, n_fft, hop).abs(), stft(y, n_fft, hop).abs()
        total = total + spectral_convergence(mx, my) + log_magnitude_l1(mx, my, eps)
    return total / len(resolutions)
