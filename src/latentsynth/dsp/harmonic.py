"""Harmonic-plus-noise rendering: differentiable STFT magnitudes and a phase-free additive synthesizer.

A decoder network outputs, per STFT frame, a fundamental ``f0`` (Hz), ``K`` harmonic amplitudes and ``N``
noise-band levels. The same parameters give

* :func:`render_magnitudes`: the linear STFT magnitude frame ``[..., n_fft // 2 + 1]`` that a steady sum of
  sinusoids plus shaped noise would have under this project's STFT (``librosa.stft``: periodic Hann window of
  ``n_fft`` samples, centred frames, see :mod:`latentsynth.dsp.transforms`). It is differentiable in all
  parameters, so a decoder can be trained on magnitude losses; :func:`to_representation` maps it to the
  training representation (stft / mel);
* :func:`additive_synth`: audio with no phase retrieval (as DDSP's harmonic synthesizer and filtered noise,
  Engel et al. 2020): frame controls are interpolated to audio rate, each partial is a sine of accumulated
  phase, and noise is random-phase STFT frames of the noise envelope, inverted by overlap-add. The STFT of its
  output reproduces :func:`render_magnitudes` of the same parameters (the tests measure how closely).

Approximations of :func:`harmonic_magnitudes` (all stated again there): each partial contributes the magnitude
of its own window lobe and the contributions of partials are *added in magnitude* (no interference between
overlapping lobes, no image of the negative frequency), and each lobe is cut at ``lobe_bins`` bins from its
centre (Hann side lobes there are below -45 dB). :func:`render_magnitudes` adds the noise envelope in
magnitude too. So it is an upper bound of the true magnitude where lobes overlap, exact for isolated partials.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from .transforms import SpecConfig, fractional_bin, mel_basis

LOBE_OVERSAMPLING = 128  # lobe-table points per STFT bin (linear interpolation error < 1e-5 of the peak)


# ------------------------------------------------------------------------------------------ harmonic


def midi_to_hz(pitch: torch.Tensor) -> torch.Tensor:
    """MIDI pitch (float, any shape) -> frequency in Hz (A4 = 69 = 440 Hz)."""
    return 440.0 * torch.pow(2.0, (pitch - 69.0) / 12.0)


def harmonic_frequencies(f0: torch.Tensor, n_harmonics: int) -> torch.Tensor:
    """``f0 [...]`` (Hz) -> partial frequencies ``[..., n_harmonics]``: ``k * f0`` for ``k = 1..n_harmonics``."""
    k = torch.arange(1, n_harmonics + 1, device=f0.device, dtype=f0.dtype)
    return f0[..., None] * k


@lru_cache(maxsize=8)
def _lobe_table(n_fft: int, reach: int, oversampling: int) -> np.ndarray:
    """``|W(d)|`` of the periodic Hann window of ``n_fft`` samples for ``d`` in bins on the grid
    ``-reach, -reach + 1/oversampling, ..., reach`` -> ``[2 * reach * oversampling + 1]`` (float64).

    Exact DTFT samples: the FFT of the window zero-padded to ``n_fft * oversampling`` points. The peak,
    ``W(0) = sum(w) = n_fft / 2``, sits at index ``reach * oversampling``.
    """
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # librosa's / torch's periodic Hann
    spec = np.abs(np.fft.fft(w, n_fft * oversampling))
    m = np.arange(-reach * oversampling, reach * oversampling + 1)
    return spec[m % (n_fft * oversampling)]


def harmonic_magnitudes(f0: torch.Tensor, amps: torch.Tensor, spec: SpecConfig,
                        lobe_bins: int = 4) -> torch.Tensor:
    """Linear STFT magnitude frame of a steady harmonic tone.

    Args:
        f0: fundamental in Hz ``[...]``.
        amps: time-domain sine amplitudes ``[..., K]`` (>= 0) of the partials ``k * f0``, ``k = 1..K``.
        spec: uses ``sample_rate`` and ``n_fft`` (periodic Hann window, as ``librosa.stft``).
        lobe_bins: each partial writes the ``2 * lobe_bins + 1`` bins nearest to it.
    Returns:
        magnitude ``[..., n_fft // 2 + 1]`` in ``librosa.stft`` units: a sine of amplitude ``a`` at bin
        position ``p`` gives ``a / 2 * |W(f - p)|`` at bin ``f``, ``W`` the DTFT of the window (peak
        ``a * n_fft / 4``).

    Approximations: (1) contributions of partials are summed in magnitude, so where two lobes overlap the
    result is the upper bound of the real (phase-dependent, beating) magnitude; (2) the image of each partial at
    the negative frequency (and its alias above Nyquist) is ignored, which matters only within ~2 bins of DC and
    Nyquist; (3) lobes are cut at ``lobe_bins`` (+-4 bins: the omitted Hann side lobes are below -45 dB of the
    peak). Partials at or above Nyquist, or at <= 0 Hz, contribute nothing (masked, no NaN).

    Lobe shape: ``|W|`` is tabulated once per ``n_fft`` on a grid of 1/128 bin (exact DFT samples of the
    zero-padded window) and linearly interpolated. Compared with the closed form of the Hann DTFT (three
    Dirichlet kernels, with removable 0/0 singularities at integer bin offsets that need special-casing in
    value and gradient) the table is exact on the grid, has no singular points, costs one gather per touched
    bin, and its interpolation error is < 1e-5 of the peak. The gradient in ``f0`` is piecewise constant on
    the 1/128-bin grid (the slope of the table), which is accurate enough for gradient descent.

    Cost: ``[..., K, 2 * lobe_bins + 1]`` elements and one ``scatter_add``; no ``[..., K, F]`` tensor.
    Differentiable in ``amps`` and ``f0``.
    """
    if amps.shape[:-1] != f0.shape:
        raise ValueError(f"amps: expected shape {tuple(f0.shape)} + (K,), got {tuple(amps.shape)}")
    n_fft, sr = spec.n_fft, spec.sample_rate
    n_out = n_fft // 2 + 1
    reach = lobe_bins + 1
    table = torch.as_tensor(_lobe_table(n_fft, reach, LOBE_OVERSAMPLING), device=amps.device, dtype=amps.dtype)

    freqs = harmonic_frequencies(f0.to(amps.dtype), amps.shape[-1])  # [..., K]
    valid = (freqs > 0) & (freqs < sr / 2)
    pos = freqs * (n_fft / sr)  # partial positions in bins [..., K]
    offsets = torch.arange(-lobe_bins, lobe_bins + 1, device=amps.device)
    bins = torch.round(pos.detach()).long()[..., None] + offsets  # touched bins [..., K, 2L+1]
    dist = bins.to(amps.dtype) - pos[..., None]  # |dist| <= lobe_bins + 0.5 < reach
    u = (dist + reach) * LOBE_OVERSAMPLING  # index into the table
    i0 = torch.floor(u.detach()).long().clamp(0, table.numel() - 2)
    frac = u - i0.to(amps.dtype)
    flat = i0.reshape(-1)  # index_select: ~8x faster than table[i0] (advanced indexing) on CPU
    t0, t1 = table.index_select(0, flat).reshape(i0.shape), table.index_select(0, flat + 1).reshape(i0.shape)
    lobe = t0 + frac * (t1 - t0)  # |W(dist)| [..., K, 2L+1]

    inside = (bins >= 0) & (bins < n_out) & valid[..., None]
    vals = torch.where(inside, lobe * (0.5 * amps)[..., None], torch.zeros((), dtype=amps.dtype,
                                                                           device=amps.device))
    idx = bins.clamp(0, n_out - 1)
    out = torch.zeros(*amps.shape[:-1], n_out, dtype=amps.dtype, device=amps.device)
    return out.scatter_add(-1, idx.flatten(-2), vals.flatten(-2))


# --------------------------------------------------------------------------------------------- noise


@lru_cache(maxsize=16)
def _band_matrix(n: int, n_bins: int) -> np.ndarray:
    """``[n, n_bins]`` (float64): the linear interpolation of :func:`noise_magnitudes` as a matrix."""
    pos = np.arange(n_bins) * ((n - 1) / max(n_bins - 1, 1))
    i0 = np.clip(np.floor(pos).astype(np.int64), 0, n - 2)
    w = pos - i0
    m = np.zeros((n, n_bins))
    m[i0, np.arange(n_bins)] = 1 - w
    m[i0 + 1, np.arange(n_bins)] += w
    return m


def noise_magnitudes(bands: torch.Tensor, n_bins: int) -> torch.Tensor:
    """Noise band levels ``[..., N]`` (>= 0, STFT-magnitude units) -> smooth envelope ``[..., n_bins]``.

    Band centres are spaced linearly over 0..Nyquist, the first at bin 0 and the last at bin ``n_bins - 1``
    (``N = 1`` is a flat envelope); bins between centres are linearly interpolated (one matrix product). The value
    at a bin is the expected STFT magnitude of the noise there (:func:`additive_synth` makes noise with that mean
    magnitude).
    """
    n = bands.shape[-1]
    if n == 1:
        return bands.expand(*bands.shape[:-1], n_bins)
    matrix = _band_matrix(int(n), int(n_bins))  # int(): a tracer gives shapes as tensors
    return bands @ torch.as_tensor(matrix, dtype=bands.dtype, device=bands.device)


def render_magnitudes(f0: torch.Tensor, amps: torch.Tensor, noise: torch.Tensor | None,
                      spec: SpecConfig) -> torch.Tensor:
    """Decoder output: harmonic + noise linear STFT magnitude ``[..., n_fft // 2 + 1]``.

    ``f0 [...]`` Hz, ``amps [..., K]``, ``noise [..., N]`` band levels (or ``None``). Harmonic and noise parts
    are added in magnitude (see :func:`harmonic_magnitudes`); the result is always linear STFT, whatever
    ``spec.representation``: map it with :func:`to_representation`.
    """
    mag = harmonic_magnitudes(f0, amps, spec)
    if noise is not None and noise.shape[-1] > 0:
        mag = mag + noise_magnitudes(noise, mag.shape[-1])
    return mag


def to_representation(mag_stft: torch.Tensor, spec: SpecConfig) -> torch.Tensor:
    """Linear STFT magnitude ``[..., n_fft // 2 + 1]`` -> magnitude of ``spec.representation`` ``[..., F_rep]``.

    ``stft``: identity; ``mel``: the Slaney mel bank of :func:`~latentsynth.dsp.transforms.mel_basis`
    (as :func:`~latentsynth.dsp.transforms.mel_magnitude`); ``cqt``: not supported (``ValueError``).
    """
    n_stft = spec.n_fft // 2 + 1
    if mag_stft.shape[-1] != n_stft:
        raise ValueError(f"mag_stft: expected {n_stft} bins (n_fft={spec.n_fft}) in the last dimension, "
                         f"got {mag_stft.shape[-1]}")
    if spec.representation == "stft":
        return mag_stft
    if spec.representation == "mel":
        basis = torch.as_tensor(mel_basis(spec), device=mag_stft.device, dtype=mag_stft.dtype)  # [n_mels, F]
        return mag_stft @ basis.T
    raise ValueError(f"representation: the harmonic decoder renders stft or mel magnitudes, not "
                     f"{spec.representation!r} (use a decoder with a free output for cqt)")


# -------------------------------------------------------------------------------------------- analysis


def sample_bins(frames: torch.Tensor, position: torch.Tensor, fill: float) -> torch.Tensor:
    """Linear interpolation of ``frames [..., F]`` at fractional bin positions ``[..., M]`` (same leading
    shape) -> ``[..., M]``; positions outside ``[0, F - 1]`` read ``fill``."""
    n = frames.shape[-1]
    pos = position.clamp(0, n - 1)
    i0 = torch.floor(pos).clamp(max=n - 2)
    w = pos - i0
    i0 = i0.long()
    v = frames.gather(-1, i0) * (1 - w) + frames.gather(-1, i0 + 1) * w
    inside = (position >= 0) & (position <= n - 1)
    return torch.where(inside, v, torch.full_like(v, fill))


def harmonic_view(frames: torch.Tensor, f0: torch.Tensor, spec: SpecConfig, n_harmonics: int,
                  per_harmonic: int = 4, fill: float = 0.0) -> torch.Tensor:
    """A frame seen in units of its own fundamental: ``frames [B, W, F]`` (any values per bin, e.g. normalised
    dB) sampled at ``u * f0`` for ``u = 1/P, 2/P, ..., K`` (``P = per_harmonic``, ``K = n_harmonics``) ->
    ``[B, W, K * P]``; partial ``k`` lands at index ``k * P - 1`` whatever the pitch, so a network reading this
    view meets a new pitch as a familiar pattern. ``f0 [B]`` or ``[B, W]`` in Hz; frequencies outside the
    representation's bins read ``fill``."""
    if f0.dim() == 1:
        f0 = f0[:, None].expand(-1, frames.shape[1])
    u = torch.arange(1, n_harmonics * per_harmonic + 1, device=frames.device, dtype=frames.dtype) / per_harmonic
    pos = fractional_bin(f0[..., None].to(frames.dtype) * u, spec)  # [B, W, K * P]
    return sample_bins(frames, pos, fill)


# ------------------------------------------------------------------------------------------- synthesis


def noise_scale(spec: SpecConfig) -> float:
    """Factor on a magnitude envelope before random-phase overlap-add so that the STFT of the result has that
    magnitude on average.

    Random-phase frames of flat magnitude ``m`` (each an ``n_fft``-periodic noise of variance ``m^2 / n_fft``)
    give, after the least-squares overlap-add of ``torch.istft`` (window envelope ``sum_t w^2 = S2 / hop``,
    ``S2 = sum(w^2)``), white noise of variance ``m^2 hop / (n_fft S2)``; re-analysed with the same window,
    ``E|Y|^2 = m^2 hop / n_fft`` (the window sums cancel), and ``|Y|`` is Rayleigh distributed, so
    ``E|Y| = sqrt(pi) / 2 * m * sqrt(hop / n_fft)``. The scale is the inverse (2.257 for hop = n_fft / 4).
    """
    return 2 / math.sqrt(math.pi) * math.sqrt(spec.n_fft / spec.hop_length)


CHUNK_ELEMENTS = 1 << 19  # CPU: samples x partials per block of the harmonic sum (2 MiB float32: L2-sized)


def _segment_ends(x: torch.Tensor, n_seg: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Frame values ``[B, T, *C]`` -> values at the start and end of each of ``n_seg`` hop-long segments,
    ``([B, n_seg, *C], [B, n_seg, *C])`` (segment ``s`` runs from frame centre ``s`` to ``s + 1``; frames past
    ``T - 1`` hold the last value)."""
    t = x.shape[1]
    s = torch.arange(n_seg, device=x.device)
    return x[:, s.clamp(max=t - 1)], x[:, (s + 1).clamp(max=t - 1)]


def _f0_per_sample(f0: torch.Tensor, n_seg: int, spec: SpecConfig, dtype: torch.dtype) -> torch.Tensor:
    """``f0 [B, T]`` -> ``[B, n_seg, hop]``: linear between frame centres, held after the last frame."""
    w = torch.arange(spec.hop_length, device=f0.device, dtype=dtype) / spec.hop_length
    f_start, f_end = _segment_ends(f0.to(dtype), n_seg)  # [B, S]
    return torch.lerp(f_start[..., None], f_end[..., None], w)


def base_phase(f0: torch.Tensor, samples: int, spec: SpecConfig, phase: torch.Tensor | None = None) -> torch.Tensor:
    """The fundamental's phase in cycles ``[B]`` (in [0, 1)) after ``samples`` samples of :func:`additive_synth`
    started at ``phase`` (``[B]``, default 0): pass it as the next block's ``phase`` and consecutive blocks are one
    continuous tone (partial k's phase is k times this one)."""
    n_seg = max(-(-samples // spec.hop_length), 1)
    step = _f0_per_sample(f0, n_seg, spec, f0.dtype).reshape(len(f0), -1)[:, :samples].double() / spec.sample_rate
    start = torch.zeros(len(f0), dtype=torch.float64) if phase is None else phase.double()
    return torch.frac(start + step.sum(-1)).to(f0.dtype)


def harmonic_segments(f_start: torch.Tensor, f_end: torch.Tensor, a_start: torch.Tensor, a_end: torch.Tensor,
                      phase: torch.Tensor, sample_rate: float, hop: int,
                      mask: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The harmonic synthesizer over ``S`` hop-long segments: the one definition of its maths (TorchScript- and
    ONNX-exportable; :func:`additive_synth` and the streaming synthesizer of :mod:`latentsynth.synth.streaming`
    both call it).

    Args:
        f_start, f_end: the fundamental (Hz) at the start and the end of each segment ``[B, S]``.
        a_start, a_end: sine amplitudes of the partials ``k * f0``, ``k = 1..K``, at both ends ``[B, S, K]``.
        phase: the fundamental's phase in cycles at the first sample ``[B]`` (float64).
        sample_rate, hop: samples per second and per segment.
        mask: silence a partial at the samples where ``k * f0 >= sample_rate / 2`` or ``f0 <= 0`` (a caller that
            knows no partial reaches Nyquist may skip the mask).
    Returns:
        audio ``[B, S * hop]`` (the dtype of ``a_start``) and the phase after the last sample ``[B]`` (float64,
        in [0, 1)).

    Sample ``j`` of a segment reads ``f0`` and the amplitudes linearly interpolated at ``w = j / hop``
    (``torch.lerp``); the phase of partial ``k`` is ``2 pi k`` times the fundamental's phase, which accumulates
    ``f0 / sample_rate`` per sample in float64 cycles modulo 1 (0 at the first sample when ``phase`` is 0).
    """
    batch, n_seg, dtype = f_start.shape[0], f_start.shape[1], a_start.dtype
    n_harm = a_start.shape[-1]
    w = torch.arange(hop, device=a_start.device, dtype=dtype) / hop  # [hop]
    f_up = torch.lerp(f_start.to(dtype)[:, :, None], f_end.to(dtype)[:, :, None], w)  # [B, S, hop]
    step = f_up.reshape(batch, n_seg * hop).double() / sample_rate
    total = torch.cumsum(step, -1)
    cycles = torch.frac(phase.double()[:, None] + total - step).to(dtype).reshape(batch, n_seg, hop, 1)
    k = torch.arange(1, n_harm + 1, device=a_start.device, dtype=dtype)
    sines = torch.sin(cycles * (2 * math.pi) * k)  # [B, S, hop, K]
    if mask:  # partial k sounds where k < (sr / 2) / f, i.e. k <= ceil((sr / 2) / f) - 1, and f > 0
        n_valid = torch.where(f_up > 0, torch.ceil((sample_rate / 2) / f_up.clamp(min=1e-30)) - 1,
                              torch.zeros_like(f_up))
        sines = sines * (k <= n_valid[:, :, :, None]).to(dtype)
    # sum_k lerp(a_start, a_end, w) * sine = lerp(sum_k a_start * sine, sum_k a_end * sine, w): two sums per sample
    ends = torch.matmul(sines, torch.stack([a_start, a_end], -1))  # [B, S, hop, 2]
    y = torch.lerp(ends[..., 0], ends[..., 1], w).reshape(batch, n_seg * hop)
    return y, torch.frac(phase.double() + total[:, -1])


def partial_range(f_start: torch.Tensor, f_end: torch.Tensor, sample_rate: float, n_harmonics: int,
                  dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds on how many partials sound in segments from ``f_start`` to ``f_end`` (Hz, ``[B, S]``), reduced over
    ``dim``: ``(top, low)`` with partials ``k <= top`` below Nyquist at some sample and ``k <= low`` below it at
    every sample (none where ``f0 <= 0``). ``f0`` is linear within a segment, so its extremes bound the count
    (conservatively: the last sample stops short of ``f_end``). :func:`harmonic_segments` needs only partials
    ``1..top``, and no Nyquist mask where ``low == top``."""
    f_lo = torch.minimum(f_start, f_end).double()
    f_hi = torch.maximum(f_start, f_end).double()
    top = torch.where(f_hi > 0, partials_below_nyquist(f_lo.clamp(min=1e-30), sample_rate, n_harmonics),
                      torch.zeros_like(f_hi)).amax(dim)
    low = torch.minimum(partials_below_nyquist(f_lo, sample_rate, n_harmonics),
                        partials_below_nyquist(f_hi, sample_rate, n_harmonics)).amin(dim)
    return top, low


def partials_below_nyquist(f: torch.Tensor, sample_rate: float, n_harmonics: int) -> torch.Tensor:
    """How many of the partials ``k * f``, ``k = 1..n_harmonics``, are below Nyquist (0 where ``f <= 0``);
    float64, the shape of ``f``."""
    ratio = (sample_rate / 2) / f.double().clamp(min=1e-30)
    return torch.where(f > 0, (torch.ceil(ratio) - 1).clamp(0, n_harmonics), torch.zeros_like(ratio))


def _harmonic_audio(f0: torch.Tensor, amps: torch.Tensor, n_seg: int, spec: SpecConfig,
                    phase: torch.Tensor | None = None) -> torch.Tensor:
    """``f0 [B, T]``, ``amps [B, T, K]`` -> harmonic audio ``[B, n_seg * hop]`` (see :func:`additive_synth`):
    :func:`harmonic_segments` in blocks of segments (cache-sized on CPU), each block over only the partials that
    are below Nyquist somewhere in it, with the per-sample Nyquist mask only in blocks where a partial crosses it;
    the phase is carried from block to block.
    """
    batch, hop, sr, dtype = f0.shape[0], spec.hop_length, spec.sample_rate, amps.dtype
    n_harm = amps.shape[-1]
    f_start, f_end = _segment_ends(f0.to(dtype), n_seg)  # [B, S]
    a_start, a_end = _segment_ends(amps, n_seg)  # [B, S, K]
    seg_top, seg_low = (v.tolist() for v in partial_range(f_start, f_end, sr, n_harm, dim=0))  # [S] each, one sync
    k_top = max(1, int(max(seg_top))) if seg_top else 1
    per_block = max(1, CHUNK_ELEMENTS // (batch * hop * k_top)) if amps.device.type == "cpu" else n_seg
    p = torch.zeros(batch, dtype=torch.float64, device=amps.device) if phase is None \
        else phase.double().to(amps.device)
    blocks = []
    for i in range(0, n_seg, per_block):
        sl = slice(i, i + per_block)
        kmax, kmin = int(max(seg_top[sl])), int(min(seg_low[sl]))
        y, p = harmonic_segments(f_start[:, sl], f_end[:, sl], a_start[:, sl, :max(kmax, 1)],
                                 a_end[:, sl, :max(kmax, 1)], p, sr, hop, mask=kmin < kmax or kmax == 0)
        blocks.append(y)
    return torch.cat(blocks, 1)


def additive_synth(f0: torch.Tensor, amps: torch.Tensor, noise: torch.Tensor | None, spec: SpecConfig,
                   length: int | None = None, generator: torch.Generator | None = None,
                   phase: torch.Tensor | None = None, noise_phase: torch.Tensor | None = None) -> torch.Tensor:
    """Harmonic-plus-noise audio from frame-rate controls, with no phase retrieval.

    Args:
        f0: fundamental in Hz ``[B, T]``, one value per STFT frame (frame ``t`` centred on sample ``t * hop``,
            as ``librosa.stft(center=True)``).
        amps: sine amplitudes ``[B, T, K]`` of the partials ``k * f0``.
        noise: noise band levels ``[B, T, N]`` (:func:`noise_magnitudes` units) or ``None``.
        spec: ``sample_rate``, ``n_fft``, ``hop_length``.
        length: samples of the output (default ``(T - 1) * hop``, so that its STFT has ``T`` frames).
        generator: draws the noise phases (its device decides where they are drawn).
        phase: the fundamental's starting phase in cycles ``[B]`` (default 0); :func:`base_phase` gives the
            phase to continue from, so blocks rendered one after another join without a phase jump.
        noise_phase: the noise frames' phases in cycles ``[B, T, n_fft // 2 + 1]`` (default: uniform draws of
            ``generator``); the streaming synthesizer takes them from :func:`noise_phase_table`.
    Returns:
        audio ``[B, length]``.

    Harmonic part: ``f0`` and ``amps`` are linearly interpolated between frame centres (held after the last
    frame); the phase of partial ``k`` is ``2 pi k sum_{m < n} f0[m] / sr`` (accumulated in float64 cycles
    modulo 1, so continuous across frames and precise over long notes; 0 at sample 0); a partial is silenced at
    the samples where ``k * f0`` is at or above Nyquist or ``f0 <= 0``. Noise part: random-phase STFT frames of
    magnitude ``noise_magnitudes(noise) * noise_scale(spec)`` inverted by ``torch.istft`` (Hann, centred,
    least-squares overlap-add), so the STFT of the noise has the envelope as its mean magnitude.

    The STFT (same spec) of the output reproduces :func:`render_magnitudes` of the same parameters: up to the
    approximations stated there for a steady harmonic tone (spectral convergence ~0.3 % at 220 Hz), a few %
    for glides (the frequency moves within a frame), and the noise on average over frames only (one frame of
    noise has Rayleigh-distributed magnitudes); harmonic and noise add in the complex domain, not in magnitude.
    Differentiable in ``f0``, ``amps`` and ``noise``.
    """
    if f0.dim() != 2 or amps.dim() != 3 or amps.shape[:2] != f0.shape:
        raise ValueError(f"f0 [B, T] and amps [B, T, K] expected, got {tuple(f0.shape)} and {tuple(amps.shape)}")
    if noise is not None and (noise.dim() != 3 or noise.shape[:2] != f0.shape):
        raise ValueError(f"noise: expected shape {tuple(f0.shape)} + (N,), got {tuple(noise.shape)}")
    hop, n_fft, dtype = spec.hop_length, spec.n_fft, amps.dtype
    length = (f0.shape[1] - 1) * hop if length is None else length
    n_seg = max(-(-length // hop), 1)
    y = _harmonic_audio(f0, amps, n_seg, spec, phase)[:, :length]
    if noise is not None and noise.shape[-1] > 0:
        mag = noise_magnitudes(noise.to(dtype), n_fft // 2 + 1).transpose(1, 2) * noise_scale(spec)  # [B, F, T]
        if noise_phase is None:
            noise_phase = torch.rand(mag.shape, generator=generator, dtype=dtype,
                                     device="cpu" if generator is None else generator.device).to(mag.device)
        else:
            noise_phase = noise_phase.to(mag.device, dtype).transpose(1, 2)
        angle = (2 * math.pi) * noise_phase
        frames = torch.complex(mag * torch.cos(angle), mag * torch.sin(angle))  # mag * exp(i angle)
        window = torch.hann_window(n_fft, device=mag.device, dtype=dtype)
        y = y + torch.istft(frames, n_fft, hop, window=window, center=True, length=length)
    return y


NOISE_PERIODS = (61, 64)  # frames of the two phase tables of the streaming noise (coprime: period 3904 frames)


def noise_phase_table(n_bins: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The streaming noise's phases: two tables ``[P1, n_bins]``, ``[P2, n_bins]`` (float32 cycles in [0, 1),
    uniform draws of ``torch.Generator().manual_seed(seed)``, ``(P1, P2) = NOISE_PERIODS``). Frame ``t`` of a
    stream has the phases ``frac(A[t % P1] + B[t % P2])`` (:func:`noise_phases`): random-looking, the same in
    every host, and repeating only after ``P1 * P2`` frames (45 s at 22,050 Hz, hop 256)."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(NOISE_PERIODS[0], n_bins, generator=g), torch.rand(NOISE_PERIODS[1], n_bins, generator=g))


def noise_phases(table_a: torch.Tensor, table_b: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
    """Phases in cycles ``[T, F]`` of the stream frames ``frames [T]`` (int64 indices) from the two tables of
    :func:`noise_phase_table`."""
    return torch.frac(table_a[frames % table_a.shape[0]] + table_b[frames % table_b.shape[0]])


def irfft_basis(n_fft: int) -> torch.Tensor:
    """``[2 F, n_fft]`` (``F = n_fft // 2 + 1``, float64): ``[re, im] @ basis`` is ``irfft(re + i im) * w``, the
    inverse real DFT of one-sided frames times the periodic Hann window ``w``, as :func:`torch.istft` forms each
    frame before its overlap-add (the imaginary parts of DC and Nyquist are ignored, as by ``irfft``). A matrix
    product, so ONNX graphs and TorchScript modules run the same arithmetic."""
    f = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    n = torch.arange(n_fft, dtype=torch.float64)
    c = torch.full_like(f, 2.0 / n_fft)
    c[0] = c[-1] = 1.0 / n_fft
    arg = (2 * math.pi / n_fft) * f * n
    w = torch.hann_window(n_fft, dtype=torch.float64)
    return torch.cat([c * torch.cos(arg) * w, -c * torch.sin(arg) * w], 0)


def ola_envelope(spec: SpecConfig) -> torch.Tensor:
    """``[hop]`` (float64): the steady-state sum of the squared Hann window over overlapping frames, per position
    within a hop (``sum_m w[j + m hop]^2``); :func:`torch.istft` divides by it away from the signal's edges."""
    w2 = torch.hann_window(spec.n_fft, dtype=torch.float64) ** 2
    pad = (-spec.n_fft) % spec.hop_length
    return torch.nn.functional.pad(w2, (0, pad)).reshape(-1, spec.hop_length).sum(0)


def safe_peak(y: torch.Tensor, peak: float = 0.99) -> torch.Tensor:
    """``y [..., N]`` -> ``y`` scaled down, per signal (last dimension), where ``max |y|`` exceeds ``peak``;
    quieter signals are returned unchanged (never amplified), so the result never clips at ``peak``."""
    top = y.abs().amax(-1, keepdim=True)
    return y * torch.clamp(peak / torch.clamp(top, min=1e-30), max=1.0)
