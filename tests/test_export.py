"""Export for real-time hosts (latentsynth.synth.export): the ONNX graphs (run with onnxruntime) and TorchScript
modules (torch.jit.load) of every entry point reproduce the Python model, for any batch size; the manifest tells
a host what each file takes and gives."""

import json

import numpy as np
import pytest
import torch

from latentsynth.config import load_config
from latentsynth.dsp.harmonic import render_magnitudes
from latentsynth.dsp.transforms import NormStats, SpecConfig
from latentsynth.models import AutoEncoder
from latentsynth.models.conditioning import AudioInfo, Conditioning
from latentsynth.synth.export import ExportError, export_model

ort = pytest.importorskip("onnxruntime")

VOCAB = {"instrument": ["Fl", "Vc", "Tbn"], "dynamics": ["pp", "mf"], "style": ["ord"]}
LABELS = torch.tensor([[60.0, 1, 0, 0], [45.3, 0, 1, 0], [80.0, 2, 1, 0], [50.6, 0, 0, 0], [70.5, 1, 1, 0]])


def audio_info(window: int = 1) -> AudioInfo:
    return AudioInfo(spec=SpecConfig(), normalize="minmax", window=window,
                     stats=NormStats(mean=[0.0] * 513, std=[1.0] * 513, min=-80, max=40, count=1),
                     vocab=VOCAB, pitch_range=(40, 90))


def tiny_train(model: AutoEncoder, conditioned: bool, steps: int = 5) -> AutoEncoder:
    """A few Adam steps on random frames, so that the weights are not the initial ones."""
    torch.manual_seed(1)
    opt = torch.optim.Adam(model.autoencoder_parameters(), 1e-3)
    x = torch.rand(8, *model.data_shape)
    c = LABELS[torch.arange(8) % 5] if conditioned else None
    model.train()
    for _ in range(steps):
        opt.zero_grad()
        model(x, c).loss(1.0).backward()
        opt.step()
    return model.eval()


@pytest.fixture(scope="module")
def harmonic(tmp_path_factory):
    """A conditioned harmonic VAE (2 frames per item, labels pitch + instrument + dynamics), exported."""
    cfg = load_config("sol-vae", ["data.corpus=x", "data.window=2", "model.network.kind=harmonic",
                                  "model.conditioning.labels=[pitch,instrument,dynamics]", "likelihood.kind=spectral",
                                  "likelihood.output=identity", "model.network.hidden=[32,32]",
                                  "model.network.n_harmonics=24", "model.network.noise_bands=16"])
    torch.manual_seed(0)
    model = tiny_train(AutoEncoder(cfg, (2, 513), audio_info(2)), conditioned=True)
    out = tmp_path_factory.mktemp("harmonic")
    return model, out, export_model(model, out)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """An unconditioned MLP auto-encoder of single frames, exported."""
    cfg = load_config("sol-ae", ["data.corpus=x", "likelihood.kind=spectral", "likelihood.output=identity",
                                 "model.network.hidden=[32]"])
    torch.manual_seed(0)
    model = tiny_train(AutoEncoder(cfg, (1, 513), audio_info()), conditioned=False)
    out = tmp_path_factory.mktemp("plain")
    return model, out, export_model(model, out)


def close(got, want, what: str) -> float:
    """Max abs difference of ``got`` and ``want``, asserted below 1e-4 of the reference's scale."""
    got, want = np.asarray(got, dtype=np.float64), want.detach().double().numpy()
    assert got.shape == want.shape, what
    diff = float(np.abs(got - want).max())
    assert diff <= 1e-4 * max(1.0, float(np.abs(want).max())), f"{what}: max abs difference {diff}"
    return diff


def run_both(folder, stem: str, inputs: dict[str, torch.Tensor], want: list[torch.Tensor]) -> None:
    """Run ``stem``.onnx and ``stem``.pt on ``inputs`` and compare every output with ``want``."""
    sess = ort.InferenceSession(str(folder / f"{stem}.onnx"))
    assert [i.name for i in sess.get_inputs()] == list(inputs)
    got = sess.run(None, {k: v.numpy() for k, v in inputs.items()})
    assert len(got) == len(want)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        close(g, w, f"{stem}.onnx output {i}")
    ts = torch.jit.load(str(folder / f"{stem}.pt"))
    got = ts(*inputs.values())
    got = got if isinstance(got, tuple) else (got,)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        close(g, w, f"{stem}.pt output {i}")


