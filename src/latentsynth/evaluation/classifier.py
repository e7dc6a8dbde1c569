"""A small domain classifier that latentsynth trains itself: the offline substitute for the Inception network
of FID / precision-recall on MNIST-like data (scores are comparable only with themselves).

Saved like any model: a folder with ``classifier.json`` (settings), ``classifier.safetensors`` and
``metrics.json`` (test accuracy).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..folders import read_weights, save_weights, write_json

FEATURES = 128  # penultimate width: the feature space of the Frechet distance and precision/recall


class Classifier(nn.Module):
    """``[B, 1, 28, 28]`` -> logits ``[B, n_classes]``; ``features`` gives the penultimate ``[B, 128]``."""

    def __init__(self, n_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 14 x 14
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),  # 7 x 7
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Flatten(), nn.Linear(64 * 7 * 7, FEATURES), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURES, n_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.body(x)))


@torch.no_grad()
def predict(clf: Classifier, x: Tensor, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """Class probabilities ``[N, K]`` and penultimate features ``[N, 128]`` of images ``[N, 1, H, W]``."""
    clf.eval()
    probs, feats = [], []
    for i in range(0, len(x), batch_size):
        f = clf.features(x[i : i + batch_size])
        feats.append(f)
        probs.append(F.softmax(clf.head(f), dim=1))
    return torch.cat(probs), torch.cat(feats)


def train_classifier(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor, epochs: int = 4,
                     batch_size: int = 128, lr: float = 2e-3, seed: int = 0,
                     quiet: bool = False) -> tuple[Classifier, float]:
    """Train on ``train_x`` ``[N, 1, H, W]`` in [0, 1] with light augmentation (random shifts of up to 2 px);
    returns the classifier and its test accuracy."""
    torch.manual_seed(seed)
    clf = Classifier(int(train_y.max()) + 1)
    opt = torch.optim.Adam(clf.parameters(), lr=lr)
    steps = epochs * ((len(train_x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    for epoch in range(epochs):
        clf.train()
        t0 = time.perf_counter()
        perm = torch.randperm(len(train_x))
        for i in range(0, len(train_x), batch_size):
            idx = perm[i : i + batch_size]
            xb = train_x[idx]
            dx, dy = torch.randint(-2, 3, (2,)).tolist()
            xb = torch.roll(xb, shifts=(dx, dy), dims=(2, 3))
            loss = F.cross_entropy(clf(xb), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        acc = accuracy(clf, test_x, test_y)
        if not quiet:
            print(f"  classifier epoch {epoch + 1}/{epochs}: test accuracy {acc:.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
    return clf.eval(), accuracy(clf, test_x, test_y)


def accuracy(clf: Classifier, x: Tensor, y: Tensor) -> float:
    probs, _ = predict(clf, x)
    return float((probs.argmax(1) == y).float().mean())


def save_classifier(clf: Classifier, folder: str | Path, metrics: dict) -> Path:
    save_weights(clf, folder, "classifier", {"n_classes": clf.head.out_features, "features": FEATURES, "format": 1})
    write_json(Path(folder) / "metrics.json", metrics)
    return Path(folder)


def load_classifier(folder: str | Path) -> Classifier:
    state, meta = read_weights(folder, "classifier", "train one with `latentsynth classifier DATASET`")
    clf = Classifier(meta["n_classes"])
    clf.load_state_dict(state)
    return clf.eval()


def default_classifier_dir(dataset: str) -> Path:
    """Where the domain classifier of ``dataset`` lives unless told otherwise: the user cache."""
    from ..data.idx import cache_dir

    return cache_dir() / "classifiers" / dataset


def ensure_classifier(dataset: str, folder: str | Path | None = None, data_dir: str | None = None,
                      epochs: int | None = None, quiet: bool = False) -> Classifier:
    """Load the domain classifier of ``dataset``, training and saving it first if there is none."""
    folder = Path(folder) if folder else default_classifier_dir(dataset)
    if (folder / "classifier.safetensors").is_file():
        return load_classifier(folder)
    from ..data.idx import load_idx_dataset

    arrays = load_idx_dataset(dataset, data_dir)

    def prep(key: str) -> Tensor:
        return torch.from_numpy(arrays[key].copy()).float().div_(255).unsqueeze(1)

    epochs = epochs or (4 if dataset == "mnist" else 10)
    if not quiet:
        print(f"training the {dataset} domain classifier ({epochs} epochs) -> {folder}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    clf, acc = train_classifier(prep("train_images"), torch.from_numpy(arrays["train_labels"].astype("int64")),
                                prep("test_images"), torch.from_numpy(arrays["test_labels"].astype("int64")),
                                epochs=epochs, quiet=quiet)
    save_classifier(clf, folder, {"dataset": dataset, "test_accuracy": acc, "epochs": epochs,
                                  "train_seconds": time.perf_counter() - t0})
    return clf
