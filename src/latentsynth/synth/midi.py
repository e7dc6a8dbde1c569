"""Standard MIDI files rendered with a harmonic model's timbre (``latentsynth synth midi MODEL song.mid``).

The file is read by ``pretty_midi`` (note times in seconds with every tempo change applied). Each note is one
voice: the model's harmonic parameters at the note's pitch, rendered by :func:`~latentsynth.dsp.harmonic.
additive_synth` from the note's onset (sample-exact) to its end plus a release tail, then mixed; drum tracks are
skipped. Per note:

* **pitch**: the MIDI note number (pitch bends are not applied);
* **velocity** -> the model's ``dynamics`` label when it has one (the vocabulary's names ordered ppp..fff and the
  velocity mapped to the nearest), else a gain ``velocity / 127`` (``velocity="gain"`` forces the gain,
  ``"dynamics"`` the label);
* **instrument** (label models): ``programs`` maps General MIDI program numbers (0-127) or track names to the
  model's instrument names; unmapped notes take ``instrument`` (default: the vocabulary's first);
* **timbre**: a latent point ``[d]``, a preset (an instrument name or a training note's name of the model's code
  sample: the mean of its codes) or a path file, held, swept over each note (``sweep="note"``) or over the whole
  piece (``sweep="piece"``);
* **envelope**: a 5 ms raised-cosine attack, the decoded level while the key is held, then an exponential release
  (-60 dB after ``release`` seconds) that is kept in full (the output runs to the last tail's end).

The mix is scaled down only if it would clip (:func:`~latentsynth.dsp.harmonic.safe_peak`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dsp.harmonic import additive_synth, safe_peak
from ..models.conditioning import LABELS
from .engine import FADE_SECONDS, Synth
from .pathfile import PathFile

SWEEPS = ("none", "note", "piece")
VELOCITY = ("auto", "dynamics", "gain")
DYNAMICS_ORDER = ("ppp", "pp", "p", "mp", "mf", "f", "ff", "fff")


class MidiError(ValueError):
    """A MIDI file (or a rendering option) that cannot be rendered: unreadable, no notes, drums only."""


@dataclass(frozen=True)
class Note:
    """One note of the file: times in seconds, MIDI pitch and velocity, GM program and track name."""

    start: float
    end: float
    pitch: int
    velocity: int
    program: int
    track: str


def read_midi(path: str | Path) -> list[Note]:
    """The pitched notes of a standard MIDI file, sorted by onset; :class:`MidiError` (naming the file) for a
    missing, unreadable or empty file, or one with drum notes only."""
    import pretty_midi

    path = Path(path)
    if not path.is_file():
        raise MidiError(f"{path}: no such MIDI file")
    try:
        pm = pretty_midi.PrettyMIDI(str(path))
    except Exception as err:  # mido / pretty_midi raise many kinds (OSError, EOFError, KeyError, ValueError...)
        raise MidiError(f"{path}: not a readable standard MIDI file ({type(err).__name__}: {err}); export it "
                        "again as a type 0 or 1 .mid from your sequencer") from None
    notes, drums = [], 0
    for inst in pm.instruments:
        if inst.is_drum:
            drums += len(inst.notes)
            continue
        for n in inst.notes:
            if n.end > n.start:
                notes.append(Note(float(n.start), float(n.end), int(n.pitch), int(n.velocity), int(inst.program),
                                  inst.name or ""))
    if not notes:
        what = f"only drum notes ({drums}, channel 10), which a pitched model cannot play" if drums else "no notes"
        raise MidiError(f"{path}: the file has {what}; give a file with pitched notes")
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def timbre_codes(synth: Synth, timbre: str | Path | list[float] | Tensor | None) -> Tensor:
    """The timbre as codes ``[P, d]``: a point ``[d]`` (P = 1), a path file (its codes), a preset name (an
    instrument or a training note of the code sample: the mean of its codes), or None (the mean of all the
    training codes, or the origin without a code sample)."""
    from .engine import SynthError

    d = synth.latent_dim
    if timbre is None:
        return (synth.codes.codes.mean(0) if synth.codes is not None else torch.zeros(d))[None]
    if isinstance(timbre, (list, tuple, Tensor)):
        z = torch.as_tensor(timbre, dtype=torch.float32)
        if z.numel() == 0 or z.numel() % d or not bool(torch.isfinite(z).all()):
            raise SynthError(f"timbre: a point needs {d} finite numbers, got {z.numel()}")
        return z.reshape(-1, d)
    text = str(timbre)
    if text.endswith(".json") or Path(text).is_file():
        pf = PathFile.read(text)
        if pf.latent_dim != d:
            raise SynthError(f"{text}: latent_dim {pf.latent_dim} does not match the model's {d}")
        return pf.z
    cs = synth.codes
    if cs is None:
        raise SynthError(f"timbre: {text!r} is a preset name, but this model folder has no code sample "
                         "(codes.safetensors); give a point or a path file")
    names = synth.info.vocab.get("instrument") or []
    if text in names:
        return cs.codes[cs.labels[:, LABELS.index("instrument")] == names.index(text)].mean(0, keepdim=True)
    if text in cs.names:
        return cs.codes[cs.note == cs.names.index(text)].mean(0, keepdim=True)
    example = cs.names[0] if cs.names else "-"
    raise SynthError(f"timbre: {text!r} is neither a path file nor a preset; presets are the instruments "
                     f"{', '.join(names) or '(none)'} or a training note name (e.g. {example})")


def _dynamics_index(synth: Synth, velocity: int) -> int | None:
    """The vocabulary's dynamics name nearest to a velocity (names ordered ppp..fff; unknown names in their
    vocabulary order), or None when the model is not conditioned on dynamics."""
    cond = synth.model.conditioning
    names = synth.info.vocab.get("dynamics") or []
    if cond is None or "dynamics" not in cond.labels or len(names) < 1:
        return None
    known = [n for n in names if n in DYNAMICS_ORDER]
    order = sorted(known, key=DYNAMICS_ORDER.index) if len(known) == len(names) else list(names)
    level = velocity / 127 * (len(order) - 1)
    return names.index(order[min(int(round(level)), len(order) - 1)])


def _path_at(codes: Tensor, u: Tensor) -> Tensor:
    """Codes ``[P, d]`` read at positions ``u [T]`` in [0, 1] along the path (linear between points)."""
    if len(codes) == 1:
        return codes.expand(len(u), -1)
    pos = u.clamp(0, 1) * (len(codes) - 1)
    i0 = pos.floor().long().clamp(max=len(codes) - 2)
    w = (pos - i0)[:, None]
    return codes[i0] * (1 - w) + codes[i0 + 1] * w


def render_notes(synth: Synth, notes: list[Note], timbre=None, sweep: str = "none", velocity: str = "auto",
                 instrument: str | None = None, programs: dict[str | int, str] | None = None,
                 release: float = 0.3, seed: int = 0) -> np.ndarray:
    """Mix of ``notes`` (see module doc) -> audio ``[samples]`` float32 at the model's sample rate."""
    from .engine import SynthError

    if not synth.model.harmonic:
        raise SynthError(f"{synth.model.cfg.name}: MIDI rendering plays a harmonic model (additive synthesis); "
                         "this model has no harmonic decoder")
    if sweep not in SWEEPS:
        raise SynthError(f"sweep: one of {', '.join(SWEEPS)}, got {sweep!r}")
    if velocity not in VELOCITY:
        raise SynthError(f"velocity: one of {', '.join(VELOCITY)}, got {velocity!r}")
    if not 0 <= release <= 30:
        raise SynthError(f"release: seconds between 0 and 30, got {release}")
    if not notes:
        raise MidiError("notes: nothing to render")
    spec, sr, hop = synth.spec, synth.spec.sample_rate, synth.spec.hop_length
    codes = timbre_codes(synth, timbre)
    programs = {str(k): v for k, v in (programs or {}).items()}
    total_end = max(n.end for n in notes) + release
    out = np.zeros(int(math.ceil(total_end * sr)) + hop, dtype=np.float64)
    fade_n = max(1, int(FADE_SECONDS * sr))
    g = torch.Generator().manual_seed(seed)
    cache: dict[tuple, tuple[Tensor, Tensor, Tensor]] = {}
    groups: dict[tuple[int, int], list[tuple[Note, Tensor, Tensor, Tensor, float]]] = {}
    for note in notes:
        held = note.end - note.start
        n = max(int(round((held + release) * sr)), fade_n * 2)
        t = n // hop + 2  # frames covering the note (frame i centred at sample i * hop)
        c, dyn = None, None
        if synth.model.conditioned:
            name = programs.get(str(note.program)) or programs.get(note.track) or instrument
            dyn = _dynamics_index(synth, note.velocity) if velocity != "gain" else None
            if velocity == "dynamics" and dyn is None:
                raise SynthError(f"velocity: {synth.model.cfg.name} is not conditioned on dynamics; use gain")
            c = synth.labels(1, float(note.pitch), instrument=name)
            if dyn is not None:
                c[:, LABELS.index("dynamics")] = float(dyn)
        gain = note.velocity / 127 if dyn is None else 1.0  # velocity as a gain unless it chose a dynamics label
        if sweep == "none" or len(codes) == 1:  # one timbre for the whole note: decode one frame (cached)
            key = (None if c is None else tuple(c[0].tolist()),)
            if key not in cache:
                cache[key] = synth.harmonic_params(codes[:1], c)
            f0, amps, noise = (v.expand(t, *v.shape[1:]) for v in cache[key])
        else:
            times = note.start + torch.arange(t, dtype=torch.float64) * (hop / sr)
            u = torch.linspace(0, 1, t) if sweep == "note" else (times / max(total_end, 1e-9)).float()
            f0, amps, noise = synth.harmonic_params(_path_at(codes, u).contiguous(),
                                                    None if c is None else c.expand(t, -1))
        groups.setdefault((n, note.pitch), []).append((note, f0, amps, noise, gain))
    for (n, _), group in groups.items():  # notes of one length and pitch render as one batch
        f0, amps, noise = (torch.stack([item[i] for item in group]) for i in (1, 2, 3))
        ys = additive_synth(f0, amps, noise, spec, length=n, generator=g).double()  # [G, n]
        k = torch.arange(n, dtype=torch.float64)
        attack = torch.clamp(k / fade_n, max=1.0)
        end_fade = torch.clamp((n - k) / fade_n, max=1.0)
        shape = (0.5 - 0.5 * torch.cos(math.pi * attack)) * (0.5 - 0.5 * torch.cos(math.pi * end_fade))
        for (note, _, _, _, gain), y in zip(group, ys, strict=True):
            held_n = int(round((note.end - note.start) * sr))
            env = shape.clone()
            if release > 0:
                env[held_n:] *= torch.pow(10.0, -3.0 * (k[held_n:] - held_n) / (release * sr))  # -60 dB at its end
            onset = int(round(note.start * sr))
            out[onset:onset + n] += (y * env * gain).numpy()[:len(out) - onset]
    y = torch.from_numpy(out[:int(math.ceil(total_end * sr))]).float()
    return safe_peak(y).numpy()


def render_midi(synth: Synth, midi: str | Path, **options) -> np.ndarray:
    """A standard MIDI file -> audio ``[samples]`` (float32, the model's sample rate); ``options`` as
    :func:`render_notes`."""
    return render_notes(synth, read_midi(midi), **options)


def parse_programs(items: list[str] | None) -> dict[str, str]:
    """``["0=Fl", "Trumpet=TpC"]`` (GM program number or track name = instrument name) -> mapping."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise MidiError(f"--program {item!r}: expected PROGRAM=INSTRUMENT (a GM program 0-127 or a track name, "
                            "then one of the model's instruments), e.g. 40=Vc")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


__all__ = ["DYNAMICS_ORDER", "MidiError", "Note", "SWEEPS", "VELOCITY", "parse_programs", "read_midi",
           "render_midi", "render_notes", "timbre_codes"]
