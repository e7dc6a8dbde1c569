"""A harmonic model as one TorchScript file that nn~ (acids-ircam/nn_tilde, Max/MSP and PureData) loads and plays.

nn~'s contract, as its loader (``src/backend/backend.cpp``) and its Python helper (``python_tools/module.py``)
define it:

* ``get_methods() -> List[str]``; per method a buffer ``<method>_params = [in_channels, in_ratio, out_channels,
  out_ratio]`` and the lists ``<method>_input_labels`` / ``<method>_output_labels`` (the inlets' and outlets' names);
* a method takes one tensor ``[batch, in_channels, n / in_ratio]`` and returns ``[batch, out_channels,
  n / out_ratio]`` (float32) for a host buffer of ``n`` samples. nn~ makes the input by taking the *last sample of
  every ``in_ratio`` block* of each inlet's signal, and repeats each output value ``out_ratio`` times;
* ``get_attributes() -> List[str]``; per attribute a buffer ``<name>_params`` of type codes (0 bool, 1 int,
  2 float, 3 str) and the methods ``get_<name>()`` (a tuple of values) and ``set_<name>(values...) -> int``;
* registration tests every method with a buffer of 8192 zeros, batch 1 and 4 (:func:`self_test` repeats it).

Methods (``hop`` = the model's hop, ``d`` = its latent size):

* ``decode``: ``[z_1..z_d, pitch (MIDI), <label indices the model is conditioned on, in the order instrument,
  dynamics, style>, velocity (0..1, a gain on the partials and the noise)]`` at ratio ``hop`` -> audio at ratio 1;
* ``encode``: audio at ratio 1 -> ``[z_1..z_d, pitch]`` at ratio ``hop`` (pitch tracked by a harmonic sum over
  the model's pitch range, plus the encoder's detune; labels from the attributes);
* ``forward``: audio -> audio (encode, then decode at the tracked pitch, velocity 1).

Attributes: ``gain`` (float, on the output), ``latent_offset`` (float, added to every latent input),
``temperature`` (float, scales the latent: ``z' = temperature * z + latent_offset``), and for label models
``instrument`` / ``dynamics`` / ``style`` (int, the labels ``encode`` and ``forward`` use).

The synthesizer is :class:`~latentsynth.synth.streaming.StreamingSynth` (one per method, its state carried from
call to call: buffers join without clicks); the decoder and encoder networks are traced (``torch.jit.trace``)
and the module around them is scripted (``torch.jit.script``).
"""

from __future__ import annotations

import io
from pathlib import Path

import torch
from torch import Tensor, nn

from ..folders import atomic_write_bytes
from ..models.autoencoder import AutoEncoder
from ..models.conditioning import LABELS, NAMED
from .export import HarmonicParams, frozen_copy
from .streaming import StreamingSynth, lookahead

TEST_BUFFER = 8192  # nn~'s registration test: a buffer of zeros of this many samples, batch 1 and 4
TYPE_CODES = {"bool": 0, "int": 1, "float": 2, "str": 3}  # nn~'s attribute type codes (python_tools TYPE_HASH)
PITCH_STEP = 0.1  # semitones between the pitch tracker's candidates
PITCH_PARTIALS = 8  # partials of the tracker's harmonic sum
SILENCE_DB = -60.0  # frames whose loudest bin is below this keep the previous tracked pitch


class NnTildeError(ValueError):
    """A model nn~ export cannot serve (not a harmonic frame model, frames of more than one STFT frame)."""


