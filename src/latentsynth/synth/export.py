"""Export a trained model for real-time hosts (a plug-in, a game engine, a web page): ONNX graphs and TorchScript
modules of its entry points, and a manifest ``export.json`` that tells a host everything else.

Entry points (float32, the batch dimension ``B`` is dynamic; ``[B, *shape]`` is the model's data shape, ``[B, W, F]``
for frame models: ``W`` frames of ``F`` bins)::

    encode(x [B, *shape], c [B, 4]) -> z [B, d]            posterior mean (no sampling)
                                        detune [B]           harmonic models with a detune estimate: semitones
    decode(z [B, d], c [B, 4])      -> frames [B, *shape]   data space: normalised dB for frame models
                                        magnitudes [B, W, F] frame models: linear magnitudes of the representation
    harmonic_params(z, c)           -> f0 [B, W] Hz, amps [B, W, K] sine amplitudes, noise [B, W, N] band levels
    render_magnitudes(f0, amps, noise) -> [B, W, n_fft // 2 + 1] linear STFT magnitudes (harmonic models)

``harmonic_params`` drives an additive synthesizer in the host (ours, :func:`~latentsynth.dsp.harmonic.additive_synth`,
stays in Python); ``render_magnitudes`` is :func:`~latentsynth.dsp.harmonic.render_magnitudes` of those parameters
(its one ``scatter_add`` exports as ONNX ``ScatterElements(reduction="add")``). Files: ``encoder``, ``decoder``,
``harmonic_params``, ``render_magnitudes`` with ``.onnx`` / ``.pt`` (TorchScript, ``torch.jit.load``); the manifest
maps each entry point to its files, inputs and outputs.

Labels ``c`` are the model's label tensor (columns :data:`~latentsynth.models.conditioning.LABELS`: MIDI pitch as a
float, then the instrument, dynamics and style indices in the manifest's vocabularies). An *unconditioned* model's
entry points have no ``c`` input (and an encoder that was not given the labels in training takes none either): the
manifest lists the inputs each file really has. The exported graphs do not check the labels: an index outside its
vocabulary gives an all-zero one-hot (the Python model raises :class:`~latentsynth.models.conditioning.LabelError`),
so a host must keep to the manifest's vocabularies. A harmonic model's ``encode`` also returns the note's detune:
like :meth:`AutoEncoder.detuned <latentsynth.models.AutoEncoder.detuned>`, a host adds it to the pitch column
before ``decode`` to reconstruct. The encoder takes normalised frames: ``x = (dB - offset) / gain`` with the
manifest's ``normalisation`` (``dB = 20 log10(magnitude)`` for ``compression: db``).

Image models export ``encode`` / ``decode`` (images ``[B, 1, 28, 28]`` in ``[0, 1]``) and no magnitudes.

ONNX is written by the ``torch.export`` based exporter (``torch.onnx.export(..., dynamo=True)``, needs ``onnxscript``);
the TorchScript modules by ``torch.jit.trace``. Both trace the same wrappers of the model's layers; two things of
the Python model cannot be traced with a free batch size and are replaced in the wrappers: the vocabulary check of
:class:`~latentsynth.models.conditioning.Conditioning` (a data-dependent ``if``), and the decoders' ``len(z)`` (a
Python int that a tracer freezes at the example's batch size).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..dsp.harmonic import render_magnitudes
from ..folders import atomic_write_bytes, write_json
from ..models.autoencoder import DETUNE_RANGE, AutoEncoder
from ..models.conditioning import LABELS, NAMED

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
FILES = {"encode": "encoder", "decode": "decoder", "harmonic_params": "harmonic_params",
         "render_magnitudes": "render_magnitudes"}  # entry point -> file stem
MANIFEST = "export.json"
MANIFEST_FORMAT = 1
EXAMPLE_BATCH = 2  # traced with two items (a batch of one could be specialised as a broadcast dimension)
PITCH = LABELS.index("pitch")


class ExportError(ValueError):
    """A model (or a request) this exporter cannot turn into host files."""


# ----------------------------------------------------------------------------------------- wrappers


class _Encode(nn.Module):
    """``encode(x, c) -> z`` (posterior mean; and the detune of a harmonic model)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor, c: Tensor | None = None):
        enc = self.model.encode(x, c, sample=False)
        return enc.z if enc.detune is None else (enc.z, enc.detune)


