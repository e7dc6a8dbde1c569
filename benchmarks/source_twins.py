"""How much do the sound sources differ? Spectral convergence between *twins*: the same instrument, style, pitch
and dynamics rendered from two SoundFonts (issue #22: MuseScore General derives some instruments from FluidR3,
so those give no second timbre).

For every pair of corpora given, per instrument: the number of twins, the median and the 10th percentile of
``SC(A, B) = ||A - B||_F / ||A||_F`` between their linear STFT magnitudes (the frame analysis of
``latentsynth.data.audio.frames.note_features``, default settings, cut to the shorter note), and the fraction of
twins with SC >= 0.2 (those the source test counts).

    .venv/bin/python benchmarks/source_twins.py runs/audio/two runs/audio/timgm

A corpus of several sources (``audio render --soundfont A --soundfont B``) is split into its sources. Writes
docs/benchmarks/source_twins.{csv,md}.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from latentsynth.data.audio.corpus import note_source, read_metadata, twin_key
    from latentsynth.data.audio.frames import PrepConfig, note_features
    from latentsynth.dsp import spectral_convergence
    from latentsynth.dsp.transforms import decompress
    from latentsynth.folders import atomic_write_text

    ap = argparse.ArgumentParser()
    ap.add_argument("corpora", nargs="+", type=Path)
    ap.add_argument("--per-instrument", type=int, default=40, help="twins per instrument and pair (spread)")
    args = ap.parse_args()
    prep = PrepConfig()
    sources: dict[str, dict[tuple, Path]] = defaultdict(dict)
    for corpus in args.corpora:
        for n in read_metadata(corpus):
            sources[note_source(n).rsplit(".", 1)[0]][twin_key(n)] = corpus / n.path
    rows = []
    for a, b in combinations(sorted(sources), 2):
        common = sorted(set(sources[a]) & set(sources[b]))
        by_inst: dict[str, list[tuple]] = defaultdict(list)
        for k in common:
            by_inst[k[0]].append(k)
        for inst, keys in sorted(by_inst.items()):
            step = max(1, len(keys) // args.per_instrument)
            scs = []
            for k in keys[::step][: args.per_instrument]:
                ma = decompress(torch.from_numpy(note_features(sources[a][k], prep)).float(), prep.spec).T
                mb = decompress(torch.from_numpy(note_features(sources[b][k], prep)).float(), prep.spec).T
                n = min(ma.shape[1], mb.shape[1])
                scs.append(float(spectral_convergence(ma[:, :n], mb[:, :n])))
            s = np.array(scs)
            rows.append({"source_a": a, "source_b": b, "instrument": inst, "twins": len(keys), "scored": len(s),
                         "sc_median": round(float(np.median(s)), 4), "sc_p10": round(float(np.percentile(s, 10)), 4),
                         "differ_frac": round(float(np.mean(s >= 0.2)), 3)})
            print(rows[-1], flush=True)
    out = ROOT / "docs" / "benchmarks"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(out / "source_twins.csv", buf.getvalue())
    lines = ["# Sound sources compared: SC between twins", "",
             "Written by `benchmarks/source_twins.py " + " ".join(str(c) for c in args.corpora) + "`. Twins: the same "
             "instrument, style, pitch and dynamics from two SoundFonts; SC of their STFT magnitudes (A the "
             "reference). `differ`: the fraction with SC >= 0.2 (counted by the source test).", "",
             "| source A | source B | instrument | twins | scored | median SC | 10th pct. | differ |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['source_a']} | {r['source_b']} | {r['instrument']} | {r['twins']} | {r['scored']} | "
              f"{r['sc_median']:.3f} | {r['sc_p10']:.3f} | {r['differ_frac']:.2f} |" for r in rows]
    atomic_write_text(out / "source_twins.md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