class _Encoder(nn.Module):
    """Traced: ``x [n, 1, F] normalised dB, c [n, 4] -> z [n, d], detune [n]`` (0 without a detune head)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, c: Tensor):
        enc = self.model.encode(x, c, sample=False)
        return enc.z, (enc.detune if enc.detune is not None else enc.z[:, 0] * 0.0)


class Analysis(nn.Module):
    """Streaming analysis of ``encode``: audio ``[B, T * hop]`` -> normalised dB frames ``[B, T, F]`` (the
    model's representation, as ``dsp.transforms.magnitude`` + ``compress`` + the model's normalisation; frame ``t``
    is centred ``n_fft / 2 - hop`` samples before the end of its hop) and a tracked pitch ``[B, T]`` (MIDI)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        spec, audio = model.audio.spec, model.audio
        self.n_fft, self.hop, self.top_db = spec.n_fft, spec.hop_length, float(spec.top_db)
        self.register_buffer("window", torch.hann_window(spec.n_fft))
        n_stft = spec.n_fft // 2 + 1
        if spec.representation == "mel":
            from ..dsp.transforms import mel_basis

            proj = torch.as_tensor(mel_basis(spec)).T.contiguous()
        else:
            proj = torch.eye(n_stft)
        self.register_buffer("proj", proj)  # [n_stft, F]
        self.register_buffer("offset", model.db.offset.detach().clone())
        self.register_buffer("gain", model.db.gain.detach().clone())
        lo, hi = audio.pitch_range
        cand = torch.arange(max(lo - 12, 0) * 1.0, min(hi + 12, 127) + 1e-6, PITCH_STEP, dtype=torch.float64)
        f = 440.0 * 2.0 ** ((cand - 69.0) / 12.0)
        k = torch.arange(1, PITCH_PARTIALS + 1, dtype=torch.float64)
        pos = torch.cat([f[:, None] * k, f[:, None] * (k - 0.5)], 1) * spec.n_fft / spec.sample_rate  # [C, 2H]
        pos = pos.clamp(0, n_stft - 1.001)
        self.register_buffer("cand", cand.float())
        self.register_buffer("i0", pos.floor().long().flatten())
        self.register_buffer("w", (pos - pos.floor()).float().flatten())
        sign = torch.cat([torch.ones(PITCH_PARTIALS), -torch.ones(PITCH_PARTIALS)]) / torch.cat([k, k]).float()
        self.register_buffer("weights", sign)  # [2H]: + at the partials, - halfway between them, 1/k
        self.n_cand = len(cand)
        self.silence_db = SILENCE_DB
        self.register_buffer("prev", torch.zeros(0, spec.n_fft - spec.hop_length), persistent=False)
        self.register_buffer("pitch", torch.zeros(0), persistent=False)

    def reset(self) -> None:
        """Start the stream afresh (the next call sizes the carried samples and pitch to its batch)."""
        self.prev = torch.zeros(0, self.n_fft - self.hop)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        b = x.shape[0]
        if self.prev.shape[0] != b:
            self.prev = torch.zeros(b, self.n_fft - self.hop, dtype=x.dtype)
            self.pitch = torch.full([b], 60.0)
        buf = torch.cat([self.prev, x], 1)
        self.prev = buf[:, buf.shape[1] - (self.n_fft - self.hop):]
        frames = buf.unfold(1, self.n_fft, self.hop)  # [B, T, n_fft]
        mag = torch.abs(torch.fft.rfft(frames * self.window))  # [B, T, n_stft], librosa.stft units
        rep = torch.matmul(mag, self.proj)
        db = torch.clamp(20.0 * torch.log10(torch.clamp(rep, min=1e-10)), min=-self.top_db)
        norm = (db - self.offset) / self.gain
        # pitch: the candidate whose partials are strong and whose in-between points are weak
        root = torch.sqrt(mag)
        t = mag.shape[1]
        g0 = root[:, :, self.i0]
        g1 = root[:, :, self.i0 + 1]
        vals = (g0 + (g1 - g0) * self.w).reshape(b, t, self.n_cand, -1)
        score = (vals * self.weights).sum(-1)  # [B, T, C]
        best = self.cand[score.argmax(-1)]  # [B, T]
        loud = 20.0 * torch.log10(mag.amax(-1).clamp(min=1e-10) / (self.n_fft / 4)) > self.silence_db
        pitch = torch.empty_like(best)
        last = self.pitch
        for i in range(t):
            last = torch.where(loud[:, i], best[:, i], last)
            pitch[:, i] = last
        self.pitch = last
        return norm, pitch


