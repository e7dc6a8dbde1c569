"""The nn~ export played the way nn~ plays it (acids-ircam/nn_tilde src/backend/backend.cpp): controls decimated
to the last sample of every in_ratio block, host buffers of 2048/4096/8192 samples, batch 1 and 4. The truth is
the Python model: harmonic_params per frame through dsp.additive_synth in one offline render."""

from pathlib import Path

import numpy as np
import pytest
import torch

from latentsynth.dsp.harmonic import additive_synth, noise_phase_table, noise_phases
from latentsynth.folders import load
from latentsynth.models.conditioning import LABELS
from latentsynth.synth.nn_tilde import TYPE_CODES, export_nn_tilde, self_test
from latentsynth.synth.streaming import lookahead

MODEL = Path(__file__).resolve().parents[1] / "models" / "sol" / "harmonic-wae-mmd"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="reference model not in the checkout")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """The file written by `latentsynth synth export MODEL --nn-tilde`, loaded as nn~ loads it."""
    from typer.testing import CliRunner

    from latentsynth.cli import app

    model = load(MODEL)
    out = tmp_path_factory.mktemp("nn")
    res = CliRunner().invoke(app, ["synth", "export", str(MODEL), "--nn-tilde", "-o", str(out)])
    assert res.exit_code == 0, res.output
    path = out / f"{model.cfg.name}.ts"
    assert str(path) in res.output
    return model, torch.jit.load(str(path))


def test_a_model_without_synthesizer_is_refused_clearly(tmp_path):
    other = MODEL.parent / "ae-frame"
    if not other.exists():
        pytest.skip("no non-harmonic reference model")
    with pytest.raises(ValueError, match="harmonic"):
        export_nn_tilde(load(other), tmp_path / "x.ts")


def host_call(module, method: str, signals: np.ndarray, buffer: int) -> np.ndarray:
    """nn~'s perform loop: ``signals [B, C, n]`` audio-rate inlets -> outlets ``[B, C_out, n]``, one host buffer
    at a time, inputs decimated (last sample of every in_ratio block), outputs repeated out_ratio times."""
    cin, rin, cout, rout = (int(v) for v in getattr(module, f"{method}_params"))
    b, c, n = signals.shape
    assert c == cin
    outs = []
    for i in range(0, n, buffer):
        buf = torch.from_numpy(signals[:, :, i:i + buffer]).float()
        x = buf.permute(1, 0, 2).reshape(cin, b, -1, rin).select(-1, -1).permute(1, 0, 2)  # backend.cpp
        y = getattr(module, method)(x)
        outs.append(y.repeat_interleave(rout).reshape(b, cout, -1).numpy())
    return np.concatenate(outs, 2)


def control_signals(model, b: int, n: int, seed: int) -> np.ndarray:
    """Audio-rate inlets of decode: latent curves, pitch steps, label indices, a velocity swell."""
    rng = np.random.default_rng(seed)
    d, t = model.latent_dim, np.arange(n) / model.audio.spec.sample_rate
    out = []
    for _ in range(b):
        z = [rng.normal() + 0.8 * np.sin(2 * np.pi * rng.uniform(0.3, 2) * t + rng.uniform(0, 6)) for _ in range(d)]
        pitch = 55 + 7 * np.floor(t * 3 % 3) + rng.integers(0, 5)
        inst = np.floor(t * 2) % 3
        dyn = np.floor(t * 1.5) % 2
        vel = 0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t)
        out.append(np.stack([*z, pitch, inst, dyn, vel]))
    return np.stack(out).astype(np.float32)


