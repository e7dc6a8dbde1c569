"""Issue #16: every bad input gets one clear error naming the file or field and what to do; never a traceback,
never silence. Each case asserts the message a user sees."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from latentsynth import load, save_model
from latentsynth.cli import app
from latentsynth.config import ConfigError, load_config
from latentsynth.folders import ModelFolderError, load_metrics
from latentsynth.models import AutoEncoder
from latentsynth.training import CheckpointError, train

from helpers import tiny_overrides

runner = CliRunner()


def cli(*args: str) -> tuple[int, str]:
    """Exit code and output of ``latentsynth ARGS``; fails the test on a traceback (an unhandled exception)."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"traceback instead of a clear error: {res.exception!r}\n{res.output}")
    return res.exit_code, " ".join(res.output.split())  # one line: messages may wrap


def error(*args: str) -> str:
    """The one-line error of a command that must fail with exit code 2."""
    code, out = cli(*args)
    assert code == 2, out
    assert out.startswith("error: ") or "Invalid value" in out, out
    return out


# ------------------------------------------------------------------------------------------- model folders


@pytest.fixture
def folder(tmp_path) -> Path:
    cfg = load_config("mnist-vae", ["model.network.hidden=[8]", "model.latent_dim=2", "name=m"])
    torch.manual_seed(0)
    return save_model(AutoEncoder(cfg, (1, 28, 28)).eval(), tmp_path / "m", {"test_bce": 1.0})


def _weights(f: Path) -> dict:
    """The folder's tensors, copied out of the memory-mapped file (which the tests then overwrite)."""
    return {k: v.clone() for k, v in load_file(f / "model.safetensors").items()}


def _edit_weights(f: Path, change) -> None:
    state = _weights(f)
    change(state)
    save_file(state, f / "model.safetensors")


def _first(state: dict) -> str:
    return next(k for k in state if state[k].is_floating_point())