class NnTilde(nn.Module):
    """The scripted nn~ module of a harmonic model (see module doc)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        m = model
        spec = m.audio.spec
        self.hop = spec.hop_length
        self.latent_dim = m.latent_dim
        self.k, self.n = m.decoder.k, m.decoder.n
        used = list(m.conditioning.labels) if m.conditioning is not None else []
        self.label_cols = [LABELS.index(k) for k in NAMED if k in used]
        vocab = m.audio.vocab
        self.label_max = [float(max(len(vocab.get(k) or [""]), 1) - 1) for k in NAMED if k in used]
        names = [k for k in NAMED if k in used]
        g = torch.Generator().manual_seed(0)
        z_ex = torch.randn(2, m.latent_dim, generator=g)
        c_ex = torch.tensor([[60.0] + [0.0] * (len(LABELS) - 1)] * 2)
        x_ex = torch.rand(2, 1, spec.n_bins, generator=g)
        with torch.no_grad(), _quiet():
            self.params = torch.jit.trace(HarmonicParams(m), (z_ex, c_ex), check_trace=False)
            self.encoder = torch.jit.trace(_Encoder(m), (x_ex, c_ex), check_trace=False)
        self.dec_synth = StreamingSynth(spec, self.k, self.n)
        self.fwd_synth = StreamingSynth(spec, self.k, self.n, core=self.dec_synth.core)
        self.enc_analysis = Analysis(m)
        self.fwd_analysis = Analysis(m)

        d, h = m.latent_dim, self.hop
        dec_in = [f"(signal) latent {i + 1}" for i in range(d)] + ["(signal) pitch, MIDI"] + \
            [f"(signal) {k} index" for k in names] + ["(signal) velocity 0..1"]
        self.register_buffer("decode_params", torch.tensor([len(dec_in), h, 1, 1]))
        self.decode_input_labels = dec_in
        self.decode_output_labels = ["(signal) audio"]
        self.register_buffer("encode_params", torch.tensor([1, 1, d + 1, h]))
        self.encode_input_labels = ["(signal) audio"]
        self.encode_output_labels = [f"(signal) latent {i + 1}" for i in range(d)] + ["(signal) pitch, MIDI"]
        self.register_buffer("forward_params", torch.tensor([1, 1, 1, 1]))
        self.forward_input_labels = ["(signal) audio"]
        self.forward_output_labels = ["(signal) audio"]
        self.n_in = len(dec_in)
        self.n_columns = len(LABELS)
        self._methods = ["decode", "encode", "forward"]

        self.gain = (1.0,)
        self.latent_offset = (0.0,)
        self.temperature = (1.0,)
        self.instrument = (0,)
        self.dynamics = (0,)
        self.style = (0,)
        attrs = {"gain": "float", "latent_offset": "float", "temperature": "float"}
        attrs.update({k: "int" for k in names})
        for name, kind in attrs.items():
            self.register_buffer(f"{name}_params", torch.tensor([TYPE_CODES[kind]]))
        self._attributes = list(attrs)
        self.sample_rate = spec.sample_rate

    # ------------------------------------------------------------------------------------------ nn~ API

    @torch.jit.export
    def get_methods(self) -> list[str]:
        return self._methods

    @torch.jit.export
    def get_attributes(self) -> list[str]:
        return self._attributes

    @torch.jit.export
    def get_gain(self) -> tuple[float]:
        return self.gain

    @torch.jit.export
    def set_gain(self, gain: float) -> int:
        self.gain = (gain,)
        return 0

    @torch.jit.export
    def get_latent_offset(self) -> tuple[float]:
        return self.latent_offset

    @torch.jit.export
    def set_latent_offset(self, latent_offset: float) -> int:
        self.latent_offset = (latent_offset,)
        return 0

    @torch.jit.export
    def get_temperature(self) -> tuple[float]:
        return self.temperature

    @torch.jit.export
    def set_temperature(self, temperature: float) -> int:
        self.temperature = (temperature,)
        return 0

    @torch.jit.export
    def get_instrument(self) -> tuple[int]:
        return self.instrument

    @torch.jit.export
    def set_instrument(self, instrument: int) -> int:
        self.instrument = (instrument,)
        return 0

    @torch.jit.export
    def get_dynamics(self) -> tuple[int]:
        return self.dynamics

    @torch.jit.export
    def set_dynamics(self, dynamics: int) -> int:
        self.dynamics = (dynamics,)
        return 0

    @torch.jit.export
    def get_style(self) -> tuple[int]:
        return self.style

    @torch.jit.export
    def set_style(self, style: int) -> int:
        self.style = (style,)
        return 0

    @torch.jit.export
    def reset(self) -> None:
        """Start every method's stream afresh."""
        self.dec_synth.reset()
        self.fwd_synth.reset()
        self.enc_analysis.reset()
        self.fwd_analysis.reset()

    # ------------------------------------------------------------------------------------------ methods

    def _play(self, fwd: bool, z: Tensor, pitch: Tensor, labels: Tensor, velocity: Tensor) -> Tensor:
        """``z [B, T, d]``, pitch ``[B, T]``, label indices ``[B, T, n_labels]``, velocity ``[B, T]`` -> audio
        ``[B, 1, T * W * hop]``."""
        b, t = pitch.shape[0], pitch.shape[1]
        z = z * self.temperature[0] + self.latent_offset[0]
        c = torch.zeros(b * t, self.n_columns)
        c[:, 0] = pitch.reshape(-1)
        for i, col in enumerate(self.label_cols):
            c[:, col] = torch.clamp(torch.round(labels[:, :, i].reshape(-1)), 0.0, self.label_max[i])
        f0, amps, noise = self.params(z.reshape(b * t, self.latent_dim), c)
        w = f0.shape[1]
        vel = torch.clamp(velocity, min=0.0).reshape(b * t, 1)
        amps = (amps * vel[:, :, None]).reshape(b, t * w, self.k)
        noise = (noise * vel[:, :, None]).reshape(b, t * w, self.n)
        if fwd:
            y = self.fwd_synth(f0.reshape(b, t * w), amps, noise)
        else:
            y = self.dec_synth(f0.reshape(b, t * w), amps, noise)
        y = y * self.gain[0]
        return y[:, None, :]

    @torch.jit.export
    def decode(self, x: Tensor) -> Tensor:
        """``[B, d + 1 + n_labels + 1, T]`` controls (see module doc) -> audio ``[B, 1, T * hop]``."""
        d = self.latent_dim
        x = x.float()
        z = x[:, :d].transpose(1, 2)
        labels = x[:, d + 1:d + 1 + len(self.label_cols)].transpose(1, 2)
        return self._play(False, z, x[:, d], labels, x[:, self.n_in - 1])

    def _attribute_labels(self) -> list[float]:
        """The label attributes (``instrument``, ``dynamics``, ``style``) of the model's label columns, in
        ``label_cols`` order, clamped to the model's vocabulary."""
        values = [float(self.instrument[0]), float(self.dynamics[0]), float(self.style[0])]
        out: list[float] = []
        for i, col in enumerate(self.label_cols):
            out.append(min(max(values[col - 1], 0.0), self.label_max[i]))
        return out

    def _analyse(self, fwd: bool, x: Tensor) -> tuple[Tensor, Tensor]:
        """Audio ``[B, 1, T * hop]`` -> codes ``[B, T, d]`` and pitch ``[B, T]`` (tracked + detune)."""
        if fwd:
            frames, pitch = self.fwd_analysis(x[:, 0].float())
        else:
            frames, pitch = self.enc_analysis(x[:, 0].float())
        b, t = pitch.shape[0], pitch.shape[1]
        c = torch.zeros(b * t, self.n_columns)
        c[:, 0] = pitch.reshape(-1)
        for i, v in enumerate(self._attribute_labels()):
            c[:, self.label_cols[i]] = v
        z, detune = self.encoder(frames.reshape(b * t, 1, frames.shape[-1]), c)
        return z.reshape(b, t, self.latent_dim), pitch + detune.reshape(b, t)

    @torch.jit.export
    def encode(self, x: Tensor) -> Tensor:
        """Audio ``[B, 1, T * hop]`` -> ``[B, d + 1, T]``: the codes and the pitch (MIDI)."""
        z, pitch = self._analyse(False, x)
        return torch.cat([z, pitch[:, :, None]], 2).transpose(1, 2).contiguous()

    def forward(self, x: Tensor) -> Tensor:
        """Audio ``[B, 1, T * hop]`` -> audio ``[B, 1, T * hop]``: encode, then decode at the tracked pitch."""
        z, pitch = self._analyse(True, x)
        labels = torch.zeros(pitch.shape[0], pitch.shape[1], len(self.label_cols))
        for i, v in enumerate(self._attribute_labels()):
            labels[:, :, i] = v
        return self._play(True, z, pitch, labels, torch.ones_like(pitch))


