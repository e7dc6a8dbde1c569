"""Quantitative generation scores in the features of the domain classifier (:mod:`.classifier`).

* ``gen_confidence`` / ``gen_entropy``: mean max-probability and mean predictive entropy (nats) of the
  classifier on generated images (sharp, recognisable digits: high confidence, low entropy);
* ``gen_class_coverage``: exp(entropy of the histogram of predicted classes) / K, 1 when every class is
  generated equally often; ``gen_classes_seen``: classes predicted for at least 1/(2K) of the samples;
* ``gen_fd``: Frechet distance between Gaussian fits of generated and test features (FID-style);
* ``gen_precision`` / ``gen_recall``: k-nearest-neighbour manifolds (Kynkaanniemi et al. 2019, k = 3);
* ``gen_mmd_data``: MMD^2 between generated and test images in pixel space (multi-scale IMQ, C = the mean
  squared distance between test images).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..models.regularizers import MMD_SCALES, mmd, squared_distances
from .classifier import Classifier, predict


def frechet_distance(f1: Tensor, f2: Tensor) -> float:
    """||m1 - m2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) between Gaussian fits of features ``[N, D]``, ``[M, D]``."""
    a, b = f1.double().numpy(), f2.double().numpy()
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    # Tr (S1 S2)^(1/2) = sum of sqrt(eigenvalues) of the symmetric PSD matrix S1^(1/2) S2 S1^(1/2)
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    tr_covmean = np.sqrt(np.clip(np.linalg.eigvalsh(r1 @ s2 @ r1), 0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def _knn_radius(f: Tensor, k: int, chunk: int = 2000) -> Tensor:
    """Distance of each point of ``f`` ``[N, D]`` to its k-th nearest other point: ``[N]``."""
    out = [squared_distances(f[i : i + chunk], f).kthvalue(k + 1, dim=1).values  # 0-th neighbour: itself
           for i in range(0, len(f), chunk)]
    return torch.cat(out).sqrt()


def precision_recall(real: Tensor, fake: Tensor, k: int = 3, chunk: int = 2000) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019) of ``fake`` ``[M, D]`` against ``real`` ``[N, D]``.

    precision: fraction of fake samples within the k-NN radius of at least one real sample;
    recall: fraction of real samples within the k-NN radius of at least one fake sample.
    """
    real, fake = real.double(), fake.double()
    r_real, r_fake = _knn_radius(real, k, chunk), _knn_radius(fake, k, chunk)

    def covered(points: Tensor, centres: Tensor, radii: Tensor) -> float:
        hits = 0
        for i in range(0, len(points), chunk):
            d = squared_distances(points[i : i + chunk], centres).sqrt()
            hits += int((d <= radii.unsqueeze(0)).any(1).sum())
        return hits / len(points)

    return covered(fake, real, r_real), covered(real, fake, r_fake)


def classifier_scores(probs: Tensor) -> dict[str, float]:
    """Confidence, entropy and class coverage of class probabilities ``[N, K]``."""
    p = probs.double().clamp_min(1e-12)
    k = p.shape[1]
    hist = torch.bincount(p.argmax(1), minlength=k).double() / len(p)
    h_hist = -(hist[hist > 0] * hist[hist > 0].log()).sum()
    return {
        "confidence": float(p.max(1).values.mean()),
        "entropy": float(-(p * p.log()).sum(1).mean()),
        "class_coverage": float(h_hist.exp() / k),
        "classes_seen": int((hist >= 1 / (2 * k)).sum()),
    }


def data_mmd(gen: Tensor, test: Tensor) -> float:
    """MMD^2 between images ``[N, ...]`` and ``[M, ...]`` in pixel space with a multi-scale IMQ kernel whose
    base scale C is the mean squared distance between the test images."""
    a, b = gen.flatten(1).double(), test.flatten(1).double()
    d2 = squared_distances(b, b)
    n = len(b)
    c = float(d2.sum() / (n * (n - 1)))
    return float(mmd(a, b, "imq", c, MMD_SCALES))


def generation_scores(clf: Classifier, generated: Tensor, test: Tensor, n_mmd: int = 2000,
                      test_features: Tensor | None = None) -> dict[str, float]:
    """Every score above for ``generated`` against ``test`` images ``[N, 1, H, W]`` in [0, 1]
    (``test_features``: the classifier features of ``test``, if already computed)."""
    p_gen, f_gen = predict(clf, generated.float())
    f_test = predict(clf, test.float())[1] if test_features is None else test_features
    prec, rec = precision_recall(f_test, f_gen)
    out = {f"gen_{k}": v for k, v in classifier_scores(p_gen).items()}
    out.update({"gen_fd": frechet_distance(f_gen, f_test), "gen_precision": prec, "gen_recall": rec,
                "gen_mmd_data": data_mmd(generated[:n_mmd], test[:n_mmd])})
    return {k: (float(v) if not isinstance(v, int) else v) for k, v in out.items() if not (
        isinstance(v, float) and math.isnan(v))}


@torch.no_grad()
def score_model(model, clf: Classifier, test: Tensor, n: int = 10_000, seed: int = 0) -> dict[str, float]:
    """Generation scores of ``n`` decoded prior samples of an image ``model`` against ``test`` ``[N, 1, H, W]``."""
    g = torch.Generator().manual_seed(seed)
    gen = torch.cat([model.generate(min(1000, n - i), generator=g).cpu() for i in range(0, n, 1000)])
    return generation_scores(clf, gen, test[:n])
