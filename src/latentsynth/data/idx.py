"""IDX files (MNIST, Fashion-MNIST): locate, download, verify and read.

Lookup order for a data set ``name``: the ``data_dir`` argument (``--data-dir``), ``$LATENTSYNTH_DATA``,
the user cache (``$XDG_CACHE_HOME/latentsynth`` or ``~/.cache/latentsynth``), then a download from the
public mirrors into the cache. In each root the files may sit in ``<root>/<name>/`` or directly in
``<root>/``, gzipped (``.gz``) or raw. Every file is checked for its magic number, its shape and the
canonical MD5 of its uncompressed bytes.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..folders import atomic_write_bytes
from .errors import DataError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class IDXSpec:
    """Where to find a data set and how to recognise its four files."""

    name: str
    md5: dict[str, str]  # file stem (see FILES) -> MD5 of the uncompressed bytes
    mirrors: tuple[str, ...] = ()
    image_shape: tuple[int, int] = (28, 28)
    n_train: int | None = 60000
    n_test: int | None = 10000
    classes: tuple[str, ...] = field(default_factory=tuple)


SPECS: dict[str, IDXSpec] = {
    "mnist": IDXSpec(
        "mnist",
        md5={
            "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
            "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
            "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
            "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
        },
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        classes=tuple(str(i) for i in range(10)),
    ),
    "fashion-mnist": IDXSpec(
        "fashion-mnist",
        md5={
            "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
            "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
            "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
        },
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                 "Ankle boot"),
    ),
}


def cache_dir() -> Path:
    """The user cache folder for downloaded data."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "latentsynth"


# ------------------------------------------------------------------------------------------------ reading


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: cannot be read ({err}); the file is corrupt or truncated. "
            "Delete it and download it again."
        ) from None


def parse_idx(raw: bytes, path: Path | str = "<bytes>", ndim: int | None = None) -> np.ndarray:
    """Parse IDX bytes (uint8 payload) into an array; raise :class:`DataError` naming ``path`` if malformed."""
    if len(raw) < 4:
        raise DataError(f"{path}: only {len(raw)} bytes, too short for an IDX header (corrupt or truncated)")
    zero, dtype_code, nd = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DataError(
            f"{path}: wrong magic number 0x{raw[:4].hex()} (expected 0x0000080{ndim or 1} for unsigned-byte "
            "IDX data); this is not an MNIST-style IDX file"
        )
    if ndim is not None and nd != ndim:
        raise DataError(f"{path}: has {nd} dimensions, expected {ndim} (images have 3, labels 1)")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise DataError(f"{path}: truncated inside the header")
    dims = struct.unpack(f">{nd}I", raw[4:header])
    expected = int(np.prod(dims)) if nd else 0
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: header announces shape {tuple(dims)} ({expected} bytes) but {len(raw) - header} bytes "
            "follow; the file is truncated or corrupt. Delete it and download it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def read_idx(path: Path, ndim: int | None = None, md5: str | None = None) -> np.ndarray:
    """Read an IDX file (gzip or raw), checking magic, shape and, if given, the uncompressed MD5."""
    raw = _read_bytes(path)
    arr = parse_idx(raw, path, ndim)
    if md5 is not None:
        got = hashlib.md5(raw).hexdigest()
        if got != md5:
            raise DataError(
                f"{path}: MD5 of the uncompressed bytes is {got}, expected {md5}; the file is corrupt or "
                "belongs to another data set. Replace it with the official file."
            )
    return arr


# ------------------------------------------------------------------------------------------------ locating


def _find_in(root: Path, spec: IDXSpec) -> dict[str, Path] | None:
    for folder in (root / spec.name, root):
        found = {}
        for key, stem in FILES.items():
            for cand in (folder / f"{stem}.gz", folder / stem):
                if cand.is_file():
                    found[key] = cand
                    break
        if len(found) == len(FILES):
            return found
    return None


