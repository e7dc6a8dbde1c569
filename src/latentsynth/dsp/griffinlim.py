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


_CPU_CHUNK_BYTES = 1 << 20  # spectra of at most this many bytes per Griffin-Lim loop on CPU (one note at least)


def _window(n_fft: int, width: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Periodic Hann window (librosa's and ``torch.stft``'s), zero-padded to ``width`` samples."""
    w = torch.zeros(width, dtype=dtype, device=device)
    w[:n_fft] = torch.hann_window(n_fft, dtype=dtype, device=device)
    return w


def _overlap_add(buf: torch.Tensor, frames: torch.Tensor, hop: int) -> None:
    """``buf [B, >= (T + R - 1) * hop] += `` overlap-add of ``frames [B, T, R * hop]`` at stride ``hop``.

    ``R`` slice additions on the ``[B, T + R - 1, hop]`` view (no index tensors, no ``fold``)."""
    b, t, width = frames.shape
    r = width // hop
    out = buf[:, :(t + r - 1) * hop].view(b, t + r - 1, hop)
    parts = frames.view(b, t, r, hop)
    for i in range(r):
        out[:, i:i + t].add_(parts[:, :, i])


def _abs(z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``|z|`` into ``out``: numpy's complex abs on CPU (vectorised; ``torch.abs`` of complex is ~10x slower
    there), torch elsewhere."""
    if z.device.type == "cpu":
        np.abs(z.numpy(), out=out.numpy())
        return out
    return torch.abs(z, out=out)


def _polar(mag: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``mag * exp(i phase)`` (``torch.polar`` is ~10x slower on CPU)."""
    return torch.complex(mag * torch.cos(phase), mag * torch.sin(phase))


class _Loop:
    """Frame-domain Griffin-Lim for ``T`` free frames that follow ``C`` fixed frames.

    The signal lives in one overlap-add buffer ``[B, (C + T + R - 1) * hop]`` (``R = ceil(n_fft / hop)``) whose
    sample ``i`` is sample ``i`` of the centre-padded signal that ``torch.stft`` frames. One iteration is
    ``irfft -> window -> overlap-add (+ the fixed frames' part, computed once) -> x envelope -> frames ->
    window -> rfft``, where the envelope (1 / window-sum, and 0 where ``torch.istft``/``torch.stft`` trim and
    zero-pad) is computed once. Every buffer is preallocated; spectra are ``[B, T, F]`` so the FFTs run on
    contiguous frames. Same arithmetic as ``stft(istft(.))`` up to float rounding.
    """

    def __init__(self, n_fft: int, hop: int, batch: int, n_fixed: int, n_free: int, dtype: torch.dtype,
                 device: torch.device, fixed: torch.Tensor | None = None, start: int = 0,
                 stop: int | None = None):
        """``fixed``: complex spectra ``[B, C, F]`` of the fixed frames; ``[start, stop)``: the samples of the
        buffer that are kept (the rest is zero, as outside a ``length``-trimmed ``istft``)."""
        self.n_fft, self.hop, self.c, self.t = n_fft, hop, n_fixed, n_free
        r = -(-n_fft // hop)
        self.width = r * hop
        n_all = n_fixed + n_free
        n_buf = (n_all + r - 1) * hop
        self.window = _window(n_fft, self.width, dtype, device)
        wsum = torch.zeros(1, n_buf, dtype=dtype, device=device)
        _overlap_add(wsum, (self.window ** 2).expand(1, n_all, self.width), hop)
        tiny = torch.finfo(dtype).tiny
        env = torch.where(wsum > tiny, 1 / wsum.clamp_min(tiny), torch.ones_like(wsum))
        idx = torch.arange(n_buf, device=device)
        keep = (idx >= start) & (idx < (n_buf if stop is None else stop))
        self.env = (env * keep)[0]
        self.base = torch.zeros(batch, n_buf, dtype=dtype, device=device)  # the fixed frames' overlap-add
        if n_fixed:
            _overlap_add(self.base, self._synth(fixed), hop)
        self.buf = torch.empty_like(self.base)
        self.frames = torch.empty(batch, n_free, self.width, dtype=dtype, device=device)
        self.wave = torch.empty(batch, n_free, n_fft, dtype=dtype, device=device)

    def _synth(self, spec: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Windowed inverse FFT of ``spec [B, T, F]`` -> ``[B, T, width]``."""
        wave = torch.fft.irfft(spec, n=self.n_fft, dim=-1)
        if out is None:
            out = torch.zeros(*wave.shape[:-1], self.width, dtype=wave.dtype, device=wave.device)
        torch.mul(wave, self.window[:self.n_fft], out=out[..., :self.n_fft])
        return out

    def signal(self, spec: torch.Tensor) -> torch.Tensor:
        """Least-squares overlap-add of the free frames ``spec [B, T, F]`` (+ the fixed ones) -> ``buf``."""
        self.buf.copy_(self.base)
        if self.t:
            if self.width > self.n_fft:
                self.frames[..., self.n_fft:] = 0
            self._synth(spec, self.frames)
            _overlap_add(self.buf[:, self.c * self.hop:], self.frames, self.hop)
        return self.buf.mul_(self.env)

    def analyse(self) -> torch.Tensor:
        """STFT of the free frames of ``buf`` -> ``[B, T, F]`` (``out=`` would make the FFT 2x slower)."""
        framed = self.buf[:, self.c * self.hop:].unfold(-1, self.n_fft, self.hop)[:, :self.t]
        torch.mul(framed, self.window[:self.n_fft], out=self.wave)
        return torch.fft.rfft(self.wave, dim=-1)

    def run(self, mag: torch.Tensor, angles: torch.Tensor, n_iter: int, momentum: float, eps: float) -> torch.Tensor:
        """Fast Griffin-Lim on the free frames: ``mag [B, T, F]``, initial spectra ``angles [B, T, F]``
        (complex, with magnitude ``mag``; may be overwritten). Returns the last spectra."""
        scale = torch.empty_like(mag)
        alpha = momentum / (1 + momentum)
        tprev = None
        for _ in range(n_iter):
            self.signal(angles)
            rebuilt = self.analyse()
            angles = rebuilt if tprev is None or alpha == 0 else torch.sub(rebuilt, tprev, alpha=alpha)
            _abs(angles, scale).add_(eps)
            torch.div(mag, scale, out=scale)
            tprev = rebuilt if alpha else None
            angles = angles.mul_(scale) if tprev is not angles else angles * scale
        return angles


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
    init_angles: torch.Tensor | None = None,
) -> torch.Tensor:
    """Estimate a signal whose STFT magnitude is ``mag``.

    Args:
        mag: linear STFT magnitude ``[B, n_fft // 2 + 1, T]`` or ``[F, T]`` (float, any device).
        n_iter: iterations; ``momentum`` 0.99 is fast Griffin-Lim, 0 the original algorithm.
        length: samples of the output (default ``(T - 1) * hop_length``; ``1 + length // hop_length`` must be
            ``T``).
        init: ``"random"`` phases (drawn with ``generator``) or ``"zeros"`` (all phases 0).
        init_angles: phases (radians) ``[B, F, T]`` (``[F, T]`` for a 2-D ``mag``) to start from, e.g. those of
            a previous estimate (warm start); overrides ``init``.
    Returns:
        audio ``[B, length]`` (or ``[length]`` for a 2-D input) on ``mag``'s device.
    """
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum: must be in [0, 1), got {momentum}")
    squeeze = mag.dim() == 2
    mag = mag[None] if squeeze else mag
    if mag.shape[-2] != n_fft // 2 + 1:
        raise ValueError(f"mag: expected {n_fft // 2 + 1} frequency bins for n_fft={n_fft}, got {mag.shape[-2]}")
    n_frames = mag.shape[-1]
    length = (n_frames - 1) * hop_length if length is None else length
    if 1 + length // hop_length != n_frames:
        raise ValueError(f"length: {length} samples give {1 + length // hop_length} frames, mag has {n_frames}")
    if init_angles is not None:
        phase = (init_angles[None] if squeeze else init_angles).to(mag.device, mag.dtype)
        if phase.shape != mag.shape:
            raise ValueError(f"init_angles: expected shape {tuple(mag.shape)}, got {tuple(phase.shape)}")
        angles = _polar(mag, phase)
    elif init == "random":
        phase = torch.rand(mag.shape, generator=generator, dtype=mag.dtype,
                           device="cpu" if generator is None else generator.device).to(mag.device)
        angles = _polar(mag, 2 * math.pi * phase)
    elif init == "zeros":
        angles = torch.complex(mag, torch.zeros_like(mag))
    else:
        raise ValueError(f"init: must be 'random' or 'zeros', got {init!r}")
    mag, angles = mag.transpose(-1, -2).contiguous(), angles.transpose(-1, -2).contiguous()  # [B, T, F]
    pad = n_fft // 2
    y = mag.new_zeros(mag.shape[0], length)
    # On CPU, a few notes at a time: one note's spectra stay in the L2 cache, a whole batch does not (~2x faster).
    step = max(1, _CPU_CHUNK_BYTES // (angles[0].numel() * angles.element_size())) if mag.device.type == "cpu" \
        else mag.shape[0]
    for i in range(0, mag.shape[0], step):
        loop = _Loop(n_fft, hop_length, len(mag[i:i + step]), 0, n_frames, mag.dtype, mag.device, start=pad,
                     stop=pad + length)
        buf = loop.signal(loop.run(mag[i:i + step], angles[i:i + step], n_iter, momentum, eps))
        got = buf[:, pad:pad + length]
        y[i:i + step, :got.shape[-1]] = got
    return y[0] if squeeze else y


class GriffinLimStream:
    """Griffin-Lim for consecutive magnitude blocks of one long sound, rendered block by block.

    ``push(mag_block [B, F, Tb])`` returns the audio ``[B, samples]`` that is final once those frames are known;
    concatenating the outputs of all pushes and of :meth:`flush` gives ``(T - 1) * hop_length`` samples, like
    :func:`griffinlim` on the whole ``[B, F, T]``.

    Each block is inverted together with the last ``ceil(n_fft / hop) - 1`` rendered frames as fixed context
    (their spectra, hence the audio already returned, stay as they are): the new frames are fitted to what was
    played, so blocks join without clicks. The last ``lookahead`` frames of a block are not rendered yet: they
    are fitted again with the next block, warm-started from their current phases, since the last frames of a
    block see no future frames (``lookahead`` frames of extra latency for quality; default: as many as the
    context, ``ceil(n_fft / hop) - 1``). New frames start from the
    phase advance of the previous frame, ``phi_t = phi_{t-1} + 2 pi k hop / n_fft`` (bin ``k``; a warm start for
    stationary partials); the first frame of the sound from random phases (``generator``). The overlap-add tail
    of the context is recomputed from its spectra, so the state is a few spectra.
    """

    def __init__(self, n_fft: int, hop_length: int, n_iter: int = 32, momentum: float = 0.99,
                 lookahead: int | None = None, generator: torch.Generator | None = None, eps: float = 1e-16):
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum: must be in [0, 1), got {momentum}")
        if lookahead is not None and lookahead < 0:
            raise ValueError(f"lookahead: must be >= 0, got {lookahead}")
        self.n_fft, self.hop, self.n_iter, self.momentum, self.eps = n_fft, hop_length, n_iter, momentum, eps
        self.n_context = -(-n_fft // hop_length) - 1
        self.lookahead = self.n_context if lookahead is None else lookahead
        self.generator = generator
        self.reset()

    def reset(self) -> None:
        """Start a new sound."""
        self._context: torch.Tensor | None = None  # complex spectra [B, C, F] of the last rendered frames
        self._pending: torch.Tensor | None = None  # complex spectra [B, P, F] of frames fitted, not rendered
        self._frames = 0  # frames rendered so far
        self._emitted = self.n_fft // 2  # next sample to return, in the centre-padded signal's coordinates

    def push(self, mag_block: torch.Tensor) -> torch.Tensor:
        """Linear magnitudes ``[B, n_fft // 2 + 1, Tb]`` of the next frames -> the next audio ``[B, samples]``
        (``Tb * hop_length`` samples once the stream runs; fewer for the first blocks)."""
        if mag_block.dim() != 3 or mag_block.shape[1] != self.n_fft // 2 + 1:
            raise ValueError(f"mag_block: expected [B, {self.n_fft // 2 + 1}, Tb], got {tuple(mag_block.shape)}")
        mag = mag_block.transpose(-1, -2).contiguous()  # [B, Tb, F]
        b, tb, n_bins = mag.shape
        ctx, pending = self._context, self._pending
        known = pending if pending is not None and pending.shape[1] else ctx
        if known is not None and known.shape[0] != b:
            raise ValueError(f"mag_block: batch {b} differs from the stream's {known.shape[0]} (call reset())")
        step = 2 * math.pi * self.hop / self.n_fft * torch.arange(n_bins, device=mag.device, dtype=mag.dtype)
        if known is None:
            start = 2 * math.pi * torch.rand(b, n_bins, generator=self.generator, dtype=mag.dtype,
                                             device="cpu" if self.generator is None else self.generator.device)
            start, ahead = start.to(mag.device), torch.arange(tb, device=mag.device, dtype=mag.dtype)
        else:
            start, ahead = torch.angle(known[:, -1]), torch.arange(1, tb + 1, device=mag.device, dtype=mag.dtype)
        init = _polar(mag, start[:, None, :] + ahead[None, :, None] * step)  # phase advance from the last frame
        if pending is not None:
            mag, init = torch.cat([pending.abs(), mag], 1), torch.cat([pending, init], 1)
        spec = self._fit(mag, init)
        n_commit = max(0, spec.shape[1] - self.lookahead)
        self._pending = spec[:, n_commit:]
        return self._render(spec, n_commit)

    def flush(self) -> torch.Tensor:
        """The rest of the audio, up to the centre of the last frame pushed; then :meth:`reset`."""
        if self._context is None and self._pending is None:
            return torch.zeros(0, 0)
        pending = self._pending if self._pending is not None else self._context[:, :0]
        out = self._render(pending, pending.shape[1], stop=(self._frames + pending.shape[1] - 1) * self.hop
                           + self.n_fft // 2)
        self.reset()
        return out

    def _loop(self, n_free: int, like: torch.Tensor) -> _Loop:
        n_ctx = 0 if self._context is None else self._context.shape[1]
        offset = (self._frames - n_ctx) * self.hop  # the block's first sample in padded coordinates
        real = like.real if like.is_complex() else like
        return _Loop(self.n_fft, self.hop, like.shape[0], n_ctx, n_free, real.dtype, like.device,
                     fixed=self._context, start=max(0, self.n_fft // 2 - offset))

    def _fit(self, mag: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        return self._loop(mag.shape[1], mag).run(mag, init, self.n_iter, self.momentum, self.eps)

    def _render(self, spec: torch.Tensor, n_commit: int, stop: int | None = None) -> torch.Tensor:
        """Audio of ``spec``'s first ``n_commit`` frames after the context, up to the first sample that later
        frames still change (or ``stop``); they become the context."""
        ctx = self._context
        n_ctx = 0 if ctx is None else ctx.shape[1]
        offset = (self._frames - n_ctx) * self.hop
        loop = self._loop(n_commit, spec)
        signal = loop.signal(spec[:, :n_commit].contiguous())
        self._frames += n_commit
        end = self._frames * self.hop if stop is None else stop
        out = signal[:, self._emitted - offset:max(end, self._emitted) - offset].clone()
        self._emitted = max(end, self._emitted)
        done = spec[:, :n_commit] if ctx is None else torch.cat([ctx, spec[:, :n_commit]], 1)
        self._context = done[:, done.shape[1] - min(done.shape[1], self.n_context):]
        return out


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
