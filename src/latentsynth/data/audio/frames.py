"""Preprocessing of a note corpus into cached spectrogram frames, note-level splits and a frame dataset.

``prepare(corpus, PrepConfig())`` turns every note into compressed magnitude frames::

    <cache>/<key>/parts/part-<k>-<hash>.npy   frames [rows, F] float16 of the k-th block of notes
    <cache>/<key>/parts/part-<k>-<hash>.json  its notes (tag, content hash, start, n_frames, or why skipped)
    <cache>/<key>/parts.json          the parts in order: together one logical array [n_frames, F]
    <cache>/<key>/frames.csv          note, frame, time (s) of every row
    <cache>/<key>/notes.csv           the corpus metadata of every kept note + frame_start (global row), n_frames,
                                      part, part_start, tag (path, size, mtime), content (BLAKE2b of the file)
    <cache>/<key>/settings.json       the PrepConfig; <key> is its hash, so a changed setting rebuilds
    <cache>/<key>/build_report.json   skipped notes with the reason
    <cache>/<key>/splits/<skey>.json  split of every note + normalisation statistics of its train frames

The build is one streaming pass in parts of ``part_notes`` notes (memory: one part, not the corpus); a killed
build keeps its finished parts and resumes after them; the note tables are written last. When the corpus changes
(notes added, replaced or removed), the next build copies the unchanged notes from the previous parts and
computes only the new or changed ones (``verify``: also those whose content changed with size and mtime kept).
Reading (:class:`FrameStore`) is lazy, by ``pread`` of the rows asked for. Caches of the earlier format (one
``features.npy``) stay readable, and are converted by the next build that the corpus needs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import multiprocessing as mp
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Literal

import librosa
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from ...config import stable_hash
from ...dsp.transforms import NormStats, SpecConfig, compress, magnitude
from ...folders import atomic_write, atomic_write_bytes, read_json, write_json
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


PART_NOTES = 256  # notes per part: what one build step holds in memory (part_notes x max_duration frames)
_FORMAT = 2  # parts/ (1: one features.npy)


def _tag(corpus: Path, note: Note) -> str:
    """The note's file identity without reading it: path, size and mtime."""
    st = (corpus / note.path).stat()
    return stable_hash(f"{note.path}:{st.st_size}:{st.st_mtime_ns}", 10)


def content_hash(path: str | Path) -> str:
    """BLAKE2b (128 bits) of a file's bytes: what ``prepare(verify=True)`` compares."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _compute(args: tuple[str, PrepConfig, str]) -> tuple[np.ndarray | str, str]:
    """Worker: one note's frames ``[T, F]`` in the storage dtype (or the reason it is unusable) and the content
    hash of its file (hashed here unless given: ``prepare(verify=True)`` has hashed it already)."""
    src, cfg, content = args
    try:
        content = content or content_hash(src)
        x = note_features(src, cfg)
    except BadAudio as err:
        return str(err), content
    except FileNotFoundError:
        return "file listed in metadata.csv is missing", ""
    return x.astype(cfg.dtype), content


def _one_thread() -> None:
    """Worker initializer: one BLAS/OpenMP thread per worker process (no oversubscription, no spin-waits)."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass


def _fingerprint(corpus: Path, notes: list[Note]) -> str:
    """The metadata and the size and mtime of every listed file (``notes``: the corpus's metadata, read once by
    the caller): a WAV changed in place (same name) makes a finished cache stale, and the rebuild recomputes only
    the changed notes (same tag: :func:`_tag`)."""
    stats = []
    for n in notes:
        try:
            st = (corpus / n.path).stat()
            stats.append(f"{n.path}:{st.st_size}:{st.st_mtime_ns}")
        except OSError:
            stats.append(f"{n.path}:missing")
    return stable_hash((corpus / "metadata.csv").read_bytes().decode("utf-8", "replace") + "\n".join(stats), 16)


