"""How high can the instrument probe go? The timbre scores' note-level instrument probe (issue #22) run on what
the model's codes are made from, on the same notes (issue #22's target is >= 0.90 from the codes).

    .venv/bin/python benchmarks/probe_ceiling.py RUN [RUN ...] --out docs/results/probe-ceiling

For each model folder (a harmonic model whose corpus is here): the notes and rule of
``evaluation.timbre.code_probes`` (up to 1200 train notes spread over the split, every test note; a note is the
mean over its frames within 20 dB of its loudest) and its probes (``probe_scores``: logistic regression on
standardised features and 10-NN, balanced accuracy), fed four ways:

* ``code``: the note code (``note_code``), as the timbre score does;
* ``code+pitch``: the code and the pitch (what the decoder is told besides the code);
* ``view``: the encoder's input, the pitch view (the frame read at the partials of f0, plus noise bands);
* ``frame``: the normalised dB frame itself (513 bins).

The view and the frame bound what a 16-number code can carry to a linear probe on these notes. Writes
``<out>.csv`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
from pathlib import Path

import numpy as np
import torch

FEATURES = ("code", "code+pitch", "view", "frame")


def note_features(model, data, notes: list[int], loud_db: float = 20.0) -> dict[str, np.ndarray]:
    """The four feature sets of ``notes`` -> ``{name: [N, D]}``."""
    from latentsynth.evaluation.timbre import note_code
    from latentsynth.models.conditioning import LABELS

    pitch_col = LABELS.index("pitch")
    out: dict[str, list[np.ndarray]] = {k: [] for k in FEATURES}
    for k in notes:
        x, lab = data.note_tensor(k), data.note_labels[k]
        with torch.no_grad():
            z = note_code(model, x, lab, loud_db).numpy()
            energy = model.db.to_db(x[:, None]).amax(dim=(1, 2))
            loud = x[energy >= energy.max() - loud_db]  # [T', F]: the frames note_code averages
            view = model.pitch_view(loud[:, None], lab[pitch_col].expand(len(loud)))[:, 0].mean(0).numpy()
        out["code"].append(z)
        out["code+pitch"].append(np.r_[z, float(lab[pitch_col]) / 12.0])
        out["view"].append(view)
        out["frame"].append(loud.mean(0).numpy())
    return {k: np.stack(v) for k, v in out.items()}


def main() -> None:
    from latentsynth import load
    from latentsynth.data import data_module
    from latentsynth.data.audio.corpus import spread
    from latentsynth.evaluation.timbre import probe_scores
    from latentsynth.folders import atomic_write_text

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.csv and <out>.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        model = load(run).eval()
        if getattr(model, "pitch_view", None) is None:
            raise SystemExit(f"{run}: not a harmonic model with a pitch view; give a timbre or harmonic model")
        data = data_module(model.cfg)
        train, test = spread(data.note_indices("train"), 1200), data.note_indices("test")
        ft, fv = note_features(model, data, train), note_features(model, data, test)
        yt = [str(data.notes[k]["instrument"]) for k in train]
        yv = [str(data.notes[k]["instrument"]) for k in test]
        for name in FEATURES:
            p = probe_scores(ft[name], yt, fv[name], yv)
            rows.append({"model": run.name, "features": name, "dim": ft[name].shape[1], "train_notes": len(train),
                         "test_notes": len(test), "instruments": len(set(yt)),
                         "linear": round(p["linear"], 4), "knn": round(p["knn"], 4)})
            print(rows[-1], flush=True)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(args.out.with_suffix(".csv"), buf.getvalue())
    md = [f"# The instrument probe's ceiling: `python benchmarks/probe_ceiling.py {' '.join(map(str, args.runs))} "
          f"--out {args.out}`", "",
          f"On {platform.machine()}, torch {torch.__version__}, 1 thread. Balanced accuracy of the note-level "
          "instrument probe of `evaluation.timbre.code_probes` (linear: logistic regression on standardised "
          "features; k-NN: 10 neighbours) fed the note code, the code and the pitch, the encoder's input view, "
          "or the dB frame, on the same notes.", "",
          "| model | features | dim | instruments | train / test notes | linear | 10-NN |",
          "|---|---|---:|---:|---|---:|---:|"]
    md += [f"| {r['model']} | {r['features']} | {r['dim']} | {r['instruments']} | {r['train_notes']} / "
           f"{r['test_notes']} | {r['linear']:.3f} | {r['knn']:.3f} |" for r in rows]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
