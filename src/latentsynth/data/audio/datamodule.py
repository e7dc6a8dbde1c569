"""Spectrogram frames as a Lightning data module: the audio counterpart of ``ImageDataModule``.

``data.name: frames`` in a run config trains on the frames of an audio corpus. On ``setup`` the corpus is
prepared into the frame cache (:func:`~latentsynth.data.audio.frames.prepare`: cached by settings, resumable),
split by note (the corpus ``split`` column, or instruments held out), and the dB frames are normalised with the
statistics of the training notes. Items are windows ``[W, F]`` of ``W = data.window`` consecutive frames of one
note (``[1, F]`` for single frames, the setting of Esling et al. 2018); the label is the note's label row ``[4]``
(pitch, instrument, dynamics, style: :data:`~latentsynth.models.conditioning.LABELS`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ...config import DataConfig
from ...dsp.transforms import NormStats, SpecConfig
from ...models.conditioning import LABELS, NAMED, AudioInfo
from ..errors import DataError
from ..loaders import SplitDataModule
from .frames import FrameIndex, FrameStore, PrepConfig, SplitConfig, prepare

SPLITS = ("train", "val", "test", "pitch")  # "pitch": notes at pitches held out for their instrument
# a cache whose frames (as float32) are larger than this many MiB is read lazily, batch by batch, from disk
IN_MEMORY_MB = float(os.environ.get("LATENTSYNTH_FRAMES_IN_MEMORY_MB", 2048))


class LazyFrames:
    """The normalised frames ``[N, F]`` of a cache, read from disk only when asked (slices, ``index_select``):
    what :class:`FrameWindows` indexes when the corpus does not fit the memory budget. Memory holds the rows of
    one batch; each DataLoader worker and DDP rank reads its own rows (:class:`~.frames.FrameStore`)."""

    def __init__(self, store: FrameStore, stats: NormStats, mode: str):
        self.store, self.stats, self.mode = store, stats, mode

    @property
    def shape(self) -> tuple[int, int]:
        return self.store.shape

    def __len__(self) -> int:
        return self.store.shape[0]

    def _norm(self, a: np.ndarray) -> Tensor:
        return self.stats.normalize(torch.from_numpy(a.astype(np.float32)), self.mode)

    def __getitem__(self, key: slice) -> Tensor:
        return self._norm(self.store[key])

    def index_select(self, dim: int, index: Tensor) -> Tensor:
        if dim != 0:
            raise ValueError("LazyFrames: rows only (dim=0)")
        return self._norm(self.store.take(index.numpy()))


class FrameWindows(Dataset):
    """Windows ``[W, F]`` of one split over a shared frame tensor ``frames [N, F]`` (normalised dB).

    ``starts [M]`` are the first rows of the windows, ``notes [M]`` their note indices; an item's label is its
    note's row of ``note_labels [n_notes, 4]`` (columns :data:`~latentsynth.models.conditioning.LABELS`:
    pitch, instrument, dynamics, style), what a conditioned model takes.
    """

    def __init__(self, frames: Tensor | LazyFrames, starts: np.ndarray, notes: np.ndarray, window: int,
                 note_labels: Tensor):
        self.frames, self.window, self.note_labels = frames, window, note_labels
        self.starts, self.notes = torch.as_tensor(starts, dtype=torch.long), torch.as_tensor(notes, dtype=torch.long)
        self._offsets = torch.arange(window)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        s = int(self.starts[i])
        return self.frames[s:s + self.window], self.note_labels[self.notes[i]]

    def __getitems__(self, idx: list[int] | Tensor) -> tuple[Tensor, Tensor]:
        """The windows ``[B, W, F]`` and labels ``[B, 4]`` of items ``idx`` (a list, or an int64 tensor as the
        training loader's batches are: taken as it is)."""
        index = idx if isinstance(idx, Tensor) else torch.from_numpy(np.asarray(idx, dtype=np.int64))  # 10x faster
        rows = self.starts.index_select(0, index)  # [B] (index_select: faster than advanced indexing)
        if self.window == 1:
            x = self.frames.index_select(0, rows).unsqueeze(1)
        else:
            rows = rows[:, None] + self._offsets  # [B, W]
            x = self.frames.index_select(0, rows.flatten()).unflatten(0, rows.shape)
        return x, self.note_labels.index_select(0, self.notes.index_select(0, index))  # [B, W, F], [B, 4]

    def as_tensor(self) -> Tensor:
        """Every window ``[M, W, F]``."""
        return self.__getitems__(list(range(len(self))))[0]

    def labels(self) -> Tensor:
        """The labels of every window ``[M, 4]``."""
        return self.note_labels[self.notes]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.window, self.frames.shape[1])


