"""Paths in latent space: interpolations, traversals and path generators (shared by images and audio).

A *path* is a tensor ``[T, d]``: T latent codes in time order. Every generator here is a pure, batched torch
function (no module state, no latentsynth import but the argument checks of
:mod:`latentsynth.latent.checks`), so the synthesis engine and the browser instrument can
build a note's trajectory from notes' encoded paths, the prior, or a plane of the latent space:

* time alignment and blending of notes: :func:`resample_path`, :func:`lerp_paths`, :func:`slerp_paths`,
  :func:`interpolate_paths` (n notes, barycentric weights), :func:`expressive_interpolation` (blend the notes'
  mean codes, keep their attack/decay deviation);
* walks and traversals: :func:`traversal_path`, :func:`random_walk`, :func:`prior_path`;
* curves in a plane (planes themselves: :mod:`latentsynth.latent.planes`): :func:`circle`, :func:`spiral`;
* drawn curves: :func:`polyline` (uniform in arc length), :func:`bezier` (de Casteljau).

A mixing fraction ``alpha`` is a float, a 0-d tensor, or a ``[T]`` curve (the blend moves over the note's
time). Arguments are checked and a wrong one raises ``ValueError`` naming it. Decoded-space geometry (geodesics,
constant-speed reparametrisation) lives in :mod:`latentsynth.latent.geodesic`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .checks import alpha_curve, check_basis, check_path, check_T, check_vec, same_d
from .planes import pca_plane, plane_basis  # noqa: F401 - planes live in .planes; re-exported for path callers

# ----------------------------------------------------------------------------------------------------------------
# two-point interpolation (used by the image figures)


def lerp(a: Tensor, b: Tensor, steps: int) -> Tensor:
    """Straight line from ``a`` to ``b`` ``[d]`` (or ``[B, d]``): returns ``[steps, *a.shape]``."""
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).view(-1, *([1] * a.dim()))
    return (1 - t) * a + t * b


def slerp_at(a: Tensor, b: Tensor, t: Tensor, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation of ``a`` and ``b`` ``[..., d]`` at fractions ``t`` (broadcastable against
    ``[..., 1]``): ``sin((1-t) w)/sin w * a + sin(t w)/sin w * b`` with w the angle between a and b. Falls back to
    lerp where a and b are (anti)parallel. Returns the broadcast shape ``[..., d]``."""
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    cos = ((a / na.clamp_min(eps)) * (b / nb.clamp_min(eps))).sum(-1, keepdim=True).clamp(-1, 1)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    ok = so.abs() > 1e-4
    safe = torch.where(ok, so, torch.ones_like(so))
    wa = torch.where(ok, torch.sin((1 - t) * omega) / safe, 1 - t)
    wb = torch.where(ok, torch.sin(t * omega) / safe, t)
    return wa * a + wb * b


def slerp(a: Tensor, b: Tensor, steps: int, eps: float = 1e-7) -> Tensor:
    """Spherical interpolation (White 2016) between ``a`` and ``b`` ``[..., d]``: returns ``[steps, ..., d]``.

    Follows the great circle through a and b (the norm is kept when ``|a| = |b|``, and stays near the prior's
    typical norm for two prior samples); falls back to lerp when the two vectors are (anti)parallel.
    """
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device).view(-1, *([1] * a.dim()))
    return slerp_at(a, b, t, eps)


def traversal(base: Tensor, dims: list[int] | None, values: Tensor) -> Tensor:
    """Move one dimension at a time: for each dim j in ``dims`` and each value v, a copy of ``base`` ``[d]`` with
    z_j = v. Returns ``[len(dims), len(values), d]``."""
    dims = list(range(base.shape[-1])) if dims is None else dims
    out = base.expand(len(dims), len(values), base.shape[-1]).clone()
    for i, j in enumerate(dims):
        out[i, :, j] = values
    return out


# ----------------------------------------------------------------------------------------------------------------
# time alignment and blends of notes


