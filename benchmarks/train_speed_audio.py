"""Training throughput of the harmonic audio model: our Lightning module against a plain PyTorch loop, 1 and 2
threads, and where the time of a step goes.

Model: the ``sol-harmonic-ae`` preset (MLP encoder reading the pitch view, harmonic-plus-noise decoder with 64
partials and 64 noise bands, spectral convergence + 0.1 log-magnitude L1), batch 256, single frames (513 STFT
bins). Data: a generated corpus of harmonic tones (10 timbres x 36 pitches, 0.5 s, 22,050 Hz) prepared once.

Rows (frames per second over the training epochs alone, validation and start-up excluded), each in a fresh
process at the thread count, interleaved (the order rotating), best of ``--repeats``, by the wall clock and by
the process's CPU time (``time.process_time``, the figure that holds on a shared machine):

- ``plain-pytorch``: a hand loop over the same ``AutoEncoder`` (same config, so the same network and loss) on
  the same training windows and labels in memory, fused Adam as the Lightning module uses, a fresh permutation
  per epoch;
- ``latentsynth``: ``latentsynth.training.train`` with the same config (epoch times from a callback);
- ``before`` (with ``--before REV``): the same, importing latentsynth's ``src`` at git revision ``REV``.

Then a profile of one thread: each part of the step timed alone over the same batch (forward and backward where
it has a gradient): the encoder's pitch view, the encoder MLP, the decoder trunk, rendering the partials and the
noise into bins, the dB mapping, the spectral loss, the backward pass and the optimizer step; and
``torch.profiler``'s top operators of the whole step. And, per thread count, one more ``train`` run with its
calls timed by wrappers (:func:`overhead_split`): where latentsynth's time over the plain loop goes (Lightning's
loop between batches, its backward/optimizer wrappers, logging, the module's bookkeeping).

    .venv/bin/python benchmarks/train_speed_audio.py [--epochs 3] [--repeats 2] [--threads 1,2] [--before REV]

Writes docs/benchmarks/train_speed_audio.{csv,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(tempfile.gettempdir()) / "latentsynth-train-speed-audio"
PRESET = "sol-harmonic-ae"


def make_corpus(root: Path = CORPUS) -> Path:
    """10 timbres x 36 pitches of 0.5 s harmonic tones (kept when already there)."""
    import numpy as np

    from latentsynth.data.audio import corpus as C

    if (root / "metadata.csv").is_file():
        return root
    sr, t = 22050, np.arange(11025) / 22050
    notes = []
    for inst in range(10):
        for pitch in range(40, 76):
            f0 = 440.0 * 2 ** ((pitch - 69) / 12)
            y = sum(np.sin(2 * np.pi * f0 * k * t) / k ** (0.6 + inst / 6) for k in range(1, 16) if f0 * k < sr / 2)
            y = 0.3 * y * np.minimum(1, t / 0.01) * np.exp(-3 * t)
            rel = f"wav/i{inst}-{pitch}.wav"
            C.write_wav(root / rel, y, sr)
            notes.append(C.Note(f"i{inst}", "Synth", pitch, C.pitch_name(pitch), "mf", "ord", "generated", 0.5, sr,
                                "train", rel))
    for n, s in zip(notes, C.assign_splits(notes, val=0.1, test=0.1), strict=True):
        n.split = s
    C.write_metadata(root, notes)
    return root


def config(epochs: int):
    from latentsynth.config import load_config

    return load_config(PRESET, [f"data.corpus={CORPUS}", f"train.max_epochs={epochs}", "name=speed",
                                "train.accelerator=cpu", "train.eval_iw_samples=1", "train.eval_mmd_samples=100"])


def plain_loop(epochs: int) -> dict:
    """Frames/s of a hand-written loop over latentsynth's AutoEncoder on the same windows."""
    import torch

    from latentsynth.data.audio.datamodule import FrameDataModule
    from latentsynth.models import AutoEncoder

    cfg = config(epochs)
    data = FrameDataModule.for_run(cfg)
    x_all, c_all = data.train.as_tensor(), data.train.labels()
    torch.manual_seed(0)
    model = AutoEncoder(cfg, tuple(x_all.shape[1:]), data.audio_info().model_dump(mode="json"))
    opt = torch.optim.Adam(model.autoencoder_parameters(), lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), fused=True)
    bs, n, seconds, cpu, seen = cfg.data.batch_size, len(x_all), 0.0, 0.0, 0
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        for idx in torch.randperm(n).split(bs):
            out = model(x_all[idx], c_all[idx])
            loss = out.loss(0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        seconds, cpu = seconds + time.perf_counter() - t0, cpu + time.process_time() - c0
    return {"steps": seen / seconds, "cpu": seen / cpu}


class Done(Exception):
    """Raised once the training epochs are over."""


def stopping_callback():
    """The base class of the benchmark's callbacks: a Lightning callback that raises :class:`Done` at the end of
    the fit (one callback, not two: Lightning calls every callback at every hook, about 6 per step)."""
    import lightning as L

    class StopAfterFit(L.Callback):
        def on_train_end(self, trainer, pl_module):
            raise Done

    return StopAfterFit


def train_epochs(epochs: int, callback) -> None:
    """``latentsynth.training.train`` for ``epochs`` in a temporary folder with ``callback`` (a
    :func:`stopping_callback`) attached, which stops it once the training epochs are over (the test evaluation
    that follows is not timed, so skipped)."""
    from latentsynth.training import train

    with tempfile.TemporaryDirectory() as tmp:
        try:
            train(config(epochs), tmp, quiet=True, extra_callbacks=[callback])
        except Done:
            pass


def latentsynth_trainer(epochs: int) -> float:
    """Frames/s of ``latentsynth.training.train`` over its training epochs."""

    class EpochClock(stopping_callback()):
        """The training batches of each epoch: from the epoch's start to its last batch's end (validation,
        checkpoint and epoch-end logging come after it); ``epoch_seconds``: to the epoch's end, validation
        excluded, checkpointing included."""

        def __init__(self):
            self.seconds, self.epoch_seconds, self.seen, self._t0, self._last, self._v = 0.0, 0.0, 0, 0.0, 0.0, 0.0
            self.cpu, self._c0, self._clast = 0.0, 0.0, 0.0

        def on_train_epoch_start(self, trainer, pl_module):
            self._t0 = self._last = time.perf_counter()
            self._c0 = self._clast = time.process_time()
            self._v = 0.0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.seen += len(batch[0])
            self._last, self._clast = time.perf_counter(), time.process_time()

        def on_validation_epoch_start(self, trainer, pl_module):
            self._v0 = time.perf_counter()

        def on_validation_epoch_end(self, trainer, pl_module):
            self._v += time.perf_counter() - self._v0

        def on_train_epoch_end(self, trainer, pl_module):
            self.seconds += self._last - self._t0
            self.cpu += self._clast - self._c0
            self.epoch_seconds += time.perf_counter() - self._t0 - self._v

    clock = EpochClock()
    train_epochs(epochs, clock)
    return {"steps": clock.seen / clock.seconds, "epochs": clock.seen / clock.epoch_seconds,
            "cpu": clock.seen / clock.cpu}


def profile(reps: int = 20) -> dict:
    """Milliseconds per part of one training step (one thread, batch 256), each part alone."""
    import torch

    from latentsynth.data.audio.datamodule import FrameDataModule
    from latentsynth.dsp.harmonic import render_magnitudes, to_representation
    from latentsynth.models import AutoEncoder

    cfg = config(1)
    data = FrameDataModule.for_run(cfg)
    x, c = data.train.__getitems__(list(range(cfg.data.batch_size)))
    torch.manual_seed(0)
    model = AutoEncoder(cfg, tuple(x.shape[1:]), data.audio_info().model_dump(mode="json"))
    opt = torch.optim.Adam(model.autoencoder_parameters(), lr=1e-4, fused=True)
    dec = model.decoder

    def clock(fn, backward: bool = False) -> float:
        for _ in range(3):
            out = fn()
            if backward:
                out.sum().backward()
        t0 = time.perf_counter()
        for _ in range(reps):
            out = fn()
            if backward:
                out.sum().backward()
        return (time.perf_counter() - t0) / reps * 1000

    def step():
        out = model(x, c)
        loss = out.loss(0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    parts = {"whole step (forward, backward, Adam)": clock(step)}
    with torch.no_grad():
        enc_out = model.encode(x, c, sample=False)
        cond = model.detuned(c, enc_out)
    z = enc_out.z.detach().requires_grad_(True)
    if model.pitch_view is not None:
        parts["encoder: pitch view (harmonic_view + noise bands)"] = clock(lambda: model.pitch_view(x, c[:, 0]))
    parts["encoder: whole (view + MLP), forward + backward"] = clock(lambda: model.encode(x, c, sample=False).z,
                                                                     backward=True)
    parts["decoder: whole (trunk, render, dB), forward + backward"] = clock(lambda: model.decode(z, cond),
                                                                             backward=True)
    f0, amps, noise = model.harmonic_params(z, cond)
    parts["decoder: trunk + heads (harmonic_params), forward + backward"] = clock(
        lambda: torch.cat([t.flatten(1) for t in model.harmonic_params(z, cond)[1:]], 1), backward=True)
    a, nz = amps.detach().requires_grad_(True), noise.detach().requires_grad_(True)
    parts["decoder: render partials + noise into bins, forward + backward"] = clock(
        lambda: to_representation(render_magnitudes(f0.detach(), a, nz, dec.spec), dec.spec), backward=True)
    with torch.no_grad():
        out = model.decode(z, cond)
    o = out.detach().requires_grad_(True)
    parts["spectral loss, forward + backward"] = clock(lambda: model.likelihood.loss(o, x), backward=True)
    parts["Adam step (fused)"] = clock(lambda: opt.step() or torch.zeros(()))
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    with tprofile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            step()
    top = [{"op": ev.key, "self_ms_per_step": ev.self_cpu_time_total / 1000 / 10, "calls_per_step": ev.count / 10}
           for ev in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:12]]
    return {"parts": parts, "top": top, "indexing": indexing_ab()}


def overhead_split(epochs: int) -> dict:
    """Milliseconds per training batch of ``latentsynth.training.train`` by part, from wrappers timing the
    calls during a real run (each wrapper adds a few microseconds): Lightning's loop between batches (the data
    loader, the hooks and callbacks, logging), the module's ``training_step`` and inside it the model's forward,
    ``manual_backward`` (and the ``Tensor.backward`` it calls), ``LightningOptimizer.step`` (and the Adam step it
    calls); the rest of ``training_step`` is the module's own bookkeeping. Each part by the wall clock
    (``wall``) and by the process's CPU time (``cpu``, ``time.process_time``: on a shared machine the wall clock
    also counts waiting for a core)."""
    import collections

    import lightning as L
    import torch
    from lightning.pytorch.core.optimizer import LightningOptimizer

    from latentsynth.data.audio.datamodule import FrameWindows
    from latentsynth.models import AutoEncoder
    from latentsynth.training import module as M

    acc: dict[str, list[float]] = collections.defaultdict(lambda: [0.0, 0.0])  # wall, cpu seconds
    inside = [False]
    now = lambda: (time.perf_counter(), time.process_time())  # noqa: E731

    def add(key: str, t0: tuple[float, float]) -> None:
        t1, a = now(), acc[key]
        a[0], a[1] = a[0] + t1[0] - t0[0], a[1] + t1[1] - t0[1]

    def wrap(obj, name: str, key: str, step: bool = False) -> None:
        f = getattr(obj, name)

        def timed(*a, **k):
            inside[0] = inside[0] or step
            t0 = now()
            r = f(*a, **k)
            if inside[0]:
                add(key, t0)
            inside[0] = inside[0] and not step
            return r
        setattr(obj, name, timed)

    wrap(M.LitAutoEncoder, "training_step", "training_step", step=True)
    wrap(AutoEncoder, "forward", "  model forward (AutoEncoder.forward)")
    wrap(M.LitAutoEncoder, "manual_backward", "  manual_backward")
    wrap(torch.Tensor, "backward", "    of which Tensor.backward")
    wrap(LightningOptimizer, "step", "  LightningOptimizer.step")
    wrap(torch.optim.Adam, "step", "    of which Adam.step (fused)")
    wrap(torch.optim.Optimizer, "zero_grad", "  zero_grad (as the plain loop)")
    wrap(L.LightningModule, "log", LOGK)
    wrap(L.LightningModule, "log_dict", LOGK)
    data_t = [[0.0, 0.0]]
    get = FrameWindows.__getitems__

    def getitems(self, idx):
        t0 = now()
        r = get(self, idx)
        t1 = now()
        data_t[0] = [data_t[0][0] + t1[0] - t0[0], data_t[0][1] + t1[1] - t0[1]]
        return r
    FrameWindows.__getitems__ = getitems

    class Gaps(stopping_callback()):
        """The time from one batch's end to the next one's start (the loop, the data loader, the hooks)."""

        def __init__(self):
            self.t, self.n = None, 0

        def on_train_epoch_start(self, trainer, pl_module):
            self.t = None

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            if self.t is not None:
                add("Lightning loop between batches (data loader, hooks, callbacks)", self.t)
                a = acc["  of which the batch's frames (FrameWindows.__getitems__)"]
                a[0], a[1] = a[0] + data_t[0][0], a[1] + data_t[0][1]
            data_t[0] = [0.0, 0.0]
            self.n += 1

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.t = now()

        def on_validation_epoch_start(self, trainer, pl_module):
            self.t = None

    gaps = Gaps()
    train_epochs(epochs, gaps)
    n, between = gaps.n, gaps.n - epochs  # batches; gaps between batches (none before an epoch's first)
    res = {}
    for clock, i in (("wall", 0), ("cpu", 1)):
        out = {k: v[i] * 1000 / (between if k.startswith(("Lightning", "  of which the batch")) else n)
               for k, v in acc.items()}
        out[OTHERK] = out["training_step"] - sum(
            out.get(k, 0.0) for k in ("  model forward (AutoEncoder.forward)", "  manual_backward",
                                      "  LightningOptimizer.step", "  zero_grad (as the plain loop)", LOGK))
        out[WRAPK] = (out["  manual_backward"] - out["    of which Tensor.backward"] + out["  LightningOptimizer.step"]
                      - out["    of which Adam.step (fused)"])
        res[clock] = out
    return res


def reading(table: list[dict], split: dict, threads: list[int], rows: list[str], loads: list[float], cores: int,
            plain_ms: dict[int, float]) -> list[str]:
    """The paragraph that reads the tables: the CPU-time ratios, the overhead the split adds up to, and what the
    load of the machine did to the rows."""
    out = ["## Reading", ""]
    keys = ["Lightning loop between batches (data loader, hooks, callbacks)", LOGK, OTHERK, WRAPK]
    for r in table:
        n = r["threads"]
        text = (f"- {n} thread{'s' if n > 1 else ''}, by the CPU time: latentsynth / plain "
                f"{r['latentsynth_ratio_cpu_best']:.3f}x (best of runs), {r['latentsynth_ratio_cpu_mean']:.3f}x "
                f"(means), {r['latentsynth_ratio_cpu_paired_median']:.3f}x (median of paired runs)")
        if "before" in rows:
            text += (f"; before: {r['before_ratio_cpu_best']:.3f}x, {r['before_ratio_cpu_mean']:.3f}x, "
                     f"{r['before_ratio_cpu_paired_median']:.3f}x")
        over = {w: sum(split[(w, n)]["cpu"].get(k, 0.0) for k in keys) for w in rows[1:]}
        text += (". The split's rows that the plain loop does not have (the loop between batches, `self.log`, the "
                 "bookkeeping, which also holds the loss sum that the plain loop computes too, Lightning's "
                 f"wrappers) add up to {over['latentsynth']:.2f} CPU ms a step"
                 + (f" (before: {over['before']:.2f} ms)" if "before" in over else "")
                 + f" against the plain loop's {plain_ms[n]:.2f} ms: the split's estimate of the ratio is "
                 f"{plain_ms[n] / (plain_ms[n] + over['latentsynth']):.3f}x"
                 + (f" (before: {plain_ms[n] / (plain_ms[n] + over['before']):.3f}x)" if "before" in over else "")
                 + ".")
        out.append(text)
    if max(loads) > cores:
        out += ["", f"The machine was loaded: a 1-minute load average of {min(loads):.1f}-{max(loads):.1f} on "
                f"{cores} cores during the rows (other processes training on every core). A 2-thread step then "
                "waits for the thread whose core is taken (each parallel operation ends when both threads are done), "
                "so the 2-thread rows run many times slower than on a quiet machine and move by tens of percent from "
                "run to run, the CPU time included (the waiting threads spin): they measure the contention, not the "
                "code, and give no ratio. At 1 thread the wall clock also counts the waits for a core; the CPU-time "
                "ratio at 1 thread is the figure of this run."]
    return out


LOGK = "  self.log / log_dict (at the epoch's last batch and every 48th)"
OTHERK = "  the module's other bookkeeping (loss sum, non-finite check, epoch sums, hooks' lookups)"
WRAPK = "  Lightning wrappers (manual_backward + LightningOptimizer.step - their torch calls)"
SPLIT_ORDER = ["Lightning loop between batches (data loader, hooks, callbacks)",
               "  of which the batch's frames (FrameWindows.__getitems__)", "training_step",
               "  model forward (AutoEncoder.forward)", "  manual_backward", "    of which Tensor.backward",
               "  LightningOptimizer.step", "    of which Adam.step (fused)", "  zero_grad (as the plain loop)",
               LOGK, OTHERK, WRAPK]


def indexing_ab(reps: int = 50) -> dict:
    """The two gathers of the rendering at the model's batch shapes, before (advanced indexing ``t[i]``) and now,
    best of 5 x ``reps`` in ms, one process: the lobe-table lookup ``[256, 1, 64, 9]`` of ``harmonic_magnitudes``
    (now ``index_select``) and the noise-band interpolation ``[256, 1, 64] -> 513`` bins, forward + backward (now
    one matrix product)."""
    import torch

    from latentsynth.dsp.harmonic import noise_magnitudes

    table = torch.rand(1281)
    i0 = torch.randint(0, 1280, (256, 1, 64, 9))
    bands = torch.rand(256, 1, 64, requires_grad=True)
    j0 = torch.randint(0, 63, (513,))
    w0 = torch.rand(513)

    def best(f) -> float:
        out = 1e9
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(reps):
                f()
            out = min(out, (time.perf_counter() - t0) / reps * 1000)
        return out

    return {"lobe table lookup (x2 per step), before: table[i0]": best(lambda: table[i0]),
            "lobe table lookup, after: table.index_select(0, i0.flatten())": best(
                lambda: table.index_select(0, i0.reshape(-1)).reshape(i0.shape)),
            "noise bands -> bins (x2 gathers per step), fwd + bwd, before: bands[..., i0]": best(
                lambda: (bands[..., j0] * w0 + bands[..., j0 + 1] * (1 - w0)).sum().backward()),
            "noise bands -> bins, fwd + bwd, now: one matrix product (noise_magnitudes, issue #24)": best(
                lambda: noise_magnitudes(bands, 513).sum().backward())}


def _fresh(which: str, epochs: int, threads: int, src: Path | None = None):
    """``which`` in a fresh process at ``threads`` threads; ``src``: the latentsynth sources it imports (the
    ``--before`` revision), else this environment's."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), LATENTSYNTH_THREADS=str(threads))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    out = subprocess.run([sys.executable, __file__, "--epochs", str(epochs), "--only", which, "--threads",
                          str(threads)], env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if out.returncode:
        raise SystemExit(f"{which} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])[which]


def sources_at(rev: str, into: Path) -> Path:
    """The ``src`` folder of this repository at git revision ``rev``, extracted into ``into``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar, check=True)
    return into / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--before", metavar="REV", help="also time latentsynth at this git revision (its src, "
                    "extracted by git archive) in the same run: the rows and the split before a change")
    ap.add_argument("--only", choices=["plain", "latentsynth", "profile", "split"], help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    ap.add_argument("--render", action="store_true", help="write the .md and .csv again from the measurements "
                    "of the last run (OUT/train_speed_audio.json), measuring nothing")
    args = ap.parse_args()
    import torch

    if args.render:
        render(json.loads((args.out / "train_speed_audio.json").read_text()), args.out)
        return
    if args.only:
        n = int(args.threads.split(",")[0])
        torch.set_num_threads(n)
        res = (profile() if args.only == "profile" else overhead_split(args.epochs) if args.only == "split" else
               (plain_loop if args.only == "plain" else latentsynth_trainer)(args.epochs))
        print(json.dumps({args.only: res}))
        return
    make_corpus()
    load0 = os.getloadavg()[0]
    from latentsynth.data.audio.datamodule import FrameDataModule

    frames = len(FrameDataModule.for_run(config(1)).train)  # prepares the cache once, before any timing
    threads = [int(t) for t in args.threads.split(",")]
    tmp = Path(tempfile.mkdtemp(prefix="train-speed-before-"))
    old = sources_at(args.before, tmp) if args.before else None
    rows = ["plain", "latentsynth"] + (["before"] if old else [])
    runs: dict[tuple[str, int], list[float]] = {}
    loads = []
    for r in range(args.repeats):
        for n in threads:
            for which in rows[r % len(rows):] + rows[:r % len(rows)]:  # the order rotates from repeat to repeat
                v = _fresh("plain" if which == "plain" else "latentsynth", args.epochs, n,
                           old if which == "before" else None)
                loads.append(os.getloadavg()[0])
                if which != "plain":
                    runs.setdefault((which + "-epoch", n), []).append(v["epochs"])
                runs.setdefault((which + "-cpu", n), []).append(v["cpu"])
                runs.setdefault((which, n), []).append(v["steps"])
                print(which, n, round(v["steps"]), round(v["cpu"]), f"load {loads[-1]:.1f}", flush=True)
    prof = _fresh("profile", 1, 1)
    split = {(w, n): _fresh("split", args.epochs, n, old if w == "before" else None)
             for n in threads for w in rows[1:]}
    from latentsynth.folders import atomic_write_text

    raw = {"epochs": args.epochs, "repeats": args.repeats, "threads_arg": args.threads, "before": args.before,
           "frames": frames, "load0": load0, "loads": loads, "load_end": os.getloadavg()[0],
           "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
           "cores": os.cpu_count(), "torch": torch.__version__, "threads": threads, "rows": rows,
           "runs": [[k[0], k[1], v] for k, v in runs.items()], "prof": prof,
           "split": [[w, n, v] for (w, n), v in split.items()]}
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "train_speed_audio.json", json.dumps(raw, indent=1) + "\n")
    render(raw, args.out)


