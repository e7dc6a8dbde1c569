"""The self-sounding ONNX graph (decoder + streaming synthesizer) run by onnxruntime, block by block with its
state carried, against the Python model rendering the whole signal in one block."""

from pathlib import Path

import numpy as np
import pytest
import torch

from latentsynth.folders import load
from latentsynth.synth.sounding import INPUTS, OUTPUTS, Sounding, export_sounding, initial_state

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
MODEL = Path(__file__).resolve().parents[1] / "models" / "sol" / "harmonic-wae-mmd"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="reference model not in the checkout")


def test_onnx_blocks_equal_python_render(tmp_path):
    model = load(MODEL)
    path, entry = export_sounding(model, tmp_path)
    assert [i["name"] for i in entry["inputs"]] == INPUTS and entry["latency_samples"] == 512
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == OUTPUTS
    b, t, d = 2, 24, model.latent_dim
    g = torch.Generator().manual_seed(0)
    z = torch.randn(b, t, d, generator=g) * 0.5
    c = torch.zeros(b, t, 4)
    c[..., 0] = torch.tensor([[57.0], [64.5]]).expand(b, t)
    c[:, t // 2:, 0] += 3  # a pitch step in the middle
    c[1, :, 1] = 2  # another instrument
    vel = torch.linspace(0.3, 1.0, t).expand(b, t).contiguous()
    state0 = initial_state(model, c[:, 0, 0])
    with torch.no_grad():
        ref = Sounding(model.eval())(z, c, vel, *state0)[0].numpy()  # one block: the whole signal
    state = [s.numpy() for s in state0]
    outs = []
    for i, size in zip([0, 1, 7, 15], [1, 6, 8, 9], strict=True):  # uneven blocks, one of a single frame
        feeds = dict(zip(INPUTS, [z[:, i:i + size].numpy(), c[:, i:i + size].numpy(), vel[:, i:i + size].numpy(),
                                  *state], strict=True))
        audio, *state = sess.run(None, feeds)
        assert audio.shape == (b, size * model.audio.spec.hop_length)
        outs.append(audio)
    y = np.concatenate(outs, 1)
    assert float(np.abs(ref).max()) > 0.05 and np.isfinite(y).all()
    np.testing.assert_allclose(y, ref, atol=1e-3, rtol=0)  # float tolerance (f0 ulps drift the phase slowly)
    assert float(np.abs(y - ref).mean()) < 1e-5
