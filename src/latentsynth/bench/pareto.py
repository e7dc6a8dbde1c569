"""Pareto fronts of a sweep: which settings no other setting beats on two scores at once.

``pareto_front`` is the pure extraction; ``plot_fronts`` draws, for a sweep that declares ``pareto:`` axes, the
held-out spectral convergence of every group (mean ± std over seeds) against each declared score, one colour per
regularizer family (the run's regularizer and kernel: a family's weights are its groups), each family's own front
as a line and the front of all
groups ringed, into ``pareto.png``; ``front_table`` lists the fronts as Markdown for ``summary.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..metric_table import METRIC

Y_KEY = "test_spec_sc"  # held-out notes, from the encoder's codes: lower is better
# which way is better on an axis whose metric_table row has no direction (active units: more is a richer code)
DIRECTIONS = {"test_active_units": "higher"}


def direction(key: str) -> str:
    """'lower' or 'higher': which way a score is better (metric_table, else ``DIRECTIONS``, else 'higher' for a
    probe accuracy or a morph score, which are 'more is better' scores)."""
    if key in DIRECTIONS:
        return DIRECTIONS[key]
    m = METRIC.get(key)
    if m is not None and m.direction is not None:
        return m.direction
    return "higher"


def pareto_front(points: Sequence[tuple[float, float]], minimize: tuple[bool, bool] = (True, True)) -> list[int]:
    """Indices of the non-dominated points of ``points`` ``[(x, y), ...]``, sorted by x then y.

    Point a dominates b when a is at least as good on both coordinates and strictly better on one (better =
    smaller where ``minimize`` says so, else larger). Points with a NaN coordinate are never on the front; equal
    points do not dominate each other (both stay).
    """
    sx, sy = (1.0 if m else -1.0 for m in minimize)
    pts = [(sx * x, sy * y) for x, y in points]
    keep = []
    for i, (xi, yi) in enumerate(pts):
        if math.isnan(xi) or math.isnan(yi):
            continue
        dominated = any(xj <= xi and yj <= yi and (xj < xi or yj < yi)
                        for j, (xj, yj) in enumerate(pts) if j != i and not (math.isnan(xj) or math.isnan(yj)))
        if not dominated:
            keep.append(i)
    return sorted(keep, key=lambda i: (points[i][0], points[i][1]))


def _mean_std(entry: dict[str, Any], key: str) -> tuple[float, float]:
    v = entry.get(key)
    if v is None:
        return math.nan, 0.0
    return float(v[0]), float(v[1] if v[1] is not None and not math.isnan(v[1]) else 0.0)


def family(row: dict[str, Any]) -> str:
    """A run's regularizer family, the colour of its points: 'none', 'kl', 'adversarial', 'mmd imq', 'mmd rbf'
    (a results row carries the config's regularizer and kernel), with ' free bits' for a KL with free bits and
    ', <prior>' for a prior other than the Gaussian (their own fronts); else its variation."""
    reg = row.get("regularizer")
    if not reg:
        return str(row.get("variation", row["group"]))
    kernel = str(row.get("kernel") or "").split("-")[0]
    name = f"{reg} {kernel}" if kernel else str(reg)
    if float(row.get("free_bits") or 0) > 0:
        name += " free bits"
    prior = row.get("prior")
    return f"{name}, {prior}" if prior and prior != "gaussian" else name


def group_points(summary: list[dict[str, Any]], rows: list[dict[str, Any]], key: str
                 ) -> list[tuple[str, str, float, float, float, float]]:
    """(group, family, x mean, x std, y mean, y std) of every finished group with both scores."""
    variation = {r["group"]: family(r) for r in rows}
    out = []
    for e in summary:
        (x, xs), (y, ys) = _mean_std(e, key), _mean_std(e, Y_KEY)
        if not (math.isnan(x) or math.isnan(y)):
            out.append((e["group"], variation.get(e["group"], e["group"]), x, xs, y, ys))
    return out


def front_table(summary: list[dict[str, Any]], rows: list[dict[str, Any]], keys: Sequence[str]) -> str:
    """Markdown: per declared axis, the groups on the front of all groups (mean over seeds)."""
    lines = []
    for key in keys:
        pts = group_points(summary, rows, key)
        if not pts:
            continue
        front = pareto_front([(p[2], p[4]) for p in pts], (direction(key) == "lower", True))
        label = METRIC[key].label if key in METRIC else key
        lines += [f"\n**Pareto front: {METRIC[Y_KEY].label} against {label}** ({direction(key)} is better)\n",
                  f"| group | {label} | {METRIC[Y_KEY].label} |", "|---|---:|---:|"]
        lines += [f"| {pts[i][0]} | {pts[i][2]:.4g} ± {pts[i][3]:.2g} | {pts[i][4]:.4g} ± {pts[i][5]:.2g} |"
                  for i in front]
    return "\n".join(lines)


def plot_fronts(summary: list[dict[str, Any]], rows: list[dict[str, Any]], keys: Sequence[str],
                path: Path) -> Path | None:
    """One panel per key of ``keys``: held-out SC against it, fronts drawn; None when no group has the scores."""
    from ..plots import plt, save_figure

    panels = [(k, group_points(summary, rows, k)) for k in keys]
    panels = [(k, p) for k, p in panels if p]
    if not panels:
        return None
    cols = min(len(panels), 3)  # three panels a row
    nrows = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(5.5 * cols, 4.5 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, (key, pts) in zip(axes.flat, panels, strict=False):
        minimize = (direction(key) == "lower", True)
        variations = list(dict.fromkeys(p[1] for p in pts))
        for c, var in enumerate(variations):
            mine = [p for p in pts if p[1] == var]
            ax.errorbar([p[2] for p in mine], [p[4] for p in mine], xerr=[p[3] for p in mine],
                        yerr=[p[5] for p in mine], fmt="o", ms=4, lw=0.8, color=f"C{c % 10}", label=var)
            own = pareto_front([(p[2], p[4]) for p in mine], minimize)
            ax.plot([mine[i][2] for i in own], [mine[i][4] for i in own], "-", lw=1, color=f"C{c % 10}")
        front = pareto_front([(p[2], p[4]) for p in pts], minimize)
        ax.plot([pts[i][2] for i in front], [pts[i][4] for i in front], "o", ms=11, mfc="none", mec="k",
                label="front of all")
        for p in pts:
            ax.annotate(p[0].rsplit("-", 1)[-1] if "-" in p[0] else p[0], (p[2], p[4]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        xs = [p[2] for p in pts if p[2] > 0]
        if key == "test_latent_mmd" and xs and max(xs) / min(xs) > 30:
            ax.set_xscale("symlog", linthresh=1e-3)  # the MMD estimate of a matched prior can be slightly < 0
        elif xs and len(xs) == len(pts) and max(xs) / min(xs) > 30:
            ax.set_xscale("log")  # e.g. a path smoothness an order of magnitude off for one collapsed decoder
        ax.set_xlabel(METRIC[key].card if key in METRIC else key)
        ax.set_ylabel(METRIC[Y_KEY].card)
        ax.set_title(f"{direction(key)} is better on x; lower on y", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)
