"""LightningModule around :class:`~latentsynth.models.AutoEncoder`.

Optimization is manual (one code path for every model): an Adam/AdamW step on the auto-encoder, and for
WAE-GAN a second optimizer for the latent discriminator. The loss of a batch is
``mean_i recon_i + weight * schedule(t) * penalty`` with ``t`` in fractional epochs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import RunConfig, validate
from ..models import AutoEncoder
from ..models.regularizers import AdversarialRegularizer, NoRegularizer, discriminator_updates, instance_noise_std
from ..models.schedules import schedule_factor


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; raised before the bad update is applied."""


def _multistep_lambda(milestones: list[int], gammas: list[float]):
    def factor(epoch: int) -> float:
        return math.prod(g for m, g in zip(milestones, gammas, strict=True) if epoch >= m)

    return factor


class LitAutoEncoder(L.LightningModule):
    def __init__(self, config: dict[str, Any], data_shape: list[int], audio: dict[str, Any] | None = None):
        super().__init__()
        self.save_hyperparameters()  # plain dicts and lists: checkpoints load with weights_only=True
        self.cfg: RunConfig = validate(config)
        self.model = AutoEncoder(self.cfg, tuple(data_shape), audio)
        self.adversarial = isinstance(self.model.regularizer, AdversarialRegularizer)
        self.automatic_optimization = False
        self._epoch_start = 0.0
        self._epoch_samples = 0
        self._epoch_sums: Tensor | None = None  # batch-size-weighted sums of the step metrics of this epoch
        self._val_sums: Tensor | None = None  # the same for the validation metrics
        self._val_count = 0
        self._val_start = self._val_seconds = 0.0  # validation inside a training epoch: not training time

    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning sets _current_fx_name before and after each hook it calls (~20 a training step); a string is
        # never a parameter, buffer or submodule, so nn.Module's checks (~1 us each) are skipped for it alone
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    # ----------------------------------------------------------------------------------- helpers
    def _batches_per_epoch(self) -> int:
        """Training batches an epoch (1 before a trainer is attached)."""
        return max(1, int(self.trainer.num_training_batches)) if self._trainer is not None else 1

    def reg_weight(self, batch_idx: int) -> float:
        """Regularizer weight at this batch: weight * schedule(fractional epoch)."""
        epoch = self.current_epoch + batch_idx / self._batches_per_epoch()
        return self.cfg.regularizer.weight * schedule_factor(self.cfg.regularizer.schedule, epoch)

    def labels(self, y: Tensor) -> Tensor | None:
        """The batch's labels ``c [B, 4]`` for a conditioned model (frame batches carry them), else None."""
        return y if self.model.conditioned else None

    def _log_this_step(self) -> bool:
        """Whether Lightning writes step metrics to the loggers at this batch (every ``log_every_n_steps``);
        step values are logged only then: one ``self.log`` costs about a millisecond. Lightning has no public
        accessor for this decision, so its logger connector is read here, the one place, with a safe default."""
        connector = getattr(self._trainer, "_logger_connector", None)
        return bool(getattr(connector, "should_update_logs", True))

    def _optimizers(self):
        opts = self.optimizers()
        if isinstance(opts, list):
            return opts[0], opts[1]
        return opts, None

    # ----------------------------------------------------------------------------------- training
    def on_train_epoch_start(self) -> None:
        self._epoch_start, self._epoch_samples, self._epoch_sums = time.perf_counter(), 0, None
        self._val_seconds = 0.0

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # the noise of every batch depends only on (seed, epoch, batch): a resumed run replays it exactly,
        # whatever else (loggers, data loader iterators) drew from the global generator in between; DDP ranks
        # (other data, see EpochSampler) draw other noise
        seed = ((self.cfg.train.seed * 100_003 + self.current_epoch) * 1_000_003 + batch_idx
                + 7_919 * self.global_rank)
        if self.device.type == "cpu":  # the CPU generator alone: torch.manual_seed also visits every backend
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)

    def on_validation_epoch_start(self) -> None:
        torch.manual_seed(self.cfg.train.seed * 100_003 + self.current_epoch + 7)
        self._val_sums, self._val_count, self._val_start = None, 0, time.perf_counter()

    def on_validation_epoch_end(self) -> None:
        self._val_seconds += time.perf_counter() - self._val_start
        if self._val_sums is not None:  # batch-size-weighted means, as Lightning's on_epoch reduction
            means = self._val_sums / self._val_count
            self.log_dict(dict(zip(self._val_keys, means, strict=True)), on_step=False, on_epoch=True,
                          batch_size=self._val_count, prog_bar=False)

    def augment(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Frames ``x [B, W, F]`` and labels ``y [B, 4]`` with the training augmentation of ``train.augment_*``
        (:func:`augment_frames`); unchanged for image models or with augmentation off."""
        t = self.cfg.train
        if self.model.db is None or self.model.audio is None or not (t.augment_gain_db or t.augment_detune):
            return x, y
        detune = t.augment_detune if self.model.audio.spec.representation == "stft" else 0.0  # linear bins only
        return augment_frames(x, y, self.model.db, self.model.audio.spec.top_db, t.augment_gain_db, detune)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        x, y = batch
        x, y = self.augment(x, y)
        opt, disc_opt = self._optimizers()
        r = self.cfg.regularizer
        if self.adversarial:  # the critic's schedules run on the global step
            n = self._batches_per_epoch()
            step = self.current_epoch * n + batch_idx
            if r.disc_instance_noise > 0:  # before the forward: the encoder's penalty sees it too
                self.model.regularizer.noise_std = instance_noise_std(
                    r.disc_instance_noise, step, self.cfg.train.max_epochs * n, r.disc_instance_noise_anneal)
        out = self.model(x, self.labels(y))
        recon = out.recon_loss.mean()
        weight = self.reg_weight(batch_idx)
        loss = out.loss(weight)
        if not torch.isfinite(loss):
            ckpt = getattr(self.trainer.checkpoint_callback, "dirpath", None)
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at epoch {self.current_epoch}, batch {batch_idx} "
                f"(reconstruction {recon.item():.4g}, penalty {out.penalty.item():.4g}, weight {weight:.4g}). "
                f"The run stopped before applying this update; the last good checkpoint is in {ckpt}. "
                "Try a lower optim.lr, optim.grad_clip=1.0 or a smaller regularizer.weight."
            )
        diag, log_now = {}, self._log_this_step()
        if log_now and not isinstance(self.model.regularizer, NoRegularizer) and out.enc.z.requires_grad:
            # the pull of each term on the codes (norm of d term / d z over the batch): which term moves the encoder
            g_rec, g_reg = (torch.autograd.grad(t, out.enc.z, retain_graph=True, allow_unused=True)[0]
                            for t in (recon, weight * out.penalty))
            diag = {"train/grad_recon_z": 0.0 if g_rec is None else g_rec.norm().item(),
                    "train/grad_reg_z": 0.0 if g_reg is None else g_reg.norm().item()}
        opt.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        if self.cfg.optim.grad_clip:
            self.clip_gradients(opt, gradient_clip_val=self.cfg.optim.grad_clip, gradient_clip_algorithm="norm")
        opt.step()

        logs = {"train/loss": loss, "train/recon": recon, "train/reg": out.penalty}
        if disc_opt is not None:
            for _ in range(discriminator_updates(step, r.disc_steps, r.disc_warmup_steps, r.disc_warmup_updates)):
                d_loss, d_acc = self.model.regularizer.discriminator_step(out.enc.z.detach(), self.model.prior)
                if not torch.isfinite(d_loss):
                    raise NonFiniteLossError(f"discriminator loss became {d_loss.item()} at epoch {self.current_epoch}")
                disc_opt.zero_grad(set_to_none=True)
                self.manual_backward(d_loss)
                disc_opt.step()
            logs["train/disc_loss"] = d_loss
            logs["train/disc_acc"] = d_acc  # of the last update, before it: 0.5 = the critic cannot tell
        # step values go to the loggers every log_every_n_steps; the epoch means (train/*_epoch, weighted by
        # batch size as Lightning's) are accumulated in one tensor and logged once, at the epoch's last batch
        values = torch.stack([v.detach().float() for v in logs.values()])
        self._epoch_sums = values * len(x) + (0 if self._epoch_sums is None else self._epoch_sums)
        self._epoch_samples += len(x)
        if log_now:
            self.log_dict({f"{k}_step": v for k, v in zip(logs, values, strict=True)}, on_step=True, on_epoch=False,
                          batch_size=len(x))
            self.log("train/reg_weight", weight, on_step=True, on_epoch=False, batch_size=len(x))
            for k, v in diag.items():
                self.log(k, v, on_step=True, on_epoch=False, batch_size=len(x))
        if batch_idx + 1 >= self.trainer.num_training_batches:
            means = self._epoch_sums / self._epoch_samples
            self.log_dict({f"{k}_epoch": v for k, v in zip(logs, means, strict=True)}, on_step=False, on_epoch=True,
                          batch_size=self._epoch_samples)
        return loss.detach()

    def on_train_epoch_end(self) -> None:
        seconds = time.perf_counter() - self._epoch_start - self._val_seconds  # the training batches alone
        self.log("train/samples_per_s", self._epoch_samples / max(seconds, 1e-9))
        self.log("train/epoch_seconds", seconds)
        scheds = self.lr_schedulers()
        for s in scheds if isinstance(scheds, list) else [scheds] if scheds is not None else []:
            s.step()

    # ----------------------------------------------------------------------------------- validation
    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        x, y = batch
        c = self.labels(y)
        out = self.model(x, c)
        recon = out.recon_loss.mean()
        loss = out.loss(self.cfg.regularizer.weight)  # the objective at full weight
        # the common reconstruction metrics (as in evaluation.metrics), comparable across training losses
        r = self.model.reconstruct(x, c)
        logs = {"val/loss": loss, "val/recon": recon, "val/reg": out.penalty,
                "val/mse": (r - x).pow(2).flatten(1).sum(1).mean()}
        if self.cfg.data.kind == "images" or self.cfg.data.normalize == "minmax":  # BCE needs data in [0, 1]
            logs["val/bce"] = F.binary_cross_entropy(r.clamp(1e-6, 1 - 1e-6), x.clamp(0, 1),
                                                     reduction="none").flatten(1).sum(1).mean()
        # accumulated in one tensor, logged once in on_validation_epoch_end (a self.log costs ~1 ms)
        values = torch.stack([v.detach().float() for v in logs.values()]) * len(x)
        self._val_sums = values if self._val_sums is None else self._val_sums + values
        self._val_count += len(x)
        self._val_keys = list(logs)

    # ----------------------------------------------------------------------------------- optimizers
    def configure_optimizers(self):
        o = self.cfg.optim
        cls = torch.optim.AdamW if o.name == "adamw" else torch.optim.Adam
        # the fused kernel updates every parameter in one pass (CPU: ~4x faster than the per-tensor loop, which is
        # ~20% of an MLP step); the model is on its device when Lightning calls this
        fused = True if self.device.type in ("cpu", "cuda") else None
        opt = cls(self.model.autoencoder_parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay,
                  fused=fused)
        opts = [opt]
        if self.adversarial:
            opts.append(torch.optim.Adam(self.model.regularizer.discriminator.parameters(),
                                         lr=self.cfg.regularizer.disc_lr, betas=tuple(o.betas), fused=fused))
        scheds = []
        scheduled = opts if self.cfg.regularizer.disc_schedule else opts[:1]
        for op in scheduled:
            if o.scheduler == "multistep":
                scheds.append(torch.optim.lr_scheduler.LambdaLR(op, _multistep_lambda(o.milestones, o.gammas)))
            elif o.scheduler == "cosine":
                scheds.append(torch.optim.lr_scheduler.CosineAnnealingLR(op, T_max=self.cfg.train.max_epochs))
        return opts, scheds


def augment_frames(x: Tensor, y: Tensor, db, top_db: float, gain_db: float, detune: float) -> tuple[Tensor, Tensor]:
    """Random gain and detune of normalised dB frames ``x [B, W, F]`` (linear-frequency bins) with labels
    ``y [B, 4]`` (column 0: MIDI pitch). Gain: ``g ~ U(-gain_db, gain_db)`` dB added to every bin above the
    ``-top_db`` floor (clamped to it); detune: ``s ~ U(-detune, detune)`` semitones, bin ``k`` of the result read
    at ``k / 2 ** (s / 12)`` of the original (linear interpolation; beyond the last bin: the floor) and the pitch
    label moved by ``s``. ``db``: the model's :class:`~latentsynth.models.conditioning.DbScale`."""
    b, n_bins = x.shape[0], x.shape[-1]
    d = db.to_db(x)
    if detune:
        s = (torch.rand(b, device=x.device) * 2 - 1) * detune
        ratio = torch.pow(2.0, s / 12.0)
        src = torch.arange(n_bins, device=x.device, dtype=x.dtype)[None, :] / ratio[:, None]  # [B, F]
        lo = src.floor().clamp(0, n_bins - 1).long()
        hi = (lo + 1).clamp(max=n_bins - 1)
        w = (src - lo.to(x.dtype)).clamp(0, 1)
        idx = lambda i: i[:, None, :].expand(-1, d.shape[1], -1)  # noqa: E731
        shifted = torch.gather(d, 2, idx(lo)) * (1 - w[:, None, :]) + torch.gather(d, 2, idx(hi)) * w[:, None, :]
        d = torch.where((src <= n_bins - 1)[:, None, :], shifted, torch.full_like(d, -top_db))
        y = y.clone()
        y[:, 0] = y[:, 0] + s
    if gain_db:
        g = (torch.rand(b, 1, 1, device=x.device) * 2 - 1) * gain_db
        d = torch.where(d > -top_db + 1e-3, (d + g).clamp(min=-top_db), d)
    return db.from_db(d), y
