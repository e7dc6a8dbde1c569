"""What the instrument's server computes for one model, free of HTTP: planes (PCA, LDA, two dimensions) with
their remaining directions, the training notes as dots, projections, heatmaps (density of the training codes,
descriptors of decoded spectra), generated paths and rendered audio."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..evaluation.descriptors import UNITS
from ..latent.planes import Plane, make_plane
from ..models.conditioning import LABELS
from ..synth import PathFile, Synth, SynthError, make_path, render_path
from ..synth.descriptors import decoded_descriptors, kde_grid
from ..synth.notes import code_sample_note, note_labels
from . import api

MAX_DOTS = 4000  # training codes sent to the page (a fixed subsample of larger sets)


class Instrument:
    """One model served: a :class:`Synth` plus cached planes. Thread-safe: torch inference runs in the server's
    threadpool; the caches are filled under a lock."""

    def __init__(self, name: str, folder: str | Path):
        self.name, self.folder = name, Path(folder)
        self.synth = Synth.load(folder)
        self._planes: dict[tuple, Plane] = {}
        self._web: tuple[dict, bytes] | None = None
        self._lock = threading.Lock()
        s = self.synth
        codes = s.codes
        n = 0 if codes is None else len(codes.codes)
        self.dot_index = torch.arange(n) if n <= MAX_DOTS else torch.randperm(
            n, generator=torch.Generator().manual_seed(0))[:MAX_DOTS].sort().values

    # -- description ------------------------------------------------------------------------------------------
    def info(self) -> api.ModelInfo:
        s = self.synth
        return api.ModelInfo(
            name=self.name, latent_dim=s.latent_dim, hop_seconds=s.hop_seconds, sample_rate=s.spec.sample_rate,
            n_fft=s.spec.n_fft, representation=s.spec.representation, window=s.window,
            harmonic=bool(s.model.harmonic), conditioned=bool(s.model.conditioned), vocab=s.info.vocab,
            pitch_range=tuple(s.info.pitch_range), codes=0 if s.codes is None else len(s.codes.codes),
            notes=0 if s.codes is None else len(s.codes.names))

    def web_model(self) -> tuple[dict, bytes]:
        """A harmonic model's web manifest and weights (:func:`latentsynth.synth.web.web_model`: what the page's
        AudioWorklet runs), made once however many requests ask at the same time; ValueError for other models."""
        with self._lock:
            if self._web is None:
                from ..synth.web import web_model

                self._web = web_model(self.synth.model)
            return self._web

    # -- planes -----------------------------------------------------------------------------------------------
    def plane(self, spec: api.PlaneSpec) -> Plane:
        dims = tuple(spec.dims) if spec.kind == "dims" and spec.dims is not None else None
        if spec.kind == "dims" and dims is None:
            raise SynthError("plane.dims: two latent dimensions are needed for a plane of kind 'dims'")
        key = (spec.kind, dims)
        with self._lock:
            if key not in self._planes:
                self._planes[key] = self._make_plane(spec.kind, dims)
            return self._planes[key]

    def _make_plane(self, kind: str, dims: tuple[int, int] | None) -> Plane:
        s = self.synth
        d = s.latent_dim
        if d < 3:
            raise SynthError(f"{self.name}: a latent space of {d} dimensions has no plane with other directions")
        codes = s.codes.codes if s.codes is not None else None
        classes = s.codes.labels[:, LABELS.index("instrument")].long() if s.codes is not None else None
        if kind == "lda" and (codes is None or len(classes.unique()) < 2):
            raise SynthError(f"{self.name}: the LDA plane needs saved training codes of at least two instruments")
        try:
            return make_plane(kind, d, codes, classes, dims)
        except ValueError as err:
            raise SynthError(str(err)) from None

    def plane_out(self, spec: api.PlaneSpec) -> api.PlaneOut:
        p = self.plane(spec)
        s = self.synth
        pts = torch.zeros(0, 2)
        labels = torch.zeros(0, len(LABELS))
        notes: list[api.NoteDot] = []
        if s.codes is not None:
            codes = s.codes
            xy_all = p.project(codes.codes)
            pts, labels = xy_all[self.dot_index], codes.labels[self.dot_index]
            for i, name in enumerate(codes.names):
                m = codes.note == i
                if not bool(m.any()):
                    continue
                mean = codes.codes[m].mean(0)
                pitch, names = note_labels(s, m)
                xy = p.project(mean[None])[0]
                notes.append(api.NoteDot(index=i, name=name, xy=(float(xy[0]), float(xy[1])), pitch=pitch, **names,
                                         code=[round(float(v), 6) for v in mean]))
            lo, hi = xy_all.min(0).values, xy_all.max(0).values
        else:
            lo, hi = -3 * p.scale, 3 * p.scale
        pad = (hi - lo).clamp_min(1e-3) * 0.08
        lo, hi = lo - pad, hi + pad
        return api.PlaneOut(
            kind=p.kind, dims=p.dims, centre=p.centre.tolist(), basis=p.basis.tolist(), scale=p.scale.tolist(),
            rest=p.rest.tolist(), rest_scale=p.rest_scale.tolist(),
            extent=(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])),
            points=[(round(float(a), 4), round(float(b), 4)) for a, b in pts.tolist()],
            point_labels=[[round(v, 3) for v in row] for row in labels.tolist()], notes=notes)

    def check_codes(self, codes: list[list[float]]) -> Tensor:
        d = self.synth.latent_dim
        bad = next((i for i, row in enumerate(codes) if len(row) != d), None)
        if bad is not None:
            raise SynthError(f"codes: point {bad} has {len(codes[bad])} values; this model's latent_dim is {d}")
        return torch.tensor(codes, dtype=torch.float32)

    def project(self, req: api.ProjectRequest) -> api.ProjectOut:
        xy = self.plane(req.plane).project(self.check_codes(req.codes))
        return api.ProjectOut(xy=[(float(a), float(b)) for a, b in xy.tolist()])

    # -- labels -----------------------------------------------------------------------------------------------
    def labels(self, req: api.Labels, n: int = 1) -> Tensor | None:
        if not self.synth.model.conditioned:
            return None
        pitch = torch.tensor(req.pitch) if isinstance(req.pitch, list) else req.pitch
        if isinstance(req.pitch, list) and len(req.pitch) not in (1, n):
            raise SynthError(f"pitch: a curve of {len(req.pitch)} values for a path of {n} points")
        return self.synth.labels(n if isinstance(req.pitch, list) and len(req.pitch) == n else 1, pitch,
                                 req.instrument, req.dynamics, req.style)

    # -- audio ------------------------------------------------------------------------------------------------
    def decode(self, req: api.DecodeRequest) -> tuple[np.ndarray, dict[str, str]]:
        """Audio ``[samples]`` of a point or path and headers (sample rate, samples, render time)."""
        t0 = time.perf_counter()
        if (req.codes is None) == (req.xy is None):
            raise SynthError("decode: give either codes (latent points) or xy (points of a plane)")
        if req.codes is not None:
            z = self.check_codes(req.codes)
        else:
            z = self.plane(req.plane).lift(torch.tensor(req.xy, dtype=torch.float32), req.plane.rest)
        self.labels(req, len(z))  # unknown names and bad pitch curves fail here, with their message
        if isinstance(req.pitch, list) and len(req.pitch) == 1:
            pitch = req.pitch[0]
        else:
            pitch = req.pitch
        constant_speed = req.constant_speed and len(z) > 1
        if len(z) == 1 and req.duration is not None:  # a held point: two equal points resample without copies
            z = z.expand(2, -1)
            if isinstance(pitch, list):
                pitch = pitch * 2
        pf = PathFile.model_construct(
            format=1, latent_dim=self.synth.latent_dim, codes=z.tolist(), pitch=pitch, instrument=req.instrument,
            dynamics=req.dynamics, style=req.style, duration=req.duration, constant_speed=constant_speed,
            meta={})
        y, zr, cr = render_path(self.synth, pf, req.method, seed=req.seed, phase=req.phase, fade=False)  # a stream
        headers = {"X-Sample-Rate": str(self.synth.spec.sample_rate), "X-Samples": str(len(y)),
                   "X-Points": str(len(z))}
        if self.synth.resolve(req.method) == "additive":  # where the next block continues the tone
            at = len(y) if req.phase_at is None else min(len(y), round(req.phase_at * self.synth.spec.sample_rate))
            headers["X-Phase"] = f"{round(self.synth.phase_after(zr, cr, at, req.phase), 9) % 1.0:.9f}"  # < 1
        headers["X-Render-Ms"] = f"{(time.perf_counter() - t0) * 1000:.2f}"
        return y, headers

    def encode(self, wav: Path, req: api.Labels, spec: api.PlaneSpec) -> api.PathOut:
        from ..synth import encode_note

        pitch = req.pitch[0] if isinstance(req.pitch, list) else req.pitch
        pf = encode_note(self.synth, wav, pitch, req.instrument, req.dynamics, req.style)
        pf.meta["source"] = "upload"
        return api.PathOut(path=pf, xy=self._xy(pf.z, spec))

    def _xy(self, z: Tensor, spec: api.PlaneSpec) -> list[tuple[float, float]]:
        return [(round(a, 5), round(b, 5)) for a, b in self.plane(spec).project(z).tolist()]

    # -- paths ------------------------------------------------------------------------------------------------
    def note_path(self, index: int) -> PathFile:
        return code_sample_note(self.synth, index)

    def make_path(self, req: api.PathRequest) -> api.PathOut:
        d = self.synth.latent_dim
        opt = req.options.model_dump(exclude_none=True)
        for key in ("dim", "pc"):
            if key in opt and opt[key] >= d:
                raise SynthError(f"options.{key}: a latent direction in 0..{d - 1}, got {opt[key]}")
        if req.plane.kind == "dims" and req.plane.dims is not None and req.kind in ("circle", "spiral"):
            opt["dims"] = tuple(req.plane.dims)
            self.plane(req.plane)  # checks the dims
        notes = [self.note_path(i) for i in req.notes] + list(req.paths)
        for k, v in (("pitch", req.pitch), ("instrument", req.instrument), ("dynamics", req.dynamics),
                     ("style", req.style)):
            if v is not None:
                opt[k] = v[0] if isinstance(v, list) else v
        self.labels(api.Labels(pitch=opt.get("pitch"), instrument=opt.get("instrument"),
                               dynamics=opt.get("dynamics"), style=opt.get("style")))
        pf = make_path(self.synth, req.kind, notes, points=req.points, seed=req.seed, **opt)
        labels = {k: opt[k] for k in ("pitch", "instrument", "dynamics", "style") if k in opt}
        if labels:
            pf = pf.model_copy(update=labels)
        for k in ("pitch", "instrument", "dynamics", "style"):
            pf.meta.pop(k, None)
        return api.PathOut(path=pf, xy=self._xy(pf.z, req.plane))

    # -- heatmaps ---------------------------------------------------------------------------------------------
    @torch.no_grad()
    def heatmap(self, req: api.HeatmapRequest) -> api.HeatmapOut:
        p = self.plane(req.plane)
        extent = req.extent or self.plane_out(req.plane).extent
        x0, x1, y0, y1 = extent
        if not (x1 > x0 and y1 > y0):
            raise SynthError(f"extent: expected x0 < x1 and y0 < y1, got {list(extent)}")
        n = req.size
        xs = torch.linspace(x0, x1, n)
        ys = torch.linspace(y0, y1, n)
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], -1).reshape(-1, 2)  # row-major, y rows
        if req.quantity == "density":
            values, unit = self._density(p, xs, ys), "relative density"
        else:
            values, unit = self._descriptor(p, grid, req)
        v = values.double()
        return api.HeatmapOut(quantity=req.quantity, size=n, extent=(x0, x1, y0, y1),
                              values=[round(float(a), 5) for a in v], min=float(v.min()), max=float(v.max()),
                              unit=unit)

    def _density(self, p: Plane, xs: Tensor, ys: Tensor) -> Tensor:
        """Gaussian KDE of the training codes in the plane (:func:`~latentsynth.synth.descriptors.kde_grid`) on
        the grid ``xs [n] x ys [n]``, row-major (y rows), scaled to a maximum of 1 (zeros without codes)."""
        if self.synth.codes is None:
            return torch.zeros(len(xs) * len(ys))
        pts = p.project(self.synth.codes.codes).double().numpy()
        dens = kde_grid(pts, xs.double().numpy(), ys.double().numpy())
        if dens is None:
            return torch.zeros(len(xs) * len(ys))
        out = torch.from_numpy(dens.reshape(-1))
        return out / out.max().clamp_min(1e-300)

    def _descriptor(self, p: Plane, grid: Tensor, req: api.HeatmapRequest) -> tuple[Tensor, str]:
        """A descriptor (mean over a window model's frames) of the decoded codes at the grid's points, any
        representation (:func:`~latentsynth.synth.descriptors.decoded_descriptors`), and its unit."""
        z = p.lift(grid, req.plane.rest)
        desc = decoded_descriptors(self.synth, z, self.labels(req, 1), (req.quantity,))[req.quantity]
        return desc.mean(-1), UNITS[req.quantity]
