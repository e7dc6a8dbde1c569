"""Sweeps beyond one process: Ray tasks and shards give the local runner's results; run-folder claims."""

import csv
import json
import os
import socket
import time
from pathlib import Path

import pytest

from latentsynth.bench import expand, load_sweep, run_sweep
from latentsynth.bench.claims import CLAIM, read_claim, try_claim
from latentsynth.bench.runner import parse_shard, run_one, shard_runs
from latentsynth.config import ConfigError, to_dict

from helpers import tiny_overrides

METRICS = ("test_bce", "test_mse", "test_latent_mmd", "train_loss")


def _sweep(tmp_path: Path, data_dir: Path):
    base = json.dumps(tiny_overrides(data_dir, **{"train.max_epochs": 1, "data.train_subset": 500,
                                                  "data.val_size": 200}))
    f = tmp_path / "tiny.yaml"
    f.write_text(f"name: tiny\ndata: mnist\nbase: {base}\nvariations:\n  - {{name: a, preset: ae}}\n"
                 "  - {name: b, preset: wae-mmd-imq}\nseeds: [0]\ngrid: {}\n")
    spec = load_sweep(f)
    return spec, expand(spec)


def _results(root: Path) -> dict[str, dict[str, str]]:
    return {r["run"]: r for r in csv.DictReader((root / "results.csv").open())}


def _same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for run in a:
        assert a[run]["status"] == b[run]["status"] == "ok", (a[run]["error"], b[run]["error"])
        for k in METRICS:
            if a[run].get(k):
                assert float(a[run][k]) == pytest.approx(float(b[run][k]), rel=1e-4, abs=1e-6), (run, k)


def test_ray_and_shards_give_the_local_results(real_data_dir, tmp_path):
    spec, runs = _sweep(tmp_path, real_data_dir)
    quiet = open(os.devnull, "w")
    local = _results(run_sweep(spec, runs, tmp_path / "local", stream=quiet, generation=False, threads=1))
    # two shards (as two SLURM array tasks would run them), one after the other: together every run, once
    for i in range(2):
        root = run_sweep(spec, runs, tmp_path / "sharded", stream=quiet, generation=False, threads=1, shard=(i, 2))
    _same(local, _results(root))
    again = (root / "runs" / "a-s0" / "model.safetensors").stat().st_mtime_ns
    run_sweep(spec, runs, tmp_path / "sharded", stream=quiet, generation=False, threads=1, shard=(0, 2))
    assert (root / "runs" / "a-s0" / "model.safetensors").stat().st_mtime_ns == again  # a re-run trains nothing
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [
                 str(Path(__file__).resolve().parents[1] / "src"), os.environ.get("PYTHONPATH", "")]))}})
    try:
        t0 = time.time()
        root = run_sweep(spec, runs, tmp_path / "ray", stream=quiet, generation=False, threads=1, backend="ray")
        assert time.time() - t0 < 120
    finally:
        ray.shutdown()
    _same(local, _results(root))
    assert not list((root / "runs").glob(f"*/{CLAIM}*"))  # claims are released


def test_shards_split_every_run_once():
    runs = list(range(7))
    parts = [shard_runs(runs, (i, 3)) for i in range(3)]
    assert sorted(sum(parts, [])) == runs and all(parts)
    assert parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "a/2", "1", "-1/2"):
        with pytest.raises(ConfigError, match="--shard"):
            parse_shard(bad)


def test_claims_block_live_holders_and_stale_ones_are_taken_over(tmp_path, real_data_dir):
    run = tmp_path / "r"
    held = try_claim(run)
    assert held is not None and try_claim(run) is None  # this live process holds it
    held.release()
    assert not (run / CLAIM).exists()
    # a claim left by a killed process on this host (its pid is dead): taken over at once
    (run / CLAIM).write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "time": time.time()}))
    c = try_claim(run)
    assert c is not None and read_claim(run)["pid"] == os.getpid()
    c.release()
    # another host's claim: live while its heartbeat is fresh, stale after the timeout
    (run / CLAIM).write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time()}))
    assert try_claim(run, stale_after=60) is None
    old = time.time() - 120
    os.utime(run / CLAIM, (old, old))
    c = try_claim(run, stale_after=60)
    assert c is not None and read_claim(run)["host"] == socket.gethostname()
    c.release()
    # a run claimed by a live process elsewhere is skipped by the runner, not trained and not failed
    spec, runs = _sweep(tmp_path, real_data_dir)
    runs_dir = tmp_path / "out" / "runs"
    (runs_dir / runs[0].name).mkdir(parents=True)
    (runs_dir / runs[0].name / CLAIM).write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": time.time()}))
    name, status, err, _ = run_one(to_dict(runs[0].config), str(runs_dir), 1)
    assert (name, status) == (runs[0].name, "claimed") and "elsewhere" in err
    assert not (runs_dir / runs[0].name / "config.yaml").exists()


def test_ray_backend_without_ray_is_one_clear_error(real_data_dir, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *a, **k):
        if name == "ray":
            raise ImportError("No module named 'ray'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    spec, runs = _sweep(tmp_path, real_data_dir)
    with pytest.raises(ConfigError, match=r"Ray is not installed.*latentsynth\[ray\]"):
        run_sweep(spec, runs, tmp_path / "out", stream=open(os.devnull, "w"), generation=False, backend="ray")


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid
