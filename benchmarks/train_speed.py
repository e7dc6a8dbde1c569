"""Training throughput at ONE thread, side by side: the MLP VAE 784-400-20 at batch 128 on MNIST (55,000 images).

Rows (images per second over the training epochs alone, validation and start-up excluded):

- ``plain-pytorch``: a hand loop over the same model (latentsynth's AutoEncoder from the same config), Adam,
  the training images in memory as float, a fresh permutation per epoch;
- ``latentsynth``: ``latentsynth.training.train`` with the mnist-vae preset and ``model.network.hidden=[400]
  model.latent_dim=20 data.batch_size=128``, quiet (epoch times from a callback around each training epoch);
- ``latentsynth-before``: the same at another checkout (``--before-src /tmp/ls-before/src``, a git worktree of
  the commit to compare with), run in a subprocess of this run;
- ``pythae``: pythae's trainer on the same model shape, if ``import pythae`` works (``make bench-peer`` installs it).

    LATENTSYNTH_DATA=../shared/data .venv/bin/python benchmarks/train_speed.py [--epochs 5]
        [--before-src /tmp/ls-before/src]

Writes docs/benchmarks/train_speed.{csv,md,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OVERRIDES = ["model.network.hidden=[400]", "model.latent_dim=20", "data.batch_size=128"]


def _config(epochs: int):
    from latentsynth.config import load_config

    return load_config("mnist-vae", [*OVERRIDES, f"train.max_epochs={epochs}", "train.eval_iw_samples=1",
                                     "train.eval_mmd_samples=200", "name=speed"])


def plain_loop(epochs: int) -> float:
    """Images/s of a hand-written loop over latentsynth's AutoEncoder."""
    from latentsynth.data.images import ImageDataModule
    from latentsynth.models import AutoEncoder

    cfg = _config(epochs)
    data = ImageDataModule.for_run(cfg)
    x_all = data.train.as_tensor()
    torch.manual_seed(0)
    model = AutoEncoder(cfg, tuple(x_all.shape[1:]))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas))
    bs, n, seconds, seen = cfg.data.batch_size, len(x_all), 0.0, 0
    for _ in range(epochs):
        t0 = time.perf_counter()
        for idx in torch.randperm(n).split(bs):
            out = model(x_all[idx])
            loss = out.loss(1.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        seconds += time.perf_counter() - t0
    return seen / seconds


def latentsynth_trainer(epochs: int) -> float:
    """Images/s of ``latentsynth.training.train`` over its training epochs."""
    import lightning as L

    from latentsynth.training import train

    class EpochClock(L.Callback):
        def __init__(self):
            self.seconds, self.seen, self._t0 = 0.0, 0, 0.0

        def on_train_epoch_start(self, trainer, pl_module):
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.seen += len(batch[0])

        def on_validation_epoch_start(self, trainer, pl_module):  # validation runs inside the training epoch
            self._v0 = time.perf_counter()

        def on_validation_epoch_end(self, trainer, pl_module):
            self._t0 += time.perf_counter() - self._v0

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds += time.perf_counter() - self._t0

    clock = EpochClock()
    with tempfile.TemporaryDirectory() as tmp:
        train(_config(epochs), tmp, quiet=True, extra_callbacks=[clock])
    return clock.seen / clock.seconds


def pythae_trainer(epochs: int) -> float | None:
    try:
        import pythae  # noqa: F401
    except ImportError:
        return None
    from pythae.models import VAE, VAEConfig
    from pythae.models.nn.default_architectures import Decoder_AE_MLP, Encoder_VAE_MLP
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    from latentsynth.data.images import ImageDataModule

    cfg = _config(epochs)
    data = ImageDataModule.for_run(cfg)
    x = data.train.as_tensor()
    mcfg = VAEConfig(input_dim=(1, 28, 28), latent_dim=20, reconstruction_loss="bce")
    model = VAE(mcfg, encoder=Encoder_VAE_MLP(mcfg), decoder=Decoder_AE_MLP(mcfg))  # 784-512-20 MLPs
    with tempfile.TemporaryDirectory() as tmp:
        tcfg = BaseTrainerConfig(output_dir=tmp, num_epochs=epochs, per_device_train_batch_size=128,
                                 learning_rate=cfg.optim.lr, optimizer_cls="Adam", no_cuda=True,
                                 steps_saving=None)
        pipe = TrainingPipeline(training_config=tcfg, model=model)  # as benchmarks/peer_pythae.py runs it
        t0 = time.perf_counter()
        pipe(train_data=x)
        return len(x) * epochs / (time.perf_counter() - t0)


def _fresh(which: str, epochs: int, src: str | None = None) -> float:
    """One row in a fresh process (``src``: the package of another checkout on PYTHONPATH)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", **({"PYTHONPATH": src} if src else {}))
    out = subprocess.run([sys.executable, __file__, "--epochs", str(epochs), "--only", which], env=env,
                         capture_output=True, text=True, check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])[which]


def _commit(src: str) -> str:
    out = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or src


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--before-src", help="src folder of another checkout to measure as latentsynth-before")
    ap.add_argument("--only", choices=["plain", "latentsynth"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    os.environ.setdefault("LATENTSYNTH_DATA", str(ROOT.parent / "shared" / "data"))
    torch.set_num_threads(1)
    if args.only:
        fn = plain_loop if args.only == "plain" else latentsynth_trainer
        print(json.dumps({args.only: fn(args.epochs)}))
        return
    # every row in its own process, the rows interleaved, best of --repeats (a shared machine: the best run is
    # the one least disturbed by other work)
    plan = [("plain-pytorch", "plain", None), ("latentsynth", "latentsynth", None)]
    if args.before_src:
        plan.insert(1, ("latentsynth-before", "latentsynth", args.before_src))
    runs: dict[str, list[float]] = {name: [] for name, _, _ in plan}
    for _ in range(args.repeats):
        for name, which, src in plan:
            runs[name].append(_fresh(which, args.epochs, src))
            print(name, round(runs[name][-1]), flush=True)
    rows = {name: max(v) for name, v in runs.items()}
    peer = pythae_trainer(args.epochs)
    if peer is not None:
        rows["pythae"] = peer

    from latentsynth.folders import atomic_write_text, write_csv
    from latentsynth.plots import save_figure

    plain = rows["plain-pytorch"]
    means = {k: sum(v) / len(v) for k, v in runs.items()}  # the best run flatters the row a lucky run fell on
    table = [{"trainer": k, "images_per_s": round(v), "vs_plain": round(v / plain, 2),
              "vs_plain_mean": round(means[k] / means["plain-pytorch"], 2) if k in means else None,
              "vs_pythae": round(v / rows["pythae"], 2) if "pythae" in rows else None} for k, v in rows.items()]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "train_speed.csv", table)
    env = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), torch {torch.__version__}, "
           f"1 thread")
    lines = ["# Training throughput: MLP VAE 784-400-20, batch 128, MNIST (55,000 images), one thread", "",
             f"Measured by `python benchmarks/train_speed.py --epochs {args.epochs} --repeats {args.repeats}"
             + (" --before-src ..." if args.before_src else "") + f"` on {env}, all rows in one run, each row "
             f"in a fresh process, rows interleaved, best of {args.repeats}.",
             "Images per second over the training epochs alone (no validation, start-up or test evaluation).",
             *([f"latentsynth-before: the package at commit {_commit(args.before_src)} (before the hot-path work of "
                "issue #16 item 4: per-step self.log of 4 metrics, per-batch torch.manual_seed, per-tensor Adam)."]
               if args.before_src else []),
             "Every run: " + ", ".join(f"{k} {[round(x) for x in v]}" for k, v in runs.items()) + ".", "",
             "| trainer | images / s | vs plain loop | vs plain loop, mean of the runs | vs pythae |",
             "|---|---:|---:|---:|---:|"]
    lines += [f"| {r['trainer']} | {r['images_per_s']:,} | {r['vs_plain']:.2f}x | "
              f"{'' if r['vs_plain_mean'] is None else format(r['vs_plain_mean'], '.2f') + 'x'} | "
              f"{'' if r['vs_pythae'] is None else format(r['vs_pythae'], '.2f') + 'x'} |" for r in table]
    if "pythae" not in rows:
        lines += ["", "pythae is not installed in this environment (`make bench-peer` installs it): its row is "
                  "skipped."]
    atomic_write_text(args.out / "train_speed.md", "\n".join(lines) + "\n")

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 0.5 + 0.5 * len(table)))
    ax.barh([r["trainer"] for r in table][::-1], [r["images_per_s"] for r in table][::-1], color="tab:blue")
    ax.set_xlabel("images / s (1 thread)")
    ax.set_title("MLP VAE 784-400-20, batch 128, MNIST")
    save_figure(fig, args.out / "train_speed.png")
    print(f"wrote {args.out / 'train_speed.md'}")


if __name__ == "__main__":
    main()
