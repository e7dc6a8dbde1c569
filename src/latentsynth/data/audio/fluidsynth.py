"""Render single notes from a General MIDI SoundFont with FluidSynth (offline, no audio driver).

Every instrument of :data:`INSTRUMENTS` is played over its tessitura at each dynamics (as a MIDI velocity),
in each playing style the GM set has as its own program (pizzicato and tremolo strings, muted trumpet).
A note is held for ``sustain`` seconds and followed by a ``release`` tail.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ...folders import write_json
from ...progress import Progress
from ..errors import DataError
from .corpus import (
    BuildReport,
    Note,
    assign_splits,
    assign_twin_splits,
    note_filename,
    pitch_name,
    shared_sounds,
    write_metadata,
    write_wav,
)

INSTALL_HINT = "install it with `apt-get install libfluidsynth3 fluid-soundfont-gm` (Debian/Ubuntu)"
SOUNDFONTS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
)
VELOCITY = {"pp": 30, "p": 50, "mf": 75, "f": 100, "ff": 125}


@dataclass(frozen=True)
class Instrument:
    abbr: str  # TinySOL abbreviation
    name: str
    family: str
    program: int  # GM program (0-based) of the ordinary style
    low: int  # tessitura, MIDI (inclusive)
    high: int
    styles: tuple[tuple[str, int], ...] = ()  # extra (style, GM program) pairs


_STRINGS = (("pizz", 45), ("trem", 44))  # Pizzicato Strings, Tremolo Strings
INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("Fl", "Flute", "Winds", 73, 60, 96),
    Instrument("Ob", "Oboe", "Winds", 68, 58, 91),
    Instrument("ClBb", "Clarinet in Bb", "Winds", 71, 50, 91),
    Instrument("Bn", "Bassoon", "Winds", 70, 34, 75),
    Instrument("ASax", "Alto Saxophone", "Winds", 65, 49, 80),
    Instrument("Hn", "Horn", "Brass", 60, 34, 77),
    Instrument("TpC", "Trumpet in C", "Brass", 56, 54, 84, (("mute", 59),)),  # Muted Trumpet
    Instrument("Tbn", "Trombone", "Brass", 57, 40, 72),
    Instrument("BTb", "Bass Tuba", "Brass", 58, 28, 65),
    Instrument("Vn", "Violin", "Strings", 40, 55, 96, _STRINGS),
    Instrument("Va", "Viola", "Strings", 41, 48, 88, _STRINGS),
    Instrument("Vc", "Violoncello", "Strings", 42, 36, 76, _STRINGS),
    Instrument("Cb", "Contrabass", "Strings", 43, 28, 67, _STRINGS),
    Instrument("Pno", "Piano", "Keyboards", 0, 21, 108),
    Instrument("Hp", "Harp", "Plucked Strings", 46, 24, 103),
    Instrument("Gtr", "Guitar", "Plucked Strings", 24, 40, 83),
)


def find_soundfont(path: str | Path | None = None) -> Path:
    """The SoundFont to use: ``path`` if given, else FluidR3_GM, else pretty-midi's TimGM6mb.sf2."""
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise DataError(f"{p}: SoundFont not found; give an existing .sf2 file or leave --soundfont out")
        return p
    for p in SOUNDFONTS:
        if p.is_file():
            return p
    try:
        import pretty_midi

        p = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
        if p.is_file():
            return p
    except ImportError:
        pass
    raise DataError(f"no General MIDI SoundFont found (looked for {SOUNDFONTS[0]}); {INSTALL_HINT}")


def plan(instruments: list[str] | None = None, dynamics: tuple[str, ...] = ("pp", "mf", "ff"),
         styles: bool = True) -> list[tuple[Instrument, str, int, int, str]]:
    """Every note to render: ``(instrument, style, program, midi, dynamics)``."""
    known = {i.abbr: i for i in INSTRUMENTS}
    for name in instruments or []:
        if name not in known:
            raise DataError(f"--instruments: unknown instrument {name!r}; choose from {', '.join(known)}")
    for d in dynamics:
        if d not in VELOCITY:
            raise DataError(f"--dynamics: unknown dynamics {d!r}; choose from {', '.join(VELOCITY)}")
    out = []
    for inst in INSTRUMENTS:
        if instruments and inst.abbr not in instruments:
            continue
        for style, program in (("ord", inst.program),) + (inst.styles if styles else ()):
            for midi in range(inst.low, inst.high + 1):
                out.extend((inst, style, program, midi, d) for d in dynamics)
    return out


