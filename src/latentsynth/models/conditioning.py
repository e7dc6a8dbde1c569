"""What a frame model knows about its audio, and the labels it can be conditioned on.

:class:`AudioInfo` is everything needed to turn a frame model's outputs into sound with no corpus at hand: the
spectrogram settings, the normalisation of the dB frames, and the label vocabularies (instruments, dynamics,
styles, pitch range). It is saved in the model folder (``model.json``) and restored by ``latentsynth.load``.

Labels travel as one float tensor ``c [B, 4]`` whose columns are :data:`LABELS`: the MIDI pitch (a float, so a
detune or a glide is a fractional pitch) and the indices of instrument, dynamics and style in the vocabularies.
:class:`Conditioning` turns the columns a model was configured with into the vector ``[B, E]`` that its encoder
and decoder take (one-hot for names; one-hot and/or a continuous value for pitch).
"""

from __future__ import annotations

import math

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from ..config import ConditioningConfig
from ..dsp.harmonic import midi_to_hz  # noqa: F401 - re-exported for older callers; defined in dsp
from ..dsp.transforms import NormStats, SpecConfig, decompress

LABELS: tuple[str, ...] = ("pitch", "instrument", "dynamics", "style")  # the columns of a label tensor c
NAMED = ("instrument", "dynamics", "style")  # labels with a vocabulary
#: the columns of a *mixed* label tensor ``[B, 10]`` (issue #22): the labels of a note A, the named labels of a
#: note B and the weight of B per named label (0 = all A, 1 = all B); a conditioned model blends the two
#: embeddings, so a path from a flute to a trumpet can carry label weights per point (:func:`mix_labels`)
MIXED: tuple[str, ...] = LABELS + tuple(f"{k}_to" for k in NAMED) + tuple(f"{k}_weight" for k in NAMED)


class LabelError(ValueError):
    """A label value the model does not know (an instrument it never saw, a pitch outside its range)."""


class NoAudioInfo(ValueError):
    """A frame model saved before model folders carried their audio settings cannot make sound."""


