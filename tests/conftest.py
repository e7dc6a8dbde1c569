import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder holding the real MNIST / Fashion-MNIST files ($LATENTSYNTH_DATA, else ../shared/data)."""
    for cand in (os.environ.get("LATENTSYNTH_DATA"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist" / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(cand)
    pytest.skip("real MNIST files not found: set LATENTSYNTH_DATA (CI points it at ../shared/data)")




@pytest.fixture(scope="module")
def one_torch_thread():
    """Small FFTs: one torch thread is faster, and avoids OpenMP spin-waiting on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
