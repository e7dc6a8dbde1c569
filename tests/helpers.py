"""Helpers shared by the tests (importable as `helpers`: pytest puts tests/ on sys.path)."""

import gzip
import struct
from pathlib import Path

import numpy as np


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