def resample_path(path: Tensor, T: int) -> Tensor:
    """Linear, time-aligned resampling of ``path`` ``[T0, d]`` to ``[T, d]``: output point k sits at the same
    fraction k/(T-1) of the note's duration as input position k (T0-1)/(T-1); the first and last points are
    kept. A single-point path is repeated. Used to align notes of different lengths before blending."""
    check_path(path)
    check_T(T)
    T0 = path.shape[0]
    if T0 == 1:
        return path.expand(T, -1).clone()
    pos = torch.linspace(0, T0 - 1, T, dtype=path.dtype, device=path.device)
    lo = pos.floor().long().clamp(max=T0 - 2)
    frac = (pos - lo.to(path.dtype)).unsqueeze(-1)
    return (1 - frac) * path[lo] + frac * path[lo + 1]


def _aligned(paths: Sequence[Tensor], T: int) -> Tensor:
    """Check and time-align notes' paths: returns ``[n, T, d]``."""
    if len(paths) < 1:
        raise ValueError("paths must hold at least one path [Ti, d]")
    for i, p in enumerate(paths):
        check_path(p, f"paths[{i}]")
        same_d("paths[0]", paths[0], f"paths[{i}]", p)
    return torch.stack([resample_path(p, T) for p in paths])


def _blend_weights(weights: Tensor | Sequence[float], n: int, T: int, like: Tensor) -> Tensor:
    """Barycentric weights ``[n]`` or ``[T, n]`` as ``[T, n]``, each row normalised to sum 1."""
    w = torch.as_tensor(weights, dtype=like.dtype, device=like.device)
    if w.dim() == 1 and w.shape[0] == n:
        w = w.expand(T, n)
    elif not (w.dim() == 2 and tuple(w.shape) == (T, n)):
        raise ValueError(f"weights must be a tensor [n] = [{n}] or [T, n] = [{T}, {n}], got {tuple(w.shape)}")
    s = w.sum(-1, keepdim=True)
    if bool((s.abs() < 1e-8).any()):
        raise ValueError("weights must not sum to zero (they are normalised to sum 1 per time step)")
    return w / s


def _blend_deviation(devs: Tensor, w: Tensor, keep_norm: bool, eps: float = 1e-8) -> Tensor:
    """Blend deviations ``devs`` ``[n, T, d]`` with weights ``w`` ``[T, n]`` -> ``[T, d]``. With ``keep_norm``,
    each time step's blended deviation is rescaled to the blended norm sum_i w_i |dev_i(t)|, so averaging
    uncorrelated deviations does not flatten the notes' temporal evolution."""
    wt = w.transpose(0, 1).unsqueeze(-1)  # [n, T, 1]
    dev = (wt * devs).sum(0)
    if not keep_norm:
        return dev
    target = (wt * devs.norm(dim=-1, keepdim=True)).sum(0)  # [T, 1]
    cur = dev.norm(dim=-1, keepdim=True)
    ok = cur > eps
    return torch.where(ok, dev * target / torch.where(ok, cur, torch.ones_like(cur)), dev)


def interpolate_paths(paths: Sequence[Tensor], T: int, weights: Tensor | Sequence[float],
                      expressive: bool = False) -> Tensor:
    """Blend n notes' paths ``paths[i]`` ``[Ti, d]`` with barycentric ``weights`` ``[n]`` (fixed) or ``[T, n]``
    (moving over time); each row is normalised to sum 1. The paths are first time-aligned to T points
    (:func:`resample_path`). ``expressive=False``: the weighted mean of the aligned paths. ``expressive=True``:
    weighted mean of the notes' mean codes plus the blended deviations rescaled to the blended deviation norm
    (see :func:`expressive_interpolation`). Returns ``[T, d]``."""
    check_T(T)
    P = _aligned(paths, T)  # [n, T, d]
    w = _blend_weights(weights, P.shape[0], T, P)  # [T, n]
    if not expressive:
        return torch.einsum("tn,ntd->td", w, P)
    means = P.mean(1, keepdim=True)  # [n, 1, d]
    mean = torch.einsum("tn,nd->td", w, means.squeeze(1))
    return mean + _blend_deviation(P - means, w, keep_norm=True)


def lerp_paths(a: Tensor, b: Tensor, T: int, alpha: float | Tensor = 0.5) -> Tensor:
    """Linear blend of two notes' paths ``a`` ``[Ta, d]`` and ``b`` ``[Tb, d]``, time-aligned to T points:
    ``(1 - alpha) a + alpha b`` with alpha a float or a ``[T]`` curve (alpha 0 gives note a, 1 note b).
    Returns ``[T, d]``."""
    check_T(T)
    A, B = _aligned([a, b], T)
    al = alpha_curve(alpha, T, A)
    return (1 - al) * A + al * B


