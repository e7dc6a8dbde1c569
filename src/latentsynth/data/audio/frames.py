"""Preprocessing of a note corpus into cached spectrogram frames, note-level splits and a frame dataset.

``prepare(corpus, PrepConfig())`` turns every note into compressed magnitude frames::

    <cache>/<key>/shards/<note>.npy   per-note frames [T, F] while the build runs (resume points)
    <cache>/<key>/features.npy        all frames [n_frames, F] float16 (memory-mapped when read)
    <cache>/<key>/frames.csv          note, frame, time (s) of every row of features.npy
    <cache>/<key>/notes.csv           the corpus metadata of every kept note + frame_start, n_frames, shard
    <cache>/<key>/settings.json       the PrepConfig; <key> is its hash, so a changed setting rebuilds
    <cache>/<key>/build_report.json   skipped notes with the reason
    <cache>/<key>/splits/<skey>.json  split of every note + normalisation statistics of its train frames

A killed build keeps its finished shards and resumes from them; the consolidated files are written last. When
the corpus changes (notes added, replaced or removed), the next build copies the unchanged notes back from the
previous ``features.npy`` and computes only the new or changed ones.
"""

from __future__ import annotations

import csv
import io
import multiprocessing as mp
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import librosa
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...config import stable_hash
from ...dsp.transforms import NormStats, SpecConfig, compress, magnitude
from ...folders import atomic_write, atomic_write_bytes, atomic_write_text, read_json, write_json
from ...progress import Progress
from ..errors import DataError
from .corpus import AudioChecks, BadAudio, BuildReport, Note, assign_splits, read_audio, read_metadata


class PrepConfig(BaseModel):
    """Preprocessing settings (all part of the cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    spec: SpecConfig = Field(default_factory=SpecConfig)
    trim_db: float | None = Field(60.0, gt=0)  # trim leading/trailing audio this far below the peak
    normalize: Literal["peak", "rms", "none"] = "peak"
    peak: float = Field(0.9, gt=0, le=1)  # target peak (normalize=peak) or 0.1 * peak RMS (normalize=rms)
    max_duration: float | None = Field(2.0, gt=0)  # crop notes to this many seconds after trimming
    min_duration: float = Field(0.1, ge=0)  # shorter notes (after trimming) are skipped
    dtype: Literal["float16", "float32"] = "float16"  # storage (dB values: float16 is within 0.03 dB)

    def key(self) -> str:
        return stable_hash(self)


class SplitConfig(BaseModel):
    """How notes are assigned to train / val / test (frames always follow their note)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_corpus: bool = True  # use the corpus ``split`` column (ignored when a holdout is given)
    val: float = Field(0.1, ge=0, lt=1)
    test: float = Field(0.1, ge=0, lt=1)
    seed: int = 0
    holdout_instruments: tuple[str, ...] = ()  # every note of these instruments goes to test
    holdout_pitch: tuple[int, int] | None = None  # MIDI range (inclusive) that goes to test
    # fraction of (instrument, pitch) pairs whose notes all go to the split "pitch": pitches never heard in
    # training for that instrument (each instrument's lowest and highest pitch stay, so it is interpolation)
    pitch_test: float = Field(0.0, ge=0, lt=0.5)

    def key(self) -> str:
        return stable_hash(self)


def load_note(path: str | Path, cfg: PrepConfig, checks: AudioChecks = AudioChecks()) -> np.ndarray:
    """Load, mix to mono, resample, trim, crop and normalise one note: -> ``y [N]`` float32 at spec rate.

    Raises :class:`~.corpus.BadAudio` with the reason when the note is unusable.
    """
    y, sr, _ = read_audio(path, checks)
    if sr != cfg.spec.sample_rate:
        y = librosa.resample(y, orig_sr=sr, target_sr=cfg.spec.sample_rate, res_type="soxr_hq")
    if cfg.trim_db is not None:
        y, _ = librosa.effects.trim(y, top_db=cfg.trim_db, frame_length=1024, hop_length=256)
    if len(y) < cfg.min_duration * cfg.spec.sample_rate:
        raise BadAudio(f"too short after trimming ({len(y) / cfg.spec.sample_rate * 1000:.0f} ms < "
                       f"{cfg.min_duration * 1000:.0f} ms)")
    if cfg.max_duration is not None:
        y = y[: int(cfg.max_duration * cfg.spec.sample_rate)]
    if cfg.normalize == "peak":
        y = y * (cfg.peak / np.abs(y).max())
    elif cfg.normalize == "rms":
        y = y * (0.1 * cfg.peak / np.sqrt(np.mean(y**2)))
        y = np.clip(y, -1, 1)
    return y.astype(np.float32)


