"""Import recorded note collections into the corpus format (:mod:`.corpus`).

* TinySOL / OrchideaSOL: a folder tree of WAVs (``Brass/Bass_Tuba/ordinario/BTb-ord-F#1-pp-N-N.wav``).
  Labels come from the metadata CSV when one is found in the folder (``TinySOL_metadata.csv``, any CSV
  with a ``Path`` column), else from the file names (``<instr>-<technique>-<pitch>-<dyn>[-...]``).
* NSynth: ``examples.json`` (keyed by ``note_str``) next to ``audio/<note_str>.wav``.

Each usable file is checked (:func:`.corpus.read_audio`) and written, mono 16-bit, to ``<out>/wav/``;
every other file is listed with its reason in ``<out>/build_report.json``.
"""

from __future__ import annotations

import csv
import json
import re
import time
from pathlib import Path

import soundfile as sf

from ...folders import write_json
from ...progress import Progress
from ..errors import DataError
from .corpus import (
    DYNAMICS,
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

AUDIO_EXT = {".wav", ".aif", ".aiff", ".flac", ".ogg"}
SOL_FAMILY = {"Brass": "Brass", "Strings": "Strings", "Winds": "Winds", "Keyboards": "Keyboards",
              "PluckedStrings": "Plucked Strings"}
NSYNTH_DYNAMICS = ((35, "pp"), (60, "p"), (85, "mf"), (110, "f"), (128, "ff"))  # velocity upper bounds
_PITCH = re.compile(r"[A-G][#b]?-?\d")


def _colname(fieldnames: list[str] | None, *prefixes: str) -> str | None:
    """The file's own name of the first column whose name starts with one of ``prefixes`` (header names vary by
    release; an exact name first: "Dynamics" before "Dynamics ID"), or None."""
    names = [k for k in fieldnames or [] if k]
    for p in prefixes:
        for k in names:
            if k.strip().lower() == p.lower():
                return k
    for p in prefixes:
        for k in names:
            if k.strip().lower().startswith(p.lower()):
                return k
    return None


def _col(row: dict[str, str], *prefixes: str) -> str:
    """Value (stripped) of the column :func:`_colname` names, "" when there is none."""
    k = _colname(list(row), *prefixes)
    return (row.get(k) or "").strip() if k else ""


def parse_sol_name(path: str | Path) -> dict[str, str | int]:
    """Labels from a TinySOL/OrchideaSOL file name and folders; raises ``ValueError`` naming what is missing.

    ``Brass/Bass_Tuba/ordinario/BTb-ord-F#1-pp-N-N.wav`` -> instrument ``BTb``, style ``ord``, pitch 30,
    dynamics ``pp``, family ``Brass``. Techniques may contain dashes (``pizz-lv``); the pitch token is found
    by its shape.
    """
    path = Path(path)
    tokens = path.stem.split("-")
    at = next((i for i, t in enumerate(tokens) if i >= 2 and _PITCH.fullmatch(t)), None)
    if at is None:
        raise ValueError("no pitch (like C4 or F#1) in the file name")
    dyn = tokens[at + 1] if at + 1 < len(tokens) and tokens[at + 1] in DYNAMICS else ""
    family = next((SOL_FAMILY[p] for p in path.parts[:-1] if p in SOL_FAMILY), "")
    return {"instrument": tokens[0], "style": "-".join(tokens[1:at]), "pitch": parse_pitch(tokens[at]),
            "dynamics": dyn, "family": family}


def _read_sol_csv(src: Path) -> dict[str, dict[str, str | int]]:
    """Labels from the metadata CSV in ``src`` (``{relative path: labels}``), or ``{}`` when there is none."""
    for csv_path in sorted(src.glob("*.csv")):
        with csv_path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if "Path" not in (reader.fieldnames or []):
                continue
            labels = {}
            id_col, name_col = _colname(reader.fieldnames, "Pitch ID"), _colname(reader.fieldnames, "Pitch")
            cols = " or ".join(repr(c) for c in dict.fromkeys((id_col, name_col)) if c) or "a 'Pitch ID' column"
            for i, row in enumerate(reader, start=2):
                key = (row["Path"] or "").strip().replace("\\", "/")
                pid = _col(row, "Pitch ID")
                try:
                    if pid:
                        value = float(pid)
                        if value != value or value != round(value):
                            labels[key] = {"error": f"{csv_path.name}, line {i}: {id_col!r} is {pid}, not a whole "
                                                    "MIDI number; fix the row"}
                            continue
                        pitch = int(value)
                    else:
                        pitch = parse_pitch(_col(row, "Pitch"))
                except ValueError:
                    got = " / ".join(repr(_col(row, c)) for c in dict.fromkeys((id_col, name_col)) if c)
                    labels[key] = {"error": f"{csv_path.name}, line {i}: no usable pitch in {cols} "
                                            f"(got {got or 'nothing'})"}
                    continue
                labels[key] = {
                    "instrument": _col(row, "Instrument (abbr"), "style": _col(row, "Technique (abbr"),
                    "pitch": pitch, "dynamics": _col(row, "Dynamics (", "Dynamics"),
                    "family": SOL_FAMILY.get(_col(row, "Family"), _col(row, "Family")),
                }
            return labels
    return {}


def _import_files(items: list[tuple[Path, str, dict]], out: Path, kind: str, checks: AudioChecks,
                  report: BuildReport, quiet: bool) -> list[Note]:
    """Check and copy ``(source file, output name, labels)`` items; returns the notes written."""
    notes, seen = [], set()
    prog = Progress(len(items), kind, every=500, quiet=quiet)
    for src, name, lab in items:
        prog.update()
        if name in seen:
            report.skip(lab["source_file"], f"duplicate output name {name}")
            continue
        seen.add(name)
        dst = out / "wav" / name
        if dst.is_file():
            try:
                info = sf.info(dst)
                y_len, sr = info.frames, info.samplerate
                report.kept += 1
            except RuntimeError:
                dst.unlink()
        if not dst.is_file():
            try:
                y, sr, conv = read_audio(src, checks)
            except BadAudio as err:
                report.skip(lab["source_file"], str(err))  # named as the import names every file: from its folder
                continue
            for c in conv:
                report.warn(lab["source_file"], c)
            write_wav(dst, y, sr)
            y_len, report.built = len(y), report.built + 1
        notes.append(Note(lab["instrument"], lab["family"], int(lab["pitch"]), pitch_name(int(lab["pitch"])),
                          lab["dynamics"], lab["style"], lab["source_file"], y_len / sr, sr,
                          lab.get("split", "train"), f"wav/{name}"))
        if len(notes) % 1000 == 0:
            write_metadata(out, notes)
    prog.close()
    return notes


def import_sol(src: str | Path, out: str | Path, checks: AudioChecks = AudioChecks(), seed: int = 0,
               quiet: bool = False, trust_csv: bool = False) -> BuildReport:
    """Import a TinySOL or OrchideaSOL folder ``src`` into the corpus folder ``out``.

    A file whose metadata-CSV pitch contradicts the pitch in its name is named in the report and skipped (one of
    the two labels is wrong); with ``trust_csv`` it is kept with the CSV's pitch and named as a warning."""
    t0, src, out = time.time(), Path(src), Path(out)
    if not src.is_dir():
        raise DataError(f"{src}: not a folder; point it at the unpacked TinySOL/OrchideaSOL folder")
    report = BuildReport(kind="import-tinysol")
    labels = _read_sol_csv(src)
    every = sorted(src.rglob("*"))
    dangling = set()
    for p in every:  # links whose target is gone: named (once), not silently passed over
        if p.is_symlink() and not p.exists():
            dangling.add(p.relative_to(src).as_posix())
            report.skip(p.relative_to(src).as_posix(), f"dangling link (to {p.readlink()}): its target is missing")
    files = [p for p in every if p.is_file() and p.suffix.lower() != ".csv"
             and "metadata" not in p.name.lower() and not p.name.startswith(".")]
    found = {p.relative_to(src).as_posix() for p in files}
    names = {p.name for p in files} | {Path(d).name for d in dangling}
    for key in labels:  # rows of the metadata CSV with no file (a dangling link is already named)
        if key and key not in found and key not in dangling and Path(key).name not in names:
            report.skip(key, "listed in the metadata CSV but missing from the folder")
    items = []
    for p in files:
        rel = p.relative_to(src).as_posix()
        lab = labels.get(rel) or next((v for k, v in labels.items() if k.endswith("/" + p.name)), None)
        if lab is not None and "error" not in lab:
            if not 0 <= int(lab["pitch"]) <= 127:
                report.skip(rel, f"pitch {lab['pitch']} in the metadata CSV is outside MIDI 0-127; fix the row")
                continue
            try:
                named = parse_sol_name(p)["pitch"]
            except ValueError:
                named = None
            if named is not None and named != lab["pitch"]:
                clash = f"pitch {lab['pitch']} in the metadata CSV contradicts the file name ({named})"
                if not trust_csv:
                    report.skip(rel, f"{clash}; fix one of them, or import with --trust-csv to keep the CSV's")
                    continue
                report.warn(rel, f"{clash}; the CSV's pitch is used (--trust-csv)")
        if lab is None:
            try:
                lab = parse_sol_name(p)
            except ValueError as err:
                report.skip(rel, f"{err}; not a note file (and not listed in the metadata CSV)")
                continue
            if labels and 0 <= int(lab["pitch"]) <= 127:
                report.warn(rel, f"not in the metadata CSV: labelled from its file name (instrument "
                                 f"{lab['instrument']}, pitch {lab['pitch']}, dynamics {lab['dynamics'] or '-'}, "
                                 f"style {lab['style'] or '-'})")
        if "error" in lab:
            report.skip(rel, lab["error"])
            continue
        if not lab["instrument"]:
            report.skip(rel, "no instrument label")
            continue
        if not 0 <= int(lab["pitch"]) <= 127:
            report.skip(rel, f"pitch {lab['pitch']} outside MIDI 0-127")
            continue
        lab = dict(lab, source_file=rel)
        stem = Path(p.name).stem
        items.append((p, f"{stem}.wav", lab))
    notes = _import_files(items, out, "import-tinysol", checks, report, quiet)
    for n, split in zip(notes, assign_splits(notes, seed=seed), strict=False):
        n.split = split
    write_metadata(out, notes)
    write_json(out / "corpus.json", {"source": "tinysol", "from": str(src), "labels": "csv" if labels else "names"})
    report.seconds = time.time() - t0
    report.write(out / "build_report.json")
    return report


def _nsynth_dynamics(velocity: int) -> str:
    return next(name for bound, name in NSYNTH_DYNAMICS if velocity < bound)


def import_nsynth(src: str | Path, out: str | Path, families: list[str] | None = None,
                  sources: list[str] | None = None, limit: int | None = None, split: str | None = None,
                  checks: AudioChecks = AudioChecks(), seed: int = 0, quiet: bool = False) -> BuildReport:
    """Import an NSynth split folder (``examples.json`` + ``audio/``) into the corpus folder ``out``.

    ``families`` / ``sources`` keep only those ``instrument_family_str`` / ``instrument_source_str`` values;
    ``limit`` keeps the first N notes (sorted by name). ``split`` (train/val/test) labels every note with
    that split; by default it is read from the folder name (``nsynth-valid`` -> val), else assigned.
    """
    t0, src, out = time.time(), Path(src), Path(out)
    meta_path = src / "examples.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: not found; point at an NSynth folder holding examples.json and audio/")
    try:
        examples = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{meta_path}: not valid JSON ({err}); re-download the NSynth archive") from None
    if not isinstance(examples, dict):
        raise DataError(f"{meta_path}: expected an object keyed by note_str")
    if split is None:
        split = next((s for k, s in (("train", "train"), ("valid", "val"), ("test", "test"))
                      if src.name.lower().endswith(k)), None)
    report = BuildReport(kind="import-nsynth")
    items = []
    for key in sorted(examples):
        ex = examples[key]
        try:
            fam, source = ex["instrument_family_str"], ex["instrument_source_str"]
            lab = {"instrument": ex["instrument_str"], "family": fam, "pitch": int(ex["pitch"]),
                   "dynamics": _nsynth_dynamics(int(ex["velocity"])), "style": source,
                   "source_file": f"audio/{ex.get('note_str', key)}.wav"}
        except (KeyError, TypeError, ValueError) as err:
            report.skip(f"examples.json[{key}]", f"missing or bad field {err}")
            continue
        if (families and fam not in families) or (sources and source not in sources):
            continue
        if split:
            lab["split"] = split
        wav = src / lab["source_file"]
        if not wav.is_file():
            report.skip(lab["source_file"], "listed in examples.json but the file is missing")
            continue
        items.append((wav, f"{key}.wav", lab))
        if limit and len(items) >= limit:
            break
    notes = _import_files(items, out, "import-nsynth", checks, report, quiet)
    if not split:
        for n, s in zip(notes, assign_splits(notes, seed=seed), strict=False):
            n.split = s
    write_metadata(out, notes)
    write_json(out / "corpus.json", {"source": "nsynth", "from": str(src)})
    report.seconds = time.time() - t0
    report.write(out / "build_report.json")
    return report
