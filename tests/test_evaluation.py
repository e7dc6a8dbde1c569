import math

import pytest
import torch
from torch import distributions as D

from latentsynth.config import load_config
from latentsynth.evaluation.metrics import evaluate, iw_nll, latent_mmd, reconstruction_errors
from latentsynth.models import AutoEncoder
from latentsynth.models.regularizers import MMD_SCALES, mmd

SHAPE = (1, 3, 2)  # 6 data dimensions
SIGMA = 0.5


def linear_gaussian_model(exact_posterior: bool) -> tuple[AutoEncoder, torch.Tensor, torch.Tensor]:
    """x = W z + b + sigma * eps with z ~ N(0, I): p(x) = N(b, W W^T + sigma^2 I) in closed form."""
    cfg = load_config("mnist-vae", ["model.latent_dim=2", "model.network.hidden=[]", "likelihood.kind=gaussian",
                                    f"likelihood.sigma={SIGMA}", "likelihood.output=identity"])
    model = AutoEncoder(cfg, SHAPE).double()
    g = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=torch.float64))
    w = q * torch.tensor([1.5, 0.7], dtype=torch.float64)  # orthogonal columns: diagonal posterior covariance
    b = torch.randn(6, generator=g, dtype=torch.float64)
    dec = model.decoder.net[0]
    enc = model.encoder.net[0]
    with torch.no_grad():
        dec.weight.copy_(w)
        dec.bias.copy_(b)
        if exact_posterior:
            cov = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + w.T @ w / SIGMA**2)
            a = cov @ w.T / SIGMA**2
            enc.weight.copy_(torch.cat([a, torch.zeros(2, 6, dtype=torch.float64)]))
            enc.bias.copy_(torch.cat([-a @ b, cov.diagonal().log()]))
    return model.eval(), w, b


def exact_nll(x, w, b):
    cov = w @ w.T + SIGMA**2 * torch.eye(6, dtype=torch.float64)
    return -D.MultivariateNormal(b, cov).log_prob(x.flatten(1)).mean().item()


def test_iw_nll_is_exact_with_the_true_posterior():
    model, w, b = linear_gaussian_model(exact_posterior=True)
    x = torch.randn(50, *SHAPE, dtype=torch.float64) * 2
    assert iw_nll(model, x, k=1) == pytest.approx(exact_nll(x, w, b), rel=1e-6)


def test_iw_nll_tightens_with_more_samples():
    model, w, b = linear_gaussian_model(exact_posterior=False)
    x = torch.randn(40, *SHAPE, dtype=torch.float64)
    truth = exact_nll(x, w, b)
    k1, k1000 = iw_nll(model, x, k=1), iw_nll(model, x, k=1000)
    assert k1 > k1000 > truth - 0.05
    assert k1000 - truth < 0.5 * (k1 - truth)


def test_reconstruction_errors_match_naive_sums():
    torch.manual_seed(0)
    cfg = load_config("mnist-ae", ["model.latent_dim=3", "model.network.hidden=[8]"])
    model = AutoEncoder(cfg, (1, 4, 4)).eval()
    x = torch.rand(7, 1, 4, 4)
    r = model.reconstruct(x).clamp(1e-6, 1 - 1e-6)
    bce = sum(-(xi * math.log(ri) + (1 - xi) * math.log(1 - ri))
              for xi, ri in zip(x.flatten().tolist(), r.flatten().tolist(), strict=True)) / 7
    mse = sum((xi - ri) ** 2 for xi, ri in zip(x.flatten().tolist(), r.flatten().tolist(), strict=True)) / 7
    got = reconstruction_errors(model, x, batch_size=3)
    assert got["bce"] == pytest.approx(bce, rel=1e-5) and got["mse"] == pytest.approx(mse, rel=1e-5)


def test_latent_mmd_uses_the_fixed_reference_kernel():
    torch.manual_seed(0)
    cfg = load_config("mnist-wae-mmd-rbf", ["model.latent_dim=3", "model.network.hidden=[8]"])
    model = AutoEncoder(cfg, (1, 4, 4)).eval()
    x = torch.rand(300, 1, 4, 4)
    got = latent_mmd(model, x, n=200, seed=7)
    z = model.encode(x[:200], sample=False).z
    zp = model.prior.sample(200, generator=torch.Generator().manual_seed(7))
    assert got == pytest.approx(mmd(z, zp, "imq", 2.0 * 3, MMD_SCALES).item(), rel=1e-5)
    res = evaluate(model, x, mmd_samples=200)
    assert res["test_nll_iw"] is None  # deterministic encoder: no likelihood estimate
    assert set(res) >= {"test_bce", "test_mse", "test_latent_mmd", "test_loss", "test_recon", "test_reg"}


def test_aggregate_posterior_statistics_by_formula():
    from latentsynth.evaluation.latent import active_units, aggregate_posterior_stats, gaussian_kl

    g = torch.Generator().manual_seed(0)
    m0, m1 = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    a = torch.randn(3, 3, generator=g, dtype=torch.float64)
    s0 = a @ a.T + torch.eye(3, dtype=torch.float64)
    s1 = torch.diag(torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64))
    ref = D.kl_divergence(D.MultivariateNormal(m0, s0), D.MultivariateNormal(m1, s1)).item()
    assert gaussian_kl(m0, s0, m1, s1) == pytest.approx(ref, rel=1e-9)
    mu = torch.cat([torch.randn(500, 2, generator=g), torch.full((500, 1), 0.3)], 1)  # 3rd unit is inactive
    assert active_units(mu) == 2
    z = torch.randn(20000, 2, generator=g) * torch.tensor([2.0, 1.0]) + torch.tensor([1.0, 0.0])
    st = aggregate_posterior_stats(z, z, torch.randn(20000, 2, generator=g))
    assert st["agg_mean"] == pytest.approx([1.0, 0.0], abs=0.05)
    assert st["agg_var"] == pytest.approx([4.0, 1.0], rel=0.05)
    # KL(N([1,0], diag(4,1)) || N(0, I)) = 0.5 * (4 + 1 + 1 - 2 - log 4)
    assert st["agg_kl_gauss"] == pytest.approx(0.5 * (4 + 1 + 1 - 2 - math.log(4)), abs=0.05)
