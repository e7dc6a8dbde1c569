"""Phase reconstruction: fast Griffin-Lim in torch (batched, on the magnitudes' device).

The loop is the one of ``librosa.griffinlim`` (Perraudin et al. 2013, "A fast Griffin-Lim algorithm"):
with ``momentum=0`` it is the original Griffin-Lim; librosa's default ``momentum=0.99`` converges much
faster. The STFT here (Hann window, centred frames, zero padding) is the same as librosa's, so equal
settings give the same quality.
"""

from __future__ import annotations

import math
import warnings

import librosa
import numpy as np
import torch

from .transforms import SpecConfig, cqt_to_linear, mel_to_linear


def stft(y: torch.Tensor, n_fft: int, hop_length: int) -> torch.Tensor:
    """``y [B, N]`` -> complex STFT ``[B, n_fft // 2 + 1, T]`` with ``T = 1 + N // hop_length`` (librosa's)."""
    window = torch.hann_window(n_fft, device=y.device, dtype=y.dtype)
    return torch.stft(y, n_fft, hop_length, window=window, center=True, pad_mode="constant",
                      return_complex=True)


def istft(spec: torch.Tensor, n_fft: int, hop_length: int, length: int | None = None) -> torch.Tensor:
    """Complex STFT ``[B, n_fft // 2 + 1, T]`` -> ``[B, length]`` (least-squares overlap-add)."""
    window = torch.hann_window(n_fft, device=spec.device, dtype=spec.real.dtype)
    return torch.istft(spec, n_fft, hop_length, window=window, center=True, length=length)


def griffinlim(
    mag: torch.Tensor,
    n_fft: int,
    hop_length: int,
    n_iter: int = 32,
    momentum: float = 0.99,
    length: int | None = None,
    init: str = "random",
    generator: torch.Generator | None = None,
    eps: float = 1e-16,
) -> torch.Tensor:
    """Estimate a signal whose STFT magnitude is ``mag``.

    Args:
        mag: linear STFT magnitude ``[B, n_fft // 2 + 1, T]`` or ``[F, T]`` (float, any device).
        n_iter: iterations; ``momentum`` 0.99 is fast Griffin-Lim, 0 the original algorithm.
        length: samples of the output (default ``(T - 1) * hop_length``).
        init: ``"random"`` phases (drawn with ``generator``) or ``"zeros"`` (all phases 0).
    Returns:
        audio ``[B, length]`` (or ``[length]`` for a 2-D input) on ``mag``'s device.
    """
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum: must be in [0, 1), got {momentum}")
    squeeze = mag.dim() == 2
    mag = mag[None] if squeeze else mag
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"mag: expected {n_fft // 2 + 1} frequency bins for n_fft={n_fft}, got {mag.shape[-2]}")
    if init == "random":
        phase = torch.rand(mag.shape, generator=generator, dtype=mag.dtype,
                           device="cpu" if generator is None else generator.device).to(mag.device)
        angles = torch.polar(torch.ones_like(mag), 2 * math.pi * phase)
    elif init == "zeros":
        angles = torch.ones_like(mag, dtype=torch.complex64 if mag.dtype == torch.float32 else torch.complex128)
    else:
        raise ValueError(f"init: must be 'random' or 'zeros', got {init!r}")
    angles = angles * mag
    tprev = None
    for _ in range(n_iter):
        rebuilt = stft(istft(angles, n_fft, hop_length, length), n_fft, hop_length)
        angles = rebuilt if tprev is None else rebuilt - (momentum / (1 + momentum)) * tprev
        angles = angles / (angles.abs() + eps) * mag
        tprev = rebuilt
    y = istft(angles, n_fft, hop_length, length)
    return y[0] if squeeze else y


def invert(mag: torch.Tensor | np.ndarray, cfg: SpecConfig, n_iter: int = 32, momentum: float = 0.99,
                length: int | None = None, seed: int = 0) -> torch.Tensor:
    """Linear magnitude of ``cfg.representation`` ``[B, F, T]`` -> audio ``[B, length]``.

    ``stft``: torch Griffin-Lim. ``mel``: :func:`~latentsynth.dsp.transforms.mel_to_linear` (NNLS), then torch
    Griffin-Lim. ``cqt``: :func:`~latentsynth.dsp.transforms.cqt_to_linear` (a fitted linear map), then torch
    Griffin-Lim. Everything runs on the tensor's device. Magnitudes are linear (undo
    :func:`~latentsynth.dsp.transforms.compress` first). :func:`invert_cqt_librosa` is the reference
    CQT inversion (``librosa.griffinlim_cqt``), kept for comparison.
    """
    mag = torch.as_tensor(mag)
    squeeze = mag.dim() == 2
    mag = mag[None] if squeeze else mag
    if cfg.representation == "mel":
        mag = mel_to_linear(mag.float(), cfg)
    elif cfg.representation == "cqt":
        mag = cqt_to_linear(mag.float(), cfg)
    gen = torch.Generator().manual_seed(seed)
    y = griffinlim(mag.float(), cfg.n_fft, cfg.hop_length, n_iter, momentum, length, generator=gen)
    return y[0] if squeeze else y


def invert_cqt_librosa(mag: torch.Tensor | np.ndarray, cfg: SpecConfig, n_iter: int = 32,
                       momentum: float = 0.99, length: int | None = None, seed: int = 0) -> np.ndarray:
    """CQT magnitude ``[B, K, T]`` -> audio ``[B, N]`` with ``librosa.griffinlim_cqt`` (CPU, one note at a
    time; ~25x slower than :func:`invert` and less accurate here: the reference it is compared with)."""
    mags = np.asarray(torch.as_tensor(mag).detach().cpu().numpy())
    mags = mags[None] if mags.ndim == 2 else mags
    with warnings.catch_warnings():  # librosa warns about its own short early-downsampled octaves
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")
        outs = [librosa.griffinlim_cqt(m, n_iter=n_iter, sr=cfg.sample_rate, hop_length=cfg.hop_length,
                                       fmin=cfg.cqt_fmin, bins_per_octave=cfg.bins_per_octave, momentum=momentum,
                                       length=length, random_state=seed) for m in mags]
    n = min(len(o) for o in outs)
    return np.stack([o[:n] for o in outs])
