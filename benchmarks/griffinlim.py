"""Torch Griffin-Lim (latentsynth.dsp.griffinlim) against librosa.griffinlim, one thread, plus block streaming.

One run measures, side by side on one torch thread (librosa is single-threaded): seconds per note for
``librosa.griffinlim``, the previous torch implementation (``torch.istft``/``torch.stft`` every iteration, kept
here as the "before" reference) and the current one, on a batch of 2-s notes, for 1024/256 and 2048/512, 32 and
100 iterations, momentum 0 and 0.99, with the quality (mean spectral convergence ||S - |STFT(y)| ||_F / ||S||_F).
Then 1 s of audio (1024/256, 32 iterations): whole-sound inversion and ``GriffinLimStream`` in blocks, with the
time per second of audio and per block and the SC against the whole-sound inversion. Times: best of
``--repeats`` runs. Writes docs/benchmarks/griffinlim.{md,csv,png}. Takes about a minute on 2 cores.

    .venv/bin/python benchmarks/griffinlim.py [--notes 8] [--repeats 2] [--corpus runs/audio/fluidr3]
"""

# ruff: noqa: B023  (the timed lambdas run inside the loop iteration that defines them)
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import librosa
import numpy as np
import torch

from latentsynth.dsp import griffinlim, istft, spectral_convergence, stft
from latentsynth.dsp.griffinlim import GriffinLimStream
from latentsynth.folders import atomic_write_text, write_csv

ROOT = Path(__file__).resolve().parents[1]
SR = 22050
SETTINGS = [(n_fft, hop, n_iter, mom) for n_fft, hop in ((1024, 256), (2048, 512)) for n_iter in (32, 100)
            for mom in (0.0, 0.99)]


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


def previous(mag, n_fft, hop, n_iter, momentum, length, generator, eps=1e-16):
    """The implementation before the frame-domain loop: torch.istft + torch.stft every iteration."""
    phase = torch.rand(mag.shape, generator=generator, dtype=mag.dtype)
    angles = torch.polar(torch.ones_like(mag), 2 * np.pi * phase) * mag
    tprev = None
    for _ in range(n_iter):
        rebuilt = stft(istft(angles, n_fft, hop, length), n_fft, hop)
        angles = rebuilt if tprev is None else rebuilt - (momentum / (1 + momentum)) * tprev
        angles = angles / (angles.abs() + eps) * mag
        tprev = rebuilt
    return istft(angles, n_fft, hop, length)


def sc(S: np.ndarray | torch.Tensor, y, n_fft: int, hop: int) -> float:
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y.cpu())
    return float(spectral_convergence(torch.as_tensor(S), stft(y, n_fft, hop).abs()).mean())