CORRUPTIONS = {
    "truncated": (lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes()[:300]),
                  r"model.safetensors: not a readable safetensors file .* truncated or damaged.*re-train"),
    "garbage": (lambda f: (f / "model.safetensors").write_bytes(b"not weights at all " * 20),
                r"model.safetensors: not a readable safetensors file .*re-export"),
    "pickle": (lambda f: torch.save(_weights(f), f / "model.safetensors"),
               r"model.safetensors: a pickled torch file .*never unpickles.*re-train"),
    "wrong shape": (lambda f: _edit_weights(f, lambda s: s.update({_first(s): torch.zeros(3, 3)})),
                    r"does not match .*config.yaml.*wrong shapes: \S+ \[3, 3\] \(config.yaml needs"),
    "missing tensor": (lambda f: _edit_weights(f, lambda s: s.pop(_first(s))),
                       r"missing tensors: \S+.*Restore the saved files, or re-train"),
    "extra tensor": (lambda f: _edit_weights(f, lambda s: s.update({"extra.weight": torch.zeros(2)})),
                     r"unexpected tensors: extra.weight"),
    "config edited": (lambda f: (f / "config.yaml").write_text(
        (f / "config.yaml").read_text().replace("latent_dim: 2", "latent_dim: 5")),
        r"wrong shapes: .*Was config.yaml edited \(e.g. model.latent_dim\)"),
    "model.json garbage": (lambda f: (f / "model.json").write_text("{format: 1"),
                           r"model.json: not valid JSON .*re-train the model"),
    "model.json not an object": (lambda f: (f / "model.json").write_text("[1, 2]"),
                                 r"model.json: expected a JSON object"),
    "model.json newer": (lambda f: (f / "model.json").write_text(json.dumps({"format": 99, "data_shape": [1, 28, 28]})),
                         r"model.json: format 99 was written by a newer latentsynth .*upgrade latentsynth"),
    "model.json bad shape": (lambda f: (f / "model.json").write_text(json.dumps({"format": 1, "data_shape": "x"})),
                             r"model.json: data_shape must be a list of positive integers"),
    "NaN weights": (lambda f: _edit_weights(f, lambda s: s[_first(s)].view(-1).__setitem__(0, float("nan"))),
                    r"model.safetensors: NaN or infinite weights in \S+; .*re-train"),
    "config.yaml binary": (lambda f: (f / "config.yaml").write_bytes(bytes(range(256))),
                           r"config.yaml: not a text file \(binary or not UTF-8\)"),
    "config.yaml missing": (lambda f: (f / "config.yaml").unlink(),
                            r"not a latentsynth model folder \(missing config.yaml\); train one"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_damaged_model_folder_is_one_clear_error(case, folder):
    damage, message = CORRUPTIONS[case]
    damage(folder)
    for command in ("eval", "sample"):
        out = error(command, folder)
        assert str(folder) in out and "Traceback" not in out
        assert re.search(message, out), out
    with pytest.raises((ModelFolderError, ConfigError, FileNotFoundError)):
        load(folder)


def test_corrupt_metrics_json_names_the_file_and_the_fix(folder):
    (folder / "metrics.json").write_text("{oops")
    out = error("compare", folder)
    assert f"{folder / 'metrics.json'}: not valid JSON" in out and f"latentsynth eval {folder}" in out
    with pytest.raises(ModelFolderError, match="delete it"):
        load_metrics(folder)
    (folder / "metrics.json").write_text("[1]")
    assert "metrics.json: expected a JSON object" in error("compare", folder)


def test_older_frame_folder_with_the_db_scale_in_the_likelihood_still_loads(tmp_path):
    """Folders saved before frame models carried their dB scale: likelihood.offset/gain become db.offset/gain."""
    cfg = load_config("sol-ae", ["data.corpus=/nowhere", "likelihood.kind=spectral", "likelihood.output=identity",
                                 "model.network.hidden=[8]"])
    model = AutoEncoder(cfg, (1, 33))
    model.db.set(torch.arange(33.0), torch.full((33,), 2.0))
    f = save_model(model, tmp_path / "old")
    _edit_weights(f, lambda s: s.update({"likelihood.offset": s.pop("db.offset"),
                                         "likelihood.gain": s.pop("db.gain")}))
    back = load(f)
    torch.testing.assert_close(back.db.offset, torch.arange(33.0))
    torch.testing.assert_close(back.db.gain, torch.full((33,), 2.0))


# ------------------------------------------------------------------------------------------- command line


def test_config_misuse(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)))
    assert f"{tmp_path / 'binary.yaml'}: not a text file" in error("train", tmp_path / "binary.yaml")
    (tmp_path / "dup.yaml").write_text("preset: mnist-ae\nmodel:\n  latent_dim: 4\n  latent_dim: 8\n")
    out = error("config", tmp_path / "dup.yaml")
    assert f"{tmp_path / 'dup.yaml'}, line 4: not valid YAML (duplicate key 'latent_dim'" in out
    out = error("train", "mnist-ae", "--out", tmp_path, "name=../../x")
    assert "name: must be a plain folder name" in out and "--out" in out
    assert not (tmp_path.parent.parent / "x").exists()
    assert "name: must be a plain folder name" in error("config", "mnist-ae", "name=a/b")
    out = error("config", "mnist-ae", "train.precision=17")
    assert "train.precision: unknown precision '17'; use one of 32-true, 16-mixed" in out
    (tmp_path / "empty").mkdir()
    for args in (["train", tmp_path / "empty", "--resume"], ["config", tmp_path / "empty"]):
        out = error(*args)
        assert f"{tmp_path / 'empty'}: a folder without config.yaml, so not a run folder" in out
        assert "unknown preset" not in out
    assert "not a latentsynth model folder (missing config.yaml)" in error("card", tmp_path / "empty")
    out = error("compare", tmp_path / "nope", tmp_path / "empty")
    assert f"{tmp_path / 'nope'}: not a latentsynth model folder (no such folder)" in out
    assert "Invalid value for '--n'" in error("sample", tmp_path / "empty", "--n", "0")


