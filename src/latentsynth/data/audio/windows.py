"""The one rule that cuts a note's frames into model items (windows of ``W`` consecutive frames).

A note ``[T, F]`` shorter than ``W`` is padded with its last frame; windows start every ``W`` frames
(non-overlapping, one hop of a latent path apart). ``cover_tail`` adds one window ending at the last frame, so
that every frame is covered (reconstructions average the frames covered twice); without it the tail of fewer
than ``W`` frames is dropped (an encoded path keeps one point per ``W`` frames, evenly spaced in time).
"""

from __future__ import annotations

import torch
from torch import Tensor


def pad_to_window(frames: Tensor, window: int) -> Tensor:
    """``frames [T, F]``, padded with the last frame to ``[max(T, window), F]``."""
    t = len(frames)
    return frames if t >= window else torch.cat([frames, frames[-1:].expand(window - t, -1)])


def window_starts(n_frames: int, window: int, cover_tail: bool = False) -> list[int]:
    """First frames of the windows of a note of ``n_frames >= window`` frames (see the module doc)."""
    starts = list(range(0, n_frames - window + 1, window))
    if cover_tail and starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return starts


def cut_windows(frames: Tensor, window: int, cover_tail: bool = False) -> tuple[Tensor, list[int]]:
    """``frames [T, F]`` -> items ``[K, W, F]`` and their starts in the padded note (see the module doc)."""
    frames = pad_to_window(frames, window)
    starts = window_starts(len(frames), window, cover_tail)
    return torch.stack([frames[s:s + window] for s in starts]), starts
