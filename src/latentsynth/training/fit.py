"""Fit, resume and export a model with Lightning.

A run folder ``<out>/<name>/`` holds::

    config.yaml  model.json  model.safetensors  metrics.json     the saved model (see latentsynth.folders)
    checkpoints/last.ckpt  checkpoints/best.ckpt                 written atomically after every epoch
    logs/tb/ (TensorBoard)  logs/csv/version_N/metrics.csv       one CSV version per (re)start

``train(cfg, out, resume=True)`` continues a killed run from ``checkpoints/last.ckpt``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from ..config import ConfigError, RunConfig, dump_yaml, load_config, to_dict
from ..data import data_module
from ..evaluation import evaluate
from ..folders import CodeSample, atomic_write, atomic_write_text, load_metrics, save_model
from ..progress import progress_line
from .curves import plot_curves
from .module import LitAutoEncoder, NonFiniteLossError

# fields that may change when a run is resumed (the rest must match the saved config)
RESUMABLE_CHANGES = {("train", "max_epochs"), ("train", "early_stopping_patience"), ("train", "progress_every_s"),
                     ("train", "accelerator"), ("train", "devices"), ("data", "num_workers"),
                     ("data", "data_dir")}


class CheckpointError(ValueError):
    """A checkpoint cannot be read (truncated, damaged, or holding more than tensors and plain data)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training was stopped by Ctrl-C (SIGINT) or SIGTERM; the message says how to continue. A KeyboardInterrupt,
    so ``except Exception`` (a sweep recording a failed run) does not swallow it."""


def read_checkpoint(path: str | Path, map_location=None) -> dict[str, Any]:
    """A Lightning checkpoint, loaded with ``weights_only=True`` (tensors and plain data only: never arbitrary
    pickled objects); an unreadable one -> :class:`CheckpointError` naming the file and what to do."""
    try:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - torch raises many types (EOFError, RuntimeError, UnpicklingError)
        why = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise CheckpointError(
            f"{path}: cannot read this checkpoint ({why}); it is truncated, damaged or not a latentsynth checkpoint. "
            "Delete it and train again with --resume to start the run over from epoch 0 (or remove the run folder)"
        ) from None


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints go to a temporary file in the same folder, then are renamed into place."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options=None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))

    def load_checkpoint(self, path, map_location=None, weights_only: bool | None = None) -> dict[str, Any]:
        # our checkpoints hold tensors and plain data only: never unpickle arbitrary objects
        return read_checkpoint(path, map_location)


class QuietProfiler(PassThroughProfiler):
    """Lightning's default no-op profiler, with ``profile()`` returning one shared ``nullcontext`` instead of a
    fresh generator-based context manager: Lightning opens one around every hook of every callback, about 30 per
    training step (0.85 -> 0.16 us each, hot; ``benchmarks/train_speed_audio.py``). Nothing is recorded either
    way."""

    _nothing = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.nullcontext:
        return self._nothing


class RunClock(Callback):
    """The run's time, segment by segment (one per start or resume), kept in the checkpoints so that a resumed
    run reports the whole run: each segment holds its epochs, wall seconds (from its start to its last
    checkpoint, or to the end) and its training samples and the seconds of its training batches (validation left
    out, as in ``train/samples_per_s``). ``batches``: the training batches of this fit (0: a resumed run had
    nothing left to train; one callback for both, as each callback costs Lightning a few calls per step)."""

    def __init__(self):
        self.done: list[dict[str, Any]] = []  # segments of earlier starts (from the checkpoint)
        self.started = time.perf_counter()
        self.first_epoch: int | None = None
        self.epochs = self.samples = self.batches = 0
        self.train_seconds = 0.0
        self._epoch_samples, self._epoch_start, self._val_start, self._val_seconds = 0, 0.0, 0.0, 0.0

    def on_train_start(self, trainer, pl_module) -> None:
        self.started = time.perf_counter()
        self.first_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_samples, self._epoch_start, self._val_seconds = 0, time.perf_counter(), 0.0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._epoch_samples += len(batch[0])
        self.batches += 1

    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_start = time.perf_counter()

    def on_validation_end(self, trainer, pl_module) -> None:
        self._val_seconds += time.perf_counter() - self._val_start

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # as train/samples_per_s: the training batches alone
        self.epochs += 1
        self.samples += self._epoch_samples
        self.train_seconds += time.perf_counter() - self._epoch_start - self._val_seconds

    def current(self) -> dict[str, Any]:
        first = self.first_epoch or 0
        return {"epochs": [first, first + self.epochs],
                "wall_seconds": round(time.perf_counter() - self.started, 3), "train_samples": self.samples,
                "train_seconds": round(self.train_seconds, 3)}

    def segments(self) -> list[dict[str, Any]]:
        return [*self.done, self.current()] if self.epochs or not self.done else list(self.done)

    def totals(self) -> dict[str, Any]:
        """``wall_seconds`` and ``train_samples_per_s`` of the whole run (sums over the segments) and the
        segments themselves."""
        seg = self.segments()
        samples, seconds = sum(s["train_samples"] for s in seg), sum(s["train_seconds"] for s in seg)
        return {"wall_seconds": sum(s["wall_seconds"] for s in seg),
                "train_samples_per_s": samples / seconds if seconds > 0 else None, "segments": seg}

    def state_dict(self) -> dict[str, Any]:
        return {"segments": self.segments()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.done = list(state_dict.get("segments", []))


def _loss_value(outputs) -> float:
    """The loss in a training step's ``outputs``: a tensor, a dict with ``loss`` (manual optimization), or None."""
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    try:
        return float(outputs)
    except (TypeError, ValueError):
        return float("nan")


