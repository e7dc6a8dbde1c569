import gzip
import hashlib

import numpy as np
import pytest

from latentsynth.config import DataConfig
from latentsynth.data.idx import FILES, SPECS, DataError, IDXSpec, load_idx_dataset, locate, read_idx
from latentsynth.data.images import ImageDataModule, split_indices

from helpers import write_idx


def make_set(folder, n_train=12, n_test=5, seed=0, compress=True):
    """Write a tiny IDX data set; return its spec (with the MD5s of the uncompressed bytes)."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28)), "train_labels": rng.integers(0, 10, n_train),
        "test_images": rng.integers(0, 256, (n_test, 28, 28)), "test_labels": rng.integers(0, 10, n_test),
    }
    md5 = {}
    for key, arr in arrays.items():
        p = write_idx(folder / FILES[key], arr, compress)
        raw = gzip.decompress(p.read_bytes()) if compress else p.read_bytes()
        md5[FILES[key]] = hashlib.md5(raw).hexdigest()
    return IDXSpec("tiny", md5=md5, n_train=n_train, n_test=n_test), arrays


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    monkeypatch.delenv("LATENTSYNTH_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize("compress", [True, False])
def test_reads_gzip_and_raw(tmp_path, compress):
    spec, arrays = make_set(tmp_path / "tiny", compress=compress)
    got = load_idx_dataset("tiny", tmp_path, spec=spec, download=False)
    for key in FILES:
        np.testing.assert_array_equal(got[key], arrays[key])


def test_wrong_magic_truncated_and_corrupt_files_name_the_file(tmp_path):
    img = np.zeros((3, 28, 28), np.uint8)
    p = write_idx(tmp_path / "a", img, compress=False)
    raw = p.read_bytes()
    bad_magic = tmp_path / "magic"
    bad_magic.write_bytes(b"\x00\x00\x0d\x03" + raw[4:])
    with pytest.raises(DataError, match=f"{bad_magic}.*magic"):
        read_idx(bad_magic)
    truncated = tmp_path / "trunc"
    truncated.write_bytes(raw[:-10])
    with pytest.raises(DataError, match=f"{truncated}.*truncated"):
        read_idx(truncated)
    with pytest.raises(DataError, match="dimensions"):
        read_idx(p, ndim=1)
    gz = tmp_path / "cut.gz"
    gz.write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(DataError, match=f"{gz}.*corrupt or truncated"):
        read_idx(gz)
    notgz = tmp_path / "text.gz"
    notgz.write_text("hello")
    with pytest.raises(DataError, match=str(notgz)):
        read_idx(notgz)
    with pytest.raises(DataError, match="MD5"):
        read_idx(p, md5="0" * 32)


def test_checksum_mismatch_names_file(tmp_path):
    spec, _ = make_set(tmp_path / "tiny")
    spec.md5["t10k-labels-idx1-ubyte"] = "f" * 32
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz.*MD5"):
        load_idx_dataset("tiny", tmp_path, spec=spec, download=False)


def test_missing_offline_lists_folders_and_the_four_files(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSYNTH_DATA", str(tmp_path / "env"))
    (tmp_path / "given").mkdir()  # a given folder that does not exist is its own error (tests/test_misuse.py)
    with pytest.raises(DataError) as err:
        locate(SPECS["mnist"], tmp_path / "given", download=False)
    msg = str(err.value)
    for name in FILES.values():
        assert f"{name}.gz" in msg
    assert str(tmp_path / "given") in msg and str(tmp_path / "env") in msg and "cache" in msg


def test_lookup_order_data_dir_then_env_then_cache(tmp_path, monkeypatch):
    spec, _ = make_set(tmp_path / "cache" / "latentsynth" / "tiny", seed=3)
    assert locate(spec, None, download=False)["train_images"].parent == tmp_path / "cache" / "latentsynth" / "tiny"
    make_set(tmp_path / "env" / "tiny", seed=2)
    monkeypatch.setenv("LATENTSYNTH_DATA", str(tmp_path / "env"))
    assert locate(spec, None, download=False)["train_images"].parent == tmp_path / "env" / "tiny"
    make_set(tmp_path / "given", seed=1)  # files directly in the folder also count
    assert locate(spec, tmp_path / "given", download=False)["test_labels"].parent == tmp_path / "given"


def test_download_from_mirror_into_cache(tmp_path):
    spec, arrays = make_set(tmp_path / "mirror")
    spec = IDXSpec("tiny", md5=spec.md5, mirrors=("file:///nonexistent/", (tmp_path / "mirror").as_uri() + "/"))
    got = load_idx_dataset("tiny", None, spec=spec)
    np.testing.assert_array_equal(got["test_images"], arrays["test_images"])
    assert (tmp_path / "cache" / "latentsynth" / "tiny" / "t10k-images-idx3-ubyte.gz").exists()
    # a mirror that serves a wrong file is rejected with the checksum reason
    bad = IDXSpec("other", md5={k: "0" * 32 for k in spec.md5}, mirrors=spec.mirrors)
    with pytest.raises(DataError, match="checksum mismatch"):
        load_idx_dataset("other", None, spec=bad)


def test_split_is_seeded_disjoint_and_complete():
    tr, va = split_indices(100, 20, seed=4)
    tr2, va2 = split_indices(100, 20, seed=4)
    assert np.array_equal(va, va2) and len(va) == 20 and len(tr) == 80
    assert set(tr) | set(va) == set(range(100)) and not set(tr) & set(va)
    assert not np.array_equal(va, split_indices(100, 20, seed=5)[1])
    with pytest.raises(ValueError, match="val_size"):
        split_indices(10, 10, 0)


def test_real_mnist_loads_with_reference_statistics(real_data_dir, monkeypatch):
    data = ImageDataModule(DataConfig(name="mnist", data_dir=str(real_data_dir)))
    data.setup()
    assert len(data.train) == 55_000 and len(data.val) == 5_000 and len(data.test) == 10_000
    full = load_idx_dataset("mnist", real_data_dir)
    assert full["train_images"].mean() / 255 == pytest.approx(0.1307, abs=1e-4)
    assert np.bincount(full["train_labels"]).tolist()[:3] == [5923, 6742, 5958]
    x, y = data.train.__getitems__([0, 1, 2])
    assert x.shape == (3, 1, 28, 28) and x.dtype.is_floating_point and 0 <= x.min() and x.max() <= 1