def offline(model, signals: np.ndarray) -> np.ndarray:
    """The Python model's render of the same (decimated) controls: harmonic_params per frame, velocity on
    partials and noise, additive_synth over the frames preceded by the stream's L silent frames, with the
    stream's noise phases."""
    spec, d = model.audio.spec, model.latent_dim
    hop, lb = spec.hop_length, lookahead(spec)
    x = torch.from_numpy(signals[:, :, hop - 1::hop])  # [B, C, T]
    b, _, t = x.shape
    c = torch.zeros(b * t, len(LABELS))
    c[:, 0] = x[:, d].reshape(-1)
    c[:, 1] = x[:, d + 1].reshape(-1).round().clamp(0, 2)
    c[:, 2] = x[:, d + 2].reshape(-1).round().clamp(0, 1)
    with torch.no_grad():
        f0, amps, noise = model.harmonic_params(x[:, :d].transpose(1, 2).reshape(b * t, d), c)
    vel = x[:, -1].reshape(b * t, 1, 1)
    f0, amps, noise = f0.reshape(b, t), (amps * vel).reshape(b, t, -1), (noise * vel).reshape(b, t, -1)
    pf0 = torch.cat([f0[:, :1].expand(b, lb), f0], 1)
    pa = torch.cat([torch.zeros(b, lb, amps.shape[-1]), amps], 1)
    pn = torch.cat([torch.zeros(b, lb, noise.shape[-1]), noise], 1)
    ta, tb = noise_phase_table(spec.n_fft // 2 + 1)
    ph = torch.cat([torch.zeros(lb, ta.shape[1]), noise_phases(ta, tb, torch.arange(t))], 0)
    return additive_synth(pf0, pa, pn, spec, noise_phase=ph[None].expand(b, -1, -1)).numpy()


def test_contract_methods_params_labels_attributes(setup):
    model, mod = setup
    assert mod.get_methods() == ["decode", "encode", "forward"]
    hop, d = model.audio.spec.hop_length, model.latent_dim
    assert mod.decode_params.tolist() == [d + 4, hop, 1, 1]  # latent, pitch, instrument, dynamics, velocity
    assert mod.encode_params.tolist() == [1, 1, d + 1, hop]
    assert mod.forward_params.tolist() == [1, 1, 1, 1]
    assert len(mod.decode_input_labels) == d + 4 and mod.decode_input_labels[d] == "(signal) pitch, MIDI"
    assert len(mod.encode_output_labels) == d + 1 and mod.forward_output_labels == ["(signal) audio"]
    assert mod.get_attributes() == ["gain", "latent_offset", "temperature", "instrument", "dynamics"]
    assert mod.gain_params.tolist() == [TYPE_CODES["float"]] and mod.instrument_params.tolist() == [TYPE_CODES["int"]]
    assert mod.set_gain(0.5) == 0 and mod.get_gain() == (0.5,)
    mod.set_gain(1.0)
    self_test(mod)  # the 8192-zeros registration test, batch 1 and 4


@pytest.mark.parametrize("buffer", [2048, 4096, 8192])
def test_streamed_decode_equals_offline_render_and_joins_cleanly(setup, buffer):
    model, mod = setup
    n = 3 * 8192
    sig = control_signals(model, 1, n, seed=1)
    mod.reset()
    y = host_call(mod, "decode", sig, buffer)[:, 0]
    ref = offline(model, sig)
    half = model.audio.spec.n_fft // 2
    m = min(y.shape[1], ref.shape[1])
    peak = float(np.abs(ref).max())
    assert peak > 0.05
    # float tolerance: f0 = midi_to_hz(pitch) in float32 may differ by one ulp between batch lengths (vector and
    # scalar code paths), which drifts a high partial's phase by ~1e-3 rad per second (measured max 3.3e-4)
    np.testing.assert_allclose(y[:, half:m], ref[:, half:m], atol=1e-3, rtol=0)
    assert np.isfinite(y).all() and np.abs(y).max() < 4.0
    diff = np.abs(np.diff(y[0]))
    joins = np.arange(buffer, n, buffer)
    assert diff[joins - 1].max() <= diff.max()  # a join is no larger a step than the signal makes anyway
    assert diff[joins - 1].max() <= 3 * np.median(diff) + np.percentile(diff, 99)


def test_batch_of_four_equals_four_single_streams(setup):
    model, mod = setup
    n = 2 * 4096
    sig = control_signals(model, 4, n, seed=2)
    mod.reset()
    batch = host_call(mod, "decode", sig, 4096)
    for i in range(4):
        mod.reset()
        one = host_call(mod, "decode", sig[i:i + 1], 2048)
        np.testing.assert_allclose(batch[i], one[0], atol=1e-4, rtol=0)


def test_attributes_gain_and_latent_scale(setup):
    model, mod = setup
    sig = control_signals(model, 1, 8192, seed=3)
    mod.reset()
    base = host_call(mod, "decode", sig, 4096)
    mod.reset()
    mod.set_gain(0.5)
    half = host_call(mod, "decode", sig, 4096)
    mod.set_gain(1.0)
    np.testing.assert_allclose(half, 0.5 * base, atol=1e-5, rtol=0)
    mod.reset()
    mod.set_temperature(0.0)
    mod.set_latent_offset(0.0)
    flat = host_call(mod, "decode", sig, 4096)  # every latent curve pinned to the origin
    sig0 = sig.copy()
    sig0[:, :model.latent_dim] = 0
    mod.set_temperature(1.0)
    mod.reset()
    np.testing.assert_allclose(flat, host_call(mod, "decode", sig0, 4096), atol=1e-5, rtol=0)


def test_encode_tracks_the_pitch_and_forward_plays(setup):
    model, mod = setup
    from latentsynth.folders import CodeSample

    codes = CodeSample.load(MODEL)  # timbres of training notes (random codes can sound like noise)
    d = model.latent_dim
    sig = control_signals(model, 1, 4 * 4096, seed=4)
    sig[:, :d] = codes.codes[100].numpy()[None, :, None]
    sig[:, d:d + 3] = np.array([62.0, *codes.labels[100, 1:3].tolist()])[None, :, None]  # one held pitch
    sig[:, -1] = 1.0
    mod.reset()
    audio = host_call(mod, "decode", sig, 4096)  # [1, 1, n]
    enc = host_call(mod, "encode", audio, 4096)  # [1, d + 1, n] at ratio hop
    pitch = enc[0, -1, 8192:]  # past the onset
    assert np.median(np.abs(pitch - 62.0)) < 0.5
    out = host_call(mod, "forward", audio, 2048)
    assert out.shape == audio.shape and np.isfinite(out).all()
    assert np.abs(out[0, 0, 8192:]).max() > 0.01


TIMBRE = MODEL.parent / "timbre-wae-mmd"


@pytest.mark.skipif(not TIMBRE.exists(), reason="timbre reference model not in the checkout")
def test_a_pitch_only_timbre_model_exports_and_streams_as_the_offline_render(tmp_path):
    """A timbre model has no label inlets or attributes (the codes carry the timbre); it scripts (no empty
    untyped list) and its streamed decode equals the Python render of the same controls."""
    model = load(TIMBRE)
    assert list(model.conditioning.labels) == ["pitch"]
    mod = torch.jit.load(str(export_nn_tilde(model, tmp_path / "t.ts")))
    d = model.latent_dim
    assert mod.decode_params.tolist()[0] == d + 2  # latent, pitch, velocity: no label inlets
    assert mod.get_attributes() == ["gain", "latent_offset", "temperature"]
    self_test(mod)
    full = control_signals(model, 1, 2 * 8192, seed=3)
    sig = np.concatenate([full[:, :d + 1], full[:, -1:]], 1)  # drop the label inlets
    mod.reset()
    y = host_call(mod, "decode", sig, 4096)[:, 0]
    spec, hop = model.audio.spec, model.audio.spec.hop_length
    x = torch.from_numpy(sig[:, :, hop - 1::hop])  # [1, d + 2, T]
    t, lb = x.shape[-1], lookahead(spec)
    c = torch.zeros(t, len(LABELS))
    c[:, 0] = x[0, d]
    with torch.no_grad():
        f0, amps, noise = model.harmonic_params(x[0, :d].T, c)
    vel = x[0, -1].reshape(t, 1)
    f0 = f0.reshape(t)
    pf0 = torch.cat([f0[:1].expand(lb), f0])[None]
    pa = torch.cat([torch.zeros(lb, amps.shape[-1]), amps.reshape(t, -1) * vel])[None]
    pn = torch.cat([torch.zeros(lb, noise.shape[-1]), noise.reshape(t, -1) * vel])[None]
    ta, tb = noise_phase_table(spec.n_fft // 2 + 1)
    ph = torch.cat([torch.zeros(lb, ta.shape[1]), noise_phases(ta, tb, torch.arange(t))], 0)
    ref = additive_synth(pf0, pa, pn, spec, noise_phase=ph[None]).numpy()
    half, m = spec.n_fft // 2, min(y.shape[1], ref.shape[1])
    assert float(np.abs(ref).max()) > 0.05
    np.testing.assert_allclose(y[:, half:m], ref[:, half:m], atol=1e-3, rtol=0)
