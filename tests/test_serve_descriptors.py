"""The descriptor registry as the server reads it: GET /api/descriptors lists the registry's differentiable
descriptors, and a heatmap of a mel model (refused before the server used synth.descriptors) equals librosa's
centroid of the decoded magnitudes mapped to linear STFT bins."""

import warnings

import librosa
import numpy as np
import pytest
import torch

from latentsynth.config import load_config
from latentsynth.dsp.transforms import NormStats, SpecConfig
from latentsynth.evaluation.descriptors import REGISTRY, UNITS
from latentsynth.folders import save_model
from latentsynth.models import AutoEncoder
from latentsynth.models.conditioning import AudioInfo
from latentsynth.serve import create_app
from latentsynth.synth.descriptors import mel_spread_basis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def mel_model(tmp_path_factory):
    spec = SpecConfig(representation="mel")
    n = spec.n_bins
    info = AudioInfo(spec=spec, normalize="minmax", window=2, vocab={"instrument": ["Fl"]}, pitch_range=(48, 72),
                     stats=NormStats(mean=[0.0] * n, std=[1.0] * n, min=-80, max=0, count=1))
    cfg = load_config("sol-ae", ["data.corpus=x", "data.window=2", "likelihood.kind=spectral",
                                 "likelihood.output=identity", "model.network.hidden=[32]", "name=mel"])
    torch.manual_seed(0)
    model = AutoEncoder(cfg, (2, n), info).eval()
    return model, save_model(model, tmp_path_factory.mktemp("mel") / "mel")


def test_descriptor_list_and_a_mel_heatmap(mel_model):
    model, folder = mel_model
    c = TestClient(create_app([folder]))
    listed = c.get("/api/descriptors").json()
    assert [d["name"] for d in listed] == [d.name for d in REGISTRY if d.differentiable]
    assert all(d["unit"] == UNITS[d["name"]] and d["label"] for d in listed)
    plane = c.post("/api/models/mel/plane", json={}).json()
    h = c.post("/api/models/mel/heatmap", json={"quantity": "centroid", "size": 3}).json()
    assert h["unit"] == "Hz" and len(h["values"]) == 9
    # truth: librosa's centroid of the decoded mel magnitudes spread onto the STFT bins, mean over the window
    x0, x1, y0, y1 = h["extent"]
    xy = torch.tensor([[x, y] for y in np.linspace(y0, y1, 3) for x in np.linspace(x0, x1, 3)], dtype=torch.float32)
    z = torch.tensor(plane["centre"]) + xy @ torch.tensor(plane["basis"])
    with torch.no_grad():
        mel = model.to_magnitude(model.likelihood.mean(model.decode(z, None)))  # [9, 2, n_mels]
    spec = model.audio.spec
    lin = (mel @ mel_spread_basis(spec).T).double().numpy()  # [9, 2, F]
    want = [librosa.feature.spectral_centroid(S=s.T, sr=spec.sample_rate, n_fft=spec.n_fft)[0].mean() for s in lin]
    np.testing.assert_allclose(h["values"], want, rtol=1e-3)