def test_run_misuse_fails_before_training_and_leaves_no_run_folder(real_data_dir, tmp_path):
    tiny = tiny_overrides(real_data_dir, **{"train.max_epochs": 1})
    (tmp_path / "afile").write_text("x")
    out = error("train", "mnist-ae", "--out", tmp_path / "afile", *tiny)
    assert f"{tmp_path / 'afile'}: a file, not a folder; --out" in out
    out = error("train", "mnist-ae", "--out", tmp_path, *tiny, "--data-dir", tmp_path / "nodir")
    assert f"--data-dir / data.data_dir {tmp_path / 'nodir'}: no such folder" in out
    out = error("train", "mnist-ae", "--out", tmp_path, *tiny, "data.val_size=60000")
    assert "data.val_size: 60000 leaves no training data out of 60000 images" in out
    if not torch.cuda.is_available():
        out = error("train", "mnist-ae", "--out", tmp_path, *tiny, "train.accelerator=gpu")
        assert "train.accelerator=gpu: this machine has no usable GPU" in out and "train.accelerator=auto" in out
    assert not (tmp_path / "mnist-ae").exists()  # a failed start leaves nothing that blocks a re-run
    code, out = cli("train", "mnist-ae", "--out", tmp_path, *tiny, "--quiet")
    assert code == 0, out


# ------------------------------------------------------------------------------------------- runs


def _tiny(real_data_dir, **extra):
    return load_config("mnist-ae", tiny_overrides(real_data_dir, **{"data.train_subset": 200, "data.val_size": 100,
                                                                     "train.max_epochs": 1, **extra}))


def test_evaluation_error_keeps_the_trained_model(real_data_dir, tmp_path, monkeypatch):
    import latentsynth.training.fit as fit

    def broken(*args, **kwargs):
        raise RuntimeError("evaluation broke")

    monkeypatch.setattr(fit, "evaluate", broken)
    with pytest.raises(RuntimeError, match="evaluation broke"):
        train(_tiny(real_data_dir), tmp_path, quiet=True)
    run = tmp_path / "mnist-ae"
    assert load(run).cfg.name == "mnist-ae"  # weights + config saved before the test evaluation
    m = load_metrics(run)
    assert m["epochs"] == 1 and m["best_val_loss"] > 0 and "test_bce" not in m


def test_resume_of_a_finished_run_keeps_its_metrics_and_removes_stale_temporaries(real_data_dir, tmp_path):
    run = train(_tiny(real_data_dir), tmp_path, quiet=True)
    before = load_metrics(run)
    stale = run / "checkpoints" / ".last.ckpt.abc123.tmp.ckpt"  # left by a run killed during a write
    stale.write_bytes(b"partial")
    train(_tiny(real_data_dir), tmp_path, resume=True, quiet=True)
    after = load_metrics(run)
    assert not stale.exists()
    for key in ("best_val_loss", "train_samples_per_s", "wall_seconds", "epochs", "test_bce"):
        assert after[key] == before[key], key
    assert before["best_val_loss"] is not None and before["wall_seconds"] > 0


def test_corrupt_or_malicious_checkpoint_on_resume(real_data_dir, tmp_path):
    run = train(_tiny(real_data_dir), tmp_path, quiet=True)
    last = run / "checkpoints" / "last.ckpt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    longer = ["train", run, "--resume", "--quiet", "train.max_epochs=2"]
    for damage in (lambda: last.write_bytes(last.read_bytes()[:1000]), lambda: torch.save({"x": Evil()}, last)):
        damage()
        out = error(*longer)
        assert f"{last}: cannot read this checkpoint" in out and "Delete it and train again with --resume" in out
        assert not marker.exists()  # weights_only=True: nothing was unpickled
    with pytest.raises(CheckpointError):
        train(_tiny(real_data_dir, **{"train.max_epochs": 2}), tmp_path, resume=True, quiet=True)
    last.unlink()  # the advice: delete it and resume -> the run starts over
    code, out = cli(*longer)
    assert code == 0 and load_metrics(run)["epochs"] == 2, out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_exit_non_zero_with_a_resume_hint(sig, real_data_dir, tmp_path):
    over = tiny_overrides(real_data_dir, **{"data.train_subset": 2000, "train.max_epochs": 200})
    # a shell starts background jobs with SIGINT ignored, and Python then installs no KeyboardInterrupt handler:
    # give the child the default disposition, as a terminal would, whatever started this test
    proc = subprocess.Popen([sys.executable, "-m", "latentsynth", "train", "mnist-ae", "--out", str(tmp_path),
                             "--quiet", *over], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    last = tmp_path / "mnist-ae" / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert "Traceback" not in err
    assert f"error: [mnist-ae] training interrupted; the last checkpoint is {last}" in err
    assert f"continue with `latentsynth train {tmp_path / 'mnist-ae'} --resume`" in err
    assert not list(last.parent.glob(".*.tmp*"))
