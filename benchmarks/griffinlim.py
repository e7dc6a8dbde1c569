"""Torch Griffin-Lim (latentsynth.dsp.griffinlim) against librosa.griffinlim on a batch of notes.

Same magnitudes, same iterations and momentum; reports seconds per batch and the mean spectral
convergence ||S - |STFT(y)| ||_F / ||S||_F. Two batches: synthetic harmonic notes (the setting of the
issue's reference numbers) and notes of a rendered corpus when one is given. CUDA rows when a GPU is present.
Writes docs/benchmarks/griffinlim.{csv,md}.

    .venv/bin/python benchmarks/griffinlim.py [--corpus runs/audio/fluidr3] [--notes 16]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from latentsynth.dsp import griffinlim, spectral_convergence, stft
from latentsynth.folders import atomic_write_text, write_csv

ROOT = Path(__file__).resolve().parents[1]
SR = 22050
SETTINGS = [(2048, 512, 32, 0.0), (2048, 512, 32, 0.99), (2048, 512, 100, 0.99), (1024, 256, 32, 0.99),
            (1024, 256, 100, 0.99)]


def synthetic(n: int, seconds: float = 2.0) -> np.ndarray:
    """``[n, N]`` harmonic notes (12 partials 1/k, 50 ms attack, exponential decay), 55-880 Hz."""
    t = np.arange(int(seconds * SR)) / SR
    out = []
    for f0 in np.geomspace(55, 880, n):
        y = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 13) if f0 * k < SR / 2)
        out.append(0.3 * y * np.minimum(1, t / 0.05) * np.exp(-1.5 * t))
    return np.stack(out).astype(np.float32)


def corpus_notes(folder: Path, n: int, seconds: float = 2.0) -> np.ndarray:
    from latentsynth.data.audio.corpus import read_metadata
    from latentsynth.data.audio.frames import PrepConfig, load_note
    from latentsynth.evaluation.roundtrip import pick_corpus_notes

    picked = pick_corpus_notes(read_metadata(folder), n)[:n]
    size = int(seconds * SR)
    return np.stack([np.pad(y := load_note(folder / p.path, PrepConfig())[:size], (0, size - len(y)))
                     for p in picked])


def sc(S: np.ndarray, y, n_fft: int, hop: int) -> float:
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y.cpu())
    return float(spectral_convergence(torch.as_tensor(S), stft(y, n_fft, hop).abs()).mean())


def run(batch: str, ys: np.ndarray, devices: list[str]) -> list[dict]:
    rows = []
    librosa.griffinlim(np.abs(librosa.stft(ys[:1, :4096])), n_iter=2)  # warm up (numba, FFT plans)
    for n_fft, hop, n_iter, mom in SETTINGS:
        S = np.abs(librosa.stft(ys, n_fft=n_fft, hop_length=hop))  # [B, F, T]
        t0 = time.perf_counter()
        y_ref = librosa.griffinlim(S, n_iter=n_iter, n_fft=n_fft, hop_length=hop, momentum=mom, random_state=0,
                                   length=ys.shape[1])
        rows.append(dict(batch=batch, notes=len(ys), n_fft=n_fft, hop=hop, n_iter=n_iter, momentum=mom,
                         impl="librosa (numpy)", seconds=time.perf_counter() - t0, sc=sc(S, y_ref, n_fft, hop)))
        for dev in devices:
            if dev.startswith("cpu"):
                torch.set_num_threads(int(dev.split(":")[1]))
                dev = "cpu"
            mag = torch.from_numpy(S).to(dev)
            griffinlim(mag, n_fft, hop, 1, mom)  # warm up
            if dev == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            y = griffinlim(mag, n_fft, hop, n_iter, mom, ys.shape[1], generator=torch.Generator().manual_seed(0))
            if dev == "cuda":
                torch.cuda.synchronize()
            label = f"torch {dev}" + (f" ({torch.get_num_threads()} threads)" if dev == "cpu" else "")
            rows.append(dict(batch=batch, notes=len(ys), n_fft=n_fft, hop=hop, n_iter=n_iter, momentum=mom,
                             impl=label, seconds=time.perf_counter() - t0, sc=sc(S, y, n_fft, hop)))
        print("  ".join(f"{r['impl']}: {r['seconds']:.2f} s SC {r['sc']:.3f}" for r in rows[-1 - len(devices):]),
              f"[{batch} n_fft {n_fft} iters {n_iter} momentum {mom}]", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT / "runs/audio/fluidr3")
    ap.add_argument("--notes", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    threads = sorted({1, torch.get_num_threads()})
    devices = [f"cpu:{t}" for t in threads] + (["cuda"] if torch.cuda.is_available() else [])
    rows = run("synthetic", synthetic(args.notes), devices)
    if (args.corpus / "metadata.csv").is_file():
        rows += run(f"corpus {args.corpus.name}", corpus_notes(args.corpus, args.notes), devices)
    write_csv(args.out / "griffinlim.csv", rows)
    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (possibly shared with "
               f"other jobs while measured), torch {torch.__version__}, "
               f"librosa {librosa.__version__}" + (f", {torch.cuda.get_device_name()}" if "cuda" in devices else ""))
    lines = ["# Griffin-Lim: torch vs librosa", "", f"`.venv/bin/python benchmarks/griffinlim.py` on {machine}.",
             f"Batches of {args.notes} notes of 2 s at {SR} Hz; seconds for the whole batch; SC = mean spectral "
             "convergence (lower is better), random initial phases (seed 0; the two libraries draw different "
             "phases, so SC differs by the spread between random starts).", "",
             "| batch | n_fft / hop | iterations | momentum | implementation | seconds | SC |",
             "|---|---|---:|---:|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['batch']} | {r['n_fft']} / {r['hop']} | {r['n_iter']} | {r['momentum']} | {r['impl']} | "
                     f"{r['seconds']:.2f} | {r['sc']:.3f} |")
    atomic_write_text(args.out / "griffinlim.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'griffinlim.md'}")


if __name__ == "__main__":
    main()
