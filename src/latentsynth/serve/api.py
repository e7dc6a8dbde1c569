"""Request and response models of the instrument's HTTP API (pydantic): every number finite, every array
bounded, unknown fields rejected, so that a bad request is a 4xx with the field named, never a 500."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..evaluation.descriptors import BY_NAME, TORCH_DESCRIPTORS
from ..synth.generators import KINDS
from ..synth.pathfile import PathFile

MAX_POINTS = 20_000  # points of one path (about 232 s at one hop per point)
MAX_DIM = 1024  # latent size accepted before the model's own check
MAX_DURATION = 60.0  # seconds of one decoded request
MAX_GRID = 64  # heatmap cells per side
DESCRIPTORS = TORCH_DESCRIPTORS  # heatmap quantities: the differentiable descriptors of the registry
QUANTITIES = ("density", *DESCRIPTORS)

Finite = Annotated[float, Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Pitch = Annotated[float, Field(allow_inf_nan=False, ge=0, le=127)]
Code = Annotated[list[Finite], Field(min_length=1, max_length=MAX_DIM)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Labels(Strict):
    """Labels of a conditioned model by name (missing: the middle of the pitch range, the first names)."""

    pitch: Pitch | Annotated[list[Pitch], Field(min_length=1, max_length=MAX_POINTS)] | None = None
    instrument: Name | None = None
    dynamics: Name | None = None
    style: Name | None = None


class PlaneSpec(Strict):
    """A 2-D plane of the latent space: ``pca`` (of the training codes), ``lda`` (the two directions that best
    separate the instruments) or ``dims`` (two latent dimensions); ``rest``: the coordinates along the remaining
    directions (in the order of the plane's ``rest`` basis; missing ones are 0 = the centre)."""

    kind: Literal["pca", "lda", "dims"] = "pca"
    dims: tuple[Annotated[int, Field(ge=0, lt=MAX_DIM)], Annotated[int, Field(ge=0, lt=MAX_DIM)]] | None = None
    rest: Annotated[list[Finite], Field(max_length=MAX_DIM)] | None = None


class DecodeRequest(Labels):
    """A point (one code) or a path (codes in time order) to render. ``duration``: seconds (the path is
    resampled to it; a single point is held); without it one hop per point. ``xy`` + ``plane``: points of a
    plane instead of codes."""

    codes: Annotated[list[Code], Field(min_length=1, max_length=MAX_POINTS)] | None = None
    xy: Annotated[list[tuple[Finite, Finite]], Field(min_length=1, max_length=MAX_POINTS)] | None = None
    plane: PlaneSpec = PlaneSpec()
    duration: Annotated[float, Field(gt=0, le=MAX_DURATION, allow_inf_nan=False)] | None = None
    constant_speed: bool = False
    method: Literal["auto", "additive", "griffinlim"] = "auto"
    format: Literal["wav", "f32"] = "wav"
    seed: Annotated[int, Field(ge=0, lt=2**31)] = 0
    # additive rendering of held notes: the starting phase (cycles, the previous block's X-Phase) and the time
    # (seconds into this block) whose phase the X-Phase header returns (default: the end of the block)
    phase: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)] | None = None
    phase_at: Annotated[float, Field(ge=0, le=MAX_DURATION, allow_inf_nan=False)] | None = None


class ProjectRequest(Strict):
    codes: Annotated[list[Code], Field(min_length=1, max_length=MAX_POINTS)]
    plane: PlaneSpec = PlaneSpec()


class HeatmapRequest(Labels):
    """A ``size`` x ``size`` grid over ``extent = [x0, x1, y0, y1]`` of the plane: the density of the training
    codes, or a descriptor of the decoded spectrum at each cell (with these labels)."""

    quantity: Literal[QUANTITIES] = "density"  # type: ignore[valid-type]
    plane: PlaneSpec = PlaneSpec()
    size: Annotated[int, Field(ge=2, le=MAX_GRID)] = 32
    extent: tuple[Finite, Finite, Finite, Finite] | None = None