@pytest.mark.parametrize("batch", [1, 5])
def test_harmonic_entry_points_match_the_model(harmonic, batch):
    model, out, _ = harmonic
    torch.manual_seed(batch)
    x, c = torch.rand(batch, 2, 513), LABELS[:batch]
    with torch.no_grad():
        enc = model.encode(x, c, sample=False)
        z = enc.mu + 0.3 * torch.randn_like(enc.mu)  # not only codes of the inputs
        frames = model.decode(z, c)
        f0, amps, noise = model.harmonic_params(z, c)
        mags = render_magnitudes(f0, amps, noise, model.audio.spec)
    assert enc.detune is not None and frames.shape == (batch, 2, 513)
    run_both(out, "encoder", {"x": x, "c": c}, [enc.mu, enc.detune])
    run_both(out, "decoder", {"z": z, "c": c}, [frames, model.to_magnitude(frames)])
    run_both(out, "harmonic_params", {"z": z, "c": c}, [f0, amps, noise])
    run_both(out, "render_magnitudes", {"f0": f0, "amps": amps, "noise": noise}, [mags])


@pytest.mark.parametrize("batch", [1, 7])
def test_unconditioned_model_has_no_label_input(plain, batch):
    model, out, files = plain
    assert set(files) == {"encoder.onnx", "encoder.pt", "decoder.onnx", "decoder.pt", "export.json"}
    torch.manual_seed(batch)
    x, z = torch.rand(batch, 1, 513), torch.randn(batch, model.latent_dim)
    with torch.no_grad():
        frames = model.decode(z)
        run_both(out, "encoder", {"x": x}, [model.encode(x, sample=False).z])
    run_both(out, "decoder", {"z": z}, [frames, model.to_magnitude(frames)])


def test_manifest_tells_a_host_everything(harmonic, plain):
    model, out, files = harmonic
    man = json.loads(files["export.json"].read_text())
    assert set(man["entry_points"]) == {"encode", "decode", "harmonic_params", "render_magnitudes"}
    for name, entry in man["entry_points"].items():
        for fmt, fname in entry["files"].items():
            assert (out / fname).is_file() and files[fname] == out / fname, (name, fmt)
        if "onnx" in entry["files"]:  # the listed names and shapes are the graph's
            sess = ort.InferenceSession(str(out / entry["files"]["onnx"]))
            for listed, real in ((entry["inputs"], sess.get_inputs()), (entry["outputs"], sess.get_outputs())):
                assert [i["name"] for i in listed] == [r.name for r in real]
                assert [i["shape"][1:] for i in listed] == [r.shape[1:] for r in real]
                assert all(i["shape"][0] == "batch" and isinstance(r.shape[0], str)
                           for i, r in zip(listed, real, strict=True))
    enc = man["entry_points"]["encode"]
    assert [i["name"] for i in enc["inputs"]] == ["x", "c"] and [o["name"] for o in enc["outputs"]] == ["z", "detune"]
    assert [o["shape"] for o in man["entry_points"]["harmonic_params"]["outputs"]] == \
        [["batch", 2], ["batch", 2, 24], ["batch", 2, 16]]
    assert man["latent_dim"] == model.latent_dim and man["data_shape"] == [2, 513] and man["harmonic"]
    assert man["labels"]["columns"] == ["pitch", "instrument", "dynamics", "style"]
    assert man["labels"]["used"] == ["pitch", "instrument", "dynamics"] and man["labels"]["vocab"] == VOCAB
    assert man["spec"]["sample_rate"] == 22050 and man["spec"]["n_fft"] == 1024 and man["spec"]["hop"] == 256
    assert man["harmonic_synth"] == {**man["harmonic_synth"], "n_harmonics": 24, "noise_bands": 16}
    assert man["formats"]["onnx"]["opset"] >= 16  # ScatterElements(reduction="add") of render_magnitudes
    # the normalisation a host applies to its dB frames before encode
    np.testing.assert_allclose(man["normalisation"]["offset"], model.db.offset.numpy())
    np.testing.assert_allclose(man["normalisation"]["gain"], model.db.gain.numpy())
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary file left behind

    man = json.loads(plain[2]["export.json"].read_text())
    assert man["labels"] is None and not man["conditioned"] and set(man["entry_points"]) == {"encode", "decode"}
    assert [i["name"] for i in man["entry_points"]["decode"]["inputs"]] == ["z"]


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_image_models_export_encode_and_decode(tmp_path, kind):
    cfg = load_config("mnist-vae", [f"model.network.kind={kind}", "model.network.hidden=[32]",
                                    "model.network.channels=[4,8]", "model.latent_dim=4"])
    torch.manual_seed(0)
    model = tiny_train(AutoEncoder(cfg, (1, 28, 28)), conditioned=False, steps=2)
    files = export_model(model, tmp_path, formats=["onnx", "torchscript"])
    man = json.loads(files["export.json"].read_text())
    assert man["data"] == "images" and set(man["entry_points"]) == {"encode", "decode"} and "spec" not in man
    assert [o["name"] for o in man["entry_points"]["decode"]["outputs"]] == ["frames"]
    x, z = torch.rand(3, 1, 28, 28), torch.randn(3, 4)
    with torch.no_grad():
        images = model.likelihood.mean(model.decode(z))
        run_both(tmp_path, "encoder", {"x": x}, [model.encode(x, sample=False).mu])
    assert float(images.min()) >= 0 and float(images.max()) <= 1
    run_both(tmp_path, "decoder", {"z": z}, [images])