def note_features(path: str | Path, cfg: PrepConfig) -> np.ndarray:
    """One note file -> compressed magnitude frames ``[T, F]`` (time first, one row per frame)."""
    return np.ascontiguousarray(compress(magnitude(load_note(path, cfg), cfg.spec), cfg.spec).T)


def _shard_name(corpus: Path, note: Note) -> str:
    st = (corpus / note.path).stat()
    tag = stable_hash(f"{note.path}:{st.st_size}:{st.st_mtime_ns}", 10)
    return f"{Path(note.path).stem}-{tag}.npy"


def _work(args: tuple[str, str, PrepConfig]) -> tuple[str, int | str]:
    """Worker: compute one note's frames into its shard; returns (shard, n_frames) or (shard, reason)."""
    src, shard, cfg = args
    try:
        x = note_features(src, cfg)
    except BadAudio as err:
        return shard, str(err)
    except FileNotFoundError:
        return shard, "file listed in metadata.csv is missing"
    buf = io.BytesIO()
    np.save(buf, x.astype(cfg.dtype))
    atomic_write_bytes(shard, buf.getvalue())
    return shard, int(x.shape[0])


def _one_thread() -> None:
    """Worker initializer: one BLAS/OpenMP thread per worker process (no oversubscription, no spin-waits)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _fingerprint(corpus: Path) -> str:
    """The metadata and the size and mtime of every listed file: a WAV changed in place (same name) makes a
    finished cache stale, and the rebuild recomputes only the changed notes (shard names carry the same tag)."""
    stats = []
    for n in read_metadata(corpus):
        try:
            st = (corpus / n.path).stat()
            stats.append(f"{n.path}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            stats.append(f"{n.path}:missing")
    return stable_hash((corpus / "metadata.csv").read_bytes().decode("utf-8", "replace") + "\n".join(stats), 16)


def prepare(corpus: str | Path, cfg: PrepConfig = PrepConfig(), cache: str | Path | None = None,
            splits: SplitConfig = SplitConfig(), workers: int = 2, quiet: bool = False) -> Path:
    """Build (or resume, or reuse) the frame cache of ``corpus``; returns the cache folder ``<cache>/<key>``.

    ``cache`` defaults to ``<corpus>/cache``. Notes are processed by ``workers`` processes; each finished
    note is written as a shard at once, so a killed build loses at most the notes in flight.
    """
    t0, corpus = time.time(), Path(corpus)
    notes = read_metadata(corpus)
    out = Path(cache or corpus / "cache") / cfg.key()
    manifest = out / "manifest.json"
    fp = _fingerprint(corpus)
    if manifest.is_file() and read_json(manifest).get("corpus") == fp and (out / "features.npy").is_file():
        write_splits(out, splits)
        return out
    (out / "shards").mkdir(parents=True, exist_ok=True)
    write_json(out / "settings.json", cfg.model_dump())
    _reuse_finished_notes(out)  # a changed corpus recomputes only its new or changed notes
    report = BuildReport(kind="prepare")
    jobs, shards = [], {}
    for i, n in enumerate(notes):
        src = corpus / n.path
        if not src.is_file():
            report.skip(n.path, "file listed in metadata.csv is missing")
            continue
        shard = out / "shards" / _shard_name(corpus, n)
        shards[i] = shard
        if shard.is_file():
            report.kept += 1
        else:
            jobs.append((str(src), str(shard), cfg))
    result: dict[str, int | str] = {}
    prog = Progress(len(jobs), "prepare", every=250, quiet=quiet)
    if workers > 1 and len(jobs) > 1:
        # the first note runs here, before the fork: librosa's numba functions get compiled and the filter
        # banks (CQT plan, mel bank) built once, and the workers inherit them instead of each paying ~1-2 s
        shard, r = _work(jobs[0])
        result[shard] = r
        prog.update()
        with ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_one_thread) as pool:
            for shard, r in pool.map(_work, jobs[1:], chunksize=4):
                result[shard] = r
                prog.update()
    else:
        for job in jobs:
            shard, r = _work(job)
            result[shard] = r
            prog.update()
    prog.close()
    kept = []
    for i, shard in shards.items():
        r = result.get(str(shard))
        if isinstance(r, str):
            report.skip(notes[i].path, r)
        else:
            report.built += isinstance(r, int)
            kept.append(i)
    _consolidate(out, [notes[i] for i in kept], [shards[i] for i in kept], cfg)
    report.seconds = time.time() - t0
    report.write(out / "build_report.json")
    write_json(manifest, {"corpus": fp, "notes": len(kept), "key": cfg.key(), "complete": True})
    shutil.rmtree(out / "shards", ignore_errors=True)
    write_splits(out, splits)
    return out


def _reuse_finished_notes(out: Path) -> int:
    """Turn the notes of a previous complete build of this cache back into shards (rows copied from
    ``features.npy``, no audio work), keyed by the same file tag (path, size, mtime) as fresh shards: the notes
    whose audio did not change are not recomputed. Returns how many shards were restored."""
    if not ((out / "features.npy").is_file() and (out / "notes.csv").is_file()):
        return 0
    feats = np.load(out / "features.npy", mmap_mode="r")
    restored = 0
    for r in _read_notes(out):
        shard = out / "shards" / r.get("shard", "")
        if not r.get("shard") or shard.is_file():
            continue
        s, n = int(r["frame_start"]), int(r["n_frames"])
        buf = io.BytesIO()
        np.save(buf, np.asarray(feats[s:s + n]))
        atomic_write_bytes(shard, buf.getvalue())
        restored += 1
    return restored


def _consolidate(out: Path, notes: list[Note], shards: list[Path], cfg: PrepConfig) -> None:
    """Join the shards into ``features.npy`` + ``frames.csv`` + ``notes.csv`` (each written atomically)."""
    arrays = [np.load(s, mmap_mode="r") for s in shards]
    total, n_bins = sum(a.shape[0] for a in arrays), cfg.spec.n_bins
    frames, rows = io.StringIO(), io.StringIO()
    fw = csv.writer(frames, lineterminator="\n")
    fw.writerow(["note", "frame", "time"])
    nw = csv.DictWriter(rows, fieldnames=[*asdict(notes[0]).keys(), "frame_start", "n_frames", "shard"] if notes
                        else ["path"], lineterminator="\n")
    nw.writeheader()
    hop_s = cfg.spec.hop_length / cfg.spec.sample_rate

    def write_features(tmp: Path) -> None:
        feats = np.lib.format.open_memmap(tmp, mode="w+", dtype=cfg.dtype, shape=(total, n_bins))
        start = 0
        for k, (note, a, shard) in enumerate(zip(notes, arrays, shards, strict=False)):
            feats[start:start + len(a)] = a
            fw.writerows([k, t, f"{t * hop_s:.4f}"] for t in range(len(a)))
            nw.writerow({**asdict(note), "frame_start": start, "n_frames": len(a), "shard": Path(shard).name})
            start += len(a)
        feats.flush()

    atomic_write(out / "features.npy", write_features)
    atomic_write_text(out / "frames.csv", frames.getvalue())
    atomic_write_text(out / "notes.csv", rows.getvalue())


def _read_notes(out: Path) -> list[dict]:
    with (out / "notes.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def write_splits(out: str | Path, splits: SplitConfig = SplitConfig()) -> Path:
    """Assign splits to the notes of a prepared cache and store them with the train-frame statistics."""
    out = Path(out)
    path = out / "splits" / f"{splits.key()}.json"
    if path.is_file():
        return path
    rows = _read_notes(out)
    notes = [Note(**{k: (int(r[k]) if k in ("pitch", "sample_rate") else float(r[k]) if k == "duration"
                         else r[k]) for k in Note.__dataclass_fields__}) for r in rows]
    held = bool(splits.holdout_instruments or splits.holdout_pitch)
    if splits.from_corpus and not held:
        names = [n.split for n in notes]
    else:
        names = assign_splits(notes, splits.val, splits.test, splits.seed, splits.holdout_instruments,
                              splits.holdout_pitch)
    if splits.pitch_test > 0:
        names = _hold_out_pitches(notes, names, splits.pitch_test, splits.seed)
    feats = np.load(out / "features.npy", mmap_mode="r")
    n_bins = feats.shape[1]
    s1, s2, n, lo, hi = np.zeros(n_bins), np.zeros(n_bins), 0, np.inf, -np.inf
    for r, name in zip(rows, names, strict=False):
        if name != "train":
            continue
        a = np.asarray(feats[int(r["frame_start"]): int(r["frame_start"]) + int(r["n_frames"])], np.float64)
        s1, s2, n = s1 + a.sum(0), s2 + (a**2).sum(0), n + len(a)
        lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    if n == 0:
        raise DataError(f"{out}: no training frames with these split settings; lower val/test or the holdout")
    stats = NormStats.from_sums(s1, s2, lo, hi, n)
    write_json(path, {"settings": splits.model_dump(), "splits": names, "stats": stats.model_dump()})
    return path


def _hold_out_pitches(notes: list[Note], names: list[str], fraction: float, seed: int) -> list[str]:
    """Move every note of a seeded ``fraction`` of the (instrument, pitch) pairs to the split ``pitch``
    (each instrument's lowest and highest pitch are never chosen)."""
    by_inst: dict[str, set[int]] = {}
    for n in notes:
        by_inst.setdefault(n.instrument, set()).add(n.pitch)
    rng = np.random.default_rng(seed + 7919)
    held = set()
    for inst in sorted(by_inst):
        inner = sorted(by_inst[inst])[1:-1]
        k = int(round(fraction * len(inner)))
        held |= {(inst, int(p)) for p in rng.choice(inner, size=k, replace=False)} if k else set()
    return ["pitch" if (n.instrument, n.pitch) in held else s for n, s in zip(notes, names, strict=True)]


class FrameIndex:
    """The notes, splits and normalisation statistics of a prepared cache, and where each split's windows
    start. It reads the cache; :class:`~latentsynth.data.audio.datamodule.FrameWindows` is the dataset.

    After construction: ``features`` (memory-mapped dB frames ``[n_frames, F]``), ``notes`` (metadata rows with
    ``frame_start`` / ``n_frames``), ``note_split`` (one split name per note), ``stats``
    (:class:`~latentsynth.dsp.transforms.NormStats` of the train frames), ``cfg`` (:class:`PrepConfig`).
    """

    def __init__(self, cache_dir: str | Path, splits: SplitConfig = SplitConfig()) -> None:
        self.dir = Path(cache_dir)
        if not (self.dir / "features.npy").is_file():
            raise DataError(f"{self.dir}: not a prepared frame cache; run `latentsynth audio prepare` first")
        info = read_json(write_splits(self.dir, splits))
        self.cfg = PrepConfig.model_validate(read_json(self.dir / "settings.json"))
        self.stats = NormStats.model_validate(info["stats"])
        self.features = np.load(self.dir / "features.npy", mmap_mode="r")  # [n_frames, F]
        self.notes = _read_notes(self.dir)
        self.note_split: list[str] = info["splits"]
        self.hop_s = self.cfg.spec.hop_length / self.cfg.spec.sample_rate

    def windows(self, split: str, window: int = 1, hop: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows of ``window`` frames every ``hop`` frames of the notes of ``split`` (never crossing a note):
        ``starts [M]`` (rows of ``features``), ``note_ids [M]``, ``frame_ids [M]`` (first frame in the note)."""
        if window < 1 or hop < 1:
            raise ValueError(f"window/hop: must be >= 1, got window={window} hop={hop}")
        starts, note_ids, frame_ids = [], [], []
        for k, (r, s) in enumerate(zip(self.notes, self.note_split, strict=False)):
            if s != split:
                continue
            first, count = int(r["frame_start"]), int(r["n_frames"])
            for t in range(0, count - window + 1, hop):
                starts.append(first + t), note_ids.append(k), frame_ids.append(t)
        as_int = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
        return as_int(starts), as_int(note_ids), as_int(frame_ids)

    def note_frames(self, note: int) -> np.ndarray:
        """All dB frames of one note ``[T, F]`` (time first, like every frame tensor of the package)."""
        r = self.notes[note]
        s, n = int(r["frame_start"]), int(r["n_frames"])
        return np.array(self.features[s:s + n], dtype=np.float32)
