"""How much does the morph score depend on its judge? The morph score of issue #22 (``evaluation.timbre.morph_scores``)
on the same decoded lines of each model, judged by one frame classifier (``frame_classifier``) of each seed, and by
ensembles of them (``JudgeEnsemble``: the mean posterior) over disjoint groups of seeds.

    .venv/bin/python benchmarks/morph_judge_seeds.py models/sol/timbre-wae-mmd models/sol/timbre-ae \\
        --seeds 0 1 2 3 4 5 6 7 8 9 --out docs/results/morph-judge-seeds

The cards' judge (``eval``) is ``morph_judge``: the ensemble of seeds 0-4 (``MORPH_JUDGES``); until session 10 it
was the single judge of seed 0. Writes ``<out>.csv`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import torch

KEYS = ("morph_pairs", "morph_even", "morph_cross", "morph_rho", "morph_ramp")


def main() -> None:
    from latentsynth import load
    from latentsynth.data import data_module
    from latentsynth.evaluation.timbre import MORPH_JUDGES, JudgeEnsemble, frame_classifier, morph_lines, morph_scores
    from latentsynth.folders import atomic_write_text, write_csv

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--seeds", nargs="+", type=int, default=list(range(2 * MORPH_JUDGES)),
                    help="one judge per seed; ensembles of MORPH_JUDGES consecutive seeds of the list")
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.csv and <out>.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        model = load(run).eval()
        data = data_module(model.cfg)
        lines = morph_lines(model, data)  # one set of decoded lines; only the judge changes
        judges = {}
        for seed in args.seeds:
            judges[seed] = frame_classifier(data, seed=seed)
            m = morph_scores(model, data, clf=judges[seed], lines=lines)
            rows.append({"model": run.name, "judge": f"seed {seed}", "lines": len(lines),
                         **{k: m.get(k) for k in KEYS}})
            print(rows[-1], flush=True)
        for i in range(0, len(args.seeds) - MORPH_JUDGES + 1, MORPH_JUDGES):
            group = args.seeds[i:i + MORPH_JUDGES]
            m = morph_scores(model, data, clf=JudgeEnsemble([judges[s] for s in group]), lines=lines)
            rows.append({"model": run.name, "judge": f"mean of seeds {group[0]}-{group[-1]}", "lines": len(lines),
                         **{k: m.get(k) for k in KEYS}})
            print(rows[-1], flush=True)
    write_csv(args.out.with_suffix(".csv"), rows)

    def cell(v) -> str:
        return "" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)

    md = [f"# The morph score's judge seed: `python benchmarks/morph_judge_seeds.py "
          f"{' '.join(map(str, args.runs))} --seeds {' '.join(map(str, args.seeds))} --out {args.out}`", "",
          f"On {platform.machine()}, torch {torch.__version__}, 1 thread. The morph score (docs/evaluation.md) of "
          "each model on the same decoded lines, judged by the frame classifier trained from each seed, and by the "
          f"mean posterior of {MORPH_JUDGES} of them (the cards' judge since session 10: the mean of seeds "
          f"0-{MORPH_JUDGES - 1}; before, seed 0 alone). `morph_even` is the fraction of the counted pairs "
          "(`morph_pairs`, endpoints recognised) crossing one half within 30-70 % of the line.", "",
          "| model | judge | lines | " + " | ".join(KEYS) + " |", "|---|---|---:|" + "---:|" * len(KEYS)]
    md += [f"| {r['model']} | {r['judge']} | {r['lines']} | " + " | ".join(cell(r[k]) for k in KEYS) + " |"
           for r in rows]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
