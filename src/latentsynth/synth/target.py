"""Descriptor-targeted synthesis: find a latent path whose decoded sound follows given descriptor curves.

Targets are curves ``[T]`` for one or more of the differentiable descriptors (:data:`.descriptors.TORCH_DESCRIPTORS`),
e.g. the centroid rising from 800 to 3000 Hz over 2 s at a constant RMS level of -20 dB
(``targets={"centroid": (800, 3000), "loudness": -20}``). Two searches:

* :func:`greedy_search`, the baseline of variational-timbre (Esling et al. 2018): for each time step, the
  training code (from the model's code sample, decoded with the path's labels) whose descriptors best match the
  target there, plus a continuity penalty on the jump from the previous step's code;
* :func:`targeted_path`: gradient descent (Adam) on a path of ``knots`` codes, linearly resampled to ``T``
  points, through the decoder and :func:`~latentsynth.evaluation.descriptors.torch_descriptors` of the decoded
  magnitudes, minimising

      mean_t,k r_k(t)^2  +  smooth * mean_t ||z[t+1] - 2 z[t] + z[t-1]||^2 / total variance
                        +  near * mean_t knn2(z[t]) / knn2(start)

  with ``r_k`` the error of descriptor ``k`` in log units (natural log of the ratio for the Hz and flatness
  descriptors; the level in nepers, dB x ln(10) / 20, for loudness: every descriptor on one relative scale),
  ``total variance`` the sum of the codes' per-dimension variances, ``knn2`` the mean squared distance to the
  ``k`` nearest training codes (:func:`~latentsynth.latent.geodesic.knn_sq_distance`) relative to its value on
  the greedy start (which lies on the data; floored at the codes' own spacing), so the weights are
  dimensionless. Defaults (smooth 0.01, near 0.001) were set on a harmonic VAE with a collapsed posterior: a
  larger ``near`` keeps the path on codes that do not reach the target (the descriptors the data lacks lie off
  it), so raise it only when the decoded sound off the data is poor.
  It starts from the greedy solution (at the knots) and returns the iterate with the lowest objective.

:func:`target_error` reports, per descriptor, the relative RMS error ``rms(achieved - target) / rms(target)`` and
the RMS error in the descriptor's unit; :class:`TargetResult` holds both searches' paths, curves and errors.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..evaluation.descriptors import label
from ..latent.geodesic import knn_sq_distance
from ..latent.optim import CosineAdam
from ..latent.paths import resample_path
from .descriptors import TORCH_DESCRIPTORS, decoded_descriptors
from .engine import labels_for

NEPER = math.log(10) / 20  # dB -> natural log of an amplitude ratio


def parse_curve(text: str) -> float | tuple[float, ...]:
    """``"-20"`` -> -20.0 (constant); ``"800:3000"`` -> (800.0, 3000.0) (a ramp); ``"800:3000:1200"`` -> a
    piecewise-linear curve through the values, evenly spaced in time."""
    try:
        vals = tuple(float(v) for v in str(text).split(":"))
    except ValueError:
        raise ValueError(f"target {text!r}: a number or numbers separated by ':' (e.g. 800:3000)") from None
    if not all(math.isfinite(v) for v in vals):
        raise ValueError(f"target {text!r}: values must be finite")
    return vals[0] if len(vals) == 1 else vals


def target_curves(spec: dict[str, Any], points: int) -> dict[str, Tensor]:
    """``{name: [points]}`` from ``{name: constant | (a, b, ...) | array}``: constants, piecewise-linear
    curves through evenly spaced values, or arrays resampled linearly to ``points``."""
    if not spec:
        raise ValueError("targets: give at least one descriptor curve, e.g. {'centroid': (800, 3000)}")
    out = {}
    for name, v in spec.items():
        if name not in TORCH_DESCRIPTORS:
            raise ValueError(f"targets: {name!r} is not a differentiable descriptor; choose from {TORCH_DESCRIPTORS}")
        arr = torch.as_tensor(np.atleast_1d(np.asarray(v, dtype=np.float64)), dtype=torch.float32)
        curve = arr.expand(points).clone() if len(arr) == 1 else resample_path(arr[:, None], points)[:, 0]
        if name != "loudness" and not bool((curve > 0).all()):
            raise ValueError(f"targets: {name} must be positive, got {v}")
        out[name] = curve
    return out


def _log_units(name: str, x: Tensor) -> Tensor:
    return x * NEPER if name == "loudness" else torch.log(x.clamp_min(1e-12))


def residuals(values: dict[str, Tensor], targets: dict[str, Tensor]) -> Tensor:
    """``[T, K]`` errors in log units (see the module doc) of descriptor values ``[T]`` against targets."""
    return torch.stack([_log_units(n, values[n]) - _log_units(n, targets[n]) for n in targets], -1)


def target_error(achieved: dict[str, np.ndarray], targets: dict[str, Any]) -> dict[str, float]:
    """``rel_rms_<name>``: ``rms(achieved - target) / rms(target)``; ``rms_<name>``: the RMS error in the
    descriptor's unit; ``rel_rms_mean``: mean of the relative errors."""
    out = {}
    for n, t in targets.items():
        t = np.asarray(t, dtype=np.float64)
        a = np.asarray(achieved[n], dtype=np.float64)
        rms = float(np.sqrt(np.mean((a - t) ** 2)))
        out[f"rms_{n}"] = rms
        out[f"rel_rms_{n}"] = rms / max(float(np.sqrt(np.mean(t**2))), 1e-12)
    out["rel_rms_mean"] = float(np.mean([out[f"rel_rms_{n}"] for n in targets]))
    return out


