"""The common note-corpus format, audio checks, build reports, progress lines and note-level splits.

A corpus is one folder::

    <corpus>/wav/*.wav          one note per file (mono), named in the TinySOL convention
    <corpus>/metadata.csv       one row per note, columns :data:`COLUMNS` (``path`` relative to <corpus>)
    <corpus>/build_report.json  what was built and every file that was skipped, with the reason

All three builders (``render``, ``import-tinysol``, ``import-nsynth``) write it the same way: each WAV is
written atomically and an existing one is kept, so a killed build run again picks up where it stopped.
"""

from __future__ import annotations

import csv
import io
import re
import struct
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import soundfile as sf

from ...dsp.audiofile import write_wav  # noqa: F401 - re-exported: corpus builders write notes with it
from ...folders import atomic_write_text, write_json
from ..errors import DataError

COLUMNS = ("instrument", "family", "pitch", "pitch_name", "dynamics", "style", "source_file", "duration",
           "sample_rate", "split", "path")
DYNAMICS = ("pp", "p", "mf", "f", "ff")
SPLITS = ("train", "val", "test")
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass
class Note:
    """One row of ``metadata.csv``."""

    instrument: str  # abbreviation, e.g. "Fl", "Vc"
    family: str  # e.g. "Woodwinds", "Strings"
    pitch: int  # MIDI number, C4 = 60
    pitch_name: str  # e.g. "C4", "F#1"
    dynamics: str  # pp p mf f ff (or "" when unknown)
    style: str  # playing style, e.g. "ord", "pizz", "trem", "mute"
    source_file: str  # where the note came from (SoundFont preset, original file)
    duration: float  # seconds
    sample_rate: int
    split: str  # train / val / test
    path: str  # relative to the corpus folder


# ------------------------------------------------------------------------------------------ note names


def pitch_name(midi: int) -> str:
    """MIDI number -> scientific pitch name with sharps (60 -> ``C4``, 30 -> ``F#1``)."""
    return f"{_NAMES[midi % 12]}{midi // 12 - 1}"


def parse_pitch(name: str) -> int:
    """Pitch name (``C4``, ``F#1``, ``Bb3``, ``A#-1``) -> MIDI number; raises ``ValueError``."""
    m = re.fullmatch(r"([A-Ga-g])([#b]?)(-?\d+)", name.strip())
    if not m:
        raise ValueError(f"not a pitch name: {name!r}")
    base = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[m.group(1).upper()]
    return base + {"#": 1, "b": -1, "": 0}[m.group(2)] + 12 * (int(m.group(3)) + 1)


def note_filename(instrument: str, style: str, midi: int, dynamics: str, extra: str = "N-N") -> str:
    """TinySOL-style file name: ``Fl-ord-C4-mf-N-N.wav``."""
    return f"{instrument}-{style}-{pitch_name(midi)}-{dynamics}-{extra}.wav"


# ------------------------------------------------------------------------------------------ audio checks


class BadAudio(ValueError):
    """A file cannot be used as a note; ``str(err)`` is the reason shown in the build report."""


@dataclass(frozen=True)
class AudioChecks:
    """Limits applied to every note (import and prepare)."""

    min_duration: float = 0.1  # seconds, after trimming
    min_sample_rate: int = 8000  # below this, a note cannot hold the partials we care about
    silence_db: float = -60.0  # peak below this (dBFS) counts as silent
    max_flatness: float = 0.45  # spectral flatness above this: noise, no pitched note (white noise: about 0.56)


