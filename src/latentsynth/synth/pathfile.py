"""Latent paths as small JSON files that can be saved, edited by hand or by the instrument, and re-rendered.

::

    {"format": 1, "latent_dim": 16, "codes": [[...16 numbers...], ...],     # T points, in time order
     "pitch": 60.0 or [60.0, 60.1, ...],                                     # MIDI: constant or one per point
     "instrument": "Fl", "dynamics": "mf", "style": "ord",                  # names of the model's vocabularies
     "duration": 2.0,                     # seconds (null: one hop per point, the path's own timing)
     "constant_speed": false,             # reparametrise by decoded arc length before rendering
     "meta": {"generator": "circle", ...}, # how it was made (free-form)
     "model": {"name": "harmonic-vae", "fingerprint": "3f2a...", "latent_dim": 16,   # the model it was made
               "sample_rate": 22050, "pitched": true}}                               # for (ModelStamp)

Path files made before they recorded their model have no ``model``; they still load (rendering warns that it
cannot check them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from torch import Tensor

from ..config import format_validation_error
from ..folders import atomic_write_text

PATH_FORMAT = 1


class ModelStamp(BaseModel):
    """The model a path belongs to: its name, a fingerprint of its weights and config
    (:meth:`~latentsynth.synth.engine.Synth.stamp`), and what makes codes mean the same sound: latent size,
    sample rate, and whether its labels carry a pitch."""

    model_config = ConfigDict(extra="ignore")

    name: str = ""
    fingerprint: str
    latent_dim: int = Field(ge=1)
    sample_rate: int = Field(gt=0)
    pitched: bool

    def describe(self) -> str:
        return (f"{self.name or 'a model'} (fingerprint {self.fingerprint}, latent_dim {self.latent_dim}, "
                f"{self.sample_rate} Hz, {'pitched' if self.pitched else 'pitchless'})")


class PathFile(BaseModel):
    """One latent path with its labels and timing (see the module doc)."""

    model_config = ConfigDict(extra="forbid")

    format: int = PATH_FORMAT
    latent_dim: int = Field(ge=1)
    codes: list[list[float]]
    pitch: float | list[float] | None = None
    instrument: str | None = None
    dynamics: str | None = None
    style: str | None = None
    # a path between two notes (issue #22): the second note's labels ("pitch", "instrument", "dynamics",
    # "style") and per point the weight of its named labels (0 = the first note's, 1 = the second's); a
    # label-conditioned model blends the two label embeddings, so the path morphs
    to: dict[str, Any] | None = None
    weights: list[float] | None = None
    duration: float | None = Field(None, gt=0, le=600)
    constant_speed: bool = False
    meta: dict[str, Any] = Field(default_factory=dict)
    model: ModelStamp | None = None  # the model the path was made for (None: an older path file)

    @model_validator(mode="after")
    def _check(self) -> PathFile:
        if self.format != PATH_FORMAT:
            raise ValueError(f"format: {self.format} is not supported (this version reads {PATH_FORMAT})")
        if not self.codes:
            raise ValueError("codes: a path needs at least one point")
        for i, row in enumerate(self.codes):
            if len(row) != self.latent_dim:
                raise ValueError(f"codes: point {i} has {len(row)} values, latent_dim is {self.latent_dim}")
            if not all(math.isfinite(v) for v in row):
                raise ValueError(f"codes: point {i} is not finite")
        if isinstance(self.pitch, list) and len(self.pitch) != len(self.codes):
            raise ValueError(f"pitch: a curve of {len(self.pitch)} values for {len(self.codes)} points")
        if self.weights is not None:
            if len(self.weights) != len(self.codes):
                raise ValueError(f"weights: {len(self.weights)} values for {len(self.codes)} points")
            if not all(math.isfinite(w) and 0 <= w <= 1 for w in self.weights):
                raise ValueError("weights: label weights are numbers in 0..1")
            if not self.to:
                raise ValueError("to: label weights need the second note's labels (to: {instrument: ...})")
        return self

    @property
    def z(self) -> Tensor:
        """The codes ``[T, d]``."""
        return torch.tensor(self.codes, dtype=torch.float32)

    @classmethod
    def from_tensor(cls, z: Tensor, **fields: Any) -> PathFile:
        """A path file of codes ``z [T, d]`` (pitch may be a tensor ``[T]``)."""
        pitch = fields.pop("pitch", None)
        if isinstance(pitch, Tensor):
            pitch = [round(float(p), 4) for p in pitch.reshape(-1)]
            pitch = pitch[0] if len(set(pitch)) == 1 else pitch
        codes = [[round(float(v), 6) for v in row] for row in z.detach().cpu()]
        return cls(latent_dim=z.shape[1], codes=codes, pitch=pitch, **fields)

    def save(self, path: str | Path) -> Path:
        atomic_write_text(path, json.dumps(self.model_dump(mode="json"), indent=1) + "\n")
        return Path(path)

    @classmethod
    def read(cls, path: str | Path) -> PathFile:
        """Read and validate a path file; one :class:`PathFileError` naming the file and the field."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise PathFileError(f"{path}: no such path file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise PathFileError(f"{path}: not a JSON path file ({err})") from None
        return cls.parse(data, str(path))

    @classmethod
    def parse(cls, data: Any, source: str = "path") -> PathFile:
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise PathFileError(f"{source}: " + format_validation_error(err)) from None


class PathFileError(ValueError):
    """A path file that cannot be read; the message names the file and the field."""
