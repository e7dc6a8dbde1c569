import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from latentsynth import load
from latentsynth.config import ConfigError, load_config
from latentsynth.folders import load_metrics
from latentsynth.training import NonFiniteLossError, train
from latentsynth.training.curves import read_curves

from helpers import tiny_overrides


def test_loss_decreases_on_a_small_real_subset(real_data_dir, tmp_path):
    cfg = load_config("mnist-vae", tiny_overrides(real_data_dir, **{"data.train_subset": 2000,
                                                                     "train.max_epochs": 3}))
    run = train(cfg, tmp_path, quiet=True)
    curves = read_curves(run)
    val = curves["val/loss"]
    assert len(val) == 3 and val[-1][1] < val[0][1]
    assert curves["train/samples_per_s"][-1][1] > 0
    m = load_metrics(run)
    # a trained model reconstructs far better than the ~543 nats of predicting 0.5 everywhere
    assert m["test_bce"] < 0.6 * 784 * math.log(2)
    assert m["test_nll_iw"] is not None and m["test_nll_iw"] < 784 * math.log(2)
    assert (run / "logs" / "tb").is_dir() and (run / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("preset", ["mnist-wae-gan", "mnist-wae-mmd-rbf", "mnist-ae"])
def test_every_regularizer_trains(preset, real_data_dir, tmp_path):
    cfg = load_config(preset, tiny_overrides(real_data_dir, **{"train.max_epochs": 1}))
    run = train(cfg, tmp_path, quiet=True)
    assert load(run).cfg == cfg
    assert math.isfinite(load_metrics(run)["test_mse"])


def _cmd(out: Path, data_dir: Path, epochs: int) -> list[str]:
    over = tiny_overrides(data_dir, **{"data.train_subset": 4000, "train.max_epochs": epochs,
                                       "model.network.hidden": "[256, 128]"})
    return [sys.executable, "-m", "latentsynth", "train", "mnist-vae", "--out", str(out), "--quiet", *over]


def test_killed_and_resumed_run_matches_uninterrupted(real_data_dir, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    subprocess.run(_cmd(tmp_path / "a", real_data_dir, 4), check=True, env=env, capture_output=True)
    run_b = tmp_path / "b" / "mnist-vae"
    proc = subprocess.Popen(_cmd(tmp_path / "b", real_data_dir, 4), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run_b / "checkpoints" / "last.ckpt").exists() and time.time() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # a hard kill: no chance to clean up
    proc.wait()
    assert not (run_b / "model.safetensors").exists(), "the run finished before it could be killed"
    ckpt = torch.load(run_b / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] < 4
    with pytest.raises(subprocess.CalledProcessError):  # without --resume an existing run is not overwritten
        subprocess.run(_cmd(tmp_path / "b", real_data_dir, 4), check=True, env=env, capture_output=True)
    subprocess.run(_cmd(tmp_path / "b", real_data_dir, 4) + ["--resume"], check=True, env=env,
                   capture_output=True)
    a, b = load_metrics(tmp_path / "a" / "mnist-vae"), load_metrics(run_b)
    for key in ("test_bce", "test_mse", "test_latent_mmd", "test_nll_iw", "best_val_loss"):
        assert b[key] == pytest.approx(a[key], rel=1e-5), key
    assert b["epochs"] == a["epochs"] == 4


def test_resume_refuses_a_changed_config(real_data_dir, tmp_path):
    cfg = load_config("mnist-ae", tiny_overrides(real_data_dir, **{"train.max_epochs": 1}))
    train(cfg, tmp_path, quiet=True)
    changed = load_config("mnist-ae", tiny_overrides(real_data_dir, **{"train.max_epochs": 2,
                                                                        "model.latent_dim": 3}))
    with pytest.raises(ConfigError, match="model.latent_dim"):
        train(changed, tmp_path, resume=True, quiet=True)
    longer = load_config("mnist-ae", tiny_overrides(real_data_dir, **{"train.max_epochs": 2}))
    run = train(longer, tmp_path, resume=True, quiet=True)  # more epochs is a valid continuation
    assert load_metrics(run)["epochs"] == 2


class WorseEveryEpoch(Callback):
    """Makes the monitored val/loss grow every epoch (runs before the checkpoint callbacks, which go last)."""

    def on_validation_end(self, trainer, pl_module):
        trainer.callback_metrics["val/loss"] = torch.tensor(1.0 + trainer.current_epoch)


def test_last_checkpoint_follows_every_epoch_not_only_the_best(real_data_dir, tmp_path):
    # Lightning's save_last writes last.ckpt only with a new best: a run killed after epochs that did not
    # improve would replay them all
    cfg = load_config("mnist-ae", tiny_overrides(real_data_dir, **{"train.max_epochs": 3}))
    train(cfg, tmp_path, quiet=True, extra_callbacks=[WorseEveryEpoch()])
    ckpt = tmp_path / "mnist-ae" / "checkpoints"
    assert torch.load(ckpt / "best.ckpt", weights_only=True)["epoch"] == 0
    last = torch.load(ckpt / "last.ckpt", weights_only=True)  # the third epoch
    assert last["epoch"] == 2


class PoisonWeights(Callback):
    """Sets one weight to NaN in the middle of epoch 2."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == 1 and batch_idx == 3:
            with torch.no_grad():
                next(pl_module.model.encoder.parameters())[0, 0] = float("nan")


def test_nan_loss_stops_with_clear_message_and_good_checkpoint(real_data_dir, tmp_path):
    cfg = load_config("mnist-vae", tiny_overrides(real_data_dir, **{"train.max_epochs": 3}))
    with pytest.raises(NonFiniteLossError, match=r"became nan at epoch 1, batch 3.*last good checkpoint"):
        train(cfg, tmp_path, quiet=True, extra_callbacks=[PoisonWeights()])
    ckpt = torch.load(tmp_path / "mnist-vae" / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_non_tty_progress_is_a_few_plain_lines(real_data_dir, tmp_path):
    over = tiny_overrides(real_data_dir, **{"train.max_epochs": 3})
    res = subprocess.run([sys.executable, "-m", "latentsynth", "train", "mnist-ae", "--out", str(tmp_path), *over],
                         capture_output=True, text=True, check=True)
    out = res.stdout + res.stderr
    assert "\r" not in out  # no progress-bar redraws in logs
    epoch_lines = [line for line in out.splitlines() if line.strip().startswith("epoch ")]
    assert [line.split()[1] for line in epoch_lines] == ["1/3", "2/3", "3/3"]
    assert "val" in epoch_lines[-1] and "bce=" in out
    assert len(out.splitlines()) < 20, out


def test_progress_line_during_an_epoch_under_manual_optimization(real_data_dir, tmp_path, capfd):
    """Issue #16: under manual optimization a step's outputs are a dict; the mid-epoch line used float() on it."""
    import re

    cfg = load_config("mnist-vae", tiny_overrides(real_data_dir, **{"train.max_epochs": 1,
                                                                     "train.progress_every_s": 1e-6}))
    train(cfg, tmp_path, quiet=False)
    lines = [line.strip() for line in capfd.readouterr().out.splitlines() if ", batch: " in line]
    assert len(lines) >= 5, lines
    pattern = r"epoch 1/1, batch: (\d+)/10 \(\d+\.\d samples/s, ETA \d+ s\)  loss (\S+)"
    m = re.fullmatch(pattern, lines[-1])
    assert m, lines[-1]
    assert m.group(1) == "10" and math.isfinite(float(m.group(2)))
