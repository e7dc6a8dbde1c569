"""Data: IDX image sets (MNIST, Fashion-MNIST)."""

from .idx import DataError, load_idx_dataset, read_idx
from .images import ImageDataModule, ImageDataset

__all__ = ["DataError", "load_idx_dataset", "read_idx", "ImageDataModule", "ImageDataset"]
