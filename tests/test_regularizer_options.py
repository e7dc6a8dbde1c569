"""The regularizers' options against hand values: free bits, the discriminator's update schedule, label smoothing,
the gradient penalties on known functions, and the Pareto-front extraction of the sweep reports."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from latentsynth.bench.pareto import pareto_front
from latentsynth.config import ConfigError, PriorConfig, load_config, to_dict
from latentsynth.models.priors import build_prior
from latentsynth.models.regularizers import (
    AdversarialRegularizer,
    Encoding,
    KLRegularizer,
    discriminator_updates,
    free_bits_kl,
    gradient_penalty,
    instance_noise_std,
    kl_gaussian_analytic,
    kl_gaussian_per_dim,
)


# ------------------------------------------------------------------------------------------------ free bits
def test_free_bits_clamp_against_hand_values():
    kl = torch.tensor([[0.1, 2.0, 0.0], [0.3, 1.0, 0.2]])  # batch means per dimension: 0.2, 1.5, 0.1
    assert free_bits_kl(kl, 0.0).item() == pytest.approx(1.8)
    assert free_bits_kl(kl, 0.5).item() == pytest.approx(0.5 + 1.5 + 0.5)
    assert free_bits_kl(kl, 2.0).item() == pytest.approx(6.0)
    # per dimension: mu^2 / 2 with unit variance; the sum is the analytic KL
    mu, logvar = torch.tensor([[1.0, 0.2], [3.0, 0.0]]), torch.zeros(2, 2)
    torch.testing.assert_close(kl_gaussian_per_dim(mu, logvar), torch.tensor([[0.5, 0.02], [4.5, 0.0]]))
    torch.testing.assert_close(kl_gaussian_per_dim(mu, logvar).sum(1), kl_gaussian_analytic(mu, logvar))


def test_free_bits_regularizer_has_no_gradient_below_the_floor():
    prior = build_prior(PriorConfig(), 2)
    mu = torch.tensor([[2.0, 0.1], [2.0, -0.1]], requires_grad=True)  # dim 0: KL 2 nats; dim 1: 0.005
    logvar = torch.zeros(2, 2, requires_grad=True)
    pen = KLRegularizer(free_bits=0.25).penalty(Encoding(mu, mu, logvar), prior)
    assert pen.item() == pytest.approx(2.0 + 0.25)
    pen.backward()
    assert mu.grad[:, 1].abs().max().item() == 0.0 and logvar.grad[:, 1].abs().max().item() == 0.0
    # above the floor: d/dmu of mean_b mu^2 / 2 = mu / B
    torch.testing.assert_close(mu.grad[:, 0], torch.tensor([1.0, 1.0]))
    plain = KLRegularizer().penalty(Encoding(mu, mu, logvar), prior)
    assert plain.item() == pytest.approx(2.0 + 0.005)
    with pytest.raises(ValueError, match="free_bits"):
        KLRegularizer("mc", free_bits=0.5).penalty(Encoding(mu, mu, logvar), prior)


# ------------------------------------------------------------------------------------------------ adversary
def test_discriminator_update_schedule_against_hand_values():
    assert [discriminator_updates(s) for s in range(4)] == [1, 1, 1, 1]
    assert [discriminator_updates(s, 2, warmup_steps=3, warmup_updates=5) for s in range(6)] == [5, 5, 5, 2, 2, 2]
    assert [discriminator_updates(s, 3, warmup_steps=0, warmup_updates=7) for s in range(3)] == [3, 3, 3]


def test_the_module_runs_the_scheduled_discriminator_updates():
    import lightning as L

    from latentsynth.training.module import LitAutoEncoder

    cfg = load_config("mnist-wae-gan", ["model.network.hidden=[8]", "model.latent_dim=2", "regularizer.disc_hidden=[8]",
                                        "regularizer.disc_steps=3", "regularizer.disc_warmup_steps=2",
                                        "regularizer.disc_warmup_updates=5"])
    torch.manual_seed(0)
    module = LitAutoEncoder(to_dict(cfg), [1, 28, 28])
    x = torch.rand(32, 1, 28, 28)
    loader = DataLoader(TensorDataset(x, torch.zeros(32, dtype=torch.long)), batch_size=8)  # 4 batches
    L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, accelerator="cpu",
              devices=1).fit(module, train_dataloaders=loader)
    ae_opt, disc_opt = (o.optimizer for o in module.optimizers())
    steps = {int(s["step"]) for s in disc_opt.state.values()}
    assert steps == {5 + 5 + 3 + 3}  # Adam's own count of the discriminator's updates
    assert {int(s["step"]) for s in ae_opt.state.values()} == {4}


def test_label_smoothing_and_penalty_in_the_discriminator_loss():
    torch.manual_seed(0)
    reg = AdversarialRegularizer(3, [8], label_smoothing=0.1, penalty="r1", penalty_weight=2.0)
    prior = build_prior(PriorConfig(), 3)
    z = torch.randn(10, 3)
    torch.manual_seed(1)
    got, acc = reg.discriminator_step(z, prior)
    torch.manual_seed(1)
    zp = prior.sample(10)
    pp, pe = torch.sigmoid(reg.logits(zp)), torch.sigmoid(reg.logits(z))
    ref = -(0.9 * torch.log(pp) + 0.1 * torch.log(1 - pp)).mean() - torch.log(1 - pe).mean()
    ref = ref + 2.0 * gradient_penalty(reg.logits, zp, z, "r1")
    torch.testing.assert_close(got, ref)
    assert acc.item() == pytest.approx(0.5 * ((pp > 0.5).float().mean() + (pe <= 0.5).float().mean()).item())


def test_gradient_penalties_on_known_functions():
    torch.manual_seed(0)
    zp, ze = torch.randn(6, 3), torch.randn(6, 3)
    w = torch.tensor([0.5, -2.0, 1.0])  # D(z) = w . z + 4: the gradient is w everywhere, |w|^2 = 5.25
    linear = lambda z: z @ w + 4.0  # noqa: E731
    assert gradient_penalty(linear, zp, ze, "r1").item() == pytest.approx(0.5 * 5.25)
    assert gradient_penalty(linear, zp, ze, "wgan-gp").item() == pytest.approx((math.sqrt(5.25) - 1) ** 2)
    quadratic = lambda z: (z**2).sum(1)  # noqa: E731  gradient 2 z
    assert gradient_penalty(quadratic, zp, ze, "r1").item() == pytest.approx(0.5 * (4 * zp.pow(2).sum(1)).mean().item())
    torch.manual_seed(3)
    got = gradient_penalty(quadratic, zp, ze, "wgan-gp")
    torch.manual_seed(3)
    u = torch.rand(6, 1)
    zt = u * zp + (1 - u) * ze
    assert got.item() == pytest.approx(((2 * zt.norm(dim=1) - 1) ** 2).mean().item(), rel=1e-5)
    with pytest.raises(ValueError, match="disc_penalty"):
        gradient_penalty(linear, zp, ze, "r2")


def test_adversarial_options_are_validated():
    with pytest.raises(ConfigError, match="disc_label_smoothing"):
        load_config("mnist-wae-gan", ["regularizer.disc_label_smoothing=0.7"])
    with pytest.raises(ConfigError, match="disc_steps"):
        load_config("mnist-wae-gan", ["regularizer.disc_steps=0"])


# ------------------------------------------------------------------------------------------------ Pareto
def test_pareto_front_on_a_known_set():
    pts = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (4.0, 1.0), (2.0, 3.0), (5.0, 1.0), (0.5, 9.0), (float("nan"), 0.0)]
    # (3, 4) is dominated by (2, 3); (5, 1) by (4, 1); the duplicate (2, 3) stays; NaN never
    assert pareto_front(pts) == [6, 0, 1, 4, 3]
    # maximising x, minimising y: (5, 1) is the largest x at the smallest y, so it dominates every other point
    assert pareto_front(pts, (False, True)) == [5]
    # maximising both: the upper-right corner points
    assert pareto_front(pts, (False, False)) == [6, 0, 2, 5]
    assert pareto_front([]) == []


def test_front_table_and_figure_from_summary_rows(tmp_path):
    from latentsynth.bench.pareto import front_table, plot_fronts
    from latentsynth.bench.report import summarize

    # (variation, seed, SC, latent MMD): group means a (0.30, 1.0), b (0.25, 2.0), c (0.35, 1.5) -> c is dominated
    data = [("a", 0, 0.29, 0.9), ("a", 1, 0.31, 1.1), ("b", 0, 0.25, 2.0), ("c", 0, 0.35, 1.5), ("c", 1, 0.35, 1.5)]
    rows = [{"group": v, "variation": v, "run": f"{v}-s{s}", "factor": "f", "status": "ok", "test_spec_sc": sc,
             "test_latent_mmd": mmd} for v, s, sc, mmd in data]
    summary = summarize(rows)
    md = front_table(summary, rows, ["test_latent_mmd"])
    assert "| a | 1 ± 0.14 | 0.3 ± 0.014 |" in md and "| b | 2 ± 0 | 0.25 ± 0 |" in md
    assert "| c |" not in md
    assert plot_fronts(summary, rows, ["test_latent_mmd", "test_active_units"], tmp_path / "p.png").is_file()
    assert plot_fronts(summary, rows, ["test_active_units"], tmp_path / "q.png") is None  # no group has the score


def test_prior_logit_adds_the_centred_gaussian_log_density():
    torch.manual_seed(0)
    reg = AdversarialRegularizer(3, [8], prior_logit=True)
    prior = build_prior(PriorConfig(scale=2.0), 3)
    z = torch.tensor([[0.0, 0.0, 0.0], [2.0, -2.0, 4.0]])
    net = reg.discriminator(z).squeeze(-1)
    # d/2 - |z|^2 / (2 sigma^2): 1.5 at the origin, 1.5 - 24 / 8 = -1.5 at the second point
    torch.testing.assert_close(reg.logits(z, prior), net + torch.tensor([1.5, -1.5]))
    torch.testing.assert_close(reg.logits(z), net)  # no prior given: the network alone
    with pytest.raises(ValueError, match="disc_prior_logit"):
        reg.logits(z, build_prior(PriorConfig(kind="uniform"), 3))


# ------------------------------------------------------------------------------------------------ instance noise
def test_instance_noise_schedule_against_hand_values():
    assert [instance_noise_std(0.5, s, 100) for s in (0, 50, 100, 200)] == [0.5, 0.5, 0.5, 0.5]
    got = [instance_noise_std(0.8, s, 100, "linear") for s in (0, 25, 50, 99, 100, 150)]
    assert got == pytest.approx([0.8, 0.6, 0.4, 0.008, 0.0, 0.0])
    assert instance_noise_std(0.0, 10, 100, "linear") == 0.0
    with pytest.raises(ValueError, match="disc_instance_noise_anneal"):
        instance_noise_std(1.0, 0, 10, "cosine")


def test_instance_noise_reaches_both_critic_inputs_with_its_std_and_not_the_decoder():
    """The critic's inputs are z + sigma eps for codes and prior samples; R1 is taken at the noisy prior samples;
    the encoder's penalty sees noisy codes but its gradient reaches the codes; the decoder's code stays clean."""
    torch.manual_seed(0)
    reg = AdversarialRegularizer(3, [8], penalty="r1", penalty_weight=2.0, instance_noise=0.7)
    prior = build_prior(PriorConfig(), 3)
    z = torch.randn(10, 3)
    torch.manual_seed(1)
    got, _ = reg.discriminator_step(z, prior)
    torch.manual_seed(1)  # the same draws in the order of discriminator_step: prior, its noise, the codes' noise
    zp = prior.sample(10)
    zp = zp + 0.7 * torch.randn_like(zp)
    ze = z + 0.7 * torch.randn_like(z)
    ref = torch.nn.functional.softplus(-reg.logits(zp)).mean() + torch.nn.functional.softplus(reg.logits(ze)).mean()
    ref = ref + 2.0 * gradient_penalty(reg.logits, zp, ze, "r1")
    torch.testing.assert_close(got, ref)
    # the noise has the stated std: capture what the critic sees on a large batch of zero codes
    seen = []
    reg.discriminator.register_forward_hook(lambda m, i, o: seen.append(i[0].detach()))
    reg.discriminator_step(torch.zeros(20000, 3), build_prior(PriorConfig(scale=1e-6), 3))
    assert seen[0].std().item() == pytest.approx(0.7, rel=0.02)  # the prior samples (scale ~0)
    assert seen[1].std().item() == pytest.approx(0.7, rel=0.02)  # the codes
    assert seen[1].mean().abs().item() < 0.02
    # the encoder's penalty: noisy codes, gradient through them to z (d/dz of f(z + n) is f'(z + n))
    zc = torch.randn(6, 3, requires_grad=True)
    torch.manual_seed(2)
    pen = reg.penalty(Encoding(zc), prior)
    torch.manual_seed(2)
    zn = zc.detach() + 0.7 * torch.randn(6, 3)
    torch.testing.assert_close(pen, torch.nn.functional.softplus(-reg.logits(zn)).mean())
    pen.backward()
    assert zc.grad is not None and zc.grad.abs().sum() > 0
    reg.noise_std = 0.0  # off: the critic sees the inputs as they are
    torch.testing.assert_close(reg.blur(zc.detach()), zc.detach())


def test_the_module_anneals_the_instance_noise_and_decodes_clean_codes():
    import lightning as L

    from latentsynth.training.module import LitAutoEncoder

    cfg = load_config("mnist-wae-gan", ["model.network.hidden=[8]", "model.latent_dim=2", "regularizer.disc_hidden=[8]",
                                        "regularizer.disc_instance_noise=0.8",
                                        "regularizer.disc_instance_noise_anneal=linear", "train.max_epochs=1"])
    torch.manual_seed(0)
    module = LitAutoEncoder(to_dict(cfg), [1, 28, 28])
    reg = module.model.regularizer
    seen, decoded = [], []
    orig_blur = reg.blur
    reg.blur = lambda z: (seen.append(reg.noise_std), orig_blur(z))[1]
    module.model.decoder.register_forward_pre_hook(lambda m, a: decoded.append(a[0].detach().clone()))
    encoded = []
    orig_encode = module.model.encode
    module.model.encode = lambda *a, **k: (lambda e: (encoded.append(e.z.detach().clone()), e)[1])(orig_encode(*a, **k))
    x = torch.rand(32, 1, 28, 28)
    loader = DataLoader(TensorDataset(x, torch.zeros(32, dtype=torch.long)), batch_size=8)  # 4 batches, 1 epoch
    L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, accelerator="cpu",
              devices=1).fit(module, train_dataloaders=loader)
    # per step: the encoder's penalty, then the discriminator's prior samples and codes (3 blurs) at 0.8 (1 - t / 4)
    assert seen == pytest.approx([v for v in (0.8, 0.6, 0.4, 0.2) for _ in range(3)])
    assert len(decoded) >= 4
    for e, d in zip(encoded[:4], decoded[:4], strict=True):
        torch.testing.assert_close(d, e)  # the decoder got the encoder's code, without noise


def test_instance_noise_options_are_validated():
    with pytest.raises(ConfigError, match="disc_instance_noise"):
        load_config("mnist-wae-gan", ["regularizer.disc_instance_noise=-1"])
    with pytest.raises(ConfigError, match="disc_instance_noise_anneal"):
        load_config("mnist-wae-gan", ["regularizer.disc_instance_noise_anneal=cosine"])