class _NpyRows:
    """Rows ``[start:start + n]`` of a 2-D ``.npy`` file read with ``pread`` (no memory map: the pages read stay
    in the kernel's page cache, not in this process's memory). Opened lazily, also after a fork or unpickling."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with self.path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(f)
            self.offset = f.tell()
        if fortran or len(shape) != 2:
            raise DataError(f"{self.path}: not a C-ordered 2-D frame array; delete the cache to rebuild it")
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.row_bytes = shape[1] * self.dtype.itemsize
        self._fd, self._pid = None, None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_fd", "_pid")}

    def __setstate__(self, state):
        self.__dict__.update(state, _fd=None, _pid=None)

    def read(self, start: int, n: int) -> np.ndarray:
        if self._fd is None or self._pid != os.getpid():
            self._fd, self._pid = os.open(self.path, os.O_RDONLY), os.getpid()
        buf = os.pread(self._fd, n * self.row_bytes, self.offset + start * self.row_bytes)
        return np.frombuffer(buf, self.dtype).reshape(n, self.shape[1])

    def close(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None


class FrameStore:
    """The frames of a prepared cache as one logical array ``[n_frames, F]`` over its part files, read lazily
    (``pread``, per process: DataLoader workers and DDP ranks each read only the rows they ask for).

    Reads ``parts.json`` (format 2) or the single ``features.npy`` of caches built before it. Indexing with an
    int, a slice or an array of rows returns a NumPy array in the storage dtype.
    """

    def __init__(self, cache_dir: str | Path):
        self.dir = Path(cache_dir)
        if (self.dir / "parts.json").is_file():
            parts = read_json(self.dir / "parts.json")["parts"]
            self.parts = [_NpyRows(self.dir / "parts" / p["file"]) for p in parts]
        elif (self.dir / "features.npy").is_file():
            self.parts = [_NpyRows(self.dir / "features.npy")]
        else:
            raise DataError(f"{self.dir}: not a prepared frame cache; run `latentsynth audio prepare` first")
        sizes = [p.shape[0] for p in self.parts]
        self.starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)  # [n_parts + 1]
        widths = {p.shape[1] for p in self.parts} or {0}
        self.shape = (int(self.starts[-1]), widths.pop())
        self.dtype = self.parts[0].dtype if self.parts else np.dtype("float16")

    def __len__(self) -> int:
        return self.shape[0]

    def read(self, start: int, n: int) -> np.ndarray:
        """Rows ``[start, start + n)`` ``[n, F]`` (they may span parts)."""
        out, end = [], start + n
        k = int(np.searchsorted(self.starts, start, side="right") - 1)
        while start < end:
            p0 = int(self.starts[k])
            m = min(end, int(self.starts[k + 1])) - start
            out.append(self.parts[k].read(start - p0, m))
            start, k = start + m, k + 1
        return out[0] if len(out) == 1 else np.concatenate(out) if out else np.zeros((0, self.shape[1]), self.dtype)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows [M]`` -> ``[M, F]``; runs of consecutive rows are read at once."""
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if len(rows) == 0:
            return np.zeros((0, self.shape[1]), self.dtype)
        runs = np.split(rows, np.flatnonzero(np.diff(rows) != 1) + 1)
        return np.concatenate([self.read(int(r[0]), len(r)) for r in runs])

    def __getitem__(self, key):
        if isinstance(key, (int, np.integer)):
            k = int(key) + (self.shape[0] if key < 0 else 0)
            return self.read(k, 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            rows = self.read(start, max(0, stop - start))
            return rows[::step] if step != 1 else rows
        return self.take(np.asarray(key)).reshape(*np.shape(key), self.shape[1])

    def __array__(self, dtype=None, copy=None):
        a = self.read(0, self.shape[0])
        return a.astype(dtype) if dtype is not None else a

    def close(self) -> None:
        for p in self.parts:
            p.close()


def _previous_rows(out: Path) -> dict[str, dict]:
    """The note rows of the previous complete build in ``out`` (any format), by path, each with ``_file`` and
    ``_start`` (where its frames are) and ``tag``: the notes that can be copied instead of computed."""
    if not (out / "notes.csv").is_file():
        return {}
    rows = {}
    for r in _read_notes(out):
        if r.get("part"):
            r["_file"], r["_start"] = out / "parts" / r["part"], int(r["part_start"])
        elif r.get("shard") and (out / "features.npy").is_file():  # format 1: tag in the shard name
            r["_file"], r["_start"] = out / "features.npy", int(r["frame_start"])
            r["tag"] = Path(r["shard"]).stem.rsplit("-", 1)[-1]
        else:
            continue
        rows[r["path"]] = r
    return rows


def _part_tags(corpus: Path, block: list[Note]) -> list[str]:
    """The change tag of each note file of ``block`` (:func:`_tag`: size and mtime); "" for a missing file."""
    tags = []
    for n in block:
        try:
            tags.append(_tag(corpus, n))
        except OSError:
            tags.append("")
    return tags


def _part_name(k: int, block: list[Note], tags: list[str]) -> str:
    """``part-<k>-<hash>``: the hash names the part's notes and their tags (same notes, same files: same name)."""
    ident = "|".join(f"{n.path}:{t}" for n, t in zip(block, tags, strict=True))
    return f"part-{k:05d}-{stable_hash(ident, 10)}"


def _known_rows(old: dict[str, dict], finished: list[dict] | None, frames: Path) -> dict[str, dict]:
    """The note rows a part may copy from: the previous build's, overridden by those of this very part finished
    before (``finished``, its frames in ``frames``) when ``verify`` found it stale."""
    known = dict(old)
    for r in finished or []:
        known[r["path"]] = {**r, "_file": frames, "_start": r.get("start", 0)}
    return known


def _plan_part(corpus: Path, cfg: PrepConfig, block: list[Note], tags: list[str], known: dict[str, dict],
               contents: dict[str, str], readers: dict[Path, _NpyRows], report: BuildReport, rebuilt: list[str],
               unverified: list[str]) -> tuple[list[dict], dict[str, np.ndarray], list[tuple[str, PrepConfig, str]]]:
    """Sort the notes of one part: missing, copied from ``known`` (same tag and, when verifying, same
    ``contents`` hash, given when verifying and empty otherwise: frames ``[n, F]`` read through ``readers``),
    or to compute. Returns the part's note rows, the copied frames by path and the jobs of :func:`_compute`;
    ``rebuilt`` / ``unverified`` get the notes whose content changed / had no recorded hash."""
    rows, arrays, todo = [], {}, []
    for n, tag in zip(block, tags, strict=True):
        if not tag:
            rows.append({"path": n.path, "tag": "", "reason": "file listed in metadata.csv is missing"})
            continue
        prev = known.get(n.path)
        same = prev is not None and prev.get("tag") == tag
        if same and contents and prev.get("content") != contents.get(n.path):
            same = False  # no hash recorded (a cache of the earlier format): recomputed, not "changed"
            (rebuilt if prev.get("content") else unverified).append(n.path)
        if same and prev.get("reason"):
            rows.append({"path": n.path, "tag": tag, "content": prev.get("content", ""), "reason": prev["reason"]})
        elif same and prev.get("n_frames") not in (None, ""):
            f = Path(prev["_file"])
            reader = readers.get(f) or readers.setdefault(f, _NpyRows(f))
            arrays[n.path] = reader.read(int(prev["_start"]), int(prev["n_frames"])).copy()
            rows.append({"path": n.path, "tag": tag, "content": prev.get("content", "")})
            report.kept += 1
        else:
            rows.append({"path": n.path, "tag": tag})
            todo.append((str(corpus / n.path), cfg, contents.get(n.path, "")))
    return rows, arrays, todo


def _compute_jobs(todo: list[tuple[str, PrepConfig, str]], pools: list[ProcessPoolExecutor], workers: int,
                  remaining: int) -> list:
    """:func:`_compute` of every job, in order: in the pool (started at the first part with work when
    ``workers > 1`` and more than one note remains, and put in ``pools`` for the caller to shut down) or here."""
    if not pools and workers > 1 and remaining > 1:
        # the first note runs here, before the fork: librosa's numba functions get compiled and the
        # filter banks (CQT plan, mel bank) built once; the workers inherit them
        results = [_compute(todo[0])]
        pools.append(ProcessPoolExecutor(workers, mp_context=mp.get_context("fork"), initializer=_one_thread))
        return results + list(pools[0].map(_compute, todo[1:], chunksize=2))
    if pools:
        return list(pools[0].map(_compute, todo, chunksize=2))
    return [_compute(job) for job in todo]


def _merge_computed(corpus: Path, rows: list[dict], arrays: dict[str, np.ndarray],
                    todo: list[tuple[str, PrepConfig, str]], results: list, report: BuildReport) -> None:
    """Put the computed notes into ``rows`` (content hash, or the reason a note was skipped) and their frames
    ``[n, F]`` into ``arrays``."""
    computed = dict(zip((Path(src).relative_to(corpus).as_posix() for src, *_ in todo), results, strict=True))
    for r in rows:
        if r["path"] in computed and "content" not in r and "reason" not in r:
            x, r["content"] = computed[r["path"]]
            if isinstance(x, str):
                r["reason"] = x
            else:
                arrays[r["path"]] = x
                report.built += 1


def _write_part(out: Path, name: str, rows: list[dict], arrays: dict[str, np.ndarray], cfg: PrepConfig) -> int:
    """Number the frames of ``rows`` (``start``, ``n_frames``), write ``parts/<name>.npy`` ``[frames, F]`` and
    then ``parts/<name>.json`` (last: the part is done); returns the part's frame count."""
    start = 0
    for r in rows:
        if r["path"] in arrays:
            r["start"], r["n_frames"] = start, int(arrays[r["path"]].shape[0])
            start += r["n_frames"]
    feats = (np.concatenate([arrays[r["path"]] for r in rows if r["path"] in arrays])
             if arrays else np.zeros((0, cfg.spec.n_bins), cfg.dtype))
    buf = io.BytesIO()
    np.save(buf, feats.astype(cfg.dtype, copy=False))
    done = out / "parts" / f"{name}.json"
    done.unlink(missing_ok=True)
    atomic_write_bytes(out / "parts" / f"{name}.npy", buf.getvalue())
    write_json(done, {"notes": rows})  # written last: the part is done
    return start


def _record_build(out: Path, parts: list[tuple[str, int, list[dict]]], notes: list[Note], report: BuildReport,
                  rebuilt: list[str], unverified: list[str], fp: str, cfg: PrepConfig, t0: float) -> None:
    """The skipped notes into ``report``; ``parts.json`` and the note tables, ``build_report.json``, and the
    manifest (last: the cache is complete)."""
    kept_notes = 0
    for _, _, rows in parts:
        for r in rows:
            if r.get("reason"):
                report.skip(r["path"], r["reason"])
            else:
                kept_notes += 1
    _consolidate(out, parts, {n.path: n for n in notes}, cfg)
    report.seconds = time.time() - t0
    info = asdict(report)
    info["rebuilt"] = sorted(set(rebuilt))  # notes whose content changed with size and mtime unchanged
    info["unverified"] = len(set(unverified))  # recomputed: their earlier build recorded no content hash
    write_json(out / "build_report.json", info)
    write_json(out / "manifest.json", {"corpus": fp, "notes": kept_notes, "key": cfg.key(), "complete": True,
                                       "format": _FORMAT})


def _drop_stale(out: Path, parts: list[tuple[str, int, list[dict]]], old: dict[str, dict], changed: bool) -> None:
    """Remove what the build left behind: parts of earlier corpora or part sizes, a converted format-1 cache, and
    the stored splits when other notes or other frames were built (``changed``, or a different note set)."""
    live = {f"{name}{ext}" for name, _, _ in parts for ext in (".npy", ".json")}
    for f in (out / "parts").iterdir():  # parts of earlier corpora or part sizes
        if f.name not in live:
            f.unlink(missing_ok=True)
    (out / "features.npy").unlink(missing_ok=True)  # a format-1 cache, now converted
    shutil.rmtree(out / "shards", ignore_errors=True)
    same = {p: r.get("tag") for p, r in old.items()} == {
        r["path"]: r["tag"] for _, _, rows in parts for r in rows if not r.get("reason")}
    if changed or not same:  # other notes or other frames: every stored split is stale
        shutil.rmtree(out / "splits", ignore_errors=True)


def prepare(corpus: str | Path, cfg: PrepConfig = PrepConfig(), cache: str | Path | None = None,
            splits: SplitConfig = SplitConfig(), workers: int = 2, quiet: bool = False, verify: bool = False,
            part_notes: int = PART_NOTES) -> Path:
    """Build (or resume, or reuse) the frame cache of ``corpus``; returns the cache folder ``<cache>/<key>``.

    ``cache`` defaults to ``<corpus>/cache``. One streaming pass over the notes in parts of ``part_notes``: each
    part's notes are computed by ``workers`` processes (or copied from the previous build when their file did
    not change) and written as ``parts/part-<k>-<hash>.npy`` with its note list at once, so a killed build loses
    at most the part in flight and memory holds one part, never the corpus. ``verify``: also hash the content of
    every note file, and rebuild the notes whose content changed although size and mtime did not (the build
    report's ``rebuilt`` lists them).
    """
    t0, corpus = time.time(), Path(corpus)
    notes = read_metadata(corpus)
    out = Path(cache or corpus / "cache") / cfg.key()
    manifest = out / "manifest.json"
    fp = _fingerprint(corpus, notes)
    has_frames = (out / "parts.json").is_file() or (out / "features.npy").is_file()
    if (manifest.is_file() and read_json(manifest).get("corpus") == fp and has_frames and not verify):
        write_splits(out, splits)
        return out
    (out / "parts").mkdir(parents=True, exist_ok=True)
    write_json(out / "settings.json", cfg.model_dump())
    old = _previous_rows(out)  # a changed corpus recomputes only its new or changed notes
    readers: dict[Path, _NpyRows] = {}
    report = BuildReport(kind="prepare")
    rebuilt: list[str] = []
    unverified: list[str] = []
    prog = Progress(len(notes), "prepare", every=1000, quiet=quiet)
    pools: list[ProcessPoolExecutor] = []
    parts, part_notes = [], max(1, int(part_notes))
    try:
        for k, b0 in enumerate(range(0, len(notes), part_notes)):
            block = notes[b0:b0 + part_notes]
            tags = _part_tags(corpus, block)
            name = _part_name(k, block, tags)
            contents = ({n.path: content_hash(corpus / n.path) for n, tag in zip(block, tags, strict=True) if tag}
                        if verify else {})
            done = out / "parts" / f"{name}.json"
            prow = read_json(done)["notes"] if done.is_file() else None
            if prow is not None and (not verify or all(r.get("content") == contents.get(r["path"])
                                                       for r in prow if r.get("tag"))):
                # this very part (same notes, same files), finished before: kept as it is
                parts.append((name, sum(int(r.get("n_frames", 0)) for r in prow if not r.get("reason")), prow))
                report.kept += sum(not r.get("reason") for r in prow)
                prog.update(len(block))
                continue
            known = _known_rows(old, prow, out / "parts" / f"{name}.npy")
            rows, arrays, todo = _plan_part(corpus, cfg, block, tags, known, contents, readers, report, rebuilt,
                                            unverified)
            if todo:
                results = _compute_jobs(todo, pools, workers, len(notes) - b0)
                _merge_computed(corpus, rows, arrays, todo, results, report)
            parts.append((name, _write_part(out, name, rows, arrays, cfg), rows))
            del arrays
            prog.update(len(block))
    finally:
        for pool in pools:
            pool.shutdown()
        for r in readers.values():
            r.close()
        prog.close()
    _record_build(out, parts, notes, report, rebuilt, unverified, fp, cfg, t0)
    _drop_stale(out, parts, old, bool(report.built or rebuilt))
    write_splits(out, splits)
    return out


def _consolidate(out: Path, parts: list[tuple[str, int, list[dict]]], notes: dict[str, Note],
                 cfg: PrepConfig) -> None:
    """Write ``parts.json``, then ``notes.csv`` and ``frames.csv`` (streamed to disk, each atomically): the
    global row of every note's first frame is the sum of the rows before it."""
    write_json(out / "parts.json", {"format": _FORMAT, "parts": [{"file": f"{name}.npy", "rows": rows}
                                                                 for name, rows, _ in parts]})
    hop_s = cfg.spec.hop_length / cfg.spec.sample_rate
    fields = [*(f.name for f in dataclass_fields(Note)), "frame_start", "n_frames", "part", "part_start", "tag",
              "content"]

    def write_notes(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
            w.writeheader()
            base = 0
            for name, rows_in_part, rows in parts:
                for r in rows:
                    if r.get("reason"):
                        continue
                    w.writerow({**asdict(notes[r["path"]]), "frame_start": base + r["start"],
                                "n_frames": r["n_frames"], "part": f"{name}.npy", "part_start": r["start"],
                                "tag": r["tag"], "content": r.get("content", "")})
                base += rows_in_part

    def write_frames(tmp: Path) -> None:
        with tmp.open("w") as f:
            f.write("note,frame,time\n")
            k = 0
            for _, _, rows in parts:
                for r in rows:
                    if r.get("reason"):
                        continue
                    f.writelines(f"{k},{t},{t * hop_s:.4f}\n" for t in range(r["n_frames"]))
                    k += 1

    atomic_write(out / "notes.csv", write_notes)
    atomic_write(out / "frames.csv", write_frames)


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
    feats = FrameStore(out)  # read note by note: memory holds one note, never the corpus
    n_bins = feats.shape[1]
    s1, s2, n, lo, hi = np.zeros(n_bins), np.zeros(n_bins), 0, np.inf, -np.inf
    for r, name in zip(rows, names, strict=False):
        if name != "train" or not int(r["n_frames"]):
            continue
        a = feats.read(int(r["frame_start"]), int(r["n_frames"])).astype(np.float64)
        s1, s2, n = s1 + a.sum(0), s2 + (a**2).sum(0), n + len(a)
        lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    feats.close()
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
        if not ((self.dir / "parts.json").is_file() or (self.dir / "features.npy").is_file()):
            raise DataError(f"{self.dir}: not a prepared frame cache; run `latentsynth audio prepare` first")
        info = read_json(write_splits(self.dir, splits))
        self.cfg = PrepConfig.model_validate(read_json(self.dir / "settings.json"))
        self.stats = NormStats.model_validate(info["stats"])
        self.features = FrameStore(self.dir)  # [n_frames, F], read lazily
        self.notes = _read_notes(self.dir)
        self.note_split: list[str] = info["splits"]
        self.hop_s = self.cfg.spec.hop_length / self.cfg.spec.sample_rate

    def windows(self, split: str, window: int = 1, hop: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Windows of ``window`` frames every ``hop`` frames of the notes of ``split`` (never crossing a note):
        ``starts [M]`` (rows of ``features``), ``note_ids [M]``, ``frame_ids [M]`` (first frame in the note)."""
        if window < 1 or hop < 1:
            raise ValueError(f"window/hop: must be >= 1, got window={window} hop={hop}")
        first = np.array([int(r["frame_start"]) for r in self.notes], dtype=np.int64)
        count = np.array([int(r["n_frames"]) for r in self.notes], dtype=np.int64)
        mine = np.array([s == split for s in self.note_split], dtype=bool)
        per_note = np.where(mine & (count >= window), (count - window) // hop + 1, 0)  # windows of each note
        note_ids = np.repeat(np.arange(len(self.notes), dtype=np.int64), per_note)
        offsets = np.concatenate([[0], np.cumsum(per_note)[:-1]]) if len(per_note) else np.zeros(0, np.int64)
        frame_ids = (np.arange(len(note_ids), dtype=np.int64) - np.repeat(offsets, per_note)) * hop
        return first[note_ids] + frame_ids, note_ids, frame_ids

    def note_frames(self, note: int) -> np.ndarray:
        """All dB frames of one note ``[T, F]`` (time first, like every frame tensor of the package)."""
        r = self.notes[note]
        return self.features.read(int(r["frame_start"]), int(r["n_frames"])).astype(np.float32)
