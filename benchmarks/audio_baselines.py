"""Reference points for the frame models of Exercise 3: what a trivial and a linear model score.

Two baselines, fitted on the training frames of the sweep's data (same corpus, representation, normalisation,
split and ``frame_hop`` as a run of ``sol-full``) and scored by the same function as every run
(:func:`latentsynth.evaluation.audio.audio_scores`: same 64 test notes, same Griffin-Lim):

* ``mean-frame``: every frame reconstructed as the mean training frame (knows nothing about the note);
* ``pca-16``: projection on the 16 first principal components of the training frames (the linear
  auto-encoder with the latent size of the models).

Writes docs/results/sol-baselines.csv.

    .venv/bin/python benchmarks/audio_baselines.py [--corpus runs/audio/fluidr3] [--frame-hop 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from latentsynth.config import load_config
from latentsynth.data import data_module
from latentsynth.evaluation.audio import audio_scores
from latentsynth.folders import write_csv

ROOT = Path(__file__).resolve().parents[1]


class LinearBaseline(nn.Module):
    """``x -> mean + (x - mean) U U^T`` on flattened frames; ``U`` ``[F, k]`` (k = 0: the mean frame)."""

    def __init__(self, mean: Tensor, basis: Tensor):
        super().__init__()
        self.mean = nn.Parameter(mean, requires_grad=False)  # [F]
        self.basis = nn.Parameter(basis, requires_grad=False)  # [F, k]

    def reconstruct(self, x: Tensor) -> Tensor:
        """``[B, W, F]`` -> ``[B, W, F]``."""
        c = x - self.mean
        return self.mean + (c @ self.basis) @ self.basis.T


def fit(train: Tensor, k: int) -> LinearBaseline:
    """Baseline from the training frames ``[N, F]``: their mean and first ``k`` principal directions."""
    mean = train.mean(0)
    if k == 0:
        return LinearBaseline(mean, torch.zeros(train.shape[1], 0))
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)  # rows of v: principal directions
    return LinearBaseline(mean, v[:k].T.contiguous())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="runs/audio/fluidr3")
    ap.add_argument("--frame-hop", type=int, default=2)
    ap.add_argument("--representations", default="stft,mel,cqt")
    ap.add_argument("--out", default=str(ROOT / "docs/results/sol-baselines.csv"))
    args = ap.parse_args()
    rows = []
    for rep in args.representations.split(","):
        cfg = load_config("sol-ae", [f"data.corpus={args.corpus}", f"data.representation={rep}",
                                     f"data.frame_hop={args.frame_hop}"])
        data = data_module(cfg)
        train = data.train.as_tensor().flatten(1)  # [N, W*F]
        for name, k in (("mean-frame", 0), ("pca-16", cfg.model.latent_dim)):
            t0 = time.time()
            model = fit(train, k)
            scores = audio_scores(model, data)
            rows.append({"representation": rep, "baseline": name, "train_frames": len(train),
                         **{key: round(v, 4) if isinstance(v, float) else v for key, v in scores.items()},
                         "seconds": round(time.time() - t0, 1)})
            print(rows[-1], flush=True)
    write_csv(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
