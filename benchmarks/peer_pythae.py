"""Peer check against the pythae library: its VAE and WAE_MMD and ours, with the same MLP architecture
(784-512-256-16), data (MNIST, the same 55,000 / 5,000 split), optimizer (Adam 1e-3, batch 100), losses
(BCE + KL; 0.05 * sum of squares + 10 * multi-scale IMQ MMD) and epochs. Both are scored by latentsynth's
evaluation (test BCE / MSE per image from the posterior mean, reference latent MMD); throughput is training
images per second of wall time of the whole fit (each library's own loop, validation included).

    make bench-peer          # installs pythae into .venv (torch stays pinned), then runs this script
    .venv/bin/python benchmarks/peer_pythae.py --epochs 10

Writes docs/benchmarks/peer_pythae.{csv,md}.
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
from latentsynth.io import atomic_write_text, load_metrics, write_csv
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


def run_pythae(kind: str, data: ImageDataModule, epochs: int, out: Path) -> dict:
    from pythae.pipelines import TrainingPipeline
    from pythae.trainers import BaseTrainerConfig

    torch.manual_seed(0)
    model = pythae_models(kind)
    tcfg = BaseTrainerConfig(output_dir=str(out), num_epochs=epochs, learning_rate=1e-3,
                             per_device_train_batch_size=100, per_device_eval_batch_size=100,
                             optimizer_cls="Adam", steps_saving=None, no_cuda=True)
    pipe = TrainingPipeline(training_config=tcfg, model=model)
    t0 = time.perf_counter()
    pipe(train_data=data.train.as_tensor(), eval_data=data.val.as_tensor())
    wall = time.perf_counter() - t0
    best = PythaeAdapter(pipe.trainer._best_model, kind == "vae")
    test = data.test.as_tensor()
    res = reconstruction_errors(best, test)
    return {"library": "pythae", "model": kind, "epochs": epochs, "test_bce": res["bce"], "test_mse": res["mse"],
            "test_latent_mmd": latent_mmd(best, test), "fit_wall_s": wall,
            "train_images_per_wall_s": epochs * len(data.train) / wall}


def run_ours(kind: str, epochs: int, out: Path) -> dict:
    preset = "mnist-vae" if kind == "vae" else "mnist-wae-mmd-imq"
    # the same Adam betas as pythae's default (0.9, 0.999) so that only the libraries differ
    cfg = load_config(preset, [f"train.max_epochs={epochs}", "optim.betas=[0.9,0.999]", f"name={kind}",
                               "train.eval_iw_samples=1"])
    t0 = time.perf_counter()
    run = train(cfg, out, quiet=True)
    wall = time.perf_counter() - t0
    m = load_metrics(run)
    return {"library": "latentsynth", "model": kind, "epochs": epochs, "test_bce": m["test_bce"],
            "test_mse": m["test_mse"], "test_latent_mmd": m["test_latent_mmd"], "fit_wall_s": wall,
            "train_images_per_wall_s": epochs * 55_000 / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    ap.add_argument("--from-csv", action="store_true", help="only rewrite the Markdown from the CSV")
    args = ap.parse_args()
    if args.from_csv:
        import csv

        with (args.out / "peer_pythae.csv").open() as f:
            rows = list(csv.DictReader(f))
        write_markdown(rows, int(rows[0]["epochs"]), args.out)
        return
    os.environ.setdefault("LATENTSYNTH_DATA", str(ROOT.parent / "shared" / "data"))
    logging.getLogger("pythae").setLevel(logging.WARNING)
    data = ImageDataModule(load_config("mnist-vae").data)
    data.setup()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("vae", "wae-mmd"):
            rows.append(run_ours(kind, args.epochs, Path(tmp) / "ours"))
            print(rows[-1], flush=True)
            rows.append(run_pythae(kind, data, args.epochs, Path(tmp) / "pythae"))
            print(rows[-1], flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "peer_pythae.csv", rows)
    write_markdown(rows, args.epochs, args.out)


def write_markdown(rows: list[dict], epochs: int, out: Path) -> None:
    from importlib.metadata import version

    lines = [f"# Peer check: latentsynth vs pythae {version('pythae')} on MNIST", "",
             f"`python benchmarks/peer_pythae.py --epochs {epochs}` on {os.cpu_count()} CPU cores, torch "
             f"{torch.__version__}. Same MLP (784-512-256-16), data split, Adam 1e-3 (betas 0.9/0.999), batch 100, "
             "losses and epochs; one seed; both scored by latentsynth's evaluation (best validation checkpoint). "
             "Throughput: training images per second of wall time of the whole fit, validation included.", "",
             "| model | library | test BCE | test MSE | latent MMD | fit wall (s) | train images / wall s |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['library']} | {float(r['test_bce']):.2f} | {float(r['test_mse']):.2f} | "
                     f"{float(r['test_latent_mmd']):.4f} | {float(r['fit_wall_s']):.0f} | "
                     f"{float(r['train_images_per_wall_s']):.0f} |")
    atomic_write_text(out / "peer_pythae.md", "\n".join(lines) + "\n")
    print(f"wrote {out / 'peer_pythae.md'}")


if __name__ == "__main__":
    main()
