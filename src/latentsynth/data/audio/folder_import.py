"""Import any folder of single-note sound files (WAV, FLAC, AIFF) into the corpus format (:mod:`.corpus`).

Labels, in this order of trust:

1. a CSV in the folder (any ``*.csv`` with a ``file``, ``path`` or ``filename`` column; other columns, all
   optional, case-insensitive: ``instrument``, ``pitch`` (MIDI number or name like ``C4``, ``F#3``, ``Bb2``),
   ``dynamics``, ``style``, ``family``);
2. the file's path matched against a pattern (default ``{instrument}/{name}``: the folder above the file names
   the instrument). Fields: ``{instrument}``, ``{family}``, ``{style}``, ``{dynamics}``, ``{pitch}``, ``{name}``
   (anything), ``{_}`` (ignored); the pattern is matched against the last components of the path, without the
   extension. Whatever the pattern leaves, the tokens of the file name fill (split at ``-``, ``_``, ``.``, spaces):
   a pitch name (``C4``, ``F#3``, ``Fs4`` with ``s`` for sharp, ``Bb2``), a MIDI number (``60``, ``m60``,
   ``midi60``), a dynamics mark (``ppp``..``fff``, mapped to pp p mf f ff);
3. the pitch estimated with pYIN (:func:`librosa.pyin`) where no label gives it: the median f0 of the voiced
   frames, rounded to a MIDI number. An estimate is *unsure* when under half the frames are voiced, the mean
   voiced probability is under 0.5 or the voiced f0 spreads over more than half a semitone (std); unsure notes
   are kept and named in the build report's warnings (or skipped with ``unsure="skip"``).

Every file that cannot be used is named with the reason in ``<out>/build_report.json``; every pitch estimate
is in ``<out>/pitch_estimates.csv``. The notes are written mono 16-bit to ``<out>/wav/`` (an existing one is
kept: a killed import resumes), then ``latentsynth audio prepare`` and ``train`` work as for any corpus.
"""

from __future__ import annotations

import csv
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...folders import write_csv, write_json
from ...progress import Progress
from ..errors import DataError
from .corpus import (
    AudioChecks,
    BadAudio,
    BuildReport,
    Note,
    assign_splits,
    parse_pitch,
    pitch_name,
    read_audio,
    write_metadata,
    write_wav,
)

FOLDER_EXT = {".wav", ".flac", ".aif", ".aiff"}
DEFAULT_PATTERN = "{instrument}/{name}"
FIELDS = ("instrument", "family", "style", "dynamics", "pitch", "name", "_")
DYNAMICS_TOKENS = {"ppp": "pp", "pp": "pp", "p": "p", "mp": "p", "mf": "mf", "f": "f", "ff": "ff", "fff": "ff"}
_PITCH_TOKEN = re.compile(r"([A-Ga-g])(#|s|b)?(-?\d)")
_MIDI_TOKEN = re.compile(r"(?:midi|m)?([1-9]\d{1,2})", re.IGNORECASE)
_FILE_COLUMNS = ("file", "path", "filename")


# ------------------------------------------------------------------------------------------ labels


def pattern_regex(pattern: str) -> re.Pattern:
    """``{instrument}/{name}`` -> a regex with one named group per field (``{_}`` matches without a group)."""
    out, pos = [], 0
    for m in re.finditer(r"\{([^{}]*)\}", pattern):
        field = m.group(1)
        if field not in FIELDS:
            known = ", ".join(f"{{{f}}}" for f in FIELDS)
            raise DataError(f"--pattern {pattern!r}: unknown field {{{field}}}; use {known}")
        if field != "_" and f"(?P<{field}>" in "".join(out):
            raise DataError(f"--pattern {pattern!r}: field {{{field}}} given twice")
        out.append(re.escape(pattern[pos:m.start()]))
        out.append("[^/]*?" if field == "_" else f"(?P<{field}>[^/]+?)")
        pos = m.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + r"\Z")


def pitch_token(token: str) -> int | None:
    """A pitch name (``C4``, ``F#3``, ``Fs4``, ``Bb2``) or MIDI number (``60``, ``m60``, ``midi60``) -> MIDI."""
    m = _PITCH_TOKEN.fullmatch(token)
    if m:
        midi = parse_pitch(f"{m.group(1).upper()}{'#' if m.group(2) == 's' else m.group(2) or ''}{m.group(3)}")
        return midi if 0 <= midi <= 127 else None
    m = _MIDI_TOKEN.fullmatch(token)
    if m and 0 <= int(m.group(1)) <= 127:
        return int(m.group(1))
    return None


