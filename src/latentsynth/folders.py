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
from dataclasses import dataclass
from pathlib import Path
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
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    except OSError as err:  # the folder cannot be made or written: name the file meant, not the temporary one
        raise not_writable(path, err) from None
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


class NotWritableError(OSError):
    """A file or folder that cannot be written (permissions, read-only or full file system); ``str()`` is one
    line naming the path meant and what to do (``errno`` is the system's)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "cannot write"


def not_writable(path: str | Path, err: OSError) -> NotWritableError:
    """``err`` (permission denied, read-only or full file system...) as a :class:`NotWritableError` whose message
    names ``path`` (the file or folder meant, not a temporary file) and what to do; ``cli.common.guarded``
    prints it as one line."""
    why = err.strerror or str(err)
    at = f" at {err.filename}" if err.filename and Path(err.filename) != Path(path) and not str(
        Path(err.filename).name).startswith(".") else ""
    out = NotWritableError(f"{path}: cannot write here ({why}{at}); choose a folder you can write to (e.g. another "
                           "--out), or fix its permissions or free space")
    out.errno = err.errno
    return out


def writable_folder(folder: str | Path) -> Path:
    """``folder``, made if missing, once a file can be written into it; else :func:`not_writable`'s error, at
    once (before a long job whose first write is at its end)."""
    folder = Path(folder)
    probe = folder / ".latentsynth-write-test"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=probe.name)
        os.close(fd)
        os.unlink(name)
    except OSError as err:
        raise not_writable(folder, err) from None
    return folder


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
    """The JSON in ``path``; a file that is not JSON text -> ``ValueError`` naming it."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


class ModelFolderError(ValueError):
    """A model folder's file is missing, damaged or does not match the others; the message names the file and
    what to do."""


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
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a latentsynth model folder ("
                                + ("a file" if folder.exists() else "no such folder")
                                + "); give the folder `latentsynth train` saved (<out>/<name>)")
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
    meta = _read_meta(folder / "model.json")
    try:
        model = AutoEncoder(cfg, tuple(meta["data_shape"]), meta.get("audio"))
    except (TypeError, ValueError, KeyError) as err:
        raise ModelFolderError(f"{folder}: config.yaml and model.json do not describe a model this version can "
                               f"build ({err}); re-train or re-export the model") from None
    state = _read_weights(folder / "model.safetensors")
    if model.db is not None and "db.offset" not in state:  # saved before frame models carried their audio
        for key in ("offset", "gain"):  # the spectral objectives kept the dB scale: it is the model's now
            if f"likelihood.{key}" in state:
                state[f"db.{key}"] = state.pop(f"likelihood.{key}")
            else:
                state[f"db.{key}"] = getattr(model.db, key)
    _check_weights(folder, model, state)
    model.load_state_dict(state)
    return model.to(device).eval()


_REDO = "re-train the model (latentsynth train) or re-export it (latentsynth.save_model)"


def _read_meta(path: Path) -> dict[str, Any]:
    """model.json, checked: a mapping with a supported ``format`` and a ``data_shape`` of positive ints."""
    try:
        meta = read_json(path)
    except ValueError as err:
        raise ModelFolderError(f"{err}; {_REDO}") from None
    if not isinstance(meta, dict):
        raise ModelFolderError(f"{path}: expected a JSON object with format and data_shape; {_REDO}")
    fmt = meta.get("format")
    if isinstance(fmt, int) and fmt > FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format {fmt} was written by a newer latentsynth (this version reads "
                               f"format {FORMAT_VERSION}); upgrade latentsynth to load it")
    if fmt != FORMAT_VERSION:
        raise ModelFolderError(f"{path}: format {fmt!r} is not supported by this version (it reads format "
                               f"{FORMAT_VERSION}); {_REDO}")
    shape = meta.get("data_shape")
    if (not isinstance(shape, list) or not shape
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape)):
        raise ModelFolderError(f"{path}: data_shape must be a list of positive integers, got {shape!r}; {_REDO}")
    return meta


def _read_weights(path: Path) -> dict[str, Tensor]:
    """The tensors of a safetensors file on the CPU; never unpickles. A damaged or pickled file -> one error."""
    try:
        return load_file(path, device="cpu")
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error type for every kind of damage
        with open(path, "rb") as f:
            head = f.read(4)
        if head == b"PK\x03\x04" or (head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")):
            raise ModelFolderError(f"{path}: a pickled torch file (torch.save), not safetensors; latentsynth never "
                                   f"unpickles model files: {_REDO}") from None
        raise ModelFolderError(f"{path}: not a readable safetensors file ({err}); it is truncated or damaged: "
                               f"copy it again, or {_REDO}") from None


def _check_weights(folder: Path, model: torch.nn.Module, state: dict[str, Tensor]) -> None:
    """``state`` fits ``model`` (same names and shapes) and is finite; else one error saying what differs."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    shapes = [f"{k} {list(state[k].shape)} (config.yaml needs {list(v.shape)})"
              for k, v in expected.items() if k in state and state[k].shape != v.shape]

    def some(names: list[str]) -> str:
        return ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")

    problems = ([f"wrong shapes: {some(shapes)}"] if shapes else []) + (
        [f"missing tensors: {some(missing)}"] if missing else []) + (
        [f"unexpected tensors: {some(extra)}"] if extra else [])
    if problems:
        raise ModelFolderError(
            f"{folder / 'model.safetensors'} does not match {folder / 'config.yaml'} and model.json ("
            + "; ".join(problems) + "). Was config.yaml edited (e.g. model.latent_dim) or the weights replaced? "
            f"Restore the saved files, or {_REDO}")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise ModelFolderError(f"{folder / 'model.safetensors'}: NaN or infinite weights in {some(bad)}; the model "
                               "diverged or the file is damaged: re-train it (e.g. with a lower optim.lr or "
                               "optim.grad_clip=1.0) or copy the folder again")


def save_weights(module: torch.nn.Module, folder: str | Path, stem: str, meta: dict[str, Any]) -> Path:
    """``<folder>/<stem>.safetensors`` (the module's state) and ``<stem>.json`` (``meta``: what rebuilds it),
    each written atomically; for the small networks that are not models (the classifiers)."""
    folder = Path(folder)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    atomic_write(folder / f"{stem}.safetensors", lambda tmp: save_file(state, str(tmp)))
    write_json(folder / f"{stem}.json", meta)
    return folder


def read_weights(folder: str | Path, stem: str, hint: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The state and meta written by :func:`save_weights`; a missing file raises ``FileNotFoundError`` with
    ``hint`` (how to make one)."""
    folder = Path(folder)
    if not (folder / f"{stem}.safetensors").is_file():
        raise FileNotFoundError(f"{folder}: no {stem} here; {hint}")
    return load_file(folder / f"{stem}.safetensors"), read_json(folder / f"{stem}.json")


def load_metrics(folder: str | Path) -> dict[str, Any]:
    """The folder's ``metrics.json`` ({} if it has none); a damaged one -> ``ModelFolderError`` naming it."""
    path = Path(folder) / "metrics.json"
    if not path.exists():
        return {}
    try:
        metrics = read_json(path)
    except ValueError as err:
        metrics = err
    if not isinstance(metrics, dict):
        why = metrics if isinstance(metrics, ValueError) else f"{path}: expected a JSON object of metric values"
        raise ModelFolderError(f"{why}; delete it and run `latentsynth eval {Path(folder)}` to score the model "
                               "again")
    return metrics


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
