import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from latentsynth.bench import expand, load_sweep, run_sweep
from latentsynth.bench.report import summarize
from latentsynth.config import ConfigError

from helpers import tiny_overrides


def write_sweep(tmp_path: Path, data_dir: Path, variations: str, seeds="[0]", grid="{}") -> Path:
    base = json.dumps(tiny_overrides(data_dir, **{"train.max_epochs": 1}))
    f = tmp_path / "tiny.yaml"
    f.write_text(f"name: tiny\ndata: mnist\nbase: {base}\nvariations:\n{variations}\nseeds: {seeds}\ngrid: {grid}\n")
    return f


def test_expansion_of_variations_grid_and_seeds(tmp_path):
    f = write_sweep(tmp_path, tmp_path, "  - {name: vae, preset: vae}\n  - {name: wae, preset: wae-mmd-imq, "
                    "overrides: [prior.kind=mixture], factor: prior}", seeds="[0, 5]",
                    grid="{model.latent_dim: [2, 8]}")
    runs = expand(load_sweep(f))
    assert [r.name for r in runs] == [f"{v}-latent_dim={d}-s{s}" for v in ("vae", "wae") for d in (2, 8)
                                      for s in (0, 5)]
    assert {(r.config.model.latent_dim, r.config.train.seed) for r in runs[:4]} == {(2, 0), (2, 5), (8, 0), (8, 5)}
    assert all(r.config.prior.kind == "mixture" for r in runs[4:]) and runs[4].factor == "prior"
    assert len({r.config.data.split_seed for r in runs}) == 1  # seeds never change the data split
    assert runs[0].group == "vae-latent_dim=2"
    full, paper = expand(load_sweep("mnist-full")), expand(load_sweep("mnist-full"), paper_protocol=True)
    assert len(full) == 78 and {r.config.train.max_epochs for r in paper} == {100}
    fashion = expand(load_sweep("fashion-full"))
    assert [r.name for r in fashion] == [r.name for r in full] and fashion[0].config.data.name == "fashion-mnist"
    assert load_sweep("fashion-full").name == "fashion-full"  # its own folder, not the parent's
    # each variation is compared with the reference built from the same preset, in the same grid cell
    base = {r.group: r.baseline for r in full}
    assert base["vae"] == "" and base["vae-warmup"] == "vae" and base["wae-mmd-rbf-median"] == "wae-mmd-rbf"
    assert runs[4].baseline == ""  # "wae" has no reference variation of preset wae-mmd-imq in this sweep
    f = write_sweep(tmp_path, tmp_path, "  - {name: vae, preset: vae}\n  - {name: wae, preset: wae-mmd-imq, "
                    "factor: model, baseline: vae}", grid="{model.latent_dim: [2, 8]}")
    assert [r.baseline for r in expand(load_sweep(f))] == ["", "", "vae-latent_dim=2", "vae-latent_dim=8"]


def test_bad_sweeps_fail_before_training(tmp_path):
    f = write_sweep(tmp_path, tmp_path, "  - {name: a, preset: vae, overrides: [model.latent_dim=0]}")
    with pytest.raises(ConfigError, match="variation 'a'.*model.latent_dim"):
        expand(load_sweep(f))
    with pytest.raises(ConfigError, match="unknown sweep"):
        load_sweep("no-such-sweep")
    (tmp_path / "dup.yaml").write_text("name: d\nvariations: [{name: a, preset: mnist-vae}, "
                                       "{name: a, preset: mnist-ae}]\n")
    with pytest.raises(ConfigError, match="duplicate"):
        load_sweep(tmp_path / "dup.yaml")
    (tmp_path / "base.yaml").write_text("name: b\nvariations: [{name: a, preset: mnist-vae, baseline: nope}]\n")
    with pytest.raises(ConfigError, match="baseline names no variation.*a -> nope"):
        load_sweep(tmp_path / "base.yaml")


def test_failing_run_is_recorded_and_the_sweep_goes_on(real_data_dir, tmp_path):
    # a learning rate this large overflows at once: the NaN guard stops that run, the others go on
    f = write_sweep(tmp_path, real_data_dir, "  - {name: ok, preset: ae}\n  - {name: bad, preset: ae, overrides: "
                    "[optim.lr=1.0e+30]}\n  - {name: ok2, preset: wae-mmd-imq}")
    spec = load_sweep(f)
    root = run_sweep(spec, expand(spec), tmp_path / "out", stream=open(os.devnull, "w"), generation=False)
    rows = list(csv.DictReader((root / "results.csv").open()))
    status = {r["run"]: r["status"] for r in rows}
    assert status == {"ok-s0": "ok", "bad-s0": "failed", "ok2-s0": "ok"}
    bad = next(r for r in rows if r["run"] == "bad-s0")
    assert "NonFiniteLossError" in bad["error"] and (root / "runs" / "bad-s0" / "error.txt").exists()
    assert "Failed runs" in (root / "summary.md").read_text()
    assert (root / "summary.html").exists() and (root / "summary.png").exists()
    assert (root / "runs" / "ok-s0" / "samples.png").exists()


