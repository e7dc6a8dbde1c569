"""Torch threads on a shared CPU: an MLP train step and Griffin-Lim at 1 and 2 threads, idle and with the other
core busy (a busy-loop subprocess), each case in a fresh process. Writes docs/benchmarks/threads.md, threads.csv
and threads.png. Usage: python benchmarks/threads.py [--steps 40] [--out docs/benchmarks]

Why: issue #16 (a train step ~48x slower with torch's default 2 threads while the other core was busy), the
reason every heavy command now runs one torch thread unless given ``--threads N`` / ``LATENTSYNTH_THREADS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from latentsynth.folders import atomic_write_text, write_csv

CASE = r"""
import json, sys, time, statistics, torch
threads, steps = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads); torch.set_num_interop_threads(threads)
torch.manual_seed(0)
# the mnist-vae MLP: 784-400-(2x16) encoder, 16-400-784 decoder, batch 100, Adam
enc = torch.nn.Sequential(torch.nn.Linear(784, 400), torch.nn.ReLU(), torch.nn.Linear(400, 32))
dec = torch.nn.Sequential(torch.nn.Linear(16, 400), torch.nn.ReLU(), torch.nn.Linear(400, 784))
opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], 1e-3)
x = torch.rand(100, 784)
def step():
    mu, logvar = enc(x).chunk(2, 1)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(dec(z), x, reduction="sum") / 100
    loss = loss - 0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum() / 100
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(5): step()
t = []
for _ in range(steps):
    t0 = time.perf_counter(); step(); t.append(time.perf_counter() - t0)
from latentsynth.dsp import griffinlim
mag = torch.rand(513, 173) ** 4  # one 2-s note at 22,050 Hz: STFT n_fft 1024, hop 256
griffinlim(mag, 1024, 256, 4)
g = []
for _ in range(3):
    t0 = time.perf_counter(); griffinlim(mag, 1024, 256, 32); g.append(time.perf_counter() - t0)
print(json.dumps({"step_ms": 1e3 * statistics.median(t), "step_ms_max": 1e3 * max(t),
                  "griffinlim_s": statistics.median(g)}))
"""


def run_case(threads: int, busy: bool, steps: int) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        time.sleep(0.5 if busy else 0)
        out = subprocess.run([sys.executable, "-c", CASE, str(threads), str(steps)], env=env, check=True,
                             capture_output=True, text=True, timeout=1800).stdout
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = ap.parse_args()
    rows = []
    for busy in (False, True):
        for threads in (1, 2):
            r = run_case(threads, busy, args.steps)
            rows.append({"threads": threads, "other_core": "busy" if busy else "idle",
                         "train_step_ms": round(r["step_ms"], 2), "train_step_ms_max": round(r["step_ms_max"], 1),
                         "griffinlim_s": round(r["griffinlim_s"], 3)})
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "threads.csv", rows)
    base = {(r["other_core"]): r for r in rows if r["threads"] == 1}
    lines = ["# Torch threads on a shared CPU", "",
             f"`python benchmarks/threads.py` on {os.cpu_count()} cores "
             f"({platform.processor() or platform.machine()}), "
             f"torch defaults to one thread per core. Train step: the mnist-vae MLP (784-400-16, batch 100, Adam), "
             f"median of {args.steps} steps; Griffin-Lim: 32 iterations on one 2-s note (513 x 173 STFT "
             "magnitude), median of 3. Busy: a pure-Python busy loop holds one core. Each case runs in a fresh "
             "process. Other work on the machine adds noise; the ratios are what matter.", "",
             "| threads | other core | train step (ms) | slowest step (ms) | Griffin-Lim (s) | step vs 1 thread |",
             "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        ratio = r["train_step_ms"] / base[r["other_core"]]["train_step_ms"]
        lines.append(f"| {r['threads']} | {r['other_core']} | {r['train_step_ms']:.2f} | {r['train_step_ms_max']:.1f} "
                     f"| {r['griffinlim_s']:.3f} | {ratio:.2f}x |")
    lines += ["", "Hence the default of every heavy command (`train`, `eval`, `bench` and its workers, `explore`, "
              "`classifier`, `audio prepare / validate / reconstruct`): one torch thread; `--threads N` or "
              "`LATENTSYNTH_THREADS=N` when the cores are yours.", "", "![threads](threads.png)", ""]
    atomic_write_text(args.out / "threads.md", "\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from latentsynth.plots import save_figure

    fig, axes = plt.subplots(1, 2, figsize=(7, 2.6))
    for ax, key, label in ((axes[0], "train_step_ms", "train step (ms)"), (axes[1], "griffinlim_s", "Griffin-Lim (s)")):
        for k, busy in enumerate(("idle", "busy")):
            vals = [r[key] for r in rows if r["other_core"] == busy]
            ax.bar([k * 3, k * 3 + 1], vals, color=["tab:blue", "tab:orange"])
        ax.set_xticks([0, 1, 3, 4], ["1 thr\nidle", "2 thr\nidle", "1 thr\nbusy", "2 thr\nbusy"], fontsize=7)
        ax.set_yscale("log"), ax.set_title(label, fontsize=9)
    save_figure(fig, args.out / "threads.png")
    print(f"wrote {args.out / 'threads.md'}")


if __name__ == "__main__":
    main()