def slerp_paths(a: Tensor, b: Tensor, T: int, alpha: float | Tensor = 0.5) -> Tensor:
    """Spherical blend of two notes' paths ``a`` ``[Ta, d]`` and ``b`` ``[Tb, d]``: at each of the T aligned time
    steps, the slerp of a(t) and b(t) at fraction alpha (float or ``[T]`` curve). Keeps blended codes near the
    prior's typical norm, where lerp shrinks them. Returns ``[T, d]``."""
    check_T(T)
    A, B = _aligned([a, b], T)
    return slerp_at(A, B, alpha_curve(alpha, T, A))


def expressive_interpolation(a: Tensor, b: Tensor, T: int, alpha: float | Tensor = 0.5,
                             mean: str = "lerp", keep_deviation_norm: bool = True) -> Tensor:
    """Blend two notes while keeping their temporal evolution (attack, decay).

    Each time-aligned path ``[T, d]`` is split into its mean code m (over time) and its deviation
    dev(t) = z(t) - m. The means are interpolated (``mean="lerp"`` or ``"slerp"``) and the deviations blended
    with the same fraction; with ``keep_deviation_norm`` the blended deviation at each time step is rescaled to
    ``(1-alpha)|dev_a(t)| + alpha |dev_b(t)|``, so two uncorrelated evolutions do not average out into a static
    sound. When both notes have the same deviation, the result is that deviation around the blended mean.
    ``alpha``: float or ``[T]`` curve. Returns ``[T, d]``; alpha 0 (1) gives note a (b) exactly.
    """
    check_T(T)
    if mean not in ("lerp", "slerp"):
        raise ValueError(f"mean must be 'lerp' or 'slerp', got {mean!r}")
    P = _aligned([a, b], T)  # [2, T, d]
    al = alpha_curve(alpha, T, P)  # [T, 1]
    means = P.mean(1, keepdim=True)  # [2, 1, d]
    ma, mb = means[0], means[1]
    m = (1 - al) * ma + al * mb if mean == "lerp" else slerp_at(ma, mb, al)
    w = torch.cat([1 - al, al], dim=-1)  # [T, 2]
    return m + _blend_deviation(P - means, w, keep_norm=keep_deviation_norm)


# ----------------------------------------------------------------------------------------------------------------
# traversals and walks


def traversal_path(center: Tensor, direction: Tensor, span: float, T: int) -> Tensor:
    """Straight traversal through ``center`` ``[d]`` along ``direction`` ``[d]`` (a unit basis vector for one
    latent dimension, see :func:`plane_basis`, or a PCA direction, see :func:`pca_plane`), from
    ``center - span * direction`` to ``center + span * direction`` (span in units of the direction, e.g. prior
    stds for a unit vector). Returns ``[T, d]``."""
    check_vec(center, "center")
    check_vec(direction, "direction", center.shape[0])
    check_T(T)
    if not math.isfinite(float(span)):
        raise ValueError(f"span must be a finite float, got {span!r}")
    s = torch.linspace(-float(span), float(span), T, dtype=center.dtype, device=center.device).unsqueeze(-1)
    return center + s * direction