class GenOptions(Strict):
    """Options of the path generators (see :func:`latentsynth.synth.generators.make_path`)."""

    alpha: Annotated[float, Field(ge=-1, le=2, allow_inf_nan=False)] | Literal["sweep"] | None = None
    dim: Annotated[int, Field(ge=0, lt=MAX_DIM)] | None = None
    pc: Annotated[int, Field(ge=0, lt=MAX_DIM)] | None = None
    span: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = None
    step: Annotated[float, Field(gt=0, le=2, allow_inf_nan=False)] | None = None
    pull: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    radius: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] | None = None
    revolutions: Annotated[float, Field(gt=0, le=20, allow_inf_nan=False)] | None = None
    uncertainty: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None
    smooth: Annotated[int, Field(ge=1, le=1000)] | None = None
    pitch_mode: Literal["glide", "hold"] | None = None  # paths between notes (issue #22)


class PathRequest(Labels):
    """A generated path: ``kind``, ``points``, the notes it blends or starts from (``notes``: indices of training
    notes, see ``/plane``; ``paths``: path files, e.g. encoded recordings), options, and the plane its ``xy`` is
    returned in. Labels given here replace the notes' labels."""

    kind: Literal[KINDS]  # type: ignore[valid-type]
    points: Annotated[int, Field(ge=2, le=MAX_POINTS)] = 172
    seed: Annotated[int, Field(ge=0, lt=2**31)] = 0
    notes: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=8)] = []
    paths: Annotated[list[PathFile], Field(max_length=8)] = []
    options: GenOptions = GenOptions()
    plane: PlaneSpec = PlaneSpec()


class ModelInfo(BaseModel):
    name: str
    latent_dim: int
    hop_seconds: float
    sample_rate: int
    n_fft: int
    representation: str
    window: int
    harmonic: bool
    conditioned: bool
    vocab: dict[str, list[str]]
    pitch_range: tuple[int, int]
    codes: int  # training codes saved in the folder (0: none)
    notes: int


class NoteDot(BaseModel):
    index: int
    name: str
    xy: tuple[float, float]
    pitch: float
    instrument: str | None
    dynamics: str | None
    style: str | None
    code: list[float]  # the note's mean code


class PlaneOut(BaseModel):
    kind: str
    dims: tuple[int, int] | None
    centre: list[float]
    basis: list[list[float]]  # [2, d] orthonormal
    scale: list[float]  # std of the training codes along each axis
    rest: list[list[float]]  # [d - 2, d] the remaining directions, orthonormal, by decreasing variance
    rest_scale: list[float]
    extent: tuple[float, float, float, float]  # x0, x1, y0, y1 covering the codes
    points: list[tuple[float, float]]  # training codes (a subsample) in the plane
    point_labels: list[list[float]]  # their labels [pitch, instrument, dynamics, style]
    notes: list[NoteDot]


class HeatmapOut(BaseModel):
    quantity: str
    size: int
    extent: tuple[float, float, float, float]
    values: list[float]  # row-major, row 0 at y0
    min: float
    max: float
    unit: str


class DescriptorOut(BaseModel):
    """A heatmap quantity of the page's menu (read from the descriptor registry)."""

    name: str
    label: str
    unit: str


def descriptor_list() -> list[DescriptorOut]:
    """The heatmap descriptors in registry order: what ``GET /api/descriptors`` answers and a web export carries."""
    return [DescriptorOut(name=n, label=BY_NAME[n].label, unit=BY_NAME[n].unit) for n in DESCRIPTORS]


class PathOut(BaseModel):
    path: PathFile
    xy: list[tuple[float, float]]


class ProjectOut(BaseModel):
    xy: list[tuple[float, float]]


class Problem(BaseModel):
    detail: str