class _Decode(nn.Module):
    """``decode(z, c) -> frames`` (and their linear magnitudes)."""

    def __init__(self, model: AutoEncoder, magnitudes: bool):
        super().__init__()
        self.model, self.magnitudes = model, magnitudes

    def forward(self, z: Tensor, c: Tensor | None = None):
        m = self.model
        frames = m.likelihood.mean(m.decode(z, c))
        return (frames, m.db.to_magnitude(frames, m.audio.spec)) if self.magnitudes else frames


class HarmonicParams(nn.Module):
    """``harmonic_params(z, c) -> f0 [n, W], amps [n, W, K], noise [n, W, N]`` of a harmonic model, as a module to
    trace (the ONNX/TorchScript export and the nn~ module share it)."""

    def __init__(self, model: AutoEncoder):
        super().__init__()
        self.model = model

    def forward(self, z: Tensor, c: Tensor):
        return self.model.harmonic_params(z, c)


class _Render(nn.Module):
    def __init__(self, spec):
        super().__init__()
        self.spec = spec

    def forward(self, f0: Tensor, amps: Tensor, noise: Tensor):
        return render_magnitudes(f0, amps, noise, self.spec)


# ------------------------------------------------------------------------------------------ writers


def _write_onnx(path: Path, module: nn.Module, args: tuple[Tensor, ...], inputs: list[str],
                outputs: list[str]) -> dict[str, Any]:
    """ONNX file of ``module`` with a dynamic first dimension on every input (written atomically); returns the
    exporter facts for the manifest."""
    import logging
    import warnings

    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter is built on it)
    except ImportError as err:
        raise ExportError("formats: ONNX export needs onnx and onnxscript: pip install 'latentsynth[export]' "
                          "(or export formats=('torchscript',))") from err
    batch = torch.export.Dim("batch", min=1)
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" notes of the op registry
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, args, dynamo=True, input_names=inputs, output_names=outputs,
                                        dynamic_shapes=tuple({0: batch} for _ in args), verbose=False)
    finally:
        quiet.setLevel(level)
    proto = program.model_proto
    atomic_write_bytes(path, proto.SerializeToString())
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    return {"opset": opset, "ir_version": proto.ir_version}


def _write_torchscript(path: Path, module: nn.Module, args: tuple[Tensor, ...]) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape checks that hold for every batch size
        traced = torch.jit.trace(module, args, check_trace=False)
    buf = io.BytesIO()
    torch.jit.save(traced, buf)
    atomic_write_bytes(path, buf.getvalue())


def _io(name: str, shape: list[Any], doc: str) -> dict[str, Any]:
    return {"name": name, "shape": shape, "dtype": "float32", "doc": doc}


# ------------------------------------------------------------------------------------------ export


# entry point -> (module, example args, inputs, outputs, doc)
Entry = tuple[nn.Module, tuple[Tensor, ...], list[dict], list[dict], str]


def frozen_copy(model: AutoEncoder) -> AutoEncoder:
    """A CPU copy of ``model`` in eval mode with no gradients: what is traced (the model itself is not changed)."""
    m = copy.deepcopy(model).cpu().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _coding_entries(m: AutoEncoder) -> dict[str, Entry]:
    """The ``encode`` (``x [B, *shape]`` (+ ``c [B, L]``) -> ``z [B, d]`` (+ ``detune [B]``)) and ``decode``
    (``z`` (+ ``c``) -> ``frames [B, *shape]`` (+ linear ``magnitudes``)) entry points, with example args of
    :data:`EXAMPLE_BATCH` rows; a harmonic model adds :func:`_harmonic_entries`."""
    frames = m.db is not None
    labels = m.conditioning
    enc_labels = labels if m.cfg.model.conditioning.encoder or m.pitch_view is not None else None
    magnitudes = frames and m.audio is not None
    d, shape, b = m.latent_dim, list(m.data_shape), "batch"

    c_in = _io("c", [b, len(LABELS)], f"labels, columns {', '.join(LABELS)} (pitch: MIDI float; others: vocabulary "
                                      "indices as floats)")
    data_doc = "normalised dB frames" if frames else "images in [0, 1]" if m.cfg.likelihood.output == "sigmoid" \
        or m.cfg.likelihood.kind == "bernoulli" else "data"
    g = torch.Generator().manual_seed(0)
    c_ex = torch.tensor([[60.0] + [0.0] * (len(LABELS) - 1)] * EXAMPLE_BATCH)
    x_ex = torch.rand(EXAMPLE_BATCH, *shape, generator=g)
    z_ex = torch.randn(EXAMPLE_BATCH, d, generator=g)

    entries: dict[str, Entry] = {}
    enc_out = [_io("z", [b, d], "latent code: the posterior mean")]
    if m.has_detune:
        enc_out.append(_io("detune", [b], f"detune estimate in semitones (+-{DETUNE_RANGE}); add it to the pitch "
                                          "column of c before decode to reconstruct"))
    enc_in = [_io("x", [b, *shape], data_doc)] + ([c_in] if enc_labels is not None else [])
    entries["encode"] = (_Encode(m), (x_ex, c_ex)[:len(enc_in)], enc_in, enc_out,
                         "data (and labels) -> latent code")
    dec_needs_c = labels is not None
    dec_out = [_io("frames", [b, *shape], data_doc + " (the model's mean reconstruction)")]
    if magnitudes:
        dec_out.append(_io("magnitudes", [b, *shape], f"linear {m.audio.spec.representation} magnitudes of the "
                                                      "frames (no dB scale needed)"))
    dec_in = [_io("z", [b, d], "latent code")] + ([c_in] if dec_needs_c else [])
    entries["decode"] = (_Decode(m, magnitudes), (z_ex, c_ex)[:len(dec_in)], dec_in, dec_out,
                         "latent code (and labels) -> frames")
    if m.harmonic:
        entries.update(_harmonic_entries(m, dec_in, z_ex, c_ex))
    return entries