# Typed as objects, not strings (this module postpones annotations): a pitch-only (timbre) model has no label
# columns, and TorchScript cannot infer the type of an empty list.
NnTilde.__annotations__.update(label_cols=list[int], label_max=list[float])


class _quiet:
    """Silence the tracer's warnings (shape checks that hold for every batch size)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def build(model: AutoEncoder) -> torch.jit.ScriptModule:
    """The scripted nn~ module of a harmonic frame model (a CPU copy in eval mode; the model is not changed).
    Raises :class:`NnTildeError` for a model it cannot serve."""
    if model.db is None or model.audio is None or not model.harmonic:
        raise NnTildeError(f"{model.cfg.name}: nn~ export plays a harmonic frame model "
                           "(model.network.kind=harmonic); this one has no synthesizer")
    if model.data_shape[0] != 1:
        raise NnTildeError(f"{model.cfg.name}: nn~ export needs one STFT frame per item, this model has "
                           f"{model.data_shape[0]}")
    if model.audio.spec.representation == "cqt":
        raise NnTildeError(f"{model.cfg.name}: nn~ export analyses stft or mel frames, not cqt")
    lookahead(model.audio.spec)  # the streaming synthesizer's condition on the hop
    m = frozen_copy(model)
    with _quiet():
        return torch.jit.script(NnTilde(m))


def self_test(module, buffer: int = TEST_BUFFER) -> None:
    """nn~'s registration test: every method on a buffer of zeros, batch 1 and 4, must return ``[batch,
    out_channels, buffer / out_ratio]`` float32 (finite). Raises :class:`NnTildeError` naming what failed."""
    for name in module.get_methods():
        cin, rin, cout, rout = (int(v) for v in getattr(module, f"{name}_params"))
        for b in (1, 4):
            y = getattr(module, name)(torch.zeros(b, cin, buffer // rin))
            want = (b, cout, buffer // rout)
            if tuple(y.shape) != want or y.dtype != torch.float32 or not bool(torch.isfinite(y).all()):
                raise NnTildeError(f"nn~ self-test: {name} returned {tuple(y.shape)} {y.dtype}, expected {want} "
                                   "float32, finite")
    module.reset()


def export_nn_tilde(model: AutoEncoder, path: str | Path) -> Path:
    """Write the nn~ module of ``model`` (see module doc) to ``path`` (a ``.ts`` file, atomically) after nn~'s
    self-test; returns the path."""
    module = build(model)
    self_test(module)
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def latency_samples(model: AutoEncoder) -> dict[str, int]:
    """Samples from a control (or input) to the sound it makes, per method."""
    spec = model.audio.spec
    syn = lookahead(spec) * spec.hop_length
    ana = spec.n_fft // 2 - spec.hop_length
    return {"decode": syn, "encode": max(ana, 0), "forward": syn + max(ana, 0)}


__all__ = ["NnTildeError", "build", "export_nn_tilde", "latency_samples", "self_test", "TEST_BUFFER",
           "TYPE_CODES"]

