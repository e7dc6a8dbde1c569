"""Speed of the Exercise 5 machinery (issue #17), one torch thread: a descriptor map over a latent plane
(n x n decoded codes, five torch descriptors, the training codes' KDE), descriptor curves, one targeted search
(centroid 800 -> 3000 Hz at -20 dB over 2 s, 200 Adam steps) and one model of the synthesis study (8 generators x
8 note pairs, rendered, scored, with figures).

    .venv/bin/python benchmarks/descriptor_map.py MODEL [MODEL ...] [--sizes 32 64 128] [--repeats 3] [--study]

writes docs/benchmarks/descriptor_map.{md,csv}.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from timing import timed  # noqa: E402  (benchmarks/timing.py)

from latentsynth.folders import write_csv
from latentsynth.synth import Synth
from latentsynth.synth.descriptors import descriptor_curves, descriptor_map
from latentsynth.synth.target import targeted_path
from latentsynth.threads import set_threads

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--sizes", nargs="+", type=int, default=[32, 64, 128])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--study", action="store_true", help="also time one model of the study (8 x 8)")
    args = ap.parse_args()
    set_threads(1)
    rows = []
    for folder in args.models:
        synth = Synth.load(folder)
        name = folder.name
        kind = f"{synth.model.cfg.model.network.kind}, {synth.spec.representation}, d={synth.latent_dim}"
        for n in args.sizes:
            s = timed(lambda n=n, synth=synth: descriptor_map(synth, n=n), args.repeats)
            rows.append({"model": name, "network": kind, "task": f"map {n}x{n}", "seconds": round(s, 3),
                         "per_code_ms": round(1000 * s / n**2, 4)})
            print(rows[-1], flush=True)
        s = timed(lambda synth=synth: descriptor_curves(synth, "pca", n=41), args.repeats)
        rows.append({"model": name, "network": kind, "task": f"curves {synth.latent_dim} x 41", "seconds": round(s, 3)})
        t0 = time.perf_counter()
        res = targeted_path(synth, {"centroid": (800, 3000), "loudness": -20}, seconds=2.0)
        rows.append({"model": name, "network": kind, "task": "target 2 s, 200 steps",
                     "seconds": round(time.perf_counter() - t0, 3),
                     "note": f"rel. error {res.error['rel_rms_mean']:.3f} "
                             f"(greedy {res.greedy_error['rel_rms_mean']:.3f})"})
        print(rows[-1], flush=True)
        if args.study:
            from latentsynth.bench.synthesis_study import run_study

            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                run_study([folder], tmp, pairs=8, quiet=True)
                rows.append({"model": name, "network": kind, "task": "study 8 generators x 8 pairs",
                             "seconds": round(time.perf_counter() - t0, 1)})
                print(rows[-1], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    write_csv(OUT / "descriptor_map.csv", rows)
    lines = ["# Descriptor maps, targeted synthesis and the synthesis study: speed", "",
             f"`python benchmarks/descriptor_map.py` on {platform.machine()}, one torch thread, "
             f"torch {torch.__version__}; median of {args.repeats} after a warm-up (target and study: one run). "
             "A map decodes n x n codes of the PCA plane in batches of 4096, computes five torch descriptors of the "
             "decoded linear STFT magnitudes and the KDE of the training codes on the grid. Other work on the "
             "shared machine adds noise.", "",
             "The target row uses the model's default labels (middle pitch, first names); its error is what the "
             "model can reach there (the study's harmonic VAE has one active latent unit and does not reach 3000 Hz "
             "at -20 dB: neither search does), not a convergence failure; tests/test_synth_descriptors.py checks "
             "that a reachable target is met within 2 %.", "",
             "| model | network | task | s | ms / code | note |", "|---|---|---|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['network']} | {r['task']} | {r['seconds']} | {r.get('per_code_ms', '')} "
                     f"| {r.get('note', '')} |")
    (OUT / "descriptor_map.md").write_text("\n".join(lines) + "\n")
    print(OUT / "descriptor_map.md")


if __name__ == "__main__":
    main()