class AudioInfo(BaseModel):
    """Spectrogram settings, dB normalisation and label vocabularies of a frame model (see module doc)."""

    model_config = ConfigDict(extra="forbid")

    spec: SpecConfig
    normalize: str  # "minmax" or "standard": how the dB frames were normalised (with ``stats``)
    stats: NormStats
    window: int = Field(1, ge=1)  # frames per item
    vocab: dict[str, list[str]]  # instrument / dynamics / style -> names, index = label value
    pitch_range: tuple[int, int]  # lowest and highest MIDI pitch of the training notes

    def db_affine(self) -> tuple[Tensor, Tensor]:
        """``offset [F]``, ``gain [F]`` with ``dB = x * gain + offset`` for normalised frames ``x``."""
        f = self.spec.n_bins
        if self.normalize == "minmax":
            lo, hi = self.stats.min, self.stats.max
            return torch.full((f,), lo), torch.full((f,), hi - lo + 1e-8)
        return torch.tensor(self.stats.mean, dtype=torch.float32), torch.tensor(self.stats.std, dtype=torch.float32)

    @property
    def hop_seconds(self) -> float:
        return self.spec.hop_length / self.spec.sample_rate

    def label_row(self, pitch: float, instrument: str | None = None, dynamics: str | None = None,
                  style: str | None = None, strict_pitch: bool = False) -> list[float]:
        """One row of a label tensor from names; unknown names raise :class:`LabelError` naming the choices.
        A missing name takes the first of its vocabulary. ``strict_pitch`` also rejects a pitch outside the
        training range."""
        lo, hi = self.pitch_range
        if not math.isfinite(pitch) or not 0 <= pitch <= 127:
            raise LabelError(f"pitch: {pitch} is not a MIDI pitch (0-127)")
        if strict_pitch and not lo - 0.5 <= pitch <= hi + 0.5:
            raise LabelError(f"pitch: {pitch} is outside the model's range {lo}-{hi} (MIDI)")
        row = [float(pitch)]
        for key, value in zip(NAMED, (instrument, dynamics, style), strict=True):
            names = self.vocab.get(key) or [""]
            if value is None:
                row.append(0.0)
            elif value in names:
                row.append(float(names.index(value)))
            else:
                raise LabelError(f"{key}: unknown value {value!r}; the model knows {', '.join(names)}")
        return row

    def labels(self, n: int = 1, pitch: float | Tensor | None = None, instrument: str | None = None,
               dynamics: str | None = None, style: str | None = None, margin: float = 0,
               check_range: bool = True) -> Tensor:
        """The label codec, names -> tensor: labels ``[n, 4]`` from names (see :meth:`label_row`); ``pitch`` a
        MIDI number or a curve ``[n]`` (default: the middle of the pitch range). With ``check_range`` every pitch
        must lie within the training range widened by ``margin`` semitones; a bad value raises
        :class:`LabelError` naming it."""
        lo, hi = self.pitch_range
        pitch = (lo + hi) / 2 if pitch is None else pitch
        curve = torch.as_tensor(pitch, dtype=torch.float32).reshape(-1)
        if len(curve) not in (1, n):
            raise LabelError(f"pitch: a curve of {len(curve)} values for a path of {n} points")
        out = torch.tensor(self.label_row(float(curve[0]), instrument, dynamics, style)).repeat(n, 1)
        for p in curve.unique():
            p = float(p)
            self.label_row(p)  # every pitch of the curve must be a MIDI pitch
            if check_range and not lo - margin - 0.5 <= p <= hi + margin + 0.5:
                raise LabelError(f"pitch: {p:g} is outside the model's range, MIDI {lo - margin:g}-{hi + margin:g} "
                                 f"(its training notes span {lo}-{hi})")
        out[:, LABELS.index("pitch")] = curve.expand(n)
        return out

    def name_of(self, key: str, index: float) -> str | None:
        """The codec, index -> name: the name of label ``key`` (instrument, dynamics, style) at ``index``, or None
        outside the vocabulary."""
        names = self.vocab.get(key) or []
        i = int(index)
        return names[i] if 0 <= i < len(names) else None

    def names_of(self, row: Tensor) -> dict[str, str | None]:
        """The codec, tensor -> names: ``{instrument, dynamics, style}`` of a label row ``[4]``."""
        return {key: self.name_of(key, row[LABELS.index(key)]) for key in NAMED}


class DbScale(nn.Module):
    """Normalised dB frames <-> dB <-> linear magnitudes, with the training statistics as buffers
    (``offset [F]``, ``gain [F]``; saved with the weights). The one place that undoes the normalisation."""

    def __init__(self, n_bins: int):
        super().__init__()
        self.register_buffer("offset", torch.zeros(n_bins))
        self.register_buffer("gain", torch.ones(n_bins))

    @classmethod
    def from_info(cls, info: AudioInfo) -> DbScale:
        """The scale of a data set's (or model's) :class:`AudioInfo`."""
        db = cls(info.spec.n_bins)
        db.set(*info.db_affine())
        return db

    def set(self, offset: Tensor, gain: Tensor) -> None:
        """``offset``, ``gain`` ``[F]``: normalised frames map to dB as ``x * gain + offset``."""
        self.offset.copy_(torch.as_tensor(offset, dtype=self.offset.dtype))
        self.gain.copy_(torch.as_tensor(gain, dtype=self.gain.dtype))

    def to_db(self, x: Tensor) -> Tensor:
        """Normalised frames ``[..., F]`` -> dB ``[..., F]``."""
        return x * self.gain + self.offset

    def from_db(self, db: Tensor) -> Tensor:
        """dB ``[..., F]`` -> normalised frames ``[..., F]``."""
        return (db - self.offset) / self.gain

    def to_linear(self, x: Tensor) -> Tensor:
        """Normalised dB frames ``[..., F]`` -> linear magnitudes ``10 ** (dB / 20)`` (dB compression)."""
        return torch.pow(10.0, self.to_db(x) / 20.0)

    def to_magnitude(self, x: Tensor, spec: SpecConfig) -> Tensor:
        """Normalised frames ``[..., F]`` -> linear magnitudes ``[..., F]`` (the representation's bins)."""
        return decompress(self.to_db(x), spec)


