"""Peer check against the pythae library: its VAE and WAE_MMD and ours, with the same MLP architecture
(784-512-256-16), data (MNIST, the same 55,000 / 5,000 split), optimizer (Adam 1e-3, batch 100), losses
(BCE + KL; 0.05 * sum of squares + 10 * multi-scale IMQ MMD) and epochs. Both are scored by latentsynth's
evaluation (test BCE / MSE per image from the posterior mean, reference latent MMD); throughput is training
images per second of wall time of the whole fit (each library's own loop, validation included).

    make bench-peer          # installs pythae into .venv (torch stays pinned), then runs this script
    .venv/bin/python benchmarks/peer_pythae.py --epochs 10 --seeds 0 1 2
    .venv/bin/python benchmarks/peer_pythae.py --seeds 1 2 --append   # add seeds to the existing CSV

Writes docs/benchmarks/peer_pythae.{csv,md}: one CSV row per (model, library, seed); the Markdown shows mean ± std
over seeds and Welch's t-test between the libraries.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from latentsynth.config import load_config
from latentsynth.data.images import ImageDataModule
from latentsynth.evaluation.metrics import latent_mmd, reconstruction_errors
from latentsynth.folders import atomic_write_text, load_metrics, write_csv
from latentsynth.models.priors import GaussianPrior
from latentsynth.models.regularizers import Encoding
from latentsynth.training import train

ROOT = Path(__file__).resolve().parents[1]


def pythae_models(kind: str):
    from pythae.models import VAE, WAE_MMD, VAEConfig, WAE_MMD_Config
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    stochastic = kind == "vae"

    class Encoder(BaseEncoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(),
                                     nn.Linear(256, 32 if stochastic else 16))

        def forward(self, x):
            h = self.net(x)
            if stochastic:
                mu, logvar = h.chunk(2, 1)
                return ModelOutput(embedding=mu, log_covariance=logvar)
            return ModelOutput(embedding=h)

    class Decoder(BaseDecoder):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(16, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU(),
                                     nn.Linear(512, 784), nn.Sigmoid())

        def forward(self, z):
            return ModelOutput(reconstruction=self.net(z).view(-1, 1, 28, 28))

    if stochastic:
        cfg = VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="bce")
        return VAE(model_config=cfg, encoder=Encoder(), decoder=Decoder())
    cfg = WAE_MMD_Config(input_dim=(1, 28, 28), latent_dim=16, kernel_choice="imq", reg_weight=10.0,
                         kernel_bandwidth=1.0, reconstruction_loss_scale=0.05)
    return WAE_MMD(model_config=cfg, encoder=Encoder(), decoder=Decoder())


class PythaeAdapter(nn.Module):
    """Gives a pythae model the interface latentsynth's evaluation uses (encode, reconstruct, prior)."""

    def __init__(self, model, stochastic: bool):
        super().__init__()
        self.inner, self.stochastic, self.latent_dim = model.eval(), stochastic, 16
        self.prior = GaussianPrior(16)

    def encode(self, x, sample: bool = True) -> Encoding:
        out = self.inner.encoder(x)
        if not self.stochastic:
            return Encoding(z=out.embedding)
        mu, logvar = out.embedding, out.log_covariance
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return Encoding(z=z, mu=mu, logvar=logvar)

    @torch.no_grad()
    def reconstruct(self, x):
        return self.inner.decoder(self.encode(x, sample=False).z).reconstruction


def run_pythae(kind: str, data: ImageDataModule, epochs: int, out: Path, seed: int = 0) -> dict:
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    torch.manual_seed(seed)  # initial weights; the trainer seeds its shuffling with tcfg.seed
    model = pythae_models(kind)
    tcfg = BaseTrainerConfig(output_dir=str(out), num_epochs=epochs, learning_rate=1e-3,
                             per_device_train_batch_size=100, per_device_eval_batch_size=100,
                             optimizer_cls="Adam", steps_saving=None, no_cuda=True, seed=8 + seed)
    pipe = TrainingPipeline(training_config=tcfg, model=model)
    t0 = time.perf_counter()
    pipe(train_data=data.train.as_tensor(), eval_data=data.val.as_tensor())
    wall = time.perf_counter() - t0
    best = PythaeAdapter(pipe.trainer._best_model, kind == "vae")
    test = data.test.as_tensor()
    res = reconstruction_errors(best, test)
    return {"library": "pythae", "model": kind, "seed": seed, "epochs": epochs, "test_bce": res["bce"],
            "test_mse": res["mse"],
            "test_latent_mmd": latent_mmd(best, test), "fit_wall_s": wall,
            "train_images_per_wall_s": epochs * len(data.train) / wall}


