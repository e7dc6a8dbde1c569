import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """Folder holding the real MNIST / Fashion-MNIST files ($LATENTSYNTH_DATA, else ../shared/data)."""
    for cand in (os.environ.get("LATENTSYNTH_DATA"), REPO.parent / "shared" / "data"):
        if cand and (Path(cand) / "mnist" / "t10k-labels-idx1-ubyte.gz").exists():
            return Path(cand)
    pytest.skip("real MNIST files not found: set LATENTSYNTH_DATA (CI points it at ../shared/data)")