def _harmonic_entries(m: AutoEncoder, dec_in: list[dict], z_ex: Tensor, c_ex: Tensor) -> dict[str, Entry]:
    """A harmonic model's ``harmonic_params`` (``z [B, d]``, ``c [B, L]`` -> ``f0 [B, W]``, ``amps [B, W, K]``,
    ``noise [B, W, N]``) and ``render_magnitudes`` (those -> STFT magnitudes ``[B, W, n_fft // 2 + 1]``)."""
    b = "batch"
    w, k, n = m.decoder.window, m.decoder.k, m.decoder.n
    hp_out = [_io("f0", [b, w], "fundamental per frame in Hz (midi_to_hz of the pitch column)"),
              _io("amps", [b, w, k], "time-domain sine amplitudes of the partials k * f0, k = 1..K"),
              _io("noise", [b, w, n], "noise band levels (STFT magnitudes), bands linear over 0..Nyquist")]
    entries: dict[str, Entry] = {}
    entries["harmonic_params"] = (HarmonicParams(m), (z_ex, c_ex), dec_in, hp_out,
                                  "controls of a harmonic-plus-noise synthesizer")
    with torch.no_grad():
        f0_ex, amps_ex, noise_ex = m.harmonic_params(z_ex, c_ex)
    n_stft = m.audio.spec.n_fft // 2 + 1
    entries["render_magnitudes"] = (_Render(m.audio.spec), (f0_ex, amps_ex, noise_ex), hp_out,
                                    [_io("magnitudes", [b, w, n_stft], "linear STFT magnitudes (n_fft // 2 + 1 "
                                                                       "bins, whatever the representation)")],
                                    "harmonic_params -> the STFT magnitude frames such a tone has")
    return entries


def _write_entries(entries: dict[str, Entry], formats: tuple[str, ...], out: Path
                   ) -> tuple[dict[str, Path], dict[str, Any], dict[str, Any]]:
    """Trace every entry point into ``out`` in each format; returns the files written ``{name: path}``, the
    manifest's entries and the ONNX facts (opset, ...; empty without ONNX)."""
    written: dict[str, Path] = {}
    manifest_entries: dict[str, Any] = {}
    onnx_facts: dict[str, Any] = {}
    with torch.no_grad():
        for name, (module, args, inputs, outputs, doc) in entries.items():
            files = {}
            for fmt in formats:
                fname = FILES[name] + SUFFIX[fmt]
                path = out / fname
                if fmt == "onnx":
                    onnx_facts = _write_onnx(path, module, args, [i["name"] for i in inputs],
                                             [o["name"] for o in outputs])
                else:
                    _write_torchscript(path, module, args)
                files[fmt] = fname
                written[fname] = path
            manifest_entries[name] = {"doc": doc, "files": files, "inputs": inputs, "outputs": outputs}
    return written, manifest_entries, onnx_facts


