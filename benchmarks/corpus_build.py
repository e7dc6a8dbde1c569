"""Corpus build throughput: `prepare` per representation (notes/s), optionally after `render`.

By default prepares the demo corpus runs/audio/quick (218 notes of 2 s at 22,050 Hz; read only) as STFT, mel
and CQT frames with the default settings into a temporary cache, plus the CQT as it was computed before
issue #16 item 5b (``librosa.cqt`` on every note, filter banks rebuilt each call) as the reference. With
``--render DIR`` it first renders the default FluidSynth corpus (every instrument, its tessitura, pp/mf/ff,
all playing styles; 3171 notes) into DIR (emptied first) and prepares that. Writes
docs/benchmarks/corpus_build.{csv,md}.

    .venv/bin/python benchmarks/corpus_build.py [--corpus runs/audio/quick] [--render DIR] [--workers 2]

Each `prepare` runs in this process after the previous one, so only the first (STFT) pays librosa's lazy
imports (~1-2 s); the notes/s are those of `prepare` itself, not of the CLI (which also imports the package,
~4 s).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import librosa
import numpy as np

from latentsynth.data.audio.fluidsynth import render_corpus
from latentsynth.data.audio.frames import FrameStore, PrepConfig, prepare
from latentsynth.dsp import SpecConfig, transforms
from latentsynth.folders import atomic_write_text, read_json, write_csv

ROOT = Path(__file__).resolve().parents[1]


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def librosa_cqt_magnitude(y: np.ndarray, cfg: SpecConfig) -> np.ndarray:
    """The CQT of `prepare` before #16 item 5b: ``librosa.cqt`` per note (the reference of the speed-up)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_fft=.* is too large")
        c = librosa.cqt(y, sr=cfg.sample_rate, hop_length=cfg.hop_length, fmin=cfg.cqt_fmin,
                        n_bins=cfg.bins_per_octave * cfg.n_octaves, bins_per_octave=cfg.bins_per_octave)
    return np.abs(c).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "runs/audio/quick", help="existing corpus (read only)")
    ap.add_argument("--render", type=Path, default=None, help="render the default corpus here (emptied) instead")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--representations", default="stft,mel,cqt,cqt-librosa")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    rows = []
    corpus = args.corpus
    if args.render is not None:
        corpus = args.render
        shutil.rmtree(corpus, ignore_errors=True)
        t0 = time.perf_counter()
        report = render_corpus(corpus, quiet=True)
        dt = time.perf_counter() - t0
        rows.append(dict(corpus="default (rendered)", step="render (FluidR3_GM, 22,050 Hz, 2 s notes)",
                         notes=report.built, seconds=dt, notes_per_s=report.built / dt,
                         size_mb=size_mb(corpus / "wav"), frames=""))
        print(rows[-1], flush=True)
    name = corpus.name if args.render is None else "default (rendered)"
    fast_cqt = transforms.cqt_magnitude
    cqt_feats: dict[bool, np.ndarray] = {}  # the stored CQT frames, new and before (must agree)
    for rep in args.representations.split(","):
        before = rep == "cqt-librosa"
        cfg = PrepConfig(spec=SpecConfig(representation="cqt" if before else rep))
        transforms.cqt_magnitude = librosa_cqt_magnitude if before else fast_cqt  # magnitude() looks it up
        try:
            with tempfile.TemporaryDirectory(prefix="corpus_build-") as cache:
                t0 = time.perf_counter()
                out = prepare(corpus, cfg, cache=cache, workers=args.workers, quiet=True)
                dt = time.perf_counter() - t0
                n = read_json(out / "manifest.json")["notes"]
                feats = FrameStore(out)
                frames = feats.shape[0]
                if cfg.spec.representation == "cqt":
                    cqt_feats[before] = np.asarray(feats, dtype=np.float32)
                label = "cqt, librosa.cqt per note (before #16 5b)" if before else rep
                rows.append(dict(corpus=name, step=f"prepare {label} ({cfg.spec.n_bins} bins, {args.workers} workers)",
                                 notes=n, seconds=dt, notes_per_s=n / dt, size_mb=size_mb(out), frames=frames))
        finally:
            transforms.cqt_magnitude = fast_cqt
        print(rows[-1], flush=True)
    if len(cqt_feats) == 2:
        diff = float(np.abs(cqt_feats[True] - cqt_feats[False]).max())
        agree = (f"The CQT frames stored by `prepare` and those of `librosa.cqt` per note differ by at most "
                 f"{diff:.3g} dB (the stored frames compared element by element; the new computation is the same "
                 "arithmetic with the filter banks built once, see `cqt_magnitude`).")
        print(agree)
        for r in rows:
            r["max_db_diff_vs_librosa_cqt"] = diff if "cqt" in r["step"] else ""
    write_csv(args.out / "corpus_build.csv", rows)
    lines = ["# Corpus build throughput", "",
             f"`.venv/bin/python benchmarks/corpus_build.py` on {platform.machine()}, {os.cpu_count()} CPU cores "
             "(wall-clock seconds of `prepare` into a temporary cache; the machine may have been shared with other "
             "jobs).", "",
             "| corpus | step | notes | seconds | notes / s | frames | size (MB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['corpus']} | {r['step']} | {r['notes']} | {r['seconds']:.1f} | {r['notes_per_s']:.1f} | "
                     f"{r['frames']} | {r['size_mb']:.0f} |")
    if len(cqt_feats) == 2:
        lines += ["", agree]
    atomic_write_text(args.out / "corpus_build.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'corpus_build.md'}")


if __name__ == "__main__":
    main()
