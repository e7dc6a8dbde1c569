import math

import pytest
import torch
from torch import distributions as D

from latentsynth.config import PriorConfig
from latentsynth.models.priors import build_prior


def _grid(lim: float, n: int = 400):
    h = 2 * lim / n
    t = -lim + h * (torch.arange(n, dtype=torch.float64) + 0.5)  # cell midpoints
    xx, yy = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx, yy], -1).reshape(-1, 2), (t[1] - t[0]).item() ** 2


@pytest.mark.parametrize("kind", ["gaussian", "uniform", "mixture"])
def test_density_integrates_to_one_and_matches_samples(kind):
    torch.manual_seed(0)
    prior = build_prior(PriorConfig(kind=kind, radius=2.0, component_std=0.4, n_components=5), 2)
    pts, cell = _grid(5.0)
    p = prior.log_prob(pts).exp()
    assert p.sum().item() * cell == pytest.approx(1.0, abs=2e-2)
    # probability of a box: density integral vs fraction of samples
    box = (pts[:, 0] > 0) & (pts[:, 0] < 1.5) & (pts[:, 1] > -0.5) & (pts[:, 1] < 2.0)
    mass = p[box].sum().item() * cell
    s = prior.sample(200_000)
    frac = ((s[:, 0] > 0) & (s[:, 0] < 1.5) & (s[:, 1] > -0.5) & (s[:, 1] < 2.0)).float().mean().item()
    assert frac == pytest.approx(mass, abs=1e-2)


def test_gaussian_matches_torch_distributions():
    prior = build_prior(PriorConfig(kind="gaussian", scale=1.7), 6)
    z = torch.randn(50, 6) * 2
    ref = D.Independent(D.Normal(torch.zeros(6), 1.7 * torch.ones(6)), 1).log_prob(z)
    torch.testing.assert_close(prior.log_prob(z), ref)
    assert prior.sample(100_000).std().item() == pytest.approx(1.7, rel=1e-2)


def test_mixture_matches_torch_distributions():
    prior = build_prior(PriorConfig(kind="mixture", n_components=7, component_std=0.3, radius=2.5), 5)
    means = prior.means
    assert torch.allclose(means.norm(dim=1), torch.full((7,), 2.5))
    ref = D.MixtureSameFamily(D.Categorical(torch.ones(7)),
                              D.Independent(D.Normal(means, 0.3 * torch.ones_like(means)), 1))
    z = torch.randn(64, 5) * 2
    torch.testing.assert_close(prior.log_prob(z), ref.log_prob(z), rtol=1e-5, atol=1e-5)
    s = prior.sample(100_000)
    # per-dimension std used for the MMD bandwidth
    assert s.std(0).pow(2).mean().sqrt().item() == pytest.approx(prior.sigma, rel=3e-2)


def test_uniform_support_and_moments():
    prior = build_prior(PriorConfig(kind="uniform", scale=2.0), 3)
    s = prior.sample(100_000)
    assert s.abs().max() <= 2.0
    assert s.std().item() == pytest.approx(prior.sigma, rel=1e-2)
    assert prior.log_prob(torch.tensor([[0.0, 0.0, 0.0]])).item() == pytest.approx(-3 * math.log(4.0))
    assert prior.log_prob(torch.tensor([[0.0, 2.5, 0.0]])).item() == -math.inf


def test_hypersphere_samples_and_no_density():
    prior = build_prior(PriorConfig(kind="hypersphere", scale=2.0), 8)
    s = prior.sample(50_000)
    torch.testing.assert_close(s.norm(dim=1), torch.full((50_000,), 2.0))
    assert s.mean(0).abs().max().item() < 0.05
    cov = s.T @ s / len(s)
    torch.testing.assert_close(cov, torch.eye(8) * 4.0 / 8, atol=0.03, rtol=0)
    assert not prior.has_log_prob
    with pytest.raises(NotImplementedError):
        prior.log_prob(s)


def test_sampling_with_generator_is_reproducible():
    prior = build_prior(PriorConfig(kind="mixture"), 4)
    a = prior.sample(10, generator=torch.Generator().manual_seed(3))
    b = prior.sample(10, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