def export_model(model: AutoEncoder, out: str | Path, formats: Iterable[str] = FORMATS,
                 sounding: bool = False) -> dict[str, Path]:
    """Write ``model``'s entry points (see module doc) as ONNX (``"onnx"``) and/or TorchScript (``"torchscript"``)
    files into the folder ``out``, and the manifest ``export.json``. Every file is written atomically; the model
    is not changed (a CPU copy in eval mode is traced).

    ``sounding``: a harmonic model also gets ``synth.onnx``, decoder + synthesizer with the stream's state as inputs
    and outputs (:mod:`latentsynth.synth.sounding`; needs the ``"onnx"`` format), and the manifest's ``sounding``
    entry says how to call it per block.

    Returns ``{file name: path}`` of every file written, the manifest included.
    Raises :class:`ExportError` for an unknown format or a model this exporter has no wrapper for.
    """
    formats = tuple(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ExportError(f"formats: choose from {', '.join(FORMATS)}, got {list(formats) or 'nothing'}")
    out = Path(out)
    m = frozen_copy(model)
    written, manifest_entries, onnx_facts = _write_entries(_coding_entries(m), formats, out)
    manifest = _manifest(m, manifest_entries, formats, onnx_facts)
    if sounding and m.harmonic and "onnx" in formats:
        from .sounding import export_sounding

        path, manifest["sounding"] = export_sounding(m, out)
        written[path.name] = path
    write_json(out / MANIFEST, manifest)
    written[MANIFEST] = out / MANIFEST
    return written


def host_manifest(model: AutoEncoder) -> dict[str, Any]:
    """The model part of the manifest (labels, spec, normalisation, harmonic synth constants) with no entry
    points: what :mod:`latentsynth.synth.web` shares with ``export.json``."""
    return _manifest(model, {}, (), {})


def _manifest(m: AutoEncoder, entries: dict[str, Any], formats: tuple[str, ...],
              onnx_facts: dict[str, Any]) -> dict[str, Any]:
    from .. import __version__

    cfg = m.cfg
    man: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "latentsynth": __version__,
        "torch": torch.__version__,
        "model": cfg.name,
        "data": "frames" if m.db is not None else "images",
        "data_shape": list(m.data_shape),
        "latent_dim": m.latent_dim,
        "encoder": cfg.model.encoder,
        "conditioned": m.conditioned,
        "harmonic": m.harmonic,
        "batch": "the first dimension of every input and output is dynamic ('batch')",
        "formats": {f: {"onnx": {"exporter": "torch.onnx.export(dynamo=True)", **onnx_facts},
                        "torchscript": {"exporter": "torch.jit.trace", "load": "torch.jit.load"}}[f] for f in formats},
        "entry_points": entries,
    }
    if m.conditioning is not None:
        vocab = m.audio.vocab if m.audio is not None else {}
        man["labels"] = {
            "columns": list(LABELS),
            "used": list(m.conditioning.labels),
            "encoder": bool(cfg.model.conditioning.encoder),
            "pitch": {"encoding": m.conditioning.pitch, "unit": "MIDI (float; fractional = detuned)",
                      "range": list(m.audio.pitch_range) if m.audio is not None else None},
            "vocab": {k: list(vocab.get(k) or [""]) for k in NAMED},
            "unchecked": "indices outside a vocabulary give an all-zero one-hot in the exported graphs",
        }
    else:
        man["labels"] = None
    if m.audio is not None:
        spec = m.audio.spec
        offset, gain = m.db.offset.tolist(), m.db.gain.tolist()
        man["spec"] = {"sample_rate": spec.sample_rate, "n_fft": spec.n_fft, "hop": spec.hop_length,
                       "hop_seconds": m.audio.hop_seconds, "window": "hann (periodic), centred frames",
                       "n_bins": spec.n_bins, "frames_per_item": m.data_shape[0], **spec.model_dump(mode="json")}
        man["normalisation"] = {"kind": m.audio.normalize, "formula": "x = (dB - offset) / gain",
                                "offset": offset, "gain": gain}
    if m.harmonic:
        man["harmonic_synth"] = {"n_harmonics": m.decoder.k, "noise_bands": m.decoder.n,
                                 "amps": "time-domain sine amplitudes; partials at or above Nyquist are silent",
                                 "noise": "band levels linear over 0..Nyquist, interpolated per STFT bin",
                                 "python": "latentsynth.dsp.harmonic.additive_synth"}
    return man


__all__ = ["ExportError", "export_model", "frozen_copy", "host_manifest", "FORMATS", "MANIFEST"]
