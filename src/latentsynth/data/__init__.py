"""Data: IDX image sets (MNIST, Fashion-MNIST) and spectrogram frames of audio corpora (``data.audio``)."""

from .errors import DataError
from .idx import load_idx_dataset, read_idx
from .images import ImageDataModule, ImageDataset


def data_module(cfg, data_dir: str | None = None, setup: bool = True):
    """The data module of a :class:`~latentsynth.config.RunConfig`: ``ImageDataModule`` or ``FrameDataModule``
    (set up unless ``setup=False``). ``data_dir`` overrides where the data is read (images: the IDX folder;
    frames: the corpus folder)."""
    if cfg.data.kind == "frames":
        from .audio.datamodule import FrameDataModule as cls
    else:
        cls = ImageDataModule
    return cls.for_run(cfg, data_dir) if setup else cls(cfg.data, seed=cfg.train.seed)


__all__ = ["DataError", "load_idx_dataset", "read_idx", "ImageDataModule", "ImageDataset", "data_module"]
