"""The streaming harmonic-plus-noise synthesizer (synth.streaming) against the offline one (dsp.additive_synth):
the same maths, so block by block it must give the offline signal sample for sample."""

import numpy as np
import pytest
import torch

from latentsynth.dsp.harmonic import additive_synth, noise_phase_table, noise_phases
from latentsynth.dsp.transforms import SpecConfig
from latentsynth.synth.streaming import StreamError, StreamingSynth, SynthCore, lookahead

SPEC = SpecConfig()
K, N = 24, 16


def controls(b: int, t: int, seed: int = 0):
    """A glide with a vibrato, moving amplitudes (some partials crossing Nyquist) and moving noise bands."""
    g = torch.Generator().manual_seed(seed)
    tt = torch.linspace(0, 1, t)
    f0 = (300 + 500 * tt + 20 * torch.sin(tt * 40))[None].repeat(b, 1) * (1 + 0.1 * torch.arange(b))[:, None]
    amps = 0.2 * torch.rand(b, t, K, generator=g) / torch.arange(1, K + 1)
    noise = 0.3 * torch.rand(b, t, N, generator=g)
    return f0, amps, noise


def offline(f0, amps, noise):
    """additive_synth over the controls preceded by L silent frames at the first f0, with the stream's phases."""
    b, t = f0.shape
    lb = lookahead(SPEC)
    pf0 = torch.cat([f0[:, :1].expand(b, lb), f0], 1)
    pa = torch.cat([torch.zeros(b, lb, K), amps], 1)
    pn = torch.cat([torch.zeros(b, lb, N), noise], 1)
    ta, tb = noise_phase_table(SPEC.n_fft // 2 + 1)
    ph = torch.cat([torch.zeros(lb, ta.shape[1]), noise_phases(ta, tb, torch.arange(t))], 0)
    return additive_synth(pf0, pa, pn, SPEC, noise_phase=ph[None].expand(b, -1, -1))


@pytest.mark.parametrize(("block", "graph"), [(1, False), (3, True), (8, False), (32, True)])
def test_stream_equals_additive_synth(block, graph):
    b, t = 2, 64
    f0, amps, noise = controls(b, t)
    ref = offline(f0, amps, noise)  # [B, (t + L - 1) * hop]
    s = StreamingSynth(SPEC, K, N)
    s.core = SynthCore(SPEC, K, N, graph=graph)  # graph: the ONNX form (every partial, DFT as a matrix)
    out = torch.cat([s(f0[:, i:i + block], amps[:, i:i + block], noise[:, i:i + block])
                     for i in range(0, t, block)], 1)
    assert out.shape == (b, t * SPEC.hop_length)
    half = SPEC.n_fft // 2
    # harmonic part everywhere, noise past the edge that istft renormalises: one signal, sample for sample
    torch.testing.assert_close(out[:, half:ref.shape[1]], ref[:, half:out.shape[1]], atol=2e-5, rtol=0)
    assert float(ref.abs().max()) > 0.1


def test_stream_harmonic_only_from_the_first_sample_and_scripted():
    b, t = 1, 40
    f0, amps, _ = controls(b, t)
    noise = torch.zeros(b, t, N)
    ref = offline(f0, amps, noise)
    s = torch.jit.script(StreamingSynth(SPEC, K, N))
    out = torch.cat([s(f0[:, i:i + 5], amps[:, i:i + 5], noise[:, i:i + 5]) for i in range(0, t, 5)], 1)
    torch.testing.assert_close(out[:, :ref.shape[1]], ref[:, :out.shape[1]], atol=2e-5, rtol=0)
    s.reset()  # a fresh stream plays the same again
    again = torch.cat([s(f0[:, i:i + 8], amps[:, i:i + 8], noise[:, i:i + 8]) for i in range(0, t, 8)], 1)
    torch.testing.assert_close(again, out, atol=1e-5, rtol=0)


def test_core_is_a_pure_function_of_its_state():
    f0, amps, noise = controls(2, 20)
    core = SynthCore(SPEC, K, N)
    state = core.initial_state(f0[:, 0])
    y1, *s1 = core(f0[:, :10], amps[:, :10], noise[:, :10], *state)
    y2, *_ = core(f0[:, 10:], amps[:, 10:], noise[:, 10:], *s1)
    whole, *_ = core(f0, amps, noise, *state)
    torch.testing.assert_close(torch.cat([y1, y2], 1), whole, atol=1e-5, rtol=0)
    assert np.isfinite(whole.numpy()).all()


def test_hop_must_divide_half_the_fft():
    with pytest.raises(StreamError, match="hop_length"):
        SynthCore(SpecConfig(n_fft=1024, hop_length=384), K, N)
