"""Run a sweep: one run after another, in N worker processes or as Ray tasks, resumable, failure-tolerant.

Layout of ``<out>/<sweep>/``: ``sweep.yaml`` (the spec), ``runs/<run>/`` (model folders, see
:mod:`latentsynth.training.fit`), ``runs/<run>/error.txt`` for a failed run, and the report files written by
:mod:`latentsynth.bench.report` (``results.csv``, ``summary.md``, ``summary.html``).

A run is finished when its folder holds ``model.safetensors`` and ``metrics.json``; finished runs are never
re-run. An interrupted run continues from its last checkpoint; a failed run is tried again on the next call.
Every run is trained under a run-folder claim (:mod:`latentsynth.bench.claims`), so shards of one sweep
(``shard=(i, n)``: SLURM job arrays, Kubernetes indexed jobs), a re-run started while another still trains, and
Ray tasks never train the same run twice; a killed process's claim goes stale and is taken over.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import yaml

from ..config import ConfigError, to_dict, validate
from ..folders import atomic_write_text, load_metrics
from .claims import read_claim, try_claim
from .sweep import PlannedRun, SweepSpec


def is_finished(run_dir: Path) -> bool:
    return (run_dir / "model.safetensors").is_file() and (run_dir / "metrics.json").is_file()


def run_one(config: dict[str, Any], runs_dir: str, threads: int | None = None,
            classifier_dir: str | None = None) -> tuple[str, str, str, float]:
    """Train one run (in this process), then its figures and, with a classifier, its generation scores.
    Returns (name, status, error message, seconds); never raises."""
    from ..threads import set_threads

    set_threads(threads)  # None: $LATENTSYNTH_THREADS (inherited from the sweep process), else 1
    cfg = validate(config)
    run_dir = Path(runs_dir) / cfg.name
    t0 = time.perf_counter()
    claim = try_claim(run_dir)
    if claim is None:  # another process (shard, re-run, Ray task) trains it now
        info = read_claim(run_dir) or {}
        return cfg.name, "claimed", f"claimed by {info.get('host', '?')}:{info.get('pid', '?')}", 0.0
    with claim:
        if is_finished(run_dir):  # finished by another process after this one planned it
            return cfg.name, "ok", "", 0.0
        return _train_claimed(cfg, run_dir, runs_dir, classifier_dir, t0)


def _train_claimed(cfg, run_dir: Path, runs_dir: str, classifier_dir: str | None, t0: float):
    from ..training import train

    try:
        train(cfg, runs_dir, resume=True, quiet=True)
        model, data = _model_and_data(run_dir)
        _write_figures(run_dir, model, data)
        if classifier_dir:
            _score_generation(run_dir, classifier_dir, model, data)
        (run_dir / "error.txt").unlink(missing_ok=True)
        return cfg.name, "ok", "", time.perf_counter() - t0
    except Exception as err:  # noqa: BLE001 - a failing run is recorded, the sweep goes on
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
        return cfg.name, "failed", f"{type(err).__name__}: {err}".splitlines()[0][:300], time.perf_counter() - t0


def _model_and_data(run_dir: Path):
    """The saved model of ``run_dir`` and its data module, set up (loaded once per run)."""
    from ..data import data_module
    from ..folders import load

    model = load(run_dir)
    return model, data_module(model.cfg)


def _write_figures(run_dir: Path, model=None, data=None) -> None:
    """Images: prior samples and test reconstructions (as `latentsynth sample` does). Frames: spectrograms of
    test notes and their reconstructions (``notes.png``)."""
    import torch

    from ..plots import save_grid, save_reconstructions

    if model is None:
        model, data = _model_and_data(run_dir)
    if model.cfg.data.kind == "frames":
        from ..evaluation.audio import pick_notes, plot_notes, write_note_audio

        plot_notes(model, data, pick_notes(data, 4), run_dir / "notes.png")
        write_note_audio(model, data, pick_notes(data, 2), run_dir / "audio", n_iter=32)  # summary.html players
        return
    test = data.test.as_tensor()
    g = torch.Generator().manual_seed(0)
    save_grid(model.generate(64, generator=g), run_dir / "samples.png", nrow=8, title=f"{model.cfg.name}: samples")
    x = test[:32]
    save_reconstructions(x, model.reconstruct(x), run_dir / "reconstructions.png", nrow=8,
                         title=f"{model.cfg.name}: test images / reconstructions")


SCORE_KEYS = ("gen_fd", "probe_class_knn")  # an image run without these is scored (again) by the sweep


def _score_generation(run_dir: Path, classifier_dir: str, model=None, data=None) -> None:
    """Add what is missing of the generation scores (gen_*) and the class probes of the codes (probe_class_*)
    to the run's metrics.json."""
    from ..evaluation.classifier import load_classifier
    from ..evaluation.generation import score_model
    from ..evaluation.probes import class_probes
    from ..folders import write_json

    if model is None:
        model, data = _model_and_data(run_dir)
    metrics = load_metrics(run_dir)
    if "gen_fd" not in metrics:
        metrics.update(score_model(model, load_classifier(classifier_dir), data.test.as_tensor()))
    if "probe_class_knn" not in metrics:
        metrics.update(class_probes(model, data))
    write_json(run_dir / "metrics.json", metrics)


