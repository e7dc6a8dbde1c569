"""The harmonic-plus-noise synthesizer as a stream: frame controls in, audio out, block after block, with its state
carried so that blocks join into one signal. TorchScript- (``torch.jit.script``) and ONNX-exportable.

:class:`SynthCore` is one block as a pure function of the controls and the state (what an ONNX graph runs);
:class:`StreamingSynth` keeps the state in buffers between calls (what the nn~ module runs). The maths is
:func:`latentsynth.dsp.harmonic.additive_synth`'s, written once (see ``docs/synthesizer.md``):

* harmonic part: :func:`~latentsynth.dsp.harmonic.harmonic_segments`, the same function ``additive_synth`` calls;
* noise part: random-phase frames of magnitude ``noise_magnitudes(bands) * noise_scale``, inverse real DFT times the
  Hann window (:func:`~latentsynth.dsp.harmonic.irfft_basis`), overlap-added and divided by the steady-state window
  envelope (:func:`~latentsynth.dsp.harmonic.ola_envelope`): ``torch.istft`` away from the signal's edges. The
  phases come from :func:`~latentsynth.dsp.harmonic.noise_phase_table` (deterministic, the same in every host).

Timing: a call with ``T`` frames returns ``T * hop`` samples. Frame ``t`` of the stream is centred at output
sample ``(t + L) * hop`` with ``L = n_fft / (2 hop)`` frames of latency (the noise frame reaches ``n_fft / 2``
samples before its centre). State: the last ``L`` frames' ``f0`` and amplitudes (per-sample interpolation), every
partial's phase (the fundamental's phase in float64 cycles; partial ``k`` is at ``k`` times it), the overlap-add
tail of the noise (``n_fft - hop`` samples) and the frame counter (the noise phases). A fresh stream starts as if
``L`` silent frames at the first frame's ``f0`` came first: its output equals
``additive_synth([L silent frames] + frames, noise_phase=the table's phases)`` sample for sample (the harmonic part
everywhere, the noise from sample ``n_fft / 2`` on: before it ``torch.istft`` renormalises the signal's edge,
the stream fades in). ``tests/test_streaming.py`` checks that equality.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..dsp.harmonic import (
    harmonic_segments,
    irfft_basis,
    noise_magnitudes,
    noise_phase_table,
    noise_phases,
    noise_scale,
    ola_envelope,
    partial_range,
)
from ..dsp.transforms import SpecConfig


class StreamError(ValueError):
    """Settings the streaming synthesizer cannot run (a hop that does not divide half the FFT size)."""


def lookahead(spec: SpecConfig) -> int:
    """``L``: frames of latency of the stream (``n_fft / (2 hop)``); raises :class:`StreamError` unless whole."""
    if spec.n_fft % (2 * spec.hop_length):
        raise StreamError(f"spec: the streaming synthesizer needs hop_length ({spec.hop_length}) to divide "
                          f"n_fft / 2 ({spec.n_fft // 2})")
    return spec.n_fft // (2 * spec.hop_length)


class SynthCore(nn.Module):
    """One block of the stream as a pure function (see module doc).

    ``forward(f0 [B, T] Hz, amps [B, T, K], noise [B, T, N] band levels, hist_f0 [B, L], hist_amps [B, L, K],
    tail [B, n_fft - hop], phase [B] float64 cycles, frame [1] int64)`` -> ``(audio [B, T * hop], hist_f0,
    hist_amps, tail, phase, frame)``, the state after the block.


    ``graph=True`` (the ONNX graph) keeps every shape independent of the data: all ``K`` partials with the
    Nyquist mask, and the inverse DFT as a matrix product; ``graph=False`` (TorchScript, Python) computes only the
    partials below Nyquist in the block (as ``additive_synth``) and uses ``torch.fft.irfft``. Same maths, same
    result up to float rounding.
    """

    def __init__(self, spec: SpecConfig, n_harmonics: int, noise_bands: int, graph: bool = False):
        super().__init__()
        self.graph = graph
        self.lookback = lookahead(spec)
        self.hop, self.n_fft = spec.hop_length, spec.n_fft
        self.m = spec.n_fft // spec.hop_length  # frames that overlap a segment
        self.sample_rate = float(spec.sample_rate)
        self.n_harmonics, self.noise_bands = n_harmonics, noise_bands
        n_bins = spec.n_fft // 2 + 1
        bands = noise_magnitudes(torch.eye(noise_bands, dtype=torch.float64), n_bins) * noise_scale(spec) \
            if noise_bands else torch.zeros(0, n_bins, dtype=torch.float64)
        self.register_buffer("band_to_bin", bands.float())  # [N, F]: noise_magnitudes * noise_scale, linear
        self.register_buffer("basis", irfft_basis(spec.n_fft).float() if graph else torch.zeros(0, spec.n_fft))
        self.register_buffer("window", torch.hann_window(spec.n_fft))
        a, b = noise_phase_table(n_bins)
        self.register_buffer("table_a", a)
        self.register_buffer("table_b", b)
        self.register_buffer("ola_norm", ola_envelope(spec).float())  # [hop]

    def initial_state(self, f0: Tensor) -> list[Tensor]:
        """The state of a fresh stream whose first frame has fundamental ``f0 [B]``: ``[hist_f0, hist_amps,
        tail, phase, frame]``."""
        b = f0.shape[0]
        return [f0[:, None].expand(b, self.lookback).contiguous().float(),
                torch.zeros(b, self.lookback, self.n_harmonics),
                torch.zeros(b, self.n_fft - self.hop),
                torch.zeros(b, dtype=torch.float64),
                torch.zeros(1, dtype=torch.long)]

    def forward(self, f0: Tensor, amps: Tensor, noise: Tensor, hist_f0: Tensor, hist_amps: Tensor, tail: Tensor,
                phase: Tensor, frame: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        b, t = f0.shape[0], f0.shape[1]
        hop, m = self.hop, self.m
        fx = torch.cat([hist_f0, f0], 1)  # [B, L + T]: frames t0 - L .. t0 + T - 1
        ax = torch.cat([hist_amps, amps], 1)
        if self.graph:
            y, phase = harmonic_segments(fx[:, :t], fx[:, 1:t + 1], ax[:, :t], ax[:, 1:t + 1], phase,
                                         self.sample_rate, hop)
        else:
            top, low = partial_range(fx[:, :t], fx[:, 1:t + 1], self.sample_rate, self.n_harmonics, dim=-1)
            kmax, kmin = int(top.max()), int(low.min())
            kk = max(kmax, 1)
            y, phase = harmonic_segments(fx[:, :t], fx[:, 1:t + 1], ax[:, :t, :kk], ax[:, 1:t + 1, :kk], phase,
                                         self.sample_rate, hop, kmin < kmax or kmax == 0)
        # noise: one windowed grain per new frame, overlap-added onto the tail
        env = torch.matmul(noise, self.band_to_bin)  # [B, T, F]
        idx = frame + torch.arange(t, dtype=torch.long, device=f0.device)
        ang = noise_phases(self.table_a, self.table_b, idx) * (2 * math.pi)  # [T, F]
        if self.graph:
            grains = torch.matmul(torch.cat([env * torch.cos(ang), env * torch.sin(ang)], -1), self.basis)
        else:
            spec = torch.complex(env * torch.cos(ang), env * torch.sin(ang))
            grains = torch.fft.irfft(spec, self.n_fft) * self.window
        g = grains.reshape(b, t, m, hop)
        acc = nn.functional.pad(tail.reshape(b, m - 1, hop), (0, 0, 0, t))  # [B, T + M - 1, hop]
        for i in range(m):
            acc = acc + nn.functional.pad(g[:, :, i], (0, 0, i, m - 1 - i))
        out = y + (acc[:, :t] / self.ola_norm).reshape(b, t * hop)
        return (out, fx[:, t:], ax[:, t:], acc[:, t:].reshape(b, (m - 1) * hop), phase,
                frame + t)


class StreamingSynth(nn.Module):
    """:class:`SynthCore` with its state kept in buffers: ``forward(f0 [B, T], amps [B, T, K], noise [B, T, N])
    -> audio [B, T * hop]``, continuing the previous call's signal. A call with another batch size (or after
    :meth:`reset`) starts a fresh stream. ``core``: share the (stateless) tables of another stream's core."""

    def __init__(self, spec: SpecConfig, n_harmonics: int, noise_bands: int, core: SynthCore | None = None):
        super().__init__()
        self.core = SynthCore(spec, n_harmonics, noise_bands) if core is None else core
        self.register_buffer("hist_f0", torch.zeros(0, self.core.lookback), persistent=False)
        self.register_buffer("hist_amps", torch.zeros(0, self.core.lookback, n_harmonics), persistent=False)
        self.register_buffer("tail", torch.zeros(0, spec.n_fft - spec.hop_length), persistent=False)
        self.register_buffer("phase", torch.zeros(0, dtype=torch.float64), persistent=False)
        self.register_buffer("frame", torch.zeros(1, dtype=torch.long), persistent=False)

    @torch.jit.export
    def reset(self) -> None:
        """Forget the stream: the next call starts a fresh one."""
        self.phase = torch.zeros(0, dtype=torch.float64)

    def forward(self, f0: Tensor, amps: Tensor, noise: Tensor) -> Tensor:
        b = f0.shape[0]
        if self.phase.shape[0] != b:
            fresh = self.core.initial_state(f0[:, 0])
            self.hist_f0, self.hist_amps, self.tail = fresh[0], fresh[1], fresh[2]
            self.phase, self.frame = fresh[3], fresh[4]
        y, self.hist_f0, self.hist_amps, self.tail, self.phase, self.frame = self.core(
            f0, amps, noise, self.hist_f0, self.hist_amps, self.tail, self.phase, self.frame)
        return y


__all__ = ["StreamError", "StreamingSynth", "SynthCore", "lookahead"]