class ProgressLines(Callback):
    """Short progress lines every ``period`` seconds and at each epoch end (for logs that are not a TTY)."""

    def __init__(self, period: float = 30.0, stream=None):
        self.period, self.stream = period, stream  # None: sys.stdout at the time of printing
        self._last = 0.0
        self._t0 = 0.0

    def _say(self, msg: str) -> None:
        print(msg, file=self.stream or sys.stdout, flush=True)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t0 = self._last = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if now - self._last >= self.period:
            self._last = now
            self._say("  " + progress_line(f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}, batch",
                                           batch_idx + 1, trainer.num_training_batches, now - self._t0,
                                           len(batch[0]), " samples", f"loss {_loss_value(outputs):.4g}"))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        m = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        for key, label in (("train/loss_epoch", "train"), ("val/loss", "val"), ("val/recon", "val recon"),
                           ("val/reg", "val reg")):
            if key in m:
                parts.append(f"{label} {float(m[key]):.4g}")
        parts.append(f"{time.perf_counter() - self._t0:.1f} s")
        self._say("  " + "  ".join(parts))


def _config_differences(a: dict, b: dict, prefix: tuple = ()) -> list[tuple]:
    diffs = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            diffs += _config_differences(va, vb, prefix + (k,))
        elif va != vb:
            diffs.append(prefix + (k,))
    return diffs


def launched_rank() -> int:
    """The rank a launcher gave this process before any trainer exists: Lightning's DDP launcher re-runs the
    command line with ``LOCAL_RANK`` (and ``NODE_RANK``) set, torchrun sets ``RANK``, SLURM ``SLURM_PROCID``.
    Non-zero on every process but the one that writes the run folder."""
    ranks = [int(os.environ[k]) for k in ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")
             if os.environ.get(k, "").strip().isdigit()]
    return max(ranks, default=0)