def _download(spec: IDXSpec, dest: Path) -> dict[str, Path]:
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for key, stem in FILES.items():
        target = dest / f"{stem}.gz"
        if target.is_file():
            out[key] = target
            continue
        errors = []
        for mirror in spec.mirrors:
            url = mirror + f"{stem}.gz"
            try:
                print(f"latentsynth: downloading {url}", file=sys.stderr)
                with urllib.request.urlopen(url, timeout=30) as resp:
                    payload = resp.read()
                raw = gzip.decompress(payload)
                if hashlib.md5(raw).hexdigest() != spec.md5[stem]:
                    raise DataError(f"checksum mismatch for {url}")
                atomic_write_bytes(target, payload)
                out[key] = target
                break
            except Exception as err:  # noqa: BLE001 - try the next mirror, report all at the end
                errors.append(f"{url}: {err}")
        else:
            raise DataError("download failed:\n  " + "\n  ".join(errors))
    return out


def locate(spec: IDXSpec, data_dir: str | Path | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of the four files of ``spec`` following the lookup order (module docstring)."""
    roots: list[Path] = []
    if data_dir:
        if not Path(data_dir).expanduser().is_dir():  # a named folder that is not there: never fall back silently
            raise DataError(f"--data-dir / data.data_dir {data_dir}: no such folder; point it at the folder that "
                            f"holds the {spec.name} IDX files, or leave it out to use $LATENTSYNTH_DATA or the cache")
        roots.append(Path(data_dir).expanduser())
    if os.environ.get("LATENTSYNTH_DATA"):
        roots.append(Path(os.environ["LATENTSYNTH_DATA"]).expanduser())
    roots.append(cache_dir())
    for root in roots:  # in order: the first root with all four files, or with some of them, decides
        found = _find_in(root, spec)
        if found:
            return found
        if root == cache_dir() and download and spec.mirrors:
            continue  # an interrupted download: the download below fetches the rest
        for folder in (root / spec.name, root):  # the user's copy, incomplete: said, never downloaded around
            present = [s for s in FILES.values() if (folder / f"{s}.gz").is_file() or (folder / s).is_file()]
            if present and len(present) < len(FILES):
                missing = [s for s in FILES.values() if s not in present]
                raise DataError(
                    f"{folder}: {spec.name} is incomplete: missing {', '.join(missing)} (.gz or raw), found "
                    f"{', '.join(present)}; put the missing file{'s' if len(missing) > 1 else ''} there, or point "
                    "--data-dir / LATENTSYNTH_DATA at a folder that holds all four")
    why = "downloading is disabled"
    if download and spec.mirrors:
        try:
            return _download(spec, cache_dir() / spec.name)
        except DataError as err:
            why = str(err)
    searched = "\n  ".join(f"{r / spec.name}/ and {r}/" for r in roots)
    names = ", ".join(f"{s}.gz" for s in FILES.values())
    raise DataError(
        f"{spec.name} not found. Searched:\n  {searched}\nexpected the four files {names} "
        f"(gzipped or not). Download: {why}.\nPut the files in one of these folders, or point --data-dir / "
        "LATENTSYNTH_DATA at a folder that holds them."
    )


def load_idx_dataset(name: str, data_dir: str | Path | None = None, download: bool = True,
                     spec: IDXSpec | None = None) -> dict[str, np.ndarray]:
    """Load the four arrays of data set ``name``: ``train_images`` ``[N, H, W]`` uint8, ``train_labels``
    ``[N]`` uint8, ``test_images``, ``test_labels``; all files verified."""
    if spec is None:
        if name not in SPECS:
            raise DataError(f"data.name: unknown data set '{name}' (known: {', '.join(SPECS)})")
        spec = SPECS[name]
    paths = locate(spec, data_dir, download)
    arrays = {}
    for key, path in paths.items():
        stem = FILES[key]
        arrays[key] = read_idx(path, ndim=3 if key.endswith("images") else 1, md5=spec.md5.get(stem))
    for part in ("train", "test"):
        imgs, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if len(imgs) != len(labels):
            raise DataError(f"{paths[part + '_labels']}: {len(labels)} labels for {len(imgs)} images")
        if imgs.shape[1:] != spec.image_shape:
            raise DataError(f"{paths[part + '_images']}: images are {imgs.shape[1:]}, expected {spec.image_shape}")
    return arrays


__all__ = ["DataError", "IDXSpec", "SPECS", "FILES", "load_idx_dataset", "read_idx", "parse_idx", "locate",
           "cache_dir"]