def run_ours(kind: str, epochs: int, out: Path, seed: int = 0) -> dict:
    preset = "mnist-vae" if kind == "vae" else "mnist-wae-mmd-imq"
    # the same Adam betas as pythae's default (0.9, 0.999) so that only the libraries differ
    cfg = load_config(preset, [f"train.max_epochs={epochs}", "optim.betas=[0.9,0.999]", f"name={kind}-s{seed}",
                               f"train.seed={seed}", "train.eval_iw_samples=1"])
    t0 = time.perf_counter()
    run = train(cfg, out, quiet=True)
    wall = time.perf_counter() - t0
    m = load_metrics(run)
    return {"library": "latentsynth", "model": kind, "seed": seed, "epochs": epochs, "test_bce": m["test_bce"],
            "test_mse": m["test_mse"], "test_latent_mmd": m["test_latent_mmd"], "fit_wall_s": wall,
            "train_images_per_wall_s": epochs * 55_000 / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--append", action="store_true", help="keep the CSV's rows of other seeds")
    ap.add_argument("--from-csv", action="store_true", help="only rewrite the Markdown from the CSV")
    args = ap.parse_args()
    old = read_rows(args.out / "peer_pythae.csv") if args.append or args.from_csv else []
    if args.from_csv:
        write_markdown(old, int(old[0]["epochs"]), args.out)
        return
    os.environ.setdefault("LATENTSYNTH_DATA", str(ROOT.parent / "shared" / "data"))
    logging.getLogger("pythae").setLevel(logging.WARNING)
    data = ImageDataModule(load_config("mnist-vae").data)
    data.setup()
    rows = [r for r in old if int(r.get("seed") or 0) not in args.seeds]
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("vae", "wae-mmd"):
                rows.append(run_ours(kind, args.epochs, Path(tmp) / "ours", seed))
                print(rows[-1], flush=True)
                rows.append(run_pythae(kind, data, args.epochs, Path(tmp) / "pythae", seed))
                print(rows[-1], flush=True)
        write_csv(args.out / "peer_pythae.csv", rows)  # after every seed: an interrupted run keeps its seeds
    write_markdown(rows, args.epochs, args.out)


def read_rows(path: Path) -> list[dict]:
    from latentsynth.bench.report import read_results

    rows = read_results(path)
    for r in rows:
        r["seed"] = r.get("seed") or "0"  # CSVs from before --seeds hold seed 0
    return rows


def write_markdown(rows: list[dict], epochs: int, out: Path) -> None:
    from importlib.metadata import version

    from latentsynth.bench.report import welch

    keys = ["test_bce", "test_mse", "test_latent_mmd", "fit_wall_s", "train_images_per_wall_s"]
    fmt = {"test_bce": ".2f", "test_mse": ".2f", "test_latent_mmd": ".4f", "fit_wall_s": ".0f",
           "train_images_per_wall_s": ".0f"}
    seeds = sorted({int(r["seed"]) for r in rows})

    def vals(model: str, lib: str, key: str) -> list[float]:
        return [float(r[key]) for r in rows if r["model"] == model and r["library"] == lib]

    def cell(v: list[float], f: str) -> str:
        m = sum(v) / len(v)
        sd = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 if len(v) > 1 else None
        return format(m, f) + (f" ± {format(sd, f)}" if sd is not None else "")

    lines = [f"# Peer check: latentsynth vs pythae {version('pythae')} on MNIST", "",
             f"`python benchmarks/peer_pythae.py --epochs {epochs} --seeds {' '.join(map(str, seeds))}` on "
             f"{os.cpu_count()} CPU cores, torch {torch.__version__}. Same MLP (784-512-256-16), data split, Adam 1e-3 "
             "(betas 0.9/0.999), batch 100, losses and epochs; both scored by latentsynth's evaluation (best "
             "validation checkpoint). Mean ± std over the seeds (n per cell). Throughput: training images per "
             "second of wall time of the whole fit, validation included.", "",
             "| model | library | n | test BCE | test MSE | latent MMD | fit wall (s) | train images / wall s |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for model in models:
        for lib in ("latentsynth", "pythae"):
            n = len(vals(model, lib, "test_bce"))
            if n:
                lines.append(f"| {model} | {lib} | {n} | " + " | ".join(cell(vals(model, lib, k), fmt[k])
                                                                       for k in keys) + " |")
    lines += ["", "Difference latentsynth − pythae (± standard error; Welch's t-test p over the seeds):", "",
              "| model | Δ test BCE | p | Δ test MSE | p | Δ latent MMD | p |", "|---|---:|---:|---:|---:|---:|---:|"]
    for model in models:
        cells = []
        for k in keys[:3]:
            d, se, p = welch(vals(model, "latentsynth", k), vals(model, "pythae", k))
            cells += [format(d, "+" + fmt[k]) + (f" ± {format(se, fmt[k])}" if se is not None else ""),
                      "–" if p is None else f"{p:.3f}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    atomic_write_text(out / "peer_pythae.md", "\n".join(lines) + "\n")
    print(f"wrote {out / 'peer_pythae.md'}")


if __name__ == "__main__":
    main()