def available_memory() -> int:
    """Bytes of memory this process may still use: ``MemAvailable`` of /proc/meminfo, else physical memory."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


TRAIN_COPIES = 4  # weights, gradients and Adam's two moments: what training holds per parameter


def check_model_size(cfg: RunConfig, data_shape: tuple[int, ...], audio: dict | None,
                     memory: int | None = None) -> int | None:
    """The parameter count of the network ``cfg`` builds, counted on the meta device (nothing allocated; None
    if a part cannot be built there); a
    network whose training state (:data:`TRAIN_COPIES` float32 copies) would not fit into ``memory`` (default:
    :func:`available_memory`) -> :class:`ConfigError` naming the largest tensor and the size settings."""
    from ..models import AutoEncoder

    try:
        with torch.device("meta"):
            net = AutoEncoder(cfg, tuple(data_shape), audio)
    except (NotImplementedError, RuntimeError):  # a part that computes with real values while it is built
        return None
    tensors = dict(net.named_parameters())
    count = sum(p.numel() for p in tensors.values())
    need = TRAIN_COPIES * 4 * count
    memory = available_memory() if memory is None else memory
    if need > memory:
        name, big = max(tensors.items(), key=lambda kv: kv[1].numel())
        raise ConfigError(
            f"model.latent_dim={cfg.model.latent_dim}, model.network.hidden={list(cfg.model.network.hidden)}: the "
            f"network would have {count:,} parameters (the largest, {name}, is {list(big.shape)}); training needs "
            f"about {need / 1e9:.1f} GB (weights, gradients, optimiser state) but {memory / 1e9:.1f} GB of memory "
            "is available. Lower model.latent_dim or model.network.hidden")
    return count


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def warn_cpu_processes(accelerator: str, devices: int | str, quiet: bool = False, stream=None) -> str | None:
    """A warning (printed on stderr, and returned) when ``train.devices`` starts more CPU processes than this
    machine has cores: they compete for the cores and train slower than one process would."""
    cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if not cpu or not isinstance(devices, int) or devices <= (cores := cpu_cores()):
        return None
    msg = (f"warning: train.devices={devices} starts {devices} training processes on {cores} CPU core"
           f"{'s' if cores > 1 else ''}: they compete for the cores and train slower than one process; use "
           f"train.devices={cores} or fewer (or train.devices=1)")
    if not quiet:
        print(msg, file=stream or sys.stderr, flush=True)
    return msg


def build_data(cfg: RunConfig):
    """Images or spectrogram frames, not yet set up (see :func:`latentsynth.data.data_module`)."""
    return data_module(cfg, setup=False)


def train(cfg: RunConfig, out: str | Path = "runs", resume: bool = False, quiet: bool = False,
          extra_callbacks: list[Callback] | None = None) -> Path:
    """Train ``cfg`` into ``<out>/<cfg.name>``, evaluate on the test set, save the model folder.

    With ``resume`` the run continues from ``checkpoints/last.ckpt`` (the config must match the saved one,
    except ``train.max_epochs`` and a few runtime settings). Returns the run folder.
    """
    run = Path(out) / cfg.name
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    if launched_rank() > 0:  # a DDP worker: rank 0 checked and wrote the run folder; this one writes nothing
        return _fit(cfg, run, resume, True, extra_callbacks)
    for folder in (Path(out), run):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"{folder}: a file, not a folder; --out is the folder that holds the run folders "
                              "(the run goes to <out>/<name>)")
    if (run / "config.yaml").exists():
        if not resume:
            raise ConfigError(
                f"{run}: a run with this name already exists. Pass --resume to continue it, or choose "
                "another name (name=...) or output folder (--out)."
            )
        saved = load_config(run)
        diffs = [d for d in _config_differences(to_dict(saved), to_dict(cfg)) if d not in RESUMABLE_CHANGES]
        if diffs:
            raise ConfigError(f"{run}: cannot resume with a different configuration; changed: "
                              + ", ".join(".".join(d) for d in diffs))
    created, fresh = not run.exists(), not (run / "config.yaml").exists()
    run.mkdir(parents=True, exist_ok=True)
    for folder in (run, ckpt_dir):  # temporary files of an earlier run killed in the middle of a write
        for tmp in folder.glob(".*.tmp*"):
            tmp.unlink(missing_ok=True)
    atomic_write_text(run / "config.yaml", dump_yaml(cfg))
    try:
        return _fit(cfg, run, resume, quiet, extra_callbacks)
    except BaseException as err:
        if fresh and not last.exists():  # a failed start: leave nothing that blocks a re-run
            if created:
                shutil.rmtree(run, ignore_errors=True)
            else:
                (run / "config.yaml").unlink(missing_ok=True)
        if isinstance(err, KeyboardInterrupt):
            if last.exists():
                raise TrainingInterrupted(f"[{cfg.name}] training interrupted; the last checkpoint is {last}: "
                                          f"continue with `latentsynth train {run} --resume`") from None
            raise TrainingInterrupted(f"[{cfg.name}] training interrupted before its first checkpoint; nothing was "
                                      "kept: start it again") from None
        raise


def _fit(cfg: RunConfig, run: Path, resume: bool, quiet: bool, extra_callbacks: list[Callback] | None) -> Path:
    """The body of :func:`train` once the run folder holds ``config.yaml``."""
    ckpt_dir = run / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    _quiet_lightning()
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    data = build_data(cfg)
    data.setup("fit")
    audio = data.audio_info().model_dump(mode="json") if cfg.data.kind == "frames" else None
    check_model_size(cfg, tuple(data.shape), audio)  # before allocating: a typo in a size is one clear error
    try:
        module = LitAutoEncoder(to_dict(cfg), list(data.shape), audio)
    except (MemoryError, RuntimeError) as err:  # the networks the meta device cannot count
        if not isinstance(err, MemoryError) and "alloc" not in str(err).lower():
            raise
        raise ConfigError(f"model.latent_dim={cfg.model.latent_dim}, model.network.hidden="
                          f"{list(cfg.model.network.hidden)}: the network does not fit into memory ("
                          f"{str(err).splitlines()[0][:120]}); lower model.latent_dim or model.network.hidden"
                          ) from None  # frame models carry their audio settings

    quiet = quiet or launched_rank() > 0
    tty = sys.stderr.isatty() and not quiet
    callbacks = _callbacks(cfg, ckpt_dir, quiet, tty, extra_callbacks)
    clock = RunClock()  # the run's segments, kept in the checkpoints; counts this fit's batches
    callbacks.append(clock)
    t = cfg.train
    warn_cpu_processes(t.accelerator, t.devices, quiet=launched_rank() > 0)
    trainer = _trainer(cfg, run, callbacks, tty, batches_per_epoch=max(1, len(data.train) // cfg.data.batch_size))
    ckpt_path = str(last) if resume and last.exists() else None
    if not quiet:
        what = f"resuming from {last}" if ckpt_path else "starting"
        items = "windows" if cfg.data.kind == "frames" else "images"
        print(f"[{cfg.name}] {what}: {t.max_epochs} epochs, {len(data.train)} training {items}, "
              f"{sum(p.numel() for p in module.parameters()):,} parameters, on {trainer.strategy.root_device}",
              flush=True)
    try:
        trainer.fit(module, datamodule=data, ckpt_path=ckpt_path, weights_only=True)
    except NonFiniteLossError as err:
        raise NonFiniteLossError(f"[{cfg.name}] {err}") from None
    except SystemExit:  # Lightning turns Ctrl-C into sys.exit(1) and SIGTERM into SIGTERMException (exit 0)
        raise KeyboardInterrupt from None
    if trainer.interrupted:
        raise KeyboardInterrupt
    if not trainer.is_global_zero:
        return run

    best = ckpt_dir / "best.ckpt"
    if best.exists():
        module.load_state_dict(read_checkpoint(best)["state_dict"])
    model = module.model.cpu().eval()
    metrics = _training_metrics(trainer, run, resumed=ckpt_path is not None, trained=clock.batches > 0, clock=clock)
    save_model(model, run, metrics)  # the trained model is kept even if the evaluation below fails
    labels = data.test.labels() if cfg.data.kind == "frames" else None
    metrics.update(evaluate(model, data.test.as_tensor(), iw_samples=t.eval_iw_samples,
                            mmd_samples=t.eval_mmd_samples, c=labels))
    if cfg.data.kind == "frames":
        from ..evaluation.audio import note_scores

        metrics.update(note_scores(model, data, t.eval_fit_steps))
        if t.eval_timbre:
            from ..evaluation.timbre import timbre_scores

            metrics.update(timbre_scores(model, data, cfg.data.source_test, metrics.get("test_spec_sc")))
        save_code_sample(model, data, run)
    save_model(model, run, metrics)
    plot_curves(run)
    if not quiet:
        print(format_metrics(cfg.name, metrics), flush=True)
    return run


def _quiet_lightning() -> None:
    """No Lightning tips, banners or warnings that do not apply to these runs."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)  # no tips and banners
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")  # resuming into the same folder
    # DDP: every rank validates on the whole validation set (same value on each rank, nothing to reduce); the
    # train/* epoch means are rank 0's shard
    warnings.filterwarnings("ignore", message=".*sync_dist=True.*")