def labels_from_path(rel: str, pattern: str = DEFAULT_PATTERN, regex: re.Pattern | None = None) -> dict:
    """Labels of one file from its path relative to the folder (``Flute/Fl_C4_ff.wav``): the pattern's fields,
    then pitch and dynamics tokens of the file name; ``pitch`` is absent when nothing names it."""
    regex = regex or pattern_regex(pattern)
    parts = Path(rel).with_suffix("").as_posix().split("/")
    depth = pattern.count("/") + 1
    lab: dict = {}
    m = regex.fullmatch("/".join(parts[-depth:])) if len(parts) >= depth else None
    if m:
        lab = {k: v for k, v in m.groupdict().items() if v}
    if "pitch" in lab:
        p = pitch_token(lab["pitch"])
        if p is None:
            raise ValueError(f"{{pitch}} field {lab['pitch']!r} is neither a pitch name (C4, F#3) nor a MIDI number")
        lab["pitch"] = p
    if "dynamics" in lab:
        lab["dynamics"] = DYNAMICS_TOKENS.get(lab["dynamics"].lower(), lab["dynamics"])
    tokens = [t for t in re.split(r"[-_.\s]+", Path(rel).stem) if t]
    if "pitch" not in lab:
        found = [p for p in (pitch_token(t) for t in tokens) if p is not None]
        named = [p for t in tokens if _PITCH_TOKEN.fullmatch(t) and (p := pitch_token(t)) is not None]
        if named:  # a pitch name beats a bare number (take numbers, velocities)
            lab["pitch"] = named[0]
        elif len(found) == 1:
            lab["pitch"] = found[0]
    if "dynamics" not in lab:
        dyn = [DYNAMICS_TOKENS[t.lower()] for t in tokens if t.lower() in DYNAMICS_TOKENS and len(t) > 1]
        if dyn:
            lab["dynamics"] = dyn[0]
    if "instrument" not in lab and len(parts) > 1:
        lab["instrument"] = parts[-2]
    return lab


def read_label_csv(src: Path) -> tuple[dict[str, dict], Path | None]:
    """Labels from the first CSV of ``src`` with a file column: ``({relative path or name: labels}, csv)``.
    A row whose pitch cannot be read gets ``{"error": ...}``."""
    for path in sorted(src.glob("*.csv")):
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            cols = {c.strip().lower(): c for c in reader.fieldnames or [] if c}
            key_col = next((cols[c] for c in _FILE_COLUMNS if c in cols), None)
            if key_col is None:
                continue
            labels = {}
            for i, row in enumerate(reader, start=2):
                key = (row.get(key_col) or "").strip().replace("\\", "/")
                if not key:
                    continue
                lab = {k: (row.get(cols[k]) or "").strip() for k in ("instrument", "family", "style", "dynamics",
                                                                     "pitch") if k in cols}
                lab = {k: v for k, v in lab.items() if v}
                if "pitch" in lab:
                    p = pitch_token(lab["pitch"].replace(".0", ""))
                    if p is None:
                        labels[key] = {"error": f"{path.name}, line {i}: pitch {lab['pitch']!r} is neither a "
                                                "pitch name (C4, F#3) nor a MIDI number 0-127"}
                        continue
                    lab["pitch"] = p
                if "dynamics" in lab:
                    lab["dynamics"] = DYNAMICS_TOKENS.get(lab["dynamics"].lower(), lab["dynamics"])
                labels[key] = lab
            return labels, path
    return {}, None


# ------------------------------------------------------------------------------------------ pitch


@dataclass
class PitchEstimate:
    """pYIN's reading of one note: ``midi`` (rounded median voiced f0), ``hz``, ``voiced`` (fraction of voiced
    frames), ``prob`` (mean voiced probability), ``spread`` (std of the voiced f0 in semitones), ``reason``
    (why it is unsure, "" when sure)."""

    midi: int | None
    hz: float
    voiced: float
    prob: float
    spread: float
    reason: str

    @property
    def unsure(self) -> bool:
        return bool(self.reason)


