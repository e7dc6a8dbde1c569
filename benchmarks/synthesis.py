"""Synthesis speed and quality, side by side in one run (issue #13): additive vs Griffin-Lim rendering.

Speed, one torch thread: decode + render 1 s of audio (86 points of a frame model) with the additive renderer
(harmonic models) and with torch Griffin-Lim (32 iterations), and librosa's Griffin-Lim of the same magnitudes
as the peer; a geodesic between two codes (24 points, 200 steps). Quality: held-out notes of the model's
corpus encoded into their paths and rendered both ways, multi-resolution STFT distance to the original audio
(the Griffin-Lim inversion of the original magnitudes is the floor).

    .venv/bin/python benchmarks/synthesis.py MODEL [MODEL ...] [--notes 16] [--repeats 20]

writes docs/benchmarks/synthesis.{md,csv,png}.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import librosa
import numpy as np
import torch
from timing import timed  # noqa: E402  (benchmarks/timing.py)

from latentsynth.data import data_module
from latentsynth.dsp import multi_resolution_stft_distance
from latentsynth.dsp.griffinlim import invert
from latentsynth.evaluation.audio import note_audio, note_magnitudes, pick_notes
from latentsynth.folders import write_csv
from latentsynth.latent.geodesic import geodesic
from latentsynth.plots import plt, save_figure
from latentsynth.synth import Synth
from latentsynth.synth.notes import encode_note
from latentsynth.threads import set_threads

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"




def speed(synth: Synth, repeats: int) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    n = round(1.0 / synth.hop_seconds)  # 1 s of audio
    z = synth.model.prior.sample(n, generator=g)
    c = synth.labels(n, 60) if synth.model.conditioned else None
    rows = []
    name = synth.model.cfg.name
    if synth.model.harmonic:
        rows.append({"model": name, "task": "decode + render 1 s", "method": "additive (ours)",
                     "ms": 1000 * timed(lambda: synth.render(z, c, "additive"), repeats)})
    rows.append({"model": name, "task": "decode + render 1 s", "method": "Griffin-Lim 32 it. (ours, torch)",
                 "ms": 1000 * timed(lambda: synth.render(z, c, "griffinlim"), repeats)})
    mag = synth.magnitudes(z, c).T.numpy()
    spec = synth.spec
    if spec.representation == "stft":
        rows.append({"model": name, "task": "decode + render 1 s", "method": "Griffin-Lim 32 it. (librosa)",
                     "ms": 1000 * timed(lambda: (synth.magnitudes(z, c), librosa.griffinlim(
                         mag, n_iter=32, hop_length=spec.hop_length, n_fft=spec.n_fft, random_state=0)), repeats)})
    z0, z1 = synth.model.prior.sample(2, generator=g)
    dec = synth.decoded_distance_fn(c)
    rows.append({"model": name, "task": "geodesic (24 points, 200 steps)", "method": "ours",
                 "ms": 1000 * timed(lambda: geodesic(z0, z1, dec, n_points=24, steps=200), max(3, repeats // 5))})
    return rows


def quality(synth: Synth, folder: Path, n_notes: int) -> list[dict]:
    data = data_module(synth.model.cfg)
    rows = []
    for k in pick_notes(data, n_notes):
        r = data.notes[k]
        y = torch.from_numpy(note_audio(data, k))[None]
        pf = encode_note(synth, Path(data.cfg.corpus) / r["path"], pitch=float(r["pitch"]),
                         instrument=r["instrument"], dynamics=r["dynamics"], style=r["style"])
        c = None
        if synth.model.conditioned:
            curve = pf.pitch if isinstance(pf.pitch, list) else [pf.pitch] * len(pf.codes)
            c = torch.tensor([synth.info.label_row(float(p), r["instrument"], r["dynamics"], r["style"])
                              for p in curve])
        row = {"model": synth.model.cfg.name, "note": Path(r["path"]).stem}
        methods = ["additive", "griffinlim"] if synth.model.harmonic else ["griffinlim"]
        for m in methods:
            out = torch.from_numpy(synth.render(pf.z, c, m))[None]
            row[f"mrstft_{m}"] = float(multi_resolution_stft_distance(y, out)[0])
        ref, _ = note_magnitudes(synth.model, data, k)  # [F, T] the note's own magnitudes
        floor = invert(ref[None].float(), synth.spec, n_iter=32, length=y.shape[1])
        row["mrstft_floor"] = float(multi_resolution_stft_distance(y, floor)[0])
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--notes", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    set_threads(1)
    speed_rows, quality_rows = [], []
    for folder in args.models:
        synth = Synth.load(folder)
        speed_rows += speed(synth, args.repeats)
        quality_rows += quality(synth, folder, args.notes)
        print(speed_rows[-4:], flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    write_csv(OUT / "synthesis_speed.csv", speed_rows)
    write_csv(OUT / "synthesis_quality.csv", quality_rows)
    lines = ["# Synthesis: additive vs Griffin-Lim rendering", "",
             f"`.venv/bin/python benchmarks/synthesis.py {' '.join(str(m) for m in args.models)} --notes "
             f"{args.notes} --repeats {args.repeats}` on {platform.machine()}, {torch.__version__}, one torch "
             "thread (2-core machine, possibly shared while measured); medians.", "",
             "## Speed: decode and render 1 s of audio", "", "| model | task | method | ms | x real time |",
             "|---|---|---|---:|---:|"]
    for r in speed_rows:
        rt = f"{1000 / r['ms']:.0f}" if r["task"].startswith("decode") else ""
        lines.append(f"| {r['model']} | {r['task']} | {r['method']} | {r['ms']:.1f} | {rt} |")
    lines += ["", f"## Quality: {args.notes} held-out notes encoded and re-rendered (MR-STFT to the original, lower "
              "is better)", "", "| model | additive | Griffin-Lim (decoded) | Griffin-Lim (original magnitudes: "
              "floor) |", "|---|---:|---:|---:|"]
    for m in dict.fromkeys(r["model"] for r in quality_rows):
        rs = [r for r in quality_rows if r["model"] == m]

        def mean(key: str, rows=rs) -> str:
            vals = [r[key] for r in rows if key in r]
            return f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "—"

        lines.append(f"| {m} | {mean('mrstft_additive')} | {mean('mrstft_griffinlim')} | {mean('mrstft_floor')} |")
    (OUT / "synthesis.md").write_text("\n".join(lines) + "\n")
    fig, ax = plt.subplots(figsize=(7, 3))
    labels = [f"{r['model']}\n{r['method']}" for r in speed_rows if r["task"].startswith("decode")]
    ax.barh(labels, [r["ms"] for r in speed_rows if r["task"].startswith("decode")], color="tab:blue")
    ax.axvline(1000, color="gray", ls=":", lw=0.8)
    ax.set_xlabel("ms to decode and render 1 s of audio (one thread; 1000 = real time)")
    ax.set_xscale("log")
    save_figure(fig, OUT / "synthesis.png")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
