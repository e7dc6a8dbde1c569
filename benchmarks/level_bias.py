"""Are decoded frames as loud as the notes? The level error of a frame model's reconstructions (issue #22's
loudness target): per frame, the A-weighted level (``evaluation.timbre.loudness_db``) of the decoded frame minus
the note's, over the notes of ``sound_scores`` (``pick_notes``, 32 test notes; frames within 60 dB of the note's
loudest, as ``loudness_l1``), by how far below the loudest frame they lie; and the same split into the bins near
partials (``partial_mask``) and the floor bins between them (median over frames).

    .venv/bin/python benchmarks/level_bias.py RUN [RUN ...] --out docs/results/level-bias

A Rayleigh-distributed (noise) bin's median magnitude is 20 log10(sqrt(ln 4) / sqrt(2)) = -1.59 dB under its RMS:
a decoder fitted to the median of noisy bins comes out that much quiet there. Writes ``<out>.csv`` and ``<out>.md``.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
import torch

BANDS = ((0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60))


def main() -> None:
    from latentsynth import load
    from latentsynth.data import data_module
    from latentsynth.dsp.harmonic import midi_to_hz
    from latentsynth.evaluation.audio import note_magnitudes, pick_notes
    from latentsynth.evaluation.timbre import a_weighting, loudness_db, partial_mask
    from latentsynth.folders import atomic_write_text, write_csv
    from latentsynth.models.conditioning import DbScale

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.csv and <out>.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for run in args.runs:
        model = load(run).eval()
        data = data_module(model.cfg)
        db = DbScale.from_info(data.audio_info())
        sr, n_fft = data.spec.sample_rate, data.spec.n_fft
        w = torch.as_tensor(10 ** (a_weighting(np.linspace(0, sr / 2, n_fft // 2 + 1)) / 10), dtype=torch.float32)
        down, err, part, floor = [], [], [], []
        for k in pick_notes(data, 32):
            ref, est = note_magnitudes(model, data, k, db)  # [F, T] each
            a, b = loudness_db(ref, sr, n_fft), loudness_db(est, sr, n_fft)
            keep = a >= a.max() - 60.0
            down.append((a.max() - a)[keep].numpy())
            err.append((b - a)[keep].numpy())
            m = partial_mask(n_fft, sr, float(midi_to_hz(torch.tensor(float(data.notes[k]["pitch"])))))
            for mask, acc in ((m, part), (~m, floor)):
                pr, pe = (ref[mask] ** 2 * w[mask, None]).sum(0), (est[mask] ** 2 * w[mask, None]).sum(0)
                acc.append((10 * torch.log10(pe + 1e-10) - 10 * torch.log10(pr + 1e-10))[keep].numpy())
        down, err = np.concatenate(down), np.concatenate(err)
        row = {"model": run.name, "frames": len(err), "loudness_l1": round(float(np.abs(err).mean()), 3),
               "bias": round(float(err.mean()), 3),
               "partials_median": round(float(np.median(np.concatenate(part))), 3),
               "floor_median": round(float(np.median(np.concatenate(floor))), 3)}
        for lo, hi in BANDS:
            sel = (down >= lo) & (down < hi)
            row[f"bias_{lo}_{hi}"] = round(float(err[sel].mean()), 3) if sel.any() else None
        rows.append(row)
        print(row, flush=True)
    write_csv(args.out.with_suffix(".csv"), rows)
    bands = [f"{lo}-{hi} dB down" for lo, hi in BANDS]
    md = [f"# Level of the decoded frames: `python benchmarks/level_bias.py {' '.join(map(str, args.runs))} "
          f"--out {args.out}`", "",
          f"On {platform.machine()}, torch {torch.__version__}, 1 thread. Decoded minus original A-weighted frame "
          "level in dB (negative: too quiet) over 32 test notes' frames within 60 dB of each note's loudest: "
          "L1 over the pooled frames (`loudness_l1` is the mean of per-note L1s), the mean, the mean by distance "
          "below the loudest frame, and the median over frames "
          "of the level of the bins near partials and of the floor bins.", "",
          "| model | frames | loudness L1 | bias | " + " | ".join(bands) + " | partial bins (median) | floor bins "
          "(median) |", "|---|---:|---:|---:|" + "---:|" * len(bands) + "---:|---:|"]
    for r in rows:
        cells = [r[f"bias_{lo}_{hi}"] for lo, hi in BANDS]
        md.append(f"| {r['model']} | {r['frames']} | {r['loudness_l1']} | {r['bias']:+.2f} | "
                  + " | ".join("" if c is None else f"{c:+.2f}" for c in cells)
                  + f" | {r['partials_median']:+.2f} | {r['floor_median']:+.2f} |")
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