class Conditioning(nn.Module):
    """Labels ``c [B, 4]`` (columns :data:`LABELS`) -> conditioning vector ``[B, E]``.

    Named labels become one-hot vectors over their vocabulary; pitch becomes a one-hot over the MIDI range
    0-127 (``onehot``), a continuous value ``(pitch - 60) / 24`` (``continuous``), or both. An index outside a
    vocabulary raises :class:`LabelError`.
    """

    def __init__(self, cfg: ConditioningConfig, sizes: dict[str, int]):
        super().__init__()
        self.labels = list(cfg.labels)
        self.pitch = cfg.pitch
        self.sizes = {k: max(1, int(sizes.get(k, 1))) for k in NAMED}
        dim = 0
        for key in self.labels:
            if key == "pitch":
                dim += (128 if self.pitch in ("onehot", "both") else 0) + (1 if self.pitch != "onehot" else 0)
            else:
                dim += self.sizes[key]
        self.dim = dim

    def forward(self, c: Tensor) -> Tensor:
        if c is None or c.dim() != 2 or c.shape[1] not in (len(LABELS), len(MIXED)):
            got = None if c is None else list(c.shape)
            raise LabelError(f"labels: this model is conditioned on {', '.join(self.labels)}; give a label tensor "
                             f"[B, {len(LABELS)}] (columns {', '.join(LABELS)}), got {got}")
        mixed = c.shape[1] == len(MIXED)
        parts = []
        checked = not (torch.jit.is_tracing() or torch.compiler.is_compiling())  # exported graphs: no data checks
        for key in self.labels:
            col = c[:, LABELS.index(key)].round()
            if key == "pitch":
                if self.pitch != "continuous":
                    parts.append(one_hot(col.clamp(0, 127), 128))
                if self.pitch != "onehot":
                    parts.append(((c[:, LABELS.index("pitch")] - 60.0) / 24.0)[:, None])
            else:
                n = self.sizes[key]
                cols = [col, c[:, MIXED.index(f"{key}_to")].round()] if mixed else [col]
                if checked and any(bool(((x < 0) | (x >= n)).any()) for x in cols):
                    raise LabelError(f"labels: {key} index outside the model's vocabulary of {n}")
                vec = one_hot(col, n)
                if mixed:  # the embedding of A and B blended: a one-hot input's first layer is an embedding
                    w = c[:, MIXED.index(f"{key}_weight")].clamp(0, 1)[:, None]
                    vec = vec * (1 - w) + one_hot(cols[1], n) * w
                parts.append(vec)
        return torch.cat(parts, dim=1)


def one_hot(index: Tensor, n: int) -> Tensor:
    """Rounded float indices ``[B]`` -> one-hot ``[B, n]`` of their dtype (an index outside 0..n-1 gives a row of
    zeros); written as a comparison so traced and exported graphs keep a dynamic batch size."""
    return (index[:, None] == torch.arange(n, dtype=index.dtype, device=index.device)).to(index.dtype)


def mix_labels(a: Tensor, b: Tensor, t: Tensor, glide: bool = True) -> Tensor:
    """Mixed labels ``[T, 10]`` (columns :data:`MIXED`) along a path from a note with labels ``a [4]`` to one
    with ``b [4]`` at positions ``t [T]`` in 0..1: the named labels of B weighted ``t`` (A's ``1 - t``); the pitch
    glides linearly from A's to B's (``glide``) or holds A's."""
    t = torch.as_tensor(t, dtype=a.dtype)
    out = torch.zeros(len(t), len(MIXED), dtype=a.dtype)
    out[:, : len(LABELS)] = a[None]
    if glide:
        out[:, 0] = a[0] + t * (b[0] - a[0])
    for i, key in enumerate(NAMED, start=1):
        out[:, MIXED.index(f"{key}_to")] = b[i]
        out[:, MIXED.index(f"{key}_weight")] = t
    return out
