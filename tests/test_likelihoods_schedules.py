import math

import pytest
import torch
from torch import distributions as D

from latentsynth.config import LikelihoodConfig, ScheduleConfig
from latentsynth.models.likelihoods import build_likelihood
from latentsynth.models.schedules import schedule_factor

g = torch.Generator().manual_seed(0)
OUT = torch.randn(4, 1, 5, 5, generator=g)
X = torch.rand(4, 1, 5, 5, generator=g)


def test_bernoulli_is_negative_log_likelihood():
    lik = build_likelihood(LikelihoodConfig(kind="bernoulli"))
    xb = (X > 0.5).float()
    ref = -D.Bernoulli(logits=OUT).log_prob(xb).flatten(1).sum(1)
    torch.testing.assert_close(lik.loss(OUT, xb), ref)
    torch.testing.assert_close(lik.mean(OUT), torch.sigmoid(OUT))


@pytest.mark.parametrize("output", ["sigmoid", "identity"])
def test_gaussian_fixed_and_learned(output):
    lik = build_likelihood(LikelihoodConfig(kind="gaussian", sigma=0.3, output=output))
    mean = torch.sigmoid(OUT) if output == "sigmoid" else OUT
    ref = -D.Normal(mean, 0.3).log_prob(X).flatten(1).sum(1)
    torch.testing.assert_close(lik.loss(OUT, X), ref)
    learned = build_likelihood(LikelihoodConfig(kind="gaussian", sigma=0.3, learn_sigma=True, output=output))
    torch.testing.assert_close(learned.loss(OUT, X), ref)
    learned.loss(OUT, X).sum().backward()
    assert learned.log_sigma.grad is not None and learned.log_sigma.grad.abs() > 0
    assert len(list(lik.parameters())) == 0  # fixed sigma is not trained


def test_mse_and_l1_with_scale():
    mse = build_likelihood(LikelihoodConfig(kind="mse", scale=0.05))
    l1 = build_likelihood(LikelihoodConfig(kind="l1", output="identity"))
    m = torch.sigmoid(OUT)
    naive_mse = torch.tensor([0.05 * sum(float(v) ** 2 for v in (X[i] - m[i]).flatten()) for i in range(4)])
    naive_l1 = torch.tensor([sum(abs(float(v)) for v in (X[i] - OUT[i]).flatten()) for i in range(4)])
    torch.testing.assert_close(mse.loss(OUT, X), naive_mse)
    torch.testing.assert_close(l1.loss(OUT, X), naive_l1)


def test_schedules_by_formula():
    assert schedule_factor(ScheduleConfig(kind="constant"), 0.0) == 1.0
    lin = ScheduleConfig(kind="linear", warmup_epochs=4)
    assert [schedule_factor(lin, e) for e in (0, 1, 2.5, 4, 9)] == [0, 0.25, 0.625, 1, 1]
    cyc = ScheduleConfig(kind="cyclical", cycle_epochs=4, ramp_fraction=0.5)
    got = [schedule_factor(cyc, e) for e in (0, 1, 2, 3, 4, 5, 9.5)]
    assert got == pytest.approx([0, 0.5, 1, 1, 0, 0.5, 0.75])
    assert math.isclose(schedule_factor(cyc, 6.0), 1.0)
