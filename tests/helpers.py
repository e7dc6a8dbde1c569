"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path)."""

import gzip
import struct
from pathlib import Path

import librosa
import numpy as np

from latentsynth.data.audio import corpus as C


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array in IDX format (the independent writer used by the tests)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


def tiny_overrides(data_dir: Path, **extra) -> list[str]:
    """Overrides for a fast real-data run: 1,000 training images, small nets."""
    items = {
        "data.data_dir": str(data_dir), "data.train_subset": 1000, "data.val_size": 500,
        "data.batch_size": 100, "model.network.hidden": "[64]", "model.network.channels": "[8, 16]",
        "train.max_epochs": 2, "train.eval_iw_samples": 5, "train.eval_mmd_samples": 200,
    }
    items.update(extra)
    return [f"{k}={v}" for k, v in items.items()]


NOTE_SR = 44100  # rate of the synthetic corpus; prepare resamples to 22,050 Hz


def harmonic(f0: float, seconds: float, sr: int = NOTE_SR, amp: float = 0.3, lead: float = 0.1) -> np.ndarray:
    """A decaying harmonic tone after ``lead`` seconds of silence, then 0.1 s of silence."""
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 8) if f0 * k < sr / 2)
    y = amp * y * np.minimum(1, t / 0.01) * np.exp(-2 * t) / 2
    return np.concatenate([np.zeros(int(lead * sr)), y, np.zeros(int(0.1 * sr))]).astype(np.float32)


def make_corpus(root: Path, per_instrument: int = 6) -> Path:
    notes = []
    for inst, fam, base in (("Fl", "Winds", 72), ("Vc", "Strings", 48), ("Tbn", "Brass", 45)):
        for i in range(per_instrument):
            pitch = base + 2 * i
            rel = f"wav/{C.note_filename(inst, 'ord', pitch, 'mf')}"
            seconds = 0.4 + 0.05 * i
            C.write_wav(root / rel, harmonic(librosa.midi_to_hz(pitch), seconds), NOTE_SR)
            notes.append(C.Note(inst, fam, pitch, C.pitch_name(pitch), "mf", "ord", "test", seconds + 0.2, NOTE_SR,
                                "train", rel))
    for n, s in zip(notes, C.assign_splits(notes, val=0.2, test=0.2), strict=False):
        n.split = s
    C.write_metadata(root, notes)
    return root


