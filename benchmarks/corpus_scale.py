"""Corpus preparation and frame training at scale: notes/s and peak memory against the number of notes.

Generates a corpus of short synthetic notes on disk (harmonic tones at random MIDI pitches, 0.25 s at 22,050 Hz,
ten "instruments" of different timbres, 16-bit WAVs), then for each size (the first N notes of it, the WAVs
shared) runs ``prepare`` (STFT 1024/256, 513 bins, the default settings) in a fresh process, and records notes/s
and the peak resident memory of the preparing process (``VmHWM``; the pool workers each hold one note). Last,
one epoch of frame training (the sol-ae MLP, 513-512-256-16, batch 256, every frame) over the largest corpus
with ``LATENTSYNTH_FRAMES_IN_MEMORY_MB`` below the cache size, so the frames are read batch by batch from the
parts (``FrameStore``: ``pread``, nothing memory-mapped) and never loaded whole. Writes
docs/benchmarks/corpus_scale.{csv,md}.

    .venv/bin/python benchmarks/corpus_scale.py [--sizes 10000,50000] [--root /tmp/corpus_scale] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SR, SECONDS = 22050, 0.25


def vm(field: str) -> float:
    """A /proc/self/status field in MiB (VmHWM: peak resident memory, VmRSS: now)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def generate(corpus: Path, n: int, seed: int = 0) -> float:
    """``n`` notes into ``corpus`` (kept if already there); returns seconds."""
    import soundfile as sf

    from latentsynth.data.audio import corpus as C

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * SR)) / SR
    env = np.minimum(1, t / 0.01) * np.exp(-4 * t)
    notes = []
    (corpus / "wav").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        inst, pitch = i % 10, int(rng.integers(36, 97))
        rel = f"wav/n{i:06d}.wav"
        if not (corpus / rel).is_file():
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            y = sum(np.sin(2 * np.pi * f0 * k * t) / k ** (0.5 + inst / 5) for k in range(1, 9) if f0 * k < SR / 2)
            sf.write(corpus / rel, (0.3 * env * y).astype(np.float32), SR, subtype="PCM_16")
        notes.append(C.Note(f"synth{inst}", "Synth", pitch, C.pitch_name(pitch), "mf", "ord", "generated", SECONDS,
                            SR, "train", rel))
    for note, split in zip(notes, C.assign_splits(notes, val=0.05, test=0.05), strict=True):
        note.split = split
    C.write_metadata(corpus, notes)
    return time.perf_counter() - t0


def subset(full: Path, corpus: Path, n: int) -> None:
    """A corpus of the first ``n`` notes of ``full`` (its wav/ linked, not copied)."""
    from latentsynth.data.audio import corpus as C

    corpus.mkdir(parents=True, exist_ok=True)
    if not (corpus / "wav").exists():
        (corpus / "wav").symlink_to(full / "wav")
    C.write_metadata(corpus, C.read_metadata(full)[:n])


def child_prepare(corpus: Path, cache: Path, workers: int) -> dict:
    from latentsynth.data.audio.frames import FrameStore, PrepConfig, prepare
    from latentsynth.folders import read_json

    base = vm("VmRSS")
    t0 = time.perf_counter()
    out = prepare(corpus, PrepConfig(), cache=cache, workers=workers, quiet=True)
    dt = time.perf_counter() - t0
    store = FrameStore(out)
    size = sum(p.stat().st_size for p in (out / "parts").iterdir()) / 2**20
    return {"notes": read_json(out / "manifest.json")["notes"], "seconds": dt, "frames": store.shape[0],
            "parts": len(store.parts), "cache_mb": size, "rss_base_mb": base, "rss_peak_mb": vm("VmHWM"),
            "notes_csv_mb": (out / "notes.csv").stat().st_size / 2**20}


def child_train(corpus: Path, cache: Path) -> dict:
    import lightning as L
    import torch

    from latentsynth.config import load_config, to_dict
    from latentsynth.data.audio.datamodule import FrameDataModule, LazyFrames
    from latentsynth.training.module import LitAutoEncoder

    torch.set_num_threads(1)
    cfg = load_config("sol-ae", [f"data.corpus={corpus}", f"data.cache_dir={cache}", "train.max_epochs=1",
                                 "train.accelerator=cpu"])
    base = vm("VmRSS")
    data = FrameDataModule(cfg.data, cfg.train.seed)
    data.setup()
    assert isinstance(data.frames, LazyFrames), "the frames were loaded into memory"
    after_setup = vm("VmRSS")
    module = LitAutoEncoder(to_dict(cfg), list(data.shape), data.audio_info().model_dump(mode="json"))
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                        num_sanity_val_steps=0, use_distributed_sampler=False)
    t0 = time.perf_counter()
    trainer.fit(module, datamodule=data)
    dt = time.perf_counter() - t0
    return {"windows": len(data.train), "seconds": dt, "frames_per_s": len(data.train) / dt,
            "steps": trainer.global_step, "rss_base_mb": base, "rss_after_setup_mb": after_setup,
            "rss_peak_mb": vm("VmHWM"),
            "loss": next((float(v) for k, v in sorted(trainer.callback_metrics.items()) if "loss" in k), float("nan"))}