def estimate_pitch(y: np.ndarray, sr: int, seconds: float = 2.0) -> PitchEstimate:
    """pYIN over the first ``seconds`` of ``y [N]`` (C1..C8); ``midi`` is None when no frame is voiced."""
    import librosa

    target = 22050
    y = y[: int(seconds * sr)]
    if sr != target:
        y, sr = librosa.resample(y, orig_sr=sr, target_sr=target, res_type="soxr_hq"), target
    f0, voiced, prob = librosa.pyin(y, fmin=librosa.note_to_hz("C1"), fmax=librosa.note_to_hz("C8"), sr=sr,
                                    frame_length=2048, hop_length=512)
    ok = voiced & np.isfinite(f0)
    if not ok.any():
        return PitchEstimate(None, float("nan"), 0.0, float(np.nanmean(prob)) if len(prob) else 0.0, float("nan"),
                             "pYIN found no voiced frame")
    midi = librosa.hz_to_midi(f0[ok])
    med = float(np.median(midi))
    est = PitchEstimate(int(round(med)), float(librosa.midi_to_hz(med)), float(ok.mean()), float(prob[ok].mean()),
                        float(np.std(midi)), "")
    why = []
    if est.voiced < 0.5:
        why.append(f"only {est.voiced:.0%} of the frames voiced")
    if est.prob < 0.5:
        why.append(f"mean voiced probability {est.prob:.2f}")
    if est.spread > 0.5:
        why.append(f"f0 unstable (std {est.spread:.2f} semitones)")
    est.reason = "; ".join(why)
    return est


# ------------------------------------------------------------------------------------------ import


def _audio_files(src: Path, table: dict, table_path: Path | None, report: BuildReport) -> list[Path]:
    """The WAV/FLAC/AIFF files under ``src``, sorted; every other file (but the label CSV) and every CSV row
    whose file is missing is a skip in ``report``; no audio file at all -> ``DataError``."""
    files = sorted(p for p in src.rglob("*") if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in FOLDER_EXT]
    for p in files:
        if p.suffix.lower() not in FOLDER_EXT and p != table_path:
            report.skip(p.relative_to(src).as_posix(), f"not a WAV/FLAC/AIFF file (extension {p.suffix or 'none'!r})")
    if not audio:
        raise DataError(f"{src}: no WAV, FLAC or AIFF file found (searched every subfolder)")
    if table:
        found = {p.relative_to(src).as_posix() for p in audio} | {p.name for p in audio}
        for key in table:
            if key not in found:
                report.skip(key, f"listed in {table_path.name} but missing from the folder")
    return audio


def _note_labels(rel: str, file_name: str, pattern: str, regex, table: dict, report: BuildReport) -> dict | None:
    """The labels of the note file ``rel``: from its name (``pattern``), overridden by its row of the label CSV;
    None (a skip in ``report``) when the name does not match or the CSV row is bad."""
    try:
        lab = labels_from_path(rel, pattern, regex)
    except ValueError as err:
        report.skip(rel, str(err))
        return None
    row = table.get(rel, table.get(file_name))
    if row is not None:
        if "error" in row:
            report.skip(rel, row["error"])
            return None
        lab.update(row)  # the CSV beats the names
    return lab


def _read_note(p: Path, dst: Path, rel: str, checks: AudioChecks, report: BuildReport) -> tuple[np.ndarray, int] | None:
    """The samples ``y [N]`` and rate of a note: its earlier output ``dst`` if there (a damaged one is removed
    and made again from the source ``p``), else the source; conversions are warnings in ``report``, an
    unreadable file a skip (None)."""
    try:
        y, sr, conv = read_audio(dst if dst.is_file() else p, checks)
    except BadAudio as err:
        if not dst.is_file():
            report.skip(rel, str(err))
            return None
        dst.unlink()  # a damaged output of an earlier run: made again from the source
        try:
            y, sr, conv = read_audio(p, checks)
        except BadAudio as err2:
            report.skip(rel, str(err2))
            return None
    for c in conv:
        report.warn(rel, c)
    return y, sr