def random_walk(start: Tensor, T: int, step: float, pull: float, generator: torch.Generator | None = None,
                prior_scale: float = 1.0, mean: Tensor | None = None) -> Tensor:
    """Ornstein-Uhlenbeck-like walk from ``start`` ``[d]``:
    ``z[t+1] = mu + (1 - pull) (z[t] - mu) + step * prior_scale * eps[t]``, eps ~ N(0, I) drawn from
    ``generator`` (deterministic given its seed). ``pull`` in [0, 1] is the mean reversion toward the prior mean
    ``mu`` (``mean``, default 0): 0 is a free random walk, 1 redraws every point around mu. ``step`` is in prior
    stds (``prior_scale``); for pull > 0 the stationary std per dimension is
    ``step * prior_scale / sqrt(1 - (1 - pull)^2)``. Returns ``[T, d]`` with ``z[0] = start``."""
    check_vec(start, "start")
    check_T(T)
    if not 0.0 <= float(pull) <= 1.0:
        raise ValueError(f"pull must be in [0, 1], got {pull!r}")
    if float(step) < 0 or float(prior_scale) <= 0:
        raise ValueError(f"step must be >= 0 and prior_scale > 0, got step={step!r}, prior_scale={prior_scale!r}")
    mu = torch.zeros_like(start) if mean is None else check_vec(mean, "mean", start.shape[0])
    eps = torch.randn(T - 1, start.shape[0], generator=generator, dtype=start.dtype, device=start.device)
    noise = float(step) * float(prior_scale) * eps
    keep = 1.0 - float(pull)
    out = [start - mu]  # x = z - mu; the noise is drawn at once, the cheap linear recursion runs over T
    x = start - mu
    for t in range(T - 1):
        x = keep * x + noise[t]
        out.append(x)
    return torch.stack(out) + mu


def prior_path(prior: Callable[[int], Tensor] | float, T: int, generator: torch.Generator | None = None,
               smooth: int = 8, d: int | None = None) -> Tensor:
    """Prior samples as a smooth path: anchors drawn every ``smooth`` points and joined by slerp (which keeps
    the Gaussian prior's typical norm between anchors). ``prior``: a sampler ``n -> [n, d]`` (e.g. a learned
    prior's ``sample``; its own randomness) or a float prior scale, then anchors are
    ``prior * N(0, I_d)`` drawn from ``generator`` (``d`` required). Returns ``[T, d]``; point 0 is the first
    anchor, and so is every ``smooth``-th point."""
    check_T(T)
    check_T(smooth, "smooth", 1)
    k = math.ceil((T - 1) / smooth) + 1  # anchors needed to cover T points
    if callable(prior):
        anchors = prior(k)
        if not isinstance(anchors, Tensor) or anchors.dim() != 2 or anchors.shape[0] != k:
            raise ValueError(f"prior(n) must return a tensor [n, d]; asked n={k}, got "
                             f"{tuple(anchors.shape) if isinstance(anchors, Tensor) else type(anchors).__name__}")
        if d is not None and anchors.shape[1] != d:
            raise ValueError(f"latent sizes differ: d={d} but prior(n) returned d={anchors.shape[1]}")
    else:
        if d is None or isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ValueError(f"d must be a positive int when prior is a scale, got {d!r}")
        if not float(prior) > 0:
            raise ValueError(f"prior (a scale) must be > 0, got {prior!r}")
        anchors = float(prior) * torch.randn(k, d, generator=generator)
    anchors = anchors.detach() if anchors.requires_grad else anchors
    t = torch.arange(smooth, dtype=anchors.dtype, device=anchors.device).view(-1, 1, 1) / smooth  # [s, 1, 1]
    seg = slerp_at(anchors[:-1].unsqueeze(0), anchors[1:].unsqueeze(0), t)  # [smooth, k-1, d]
    path = torch.cat([seg.transpose(0, 1).reshape(-1, anchors.shape[1]), anchors[-1:]])
    return path[:T].contiguous()


# ----------------------------------------------------------------------------------------------------------------
# planes and curves in them


def _plane_curve(centre: Tensor, basis: Tensor, radius: Tensor, theta: Tensor) -> Tensor:
    """``centre + r(t) (cos theta_t b0 + sin theta_t b1)``; radius ``[T, 1]`` or ``[T, 2]`` (per axis)."""
    uv = torch.stack([torch.cos(theta), torch.sin(theta)], -1) * radius  # [T, 2]
    return centre + uv @ basis


def _radius(radius: float | Tensor, name: str, like: Tensor) -> Tensor:
    r = torch.as_tensor(radius, dtype=like.dtype, device=like.device)
    if r.dim() > 1 or (r.dim() == 1 and r.shape[0] != 2):
        raise ValueError(f"{name} must be a float or a tensor [2] (one radius per basis axis), got {tuple(r.shape)}")
    return r.reshape(1, -1)  # [1, 1] or [1, 2]