def run_child(*args: str, env: dict | None = None) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                         env={**os.environ, **(env or {})})
    if res.returncode:
        raise SystemExit(f"child {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,50000")
    ap.add_argument("--root", type=Path, default=Path("/tmp/corpus_scale"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    ap.add_argument("--child", nargs="*")
    args = ap.parse_args()
    if args.child:
        what, corpus, cache, *rest = args.child
        res = (child_prepare(Path(corpus), Path(cache), int(rest[0])) if what == "prepare"
               else child_train(Path(corpus), Path(cache)))
        print(json.dumps(res))
        return
    from latentsynth.folders import atomic_write_text, write_csv

    sizes = sorted(int(s) for s in args.sizes.split(","))
    full = args.root / f"corpus-{sizes[-1]}"
    gen = generate(full, sizes[-1])
    print(f"generated {sizes[-1]} notes in {gen:.0f} s -> {full}", flush=True)
    rows = []
    for n in sizes:
        corpus = full if n == sizes[-1] else args.root / f"corpus-{n}"
        if corpus != full:
            subset(full, corpus, n)
        cache = args.root / f"cache-{n}"
        shutil.rmtree(cache, ignore_errors=True)
        r = run_child("prepare", str(corpus), str(cache), str(args.workers))
        r.update(step=f"prepare {n} notes ({args.workers} workers)", corpus_notes=n,
                 notes_per_s=r["notes"] / r["seconds"], notes_per_s_per_core=r["notes"] / r["seconds"] / args.workers)
        rows.append(r)
        print(r, flush=True)
    if not args.no_train:
        n = sizes[-1]
        cache = args.root / f"cache-{n}"
        r = run_child("train", str(full), str(cache), env={"LATENTSYNTH_FRAMES_IN_MEMORY_MB": "0"})
        r.update(step=f"1 epoch of sol-ae over {n} notes (frames read lazily)", corpus_notes=n)
        rows.append(r)
        print(r, flush=True)
    write_csv(args.out / "corpus_scale.csv", rows)
    prep = [r for r in rows if r["step"].startswith("prepare")]
    lines = ["# Corpus preparation and frame training at scale", "",
             f"`.venv/bin/python benchmarks/corpus_scale.py --sizes {args.sizes} --workers {args.workers}` on "
             f"{platform.machine()}, {os.cpu_count()} CPU cores (shared with other jobs while it ran). Notes: "
             f"synthetic harmonic tones, {SECONDS} s at {SR} Hz, written as WAVs ({gen:.0f} s to generate "
             f"{sizes[-1]}); `prepare` with the default settings (STFT 1024/256, 513 bins, float16) in a fresh "
             "process per size. Peak RSS: `VmHWM` of the preparing process (torch, librosa and the package "
             "imported: the base RSS).", "",
             "| corpus | notes | seconds | notes / s | notes / s / core | frames | parts | cache (MiB) | "
             "base RSS (MiB) | peak RSS (MiB) | peak - base (MiB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in prep:
        lines.append(f"| {r['corpus_notes']} | {r['notes']} | {r['seconds']:.0f} | {r['notes_per_s']:.0f} | "
                     f"{r['notes_per_s_per_core']:.0f} | {r['frames']} | {r['parts']} | {r['cache_mb']:.0f} | "
                     f"{r['rss_base_mb']:.0f} | {r['rss_peak_mb']:.0f} | {r['rss_peak_mb'] - r['rss_base_mb']:.0f} |")
    if len(prep) >= 2:
        a, b = prep[0], prep[-1]
        per_note = (b["rss_peak_mb"] - a["rss_peak_mb"]) / (b["notes"] - a["notes"]) * 1024
        lines += ["", f"Peak RSS grew by {b['rss_peak_mb'] - a['rss_peak_mb']:.0f} MiB from {a['notes']} to "
                  f"{b['notes']} notes ({per_note:.1f} KiB per note; each note's frames are "
                  f"{b['cache_mb'] / b['notes'] * 1024:.0f} KiB in the cache), while the cache grew "
                  f"{b['cache_mb'] / max(a['cache_mb'], 1e-9):.1f}x. The bound: peak RSS <= base + the note "
                  "metadata (the metadata table and one row per note of the build's note list, a few hundred bytes "
                  "each) + one part (`part_notes`, default 256, x `max_duration` of frames: 256 x 173 x 513 x 2 "
                  "bytes = 45 MiB at the default 2 s, about twice that while it is written) + one note per worker."]
    tr = [r for r in rows if r["step"].startswith("1 epoch")]
    if tr:
        r = tr[0]
        lines += ["", "## One epoch of frame training without loading the corpus", "",
                  f"`sol-ae` (MLP 513-512-256-16, batch 256, 1 torch thread) for one epoch over the "
                  f"{r['windows']} training frames of the {r['corpus_notes']}-note cache "
                  "(`LATENTSYNTH_FRAMES_IN_MEMORY_MB=0`, always below the cache size: the data module reads the "
                  "frames batch by batch, `LazyFrames` over `FrameStore`):", "",
                  "| training frames | steps | seconds | frames / s | base RSS (MiB) | after setup (MiB) | "
                  "peak RSS (MiB) | train loss |", "|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {r['windows']} | {r['steps']} | {r['seconds']:.0f} | {r['frames_per_s']:.0f} | "
                  f"{r['rss_base_mb']:.0f} | {r['rss_after_setup_mb']:.0f} | {r['rss_peak_mb']:.0f} | "
                  f"{r['loss']:.4f} |", "",
                  f"The frames as float32 would take {r['windows'] * 513 * 4 / 2**20:.0f} MiB; the peak RSS above "
                  "the base is the metadata, the window index (two int64 per training window: 16 bytes) and a "
                  "batch. The machine was shared (load average 20-40 on its 2 cores): the frames/s is a floor, "
                  "not a measure of the lazy reads' cost."]
    atomic_write_text(args.out / "corpus_scale.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'corpus_scale.md'}")


if __name__ == "__main__":
    main()
