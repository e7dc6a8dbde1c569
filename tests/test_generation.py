import math

import numpy as np
import pytest
import torch

from latentsynth.evaluation.classifier import Classifier, load_classifier, save_classifier, train_classifier
from latentsynth.evaluation.generation import (
    classifier_scores,
    data_mmd,
    frechet_distance,
    precision_recall,
)
from latentsynth.evaluation.generation import (
    generation_scores as _scores,
)
from latentsynth.latent import lerp, slerp, traversal
from latentsynth.models.regularizers import MMD_SCALES, mmd


def test_frechet_distance_against_eigenvalue_formula():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64) @ torch.randn(5, 5, generator=g, dtype=torch.float64)
    b = torch.randn(300, 5, generator=g, dtype=torch.float64) + 0.7
    m1, m2 = a.mean(0).numpy(), b.mean(0).numpy()
    s1, s2 = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    # Tr (S1 S2)^(1/2) = sum of square roots of the (real, non-negative) eigenvalues of S1 S2
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-8)
    assert abs(frechet_distance(a, a)) < 1e-6


def test_frechet_distance_of_1d_gaussians():
    # exact for the sample moments: (m1 - m2)^2 + (s1 - s2)^2
    x = torch.tensor([[0.0], [2.0], [4.0]])  # mean 2, var 4
    y = torch.tensor([[5.0], [6.0], [7.0]])  # mean 6, var 1
    assert frechet_distance(x, y) == pytest.approx(16 + (2 - 1) ** 2)


def test_precision_recall_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [3.0]])  # k=1 radii: 1, 1, 1, 1
    fake = torch.tensor([[0.5], [10.0], [11.5]])  # radii: 9.5, 1.5, 1.5
    p, r = precision_recall(real, fake, k=1)
    assert p == pytest.approx(1 / 3)  # only 0.5 lies within 1 of a real point
    # real points within a fake ball: 0.5 +- 9.5 covers 0, 1, 2, 3
    assert r == pytest.approx(1.0)
    p2, r2 = precision_recall(real, real + 0.1, k=1)
    assert p2 == r2 == 1.0


def test_classifier_scores_by_hand():
    probs = torch.tensor([[0.9, 0.1, 0.0], [0.6, 0.4, 0.0], [0.0, 0.0, 1.0], [0.2, 0.8, 0.0]])
    s = classifier_scores(probs)
    assert s["confidence"] == pytest.approx((0.9 + 0.6 + 1.0 + 0.8) / 4)
    ent = [-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)), -(0.6 * math.log(0.6) + 0.4 * math.log(0.4)), 0.0,
           -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))]
    assert s["entropy"] == pytest.approx(sum(ent) / 4, abs=1e-9)
    hist = [0.5, 0.25, 0.25]  # predicted classes 0, 0, 2, 1
    assert s["class_coverage"] == pytest.approx(math.exp(-sum(h * math.log(h) for h in hist)) / 3)
    assert s["classes_seen"] == 3


def test_data_mmd_uses_mean_test_distance_as_scale():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(30, 1, 4, 4, generator=g), torch.rand(40, 1, 4, 4, generator=g)
    bf = b.flatten(1).double()
    c = sum(float(((bf[i] - bf[j]) ** 2).sum()) for i in range(40) for j in range(40) if i != j) / (40 * 39)
    ref = mmd(a.flatten(1).double(), bf, "imq", c, MMD_SCALES).item()
    assert data_mmd(a, b) == pytest.approx(ref, rel=1e-9)


def test_paths_by_formula():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    torch.testing.assert_close(lerp(a, b, 3)[1], torch.tensor([0.5, 1.0]))
    mid = slerp(a, b, 3)[1]  # 45 degrees; sin(pi/4)/sin(pi/2) weights
    w = math.sin(math.pi / 4)
    torch.testing.assert_close(mid, torch.tensor([w, 2 * w]))
    torch.testing.assert_close(slerp(a, b, 5)[[0, -1]], torch.stack([a, b]))
    torch.testing.assert_close(slerp(a, 2 * a, 3)[1], 1.5 * a)  # parallel: falls back to lerp
    t = traversal(torch.zeros(3), [0, 2], torch.tensor([-1.0, 1.0]))
    assert t.shape == (2, 2, 3) and t[1, 0].tolist() == [0, 0, -1] and t[0, 1].tolist() == [1, 0, 0]


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma == 0:
        return x
    r = int(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1).float() ** 2 / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, -1)
    y = torch.nn.functional.conv2d(x, k, padding=(0, r))
    return torch.nn.functional.conv2d(y, k.transpose(2, 3), padding=(r, 0))