def _per_point(synth, z: Tensor, c: Tensor | None, names, grad: bool = False) -> dict[str, Tensor]:
    """Descriptors per code ``[T]`` (mean over a window model's frames)."""
    d = decoded_descriptors(synth, z, c, tuple(names), grad=grad)
    return {k: v.mean(-1) for k, v in d.items()}


def _codes(synth, candidates: Tensor | None) -> Tensor:
    if candidates is not None:
        return torch.as_tensor(candidates, dtype=torch.float32)
    if synth.codes is None:
        raise ValueError("targeted synthesis needs training codes (codes.safetensors in the model folder) or "
                         "candidates")
    return synth.codes.codes.float()


def greedy_search(synth, targets: dict[str, Tensor], c: Tensor | dict | None = None,
                  continuity: float = 0.05, candidates: Tensor | None = None,
                  cand_values: dict[str, Tensor] | None = None) -> Tensor:
    """Greedy neighbour search: ``z [T, d]`` where ``z[t]`` is the candidate code (default: the model's
    training codes) minimising ``mean_k r_k(t)^2 + continuity * ||z - z[t-1]||^2 / (2 * total variance)``
    (the jump term is 1 for two independent codes of the data, on average). Candidates are decoded once with
    the path's labels (its first row)."""
    cand = _codes(synth, candidates)
    T = len(next(iter(targets.values())))
    cc = labels_for(synth, len(cand), c if not isinstance(c, Tensor) else c[:1])
    if cand_values is None:
        cand_values = _per_point(synth, cand, cc, targets)
    cost = torch.stack([_log_units(n, cand_values[n])[None, :] - _log_units(n, targets[n])[:, None]
                        for n in targets], -1).pow(2).mean(-1)  # [T, M]
    total_var = float(cand.var(0).sum()) if len(cand) > 1 else 1.0
    idx = [int(cost[0].argmin())]
    for t in range(1, T):
        jump = (cand - cand[idx[-1]]).pow(2).sum(-1) / (2 * max(total_var, 1e-12))
        idx.append(int((cost[t] + continuity * jump).argmin()))
    return cand[torch.tensor(idx)].clone()


@dataclass
class TargetResult:
    """The optimised path ``z [T, d]`` and the greedy one, each with its achieved curves ``{name: [T]}`` and
    :func:`target_error`; ``targets`` ``{name: [T]}``; ``trace`` the objective per step; timings in s."""

    z: Tensor
    c: Tensor | None
    targets: dict[str, np.ndarray]
    achieved: dict[str, np.ndarray]
    error: dict[str, float]
    greedy_z: Tensor
    greedy_achieved: dict[str, np.ndarray]
    greedy_error: dict[str, float]
    trace: list[float] = field(default_factory=list)
    seconds: float = 0.0
    greedy_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"optimised": self.error, "greedy": self.greedy_error, "seconds": round(self.seconds, 3),
                "greedy_seconds": round(self.greedy_seconds, 3), "steps": max(0, len(self.trace) - 1)}