def _fmt_time(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Progress:
    """One line per finished run: done / left / failed, elapsed time and an ETA."""

    def __init__(self, total: int, skipped: int, stream=sys.stdout):
        self.total, self.done, self.failed, self.stream = total, skipped, 0, stream
        self.started, self.new = time.perf_counter(), 0

    def update(self, name: str, status: str, err: str, seconds: float, metrics: dict[str, Any]) -> None:
        self.done += 1
        self.new += 1
        self.failed += status == "failed"
        elapsed = time.perf_counter() - self.started
        left = self.total - self.done
        eta = elapsed / self.new * left
        def val(key: str) -> float:
            v = metrics.get(key)
            return float("nan") if v is None else float(v)

        audio = "test_spec_sc" in metrics
        what = (f"{'sc' if audio else 'bce'} {val('test_spec_sc' if audio else 'test_bce'):.{3 if audio else 2}f}  "
                f"mse {val('test_mse'):.2f}  mmd {val('test_latent_mmd'):.4f}") if status == "ok" else (
            f"skipped, {err}" if status == "claimed" else f"FAILED: {err}")
        print(f"[{self.done}/{self.total} done, {left} left, {self.failed} failed, {_fmt_time(elapsed)} elapsed, "
              f"ETA {_fmt_time(eta)}] {name} ({seconds:.0f} s): {what}", file=self.stream, flush=True)


@contextlib.contextmanager
def _workers_die_with(pool: ProcessPoolExecutor):
    """While inside, a SIGTERM to the sweep process kills its worker processes too (they would otherwise go
    on training, orphaned, and race a resumed sweep for the same run folders). Work since each run's last
    checkpoint is all that is lost; the next call resumes from there."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        for proc in list((pool._processes or {}).values()):
            proc.kill()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` (0 <= i < n) -> ``(i, n)``; SLURM: ``$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT``."""
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard: expected i/n with integers (e.g. 0/4), got {text!r}") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard: need 0 <= i < n, got {text!r}")
    return i, n


def shard_runs(runs: list[PlannedRun], shard: tuple[int, int] | None) -> list[PlannedRun]:
    """The runs of shard ``(i, n)``: every n-th planned run from the i-th (all runs when ``shard`` is None)."""
    if shard is None:
        return runs
    i, n = shard
    return runs[i::n]