def circle(centre: Tensor, basis: Tensor, radius: float | Tensor, T: int, revolutions: float = 1.0,
           phase: float = 0.0, endpoint: bool = True) -> Tensor:
    """Circle around ``centre`` ``[d]`` in the plane of ``basis`` ``[2, d]`` (orthonormal rows: then every point
    is at distance ``radius`` from the centre; a ``[2]`` radius gives an ellipse, e.g. ``scale`` from
    :func:`pca_plane`). Angle goes from ``phase`` by ``revolutions`` turns; with ``endpoint`` the last point is
    the angle's end (a whole number of revolutions closes the loop: last point = first), without it the T points
    split the turn evenly (for seamless looping). Returns ``[T, d]``."""
    check_vec(centre, "centre")
    check_basis(basis, centre.shape[0])
    check_T(T)
    r = _radius(radius, "radius", centre)
    frac = torch.linspace(0, 1, T, dtype=centre.dtype, device=centre.device) if endpoint else \
        torch.arange(T, dtype=centre.dtype, device=centre.device) / T
    theta = float(phase) + 2 * math.pi * float(revolutions) * frac
    return _plane_curve(centre, basis.to(centre.dtype), r, theta)


def spiral(centre: Tensor, basis: Tensor, r0: float, r1: float, T: int, revolutions: float = 1.0,
           phase: float = 0.0) -> Tensor:
    """Spiral around ``centre`` ``[d]`` in the plane of ``basis`` ``[2, d]``: the radius goes linearly
    (monotone) from ``r0`` to ``r1`` while the angle turns ``revolutions`` times from ``phase``. Returns
    ``[T, d]``."""
    check_vec(centre, "centre")
    check_basis(basis, centre.shape[0])
    check_T(T)
    if float(r0) < 0 or float(r1) < 0:
        raise ValueError(f"r0 and r1 must be >= 0, got r0={r0!r}, r1={r1!r}")
    frac = torch.linspace(0, 1, T, dtype=centre.dtype, device=centre.device)
    theta = float(phase) + 2 * math.pi * float(revolutions) * frac
    r = (float(r0) + (float(r1) - float(r0)) * frac).unsqueeze(-1)
    return _plane_curve(centre, basis.to(centre.dtype), r, theta)


# ----------------------------------------------------------------------------------------------------------------
# drawn curves


def polyline(points: Tensor, T: int) -> Tensor:
    """T points along the polyline through ``points`` ``[P, d]``, uniformly spaced in (latent, Euclidean) arc
    length; the first and last points are the polyline's ends, and a vertex is hit exactly when its arc length
    falls on the grid (e.g. equal segment lengths and T - 1 a multiple of P - 1). Returns ``[T, d]``."""
    check_path(points, "points", min_len=2)
    check_T(T)
    seg = (points[1:] - points[:-1]).norm(dim=-1)  # [P-1]
    cum = torch.cat([seg.new_zeros(1), seg.cumsum(0)])  # [P]
    total = cum[-1]
    if float(total) <= 0:
        return points[:1].expand(T, -1).clone()
    s = torch.linspace(0, 1, T, dtype=points.dtype, device=points.device) * total
    # segment index: last vertex with cum <= s, skipping zero-length segments
    i = (torch.searchsorted(cum.contiguous(), s.contiguous(), right=True) - 1).clamp(0, points.shape[0] - 2)
    frac = ((s - cum[i]) / seg[i].clamp_min(1e-12)).clamp(0, 1).unsqueeze(-1)
    out = (1 - frac) * points[i] + frac * points[i + 1]
    out[-1] = points[-1]
    return out


def bezier(control: Tensor, T: int) -> Tensor:
    """Bezier curve of control points ``control`` ``[P, d]`` (degree P - 1) at T equally spaced parameters in
    [0, 1], evaluated by de Casteljau's algorithm (batched over the parameters). Starts at ``control[0]`` and
    ends at ``control[-1]``. Returns ``[T, d]``."""
    check_path(control, "control", min_len=2)
    check_T(T)
    t = torch.linspace(0, 1, T, dtype=control.dtype, device=control.device).view(-1, 1, 1)
    pts = control.unsqueeze(0).expand(T, -1, -1)  # [T, P, d]
    while pts.shape[1] > 1:
        pts = (1 - t) * pts[:, :-1] + t * pts[:, 1:]
    return pts[:, 0]
