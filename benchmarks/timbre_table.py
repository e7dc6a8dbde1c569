"""The timbre scores of model folders side by side (issue #22): reads each folder's metrics.json (written by
`latentsynth eval RUN --source CORPUS` or at the end of training) and writes a markdown table and a CSV.

    .venv/bin/python benchmarks/timbre_table.py runs/t22/sol-timbre-wae-mmd runs/t22/sol-harmonic-wae-mmd \\
        --out docs/results/timbre

Columns: the reconstruction scores and every timbre score of ``latentsynth.metric_table`` that some folder has.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

KEYS = ("test_spec_sc", "test_pitch_spec_sc", "test_fit_spec_sc", "timbre_inst_linear", "timbre_inst_knn",
        "timbre_inst_notes", "timbre_inst_mean_linear",
        "timbre_dyn_linear", "timbre_style_linear", "timbre_inst_newpitch", "timbre_pitch_invariance",
        "morph_rho", "morph_cross", "morph_even", "morph_ramp", "morph_pairs", "source_closer", "source_counted",
        "source_sc", "source_sc_ratio", "loudness_l1", "f0_cents", "f0_outliers", "mrstft_partials",
        "mrstft_floor_bins", "path_smoothness", "test_latent_mmd", "test_active_units", "epochs")


def main() -> None:
    from latentsynth.folders import atomic_write_text

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.md and <out>.csv")
    args = ap.parse_args()
    rows = []
    for run in args.runs:
        m = json.loads((run / "metrics.json").read_text())
        rows.append({"model": run.name, **{k: m.get(k) for k in KEYS}})
    keys = [k for k in KEYS if any(r[k] is not None for r in rows)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["model", *keys], extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(args.out.with_suffix(".csv"), buf.getvalue())

    def cell(v) -> str:
        return "" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| score | " + " | ".join(r["model"] for r in rows) + " |", "|---|" + "---:|" * len(rows)]
    lines += [f"| `{k}` | " + " | ".join(cell(r[k]) for r in rows) + " |" for k in keys]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