def _ray_results(jobs: list[tuple], threads: int | None, address: str | None):
    """Run ``run_one(*job)`` for every job as a Ray task that declares ``threads`` CPUs and the run's GPUs
    (``train.devices`` when ``train.accelerator`` asks for a GPU); yields the results as they finish.
    Uses the Ray instance of this process if one is initialised, else ``ray.init(address)`` (None: a local one)."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray: Ray is not installed; install the extra: pip install 'latentsynth[ray]' "
                          "(or pip install ray), or use --backend local") from None
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"LATENTSYNTH_THREADS": str(threads or 1)}})
    task = ray.remote(run_one)
    names = {}
    for job in jobs:
        tr = job[0]["train"]
        gpus = 0
        if str(tr.get("accelerator")) in ("gpu", "cuda"):
            gpus = int(tr["devices"]) if str(tr.get("devices")).isdigit() else 1
        names[task.options(num_cpus=threads or 1, num_gpus=gpus, max_retries=0).remote(*job)] = job[0]["name"]
    refs = list(names)
    while refs:
        done, refs = ray.wait(refs, num_returns=1)
        try:
            yield ray.get(done[0])
        except Exception as err:  # noqa: BLE001 - the task's worker died (OOM, node lost): a failed run
            yield names[done[0]], "failed", f"Ray task failed: {type(err).__name__}: {err}".splitlines()[0][:300], 0.0


def _check_data(spec: SweepSpec, runs: list[PlannedRun], stream) -> None:
    """Every data set the runs read is there (one clear error, not N failed runs); an audio corpus the sweep
    says how to render (``spec.render``) is rendered first when missing."""
    from ..data.idx import SPECS, DataError, locate

    for name, data_dir in sorted({(r.config.data.name, r.config.data.data_dir or "") for r in runs}):
        if name != "frames":
            locate(SPECS[name], data_dir or None)  # missing data is one clear error, not N failed runs
    for corpus in sorted({r.config.data.corpus for r in runs if r.config.data.kind == "frames"}):
        if not (Path(corpus) / "metadata.csv").is_file() and spec.render is not None:
            from ..data.audio import render_corpus

            print(f"sweep {spec.name}: rendering the corpus {corpus} ({spec.render})", file=stream, flush=True)
            render_corpus(corpus, **spec.render, quiet=True)
        if not (Path(corpus) / "metadata.csv").is_file():
            raise DataError(f"data.corpus: {corpus} is not an audio corpus (no metadata.csv); make one with "
                            f"`latentsynth audio render --out {corpus}` or pass data.corpus=FOLDER")


def _classifiers(runs: list[PlannedRun], generation: bool) -> dict[str, str | None]:
    """The domain classifier folder of each image data set of the runs (trained now if the user cache has none)
    when ``generation`` scores are asked for; None for the others."""
    classifiers: dict[str, str | None] = {}
    for name, data_dir in sorted({(r.config.data.name, r.config.data.data_dir) for r in runs}):
        if generation and name != "frames":  # generation scores need an image classifier
            from ..evaluation.classifier import default_classifier_dir, ensure_classifier

            ensure_classifier(name, None, data_dir)
            classifiers[name] = str(default_classifier_dir(name))
        else:
            classifiers[name] = None
    return classifiers


def _train_all(todo: list[PlannedRun], runs_dir: Path, threads: int | None, classifiers: dict[str, str | None],
               backend: str, workers: int, address: str | None, record) -> None:
    """Train the ``todo`` runs on ``backend`` (Ray tasks, this process, or ``workers`` spawned processes) and
    ``record`` each ``(name, status, error, seconds)`` as it finishes."""
    if backend == "ray":
        for result in _ray_results([(to_dict(r.config), str(runs_dir.resolve()), threads,
                                     classifiers[r.config.data.name]) for r in todo], threads, address):
            record(result)
    elif workers <= 1:
        for r in todo:
            record(run_one(to_dict(r.config), str(runs_dir), threads, classifiers[r.config.data.name]))
    else:
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool, _workers_die_with(pool):
            pending = {pool.submit(run_one, to_dict(r.config), str(runs_dir), threads, classifiers[r.config.data.name])
                       for r in todo}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    record(fut.result())


def run_sweep(spec: SweepSpec, runs: list[PlannedRun], out: str | Path, workers: int = 1,
              stream=sys.stdout, generation: bool = True, threads: int | None = None, backend: str = "local",
              address: str | None = None, shard: tuple[int, int] | None = None) -> Path:
    """Train every unfinished run of ``runs`` under ``<out>/<spec.name>/runs``; returns the sweep folder.

    With ``generation`` every run is also scored by the data set's domain classifier (trained once, first, if
    the user cache has none: see :func:`latentsynth.evaluation.classifier.ensure_classifier`).

    Runs are trained seed-major (every variation's first seed, then the second, ...), so an interrupted sweep
    already compares every variation. ``threads``: torch threads per run (default ``$LATENTSYNTH_THREADS``, else 1;
    worker processes inherit it).

    ``backend``: ``"local"`` (this process, or ``workers`` processes) or ``"ray"`` (each run a Ray task on the
    cluster at ``address``, ``"auto"`` for the running one, None for a local instance; the run folders must be on
    a file system every node sees). ``shard=(i, n)`` trains only every n-th run from the i-th (the report still
    lists every run of the sweep)."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend: 'local' or 'ray', got {backend!r}")
    from .report import write_report

    _check_data(spec, runs, stream)
    root = Path(out) / spec.name
    runs_dir = root / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "sweep.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
    classifiers = _classifiers(runs, generation)
    seed_rank = {s: i for i, s in enumerate(dict.fromkeys(r.seed for r in runs))}
    mine = shard_runs(runs, shard)
    todo = sorted((r for r in mine if not is_finished(runs_dir / r.name)), key=lambda r: seed_rank[r.seed])
    skipped = len(mine) - len(todo)
    pending_names = {r.name for r in todo}
    for r in runs:  # finished before generation scoring was asked for: score them now (no retraining)
        clf = classifiers[r.config.data.name]
        if clf and r.name not in pending_names and any(k not in load_metrics(runs_dir / r.name) for k in SCORE_KEYS):
            _score_generation(runs_dir / r.name, clf)
    where = (f"as Ray tasks ({threads or 1} CPU each)" if backend == "ray" else f"with {workers} worker(s)")
    part = f" (shard {shard[0]}/{shard[1]} of {len(runs)})" if shard else ""
    print(f"sweep {spec.name}: {len(mine)} runs{part}, {skipped} already finished, {len(todo)} to run "
          f"{where} -> {root}", file=stream, flush=True)
    progress = Progress(len(mine), skipped, stream)
    status: dict[str, tuple[str, str]] = {}

    def record(result: tuple[str, str, str, float]) -> None:
        name, st, err, secs = result
        status[name] = ("running", err) if st == "claimed" else (st, err)
        progress.update(name, st, err, secs, load_metrics(runs_dir / name) if st == "ok" else {})
        write_report(spec, runs, root, status)  # partial results are always on disk

    _train_all(todo, runs_dir, threads, classifiers, backend, workers, address, record)
    write_report(spec, runs, root, status)
    return root
