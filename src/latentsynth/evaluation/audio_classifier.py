"""A small audio classifier trained here on a note corpus, whose embeddings give a Fréchet distance between
generated and real sounds: the offline stand-in for the Fréchet Audio Distance (FAD), as the image scores use a
domain classifier (:mod:`.classifier`).

Input: one linear STFT magnitude frame ``[F]``, log-compressed (``(20 log10(mag + 1e-4) + 80) / 80``, so the
-80 dB floor is 0). An MLP ``F -> 256 -> EMBED`` whose ``EMBED``-wide penultimate layer is the embedding, and
three heads trained jointly: instrument, dynamics, and MIDI pitch (128 classes). ``embedding_frechet`` is the
Fréchet distance between the Gaussian fits of two sets of embeddings (:func:`.generation.frechet_distance`).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..folders import read_weights, save_weights
from ..models.conditioning import LABELS
from .generation import frechet_distance

EMBED = 64
HEADS = ("instrument", "dynamics", "pitch")


def log_input(mag: Tensor) -> Tensor:
    """Linear magnitudes ``[..., F]`` -> the classifier's input ``[..., F]`` (0 at the -80 dB floor)."""
    return (20 * torch.log10(mag.clamp_min(0) + 1e-4) + 80) / 80


class FrameClassifier(nn.Module):
    """``[B, F]`` linear magnitudes -> embedding ``[B, EMBED]`` and logits per head (instrument, dynamics,
    pitch)."""

    def __init__(self, n_bins: int, sizes: dict[str, int]):
        super().__init__()
        self.sizes = {"instrument": sizes["instrument"], "dynamics": sizes["dynamics"], "pitch": 128}
        self.body = nn.Sequential(nn.Linear(n_bins, 256), nn.ReLU(), nn.Linear(256, EMBED), nn.ReLU())
        self.heads = nn.ModuleDict({k: nn.Linear(EMBED, n) for k, n in self.sizes.items()})

    def embed(self, mag: Tensor) -> Tensor:
        return self.body(log_input(mag))

    def forward(self, mag: Tensor) -> dict[str, Tensor]:
        e = self.embed(mag)
        return {k: h(e) for k, h in self.heads.items()}


def targets(labels: Tensor) -> dict[str, Tensor]:
    """Labels ``[N, 4]`` (pitch, instrument, dynamics, style) -> class indices per head ``{head: [N]}``."""
    col = {k: labels[:, LABELS.index(k)].round().long() for k in ("instrument", "dynamics", "pitch")}
    return {"instrument": col["instrument"], "dynamics": col["dynamics"], "pitch": col["pitch"].clamp(0, 127)}


def train_frame_classifier(mag: Tensor, labels: Tensor, sizes: dict[str, int], test_mag: Tensor | None = None,
                           test_labels: Tensor | None = None, epochs: int = 4, batch_size: int = 256,
                           lr: float = 2e-3, seed: int = 0) -> tuple[FrameClassifier, dict[str, float]]:
    """Train on frames ``mag [N, F]`` with labels ``[N, 4]``; returns the classifier and its accuracy per head
    on the test frames (held-out notes) if given."""
    torch.manual_seed(seed)
    clf = FrameClassifier(mag.shape[1], sizes)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    y = targets(labels)
    for _ in range(epochs):
        clf.train()
        for idx in torch.randperm(len(mag)).split(batch_size):
            out = clf(mag[idx])
            loss = sum(F.cross_entropy(out[k], y[k][idx]) for k in HEADS)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    clf.eval()
    acc: dict[str, float] = {}
    if test_mag is not None and test_labels is not None:
        with torch.no_grad():
            out, yt = clf(test_mag), targets(test_labels)
        acc = {f"{k}_acc": float((out[k].argmax(1) == yt[k]).float().mean()) for k in HEADS}
    return clf, acc


def save_frame_classifier(clf: FrameClassifier, folder: str | Path, metrics: dict) -> Path:
    meta = {"n_bins": clf.body[0].in_features, "sizes": clf.sizes, "embed": EMBED, "format": 1, **metrics}
    return save_weights(clf, folder, "classifier", meta)


def load_frame_classifier(folder: str | Path) -> FrameClassifier:
    state, meta = read_weights(folder, "classifier", "the synthesis study trains one (latentsynth synth study)")
    clf = FrameClassifier(meta["n_bins"], meta["sizes"])
    clf.load_state_dict(state)
    return clf.eval()


@torch.no_grad()
def embedding_frechet(clf: FrameClassifier, real_mag: Tensor, fake_mag: Tensor) -> float:
    """Fréchet distance between the embeddings of real frames ``[N, F]`` and generated frames ``[M, F]``."""
    return frechet_distance(clf.embed(real_mag.float()), clf.embed(fake_mag.float()))