def best(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def run(batch: str, ys: np.ndarray, repeats: int) -> list[dict]:
    rows = []
    n, length = len(ys), ys.shape[1]
    for n_fft, hop, n_iter, mom in SETTINGS:
        S = np.abs(librosa.stft(ys, n_fft=n_fft, hop_length=hop))  # [B, F, T]
        mag = torch.from_numpy(S)
        librosa.griffinlim(S[:1], n_iter=2, n_fft=n_fft, hop_length=hop, length=length)  # warm-up
        griffinlim(mag[:1], n_fft, hop, 2, mom, length)
        impls = {
            "librosa": lambda: librosa.griffinlim(S, n_iter=n_iter, n_fft=n_fft, hop_length=hop, momentum=mom,
                                                  random_state=0, length=length),
            "torch before (stft/istft loop)": lambda: previous(mag, n_fft, hop, n_iter, mom, length,
                                                               torch.Generator().manual_seed(0)),
            "torch now": lambda: griffinlim(mag, n_fft, hop, n_iter, mom, length,
                                            generator=torch.Generator().manual_seed(0)),
        }
        for impl, fn in impls.items():
            seconds, y = best(fn, repeats)
            rows.append(dict(batch=batch, notes=n, n_fft=n_fft, hop=hop, n_iter=n_iter, momentum=mom, impl=impl,
                             s_per_note=seconds / n, sc=sc(S, y, n_fft, hop)))
        lib = rows[-3]["s_per_note"]
        print("  ".join(f"{r['impl']}: {1e3 * r['s_per_note']:.0f} ms/note SC {r['sc']:.3f}" for r in rows[-3:]),
              f"| now {lib / rows[-1]['s_per_note']:.1f}x librosa [{batch} {n_fft}/{hop} it {n_iter} mom {mom}]",
              flush=True)
    return rows


def streaming(ys: np.ndarray, repeats: int, n_fft: int = 1024, hop: int = 256, n_iter: int = 32) -> list[dict]:
    """1 s of audio per note: whole-sound inversion vs GriffinLimStream blocks; ms per second of audio."""
    y1 = ys[:, :SR]
    S = torch.from_numpy(np.abs(librosa.stft(y1, n_fft=n_fft, hop_length=hop)))  # [B, 513, 87]
    rows = []
    for mom in (0.99, 0.0):
        t_whole, whole = best(lambda: torch.cat([griffinlim(S[i:i + 1], n_fft, hop, n_iter, mom,
                                                            generator=torch.Generator().manual_seed(0))
                                                 for i in range(len(S))]), repeats)
        sc_whole = sc(S, whole, n_fft, hop)
        rows.append(dict(mode="whole 1 s", block="-", lookahead="-", momentum=mom, ms_per_s=1e3 * t_whole / len(S),
                         ms_per_block_max=1e3 * t_whole / len(S), sc=sc_whole, sc_vs_whole=1.0, edge_jump=0.0))
        for block in (8, 16):
            for lookahead in (0, None, 8):
                def render():
                    outs, block_times = [], []
                    for i in range(len(S)):
                        st = GriffinLimStream(n_fft, hop, n_iter, mom, lookahead, torch.Generator().manual_seed(0))
                        parts = []
                        for j in range(0, S.shape[-1], block):
                            t0 = time.perf_counter()
                            parts.append(st.push(S[i:i + 1, :, j:j + block]))
                            block_times.append(time.perf_counter() - t0)
                        parts.append(st.flush())
                        outs.append(parts)
                    return outs, block_times
                seconds, (outs, block_times) = best(render, repeats)
                y = torch.cat([torch.cat(p, -1) for p in outs])
                edges = np.cumsum([p.shape[-1] for p in outs[0]])[:-2]
                jump = (y[:, 1:] - y[:, :-1]).abs()
                inner = jump.clone()
                inner[:, edges - 1] = 0
                s = sc(S, y, n_fft, hop)
                la = GriffinLimStream(n_fft, hop, lookahead=lookahead).lookahead
                rows.append(dict(mode="stream", block=block, lookahead=la, momentum=mom,
                                 ms_per_s=1e3 * seconds / len(S), ms_per_block_max=1e3 * max(block_times), sc=s,
                                 sc_vs_whole=s / sc_whole,
                                 edge_jump=float(jump[:, edges - 1].max() / inner.max())))
                r = rows[-1]
                print(f"stream block {block} lookahead {la} mom {mom}: {r['ms_per_s']:.1f} ms per 1 s "
                      f"(max {r['ms_per_block_max']:.1f} ms/block), SC {s:.3f} vs whole {sc_whole:.3f}", flush=True)
        print(f"whole 1 s, mom {mom}: {rows[-7]['ms_per_s']:.1f} ms, SC {sc_whole:.3f}", flush=True)
    return rows


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentsynth.plots import save_figure

    impls = list(dict.fromkeys(r["impl"] for r in rows))
    keys = list(dict.fromkeys((r["batch"], r["n_fft"], r["n_iter"], r["momentum"]) for r in rows))
    fig, ax = plt.subplots(figsize=(8, 3))
    width = 0.8 / len(impls)
    for k, impl in enumerate(impls):
        vals = [next(r["s_per_note"] for r in rows if (r["batch"], r["n_fft"], r["n_iter"], r["momentum"]) == key
                     and r["impl"] == impl) for key in keys]
        ax.bar(np.arange(len(keys)) + k * width, vals, width, label=impl)
    ax.set_xticks(np.arange(len(keys)) + width * (len(impls) - 1) / 2,
                  [f"{'' if b == 'synthetic' else b + chr(10)}{n}, {i} it\nmom {m}" for b, n, i, m in keys],
                  fontsize=7)
    ax.set_ylabel("seconds per 2-s note (1 thread)", fontsize=8)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=None, help="also a batch of notes of this rendered corpus")
    ap.add_argument("--notes", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ys = synthetic(args.notes)
    rows = run("synthetic", ys, args.repeats)
    if args.corpus is not None and (args.corpus / "metadata.csv").is_file():
        rows += run(f"corpus {args.corpus.name}", corpus_notes(args.corpus, args.notes), args.repeats)
    stream_rows = streaming(ys, args.repeats)
    write_csv(args.out / "griffinlim.csv", rows)
    write_csv(args.out / "griffinlim_stream.csv", stream_rows)
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor() or platform.machine()) if Path("/proc/cpuinfo").is_file() else platform.machine()
    machine = (f"{cpu}, {os.cpu_count()} CPU cores shared with other jobs while measured (wall times are noisy: "
               f"compare within a run), torch {torch.__version__} on 1 thread, librosa {librosa.__version__}")
    now = {(r["batch"], r["n_fft"], r["n_iter"], r["momentum"]): r for r in rows if r["impl"] == "torch now"}
    lines = ["# Griffin-Lim: torch vs librosa (1 thread)", "",
             "Re-run: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/griffinlim.py` (add "
             f"`--corpus runs/audio/fluidr3` for corpus notes; {time.perf_counter() - t0:.0f} s here). "
             f"Machine: {machine}.", "",
             f"A batch of {args.notes} synthetic harmonic notes of 2 s at {SR} Hz (55-880 Hz); seconds per note "
             f"(batch time / notes, best of {args.repeats}); SC = mean spectral convergence (lower is better), random "
             "initial phases (seed 0; librosa draws other phases, so its SC differs by the spread between starts). "
             "`torch before` is the previous implementation (`torch.istft` + `torch.stft` each iteration), `torch "
             "now` the frame-domain loop of `latentsynth.dsp.griffinlim` (same numbers up to float rounding: "
             "`tests/test_griffinlim_stream.py`).", "",
             "| batch | n_fft / hop | iterations | momentum | implementation | ms per note | SC | vs librosa |",
             "|---|---|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        lib = next(q["s_per_note"] for q in rows if q["impl"] == "librosa" and all(
            q[k] == r[k] for k in ("batch", "n_fft", "n_iter", "momentum")))
        lines.append(f"| {r['batch']} | {r['n_fft']} / {r['hop']} | {r['n_iter']} | {r['momentum']} | {r['impl']} | "
                     f"{1e3 * r['s_per_note']:.0f} | {r['sc']:.3f} | {lib / r['s_per_note']:.1f}x |")
    speedups = [next(q["s_per_note"] for q in rows if q["impl"] == "librosa" and (q["batch"], q["n_fft"], q["n_iter"],
                q["momentum"]) == k) / r["s_per_note"] for k, r in now.items()]
    lines += ["", f"torch now vs librosa: {min(speedups):.1f}x to {max(speedups):.1f}x faster per note.", "",
              "![seconds per note](griffinlim.png)", "",
              "## 1 s of audio (1024 / 256, 87 frames, 32 iterations, one note at a time)", "",
              "`whole`: `griffinlim` on the 87 frames at once. `stream`: `GriffinLimStream(1024, 256, 32, momentum, "
              "lookahead)` fed blocks of `block` frames (`push`, then `flush`); ms per 1 s of audio and the slowest "
              "`push`; SC of the concatenated output (`vs whole`: ratio to the whole-sound SC). `edge jump`: the "
              "largest sample-to-sample step at block edges over the largest one inside blocks (< 1: no click). "
              "Lookahead 3 (= context frames, the default) delays the audio by 3 hops (35 ms).", "",
              "| mode | block | lookahead | momentum | ms per 1 s | slowest push (ms) | SC | vs whole | edge jump |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in stream_rows:
        lines.append(f"| {r['mode']} | {r['block']} | {r['lookahead']} | {r['momentum']} | {r['ms_per_s']:.1f} | "
                     f"{r['ms_per_block_max']:.1f} | {r['sc']:.3f} | {r['sc_vs_whole']:.2f} | {r['edge_jump']:.2f} |")
    atomic_write_text(args.out / "griffinlim.md", "\n".join(lines) + "\n")
    chart(rows, args.out / "griffinlim.png")
    print(f"wrote {args.out / 'griffinlim.md'} ({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
