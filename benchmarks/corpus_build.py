"""Corpus build throughput: `render` of the default corpus and `prepare` per representation (notes/s).

Renders the default FluidSynth corpus (every instrument, its tessitura, pp/mf/ff, all playing styles) into a
scratch folder, then prepares it as STFT, mel and CQT frames with the default settings. Writes
docs/benchmarks/corpus_build.{csv,md}.

    .venv/bin/python benchmarks/corpus_build.py [--out runs/bench/corpus] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import numpy as np

from latentsynth.data.audio.fluidsynth import render_corpus
from latentsynth.data.audio.frames import PrepConfig, prepare
from latentsynth.dsp import SpecConfig
from latentsynth.folders import atomic_write_text, read_json, write_csv

ROOT = Path(__file__).resolve().parents[1]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "runs/bench/corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--representations", default="stft,mel,cqt")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    shutil.rmtree(args.corpus, ignore_errors=True)
    rows = []
    t0 = time.perf_counter()
    report = render_corpus(args.corpus, quiet=True)
    dt = time.perf_counter() - t0
    rows.append(dict(step="render (FluidR3_GM, 22,050 Hz, 2 s notes)", notes=report.built, seconds=dt,
                     notes_per_s=report.built / dt, size_mb=size_mb(args.corpus / "wav"), frames=""))
    print(rows[-1], flush=True)
    for rep in args.representations.split(","):
        cfg = PrepConfig(spec=SpecConfig(representation=rep))
        t0 = time.perf_counter()
        out = prepare(args.corpus, cfg, workers=args.workers, quiet=True)
        dt = time.perf_counter() - t0
        n = read_json(out / "manifest.json")["notes"]
        feats = np.load(out / "features.npy", mmap_mode="r")
        rows.append(dict(step=f"prepare {rep} ({cfg.spec.n_bins} bins, {args.workers} workers)", notes=n,
                         seconds=dt, notes_per_s=n / dt, size_mb=size_mb(out), frames=feats.shape[0]))
        print(rows[-1], flush=True)
    write_csv(args.out / "corpus_build.csv", rows)
    lines = ["# Corpus build throughput", "",
             f"`.venv/bin/python benchmarks/corpus_build.py` on {platform.machine()}, {os.cpu_count()} CPU cores "
             "(wall-clock seconds; the machine may have been shared with other jobs).", "",
             "| step | notes | seconds | notes / s | frames | size (MB) |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['step']} | {r['notes']} | {r['seconds']:.1f} | {r['notes_per_s']:.1f} | {r['frames']} | "
                     f"{r['size_mb']:.0f} |")
    atomic_write_text(args.out / "corpus_build.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'corpus_build.md'}")


if __name__ == "__main__":
    main()