def wav_shortfall(path: str | Path) -> tuple[float, float] | None:
    """``(announced, held)`` seconds of a RIFF/WAVE file whose data chunk announces more audio than the file
    holds (a truncated copy or download), else None (also for other formats and unreadable headers)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            pos, block, rate = 12, 0, 0
            while pos + 8 <= size:
                f.seek(pos)
                cid, n = f.read(4), struct.unpack("<I", f.read(4))[0]
                if cid == b"fmt ":
                    fmt = f.read(16)
                    if len(fmt) == 16:
                        _, _, rate, _, block, _ = struct.unpack("<HHIIHH", fmt)
                elif cid == b"data":
                    held = size - pos - 8
                    if block and rate and held < n != 0xFFFFFFFF:
                        return n / block / rate, held // block / rate
                    return None
                pos += 8 + n + (n & 1)
    except (OSError, struct.error):
        return None
    return None


def spectral_flatness(y: np.ndarray, sr: int, low: float = 20.0) -> float:
    """Spectral flatness of ``y [N]`` above ``low`` Hz (DC and sub-audio left out): the geometric over the
    arithmetic mean of its power spectrum, about 0.56 for white noise and near 0 for a pitched note."""
    power = np.abs(np.fft.rfft(y.astype(np.float64))) ** 2
    band = power[np.fft.rfftfreq(len(y), 1 / sr) >= low]
    if len(band) == 0 or band.mean() <= 0:
        return 0.0
    return float(np.exp(np.mean(np.log(band + 1e-30))) / band.mean())


def read_audio(path: str | Path, checks: AudioChecks = AudioChecks()) -> tuple[np.ndarray, int, list[str]]:
    """Read a sound file as mono float32.

    Returns ``(y [N], sample_rate, notes)`` where ``notes`` lists harmless conversions (stereo mixed down).
    Raises :class:`BadAudio` for empty, unreadable or non-audio files, odd sample rates, silent or too
    short notes.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise BadAudio("empty file (0 bytes)")
    try:
        y, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as err:  # libsndfile: not audio, truncated header, unknown format
        raise BadAudio(f"unreadable or not an audio file ({str(err).splitlines()[0][:120]})") from None
    notes = []
    if y.shape[0] == 0:
        raise BadAudio("no audio samples (empty sound file)")
    if sr < checks.min_sample_rate:
        raise BadAudio(f"sample rate {sr} Hz is below the minimum {checks.min_sample_rate} Hz")
    if y.shape[1] > 1:
        notes.append(f"{y.shape[1]} channels mixed down to mono")
    y = y.mean(axis=1)
    if not np.all(np.isfinite(y)):
        raise BadAudio("corrupt samples (NaN or infinite values)")
    peak = float(np.abs(y).max())
    if peak > 1.0:  # a float file beyond full scale: scaled down, not clipped when written as 16-bit
        y = y / peak
        notes.append(f"peak {peak:.3g} beyond full scale ({20 * np.log10(peak):+.1f} dBFS): normalised to 1.0")
    if peak <= 10 ** (checks.silence_db / 20):
        raise BadAudio(f"silent (peak {20 * np.log10(max(peak, 1e-12)):.0f} dBFS <= {checks.silence_db:.0f})")
    if len(y) / sr < checks.min_duration:
        raise BadAudio(f"too short ({len(y) / sr * 1000:.0f} ms < {checks.min_duration * 1000:.0f} ms)")
    offset = float(y.mean())
    level = 20 * np.log10(max(float(np.abs(y - offset).max()), 1e-12))  # the peak once the DC offset is removed
    if level <= checks.silence_db:
        raise BadAudio(f"no note in it: a constant level (DC offset {offset:+.3g}) with no signal around it "
                       f"(peak {level:.0f} dBFS without the offset <= {checks.silence_db:.0f})")
    flatness = spectral_flatness(y, sr)
    if flatness > checks.max_flatness:
        raise BadAudio(f"no pitched note in it: a flat spectrum like noise (spectral flatness {flatness:.2f} > "
                       f"{checks.max_flatness})")
    short = wav_shortfall(path)
    if short is not None:
        notes.append(f"truncated: the WAV header announces {short[0]:.2f} s of audio, the file holds {short[1]:.2f} s "
                     "(kept as it is; copy or download the file again for the whole note)")
    return y, sr, notes


# ------------------------------------------------------------------------------------------ build report


@dataclass
class BuildReport:
    """Files built, kept from an earlier run, skipped (with the reason) and converted."""

    kind: str
    built: int = 0
    kept: int = 0  # already there from an interrupted earlier run
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}
    warnings: list[dict[str, str]] = field(default_factory=list)  # {"file", "note"}
    seconds: float = 0.0

    def skip(self, file: str | Path, reason: str) -> None:
        self.skipped.append({"file": str(file), "reason": reason})

    def warn(self, file: str | Path, note: str) -> None:
        self.warnings.append({"file": str(file), "note": note})

    def write(self, path: str | Path) -> None:
        write_json(path, asdict(self))

    def summary(self) -> str:
        s = f"{self.kind}: {self.built} built, {self.kept} kept, {len(self.skipped)} skipped"
        return s + (f", {len(self.warnings)} warnings" if self.warnings else "") + f" in {self.seconds:.1f} s"


# ------------------------------------------------------------------------------------------ metadata


