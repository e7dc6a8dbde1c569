"""The audio classifier behind the Fréchet distance on embeddings (the offline FAD stand-in of Exercise 5)."""

import math

import numpy as np
import torch

from latentsynth.evaluation.audio_classifier import (
    EMBED,
    embedding_frechet,
    load_frame_classifier,
    save_frame_classifier,
    train_frame_classifier,
)


def tones(n: int, f_bin: torch.Tensor, n_bins: int = 129, seed: int = 0) -> torch.Tensor:
    """``n`` magnitude frames with one peak (plus its 2nd harmonic) at bin ``f_bin`` and a little noise."""
    g = torch.Generator().manual_seed(seed)
    x = 1e-3 * torch.rand(n, n_bins, generator=g)
    idx = torch.arange(n)
    x[idx, f_bin] += 1.0
    x[idx, (2 * f_bin).clamp(max=n_bins - 1)] += 0.3
    return x


def test_classifier_learns_labels_and_its_frechet_tells_sets_apart(tmp_path):
    torch.manual_seed(0)
    n = 600
    inst = torch.randint(0, 3, (n,))
    pitch = 40 + 4 * inst + torch.randint(0, 3, (n,))  # each instrument its own register
    mag = tones(n, pitch)  # bin = MIDI number (a toy frequency axis)
    labels = torch.stack([pitch.float(), inst.float(), torch.zeros(n), torch.zeros(n)], 1)
    clf, acc = train_frame_classifier(mag[:500], labels[:500], {"instrument": 3, "dynamics": 1}, mag[500:],
                                      labels[500:], epochs=30, seed=0)
    chance = float(np.bincount(inst[:500].numpy()).max() / 500)
    assert acc["instrument_acc"] > chance + 0.3 and acc["pitch_acc"] > 0.5
    assert clf.embed(mag[:5]).shape == (5, EMBED)
    # truth: a set against itself is at distance ~0; a set of other frames (other registers) is far
    same = embedding_frechet(clf, mag[:300], mag[:300])
    near = embedding_frechet(clf, mag[:300], mag[300:])
    far = embedding_frechet(clf, mag[:300], tones(300, torch.full((300,), 100)))
    assert abs(same) < 1e-6 and near < far and math.isfinite(far)
    back = load_frame_classifier(save_frame_classifier(clf, tmp_path, {"test_instrument_acc": acc["instrument_acc"]}))
    torch.testing.assert_close(back.embed(mag[:4]), clf.embed(mag[:4]))
