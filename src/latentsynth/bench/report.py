"""Sweep results: ``results.csv`` (one row per run), ``summary.md`` / ``summary.html`` (mean ± std over seeds,
best per column marked; the effect of each variation against its baseline with a Welch t-test) and comparison
figures."""

from __future__ import annotations

import html
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from ..folders import atomic_write_text, load_metrics, read_json, write_csv
from ..metric_table import METRIC, Metric, view
from .pareto import front_table, plot_fronts
from .sweep import PlannedRun, SweepSpec

# summary columns (label, which way is better) and the effects table (variation - baseline): metric_table views
SUMMARY_COLUMNS = view("report")
EFFECT_COLUMNS = tuple(m.key for m in view("effect"))
P_SIGNIFICANT = 0.05


def columns(summary: list[dict[str, Any]]) -> tuple[Metric, ...]:
    """The summary columns some group has a value for (image sweeps have no audio columns and vice versa)."""
    return tuple(c for c in SUMMARY_COLUMNS if any(c.key in e for e in summary)) or SUMMARY_COLUMNS


def describe(cfg) -> dict[str, Any]:
    """The factors of a config, as report columns."""
    reg = cfg.regularizer
    kernel = (f"{reg.kernel}{'-multiscale' if reg.multiscale else ''}" if reg.kind == "mmd" else "")
    frames = {"representation": cfg.data.representation, "window": cfg.data.window} if cfg.data.kind == "frames" else {}
    return {
        "dataset": cfg.data.name, **frames, "encoder": cfg.model.encoder, "network": cfg.model.network.kind,
        "latent_dim": cfg.model.latent_dim, "regularizer": reg.kind, "weight": reg.weight, "kernel": kernel,
        "prior": cfg.prior.kind, "free_bits": reg.free_bits, "likelihood": cfg.likelihood.kind,
        "warmup": reg.schedule.kind != "constant",
        "max_epochs": cfg.train.max_epochs,
    }


def collect_rows(runs: list[PlannedRun], root: Path, status: dict[str, tuple[str, str]]) -> list[dict[str, Any]]:
    rows = []
    for r in runs:
        run_dir = root / "runs" / r.name
        metrics = load_metrics(run_dir) if (run_dir / "model.safetensors").exists() else {}
        if metrics:
            st, err = "ok", ""
        elif r.name in status:
            st, err = status[r.name]
        elif (run_dir / "error.txt").exists():
            st, err = "failed", (run_dir / "error.txt").read_text().strip().splitlines()[-1][:300]
        else:
            st, err = "pending", ""
        row = {"run": r.name, "group": r.group, "variation": r.variation, "factor": r.factor,
               "baseline": r.baseline, "seed": r.seed,
               **{f"grid.{k}": v for k, v in r.grid.items()}, **describe(r.config), "status": st, "error": err}
        row.update({k: v for k, v in metrics.items() if isinstance(v, (int, float)) or v is None})
        probes = run_dir / "explore" / "probes.json"  # written by `latentsynth explore` on frame models
        if metrics and probes.is_file():
            row.update({f"probe_{k}": v for k, v in read_json(probes).items() if isinstance(v, (int, float))})
        rows.append(row)
    return rows