def targeted_path(synth, targets: dict[str, Any], points: int | None = None, c: Tensor | dict | None = None,
                  seconds: float | None = None, knots: int = 48, steps: int = 200, lr: float = 0.1,
                  smooth: float = 0.01, near: float = 0.001, k: int = 8, continuity: float = 0.05,
                  candidates: Tensor | None = None) -> TargetResult:
    """Find a latent path following ``targets`` (``{name: constant | (a, b, ...) | array}``, see
    :func:`target_curves`) over ``points`` points (or ``seconds / synth.hop_seconds``), with fixed labels
    ``c`` (a ``[1, 4]`` tensor or a dict of names). See the module doc for the objective; ``lr`` is in units of
    the codes' RMS std per step (cosine decay). Returns a :class:`TargetResult` with the greedy baseline."""
    if points is None:
        points = max(2, round((seconds or 2.0) / synth.hop_seconds))
    tgt = target_curves(targets, points)
    c1 = labels_for(synth, 1, c if not isinstance(c, Tensor) else c[:1])
    cand = _codes(synth, candidates)
    names = tuple(tgt)

    t0 = time.perf_counter()
    cand_values = _per_point(synth, cand, None if c1 is None else c1.expand(len(cand), -1), names)
    greedy = greedy_search(synth, tgt, c1, continuity, cand, cand_values)
    greedy_s = time.perf_counter() - t0

    K = max(2, min(knots, points))
    tk = {n: resample_path(v[:, None], K)[:, 0] for n, v in tgt.items()}
    init = greedy_search(synth, tk, c1, continuity, cand, cand_values)
    total_var = max(float(cand.var(0).sum()), 1e-12) if len(cand) > 1 else float(cand.shape[1])
    std = math.sqrt(total_var / cand.shape[1])  # RMS std of the codes: the step unit
    kk = min(k, max(len(cand) - 1, 1))
    ref = cand[torch.randperm(len(cand), generator=torch.Generator().manual_seed(0))[:512]]
    d_data = float(torch.cdist(ref, cand).pow(2).topk(kk + 1, dim=-1, largest=False).values[:, 1:].mean(-1)
                   .median()) if len(cand) > 1 else 1.0
    d_ref = max(d_data, float(knn_sq_distance(init, cand, kk).mean()), 1e-12)  # 1 on the greedy start
    ck = None if c1 is None else c1.expand(K, -1)

    def objective(z: Tensor) -> Tensor:
        r = residuals(_per_point(synth, z, ck, names, grad=True), tk).pow(2).mean()
        if smooth > 0 and len(z) > 2:
            r = r + smooth * (z[2:] - 2 * z[1:-1] + z[:-2]).pow(2).sum(-1).mean() / total_var
        if near > 0:
            r = r + near * knn_sq_distance(z, cand, kk).mean() / d_ref
        return r

    z = init.clone().requires_grad_(True)
    adam = CosineAdam(z, lr * std, steps)
    trace: list[float] = []
    best_obj, best = math.inf, init.clone()
    with torch.enable_grad():
        for it in range(steps + 1):
            obj = objective(z)
            val = float(obj.detach())
            trace.append(val)
            if math.isfinite(val) and val < best_obj:
                best_obj, best = val, z.detach().clone()
            if it == steps or not math.isfinite(val):
                break
            (g,) = torch.autograd.grad(obj, [z])
            adam.step(g, it)
    z_out = resample_path(best, points)
    seconds_opt = time.perf_counter() - t0
    cT = None if c1 is None else c1.expand(points, -1)
    tgt_np = {n: t.numpy().astype(np.float64) for n, t in tgt.items()}
    ach = {n: x.numpy().astype(np.float64) for n, x in _per_point(synth, z_out, cT, names).items()}
    gach = {n: x.numpy().astype(np.float64) for n, x in _per_point(synth, greedy, cT, names).items()}
    return TargetResult(z_out, cT, tgt_np, ach, target_error(ach, tgt_np), greedy, gach,
                        target_error(gach, tgt_np), trace, seconds_opt, greedy_s)


def plot_target(res: TargetResult, path: str | Path, hop_seconds: float, title: str = "") -> Path:
    """One panel per targeted descriptor: target, optimised and greedy curves over time (s)."""
    from ..plots import plt, save_figure

    names = list(res.targets)
    fig, axes = plt.subplots(1, len(names) + 1, figsize=(4.4 * (len(names) + 1), 3.4), squeeze=False)
    t = np.arange(len(res.z)) * hop_seconds
    for ax, n in zip(axes[0], names, strict=False):
        ax.plot(t, res.targets[n], color="black", lw=2, ls="--", label="target")
        ax.plot(t, res.achieved[n], color="tab:red", lw=1.3,
                label=f"optimised ({100 * res.error[f'rel_rms_{n}']:.1f} %)")
        ax.plot(t, res.greedy_achieved[n], color="tab:blue", lw=1, alpha=0.8,
                label=f"greedy ({100 * res.greedy_error[f'rel_rms_{n}']:.1f} %)")
        ax.set_xlabel("s"), ax.set_title(label(n), fontsize=9)
        ax.legend(fontsize=7)
    ax = axes[0, -1]
    ax.plot(res.trace, color="tab:red")
    ax.set_yscale("log"), ax.set_xlabel("Adam step"), ax.set_title("objective", fontsize=9)
    fig.suptitle(title or "descriptor-targeted synthesis (relative RMS error in the legend)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, Path(path))
