"""Audio descriptors over the latent space of a frame model (Exercise 5): maps, curves, path trajectories.

Everything is computed with the differentiable descriptors of
:func:`latentsynth.evaluation.descriptors.torch_descriptors` (centroid, bandwidth, flatness, soft rolloff, RMS
level) on the **decoded linear STFT magnitudes** of codes, so the same numbers feed the figures, the study and
the gradient descent of :mod:`.target`:

* :func:`decoded_descriptors` ``(synth, z [N, d], c) -> {name: [N, W]}`` (one value per decoded frame; ``W``
  frames per code for window models), differentiable when asked;
* :func:`descriptor_map` / :func:`plot_descriptor_maps`: each descriptor over an ``n x n`` grid of a latent
  plane (the PCA plane of the training codes, or two latent dimensions), with the density of the training codes
  (Gaussian KDE in the plane) drawn as contours;
* :func:`descriptor_curves` / :func:`plot_descriptor_curves`: each descriptor along each latent dimension or
  principal direction through the centre of the codes;
* :func:`path_descriptors` / :func:`path_report`: a path's descriptor trajectories (decoded magnitudes, or
  librosa on its rendered audio, with YIN f0) and their shape scores (smoothness, monotonicity, total-variation
  ratio, f0 stability) plus the path's latent and decoded lengths.

Representations. STFT models decode linear STFT bins directly. CQT models go back through the non-negative map
of :func:`latentsynth.dsp.transforms.cqt_to_linear` (one matrix product). Mel models go back through a fixed
**band-spread** map (:func:`mel_spread_basis`): each STFT bin gets the band-average magnitude of the mel bands
that cover it, weighted by their filter weights. It is exact for a flat spectrum, one matrix product, and
differentiable; the NNLS of :func:`~latentsynth.dsp.transforms.mel_to_linear` (200 multiplicative updates of a
513 x 513 Gram matrix per frame) would cost ~100x more on a 64 x 64 map, and computing the descriptors on the
mel bins' centre frequencies would weight the wide high bands like the narrow low ones. Both approximations
smear narrow peaks within a mel band, so the centroid of a mel model is band-accurate, not bin-accurate.

Duck typing: every function takes a :class:`~.engine.Synth`, or any object with ``latent_dim``, ``spec`` (a
:class:`~latentsynth.dsp.transforms.SpecConfig`), ``codes`` (a :class:`~latentsynth.folders.CodeSample` or None),
``hop_seconds`` and ``decode_magnitudes(z, c) -> [N, W, n_fft // 2 + 1]`` (differentiable linear STFT
magnitudes): the toy decoders of the tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dsp.transforms import SpecConfig, cqt_inverse_basis, mel_basis
from ..evaluation.descriptors import TORCH_DESCRIPTORS, frame_descriptors, label, path_metrics, torch_descriptors
from ..latent.geodesic import curve_length
from ..latent.planes import code_plane, principal_directions
from .engine import conditioned as _conditioned_synth
from .engine import labels_for

BATCH = 1024  # codes decoded at once


# ------------------------------------------------------------------------------------ decoded magnitudes


@lru_cache(maxsize=4)
def _mel_spread(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    spec = SpecConfig(representation="mel", sample_rate=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    M = mel_basis(spec).astype(np.float64)  # [n_mels, F]
    share = M / np.maximum(M.sum(0, keepdims=True), 1e-30)  # bin f: weights of the bands covering it
    return (share.T / np.maximum(M.sum(1), 1e-30)[None, :]).astype(np.float32)  # band averages mel_m / sum M[m]


def mel_spread_basis(spec: SpecConfig) -> Tensor:
    """``A [n_fft // 2 + 1, n_mels]``: linear magnitude ``x_f = sum_m A[f, m] mel_m``, the band averages
    ``mel_m / sum_f M[m, f]`` of the mel bands covering bin ``f`` weighted by their filter weights ``M[m, f]``
    (normalised over the bands; 0 outside ``[fmin, fmax]``). Exact for a flat spectrum."""
    return torch.from_numpy(_mel_spread(spec.sample_rate, spec.n_fft, spec.n_mels, spec.fmin, spec.fmax))


def to_linear_stft(mag: Tensor, spec: SpecConfig) -> Tensor:
    """Magnitudes ``[..., F]`` of ``spec.representation`` -> linear STFT magnitudes ``[..., n_fft // 2 + 1]``
    (differentiable; see the module doc for mel and CQT)."""
    if spec.representation == "stft":
        return mag
    if spec.representation == "mel":
        A = mel_spread_basis(spec)
    else:
        A = torch.from_numpy(cqt_inverse_basis(spec))
    return mag @ A.to(mag).T


def decode_magnitudes(synth, z: Tensor, c: Tensor | None = None) -> Tensor:
    """Differentiable linear STFT magnitudes ``[N, W, n_fft // 2 + 1]`` of codes ``z [N, d]`` (labels ``c``
    ``[N, 4]`` for a conditioned model)."""
    if hasattr(synth, "decode_magnitudes"):
        return synth.decode_magnitudes(z, c)
    model = synth.model
    out = model.likelihood.mean(model.decode(z, c if model.conditioned else None))
    mag = model.to_magnitude(out.reshape(len(z), -1, out.shape[-1]))
    return to_linear_stft(mag, synth.spec)


def decoded_descriptors(synth, z: Tensor, c: Tensor | dict | None = None,
                        names: tuple[str, ...] = TORCH_DESCRIPTORS, grad: bool = False,
                        batch: int = BATCH) -> dict[str, Tensor]:
    """``{name: [N, W]}`` torch descriptors of the decoded frames of ``z [N, d]`` (``c``: labels ``[N, 4]``,
    ``[1, 4]`` or a dict of names). With ``grad`` one differentiable pass; otherwise no-grad chunks of
    ``batch`` codes."""
    unknown = [n for n in names if n not in TORCH_DESCRIPTORS]
    if unknown:
        raise ValueError(f"descriptors: {unknown} are not differentiable ones; choose from {TORCH_DESCRIPTORS}")
    z = torch.as_tensor(z, dtype=torch.float32)
    c = c if isinstance(c, Tensor) and len(c) == len(z) else labels_for(synth, len(z), c)
    sr, n_fft = synth.spec.sample_rate, synth.spec.n_fft

    def one(zz, cc):
        d = torch_descriptors(decode_magnitudes(synth, zz, cc), sr, n_fft)
        return {n: d[n] for n in names}

    if grad:
        return one(z, c)
    parts: list[dict[str, Tensor]] = []
    with torch.no_grad():
        for i in range(0, len(z), batch):
            parts.append(one(z[i:i + batch], None if c is None else c[i:i + batch]))
    return {n: torch.cat([p[n] for p in parts]) for n in names}


def code_descriptors(synth, batch: int = BATCH) -> dict[str, np.ndarray]:
    """``{name: [N]}`` descriptors of the decoded training codes of the model's code sample, each with its
    own labels (mean over a window model's frames): what the model makes of its training data."""
    cs = synth.codes
    if cs is None:
        raise ValueError("the model has no saved training codes (codes.safetensors)")
    c = cs.labels.float() if _conditioned_synth(synth) else None
    d = decoded_descriptors(synth, cs.codes, c, batch=batch)
    return {k: v.mean(-1).numpy().astype(np.float64) for k, v in d.items()}


# ------------------------------------------------------------------------------------------------- maps


def latent_plane(synth, plane: tuple[Tensor, Tensor, Tensor] | tuple[int, int] | None = None,
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """``(centre [d], basis [2, d], scale [2])`` of ``plane``: given as such, two latent dimensions (through
    the codes' mean, scaled by their std), or None: the PCA plane of the training codes (unit plane through 0
    without codes); see :func:`latentsynth.latent.planes.code_plane`."""
    if plane is not None and len(plane) == 3 and isinstance(plane[0], Tensor):
        centre, basis, scale = (torch.as_tensor(v, dtype=torch.float32) for v in plane)
        return centre, basis, scale
    return code_plane(synth.codes.codes if synth.codes is not None else None, synth.latent_dim,
                      None if plane is None else tuple(plane))


@dataclass
class DescriptorMap:
    """Descriptors over a latent plane: ``values[name] [n, n]`` (row ``i`` = ``v[i]``, column ``j`` =
    ``u[j]``: ``imshow(origin="lower")`` order), grid coordinates ``u``, ``v`` ``[n]`` in stds of the codes
    along the plane's axes, ``density [n, n]`` (Gaussian KDE of the projected training codes, None without
    codes), the plane, and the projected codes ``points [M, 2]``. ``m["centroid"]`` reads ``values``."""

    values: dict[str, np.ndarray]
    u: np.ndarray
    v: np.ndarray
    density: np.ndarray | None
    centre: Tensor
    basis: Tensor
    scale: Tensor
    points: np.ndarray | None = None
    title: str = ""
    seconds: float = 0.0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def keys(self):
        return self.values.keys()

    def codes_at(self, u: np.ndarray, v: np.ndarray) -> Tensor:
        """Codes ``[..., d]`` at plane coordinates ``u``, ``v`` (in stds)."""
        uu = torch.as_tensor(np.asarray(u), dtype=torch.float32)[..., None] * self.scale[0]
        vv = torch.as_tensor(np.asarray(v), dtype=torch.float32)[..., None] * self.scale[1]
        return self.centre + uu * self.basis[0] + vv * self.basis[1]


def descriptor_map(synth, plane: tuple | None = None, labels: Tensor | dict | None = None, n: int = 64,
                   extent: float = 3.0, descriptors: tuple[str, ...] = TORCH_DESCRIPTORS,
                   batch: int = 4096) -> DescriptorMap:
    """Each descriptor (mean over a window model's frames) over an ``n x n`` grid spanning ``+- extent`` stds
    of the training codes along both axes of ``plane`` (see :func:`latent_plane`), decoded with ``labels``
    (default: the model's middle pitch, first names). 64 x 64 takes ~1-3 s on one CPU thread
    (``docs/benchmarks/descriptor_map.md``)."""
    import time

    t0 = time.perf_counter()
    centre, basis, scale = latent_plane(synth, plane)
    u = np.linspace(-extent, extent, n)
    m = DescriptorMap({}, u, u.copy(), None, centre, basis, scale)
    uu, vv = np.meshgrid(u, u)  # [n, n]: row = v
    z = m.codes_at(uu, vv).reshape(-1, synth.latent_dim)
    d = decoded_descriptors(synth, z, labels, descriptors, batch=batch)
    m.values = {k: v.mean(-1).reshape(n, n).numpy().astype(np.float64) for k, v in d.items()}
    if synth.codes is not None:
        pts = ((synth.codes.codes.float() - centre) @ basis.T / scale).numpy()
        m.points = pts
        m.density = kde_grid(pts, u, u)
    m.seconds = time.perf_counter() - t0
    return m


def kde_grid(points: np.ndarray, u: np.ndarray, v: np.ndarray, max_points: int = 2000) -> np.ndarray | None:
    """Gaussian KDE (Scott's bandwidth) of ``points [M, 2]`` on the grid ``u x v`` -> ``[len(v), len(u)]``
    (None when the points are degenerate); at most ``max_points`` points (evenly strided)."""
    from scipy.stats import gaussian_kde

    pts = points[:: max(1, math.ceil(len(points) / max_points))]
    if len(pts) < 3:
        return None
    try:
        kde = gaussian_kde(pts.T)
    except (np.linalg.LinAlgError, ValueError):
        return None
    uu, vv = np.meshgrid(u, v)
    return kde(np.stack([uu.ravel(), vv.ravel()])).reshape(len(v), len(u))


def plot_descriptor_maps(m: DescriptorMap, path: str | Path, title: str = "", cols: int = 3,
                         show_points: bool = False) -> Path:
    """One panel per descriptor of ``m`` (colour), with the training codes' density as contours."""
    from ..plots import plt, save_figure

    names = list(m.values)
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    ext = (m.u[0], m.u[-1], m.v[0], m.v[-1])
    for ax, name in zip(axes.flat, names, strict=False):
        im = ax.imshow(m.values[name], origin="lower", extent=ext, aspect="auto", cmap="viridis",
                       interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        if m.density is not None and m.density.max() > 0:
            levels = m.density.max() * np.array([0.05, 0.2, 0.5, 0.8])
            ax.contour(m.u, m.v, m.density, levels=levels, colors="white", linewidths=0.7, alpha=0.9)
        if show_points and m.points is not None:
            ax.scatter(m.points[:, 0], m.points[:, 1], s=1, c="white", alpha=0.2)
        ax.set_xlim(ext[0], ext[1]), ax.set_ylim(ext[2], ext[3])
        ax.set_title(label(name), fontsize=9)
        ax.set_xlabel("axis 1 (stds)", fontsize=8), ax.set_ylabel("axis 2 (stds)", fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle(title or m.title or "descriptors over the latent plane (contours: training codes' density)",
                 fontsize=10)
    fig.tight_layout()
    return save_figure(fig, Path(path))


# ----------------------------------------------------------------------------------------------- curves


@dataclass
class DescriptorCurves:
    """Descriptors along latent directions: ``offsets [n]`` (stds of the codes along each direction) and
    ``curves[direction][name] [n]`` (directions named ``dim 3`` or ``pc 0``)."""

    offsets: np.ndarray
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)


def descriptor_curves(synth, directions: str = "pca", span: float = 3.0, n: int = 41,
                      labels: Tensor | dict | None = None, descriptors: tuple[str, ...] = TORCH_DESCRIPTORS,
                      max_directions: int | None = None) -> DescriptorCurves:
    """Each descriptor along each latent dimension (``"dims"``) or principal direction of the training
    codes (``"pca"``, by decreasing variance) through the codes' mean, over ``+- span`` stds in ``n`` steps."""
    d = synth.latent_dim
    codes = synth.codes.codes.float() if synth.codes is not None else None
    centre = codes.mean(0) if codes is not None else torch.zeros(d)
    if directions == "dims":
        dirs = torch.eye(d)
        stds = codes.std(0) if codes is not None else torch.ones(d)
        names = [f"dim {i}" for i in range(d)]
    elif directions == "pca":
        dirs, stds = (torch.eye(d), torch.ones(d)) if codes is None else principal_directions(codes)
        names = [f"pc {i}" for i in range(len(dirs))]
    else:
        raise ValueError(f"directions: 'dims' or 'pca', got {directions!r}")
    k = len(dirs) if max_directions is None else min(max_directions, len(dirs))
    off = np.linspace(-span, span, n)
    t = torch.as_tensor(off, dtype=torch.float32)
    z = centre + (t[None, :, None] * stds[:k, None, None].clamp_min(1e-6)) * dirs[:k, None, :]  # [k, n, d]
    vals = decoded_descriptors(synth, z.reshape(-1, d), labels, descriptors)
    out = DescriptorCurves(off)
    for i in range(k):
        out.curves[names[i]] = {nm: v.mean(-1).reshape(k, n)[i].numpy().astype(np.float64)
                                for nm, v in vals.items()}
    return out


def plot_descriptor_curves(curves: DescriptorCurves, path: str | Path, title: str = "", cols: int = 3,
                           max_lines: int = 8) -> Path:
    """One panel per descriptor, one line per direction (the first ``max_lines``)."""
    from ..plots import plt, save_figure

    dirs = list(curves.curves)[:max_lines]
    names = list(curves.curves[dirs[0]]) if dirs else []
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, name in zip(axes.flat, names, strict=False):
        for i, dname in enumerate(dirs):
            ax.plot(curves.offsets, curves.curves[dname][name], color=cmap(i % 10), lw=1.2, label=dname)
        ax.set_title(label(name), fontsize=9)
        ax.set_xlabel("offset (stds)", fontsize=8)
        ax.axvline(0, color="grey", lw=0.5)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=7, ncol=2)
    fig.suptitle(title or "descriptors along latent directions", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, Path(path))


# ------------------------------------------------------------------------------------------------ paths


def path_descriptors(synth, z: Tensor, c: Tensor | dict | None = None, from_audio: bool = False,
                     audio: np.ndarray | None = None, method: str = "auto", f0: bool = True) -> dict[str, np.ndarray]:
    """Descriptor trajectories of a path ``z [T, d]``: ``{name: [T * W]}``.

    Default: torch descriptors of each decoded frame (:data:`TORCH_DESCRIPTORS`). ``from_audio``: librosa
    :func:`~latentsynth.evaluation.descriptors.frame_descriptors` (all eight, f0 by YIN when ``f0``) of the
    rendered audio (``audio`` if given, else ``synth.render(z, c, method)``), one value per hop."""
    z = torch.as_tensor(z, dtype=torch.float32)
    if not from_audio:
        return {k: v.reshape(-1).numpy().astype(np.float64) for k, v in decoded_descriptors(synth, z, c).items()}
    if audio is None:
        audio = synth.render(z, labels_for(synth, len(z), c) if not isinstance(c, Tensor) else c, method)
    spec = synth.spec
    return frame_descriptors(np.asarray(audio, dtype=np.float32), spec.sample_rate, spec.n_fft, spec.hop_length,
                             f0=f0, f0_method="yin")


def path_report(synth, z: Tensor, c: Tensor | dict | None = None, from_audio: bool = False,
                audio: np.ndarray | None = None, method: str = "auto",
                desc: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """:func:`~latentsynth.evaluation.descriptors.path_metrics` of the path's trajectories (``desc`` if
    already computed, else :func:`path_descriptors`) plus ``latent_length`` (sum of latent steps),
    ``decoded_length`` (sum of steps between decoded frames in data space, the geodesics' metric) and
    ``points``; from audio also ``voiced`` (fraction of frames with an f0)."""
    z = torch.as_tensor(z, dtype=torch.float32)
    if desc is None:
        desc = path_descriptors(synth, z, c, from_audio, audio, method)
    out = path_metrics(desc)
    out["latent_length"] = float((z[1:] - z[:-1]).norm(dim=-1).sum()) if len(z) > 1 else 0.0
    out["decoded_length"] = decoded_length(synth, z, c)
    out["points"] = float(len(z))
    if "f0" in desc:
        out["voiced"] = float(np.isfinite(desc["f0"]).mean()) if len(desc["f0"]) else math.nan
    return out


def decoded_length(synth, z: Tensor, c: Tensor | dict | None = None) -> float:
    """Length of the path in the decoded data space (:func:`~latentsynth.latent.geodesic.curve_length` with
    the synth's decoder at the path's first labels); the dB length of the magnitudes for duck-typed synths."""
    if len(z) < 2:
        return 0.0
    with torch.no_grad():
        if hasattr(synth, "decoded_distance_fn"):
            cc = labels_for(synth, 1, c) if not isinstance(c, Tensor) else c[:1]
            return float(curve_length(z, synth.decoded_distance_fn(cc)))
        return float(curve_length(z, lambda zz: 20 * torch.log10(decode_magnitudes(synth, zz, None)
                                                                  .clamp_min(1e-5)).flatten(1)))
