"""Probes of latent codes: how much of a known attribute (digit class, instrument, dynamics, pitch) a simple
predictor fitted on train codes reads off the codes of unseen test items.

* k-nearest-neighbour probes (Euclidean distance in the latent space): majority vote for a class, mean for a
  number. They ask whether items that share the attribute are *neighbours*, which is what a latent path or an
  interpolation relies on.
* a linear probe (logistic regression on standardised codes): whether the attribute is linearly readable.
* chance levels from the attribute alone (always the most frequent train class; always the median train value).

Image models get ``class_probes`` in their metrics (``probe_class_knn``, ``probe_class_linear``,
``probe_class_chance``); frame models get instrument, dynamics and pitch probes from ``latentsynth explore``
(:func:`latentsynth.explore.frames.attribute_probes`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


def _flat(z: torch.Tensor | np.ndarray) -> np.ndarray:
    z = z.numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
    return z.reshape(len(z), -1)


def knn_predict(z_train, y_train, z_test, k: int = 10) -> np.ndarray:
    """The majority vote of the ``k`` nearest train codes ``[N, d]`` (labels ``[N]``; ``k`` is capped at N) for
    each test code ``[M, d]`` -> labels ``[M]``."""
    from sklearn.neighbors import KNeighborsClassifier

    zt = _flat(z_train)
    return KNeighborsClassifier(n_neighbors=min(k, len(zt))).fit(zt, np.asarray(y_train)).predict(_flat(z_test))


def knn_accuracy(z_train, y_train, z_test, y_test, k: int = 10) -> float:
    """Accuracy of the majority vote of the ``k`` nearest train codes ``[N, d]`` for test codes ``[M, d]``
    (labels ``[N]`` / ``[M]``; ``k`` is capped at N)."""
    return float(np.mean(knn_predict(z_train, y_train, z_test, k) == np.asarray(y_test)))


def knn_mae(z_train, v_train, z_test, v_test, k: int = 10) -> float:
    """Mean absolute error of the mean value of the ``k`` nearest train codes (values ``[N]`` / ``[M]``)."""
    from sklearn.neighbors import KNeighborsRegressor

    zt, v = _flat(z_train), np.asarray(v_train, dtype=float)
    pred = KNeighborsRegressor(n_neighbors=min(k, len(zt))).fit(zt, v).predict(_flat(z_test))
    return float(np.mean(np.abs(pred - np.asarray(v_test, dtype=float))))


def majority_chance(y_train, y_test) -> float:
    """Accuracy of always answering the most frequent train label (ties: the smallest label)."""
    values, counts = np.unique(np.asarray(y_train), return_counts=True)
    return float(np.mean(np.asarray(y_test) == values[np.argmax(counts)]))


def median_chance_mae(v_train, v_test) -> float:
    """Mean absolute error of always answering the median train value."""
    return float(np.mean(np.abs(np.median(np.asarray(v_train, dtype=float)) - np.asarray(v_test, dtype=float))))


def linear_predict(z_train, y_train, z_test) -> np.ndarray:
    """Labels ``[M]`` of test codes ``[M, d]`` by a multinomial logistic regression fitted on standardised train
    codes ``[N, d]`` / labels ``[N]``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return clf.fit(_flat(z_train), np.asarray(y_train)).predict(_flat(z_test))


def linear_accuracy(z_train, y_train, z_test, y_test) -> float:
    """Test accuracy of a multinomial logistic regression fitted on standardised train codes."""
    return float(np.mean(linear_predict(z_train, y_train, z_test) == np.asarray(y_test)))


@torch.no_grad()
def encodings(model, data, n: int = 5000, seed: int = 0):
    """Posterior-mean codes and labels of ``n`` train and ``n`` test items of a data module (seeded subsets):
    ``(z_train, y_train, z_test, y_test)``; labels are classes for images, note indices for frames."""
    from .metrics import encode_all

    g = torch.Generator().manual_seed(seed)
    it = torch.randperm(len(data.train), generator=g)[:n]
    iv = torch.randperm(len(data.test), generator=g)[:n]
    xt, yt = data.train.__getitems__(it.tolist())
    xv, yv = data.test.__getitems__(iv.tolist())
    if hasattr(data.train, "notes"):  # frames: the batch labels [n, 4] condition the model; return note indices
        ct, cv = (yt, yv) if model.conditioned else (None, None)
        return encode_all(model, xt, c=ct), data.train.notes[it], encode_all(model, xv, c=cv), data.test.notes[iv]
    return encode_all(model, xt), yt, encode_all(model, xv), yv


def class_probes_of_codes(z_train, y_train, z_test, y_test, k: int = 10) -> dict[str, Any]:
    """k-NN and linear probes of the class from train codes ``[N, d]`` / labels ``[N]`` to test codes ``[M, d]``
    / labels ``[M]``, with the chance level."""
    yt, yv = np.asarray(y_train), np.asarray(y_test)
    return {"probe_class_knn": knn_accuracy(z_train, yt, z_test, yv, k),
            "probe_class_linear": linear_accuracy(z_train, yt, z_test, yv),
            "probe_class_chance": majority_chance(yt, yv), "probe_k": min(k, len(z_train))}


def class_probes(model, data, n: int = 5000, k: int = 10, seed: int = 0) -> dict[str, Any]:
    """:func:`class_probes_of_codes` on the posterior-mean codes of ``n`` train and ``n`` test images of an image
    data module (the seeded subsets of :func:`encodings`)."""
    return class_probes_of_codes(*encodings(model, data, n=n, seed=seed), k=k)