def test_resume_after_kill_skips_finished_runs(real_data_dir, tmp_path):
    f = write_sweep(tmp_path, real_data_dir, "  - {name: a, preset: ae}\n  - {name: b, preset: ae}\n"
                    "  - {name: c, preset: ae}")
    cmd = [sys.executable, "-m", "latentsynth", "bench", str(f), "--out", str(tmp_path / "out"), "--no-generation"]
    runs = tmp_path / "out" / "tiny" / "runs"
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while not (runs / "a-s0" / "metrics.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_a = (runs / "a-s0" / "model.safetensors").stat().st_mtime_ns
    assert not (runs / "c-s0" / "metrics.json").exists(), "the sweep finished before it could be killed"
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "3 runs, 1 already finished, 2 to run" in res.stdout or "3 runs, 2 already finished" in res.stdout
    assert (runs / "a-s0" / "model.safetensors").stat().st_mtime_ns == finished_a  # not re-run
    rows = list(csv.DictReader((tmp_path / "out" / "tiny" / "results.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]


def _workers_of(pid: int) -> set[int]:
    """PIDs of the multiprocessing workers whose parent is ``pid`` (read from /proc)."""
    out = set()
    for d in Path("/proc").iterdir():
        try:
            stat, cmd = (d / "stat").read_text(), (d / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"--multiprocessing-fork" in cmd:
            out.add(int(d.name))
    return out


def _running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_sigterm_to_a_parallel_sweep_stops_its_workers(real_data_dir, tmp_path):
    f = write_sweep(tmp_path, real_data_dir, "  - {name: a, preset: ae, overrides: [train.max_epochs=500]}\n"
                    "  - {name: b, preset: ae, overrides: [train.max_epochs=500]}")
    cmd = [sys.executable, "-m", "latentsynth", "bench", str(f), "--out", str(tmp_path / "out"), "--no-generation",
           "-j", "2", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs, deadline = tmp_path / "out" / "tiny" / "runs", time.time() + 240
    while not all((runs / r / "checkpoints").is_dir() for r in ("a-s0", "b-s0")) and time.time() < deadline:
        time.sleep(0.1)
    workers = _workers_of(proc.pid)
    assert len(workers) == 2, "the workers never started training"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) != 0
    deadline = time.time() + 30
    while [w for w in workers if _running(w)] and time.time() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    assert not alive, f"workers {alive} outlived the sweep"
    assert not (runs / "a-s0" / "metrics.json").exists()  # stopped mid-training, to be resumed later


def test_summary_mean_std_and_best_by_hand(tmp_path):
    rows = [
        {"group": "x", "run": "x-s0", "factor": "f", "status": "ok", "test_bce": 100.0, "train_samples_per_s": 10},
        {"group": "x", "run": "x-s1", "factor": "f", "status": "ok", "test_bce": 104.0, "train_samples_per_s": 30},
        {"group": "y", "run": "y-s0", "factor": "f", "status": "ok", "test_bce": 90.0, "train_samples_per_s": 5},
        {"group": "y", "run": "y-s1", "factor": "f", "status": "failed", "test_bce": None},
    ]
    s = summarize(rows)
    assert s[0]["test_bce"] == (102.0, pytest.approx(math.sqrt(8.0))) and s[0]["n"] == 2
    assert s[1]["test_bce"] == (90.0, 0.0) and s[1]["n"] == 1
    from latentsynth.bench.report import summary_markdown
    from latentsynth.bench.sweep import SweepSpec, Variation

    md = summary_markdown(SweepSpec(name="t", variations=[Variation(name="x", preset="ae")]), s, rows)
    assert "**90.00**" in md and "**20.00 ± 14.14**" in md  # lowest BCE, highest throughput
    assert "102.00 ± 2.83" in md and "**102" not in md
    # the IW-NLL of a continuous (Gaussian) likelihood is a density, not nats of a Bernoulli: not ranked with them
    nll = [{"group": g, "run": g, "factor": "f", "status": "ok", "test_nll_iw": v, "likelihood": lik}
           for g, v, lik in (("b", 100.0, "bernoulli"), ("g", -700.0, "gaussian"))]
    s = summarize(nll)
    assert s[0]["test_nll_iw"] == (100.0, 0.0) and "test_nll_iw" not in s[1]


def test_effects_are_welch_t_tests_against_the_baseline():
    from scipy.stats import ttest_ind

    from latentsynth.bench.report import effects, effects_table, welch

    a, b = [81.2, 80.1, 82.6], [72.4, 73.0, 71.1, 72.2]
    delta, se, p = welch(a, b)
    ref = ttest_ind(a, b, equal_var=False)  # the reference implementation of Welch's test
    assert delta == pytest.approx(sum(a) / 3 - sum(b) / 4) and delta / se == pytest.approx(ref.statistic)
    assert p == pytest.approx(ref.pvalue)
    assert welch([1.0], b)[1:] == (None, None) and welch([16.0, 16.0], [16.0, 16.0]) == (0.0, 0.0, None)
    assert welch([8.0, 8.0], [16.0, 16.0]) == (-8.0, 0.0, 0.0)  # no spread at all: a certain difference
    row = lambda g, s, v, base="": {"group": g, "run": f"{g}-s{s}", "factor": "warmup" if base else "reference",  # noqa: E731
                                    "baseline": base, "status": "ok", "test_bce": v}
    rows = ([row("vae", i, v) for i, v in enumerate(a)] + [row("vae-warmup", i, v, "vae") for i, v in enumerate(b)]
            + [row("vae-z8", i, v, "vae") for i, v in enumerate([80.0, 83.0, 81.5])])
    got = {e["group"]: e["test_bce"] for e in effects(rows)}
    assert set(got) == {"vae-warmup", "vae-z8"} and got["vae-warmup"] == pytest.approx(welch(b, a))
    head, table = effects_table(rows)
    assert head == ["variation", "baseline", "factor", "Δ BCE"]
    assert table[0][3].endswith(" *") and not table[1][3].endswith("*")  # separated vs overlapping seeds


def test_compare_two_groups_of_a_results_csv(tmp_path):
    from typer.testing import CliRunner

    from latentsynth.bench.report import compare_groups, read_results, welch
    from latentsynth.cli import app
    from latentsynth.folders import write_csv

    a, b = [249.1, 241.5, 256.6], [284.2, 277.4, 291.0]
    rows = [{"group": g, "run": f"{g}-s{i}", "status": "ok", "gen_fd": v, "test_bce": None}
            for g, vals in (("wae-gan", a), ("vae", b)) for i, v in enumerate(vals)]
    write_csv(tmp_path / "results.csv", rows)
    got = compare_groups(read_results(tmp_path / "results.csv"), "wae-gan", "vae")
    assert got == [("FD (clf features)", *welch(a, b))]  # empty BCE cells are skipped, not read as 0
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "results.csv"), "wae-gan", "vae"])
    assert res.exit_code == 0 and "FD (clf features)" in res.output and "*" in res.output
    res = CliRunner().invoke(app, ["compare", str(tmp_path / "results.csv"), "wae-gan", "nope"])
    assert res.exit_code == 2 and "no group 'nope'" in res.output and "groups: vae, wae-gan" in res.output


def test_finished_runs_get_generation_scores_without_retraining(real_data_dir, tmp_path, monkeypatch):
    from latentsynth.evaluation import classifier as clf_mod

    clf_dir = tmp_path / "clf"
    clf_mod.save_classifier(clf_mod.Classifier(), clf_dir, {})  # untrained: the scores only need to exist
    monkeypatch.setattr(clf_mod, "default_classifier_dir", lambda name: clf_dir)
    monkeypatch.setattr(clf_mod, "ensure_classifier", lambda *a, **k: None)
    f = write_sweep(tmp_path, real_data_dir, "  - {name: a, preset: ae}")
    spec = load_sweep(f)
    quiet = open(os.devnull, "w")
    root = run_sweep(spec, expand(spec), tmp_path / "out", stream=quiet, generation=False)
    run = root / "runs" / "a-s0"
    assert "gen_fd" not in json.loads((run / "metrics.json").read_text())
    weights = (run / "model.safetensors").stat().st_mtime_ns
    run_sweep(spec, expand(spec), tmp_path / "out", stream=quiet, generation=True)
    m = json.loads((run / "metrics.json").read_text())
    assert math.isfinite(m["gen_fd"]) and "test_bce" in m
    assert (run / "model.safetensors").stat().st_mtime_ns == weights
    # the class probes of the codes come with the scores: real digits are neighbours in an AE's codes
    assert m["probe_class_knn"] > m["probe_class_chance"] + 0.3 and 0 < m["probe_class_linear"] <= 1
    rows = list(csv.DictReader(open(root / "results.csv")))
    assert float(rows[0]["probe_class_knn"]) == m["probe_class_knn"]


def test_a_sweep_file_with_a_key_given_twice_is_rejected(tmp_path):
    from latentsynth.config import ConfigError

    f = tmp_path / "dup.yaml"
    f.write_text("data: mnist\nseeds: [0]\nvariations:\n  - {name: vae, preset: vae}\nseeds: [1]\n")
    with pytest.raises(ConfigError, match=r"dup.yaml, line 5: not valid YAML \(duplicate key 'seeds'"):
        load_sweep(f)
