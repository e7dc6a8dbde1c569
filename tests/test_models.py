import itertools

import pytest
import torch

from latentsynth import load, save_model
from latentsynth.config import list_presets, load_config
from latentsynth.models import AutoEncoder


@pytest.mark.parametrize(
    "kind, latent, encoder, shape",
    list(itertools.product(["mlp", "conv"], [1, 2, 16], ["deterministic", "gaussian"],
                           [(1, 28, 28), (1, 20, 20), (2, 16, 9), (1, 257), (5, 84)])),
)
def test_shapes_for_every_network_combination(kind, latent, encoder, shape):
    reg = "kl" if encoder == "gaussian" else "mmd"
    cfg = load_config("mnist-vae", [f"model.network.kind={kind}", f"model.latent_dim={latent}",
                                    f"model.encoder={encoder}", f"regularizer.kind={reg}",
                                    "model.network.hidden=[32]", "model.network.channels=[4, 8]"])
    model = AutoEncoder(cfg, shape)
    x = torch.rand(3, *shape)
    out = model(x)
    assert out.enc.z.shape == (3, latent)
    assert out.out.shape == out.recon.shape == (3, *shape)
    assert out.recon_loss.shape == (3,) and out.penalty.shape == ()
    assert (out.enc.mu is not None) == (encoder == "gaussian")
    assert model.generate(5).shape == (5, *shape)


def test_conv_network_has_the_paper_layout():
    cfg = load_config("mnist-wae-mmd-imq", ["model.network.kind=conv", "model.network.channels=[128,256,512,1024]"])
    model = AutoEncoder(cfg, (1, 28, 28))
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (128, (4, 4), (2, 2)), (256, (4, 4), (2, 2)), (512, (4, 4), (2, 2)), (1024, (4, 4), (2, 2))]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.encoder.modules()) == 4


@pytest.mark.parametrize("preset", [p for p in list_presets() if p.startswith("mnist-")])
def test_save_load_round_trip_and_train_step(preset, tmp_path):
    torch.manual_seed(0)
    cfg = load_config(preset, ["model.network.hidden=[32]", "model.latent_dim=4"])
    model = AutoEncoder(cfg, (1, 28, 28))
    x = torch.rand(16, 1, 28, 28)
    params = model.autoencoder_parameters()
    opt = torch.optim.Adam(params, lr=1e-3)
    before = [p.detach().clone() for p in params]
    out = model(x)
    (out.recon_loss.mean() + cfg.regularizer.weight * out.penalty).backward()
    opt.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, params, strict=True))
    model.eval()
    save_model(model, tmp_path / "m", {"test_bce": 1.0})
    assert not list((tmp_path / "m").glob("*.tmp"))
    loaded = load(tmp_path / "m")
    assert loaded.cfg == cfg
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    torch.testing.assert_close(loaded.reconstruct(x), model.reconstruct(x), rtol=0, atol=0)


@pytest.mark.parametrize("preset", [p for p in list_presets() if p.startswith("mnist-")])
def test_a_few_steps_reconstruct_better_than_the_mean_image(preset):
    """Fails for a decoder that outputs zeros or a constant, or an objective that does not reach the decoder:
    60 steps on 4 binary prototypes must reconstruct them far better than their mean image (or zeros) does."""
    torch.manual_seed(0)
    cfg = load_config(preset, ["model.network.hidden=[32]", "model.latent_dim=4"])
    model = AutoEncoder(cfg, (1, 28, 28))
    protos = (torch.rand(4, 1, 28, 28) > 0.5).float()
    x = protos[torch.arange(32) % 4]
    opt = torch.optim.Adam(model.autoencoder_parameters(), lr=3e-3)
    for _ in range(60):
        out = model(x)
        opt.zero_grad()
        (out.recon_loss.mean() + cfg.regularizer.weight * out.penalty).backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        err = (model.reconstruct(x) - x).pow(2).mean().item()
    mean_err = (x.mean(0, keepdim=True) - x).pow(2).mean().item()  # ~0.19; zeros: ~0.5
    assert err < 0.5 * mean_err and err < 0.5 * x.pow(2).mean().item(), (err, mean_err)


def test_load_refuses_non_model_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a latentsynth model folder"):
        load(tmp_path)


def test_conv_on_frames_is_one_dimensional_and_flat_input_is_refused():
    cfg = load_config("mnist-vae", ["model.network.kind=conv", "model.network.channels=[4, 8]"])
    model = AutoEncoder(cfg, (3, 100))
    assert any(isinstance(m, torch.nn.Conv1d) for m in model.encoder.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    with pytest.raises(ValueError, match="conv needs"):
        AutoEncoder(cfg, (784,))


def test_fit_codes_reaches_the_least_squares_codes_of_a_linear_decoder():
    """With a linear decoder and a sum-of-squares loss the best code of each item is a least-squares solution
    (numpy's lstsq); fitting from the encoder's codes gets there, and leaves the networks untouched."""
    cfg = load_config("mnist-ae", ["model.network.hidden=[]", "model.latent_dim=3", "likelihood.kind=mse",
                                   "likelihood.output=identity", "likelihood.scale=1.0"])
    torch.manual_seed(0)
    model = AutoEncoder(cfg, (1, 6, 6)).eval()
    x = torch.rand(4, 1, 6, 6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.testing.assert_close(model.fit_codes(x, steps=0).z, model.encode(x, sample=False).z)
    z = model.fit_codes(x, steps=1500, lr=0.05).z
    lin = model.decoder.net[0]
    want = torch.linalg.lstsq(lin.weight.double(), (x.flatten(1).double() - lin.bias.double()).T).solution.T
    torch.testing.assert_close(z.double(), want, atol=2e-3, rtol=1e-3)
    loss = model.likelihood.loss(model.decode(z), x)
    assert (loss < model.likelihood.loss(model.decode(model.encode(x, sample=False).z), x)).all()
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