class FrameDataModule(SplitDataModule):
    """Train / validation / test windows of the frames of ``cfg.corpus`` (splits by note, never by frame).

    Validation and test use non-overlapping windows; training windows start every ``cfg.frame_hop`` frames.
    With ``cfg.pitch_test > 0`` the notes of some (instrument, pitch) pairs form a fourth split, ``pitch``
    (``self.pitch``: windows at pitches never trained on for that instrument), else ``self.pitch`` is None.
    After :meth:`setup`: ``notes`` (the metadata row of every note), ``note_split``, ``note_labels [n, 4]``,
    ``stats`` (:class:`~latentsynth.dsp.transforms.NormStats`), ``spec``, ``cache`` and :meth:`audio_info`.
    """

    def __init__(self, cfg: DataConfig, seed: int = 0):
        super().__init__()
        if cfg.kind != "frames":
            raise ValueError(f"data.name: FrameDataModule needs 'frames', got {cfg.name!r}")
        self.cfg, self.seed = cfg, seed
        self.train = self.val = self.test = self.pitch = None
        self.frames: Tensor | LazyFrames | None = None

    @classmethod
    def for_run(cls, cfg, data_dir: str | None = None) -> FrameDataModule:
        """The data of a run's config, set up; ``data_dir`` replaces the corpus folder (a moved corpus)."""
        dcfg = cfg.data.model_copy(update={"corpus": data_dir} if data_dir else {})
        data = cls(dcfg, cfg.train.seed)
        data.setup()
        return data

    @property
    def prep(self) -> PrepConfig:
        return PrepConfig(spec=SpecConfig(representation=self.cfg.representation))

    @property
    def splits(self) -> SplitConfig:
        return SplitConfig(holdout_instruments=tuple(self.cfg.holdout_instruments), seed=self.cfg.split_seed,
                           pitch_test=self.cfg.pitch_test)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.cfg.window, self.prep.spec.n_bins)

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        corpus = Path(self.cfg.corpus)
        if not (corpus / "metadata.csv").is_file():
            raise DataError(f"data.corpus: {corpus} is not an audio corpus (no metadata.csv); make one with "
                            "`latentsynth audio render OUT` or `latentsynth audio import-tinysol/import-nsynth`")
        self.cache = prepare(corpus, self.prep, self.cfg.cache_dir, self.splits, quiet=True)
        index = FrameIndex(self.cache, self.splits)
        self.stats: NormStats = index.stats
        self.spec = index.cfg.spec
        self.notes, self.note_split = index.notes, index.note_split
        self.vocab = {k: sorted({r[k] for r in self.notes}) for k in NAMED}
        self.note_labels = torch.tensor(
            [[float(r["pitch"])] + [float(self.vocab[k].index(r[k])) for k in NAMED] for r in self.notes],
            dtype=torch.float32).reshape(-1, len(LABELS))
        store = index.features
        if store.shape[0] * store.shape[1] * 4 <= IN_MEMORY_MB * 2**20:
            raw = torch.from_numpy(np.asarray(store, dtype=np.float32))  # [N, F] dB, all notes
            self.frames = self.stats.normalize(raw, self.cfg.normalize).contiguous()
        else:  # larger than the budget ($LATENTSYNTH_FRAMES_IN_MEMORY_MB): read batch by batch
            self.frames = LazyFrames(store, self.stats, self.cfg.normalize)
        for s in SPLITS:
            hop = self.cfg.frame_hop if s == "train" else self.cfg.window
            starts, note_ids, _ = index.windows(s, self.cfg.window, hop)
            if len(starts) == 0:
                if s == "pitch" and self.cfg.pitch_test == 0:
                    continue
                raise DataError(f"{self.cache}: the '{s}' split has no window of {self.cfg.window} frames; "
                                "use a larger corpus, a smaller data.window or other split settings")
            setattr(self, s, FrameWindows(self.frames, starts, note_ids, self.cfg.window, self.note_labels))

    def audio_info(self) -> AudioInfo:
        """What a model trained on these frames needs to make sound (saved in its folder)."""
        pitches = [int(r["pitch"]) for r, s in zip(self.notes, self.note_split, strict=True) if s == "train"]
        return AudioInfo(spec=self.spec, normalize=self.cfg.normalize, stats=self.stats, window=self.cfg.window,
                         vocab=self.vocab, pitch_range=(min(pitches), max(pitches)))

    def note_indices(self, split: str = "test") -> list[int]:
        """Indices of the notes of one split."""
        return [k for k, s in enumerate(self.note_split) if s == split]

    def note_tensor(self, note: int) -> Tensor:
        """All normalised frames of one note ``[T, F]``."""
        r = self.notes[note]
        s, n = int(r["frame_start"]), int(r["n_frames"])
        return self.frames[s:s + n]
