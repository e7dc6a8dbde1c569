"""Atomic file writes (:func:`atomic_write`, the one way files are written) and model folders (config +
safetensors weights + metrics).

A model folder holds ``config.yaml`` (the :class:`RunConfig`), ``model.json`` (data shape and format
version), ``model.safetensors`` (weights) and ``metrics.json``. Loading never unpickles anything.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from dataclasses import dataclass
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

FORMAT_VERSION = 1


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], Any]) -> Path:
    """The one atomic write: ``write(tmp)`` fills a temporary file in ``path``'s folder (same extension, so
    writers that go by it work), which is then renamed onto ``path``; on any error the temporary file is
    removed and ``path`` keeps its old content. The file gets the usual permissions (0666 minus the umask, not
    mkstemp's private 0600). Returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        os.close(fd)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`), synced to disk before the rename."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write dict rows as CSV atomically; the header is the union of the keys in first-seen order."""
    import csv
    import io

    keys: list[str] = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())


def save_model(model: torch.nn.Module, folder: str | Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``model`` (an :class:`~latentsynth.models.AutoEncoder`) as a model folder."""
    from .config import dump_yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "config.yaml", dump_yaml(model.cfg))
    meta: dict[str, Any] = {"format": FORMAT_VERSION, "data_shape": list(model.data_shape)}
    if getattr(model, "audio", None) is not None:  # frame models: everything needed to make sound
        meta["audio"] = model.audio.model_dump(mode="json")
    write_json(folder / "model.json", meta)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / "model.safetensors",
                 lambda tmp: save_file(state, str(tmp), metadata={"format": str(FORMAT_VERSION)}))
    if metrics is not None:
        write_json(folder / "metrics.json", metrics)
    return folder


MODEL_FILES = ("config.yaml", "model.json", "model.safetensors")  # what makes a folder a saved model


def check_model_folder(folder: str | Path) -> Path:
    """``folder`` as a Path; one clear error if a file of :data:`MODEL_FILES` is missing."""
    folder = Path(folder)
    for name in MODEL_FILES:
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder}: not a latentsynth model folder (missing {name}); train one with `latentsynth train`"
            )
    return folder


def load(folder: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the model saved in ``folder`` (no pickle involved) in eval mode."""
    from .config import load_config
    from .models import AutoEncoder

    folder = check_model_folder(folder)
    cfg = load_config(folder)
    meta = read_json(folder / "model.json")
    if meta.get("format") != FORMAT_VERSION:
        raise ValueError(f"{folder / 'model.json'}: format {meta.get('format')} is not supported by this version")
    model = AutoEncoder(cfg, tuple(meta["data_shape"]), meta.get("audio"))
    state = load_file(folder / "model.safetensors", device=str(device))
    if model.db is not None and "db.offset" not in state:  # saved before frame models carried their audio
        for key in ("offset", "gain"):  # the spectral objectives kept the dB scale: it is the model's now
            if f"likelihood.{key}" in state:
                state[f"db.{key}"] = state.pop(f"likelihood.{key}")
            else:
                state[f"db.{key}"] = getattr(model.db, key)
    model.load_state_dict(state)
    return model.to(device).eval()


def load_metrics(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / "metrics.json"
    return read_json(path) if path.exists() else {}


CODES_FILE = "codes.safetensors"  # a frame model's sample of training codes (see CodeSample)


@dataclass
class CodeSample:
    """Posterior-mean codes of training windows ``codes [N, d]``, their labels ``labels [N, 4]`` and note
    indices ``note [N]`` into ``names`` (the note file stems)."""

    codes: Tensor
    labels: Tensor
    note: Tensor
    names: list[str]

    def save(self, folder: str | Path) -> Path:
        tensors = {"codes": self.codes.contiguous(), "labels": self.labels.contiguous(), "note": self.note}
        meta = {"names": json.dumps(self.names)}
        return atomic_write(Path(folder) / CODES_FILE, lambda tmp: save_file(tensors, tmp, metadata=meta))

    @classmethod
    def load(cls, folder: str | Path) -> CodeSample | None:
        """The sample saved in a model folder, or None when the folder has none."""
        path = Path(folder) / CODES_FILE
        if not path.is_file():
            return None
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            names = json.loads((f.metadata() or {}).get("names", "[]"))
        t = load_file(path)
        return cls(codes=t["codes"], labels=t["labels"], note=t["note"].long(), names=names)
