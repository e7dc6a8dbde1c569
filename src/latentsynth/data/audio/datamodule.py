"""Spectrogram frames as a Lightning data module: the audio counterpart of ``ImageDataModule``.

``data.name: frames`` in a run config trains on the frames of an audio corpus. On ``setup`` the corpus is
prepared into the frame cache (:func:`~latentsynth.data.audio.frames.prepare`: cached by settings, resumable),
split by note (the corpus ``split`` column, or instruments held out), and the dB frames are normalised with the
statistics of the training notes. Items are windows ``[W, F]`` of ``W = data.window`` consecutive frames of one
note (``[1, F]`` for single frames, the setting of Esling et al. 2018); the label is the note's index.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ...config import DataConfig
from ...dsp.transforms import NormStats, SpecConfig
from ..idx import DataError
from ..images import SplitDataModule
from .frames import FrameDataset, PrepConfig, SplitConfig, prepare


class FrameWindows(Dataset):
    """Windows ``[W, F]`` of one split over a shared frame tensor ``frames [N, F]`` (normalised dB).

    ``starts [M]`` are the first rows of the windows, ``notes [M]`` their note indices (labels).
    """

    def __init__(self, frames: Tensor, starts: np.ndarray, notes: np.ndarray, window: int):
        self.frames, self.window = frames, window
        self.starts, self.notes = torch.as_tensor(starts, dtype=torch.long), torch.as_tensor(notes, dtype=torch.long)
        self._offsets = torch.arange(window)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        s = int(self.starts[i])
        return self.frames[s:s + self.window], self.notes[i]

    def __getitems__(self, idx: list[int]) -> tuple[Tensor, Tensor]:
        index = torch.as_tensor(idx)
        rows = self.starts[index, None] + self._offsets  # [B, W]
        return self.frames[rows], self.notes[index]  # [B, W, F], [B]

    def as_tensor(self) -> Tensor:
        """Every window ``[M, W, F]``."""
        return self.__getitems__(list(range(len(self))))[0]

    @property
    def shape(self) -> tuple[int, int]:
        return (self.window, self.frames.shape[1])


class FrameDataModule(SplitDataModule):
    """Train / validation / test windows of the frames of ``cfg.corpus`` (splits by note, never by frame).

    Validation and test use non-overlapping windows; training windows start every ``cfg.frame_hop`` frames.
    After :meth:`setup`: ``notes`` (the metadata row of every note), ``note_split``, ``stats``
    (:class:`~latentsynth.dsp.transforms.NormStats`), ``spec`` and ``cache``.
    """

    def __init__(self, cfg: DataConfig, seed: int = 0):
        super().__init__()
        if cfg.kind != "frames":
            raise ValueError(f"data.name: FrameDataModule needs 'frames', got {cfg.name!r}")
        self.cfg, self.seed = cfg, seed
        self.train = self.val = self.test = None
        self.frames: Tensor | None = None

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
        return SplitConfig(holdout_instruments=tuple(self.cfg.holdout_instruments), seed=self.cfg.split_seed)

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
        sets = {s: FrameDataset(self.cache, s, self.cfg.window, self.cfg.frame_hop if s == "train" else self.cfg.window,
                                normalize="none", splits=self.splits) for s in ("train", "val", "test")}
        ref = sets["train"]
        self.stats: NormStats = ref.stats
        self.spec = ref.cfg.spec
        self.notes, self.note_split = ref.notes, ref.note_split
        raw = torch.from_numpy(np.asarray(ref.features, dtype=np.float32))  # [N, F] dB, all notes
        self.frames = self.stats.normalize(raw, self.cfg.normalize).contiguous()
        for s, ds in sets.items():
            if len(ds) == 0:
                raise DataError(f"{self.cache}: the '{s}' split has no window of {self.cfg.window} frames; "
                                "use a larger corpus, a smaller data.window or other split settings")
            setattr(self, s, FrameWindows(self.frames, ds.starts, ds.note_ids, self.cfg.window))

    def db_affine(self) -> tuple[Tensor, Tensor]:
        """``offset [F]``, ``gain [F]`` with ``dB = x * gain + offset`` for normalised frames ``x``."""
        f = self.spec.n_bins
        if self.cfg.normalize == "minmax":
            lo, hi = self.stats.min, self.stats.max
            return torch.full((f,), lo), torch.full((f,), hi - lo + 1e-8)
        return torch.tensor(self.stats.mean, dtype=torch.float32), torch.tensor(self.stats.std, dtype=torch.float32)

    def to_db(self, x: Tensor) -> Tensor:
        """Normalised frames ``[..., F]`` -> dB values ``[..., F]``."""
        offset, gain = self.db_affine()
        return x * gain + offset

    def note_indices(self, split: str = "test") -> list[int]:
        """Indices of the notes of one split."""
        return [k for k, s in enumerate(self.note_split) if s == split]

    def note_tensor(self, note: int) -> Tensor:
        """All normalised frames of one note ``[T, F]``."""
        r = self.notes[note]
        s, n = int(r["frame_start"]), int(r["n_frames"])
        return self.frames[s:s + n]


def data_module(cfg, data_dir: str | None = None, setup: bool = True):
    """The data module of a run config: images or frames. ``data_dir`` overrides where the data is read
    (images: the IDX folder; frames: the corpus folder)."""
    from ..images import ImageDataModule

    cls = FrameDataModule if cfg.data.kind == "frames" else ImageDataModule
    if setup:
        return cls.for_run(cfg, data_dir)
    return cls(cfg.data, seed=cfg.train.seed)
