"""A note recording becomes a latent path: the codes of all its frames, with its labels.

``encode_note(synth, wav)`` reads a sound file with the model's own analysis (same sample rate, trimming,
normalisation and spectrogram settings as its training corpus, all saved in the model folder), encodes each
item (frame or window) into a code, and returns a :class:`~.pathfile.PathFile`: ``codes [T, d]`` one hop apart,
and the pitch curve (the given or estimated pitch plus a harmonic model's per-frame detune estimate, so a
re-rendered note keeps its vibrato).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..data.audio.corpus import BadAudio
from ..data.audio.frames import PrepConfig, load_note
from ..data.audio.windows import cut_windows
from ..dsp.transforms import compress, magnitude
from ..models.conditioning import LABELS
from .engine import Synth
from .pathfile import PathFile


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
    labels: ``pitch`` is estimated from the audio when not given; unknown names raise ``LabelError``.
    ``fit_steps``: the encoder's codes refined on the note's reconstruction (``AutoEncoder.fit_codes``)."""
    try:
        y, x = note_frames(synth, path)
    except BadAudio as err:
        raise BadAudio(f"{path}: {err}") from None
    model, w = synth.model, synth.window
    if model.conditioned and pitch is None:
        pitch = round(estimate_pitch(y, synth.spec.sample_rate), 2)
    items, _ = cut_windows(x, w)  # [n, W, F]: the tail of fewer than W frames is dropped
    n = len(items)
    c = synth.labels(n, pitch, instrument, dynamics, style) if model.conditioned else None
    enc = model.fit_codes(items, c, fit_steps)
    curve = None
    if c is not None:
        curve = c[:, LABELS.index("pitch")] + (enc.detune if enc.detune is not None else 0.0)
    return PathFile.from_tensor(enc.z, pitch=curve, instrument=instrument, dynamics=dynamics, style=style,
                                meta={"generator": "note", "source": str(path), "frames": len(x),
                                      "seconds": round(len(y) / synth.spec.sample_rate, 4)})


def code_sample_note(synth: Synth, k: int) -> PathFile:
    """Training note ``k`` of the model's code sample as a path file: its sampled codes in corpus (time) order,
    its pitch and names."""
    cs = synth.codes
    m = cs.note == k
    row = cs.labels[m][0]
    names = {key: synth.info.vocab[key][int(row[j])] for j, key in ((1, "instrument"), (2, "dynamics"),
                                                                    (3, "style")) if synth.info.vocab.get(key)}
    return PathFile.from_tensor(cs.codes[m], pitch=float(row[0]), **names,
                                meta={"generator": "note", "source": cs.names[k]})


def render_path(synth: Synth, pf: PathFile, method: str = "auto", n_iter: int = 32, seed: int = 0,
                phase: float | None = None) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Audio of a path file, with the codes and labels actually rendered: ``(y [samples], z [T', d],
    c [T', 4])``. With ``duration`` the path is resampled to ``duration / hop`` points (by decoded arc length
    when ``constant_speed``)."""
    from ..latent.geodesic import constant_speed
    from ..latent.paths import resample_path
    from .engine import SynthError

    if pf.latent_dim != synth.latent_dim:
        raise SynthError(f"path: latent_dim {pf.latent_dim} does not match the model's {synth.latent_dim}")
    z = pf.z
    pitch = torch.tensor(pf.pitch, dtype=torch.float32) if isinstance(pf.pitch, list) else pf.pitch
    points = len(z) if pf.duration is None else max(2, math.ceil(pf.duration / synth.hop_seconds))
    c = synth.labels(len(z), pitch, pf.instrument, pf.dynamics, pf.style) if synth.model.conditioned else None
    if points != len(z) or pf.constant_speed:
        if pf.constant_speed and len(z) > 1:
            z = constant_speed(z, synth.decoded_distance_fn(c), points)
        else:
            z = resample_path(z, points) if len(z) > 1 else z.expand(points, -1).clone()
        if c is not None:
            c = resample_path(c, points) if len(c) > 1 else c.expand(points, -1).clone()
            c[:, 1:] = c[:, 1:].round()
    return synth.render(z, c, method, n_iter, seed, phase), z, c
