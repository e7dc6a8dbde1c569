"""How much does the morph score depend on its judge? The morph score of issue #22 (``evaluation.timbre.morph_scores``)
with the judge (``frame_classifier``) trained from several seeds, on the same decoded lines of each model.

    .venv/bin/python benchmarks/morph_judge_seeds.py models/sol/timbre-wae-mmd models/sol/timbre-ae \\
        --seeds 0 1 2 --out docs/results/morph-judge-seeds

Seed 0 is the judge of the cards (``eval``). Writes ``<out>.csv`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
from pathlib import Path

import torch

KEYS = ("morph_pairs", "morph_even", "morph_cross", "morph_rho", "morph_ramp")


def main() -> None:
    from latentsynth import load
    from latentsynth.data import data_module
    from latentsynth.evaluation.timbre import frame_classifier, morph_lines, morph_scores
    from latentsynth.folders import atomic_write_text

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.csv and <out>.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        model = load(run).eval()
        data = data_module(model.cfg)
        lines = morph_lines(model, data)  # one set of decoded lines; only the judge changes
        for seed in args.seeds:
            m = morph_scores(model, data, clf=frame_classifier(data, seed=seed), lines=lines)
            rows.append({"model": run.name, "judge_seed": seed, "lines": len(lines), **{k: m.get(k) for k in KEYS}})
            print(rows[-1], flush=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(args.out.with_suffix(".csv"), buf.getvalue())

    def cell(v) -> str:
        return "" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    md = [f"# The morph score's judge seed: `python benchmarks/morph_judge_seeds.py "
          f"{' '.join(map(str, args.runs))} --seeds {' '.join(map(str, args.seeds))} --out {args.out}`", "",
          f"On {platform.machine()}, torch {torch.__version__}, 1 thread. The morph score (docs/evaluation.md) of "
          "each model on the same decoded lines, judged by the frame classifier trained from each seed (seed 0: the "
          "cards' judge). `morph_even` is the fraction of the counted pairs (`morph_pairs`, endpoints recognised) "
          "crossing one half within 30-70 % of the line.", "",
          "| model | judge seed | lines | " + " | ".join(KEYS) + " |", "|---|---:|---:|" + "---:|" * len(KEYS)]
    md += [f"| {r['model']} | {r['judge_seed']} | {r['lines']} | " + " | ".join(cell(r[k]) for k in KEYS) + " |"
           for r in rows]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