def _callbacks(cfg: RunConfig, ckpt_dir: Path, quiet: bool, tty: bool,
               extra: list[Callback] | None) -> list[Callback]:
    """Checkpoints (best and last), early stopping, the progress bar or lines and ``extra``."""
    callbacks: list[Callback] = [  # the first is trainer.checkpoint_callback (best_model_score)
        ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor="val/loss", mode="min", save_top_k=1,
                        every_n_epochs=1, enable_version_counter=False),
        # last.ckpt after every epoch: Lightning's save_last writes it only when a best checkpoint is written,
        # so a run stopped after epochs that did not improve replayed them all on resume
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, every_n_epochs=1,
                        enable_version_counter=False),
    ]
    if cfg.train.early_stopping_patience:
        callbacks.append(EarlyStopping("val/loss", patience=cfg.train.early_stopping_patience, mode="min"))
    if tty:
        callbacks.append(TQDMProgressBar(refresh_rate=20))
    elif not quiet:
        callbacks.append(ProgressLines(cfg.train.progress_every_s))
    return [*callbacks, *(extra or [])]


def _trainer(cfg: RunConfig, run: Path, callbacks: list[Callback], tty: bool, batches_per_epoch: int) -> L.Trainer:
    """The Lightning trainer of a run (loggers into ``run/logs``); bad hardware settings raise one
    :class:`ConfigError` naming them."""
    t = cfg.train
    loggers = [TensorBoardLogger(run, name="logs", version="tb", default_hp_metric=False),
               CSVLogger(run, name="logs/csv")]
    try:
        return L.Trainer(
            max_epochs=t.max_epochs, accelerator=t.accelerator, devices=t.devices, num_nodes=t.num_nodes,
            strategy=t.strategy, precision=t.precision, callbacks=callbacks, logger=loggers,
            enable_progress_bar=tty, enable_model_summary=tty,
            log_every_n_steps=min(t.log_every_n_steps, batches_per_epoch),
            plugins=[AtomicCheckpointIO()], num_sanity_val_steps=0, deterministic=False, profiler=QuietProfiler(),
            use_distributed_sampler=False,  # EpochSampler shards itself across ranks (same seeded order)
        )
    except (MisconfigurationException, ValueError, TypeError, ImportError) as err:
        settings = (f"train.accelerator={t.accelerator} train.devices={t.devices} train.strategy={t.strategy} "
                    f"train.precision={t.precision}")
        if t.accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
            raise ConfigError(f"train.accelerator={t.accelerator}: this machine has no usable GPU ({err}); use "
                              "train.accelerator=auto (or cpu)") from None
        raise ConfigError(f"{settings}: {str(err).strip()}; fix the setting named, or use "
                          "train.accelerator=auto train.devices=auto train.strategy=auto") from None