def write_metadata(folder: str | Path, notes: list[Note]) -> Path:
    """Write ``<folder>/metadata.csv`` (sorted by path) atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for n in sorted(notes, key=lambda n: n.path):
        w.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in asdict(n).items()})
    path = Path(folder) / "metadata.csv"
    atomic_write_text(path, buf.getvalue())
    return path


def read_metadata(folder: str | Path) -> list[Note]:
    """Read and check ``<folder>/metadata.csv``; raises :class:`DataError` naming the file, row and column."""
    path = Path(folder) / "metadata.csv"
    if not path.is_file():
        raise DataError(f"{path}: not found; build a corpus with `latentsynth audio render` or an import")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(COLUMNS)}")
        notes = []
        types = {f.name: f.type for f in fields(Note)}
        for i, row in enumerate(reader, start=2):
            try:
                vals = {k: (int(row[k]) if types[k] == "int" else float(row[k]) if types[k] == "float"
                            else row[k]) for k in COLUMNS}
            except ValueError as err:
                raise DataError(f"{path}, line {i}: {err}; fix or delete the row") from None
            if vals["split"] not in SPLITS:
                raise DataError(f"{path}, line {i}: split {vals['split']!r} must be one of {', '.join(SPLITS)}")
            notes.append(Note(**vals))
    return notes


# ------------------------------------------------------------------------------------------ splits


def spread(items: list, n: int) -> list:
    """``n`` of ``items`` spread evenly from the first to the last, in order (all of them if there are no more
    than ``n``): the one rule behind the notes that evaluation and the round-trip study pick."""
    if len(items) <= n:
        return list(items)
    return [items[round(i * (len(items) - 1) / max(n - 1, 1))] for i in range(n)]



def assign_splits(
    notes: list[Note],
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    holdout_instruments: tuple[str, ...] = (),
    holdout_pitch: tuple[int, int] | None = None,
) -> list[str]:
    """One split per note (never per frame), stratified by instrument.

    Within each instrument the notes are shuffled with ``seed`` and the first ``round(test * n)`` go to
    ``test``, the next ``round(val * n)`` to ``val``. Notes of ``holdout_instruments`` and notes whose MIDI
    pitch lies in ``holdout_pitch`` (inclusive) all go to ``test``. Returns ``[len(notes)]`` split names.
    """
    if not (0 <= val and 0 <= test and val + test < 1):
        raise ValueError(f"val/test: fractions must be >= 0 and sum to < 1, got val={val} test={test}")
    out = ["train"] * len(notes)
    by_inst: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(notes):
        held = n.instrument in holdout_instruments or (
            holdout_pitch is not None and holdout_pitch[0] <= n.pitch <= holdout_pitch[1])
        if held:
            out[i] = "test"
        else:
            by_inst[n.instrument].append(i)
    rng = np.random.default_rng(seed)
    for inst in sorted(by_inst):
        idx = sorted(by_inst[inst], key=lambda i: notes[i].path)
        idx = [idx[j] for j in rng.permutation(len(idx))]
        n_test, n_val = round(test * len(idx)), round(val * len(idx))
        for j, i in enumerate(idx):
            out[i] = "test" if j < n_test else "val" if j < n_test + n_val else "train"
    return out


def note_source(note: Note) -> str:
    """The sound source of a note: the SoundFont (``FluidR3_GM.sf2``) or file its ``source_file`` names before
    the first ``:`` (a rendered note's ``source_file`` is ``<soundfont>:<preset>``)."""
    return note.source_file.split(":", 1)[0]


def twin_key(note: Note) -> tuple[str, str, int, str]:
    """What makes two notes of different sources *twins*: ``(instrument, style, pitch, dynamics)``."""
    return note.instrument, note.style, note.pitch, note.dynamics


def shared_sounds(instruments: list[str], sources: list[str]) -> set[str]:
    """The sounds (``source_file``: a rendered note's ``<soundfont>:<preset>``) that render notes of more than one
    instrument label. General MIDI has one pizzicato and one tremolo *section* preset, so a rendered corpus's Vn,
    Va, Vc and Cb pizz / trem notes are one sound under four labels (median SC 0.01-0.04 between two of them at one
    pitch and dynamics, in FluidR3 and MuseScore General alike; their ordinary notes differ by 0.76-0.93;
    docs/results/probe-ceiling.md):
    nothing in their audio tells the instrument. Only a ``source_file`` that names a preset (``<source>:<preset>``,
    as rendering writes it) can be shared; a file path or a corpus-wide tag is not a sound.
    ``instruments [N]``, ``sources [N]``: per note."""
    users: dict[str, set[str]] = defaultdict(set)
    for inst, src in zip(instruments, sources, strict=True):
        if ":" in src:
            users[src].add(inst)
    return {src for src, insts in users.items() if len(insts) > 1}


def identifiable(instruments: list[str], sources: list[str]) -> list[bool]:
    """Per note: is its instrument a sound of its own, i.e. its ``source_file`` not among :func:`shared_sounds`
    (what the instrument probe and the morph judge count)."""
    shared = shared_sounds(instruments, sources)
    return [src not in shared for src in sources]


def assign_twin_splits(notes: list[Note], val: float = 0.1, test: float = 0.1, seed: int = 0) -> list[str]:
    """Splits of a corpus of several sources in which twins (:func:`twin_key`) share one split: the splits of
    :func:`assign_splits` drawn over the distinct twin keys, stratified by instrument."""
    keys = sorted({twin_key(n) for n in notes})
    reps = [Note(k[0], "", k[2], "", k[3], k[1], "", 0.0, 0, "train", f"{k[0]}-{k[1]}-{k[2]:03d}-{k[3]}")
            for k in keys]
    of_key = dict(zip(keys, assign_splits(reps, val, test, seed), strict=True))
    return [of_key[twin_key(n)] for n in notes]