@pytest.fixture(scope="module")
def mnist_classifier(request):
    from latentsynth.data.idx import load_idx_dataset

    data_dir = request.getfixturevalue("real_data_dir")
    arr = load_idx_dataset("mnist", data_dir)
    x = torch.from_numpy(arr["train_images"][:12000].copy()).float().div(255).unsqueeze(1)
    y = torch.from_numpy(arr["train_labels"][:12000].astype("int64"))
    xt = torch.from_numpy(arr["test_images"].copy()).float().div(255).unsqueeze(1)
    yt = torch.from_numpy(arr["test_labels"].astype("int64"))
    clf, acc = train_classifier(x[:10000], y[:10000], xt, yt, epochs=1, quiet=True)
    return clf, acc, x[10000:12000], y[10000:12000], xt, yt


def test_classifier_learns_and_round_trips(mnist_classifier, tmp_path):
    clf, acc, _, _, xt, _ = mnist_classifier
    # one epoch on 10,000 images (chance: 0.1); the full classifier is trained by `latentsynth classifier`
    assert acc > 0.8
    save_classifier(clf, tmp_path / "c", {"test_accuracy": acc})
    again = load_classifier(tmp_path / "c")
    torch.testing.assert_close(again(xt[:50]), clf(xt[:50]))
    assert isinstance(again, Classifier)


def test_scores_validate_on_real_data(mnist_classifier):
    from latentsynth.evaluation.classifier import predict

    clf, _, x_train, y_train, xt, yt = mnist_classifier
    test = xt[:2000]
    feats = predict(clf, test)[1]

    def generation_scores(clf, x, test):
        return _scores(clf, x, test, n_mmd=500, test_features=feats)

    floor = generation_scores(clf, x_train, test)
    assert floor["gen_precision"] > 0.6 and floor["gen_recall"] > 0.6
    assert floor["gen_classes_seen"] == 10 and floor["gen_class_coverage"] > 0.95
    g = torch.Generator().manual_seed(0)
    noise = [generation_scores(clf, (x_train + s * torch.randn(x_train.shape, generator=g)).clamp(0, 1), test)
             for s in (0.1, 0.25, 0.5)]
    blur = [generation_scores(clf, _blur(x_train, s), test) for s in (1.0, 1.5, 2.5)]
    drops = []
    for k in (3, 6, 9):  # keep only the first 10 - k classes
        keep = y_train < 10 - k
        drops.append(generation_scores(clf, x_train[keep], test))
    for series in (noise, blur, drops):
        fds = [floor["gen_fd"]] + [s["gen_fd"] for s in series]
        assert all(a < b for a, b in zip(fds, fds[1:], strict=False)), fds
    seen = [floor["gen_classes_seen"]] + [d["gen_classes_seen"] for d in drops]
    assert seen[0] == 10 and all(a > b for a, b in zip(seen, seen[1:], strict=False)) and seen[-1] <= 2, seen
    recalls = [floor["gen_recall"]] + [d["gen_recall"] for d in drops]
    assert all(a > b for a, b in zip(recalls, recalls[1:], strict=False)) and recalls[-1] < 0.5 * recalls[0], recalls


def test_bench_scores_generation_and_explore_writes_every_figure(mnist_classifier, real_data_dir, tmp_path):
    import json

    from latentsynth import load
    from latentsynth.bench.runner import _score_generation
    from latentsynth.config import load_config
    from latentsynth.data.images import ImageDataModule
    from latentsynth.explore.images import explore
    from latentsynth.training import train

    from helpers import tiny_overrides

    clf = mnist_classifier[0]
    save_classifier(clf, tmp_path / "clf", {})
    run = train(load_config("mnist-vae", tiny_overrides(real_data_dir, **{"train.max_epochs": 1})), tmp_path,
                quiet=True)
    _score_generation(run, str(tmp_path / "clf"))
    m = json.loads((run / "metrics.json").read_text())
    for key in ("gen_fd", "gen_precision", "gen_recall", "gen_confidence", "gen_class_coverage", "gen_mmd_data"):
        assert key in m and math.isfinite(m[key])
    assert "test_bce" in m  # earlier metrics kept
    model = load(run)
    paths = explore(model, run / "explore", ImageDataModule.for_run(model.cfg), tsne=False)
    names = {p.name for p in paths}
    assert names == {"projection_pca.png", "samples_prior.png", "samples_aggregate.png", "traversals.png",
                     "interpolations_linear.png", "interpolations_spherical.png", "probes.json"}
    assert all(p.stat().st_size > 2000 for p in paths if p.suffix == ".png")
    # explore's probes are the sweep's: the same codes (seeded subsets), the same numbers
    probes = json.loads((run / "explore" / "probes.json").read_text())
    assert {k: probes[k] for k in ("probe_class_knn", "probe_class_linear")} == \
        {k: m[k] for k in ("probe_class_knn", "probe_class_linear")}
