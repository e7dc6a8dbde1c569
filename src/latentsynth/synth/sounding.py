"""A self-sounding ONNX graph of a harmonic model: decoder + harmonic-plus-noise synthesizer in one file, with the
stream's state as inputs and outputs, for hosts built on onnxruntime (plug-ins, games).

One call renders one block of ``T`` frames (any ``T >= 1``, any batch ``B``)::

    synth(z [B, T, d], c [B, T, 4], velocity [B, T],
          hist_f0 [B, L], hist_amps [B, L, K], tail [B, n_fft - hop], phase [B] float64, frame [1] int64)
      -> audio [B, T * hop], hist_f0, hist_amps, tail, phase, frame

``c`` are the model's labels per frame (columns pitch in MIDI, then the instrument, dynamics and style indices);
``velocity`` multiplies the partials and the noise. The host feeds each call's returned state to the next call;
a fresh stream starts from :func:`initial_state` (``hist_f0`` = the first frame's f0 in Hz, the rest zeros). The
synthesizer is :class:`~latentsynth.synth.streaming.SynthCore` (see its timing: ``L`` frames of latency).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..dsp.harmonic import midi_to_hz
from ..models.autoencoder import AutoEncoder
from ..models.conditioning import LABELS
from .streaming import SynthCore

FILE = "synth.onnx"
INPUTS = ["z", "c", "velocity", "hist_f0", "hist_amps", "tail", "phase", "frame"]
OUTPUTS = ["audio", "hist_f0_out", "hist_amps_out", "tail_out", "phase_out", "frame_out"]


class SoundingError(ValueError):
    """A model that the self-sounding graph cannot play."""


class Sounding(nn.Module):
    """Decoder + :class:`SynthCore` as one block function (see module doc)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        self.model = model
        self.core = SynthCore(model.audio.spec, model.decoder.k, model.decoder.n, graph=True)

    def forward(self, z: Tensor, c: Tensor, velocity: Tensor, hist_f0: Tensor, hist_amps: Tensor, tail: Tensor,
                phase: Tensor, frame: Tensor):
        b, t = z.shape[0], z.shape[1]
        f0, amps, noise = self.model.harmonic_params(z.reshape(b * t, z.shape[2]), c.reshape(b * t, c.shape[2]))
        w = f0.shape[1]
        vel = velocity.reshape(b * t, 1, 1)
        return self.core(f0.reshape(b, t * w), (amps * vel).reshape(b, t * w, amps.shape[-1]),
                         (noise * vel).reshape(b, t * w, noise.shape[-1]), hist_f0, hist_amps, tail, phase, frame)


def initial_state(model: AutoEncoder, pitch: Tensor) -> list[Tensor]:
    """A fresh stream's state for first-frame pitches ``[B]`` (MIDI): ``[hist_f0, hist_amps, tail, phase,
    frame]``."""
    core = SynthCore(model.audio.spec, model.decoder.k, model.decoder.n)
    return core.initial_state(midi_to_hz(torch.as_tensor(pitch, dtype=torch.float32)))


def export_sounding(model: AutoEncoder, out: str | Path) -> tuple[Path, dict[str, Any]]:
    """Write ``synth.onnx`` into the folder ``out`` (atomically); returns its path and the manifest entry that
    tells a host how to call it per block."""
    import logging
    import warnings

    from ..folders import atomic_write_bytes

    if model.db is None or model.audio is None or not model.harmonic:
        raise SoundingError(f"{model.cfg.name}: the self-sounding graph plays a harmonic frame model")
    m = copy.deepcopy(model).cpu().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    module = Sounding(m).eval()
    core = module.core
    b, t, d = 2, 3, m.latent_dim
    c = torch.zeros(b, t, len(LABELS))
    c[..., 0] = 60.0
    args = (torch.zeros(b, t, d), c, torch.ones(b, t), *initial_state(m, torch.full((b,), 60.0)))
    batch, frames = torch.export.Dim("batch", min=1), torch.export.Dim("frames", min=2)
    dyn = ({0: batch, 1: frames}, {0: batch, 1: frames}, {0: batch, 1: frames}, {0: batch}, {0: batch},
           {0: batch}, {0: batch}, None)
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamo=True, input_names=INPUTS, output_names=OUTPUTS,
                                        dynamic_shapes=dyn, verbose=False)
    finally:
        quiet.setLevel(level)
    out = Path(out)
    atomic_write_bytes(out / FILE, program.model_proto.SerializeToString())
    spec = m.audio.spec
    k, n, lb = m.decoder.k, m.decoder.n, core.lookback
    entry = {
        "file": FILE,
        "doc": "decoder + harmonic-plus-noise synthesizer, one block of T frames per call (any T >= 1, any B); feed "
               "each call's *_out state to the next call's inputs",
        "inputs": [
            {"name": "z", "shape": ["batch", "frames", d], "dtype": "float32", "doc": "latent codes per frame"},
            {"name": "c", "shape": ["batch", "frames", len(LABELS)], "dtype": "float32",
             "doc": f"labels per frame, columns {', '.join(LABELS)} (pitch MIDI float; others vocabulary indices)"},
            {"name": "velocity", "shape": ["batch", "frames"], "dtype": "float32",
             "doc": "gain on the partials and the noise (1 = as decoded)"},
            {"name": "hist_f0", "shape": ["batch", lb], "dtype": "float32",
             "doc": "state: the last frames' f0 in Hz; fresh stream: the first frame's f0 repeated"},
            {"name": "hist_amps", "shape": ["batch", lb, k], "dtype": "float32",
             "doc": "state: the last frames' partial amplitudes; fresh stream: zeros"},
            {"name": "tail", "shape": ["batch", spec.n_fft - spec.hop_length], "dtype": "float32",
             "doc": "state: the noise overlap-add tail; fresh stream: zeros"},
            {"name": "phase", "shape": ["batch"], "dtype": "float64",
             "doc": "state: the fundamental's phase in cycles; fresh stream: zeros"},
            {"name": "frame", "shape": [1], "dtype": "int64",
             "doc": "state: frames played so far (noise phases); fresh stream: 0"},
        ],
        "outputs": [{"name": "audio", "shape": ["batch", f"frames * {spec.hop_length}"], "dtype": "float32",
                     "doc": "the block's samples"}] + [
            {"name": o, "doc": f"the state {i} after the block"} for o, i in zip(OUTPUTS[1:], INPUTS[3:], strict=True)],
        "latency_samples": lb * spec.hop_length,
        "latency": f"frame t sounds centred at sample (t + {lb}) * {spec.hop_length} of the stream",
        "sample_rate": spec.sample_rate,
        "hop": spec.hop_length,
        "noise_bands": n,
        "n_harmonics": k,
        "python": "latentsynth.synth.sounding.Sounding (= latentsynth.dsp.harmonic.additive_synth, streamed)",
    }
    return out / FILE, entry


__all__ = ["FILE", "INPUTS", "OUTPUTS", "Sounding", "SoundingError", "export_sounding", "initial_state"]