def test_formats_and_model_state(tmp_path, plain):
    model, _, _ = plain
    with pytest.raises(ExportError, match="formats"):
        export_model(model, tmp_path, formats=["tflite"])
    with pytest.raises(ExportError, match="formats"):
        export_model(model, tmp_path, formats=[])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    files = export_model(model, tmp_path / "ts", formats=("torchscript",))
    assert set(files) == {"encoder.pt", "decoder.pt", "export.json"} and model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    model.eval()
    assert set(json.loads(files["export.json"].read_text())["formats"]) == {"torchscript"}


@pytest.mark.parametrize("pitch", ["onehot", "continuous", "both"])
def test_label_encoding_is_the_one_hot_layout(pitch):
    """Conditioning (the code the exported graphs run) against torch's own one_hot, column by column; an index
    outside a vocabulary raises in Python (the exported graphs, which cannot raise, give a row of zeros)."""
    from latentsynth.models.conditioning import LabelError

    cfg = load_config("sol-ae", ["data.corpus=x", "model.conditioning.labels=[pitch,instrument,dynamics,style]",
                                 f"model.conditioning.pitch={pitch}"]).model.conditioning
    sizes = {k: len(v) for k, v in VOCAB.items()}
    cond = Conditioning(cfg, sizes)
    F = torch.nn.functional
    parts = []
    if pitch != "continuous":
        parts.append(F.one_hot(LABELS[:, 0].round().long(), 128).float())
    if pitch != "onehot":
        parts.append((LABELS[:, :1] - 60) / 24)
    parts += [F.one_hot(LABELS[:, j].long(), sizes[k]).float() for j, k in ((1, "instrument"), (2, "dynamics"),
                                                                            (3, "style"))]
    torch.testing.assert_close(cond(LABELS), torch.cat(parts, 1), rtol=0, atol=1e-7)
    with pytest.raises(LabelError, match="instrument index outside"):
        cond(torch.tensor([[60.0, 3, 0, 0], [60.0, -1, 0, 0]]))


def test_pitch_view_model_exports_and_keeps_timbre_across_pitches(tmp_path):
    """encoder_view=pitch (the encoder reads frames at the labelled partials, so it needs the labels even when it
    is not conditioned on them) and decoder_pitch=false (the pitch only places the partials)."""
    cfg = load_config("sol-ae", ["data.corpus=x", "model.network.kind=harmonic", "likelihood.kind=spectral",
                                 "likelihood.output=identity", "model.network.hidden=[32,32]",
                                 "model.conditioning.labels=[pitch,instrument]", "model.conditioning.encoder=false",
                                 "model.network.n_harmonics=24", "model.network.noise_bands=16",
                                 "model.network.encoder_view=pitch", "model.network.view_points=3",
                                 "model.network.decoder_pitch=false"])
    torch.manual_seed(0)
    model = tiny_train(AutoEncoder(cfg, (1, 513), audio_info()), conditioned=True)
    assert model.encoder.net[0].in_features == 24 * 3 + 16  # the view, not the 513 bins
    files = export_model(model, tmp_path)
    man = json.loads(files["export.json"].read_text())
    assert [i["name"] for i in man["entry_points"]["encode"]["inputs"]] == ["x", "c"]
    x, c = torch.rand(5, 1, 513), LABELS[:5]
    with torch.no_grad():
        enc = model.encode(x, c, sample=False)
        frames = model.decode(enc.z, c)
        f0, amps, noise = model.harmonic_params(enc.z, c)
        up = c.clone()
        up[:, 0] += 7.0
        f0_up, amps_up, noise_up = model.harmonic_params(enc.z, up)
    run_both(tmp_path, "encoder", {"x": x, "c": c}, [enc.z, enc.detune])
    run_both(tmp_path, "decoder", {"z": enc.z, "c": c}, [frames, model.to_magnitude(frames)])
    torch.testing.assert_close(f0_up, f0 * 2 ** (7 / 12))  # a fifth up: the partials move ...
    torch.testing.assert_close(amps_up, amps)  # ... and the timbre does not
    torch.testing.assert_close(noise_up, noise)
    with pytest.raises(ValueError, match="labels"):
        model.encode(x)
