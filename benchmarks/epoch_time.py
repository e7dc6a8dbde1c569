"""CPU seconds per training epoch of the reference models on MNIST (55,000 images, batch 100).

Trains each preset for one epoch with the normal trainer and reads the epoch time and throughput that the
trainer logged (train/epoch_seconds, train/samples_per_s). Writes docs/benchmarks/epoch_time.{csv,md}.

    LATENTSYNTH_DATA=../shared/data .venv/bin/python benchmarks/epoch_time.py [--epochs 1] [--presets a,b]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from latentsynth.config import load_config
from latentsynth.folders import atomic_write_text, write_csv
from latentsynth.training import train
from latentsynth.training.curves import read_curves

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = [
    ("mnist-ae", []), ("mnist-vae", []), ("mnist-beta-vae", []), ("mnist-wae-mmd-rbf", []),
    ("mnist-wae-mmd-imq", []), ("mnist-wae-gan", []),
    ("mnist-vae", ["model.network.kind=conv"]), ("mnist-wae-mmd-imq", ["model.network.kind=conv"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    os.environ.setdefault("LATENTSYNTH_DATA", str(ROOT.parent / "shared" / "data"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset, over in DEFAULT:
            net = "conv" if "model.network.kind=conv" in over else "mlp"
            cfg = load_config(preset, [*over, f"train.max_epochs={args.epochs}", "train.eval_iw_samples=1",
                                       f"name={preset}-{net}"])
            t0 = time.perf_counter()
            run = train(cfg, tmp, quiet=True)
            wall = time.perf_counter() - t0
            curves = read_curves(run)
            secs = [v for _, v in curves["train/epoch_seconds"]]
            sps = [v for _, v in curves["train/samples_per_s"]]
            params = sum(p.numel() for p in __import__("latentsynth").load(run).parameters())
            rows.append({"model": preset.removeprefix("mnist-"), "network": net, "parameters": params,
                         "epoch_seconds": round(sum(secs) / len(secs), 2),
                         "samples_per_s": round(sum(sps) / len(sps)), "total_wall_seconds": round(wall, 1)})
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "epoch_time.csv", rows)
    env = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
           f"{torch.get_num_threads()} threads")
    lines = ["# CPU seconds per epoch, MNIST (55,000 training images, batch 100)", "",
             f"Measured by `python benchmarks/epoch_time.py` on {env}.",
             "Epoch time is the training loop alone (no validation); total wall includes start-up, validation "
             "and the final test evaluation.", "",
             "| model | network | parameters | s / epoch | samples / s | total wall (s) |",
             "|---|---|---:|---:|---:|---:|"]
    lines += [f"| {r['model']} | {r['network']} | {r['parameters']:,} | {r['epoch_seconds']} | {r['samples_per_s']:,} "
              f"| {r['total_wall_seconds']} |" for r in rows]
    atomic_write_text(args.out / "epoch_time.md", "\n".join(lines) + "\n")
    print(f"wrote {args.out / 'epoch_time.md'}")


if __name__ == "__main__":
    main()
