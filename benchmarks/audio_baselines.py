"""Reference points for the frame models of Exercise 3: what a trivial and a linear model score.

Two baselines, fitted on the training frames of the sweep's data (same corpus, representation, normalisation,
split and ``frame_hop`` as a run of ``sol-full``) and scored by the same function as every run
(:func:`latentsynth.evaluation.audio.audio_scores`: same 64 test notes, same Griffin-Lim):

* ``mean-frame``: every frame reconstructed as the mean training frame (knows nothing about the note);
* ``pca-16``: projection on the 16 first principal components of the training frames (the linear
  auto-encoder with the latent size of the models);
* with ``--extended`` (the reference points of issue #14): ``pca-64-linear``, PCA with 64 components on *linear*
  magnitudes (the dB floor counts for nothing there); ``nearest-train-frame``, each frame replaced by the
  closest training frame in linear magnitudes; ``oracle``, the note's own magnitudes through Griffin-Lim (32
  iterations) and back through the STFT: what phase retrieval alone costs.

With ``--pitch-test F`` the held-out-pitch split is scored too (``test_pitch_*``).

Writes docs/results/sol-baselines.csv (Exercise 3) or ``--out``.

    .venv/bin/python benchmarks/audio_baselines.py [--corpus runs/audio/fluidr3] [--frame-hop 2]
    .venv/bin/python benchmarks/audio_baselines.py --corpus runs/audio/quick --frame-hop 2 --pitch-test 0.1 \
        --representations stft --extended --out docs/results/sol-models-baselines.csv
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch import Tensor, nn

from latentsynth.config import load_config
from latentsynth.data import data_module
from latentsynth.evaluation.audio import audio_scores, pick_notes
from latentsynth.folders import write_csv
from latentsynth.models.conditioning import DbScale

ROOT = Path(__file__).resolve().parents[1]


class LinearBaseline(nn.Module):
    """``x -> mean + (x - mean) U U^T`` on flattened frames; ``U`` ``[F, k]`` (k = 0: the mean frame)."""

    def __init__(self, mean: Tensor, basis: Tensor):
        super().__init__()
        self.mean = nn.Parameter(mean, requires_grad=False)  # [F]
        self.basis = nn.Parameter(basis, requires_grad=False)  # [F, k]

    def reconstruct(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """``[B, W, F]`` -> ``[B, W, F]``."""
        d = x - self.mean
        return self.mean + (d @ self.basis) @ self.basis.T


class LinearMagnitudeBaseline(nn.Module):
    """A baseline working on linear magnitudes: normalised dB frames -> magnitudes -> ``inner`` -> back."""

    def __init__(self, db: DbScale, inner):
        super().__init__()
        self.db, self.inner = db, inner
        self.p = nn.Parameter(torch.zeros(1), requires_grad=False)  # a device for reconstruct_frames

    def reconstruct(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        mag = self.inner(self.db.to_linear(x)).clamp_min(1e-4)  # the -80 dB floor of the frames
        return self.db.from_db(20 * torch.log10(mag))


def nearest(train: Tensor):
    """``[M, W, F]`` -> each item replaced by its nearest item of ``train`` ``[N, W * F]`` (Euclidean)."""
    def fn(x: Tensor) -> Tensor:
        flat = x.flatten(1)
        idx = torch.cat([torch.cdist(flat[i:i + 256], train).argmin(1) for i in range(0, len(flat), 256)])
        return train[idx].view_as(x)
    return fn


def linear_pca(train: Tensor, k: int):
    mean = train.mean(0)
    _, _, v = torch.linalg.svd(train - mean, full_matrices=False)
    basis = v[:k].T.contiguous()
    return lambda x: mean + ((x.flatten(1) - mean) @ basis @ basis.T).view_as(x)


def oracle_scores(data, n_notes: int = 64, n_iter: int = 32, split: str = "test", prefix: str = "test_") -> dict:
    """Spectral convergence of each note's magnitudes after Griffin-Lim and back (phase retrieval alone)."""
    import numpy as np

    from latentsynth.dsp import invert, spectral_convergence
    from latentsynth.dsp.transforms import magnitude

    db = DbScale.from_info(data.audio_info())
    sc = []
    for k in pick_notes(data, n_notes, split):
        ref = db.to_magnitude(data.note_tensor(k), data.spec).T  # [F, T]
        y = invert(ref[None], data.spec, n_iter=n_iter)[0].numpy()
        est = torch.from_numpy(magnitude(y, data.spec))[:, : ref.shape[1]]
        sc.append(float(spectral_convergence(ref[:, : est.shape[1]], est)))
    return {f"{prefix}spec_sc": float(np.mean(sc))}


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
    ap.add_argument("--pitch-test", type=float, default=0.0)
    ap.add_argument("--extended", action="store_true")
    args = ap.parse_args()
    rows = []
    for rep in args.representations.split(","):
        cfg = load_config("sol-ae", [f"data.corpus={args.corpus}", f"data.representation={rep}",
                                     f"data.frame_hop={args.frame_hop}", f"data.pitch_test={args.pitch_test}"])
        data = data_module(cfg)
        train = data.train.as_tensor().flatten(1)  # [N, W*F]
        db = DbScale.from_info(data.audio_info())
        names = ["mean-frame", "pca-16"] + (["pca-64-linear", "nearest-train-frame"] if args.extended else [])
        lin = db.to_linear(train) if args.extended else None
        for name in names:
            t0 = time.time()
            model = {"mean-frame": lambda: fit(train, 0), "pca-16": lambda: fit(train, cfg.model.latent_dim),  # noqa: B023
                     "pca-64-linear": lambda: LinearMagnitudeBaseline(db, linear_pca(lin, 64)),  # noqa: B023
                     "nearest-train-frame": lambda: LinearMagnitudeBaseline(db, nearest(lin))}[name]()  # noqa: B023
            scores = audio_scores(model, data, audio_notes=0 if args.extended else 8)
            if data.pitch is not None:
                scores.update(audio_scores(model, data, split="pitch", audio_notes=0, prefix="test_pitch_"))
            rows.append({"representation": rep, "baseline": name, "train_frames": len(train),
                         **{key: round(v, 4) if isinstance(v, float) else v for key, v in scores.items()},
                         "seconds": round(time.time() - t0, 1)})
            print(rows[-1], flush=True)
        if args.extended:
            scores = oracle_scores(data)
            if data.pitch is not None:
                scores.update(oracle_scores(data, split="pitch", prefix="test_pitch_"))
            rows.append({"representation": rep, "baseline": "oracle (Griffin-Lim 32 it.)", "train_frames": 0,
                         **{key: round(v, 4) for key, v in scores.items()}})
            print(rows[-1], flush=True)
    write_csv(args.out, rows)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
