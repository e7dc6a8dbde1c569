"""Audio evaluation of a frame model on whole test notes.

For each test note the model reconstructs every frame (windows of ``W`` frames slid one window at a time, the
last one aligned to the note's end, overlaps averaged); the scores compare the note's magnitudes:

* ``spec_sc``: spectral convergence ``||S - S_hat||_F / ||S||_F`` of the note's linear magnitudes in the
  model's representation (STFT, mel or CQT bins), mean over notes;
* ``spec_lsd``: log-spectral distance in dB (RMS over bins, mean over frames and notes);
* ``audio_mrstft``: after Griffin-Lim (``latentsynth.dsp.invert``), the multi-resolution STFT distance
  between the original note audio and the reconstructed audio (first ``audio_notes`` notes); and as a floor
  the same distance for the original magnitudes through the same inversion, ``audio_mrstft_floor``.

Formulas: :mod:`latentsynth.dsp.metrics`. Notes are chosen evenly over the test split (fixed, so models are
compared on the same notes).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dsp import invert, log_spectral_distance, multi_resolution_stft_distance, spectral_convergence
from ..models import AutoEncoder
from ..models.conditioning import DbScale


@torch.no_grad()
def reconstruct_frames(model: AutoEncoder, frames: Tensor, window: int, labels: Tensor | None = None,
                       fit_steps: int = 0) -> Tensor:
    """Normalised frames of one note ``[T, F]`` (and the note's labels ``[4]``, used by a conditioned model)
    -> their reconstruction ``[T, F]`` (posterior means; ``fit_steps``: codes fitted to the frames by
    ``AutoEncoder.fit_codes``).

    Windows of ``window`` frames start every ``window`` frames, plus one ending at the last frame; frames
    covered twice are averaged. A note shorter than ``window`` is padded with its last frame.
    """
    from ..data.audio.windows import cut_windows, pad_to_window

    t = len(frames)
    frames = pad_to_window(frames, window)
    n = len(frames)
    x, starts = cut_windows(frames, window, cover_tail=True)  # [K, W, F]
    dev = next(model.parameters()).device
    c = labels.to(dev)[None].expand(len(starts), -1) if getattr(model, "conditioned", False) else None
    y = model.reconstruct(x.to(dev), c, fit_steps).cpu().reshape(len(starts), window, -1)
    out, count = torch.zeros_like(frames), torch.zeros(n, 1)
    for k, s in enumerate(starts):
        out[s:s + window] += y[k]
        count[s:s + window] += 1
    return (out / count)[:t]


def pick_notes(data, n: int, split: str = "test") -> list[int]:
    """``n`` note indices spread evenly over a split (all of them if it has fewer)."""
    from ..data.audio.corpus import spread

    return spread(data.note_indices(split), n)


def audio_note_picks(n_notes: int, audio_notes: int) -> list[int]:
    """Positions, among ``n_notes`` scored notes, of the ``audio_notes`` also scored as audio (evenly spaced)."""
    step = max(1, n_notes // audio_notes) if audio_notes else 1
    return list(range(0, n_notes, step))[:audio_notes]


def note_magnitudes(model: AutoEncoder, data, note: int, db: DbScale | None = None,
                    fit_steps: int = 0) -> tuple[Tensor, Tensor]:
    """Original and reconstructed linear magnitudes ``[F, T]`` of one note, in the data's representation
    (``db``: the data's :class:`~latentsynth.models.conditioning.DbScale`, made here if not given)."""
    db = db or DbScale.from_info(data.audio_info())
    x = data.note_tensor(note)  # [T, F] normalised
    y = reconstruct_frames(model, x, data.cfg.window, data.note_labels[note], fit_steps)
    return db.to_magnitude(x, data.spec).T, db.to_magnitude(y, data.spec).T


def note_audio(data, note: int) -> np.ndarray:
    """The note's audio as the frames were computed from it (same loading and trimming)."""
    from ..data.audio.frames import load_note

    return load_note(Path(data.cfg.corpus) / data.notes[note]["path"], data.prep)


@torch.no_grad()
def audio_scores(model: AutoEncoder, data, n_notes: int = 64, audio_notes: int = 8, n_iter: int = 32,
                 prefix: str = "test_", split: str = "test", fit_steps: int = 0) -> dict[str, float]:
    """Spectral scores on ``n_notes`` notes of ``split`` and audio scores after Griffin-Lim on ``audio_notes``
    of them (``fit_steps``: the codes of each note fitted to it first, ``AutoEncoder.fit_codes``)."""
    model.eval()
    notes = pick_notes(data, n_notes, split)
    db = DbScale.from_info(data.audio_info())
    sc, lsd, mr, floor = [], [], [], []
    with_audio = set(audio_note_picks(len(notes), audio_notes))
    for k, note in enumerate(notes):
        ref, est = note_magnitudes(model, data, note, db, fit_steps)
        sc.append(float(spectral_convergence(ref, est)))
        lsd.append(float(log_spectral_distance(ref, est)))
        if k in with_audio:
            y = torch.from_numpy(note_audio(data, note))[None]
            rec = invert(est[None], data.spec, n_iter=n_iter, length=y.shape[1])
            ora = invert(ref[None], data.spec, n_iter=n_iter, length=y.shape[1])
            mr.append(float(multi_resolution_stft_distance(y, rec)[0]))
            floor.append(float(multi_resolution_stft_distance(y, ora)[0]))
    res = {"spec_sc": float(np.mean(sc)), "spec_lsd": float(np.mean(lsd)), "audio_notes": len(notes),
           "audio_mrstft": float(np.mean(mr)) if mr else None,
           "audio_mrstft_floor": float(np.mean(floor)) if floor else None}
    return {prefix + k: v for k, v in res.items()}


def note_scores(model: AutoEncoder, data, fit_steps: int = 0) -> dict[str, float]:
    """Every note score of a frame model (the keys of ``metrics.json``): :func:`audio_scores` on the test notes
    (``test_*``) and, when the data has a held-out-pitch split, on its notes (``test_pitch_*``, no audio); with
    ``fit_steps`` also the spectral scores with codes fitted to each note (``test_fit_*``, ``test_pitch_fit_*``)."""
    out: dict[str, float] = {}
    # held-out pitches: notes at pitches never trained on for their instrument (spectral scores only)
    splits = [("test", "test_", 8)] + ([("pitch", "test_pitch_", 0)] if data.pitch is not None else [])
    for split, prefix, audio_notes in splits:
        out.update(audio_scores(model, data, audio_notes=audio_notes, prefix=prefix, split=split))
        if fit_steps:  # what the decoder can do given good codes
            fitted = audio_scores(model, data, audio_notes=0, prefix=prefix + "fit_", split=split, fit_steps=fit_steps)
            out.update({k: v for k, v in fitted.items() if k.endswith(("spec_sc", "spec_lsd"))})
    return out


AUDIO_VERSIONS = ("original", "reconstruction", "oracle")  # the WAVs written per note by write_note_audio


@torch.no_grad()
def write_note_audio(model: AutoEncoder, data, notes: list[int], folder: str | Path, n_iter: int = 64) -> list[dict]:
    """For each note: ``<stem>-original.wav`` (the note as analysed), ``<stem>-reconstruction.wav`` (the
    model's magnitudes through Griffin-Lim) and ``<stem>-oracle.wav`` (the original magnitudes through the same
    inversion); returns per note its stem, split, SC, and the MR-STFT of reconstruction and oracle."""
    from ..dsp.audiofile import write_wav

    folder, rows = Path(folder), []
    db = DbScale.from_info(data.audio_info())
    for k in notes:
        stem = Path(data.notes[k]["path"]).stem.replace("#", "s")
        y = note_audio(data, k)
        ref, est = note_magnitudes(model, data, k, db)
        rec = invert(est[None], data.spec, n_iter=n_iter, length=len(y))[0]
        ora = invert(ref[None], data.spec, n_iter=n_iter, length=len(y))[0]
        for what, sig in zip(AUDIO_VERSIONS, (y, rec.numpy(), ora.numpy()), strict=True):
            write_wav(folder / f"{stem}-{what}.wav", sig, data.spec.sample_rate)
        yt = torch.from_numpy(y)[None]
        rows.append({"stem": stem, "split": data.note_split[k], "sc": float(spectral_convergence(ref, est)),
                     "mrstft": float(multi_resolution_stft_distance(yt, rec[None])[0]),
                     "mrstft_oracle": float(multi_resolution_stft_distance(yt, ora[None])[0])})
    return rows


def plot_notes(model: AutoEncoder, data, notes: list[int], path: str | Path, title: str = "") -> Path:
    """Original and reconstructed dB spectrograms of ``notes`` side by side (one row per note)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import save_figure

    db = DbScale.from_info(data.audio_info())
    fig, axes = plt.subplots(len(notes), 2, figsize=(7, 1.9 * len(notes)), squeeze=False)
    for row, note in enumerate(notes):
        x = db.to_db(data.note_tensor(note)).T
        y = db.to_db(reconstruct_frames(model, data.note_tensor(note), data.cfg.window, data.note_labels[note])).T
        for col, (img, what) in enumerate(((x, "original"), (y, "reconstruction"))):
            ax = axes[row, col]
            ax.imshow(img.numpy(), origin="lower", aspect="auto", cmap="magma", vmin=float(x.max()) - 80,
                      vmax=float(x.max()), interpolation="nearest")
            r = data.notes[note]
            ax.set_title(f"{r['instrument']} {r['pitch']} {r['dynamics']}: {what}", fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
    fig.suptitle(title or f"{model.cfg.name}: {data.cfg.representation} test notes", fontsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(path))
