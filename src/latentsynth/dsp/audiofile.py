"""The one audio file writer: float signals -> 16-bit PCM WAV bytes or files, clipped to [-1, 1]."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """``y [N]`` (float, [-1, 1]; samples beyond are clipped) as the bytes of a 16-bit PCM WAV file."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(y, -1, 1), sr, subtype="PCM_16", format="WAV")
    return buf.getvalue()


def write_wav(path: str | Path, y: np.ndarray, sr: int) -> None:
    """Write ``y [N]`` (float, [-1, 1]; clipped) as a 16-bit PCM WAV, atomically."""
    from ..folders import atomic_write_bytes

    atomic_write_bytes(path, wav_bytes(y, sr))