def _estimate_note_pitch(rel: str, y: np.ndarray, sr: int, unsure: str, estimates: list[dict],
                         report: BuildReport) -> int | None:
    """pYIN's MIDI pitch of a note ``y [N]`` with no pitch label (its reading appended to ``estimates``); None
    (a skip in ``report``) when no pitch is found, or it is unsure and ``unsure`` is "skip"."""
    est = estimate_pitch(y, sr)
    estimates.append({"file": rel, "midi": est.midi if est.midi is not None else "", "hz": round(est.hz, 2),
                      "voiced": round(est.voiced, 3), "prob": round(est.prob, 3),
                      "spread": round(est.spread, 3), "unsure": est.reason})
    if est.midi is None:
        report.skip(rel, f"no pitch: {est.reason}; name it in the file name (C4, 60) or a CSV")
        return None
    if est.unsure:
        msg = f"pitch {pitch_name(est.midi)} estimated by pYIN is unsure ({est.reason})"
        if unsure == "skip":
            report.skip(rel, msg)
            return None
        report.warn(rel, msg + "; check it or label the file")
    return est.midi


def _write_corpus(out: Path, src: Path, notes: list[Note], estimates: list[dict], pattern: str,
                  table_path: Path | None, seed: int) -> None:
    """The imported corpus's tables: the notes with their splits (``metadata.csv``), the pitch estimates, and
    ``corpus.json`` (where it came from)."""
    for n, s in zip(notes, assign_splits(notes, seed=seed), strict=True):
        n.split = s
    write_metadata(out, notes)
    if estimates:
        write_csv(out / "pitch_estimates.csv", estimates)
    write_json(out / "corpus.json", {"source": "folder", "from": str(src), "pattern": pattern,
                                     "labels": table_path.name if table_path else "names",
                                     "pitch_estimated": len(estimates)})


def import_folder(src: str | Path, out: str | Path, pattern: str = DEFAULT_PATTERN, unsure: str = "keep",
                  checks: AudioChecks = AudioChecks(), seed: int = 0, quiet: bool = False) -> BuildReport:
    """Import every WAV/FLAC/AIFF note under ``src`` into the corpus folder ``out`` (see the module text).

    ``unsure``: ``keep`` (default; the note is kept with its estimated pitch and named as a warning) or ``skip``
    (an unsure pitch estimate makes the note unusable)."""
    t0, src, out = time.time(), Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder; point it at the folder of your note files")
    if unsure not in ("keep", "skip"):
        raise DataError(f"--unsure: 'keep' or 'skip', got {unsure!r}")
    regex = pattern_regex(pattern)
    if out.resolve() == src.resolve() or src.resolve() in out.resolve().parents:
        raise DataError(f"--out {out}: must not lie inside the imported folder {src}")
    report = BuildReport(kind="import-folder")
    table, table_path = read_label_csv(src)
    audio = _audio_files(src, table, table_path, report)
    notes, estimates, seen = [], [], set()
    prog = Progress(len(audio), "import-folder", every=200, quiet=quiet)
    for p in audio:
        prog.update()
        rel = p.relative_to(src).as_posix()
        lab = _note_labels(rel, p.name, pattern, regex, table, report)
        if lab is None:
            continue
        name = Path(rel).with_suffix("").as_posix().replace("/", "-") + ".wav"
        if name in seen:
            report.skip(rel, f"another file has the same output name {name}")
            continue
        seen.add(name)
        dst = out / "wav" / name
        read = _read_note(p, dst, rel, checks, report)
        if read is None:
            continue
        y, sr = read
        if "pitch" not in lab:
            lab["pitch"] = _estimate_note_pitch(rel, y, sr, unsure, estimates, report)
            if lab["pitch"] is None:
                continue
        if dst.is_file():
            report.kept += 1
        else:
            write_wav(dst, y, sr)
            report.built += 1
        notes.append(Note(lab.get("instrument") or src.name, lab.get("family", ""), int(lab["pitch"]),
                          pitch_name(int(lab["pitch"])), lab.get("dynamics", ""), lab.get("style") or "ord", rel,
                          len(y) / sr, sr, "train", f"wav/{name}"))
    prog.close()
    if not notes:
        report.seconds = time.time() - t0
        report.write(out / "build_report.json")
        raise DataError(f"{src}: none of the {len(audio)} sound files could be used; the reasons are in "
                        f"{out / 'build_report.json'}")
    _write_corpus(out, src, notes, estimates, pattern, table_path, seed)
    report.seconds = time.time() - t0
    report.write(out / "build_report.json")
    return report
