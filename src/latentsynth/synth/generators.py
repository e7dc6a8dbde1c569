"""Every kind of synthesis path, made for one model: the pure generators of :mod:`latentsynth.latent.paths`
and :mod:`latentsynth.latent.geodesic`, given sensible defaults from the model's training codes (the PCA plane,
the codes' spread) and wrapped into :class:`~.pathfile.PathFile` s.

``make_path(synth, kind, notes=[...], **options)``; ``kind`` is one of :data:`KINDS`. Kinds that blend notes
(lerp, slerp, expressive, geodesic, polyline, bezier) take the paths of encoded notes; the others start from
the centre of the training codes (or of a given note).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..latent import geodesic as geo
from ..latent import paths as P
from ..latent.planes import code_plane, principal_directions
from .engine import Synth, SynthError, labels_for
from .pathfile import PathFile

KINDS = ("lerp", "slerp", "expressive", "traversal", "walk", "circle", "spiral", "polyline", "bezier", "prior",
         "geodesic")
NEEDS_NOTES = {"lerp": 2, "slerp": 2, "expressive": 2, "geodesic": 2, "polyline": 2, "bezier": 2}


def plane(synth: Synth, dims: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(centre [d], basis [2, d], scale [2])``: the PCA plane of the model's training codes, or the plane
    of latent dimensions ``dims`` through their centre (prior mean and scale without saved codes); see
    :func:`latentsynth.latent.planes.code_plane`."""
    try:
        return code_plane(synth.codes.codes if synth.codes is not None else None, synth.latent_dim, dims)
    except ValueError as err:
        raise SynthError(str(err)) from None


def make_path(synth: Synth, kind: str, notes: list[PathFile] | None = None, points: int = 172,
              seed: int = 0, **opt: Any) -> PathFile:
    """A path of ``kind`` with ``points`` points (2 s at the default hop); options per kind:

    * lerp / slerp / expressive: ``alpha`` (0.5; or "sweep": from the first note to the second over time);
    * traversal: ``dim`` (a latent dimension) or ``pc`` (a principal direction, default 0), ``span`` (2 stds);
    * walk: ``step`` (0.05 prior stds per point), ``pull`` (0.02 toward the centre);
    * circle / spiral: ``radius`` (1 std of the plane; spiral from 0.2 to ``radius``), ``revolutions`` (1),
      ``dims`` (two latent dimensions instead of the PCA plane);
    * geodesic: ``uncertainty`` (weight of the stay-near-the-data term, 1.0), ``steps`` (200);
    * prior: ``smooth`` (points between prior samples, 43 = 0.5 s).

    Labels (pitch, names) of the first note are kept; a note-free path takes the given ``pitch`` /
    ``instrument`` / ``dynamics`` / ``style`` options.
    """
    if kind not in KINDS:
        raise SynthError(f"kind: one of {', '.join(KINDS)}, got {kind!r}")
    notes = notes or []
    need = NEEDS_NOTES.get(kind, 0)
    if len(notes) < need:
        raise SynthError(f"{kind}: needs {need} note paths (encode them with `latentsynth synth encode`)")
    for k, n in enumerate(notes):
        if n.latent_dim != synth.latent_dim:
            raise SynthError(f"note {k}: latent_dim {n.latent_dim} does not match the model's {synth.latent_dim}")
    g = torch.Generator().manual_seed(seed)
    zs = [n.z for n in notes]
    centre, basis, scale = plane(synth, opt.get("dims"))
    start = zs[0].mean(0) if zs else centre
    alpha: Any = opt.get("alpha", 0.5)
    if alpha == "sweep":
        alpha = torch.linspace(0, 1, points)
    meta: dict[str, Any] = {"generator": kind, **{k: v for k, v in opt.items() if k != "dims"}}
    if kind == "lerp":
        z = P.lerp_paths(zs[0], zs[1], points, alpha)
    elif kind == "slerp":
        z = P.slerp_paths(zs[0], zs[1], points, alpha)
    elif kind == "expressive":
        z = P.expressive_interpolation(zs[0], zs[1], points, alpha)
    elif kind == "traversal":
        if "dim" in opt:
            direction = P.plane_basis(synth.latent_dim, (int(opt["dim"]), (int(opt["dim"]) + 1) % synth.latent_dim))[0]
            std = float(synth.codes.codes[:, int(opt["dim"])].std()) if synth.codes is not None else 1.0
        else:
            pcs = _principal_directions(synth)
            pc = int(opt.get("pc", 0))
            direction, std = pcs[0][pc], float(pcs[1][pc])
        z = P.traversal_path(start, direction, float(opt.get("span", 2.0)) * std, points)
    elif kind == "walk":
        z = P.random_walk(start, points, float(opt.get("step", 0.05)), float(opt.get("pull", 0.02)), g,
                          prior_scale=float(scale.mean()), mean=centre)
    elif kind in ("circle", "spiral"):
        radius = float(opt.get("radius", 1.0)) * scale
        rev = float(opt.get("revolutions", 1.0))
        if kind == "circle":
            z = P.circle(start, basis, radius, points, rev)
        else:
            z = P.spiral(start, basis, 0.2 * float(radius.mean()), float(radius.mean()), points, rev)
    elif kind in ("polyline", "bezier"):
        anchors = torch.stack([zi.mean(0) for zi in zs])
        z = P.polyline(anchors, points) if kind == "polyline" else P.bezier(anchors, points)
    elif kind == "prior":
        z = P.prior_path(lambda n: synth.model.prior.sample(n, generator=g), points, g,
                         smooth=int(opt.get("smooth", 43)))
    else:  # geodesic between the two notes' mean codes
        c = labels_for(synth, 1, label_fields(notes[0]))
        density = synth.codes.codes if synth.codes is not None else None
        res = geo.geodesic(zs[0].mean(0), zs[1].mean(0), synth.decoded_distance_fn(c), n_points=24,
                           steps=int(opt.get("steps", 200)), density_codes=density,
                           uncertainty_weight=float(opt.get("uncertainty", 1.0)) if density is not None else 0.0)
        z = P.resample_path(res.path.detach(), points)
        meta.update(length=round(float(res.length), 4), line_length=round(float(res.line_length), 4),
                    ratio=round(float(res.ratio), 4))
    labels = label_fields(notes[0]) if notes else {k: opt.get(k) for k in ("pitch", "instrument", "dynamics",
                                                                               "style")}
    if notes:
        meta["notes"] = [n.meta.get("source", f"note {i}") for i, n in enumerate(notes)]
    return PathFile.from_tensor(z.detach(), **labels, meta=meta)


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
