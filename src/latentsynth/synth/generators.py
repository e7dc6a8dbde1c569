"""Every kind of synthesis path, made for one model: the pure generators of :mod:`latentsynth.latent.paths`
and :mod:`latentsynth.latent.geodesic`, given sensible defaults from the model's training codes (the PCA plane,
the codes' spread) and wrapped into :class:`~.pathfile.PathFile` s.

``make_path(synth, kind, notes=[...], **options)``; ``kind`` is one of :data:`KINDS`. Kinds that blend notes
(lerp, slerp, expressive, geodesic, polyline, bezier) take the paths of encoded notes; the others start from
the centre of the training codes (or of a given note).

A new generator is one function here, registered with ``@generator("name", notes=k, options=(...))``: it takes the
:class:`Request` (the model, the notes' codes, the plane, the options) and returns the path ``[points, d]``
(it may add to ``req.meta``); :data:`KINDS`, the CLI, the gallery and the server's ``kind`` follow. Its options
go in its registration (``options=(...)``: what ``--opt`` accepts), the :func:`make_path` docstring and, for the
instrument, in ``serve.api.GenOptions``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..latent import geodesic as geo
from ..latent import paths as P
from ..latent.planes import code_plane, principal_directions
from .engine import Synth, SynthError, labels_for
from .pathfile import PathFile

# options every kind takes (they label a path made without notes), and what each option of any kind expects
LABEL_OPTIONS = ("pitch", "instrument", "dynamics", "style")
OPTION_TYPES = {"alpha": "a number or sweep", "dim": "an integer", "pc": "an integer", "span": "a number",
                "step": "a number", "pull": "a number", "dims": "two integers, e.g. [0,1]", "radius": "a number",
                "revolutions": "a number", "smooth": "an integer", "uncertainty": "a number",
                "steps": "an integer", "pitch_mode": "glide or hold",
                "pitch": "a number (MIDI)", "instrument": "a name", "dynamics": "a name",
                "style": "a name"}


def parse_options(kind: str, raw: dict[str, str]) -> dict[str, Any]:
    """Generator options given as text (``{"radius": "1.5", "dims": "[0,1]"}``) -> typed values for
    :func:`make_path`; an option ``kind`` does not take, or a value of the wrong type -> :class:`SynthError`
    naming the option, the value and what it expects (with the kind's valid options)."""
    import yaml

    if kind not in KINDS:
        raise SynthError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
    valid = GENERATORS[kind].options + LABEL_OPTIONS
    out: dict[str, Any] = {}
    for key, text in raw.items():
        if key not in valid:
            where = [k for k, g in GENERATORS.items() if key in g.options]
            hint = f" ({key} is an option of {', '.join(where)})" if where else ""
            raise SynthError(f"--opt {key}: not an option of {kind}{hint}; {kind} takes "
                             + ", ".join(valid))
        want = OPTION_TYPES.get(key, "a number")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        try:
            if want == "an integer" or want.startswith("two integers"):
                items = value if want.startswith("two") else [value]
                if isinstance(value, str) and want.startswith("two"):
                    items = [yaml.safe_load(v) for v in value.split(",")]
                if (not isinstance(items, list) or len(items) != (2 if want.startswith("two") else 1)
                        or not all(isinstance(v, int) and not isinstance(v, bool) for v in items)):
                    raise ValueError
                value = tuple(items) if want.startswith("two") else items[0]
            elif want.startswith("a number"):
                if key == "alpha" and value == "sweep":
                    pass
                elif isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                    raise ValueError
                else:
                    value = float(value)
            else:
                if value is None or isinstance(value, list | dict):
                    raise ValueError
                value = str(value)
        except ValueError:
            raise SynthError(f"--opt {key}={text}: {key} expects {want}, got {text!r}") from None
        out[key] = value
    return out


def plane(synth: Synth, dims: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(centre [d], basis [2, d], scale [2])``: the PCA plane of the model's training codes, or the plane
    of latent dimensions ``dims`` through their centre (prior mean and scale without saved codes); see
    :func:`latentsynth.latent.planes.code_plane`."""
    try:
        return code_plane(synth.codes.codes if synth.codes is not None else None, synth.latent_dim, dims)
    except ValueError as err:
        raise SynthError(str(err)) from None


@dataclass
class Request:
    """What a generator gets: ``synth``, the notes' codes ``zs`` (``[T_i, d]`` each) and path files, the number
    of ``points``, the random ``g``, the options ``opt``, the plane ``(centre, basis, scale)``, the ``start``
    (the first note's mean code, or the centre), the blend ``alpha`` (a float or a ``[points]`` sweep) and the
    path file's ``meta`` (a generator may add to it)."""

    synth: Synth
    zs: list[Tensor]
    notes: list[PathFile]
    points: int
    g: torch.Generator
    opt: dict[str, Any]
    centre: Tensor
    basis: Tensor
    scale: Tensor
    start: Tensor
    alpha: Any
    meta: dict[str, Any]


@dataclass(frozen=True)
class Generator:
    name: str
    make: Callable[[Request], Tensor]
    notes: int = 0  # note paths it needs
    options: tuple[str, ...] = ()  # the keys of ``opt`` it reads (what ``--opt`` accepts; types: OPTION_TYPES)


GENERATORS: dict[str, Generator] = {}  # the registry, in the order of KINDS


def generator(name: str, notes: int = 0, options: tuple[str, ...] = ()):
    """Register ``fn(req: Request) -> z [points, d]`` as the path generator ``name`` needing ``notes`` notes and
    reading the ``options`` (a new option's type goes in :data:`OPTION_TYPES`)."""
    def register(fn: Callable[[Request], Tensor]) -> Callable[[Request], Tensor]:
        GENERATORS[name] = Generator(name, fn, notes, tuple(options))
        return fn
    return register


@generator("lerp", notes=2, options=("alpha", "pitch_mode"))
def _lerp(r: Request) -> Tensor:
    return P.lerp_paths(r.zs[0], r.zs[1], r.points, r.alpha)


@generator("slerp", notes=2, options=("alpha", "pitch_mode"))
def _slerp(r: Request) -> Tensor:
    return P.slerp_paths(r.zs[0], r.zs[1], r.points, r.alpha)


@generator("expressive", notes=2, options=("alpha", "pitch_mode"))
def _expressive(r: Request) -> Tensor:
    return P.expressive_interpolation(r.zs[0], r.zs[1], r.points, r.alpha)


@generator("traversal", options=("dim", "pc", "span"))
def _traversal(r: Request) -> Tensor:
    synth, opt = r.synth, r.opt
    if "dim" in opt:
        direction = P.plane_basis(synth.latent_dim, (int(opt["dim"]), (int(opt["dim"]) + 1) % synth.latent_dim))[0]
        std = float(synth.codes.codes[:, int(opt["dim"])].std()) if synth.codes is not None else 1.0
    else:
        pcs = _principal_directions(synth)
        pc = int(opt.get("pc", 0))
        direction, std = pcs[0][pc], float(pcs[1][pc])
    return P.traversal_path(r.start, direction, float(opt.get("span", 2.0)) * std, r.points)


@generator("walk", options=("step", "pull", "dims"))
def _walk(r: Request) -> Tensor:
    return P.random_walk(r.start, r.points, float(r.opt.get("step", 0.05)), float(r.opt.get("pull", 0.02)), r.g,
                         prior_scale=float(r.scale.mean()), mean=r.centre)


@generator("circle", options=("radius", "revolutions", "dims"))
def _circle(r: Request) -> Tensor:
    radius = float(r.opt.get("radius", 1.0)) * r.scale
    return P.circle(r.start, r.basis, radius, r.points, float(r.opt.get("revolutions", 1.0)))


@generator("spiral", options=("radius", "revolutions", "dims"))
def _spiral(r: Request) -> Tensor:
    radius = float((float(r.opt.get("radius", 1.0)) * r.scale).mean())
    return P.spiral(r.start, r.basis, 0.2 * radius, radius, r.points, float(r.opt.get("revolutions", 1.0)))


@generator("polyline", notes=2)
def _polyline(r: Request) -> Tensor:
    return P.polyline(torch.stack([zi.mean(0) for zi in r.zs]), r.points)


@generator("bezier", notes=2)
def _bezier(r: Request) -> Tensor:
    return P.bezier(torch.stack([zi.mean(0) for zi in r.zs]), r.points)


@generator("prior", options=("smooth",))
def _prior(r: Request) -> Tensor:
    return P.prior_path(lambda n: r.synth.model.prior.sample(n, generator=r.g), r.points, r.g,
                        smooth=int(r.opt.get("smooth", 43)))


@generator("geodesic", notes=2, options=("uncertainty", "steps", "pitch_mode"))
def _geodesic(r: Request) -> Tensor:
    """Between the two notes' mean codes, in the decoded space at the first note's labels."""
    synth = r.synth
    c = labels_for(synth, 1, label_fields(r.notes[0]))
    density = synth.codes.codes if synth.codes is not None else None
    res = geo.geodesic(r.zs[0].mean(0), r.zs[1].mean(0), synth.decoded_distance_fn(c), n_points=24,
                       steps=int(r.opt.get("steps", 200)), density_codes=density,
                       uncertainty_weight=float(r.opt.get("uncertainty", 1.0)) if density is not None else 0.0)
    r.meta.update(length=round(float(res.length), 4), line_length=round(float(res.line_length), 4),
                  ratio=round(float(res.ratio), 4))
    return P.resample_path(res.path.detach(), r.points)


KINDS: tuple[str, ...] = tuple(GENERATORS)
NEEDS_NOTES: dict[str, int] = {k: g.notes for k, g in GENERATORS.items() if g.notes}


def make_path(synth: Synth, kind: str, notes: list[PathFile] | None = None, points: int = 172,
              seed: int = 0, **opt: Any) -> PathFile:
    """A path of ``kind`` with ``points`` points (2 s at the default hop); options per kind:

    * lerp / slerp / expressive: ``alpha`` (0.5; or "sweep": from the first note to the second over time);
      these and geodesic carry both notes' labels (``to``, label ``weights`` = alpha) and ``pitch_mode`` "glide"
      (a pitch curve from the first note's pitch to the second's) or "hold";
    * traversal: ``dim`` (a latent dimension) or ``pc`` (a principal direction, default 0), ``span`` (2 stds);
    * walk: ``step`` (0.05 prior stds per point), ``pull`` (0.02 toward the centre);
    * circle / spiral: ``radius`` (1 std of the plane; spiral from 0.2 to ``radius``), ``revolutions`` (1),
      ``dims`` (two latent dimensions instead of the PCA plane);
    * geodesic: ``uncertainty`` (weight of the stay-near-the-data term, 1.0), ``steps`` (200);
    * prior: ``smooth`` (points between prior samples, 43 = 0.5 s).

    Labels (pitch, names) of the first note are kept; a note-free path takes the given ``pitch`` /
    ``instrument`` / ``dynamics`` / ``style`` options.
    """
    if kind not in GENERATORS:
        raise SynthError(f"kind: one of {', '.join(GENERATORS)}, got {kind!r}")
    notes = notes or []
    need = GENERATORS[kind].notes
    if len(notes) < need:
        raise SynthError(f"{kind}: needs {need} note paths (encode them with `latentsynth synth encode`)")
    for k, n in enumerate(notes):
        if n.latent_dim != synth.latent_dim:
            raise SynthError(f"note {k}: latent_dim {n.latent_dim} does not match the model's {synth.latent_dim}")
    zs = [n.z for n in notes]
    centre, basis, scale = plane(synth, opt.get("dims"))
    alpha: Any = opt.get("alpha", 0.5)
    if alpha == "sweep":
        alpha = torch.linspace(0, 1, points)
    meta: dict[str, Any] = {"generator": kind, **{k: v for k, v in opt.items() if k != "dims"}}
    req = Request(synth, zs, notes, points, torch.Generator().manual_seed(seed), opt, centre, basis, scale,
                  zs[0].mean(0) if zs else centre, alpha, meta)
    z = GENERATORS[kind].make(req)
    labels = label_fields(notes[0]) if notes else {k: opt.get(k) for k in ("pitch", "instrument", "dynamics",
                                                                               "style")}
    if kind in BLENDS and len(notes) >= 2:  # a path between two notes carries both notes' labels
        labels.update(_between(notes, kind, alpha, len(z), opt.get("pitch_mode", "glide")))
    if notes:
        meta["notes"] = [n.meta.get("source", f"note {i}") for i, n in enumerate(notes)]
    return PathFile.from_tensor(z.detach(), **labels, meta=meta, model=synth.stamp())


BLENDS = ("lerp", "slerp", "expressive", "geodesic")  # kinds that go from one note to another


def _between(notes: list[PathFile], kind: str, alpha: Any, points: int, pitch_mode: str) -> dict[str, Any]:
    """The label fields of a path from ``notes[0]`` to ``notes[1]``: the second note's labels (``to``), the
    weight of them per point (the blend's ``alpha``; 0 -> 1 along a geodesic) and, with ``pitch_mode`` "glide"
    and different pitches, a pitch curve from the first note's pitch to the second's ("hold": the first's)."""
    if pitch_mode not in ("glide", "hold"):
        raise SynthError(f"pitch_mode: glide or hold, got {pitch_mode!r}")
    a, b = label_fields(notes[0]), label_fields(notes[1])
    if kind == "geodesic":
        w = torch.linspace(0, 1, points)
    else:
        w = torch.as_tensor(alpha, dtype=torch.float32).reshape(-1).expand(points) if torch.is_tensor(alpha) \
            or isinstance(alpha, (int, float)) else torch.full((points,), 0.5)
        w = w.clamp(0, 1)
    out: dict[str, Any] = {"to": b, "weights": [round(float(v), 4) for v in w]}
    if pitch_mode == "glide" and a["pitch"] is not None and b["pitch"] is not None and a["pitch"] != b["pitch"]:
        out["pitch"] = float(a["pitch"]) + w * (float(b["pitch"]) - float(a["pitch"]))
    return out


def _principal_directions(synth: Synth) -> tuple[Tensor, Tensor]:
    """Unit principal directions ``[k, d]`` (rows, by decreasing variance) and stds ``[k]`` of the codes."""
    if synth.codes is None:
        return torch.eye(synth.latent_dim), torch.ones(synth.latent_dim)
    return principal_directions(synth.codes.codes)


def label_fields(note: PathFile) -> dict[str, Any]:
    """A note's labels as :meth:`~.engine.Synth.labels` arguments (a pitch curve becomes its median)."""
    pitch = note.pitch
    if isinstance(pitch, list):  # a blend keeps the note's pitch, not its vibrato
        pitch = round(float(torch.tensor(pitch).median()), 2)
    return {"pitch": pitch, "instrument": note.instrument, "dynamics": note.dynamics, "style": note.style}
