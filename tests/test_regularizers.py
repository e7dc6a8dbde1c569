import math

import pytest
import torch
from torch import distributions as D

from latentsynth.config import PriorConfig
from latentsynth.models.priors import build_prior
from latentsynth.models.regularizers import (
    AdversarialRegularizer,
    Encoding,
    KLRegularizer,
    MMDRegularizer,
    kernel_matrix,
    kl_gaussian_analytic,
    median_bandwidth,
    mmd,
)

PAPER_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)  # Tolstikhin et al.'s multi-scale sum, written out here


def naive_mmd(x, y, kind, c, scales):
    def k(a, b):
        d2 = sum((float(ai) - float(bi)) ** 2 for ai, bi in zip(a, b, strict=True))
        if kind == "imq":
            return sum(c * s / (c * s + d2) for s in scales)
        return sum(math.exp(-d2 / (c * s)) for s in scales)

    n, m = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    syy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return sxx + syy - 2 * sxy


@pytest.mark.parametrize("kind", ["imq", "rbf"])
@pytest.mark.parametrize("scales", [(1.0,), PAPER_SCALES])
def test_mmd_matches_naive_double_loop(kind, scales):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(9, 3, generator=g, dtype=torch.float64)
    y = torch.randn(7, 3, generator=g, dtype=torch.float64) + 0.5
    c = 2 * 3 * 1.0
    assert mmd(x, y, kind, c, scales).item() == pytest.approx(naive_mmd(x, y, kind, c, scales), rel=1e-10)


def test_kernel_values_by_formula():
    x = torch.tensor([[0.0, 0.0]])
    y = torch.tensor([[3.0, 4.0]])  # squared distance 25
    assert kernel_matrix(x, y, "imq", 5.0).item() == pytest.approx(5 / 30)
    assert kernel_matrix(x, y, "rbf", 5.0).item() == pytest.approx(math.exp(-5))
    assert kernel_matrix(x, y, "imq", 5.0, (1.0, 2.0)).item() == pytest.approx(5 / 30 + 10 / 35)
    with pytest.raises(ValueError, match="kernel"):
        kernel_matrix(x, y, "laplace", 1.0)


@pytest.mark.parametrize("kind", ["imq", "rbf"])
def test_mmd_near_zero_for_same_distribution_and_large_for_shift(kind):
    g = torch.Generator().manual_seed(1)
    d, n = 8, 500
    same = [mmd(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g), kind, 2.0 * d, PAPER_SCALES).item()
            for _ in range(5)]
    shifted = mmd(torch.randn(n, d, generator=g), torch.randn(n, d, generator=g) + 1.0, kind, 2.0 * d,
                  PAPER_SCALES).item()
    assert max(abs(v) for v in same) < 0.02  # unbiased: fluctuates around 0
    assert shifted > 10 * max(abs(v) for v in same)


def test_kl_analytic_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    for s in (1.0, 0.5):
        q = D.Independent(D.Normal(mu, (0.5 * logvar).exp()), 1)
        p = D.Independent(D.Normal(torch.zeros(4), s * torch.ones(4)), 1)
        torch.testing.assert_close(kl_gaussian_analytic(mu, logvar, s), D.kl_divergence(q, p))


def test_kl_monte_carlo_converges_to_analytic():
    torch.manual_seed(0)
    mu, logvar = torch.randn(1, 3), torch.randn(1, 3) * 0.3
    n = 200_000
    z = mu + torch.randn(n, 3) * (0.5 * logvar).exp()
    enc = Encoding(z=z, mu=mu.expand(n, 3), logvar=logvar.expand(n, 3))
    prior = build_prior(PriorConfig(kind="gaussian"), 3)
    mc = KLRegularizer("mc").penalty(enc, prior).item()
    analytic = KLRegularizer("auto").penalty(enc, prior).item()
    assert mc == pytest.approx(analytic, abs=0.02)


def test_kl_mixture_prior_uses_monte_carlo_against_torch():
    torch.manual_seed(0)
    prior = build_prior(PriorConfig(kind="mixture", n_components=3), 2)
    mu, logvar = torch.zeros(4, 2), torch.zeros(4, 2)
    z = torch.randn(4, 2)
    got = KLRegularizer("auto").penalty(Encoding(z, mu, logvar), prior)
    q = D.Independent(D.Normal(mu, torch.ones(2)), 1)
    ref = (q.log_prob(z) - prior.log_prob(z)).mean()
    torch.testing.assert_close(got, ref)


def test_kl_requires_gaussian_encoder():
    prior = build_prior(PriorConfig(), 2)
    with pytest.raises(ValueError, match="gaussian"):
        KLRegularizer().penalty(Encoding(z=torch.zeros(3, 2)), prior)


def test_mmd_regularizer_default_and_median_bandwidth():
    torch.manual_seed(0)
    prior = build_prior(PriorConfig(kind="gaussian", scale=2.0), 4)
    z = torch.randn(64, 4)
    reg = MMDRegularizer("imq", multiscale=False)
    torch.manual_seed(5)
    got = reg.penalty(Encoding(z), prior)
    torch.manual_seed(5)
    zp = prior.sample(64)
    torch.testing.assert_close(got, mmd(z, zp, "imq", 2 * 4 * 2.0**2, (1.0,)))
    # the multi-scale regularizer (the WAE presets) sums the paper's seven scales of C = 2 d sigma^2
    for kind in ("imq", "rbf"):
        torch.manual_seed(5)
        got = MMDRegularizer(kind, multiscale=True).penalty(Encoding(z[:12].double()), prior)
        torch.manual_seed(5)
        zp = prior.sample(12).double()
        expect = naive_mmd(z[:12].double(), zp, kind, 2 * 4 * 2.0**2, PAPER_SCALES)
        assert got.item() == pytest.approx(expect, rel=1e-6), kind
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[3.0], [7.0]])
    # pairwise squared distances: 1, 9, 49, 4, 36, 16 -> median of the 12 off-diagonal entries = (9 + 16) / 2
    assert median_bandwidth(x, y).item() == pytest.approx(9.0)  # torch.median returns the lower middle value


def test_adversarial_losses_by_formula():
    torch.manual_seed(0)
    reg = AdversarialRegularizer(3, [8])
    prior = build_prior(PriorConfig(), 3)
    z = torch.randn(10, 3)
    p = torch.sigmoid(reg.logits(z))
    torch.testing.assert_close(reg.penalty(Encoding(z), prior), -torch.log(p).mean())
    torch.manual_seed(1)
    got = reg.discriminator_loss(z, prior)
    torch.manual_seed(1)
    zp = prior.sample(10)
    ref = -torch.log(torch.sigmoid(reg.logits(zp))).mean() - torch.log(1 - p).mean()
    torch.testing.assert_close(got, ref)
