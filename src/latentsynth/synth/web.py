"""Web export of a harmonic model's decoder: the weights as one compact binary and a JSON manifest, what the
instrument's AudioWorklet (``serve/static/synth-core.js``) needs to run the decoder MLP and the
harmonic-plus-noise synthesizer in the page with no server.

Files (:func:`write_web_model`)::

    weights.bin   float32 little-endian, the tensors one after another (row-major, offsets in the manifest)
    web.json      manifest: the host manifest of :func:`latentsynth.synth.export.host_manifest` (labels, spec,
                  normalisation, harmonic synth constants; the same facts as ``export.json``) plus
                  ``decoder`` (layers, shapes, activations, offsets), ``label_codec`` (labels -> the decoder's
                  conditioning vector) and ``synth`` (sample rate, hop, n_fft, partials, noise bands, noise
                  scale, fade).

The decoder (:class:`latentsynth.models.harmonic.HarmonicDecoder`): ``h = [z, e]``; per trunk layer
``h = leaky_relu(W h + b, 0.1)``; ``amps = exp_sigmoid(W_a h + b_a, AMP_MAX)`` as ``[W, K]`` and
``noise = exp_sigmoid(W_n h + b_n, NOISE_MAX)`` as ``[W, N]`` (``W`` frames per point), ``f0 = midi_to_hz(pitch)``.
The synthesizer is :func:`latentsynth.dsp.harmonic.additive_synth` (docs/instrument.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..dsp.harmonic import noise_scale
from ..folders import atomic_write_bytes, write_json
from ..models.autoencoder import AutoEncoder
from ..models.conditioning import LABELS
from ..models.harmonic import HarmonicDecoder
from .engine import FADE_SECONDS, PITCH_MARGIN
from .export import ExportError, host_manifest

WEB_FORMAT = 1
WEIGHTS = "weights.bin"
WEB_MANIFEST = "web.json"


def label_codec(model: AutoEncoder) -> list[dict[str, Any]]:
    """The decoder's conditioning as parts, in order: ``{"label", "column", "kind": "onehot", "size"}`` (the label
    column rounded half to even, one-hot over ``size``; outside gives zeros) or ``{"kind": "continuous",
    "offset", "scale"}`` (``(pitch - offset) / scale``), as :class:`~latentsynth.models.conditioning.Conditioning`."""
    cond = model.dec_conditioning
    if cond is None:
        return []
    parts: list[dict[str, Any]] = []
    for key in cond.labels:
        col = LABELS.index(key)
        if key == "pitch":
            if cond.pitch != "continuous":
                parts.append({"label": key, "column": col, "kind": "onehot", "size": 128})
            if cond.pitch != "onehot":
                parts.append({"label": key, "column": col, "kind": "continuous", "offset": 60.0, "scale": 24.0})
        else:
            parts.append({"label": key, "column": col, "kind": "onehot", "size": cond.sizes[key]})
    return parts


def web_model(model: AutoEncoder) -> tuple[dict[str, Any], bytes]:
    """A harmonic model's web manifest and weights (see module doc). :class:`ExportError` for other models."""
    if not model.harmonic or not isinstance(model.decoder, HarmonicDecoder) or model.audio is None:
        raise ExportError(f"{model.cfg.name}: only harmonic models (model.network.kind=harmonic) run in the page; "
                          "other models keep server rendering")
    dec = model.decoder
    blobs: list[np.ndarray] = []
    offset = 0

    def put(t: torch.Tensor) -> int:
        nonlocal offset
        a = t.detach().cpu().float().numpy().astype("<f4").ravel()
        blobs.append(a)
        start, offset = offset, offset + a.size
        return start

    layers = []
    linears = [m for m in dec.trunk if isinstance(m, nn.Linear)]
    for i, lin in enumerate(linears):
        layers.append({"name": f"trunk.{i}", "in": lin.in_features, "out": lin.out_features,
                       "weight": put(lin.weight), "bias": put(lin.bias), "activation": "leaky_relu",
                       "slope": 0.1})
    heads = {}
    for name, lin, top in (("amps", dec.amps, dec.AMP_MAX), ("noise", dec.noise, dec.NOISE_MAX)):
        heads[name] = {"in": lin.in_features, "out": lin.out_features, "weight": put(lin.weight),
                       "bias": put(lin.bias), "activation": "exp_sigmoid", "max_value": top, "exponent": math.log(10.0),
                       "threshold": 1e-7}
    spec = model.audio.spec
    codec = label_codec(model)
    e_dim = sum(p["size"] if p["kind"] == "onehot" else 1 for p in codec)
    man = host_manifest(model)
    lo, hi = model.audio.pitch_range
    man.update({
        "web_format": WEB_FORMAT,
        "weights": {"file": WEIGHTS, "dtype": "float32", "byteorder": "little", "count": offset,
                    "layout": "row-major [out, in] weights, then [out] biases"},
        "decoder": {"latent_dim": model.latent_dim, "cond_dim": e_dim, "input": "concat(z, e)", "layers": layers,
                    "heads": heads, "frames": dec.window, "n_harmonics": dec.k, "noise_bands": dec.n},
        "label_codec": codec,
        "synth": {"sample_rate": spec.sample_rate, "hop": spec.hop_length, "n_fft": spec.n_fft,
                  "n_harmonics": dec.k, "noise_bands": dec.n, "noise_scale": noise_scale(spec),
                  "fade_seconds": FADE_SECONDS, "frames_per_point": dec.window,
                  "pitch_range": [lo - PITCH_MARGIN, hi + PITCH_MARGIN], "f0": "440 * 2 ** ((pitch - 69) / 12)",
                  "python": "latentsynth.dsp.harmonic.additive_synth"},
    })
    return man, np.concatenate(blobs).tobytes()


def write_web_model(model: AutoEncoder, out: str | Path) -> dict[str, Path]:
    """Write ``weights.bin`` and ``web.json`` into ``out`` (atomically); returns ``{file name: path}``."""
    man, weights = web_model(model)
    out = Path(out)
    atomic_write_bytes(out / WEIGHTS, weights)
    write_json(out / WEB_MANIFEST, man)
    return {WEIGHTS: out / WEIGHTS, WEB_MANIFEST: out / WEB_MANIFEST}


__all__ = ["WEB_MANIFEST", "WEIGHTS", "label_codec", "web_model", "write_web_model"]