def _training_metrics(trainer: L.Trainer, run: Path, resumed: bool, trained: bool,
                      clock: RunClock) -> dict[str, Any]:
    """The training scores of ``metrics.json`` (best validation loss; samples/s and wall time of the whole run,
    summed over its segments, which are listed; epochs); a resumed run with nothing left to train keeps the
    metrics of its training."""
    metrics: dict[str, Any] = dict(load_metrics(run)) if resumed else {}
    m = trainer.callback_metrics
    best_score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    if best_score is None and "val/loss" in m:
        best_score = m["val/loss"]
    if trained or not resumed:
        if resumed and not clock.done and metrics.get("wall_seconds"):  # a checkpoint from before the segments
            clock.done = [{"epochs": None, "wall_seconds": metrics["wall_seconds"], "train_samples": 0,
                           "train_seconds": 0.0}]
        whole = clock.totals()  # every segment of the run: a resumed run reports the whole run
        rate = whole["train_samples_per_s"]
        if rate is None and "train/samples_per_s" in m:
            rate = float(m["train/samples_per_s"])
        metrics.update({
            "best_val_loss": float(best_score) if best_score is not None else None,
            "train_samples_per_s": rate, "wall_seconds": whole["wall_seconds"], "segments": whole["segments"],
        })
        metrics = {k: v for k, v in metrics.items() if not k.startswith("test_")}  # of an older model
    metrics["epochs"] = trainer.current_epoch
    return metrics


def save_code_sample(model, data, run: Path, n: int = 4000) -> Path:
    """Save the codes of ``n`` training windows of a frame model in its folder (``codes.safetensors``): what
    synthesis figures and the instrument place paths against, with no corpus at hand."""
    from ..evaluation.metrics import encode_all

    idx = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))[:n].sort().values
    x, labels = data.train.__getitems__(idx.tolist())  # in corpus order: a note's frames in time order
    z = encode_all(model, x, c=labels if model.conditioned else None)
    names = [Path(r["path"]).stem for r in data.notes]
    return CodeSample(codes=z, labels=labels, note=data.train.notes[idx], names=names).save(run)


def format_metrics(name: str, metrics: dict[str, Any]) -> str:
    """``[name] bce=...  mse=...``: the ``log`` view of :mod:`latentsynth.metric_table`."""
    from ..metric_table import log_line

    return log_line(name, metrics)