def summarize(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per group of finished runs: factor columns plus (mean, std, n) per summary column."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    order: list[str] = []
    for row in rows:
        if row["group"] not in order:
            order.append(row["group"])
        if row["status"] == "ok":
            groups[row["group"]].append(row)
    out = []
    for g in order:
        members = groups.get(g, [])
        first = next(r for r in rows if r["group"] == g)
        entry: dict[str, Any] = {"group": g, "factor": first["factor"], "n": len(members),
                                 "runs": [m["run"] for m in members]}
        for key in (c.key for c in SUMMARY_COLUMNS):
            vals = [float(m[key]) for m in members if m.get(key) is not None and not math.isnan(float(m[key]))
                    and (key != "test_nll_iw" or m.get("likelihood") == "bernoulli")]
            if vals:
                mean, std, _ = mean_std(vals)
                entry[key] = (mean, std)
                entry.setdefault("counts", {})[key] = len(vals)  # runs with this value (may be < n)
        out.append(entry)
    return out


def mean_std(values: list[float | None]) -> tuple[float, float, int]:
    """``(mean, std, n)`` of the finite values (sample std, N - 1; 0 for one value; NaNs and n = 0 for none): the
    one "mean ± std" of sweeps and of the synthesis study."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    if not v:
        return math.nan, math.nan, 0
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s, len(v)


def _values(rows: list[dict[str, Any]], group: str, key: str) -> list[float]:
    return [float(r[key]) for r in rows if r["group"] == group and r["status"] == "ok"
            and r.get(key) is not None and not math.isnan(float(r[key]))]


def welch(a: list[float], b: list[float]) -> tuple[float, float | None, float | None]:
    """(mean(a) - mean(b), standard error of that difference, two-sided p of Welch's t-test); the last two
    are None with fewer than 2 values on a side. When neither side varies (e.g. 8 of 8 active units in every
    run) p is 0 for a non-zero difference (t is infinite) and None for no difference."""
    from scipy.stats import t as student_t

    ma, mb = sum(a) / len(a), sum(b) / len(b)
    if len(a) < 2 or len(b) < 2:
        return ma - mb, None, None
    wa = sum((x - ma) ** 2 for x in a) / (len(a) - 1) / len(a)  # squared standard errors of the means
    wb = sum((x - mb) ** 2 for x in b) / (len(b) - 1) / len(b)
    se = math.sqrt(wa + wb)
    if se == 0:
        return ma - mb, 0.0, (0.0 if ma != mb else None)
    df = (wa + wb) ** 2 / (wa**2 / (len(a) - 1) + wb**2 / (len(b) - 1))  # Welch-Satterthwaite
    return ma - mb, se, float(2 * student_t.sf(abs(ma - mb) / se, df))


def _group_tests(rows: list[dict[str, Any]], a: str, b: str) -> dict[str, tuple[float, float | None, float | None]]:
    """``welch(runs of group a, runs of group b)`` for every effect column both groups have a value for."""
    out = {}
    for key in EFFECT_COLUMNS:
        va, vb = _values(rows, a, key), _values(rows, b, key)
        if va and vb:
            out[key] = welch(va, vb)
    return out


def effects(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per variation that has a baseline: ``welch(variation runs, baseline runs)`` for every effect
    column, i.e. is this effect bigger than the seed-to-seed noise? (p is not corrected for the many
    comparisons of a sweep.)"""
    out, seen = [], set()
    for row in rows:
        g, base = row["group"], row.get("baseline") or ""
        if not base or g in seen:
            continue
        seen.add(g)
        out.append({"group": g, "baseline": base, "factor": row["factor"], **_group_tests(rows, g, base)})
    return out


def read_results(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a sweep's ``results.csv`` (empty cells as None)."""
    import csv

    with Path(path).open() as f:
        return [{k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]


def compare_groups(rows: list[dict[str, Any]], a: str, b: str) -> list[tuple[str, float, float | None, float | None]]:
    """``welch(runs of group a, runs of group b)`` for every effect column both groups have: (label, delta, se,
    p) rows, e.g. WAE-GAN against the VAE of one sweep."""
    groups = {r["group"] for r in rows}
    for g in (a, b):
        if g not in groups:
            raise ValueError(f"no group '{g}' in these results; groups: {', '.join(sorted(groups))}")
    return [(METRIC[key].label, *test) for key, test in _group_tests(rows, a, b).items()]


def welch_cell(value: tuple[float, float | None, float | None] | None, fmt: tuple[str, str] | None = None,
               with_p: bool = False) -> str:
    """The one text of a :func:`welch` result: ``Δ ± SE`` (``(p ...)`` with ``with_p``) and `` *`` where
    ``p < P_SIGNIFICANT``; ``fmt`` the formats of Δ and SE (default: fixed digits by the scale of the cell)."""
    if value is None:
        return "–"
    delta, se, p = value
    if fmt is None:
        scale = max(abs(delta), se or 0.0)
        digits = 4 if scale < 1 else 2 if scale < 1000 else 0
        fmt = (f".{digits}f", f".{digits}f")
    text = f"{delta:+{fmt[0]}}" + (f" ± {se:{fmt[1]}}" if se is not None else "")
    if with_p and p is not None:
        text += f" (p {p:.2g})"
    return text + (" *" if p is not None and p < P_SIGNIFICANT else "")


def effects_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and text rows of the effects table (no rows when no variation has a baseline)."""
    table = effects(rows)
    keys = [k for k in EFFECT_COLUMNS if any(k in e for e in table)]
    head = ["variation", "baseline", "factor", *(f"Δ {METRIC[k].label}" for k in keys)]
    return head, [[e["group"], e["baseline"], e["factor"], *(welch_cell(e.get(k)) for k in keys)] for e in table]


EFFECTS_NOTE = (f"Δ = variation mean − baseline mean ± the standard error of the difference; * where Welch's "
                f"t-test over the seeds gives p < {P_SIGNIFICANT} (not corrected for the number of comparisons: "
                "expect about 1 false * in 20 cells).")


def _best(summary: list[dict[str, Any]]) -> dict[str, float]:
    best = {}
    for c in SUMMARY_COLUMNS:
        vals = [e[c.key][0] for e in summary if c.key in e]
        if vals and c.direction:
            best[c.key] = min(vals) if c.direction == "lower" else max(vals)
    return best


def _cell(entry: dict[str, Any], key: str, best: dict[str, float]) -> tuple[str, bool]:
    if key not in entry:
        return "–", False
    mean, std = entry[key]
    digits = 4 if abs(mean) < 1 else 2 if abs(mean) < 1000 else 0
    text = f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if entry.get("counts", {}).get(key, entry["n"]) > 1 else "")
    return text, key in best and math.isclose(mean, best[key], rel_tol=1e-12)


def summary_markdown(spec: SweepSpec, summary: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    best, cols = _best(summary), columns(summary)
    n_ok = sum(r["status"] == "ok" for r in rows)
    failed = [r for r in rows if r["status"] == "failed"]
    lines = [f"# Sweep `{spec.name}`", "", spec.description.strip(), "",
             f"{n_ok} of {len(rows)} runs finished, {len(failed)} failed. Mean ± std over seeds; best per "
             "column in bold (lower is better except samples/s). Test-set metrics from "
             "`latentsynth.evaluation` (see docs/evaluation.md).", "",
             "| group | factor | n | " + " | ".join(c.label for c in cols) + " |",
             "|---|---|---:|" + "---:|" * len(cols)]
    for e in summary:
        cells = []
        for c in cols:
            text, is_best = _cell(e, c.key, best)
            cells.append(f"**{text}**" if is_best else text)
        lines.append(f"| {e['group']} | {e['factor']} | {e['n']} | " + " | ".join(cells) + " |")
    head, table = effects_table(rows)
    if table:
        lines += ["", "## Effects against the baseline", "", EFFECTS_NOTE, "",
                  "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
        lines += ["| " + " | ".join(r) + " |" for r in table]
    if failed:
        lines += ["", "## Failed runs", ""] + [f"- `{r['run']}`: {r.get('error', '')}" for r in failed]
    return "\n".join(lines) + "\n"


def _players(run: Path, href: str) -> str:
    """Audio players of the test notes a frame run wrote into ``audio/`` (original, reconstruction and the
    original through the same inversion), one line per note; empty for other runs."""
    from ..evaluation.audio import AUDIO_VERSIONS

    stems = sorted({p.name.rsplit("-", 1)[0] for p in (run / "audio").glob("*-original.wav")})
    lines = []
    for stem in stems:
        cells = "".join(f"<span>{v}<br><audio controls preload='none' src='{href}/{stem}-{v}.wav'></audio></span>"
                        for v in AUDIO_VERSIONS if (run / "audio" / f"{stem}-{v}.wav").exists())
        lines.append(f"<div class='row'><b>{html.escape(stem)}</b> {cells}</div>")
    return "".join(lines)


def summary_html(spec: SweepSpec, summary: list[dict[str, Any]], rows: list[dict[str, Any]], root: Path) -> str:
    best, cols = _best(summary), columns(summary)
    cols_head = "".join(f"<th>{html.escape(c.label)}</th>" for c in cols)
    body = []
    for e in summary:
        cells = []
        for c in cols:
            text, is_best = _cell(e, c.key, best)
            cells.append(f"<td class='{'best' if is_best else ''}'>{html.escape(text)}</td>")
        body.append(f"<tr><td>{html.escape(e['group'])}</td><td>{html.escape(e['factor'])}</td><td>{e['n']}</td>"
                    + "".join(cells) + "</tr>")
    figs = []
    for e in summary:
        if not e["runs"]:
            continue
        r = e["runs"][0]
        imgs = "".join(f"<img src='runs/{r}/{f}' alt='{f}'>" for f in ("curves.png", "samples.png",
                                                                         "reconstructions.png", "notes.png")
                       if (root / "runs" / r / f).exists())
        title = f"<h3>{html.escape(e['group'])} <small>({html.escape(r)})</small></h3>"
        figs.append(f"{title}<div class='row'>{imgs}</div>{_players(root / 'runs' / r, f'runs/{r}/audio')}")
    head, table = effects_table(rows)
    effects_html = ("<h2>Effects against the baseline</h2><p>" + html.escape(EFFECTS_NOTE) + "</p><table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
                    + "".join("<tr>" + "".join(f"<td class='{'best' if c.endswith('*') else ''}'>{html.escape(c)}"
                                               "</td>" for c in r) + "</tr>" for r in table)
                    + "</table>") if table else ""
    failed = "".join(f"<li><code>{html.escape(r['run'])}</code>: {html.escape(r.get('error', ''))}</li>"
                     for r in rows if r["status"] == "failed")
    return f"""<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(spec.name)}</title><style>
body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:3px 8px;text-align:right}} td:first-child,td:nth-child(2){{text-align:left}} .best{{font-weight:bold;
background:#e6f4e6}} .row img{{height:220px;margin-right:8px}}</style></head><body>
<h1>Sweep {html.escape(spec.name)}</h1><p>{html.escape(spec.description)}</p>
<p><img src='summary.png' style='max-width:100%'></p>
<table><tr><th>group</th><th>factor</th><th>n</th>{cols_head}</tr>{''.join(body)}</table>
{effects_html}
{'<h2>Failed runs</h2><ul>' + failed + '</ul>' if failed else ''}
<h2>Per-group figures (first seed)</h2>{''.join(figs)}</body></html>
"""


def plot_summary(summary: list[dict[str, Any]], root: Path) -> Path | None:
    """Bar charts of test BCE and latent MMD per group (error bars: std over seeds), and the validation BCE
    curves of every group, into ``summary.png``."""
    from ..plots import plt, save_figure
    from ..training.curves import read_curves

    audio = any("test_spec_sc" in e for e in summary)
    first = METRIC["test_spec_sc" if audio else "test_bce"]
    done = [e for e in summary if first.key in e]
    if not done:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(18, max(3.5, 0.28 * len(done) + 1.5)))
    names = [e["group"] for e in done]
    for ax, key, label in ((axes[0], first.key, first.card), (axes[1], "test_latent_mmd",
                                                               METRIC["test_latent_mmd"].card)):
        means = [e.get(key, (math.nan, 0))[0] for e in done]
        stds = [e.get(key, (math.nan, 0))[1] for e in done]
        ax.barh(range(len(done)), means, xerr=stds, color="#6b8fb5")
        ax.set_yticks(range(len(done)), names, fontsize=7)
        ax.invert_yaxis()
        positive = [m for m in means if m > 0 and not math.isnan(m)]
        if key == "test_latent_mmd" and positive and max(positive) / min(positive) > 100:
            ax.set_xscale("log")  # the plain AE is orders of magnitude away from the regularized models
            label += " (log scale)"
        ax.set_title(label, fontsize=10)
    for i, e in enumerate(done):
        curves = read_curves(root / "runs" / e["runs"][0])
        curve = "val/mse" if audio else "val/bce"
        if curve in curves:
            xs, ys = zip(*curves[curve], strict=True)
            style = ("-", "--", ":", "-.")[i // 10 % 4]  # colours repeat after 10 groups: change the line style
            axes[2].plot([x + 1 for x in xs], ys, label=e["group"], lw=1, ls=style, color=f"C{i % 10}")
    axes[2].set_title(f"validation {'MSE' if audio else 'BCE'} by epoch (first seed)", fontsize=10)
    axes[2].set_xlabel("epoch")
    axes[2].legend(fontsize=6, ncol=2)
    return save_figure(fig, root / "summary.png")


def write_report(spec: SweepSpec, runs: list[PlannedRun], root: Path,
                 status: dict[str, tuple[str, str]] | None = None, figures: bool = True) -> Path:
    """(Re)write results.csv, summary.md, summary.html and summary.png of the sweep in ``root``."""
    rows = collect_rows(runs, root, status or {})
    write_csv(root / "results.csv", rows)
    summary = summarize(rows)
    fronts = front_table(summary, rows, spec.pareto) if spec.pareto else ""
    atomic_write_text(root / "summary.md", summary_markdown(spec, summary, rows) + fronts + ("\n" if fronts else ""))
    atomic_write_text(root / "summary.html", summary_html(spec, summary, rows, root))
    if figures:
        plot_summary(summary, root)
        if spec.pareto:
            plot_fronts(summary, rows, spec.pareto, root / "pareto.png")
    return root / "results.csv"