def render(raw: dict, out: Path) -> None:
    """``out/train_speed_audio.{csv,md}`` from the measurements of one run (``raw``, as saved in
    ``train_speed_audio.json``)."""
    from latentsynth.folders import atomic_write_text, write_csv

    threads, rows, frames, load0, loads = raw["threads"], raw["rows"], raw["frames"], raw["load0"], raw["loads"]
    runs = {(w, n): v for w, n, v in raw["runs"]}
    split = {(w, n): v for w, n, v in raw["split"]}
    prof, old = raw["prof"], raw["before"]
    args = argparse.Namespace(epochs=raw["epochs"], repeats=raw["repeats"], threads=raw["threads_arg"], before=old,
                              out=out)
    mean = lambda v: sum(v) / len(v)  # noqa: E731
    table = []
    for n in threads:
        r = {"threads": n}
        for w in rows:
            r[f"{w}_frames_per_s"] = round(max(runs[(w, n)]))
            r[f"{w}_cpu_frames_per_s"] = round(max(runs[(w + "-cpu", n)]))
        for w in rows[1:]:
            r[f"{w}_whole_epoch_frames_per_s"] = round(max(runs[(w + "-epoch", n)]))
            for clock, k in (("", ""), ("_cpu", "-cpu")):
                r[f"{w}_ratio{clock}_best"] = round(max(runs[(w + k, n)]) / max(runs[("plain" + k, n)]), 3)
                r[f"{w}_ratio{clock}_mean"] = round(mean(runs[(w + k, n)]) / mean(runs[("plain" + k, n)]), 3)
                paired = sorted(a / b for a, b in zip(runs[(w + k, n)], runs[("plain" + k, n)], strict=True))
                r[f"{w}_ratio{clock}_paired_median"] = round(statistics.median(paired), 3)  # run r vs plain run r
        for w in rows:
            r[f"{w}_runs"] = [round(v) for v in runs[(w, n)]]
            r[f"{w}_cpu_runs"] = [round(v) for v in runs[(w + "-cpu", n)]]
        table.append(r)
    write_csv(args.out / "train_speed_audio.csv", [{k: (json.dumps(v) if isinstance(v, list) else v)
                                                    for k, v in r.items()} for r in table])
    env = (f"{raw['cpu']}, torch {raw['torch']}; the machine was shared: 1-minute load average {load0:.1f} at the "
           f"start, {min(loads):.1f}-{max(loads):.1f} after the rows, {raw['load_end']:.1f} at the end")
    th = lambda n: f"{n} thread{'s' if n > 1 else ''}"  # noqa: E731
    lines = [f"# Training throughput: the harmonic audio model ({PRESET}), batch 256, single STFT frames", "",
             f"Measured by `python benchmarks/train_speed_audio.py --epochs {args.epochs} --repeats {args.repeats} "
             f"--threads {args.threads}{' --before ' + args.before if old else ''}` on {env}; {frames} training "
             "frames (generated corpus: 10 timbres x 36 pitches, 0.5 s notes). All rows in one run, each in a fresh "
             f"process, interleaved (the order rotating), best of {args.repeats} and the ratio of the means. "
             "Frames per second over the training batches (the plain loop: its batches; latentsynth: from each "
             "epoch's start to its last batch's end, so the training step with its data loading, Lightning's loop "
             "and logging)" + (f"; `before`: latentsynth at revision {args.before} (its `src`, from git archive), "
                               "the same benchmark" if old else "") + ".", "",
             "By the CPU time of the process (`time.process_time`: user + system of all its threads), the figure "
             "that holds on a shared machine (the wall clock also counts the time spent waiting for a core; at 2 "
             "threads the CPU time also counts the worker threads' spinning, so the 2-thread rows are lower than "
             "the wall clock's):", "",
             "| threads | plain loop (frames per CPU s) | latentsynth | latentsynth / plain (best) | (mean of runs) "
             "| (median of paired runs) |" + (" before | before / plain (best) | (mean) | (median paired) |"
                                              if old else "") + " runs: plain / latentsynth" + (" / before" if old
                                                                                                 else "") + " |",
             "|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|---:|" if old else "") + "---|"]

    def ratio_row(r: dict, s: str) -> str:
        """One row of the ratio tables: ``s`` is ``"_cpu"`` (CPU-time keys) or ``""`` (wall clock)."""
        return (f"| {r['threads']} | {r[f'plain{s}_frames_per_s']:,} | {r[f'latentsynth{s}_frames_per_s']:,} | "
                f"{r[f'latentsynth_ratio{s}_best']:.3f}x | {r[f'latentsynth_ratio{s}_mean']:.3f}x | "
                f"{r[f'latentsynth_ratio{s}_paired_median']:.3f}x |"
                + (f" {r[f'before{s}_frames_per_s']:,} | {r[f'before_ratio{s}_best']:.3f}x | "
                   f"{r[f'before_ratio{s}_mean']:.3f}x | {r[f'before_ratio{s}_paired_median']:.3f}x |" if old else "")
                + f" {' / '.join(str(r[w + s + '_runs']) for w in rows)} |")

    lines += [ratio_row(r, "_cpu") for r in table]
    lines += ["", "By the wall clock (on this shared machine the rows' ratios move with the load of the other "
              "processes, see the runs):", "",
              "| threads | plain loop (frames/s) | latentsynth (frames/s) | latentsynth / plain (best) | (mean) "
              "| (median paired) |" + (" before | before / plain (best) | (mean) | (median paired) |" if old else "")
              + " runs: plain / latentsynth" + (" / before" if old else "") + " | latentsynth, whole epochs |",
              "|---:|---:|---:|---:|---:|---:|" + ("---:|---:|---:|---:|" if old else "") + "---|---:|"]
    lines += [ratio_row(r, "") + f" {r['latentsynth_whole_epoch_frames_per_s']:,} |" for r in table]
    lines += ["", "The last column: latentsynth over whole epochs, validation excluded, the per-epoch checkpoint "
              "included."]
    plain_ms = {r["threads"]: 256_000 / r["plain_cpu_frames_per_s"] for r in table}
    cols = [(w, n, c) for c in ("cpu", "wall") for n in threads for w in rows[1:]]
    name = lambda w, n, c: (f"{'CPU' if c == 'cpu' else 'wall'} ms, {th(n)}"  # noqa: E731
                            + (f", {'before' if w == 'before' else 'now'}" if old else ""))
    lines += ["", "## Where latentsynth's time over the plain loop goes", "",
              f"One more run of `latentsynth.training.train` per thread count ({args.epochs} epochs)"
              + (f", now and at {args.before}," if old else "") + " each call below timed by a wrapper during "
              "the run (mean ms per training batch, by the CPU time and by the wall clock; indented rows are parts "
              "of the row above; the wrappers add a few microseconds). The plain loop's step by the CPU time, "
              "for scale: " + ", ".join(f"{plain_ms[n]:.2f} ms at {th(n)}" for n in threads) + ".", "",
              "| part | " + " | ".join(name(*c) for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    lines += [f"| {'&nbsp;' * 4 * ((len(k) - len(k.lstrip())) // 2)}{k.strip()} | "
              + " | ".join(f"{split[(w, n)][c].get(k, float('nan')):.3f}" for w, n, c in cols) + " |"
              for k in SPLIT_ORDER]
    lines += ["", "What latentsynth's step does beyond the plain loop's, and what this round removed (issue #26 item "
              "5; `before` above is the code without these): the training loader's batches are index tensors "
              "(`EpochBatchSampler`: the same batches as torch's `BatchSampler` over `EpochSampler`, without "
              "turning 12,320 indices into Python ints and each batch back into a tensor) taken as they are by "
              "`FrameWindows.__getitems__` (one `index_select` for single frames); a batch already on its device "
              "is not walked by Lightning's move (`SplitDataModule.transfer_batch_to_device`); Lightning's no-op "
              "profiler context around each of its ~30 hook calls a step is one shared `nullcontext` "
              "(`QuietProfiler`); `_current_fx_name`, which Lightning sets around every hook, skips "
              "`nn.Module.__setattr__`; the batch counter is part of `RunClock` (one callback fewer for each hook), "
              "and the benchmark's own clock is one callback. What the run computes and records is unchanged "
              "(tests: the batches equal `BatchSampler(EpochSampler)`'s, epoch by epoch, also when the loader's "
              "iterator is made before `set_epoch`; a killed and resumed run equals an uninterrupted one; DDP on 2 "
              "processes equals one process).", "",
              "What is left between the two loops is Lightning's: its loop between batches (the fetcher, the "
              "batch hooks of every callback, the logger connector, `inspect.signature` of `training_step` once "
              "a step) and its wrappers around the backward pass and the optimizer step (precision plugin, hooks, "
              "the step counting that checkpoints and resume rely on). `self.log` costs 0.2-0.6 ms a value "
              "(the first one in a process about 8 ms: torchmetrics' package version checks) and is called 7 "
              "times an epoch here (4 step values every `log_every_n_steps`, 3 epoch means); the non-finite check "
              "is one `isfinite` (no host sync on CPU). Removing Lightning's parts would mean replacing its loop "
              "(checkpoints, resume, DDP, logging), so they are kept.", ""]
    lines += reading(table, split, threads, rows, loads, raw["cores"], plain_ms)
    lines += ["", "## Where the time of a step goes (1 thread, batch 256)", "",
              "Each part timed alone on the same batch (mean of 20 after 3 warm-up calls); the parts overlap "
              "(the decoder's whole includes its trunk and the rendering).", "", "| part | ms |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in prof["parts"].items()]
    lines += ["", "The rendering's two gathers, before (advanced indexing) and now (this run, 1 thread, best of 5 x 50 "
              "calls at the model's batch shapes):", "", "| gather | ms |", "|---|---:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in prof["indexing"].items()]
    lines += ["", "`torch.profiler`, 10 whole steps, the top operators by self CPU time:", "",
              "| operator | self ms / step | calls / step |", "|---|---:|---:|"]
    lines += [f"| `{t['op']}` | {t['self_ms_per_step']:.2f} | {t['calls_per_step']:.0f} |" for t in prof["top"]]
    atomic_write_text(args.out / "train_speed_audio.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
