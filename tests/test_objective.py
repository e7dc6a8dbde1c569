"""How the training objective is assembled (training/module.py), against hand-computed values: the logged
``train/loss`` of every batch is ``mean_i recon_i + weight * schedule(t) * penalty`` with ``t`` the fractional
epoch, the schedules follow their formulas at fractional epochs, and the WAE-GAN discriminator step trains the
discriminator."""

import copy
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from latentsynth.config import ScheduleConfig, load_config, to_dict
from latentsynth.models.schedules import schedule_factor
from latentsynth.training import LitAutoEncoder

BATCHES, EPOCHS, SEED = 4, 2, 3


def _fit(module: LitAutoEncoder, x: torch.Tensor, epochs: int, batch_size: int, callbacks=()) -> L.Trainer:
    loader = DataLoader(TensorDataset(x, torch.zeros(len(x), dtype=torch.long)), batch_size=batch_size)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0,
                        callbacks=list(callbacks), accelerator="cpu", devices=1,
                        log_every_n_steps=1)  # step metrics are logged at the logging steps only: every step
    trainer.fit(module, train_dataloaders=loader)
    return trainer


class HandLoss(Callback):
    """Before each batch, copies the model; after it, recomputes the batch's loss by hand from the copy under the
    noise seed the module uses, and records (logged loss, hand loss, hand weight)."""

    def __init__(self, weight: float, factor):
        self.weight, self.factor, self.rows = weight, factor, []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.before = copy.deepcopy(pl_module.model)  # callbacks run before the module's hook and the step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        epoch = trainer.current_epoch
        torch.manual_seed((SEED * 100_003 + epoch) * 1_000_003 + batch_idx)  # the module's per-batch noise
        with torch.no_grad():
            out = self.before(batch[0])
        w = self.weight * self.factor(epoch + batch_idx / BATCHES)
        hand = float(out.recon_loss.mean()) + w * float(out.penalty)
        logged = float(trainer.callback_metrics["train/loss_step"])
        returned = outputs["loss"] if isinstance(outputs, dict) else outputs  # manual optimization: a dict
        self.rows.append((float(returned), logged, hand, w, float(out.penalty)))


@pytest.mark.parametrize("preset, weight, schedule, factor", [
    # beta-VAE, linear warm-up over 2 epochs: factor t / 2 at t = 0, 0.25, ..., 1.75
    # (a narrow prior makes the KL large enough that a wrong weight or sign shows)
    ("mnist-beta-vae", 2.0, ["regularizer.schedule.kind=linear", "regularizer.schedule.warmup_epochs=2",
                             "prior.scale=0.1"],
     lambda t: min(1.0, t / 2)),
    # WAE-MMD, cyclical with a 1-epoch period, rising over its first half: 0, .5, 1, 1 each epoch
    ("mnist-wae-mmd-imq", 10.0, ["regularizer.schedule.kind=cyclical", "regularizer.schedule.cycle_epochs=1",
                                 "regularizer.schedule.ramp_fraction=0.5"], lambda t: min(1.0, (t % 1) / 0.5)),
])
def test_logged_loss_is_recon_plus_scheduled_weight_times_penalty(preset, weight, schedule, factor):
    cfg = load_config(preset, ["model.network.hidden=[16]", "model.latent_dim=3", f"regularizer.weight={weight}",
                               f"train.seed={SEED}", *schedule])
    torch.manual_seed(0)
    module = LitAutoEncoder(to_dict(cfg), [1, 28, 28])
    x = torch.rand(BATCHES * 8, 1, 28, 28)
    hand = HandLoss(weight, factor)
    trainer = _fit(module, x, EPOCHS, 8, [hand])
    assert len(hand.rows) == BATCHES * EPOCHS
    # the epoch mean (accumulated by the module, logged once per epoch) of the last epoch's batch losses
    last = [r[0] for r in hand.rows[-BATCHES:]]
    assert float(trainer.callback_metrics["train/loss_epoch"]) == pytest.approx(sum(last) / len(last), rel=1e-5)
    for step, (returned, logged, value, w, penalty) in enumerate(hand.rows):
        assert logged == pytest.approx(value, rel=1e-5, abs=1e-5), step
        assert returned == pytest.approx(logged, rel=1e-6), step
        if w:  # a sign flip or a missing weight/schedule would move the loss by about 2 w * penalty
            assert abs(w * penalty) > 1e-2 * abs(value), step
    # the hand weights themselves: the schedules at the fractional epochs of the 8 batches
    ws = [r[3] for r in hand.rows]
    if preset == "mnist-beta-vae":
        assert ws == pytest.approx([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75])
    else:
        assert ws == pytest.approx([0, 5, 10, 10, 0, 5, 10, 10])


def test_schedule_factor_at_fractional_epochs_against_the_formula():
    lin = ScheduleConfig(kind="linear", warmup_epochs=2.5)
    cyc = ScheduleConfig(kind="cyclical", cycle_epochs=3, ramp_fraction=0.25)
    for i in range(0, 120):
        t = i / 16  # 16 batches an epoch
        assert schedule_factor(lin, t) == pytest.approx(min(1.0, t / 2.5)), t
        phase = t - 3 * math.floor(t / 3)  # position within the period, in epochs
        assert schedule_factor(cyc, t) == pytest.approx(min(1.0, phase / 0.75)), t
        assert schedule_factor(ScheduleConfig(kind="constant"), t) == 1.0
    assert schedule_factor(cyc, 0.375) == pytest.approx(0.5)  # half-way up the ramp of the first period
    assert schedule_factor(cyc, 3.1875) == pytest.approx(0.25)  # a quarter up the ramp of the second


def _disc_loss(module: LitAutoEncoder, z: torch.Tensor) -> float:
    torch.manual_seed(11)  # the same prior samples each time
    with torch.no_grad():
        return float(module.model.regularizer.discriminator_loss(z, module.model.prior))


def test_wae_gan_step_trains_the_discriminator():
    cfg = load_config("mnist-wae-gan", ["model.network.hidden=[16]", "model.latent_dim=2",
                                        "regularizer.disc_hidden=[16]", "regularizer.disc_lr=1e-2",
                                        "optim.lr=1e-9"])  # codes stay put: the discriminator alone learns
    torch.manual_seed(0)
    module = LitAutoEncoder(to_dict(cfg), [1, 28, 28])
    disc = module.model.regularizer.discriminator
    x = torch.rand(64, 1, 28, 28)
    module.model.eval()
    with torch.no_grad():
        z = module.model.encode(x, sample=False).z
    before_params = [p.detach().clone() for p in disc.parameters()]
    before = _disc_loss(module, z)
    _fit(module, x, epochs=1, batch_size=64)  # one step on the fixed batch
    assert all(not torch.equal(a, b) for a, b in zip(before_params, disc.parameters(), strict=True))
    module.model.eval()
    with torch.no_grad():
        z = module.model.encode(x, sample=False).z
    after_one = _disc_loss(module, z)
    _fit(module, x, epochs=40, batch_size=64)  # the same batch again and again
    module.model.eval()
    with torch.no_grad():
        z = module.model.encode(x, sample=False).z
    after = _disc_loss(module, z)
    assert after < before and after < after_one, (before, after_one, after)
    assert after < 0.8 * before, (before, after)
