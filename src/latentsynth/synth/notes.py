"""A note recording becomes a latent path: the codes of all its frames, with its labels.

``encode_note(synth, wav)`` reads a sound file with the model's own analysis (same sample rate, trimming,
normalisation and spectrogram settings as its training corpus, all saved in the model folder), encodes each
item (frame or window) into a code, and returns a :class:`~.pathfile.PathFile`: ``codes [T, d]`` one hop apart,
and the pitch curve (the given or estimated pitch plus a harmonic model's per-frame detune estimate, so a
re-rendered note keeps its vibrato).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..data.audio.corpus import BadAudio
from ..data.audio.frames import PrepConfig, load_note
from ..data.audio.windows import cut_windows
from ..dsp.transforms import compress, magnitude
from ..models.conditioning import LABELS
from .engine import Synth, SynthError
from .pathfile import PathFile
from .render import render_path  # noqa: F401 - its room is .render; re-exported for older callers


def estimate_pitch(y: np.ndarray, sr: int) -> float:
    """MIDI pitch of a note (median of librosa's YIN f0 over its frames); raises ``BadAudio`` if none."""
    import librosa

    f0 = librosa.yin(y, fmin=30.0, fmax=min(4200.0, sr / 2 - 1), sr=sr, frame_length=2048)
    f0 = f0[np.isfinite(f0) & (f0 > 0)]
    if len(f0) == 0:
        raise BadAudio("no pitch found; give it with --pitch")
    return float(librosa.hz_to_midi(np.median(f0)))


def note_frames(synth: Synth, path: str | Path) -> tuple[np.ndarray, torch.Tensor]:
    """The note's audio at the model's rate ``y [N]`` and its normalised frames ``[T, F]``."""
    y = load_note(path, PrepConfig(spec=synth.spec))
    db = torch.from_numpy(np.ascontiguousarray(compress(magnitude(y, synth.spec), synth.spec).T))
    return y, synth.model.db.from_db(db.float())


@torch.no_grad()
def encode_note(synth: Synth, path: str | Path, pitch: float | None = None, instrument: str | None = None,
                dynamics: str | None = None, style: str | None = None, fit_steps: int = 0) -> PathFile:
    """Encode a sound file into its latent path (see the module doc). A conditioned model needs the note's
    labels: ``pitch`` is estimated from the audio when not given; a name not given takes the first of the model's
    vocabulary (a choice among several is listed in ``meta["assumed"]``); unknown names raise ``LabelError``.
    ``fit_steps``: the encoder's codes refined on the note's reconstruction (``AutoEncoder.fit_codes``)."""
    try:
        y, x = note_frames(synth, path)
    except BadAudio as err:
        raise BadAudio(f"{path}: {err}") from None
    model, w = synth.model, synth.window
    if model.conditioned and pitch is None:
        pitch = round(estimate_pitch(y, synth.spec.sample_rate), 2)
    assumed = {}  # names not given: the first of the model's vocabulary, as the labels take it (said, recorded)
    if model.conditioned:
        given = {"instrument": instrument, "dynamics": dynamics, "style": style}
        for key, value in given.items():
            names = synth.info.vocab.get(key) or []
            if value is None and names:
                given[key] = names[0]
                if len(names) > 1 and key in model.cfg.model.conditioning.labels:  # said only if the model reads it
                    assumed[key] = names[0]
        instrument, dynamics, style = given["instrument"], given["dynamics"], given["style"]
    items, _ = cut_windows(x, w)  # [n, W, F]: the tail of fewer than W frames is dropped
    n = len(items)
    c = synth.labels(n, pitch, instrument, dynamics, style) if model.conditioned else None
    enc = model.fit_codes(items, c, fit_steps)
    curve = None
    if c is not None:
        curve = c[:, LABELS.index("pitch")] + (enc.detune if enc.detune is not None else 0.0)
    return PathFile.from_tensor(enc.z, pitch=curve, instrument=instrument, dynamics=dynamics, style=style,
                                meta={"generator": "note", "source": str(path), "frames": len(x),
                                      "seconds": round(len(y) / synth.spec.sample_rate, 4),
                                      **({"assumed": assumed} if assumed else {})}, model=synth.stamp())


def code_sample_note(synth: Synth, k: int) -> PathFile:
    """Training note ``k`` of the model's code sample as a path file: its sampled codes in corpus (time) order,
    its median pitch and its names (the one rule: the gallery, the study and the instrument play the same note).
    A note the sample lacks raises :class:`~.engine.SynthError`."""
    cs = synth.codes
    if cs is None or not 0 <= k < len(cs.names):
        n = 0 if cs is None else len(cs.names)
        raise SynthError(f"notes: index {k} is not one of the model's {n} training notes")
    m = cs.note == k
    if not bool(m.any()):
        raise SynthError(f"notes: training note {k} has no saved codes")
    pitch, names = note_labels(synth, m)
    return PathFile.from_tensor(cs.codes[m], pitch=pitch, **names, meta={"generator": "note", "source": cs.names[k]},
                                model=synth.stamp())


def note_labels(synth: Synth, m: torch.Tensor) -> tuple[float, dict[str, str | None]]:
    """The pitch (median) and names of the codes ``m [N]`` (a mask of one training note) of the code sample."""
    labels = synth.codes.labels[m]
    return float(labels[:, LABELS.index("pitch")].median()), synth.info.names_of(labels[0])