class NoteSynth:
    """A FluidSynth instance that renders one note at a time to a mono float32 array."""

    def __init__(self, soundfont: Path, sample_rate: int = 22050, gain: float = 0.5) -> None:
        try:
            import fluidsynth
        except (ImportError, OSError) as err:
            raise DataError(f"FluidSynth is not available ({err}); {INSTALL_HINT}") from None
        self.sr = sample_rate
        self.synth = fluidsynth.Synth(gain=gain, samplerate=float(sample_rate),
                                      **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        self.sfid = self.synth.sfload(str(soundfont))
        if self.sfid < 0:
            raise DataError(f"{soundfont}: FluidSynth could not load this SoundFont; is it a valid .sf2 file?")

    def has_program(self, program: int) -> bool:
        return self.synth.sfpreset_name(self.sfid, 0, program) is not None

    def preset_name(self, program: int) -> str:
        return self.synth.sfpreset_name(self.sfid, 0, program) or f"program {program}"

    def note(self, program: int, midi: int, velocity: int, sustain: float, release: float) -> np.ndarray:
        """Render ``[round((sustain + release) * sr)]`` samples of one note, starting from silence."""
        s = self.synth
        s.program_select(0, self.sfid, 0, program)
        s.noteon(0, midi, velocity)
        on = s.get_samples(int(round(sustain * self.sr)))
        s.noteoff(0, midi)
        tail = s.get_samples(int(round(release * self.sr)))
        s.all_sounds_off(0)
        s.get_samples(256)  # flush the voices
        stereo = np.concatenate([on, tail]).reshape(-1, 2).astype(np.float32) / 32768.0
        return stereo.mean(axis=1)

    def close(self) -> None:
        self.synth.delete()


def render_corpus(
    out: str | Path,
    soundfont: str | Path | list[str | Path] | tuple[str | Path, ...] | None = None,
    instruments: list[str] | None = None,
    dynamics: tuple[str, ...] = ("pp", "mf", "ff"),
    sample_rate: int = 22050,
    sustain: float = 1.5,
    release: float = 0.5,
    styles: bool = True,
    seed: int = 0,
    quiet: bool = False,
) -> BuildReport:
    """Render the note corpus into ``out`` (``wav/``, ``metadata.csv``, ``build_report.json``).

    Existing WAVs (from an interrupted run) are kept; silent notes and programs missing from the SoundFont
    are skipped and listed in the report. Several SoundFonts make one corpus of several sound sources: each
    renders every note into ``wav/<soundfont stem>/`` and the *twins* (the same instrument, style, pitch and
    dynamics from each source) share one split (:func:`~.corpus.assign_twin_splits`), so a test note's twin
    from another source is never trained on.
    """
    t0 = time.time()
    out = Path(out)
    fonts = list(soundfont) if isinstance(soundfont, (list, tuple)) else [soundfont]
    sf2s = [find_soundfont(f) for f in fonts] if fonts else [find_soundfont(None)]
    todo = plan(instruments, tuple(dynamics), styles)
    report = BuildReport(kind="render")
    notes: list[Note] = []
    prog = Progress(len(todo) * len(sf2s), "render", every=250, quiet=quiet)
    try:
        for sf2 in sf2s:
            _render_source(out, sf2, todo, sample_rate, sustain, release, len(sf2s) > 1, report, notes, prog)
    finally:
        prog.close()
    splits = assign_splits(notes, seed=seed) if len(sf2s) == 1 else assign_twin_splits(notes, seed=seed)
    for n, split in zip(notes, splits, strict=True):
        n.split = split
    write_metadata(out, notes)
    shared = shared_sounds([n.instrument for n in notes], [n.source_file for n in notes])
    for src in sorted(shared):  # one preset under several labels: the instrument probe does not count them
        insts = sorted({n.instrument for n in notes if n.source_file == src})
        report.warn(src, f"one preset renders {', '.join(insts)}: those notes sound the same at one pitch, so "
                         "their instrument labels are not audible (timbre probes leave them out)")
    write_json(out / "corpus.json", {"source": "render", "soundfont": ", ".join(map(str, sf2s)),
                                     "sample_rate": sample_rate,
                                     "dynamics": list(dynamics), "sustain": sustain, "release": release})
    report.seconds = time.time() - t0
    report.write(out / "build_report.json")
    return report


def _render_source(out: Path, sf2: Path, todo: list, sample_rate: int, sustain: float, release: float,
                   subfolder: bool, report: BuildReport, notes: list[Note], prog: Progress) -> None:
    """Render the notes of ``todo`` from one SoundFont, appending to ``notes`` and ``report``."""
    synth = NoteSynth(sf2, sample_rate)
    try:
        for inst, style, program, midi, dyn in todo:
            name = note_filename(inst.abbr, style, midi, dyn)
            rel = f"wav/{sf2.stem}/{name}" if subfolder else f"wav/{name}"
            prog.update()
            if not synth.has_program(program):
                report.skip(name, f"program {program} is not in {sf2.name}")
                continue
            dst = out / rel
            if dst.is_file():
                try:
                    info = sf.info(dst)
                    dur, report.kept = info.frames / info.samplerate, report.kept + 1
                except RuntimeError:
                    dst.unlink()
            if not dst.is_file():
                y = synth.note(program, midi, VELOCITY[dyn], sustain, release)
                if np.abs(y).max() < 1e-3:
                    report.skip(name, "silent: the SoundFont has no sample for this pitch")
                    continue
                write_wav(dst, y, sample_rate)
                dur, report.built = len(y) / sample_rate, report.built + 1
            notes.append(Note(inst.abbr, inst.family, midi, pitch_name(midi), dyn, style,
                              f"{sf2.name}:{synth.preset_name(program)}", dur, sample_rate, "train", rel))
            if len(notes) % 500 == 0:
                write_metadata(out, notes)
    finally:
        synth.close()
