"""Decoded-space geometry (latentsynth.latent.geodesic): lengths, geodesics, constant-speed reparametrisation."""

import math

import pytest
import torch

from latentsynth.latent.geodesic import constant_speed, curve_energy, curve_length, geodesic
from latentsynth.latent.paths import lerp


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def bump(z: torch.Tensor, c: float = 5.0, sigma: float = 0.5) -> torch.Tensor:
    """decode(z) = [z, c exp(-|z|^2 / 2 sigma^2)]: a bump at the origin; the straight line from (-2, 0) to (2, 0)
    climbs over it, a curve around it is much shorter."""
    return torch.cat([z, c * torch.exp(-(z ** 2).sum(-1, keepdim=True) / (2 * sigma ** 2))], -1)


def test_curve_length_and_energy_closed_form():
    A = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]], dtype=torch.float64)
    path = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    lin = lambda z: z @ A.T  # noqa: E731
    s1, s2 = math.sqrt(4 + 1), math.sqrt(9 + 1)  # |A e1|, |A e2|
    assert float(curve_length(path, lin)) == pytest.approx(s1 + s2)
    assert float(curve_energy(path, lin)) == pytest.approx(2 * (s1 ** 2 + s2 ** 2))
    # any output shape is flattened: [N, 1, 3] gives the same length
    assert float(curve_length(path, lambda z: lin(z)[:, None])) == pytest.approx(s1 + s2)


def test_geodesic_linear_decoder_is_the_line():
    g = torch.Generator().manual_seed(0)
    A = torch.randn(40, 5, generator=g)
    z0, z1 = torch.randn(5, generator=g), torch.randn(5, generator=g)
    r = geodesic(z0, z1, lambda z: z @ A.T, n_points=12, steps=200)
    assert r.path.shape == (12, 5)
    torch.testing.assert_close(r.path[[0, -1]], torch.stack([z0, z1]))
    assert float(r.ratio) == pytest.approx(1.0, abs=1e-3)
    # points on the segment, evenly spaced (constant decoded speed of a linear map = constant latent speed)
    line = lerp(z0, z1, 12)
    assert float((r.path - line).norm(dim=-1).max()) < 2e-3 * float((z1 - z0).norm())
    assert float(r.length) == pytest.approx(float((A @ (z1 - z0)).norm()), rel=1e-3)


def test_geodesic_avoids_bump():
    z0, z1 = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 0.0])
    r = geodesic(z0, z1, bump, n_points=16, steps=200)
    # the straight line rises and falls ~c = 5 on top of its length 4; going round the bump costs little
    assert float(r.line_length) > 10.0
    assert float(r.ratio) < 0.6
    assert float(r.length) == pytest.approx(float(curve_length(
        torch.nn.functional.interpolate(r.path.T[None], size=121, mode="linear", align_corners=True)[0].T, bump)),
        rel=1e-4)
    # the curve left the line: its middle is away from the bump's centre, and the energy went down
    assert float(r.path[8].norm()) > 0.8
    assert float(r.energy_trace[-1]) < 0.2 * float(r.energy_trace[0])
    assert r.energy_trace.shape == (201,)


def test_geodesic_density_term_pulls_toward_data():
    # flat (identity) decoder: the plain geodesic is the line; data lie on an arc above the line, and the
    # density term bends the curve toward them
    theta = torch.linspace(0.1, math.pi - 0.1, 200)
    codes = torch.stack([2 * torch.cos(theta), 2 * torch.sin(theta)], -1)
    z0, z1 = torch.tensor([-2.0, 0.0]), torch.tensor([2.0, 0.0])
    plain = geodesic(z0, z1, lambda z: z, n_points=9)
    near = geodesic(z0, z1, lambda z: z, n_points=9, density_codes=codes, uncertainty_weight=1.0, k=4)
    assert float(plain.path[4, 1].abs()) < 0.05
    assert float(near.path[4, 1]) > 0.5
    assert float(near.ratio) > 1.0  # longer than the line, in exchange for staying near the data


def test_geodesic_through_a_decoder_leaves_its_weights_alone():
    """Its speed is benchmarks/synthesis.py's (a timed assertion here would only measure the machine's load)."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 512), torch.nn.Tanh(), torch.nn.Linear(512, 513))
    z0, z1 = torch.randn(16), torch.randn(16)
    before = [p.detach().clone() for p in mlp.parameters()]
    r = geodesic(z0, z1, mlp, n_points=16, steps=200)
    assert float(r.ratio) <= 1.0 + 1e-6
    assert all(torch.equal(a, p) for a, p in zip(before, mlp.parameters(), strict=True))
    assert all(p.grad is None for p in mlp.parameters())  # the decoder's own gradients are untouched
    assert all(p.grad is None for p in mlp.parameters())  # the decoder's own gradients are untouched


def test_constant_speed_equalises_decoded_spacing():
    # very uneven latent speed (z ~ s^4), and a nonlinear decoder: both must be undone
    s = torch.linspace(0, 1, 30, dtype=torch.float64) ** 4
    path = torch.stack([4 * s - 2, 0.3 * torch.ones_like(s)], -1)
    dec = lambda z: bump(z, c=3.0)  # noqa: E731

    def spread(p):
        steps = torch.diff(dec(p), dim=0).norm(dim=-1)
        return float(steps.std() / steps.mean())

    out = constant_speed(path, dec, 50, oversample=16)
    assert out.shape == (50, 2)
    torch.testing.assert_close(out[[0, -1]], path[[0, -1]])
    assert spread(path) > 1.0
    assert spread(out) < 0.03
    # total decoded length is preserved (up to the discretisation of the original path)
    assert float(curve_length(out, dec)) == pytest.approx(float(curve_length(path, dec)), rel=0.02)
    # zero decoded length: uniform resampling in time
    flat = constant_speed(torch.zeros(5, 3), lambda z: z.sum(-1, keepdim=True) * 0, 7)
    assert flat.shape == (7, 3)


@pytest.mark.parametrize("call, name", [
    (lambda: curve_length(torch.zeros(1, 2), lambda z: z), "path"),
    (lambda: geodesic(torch.zeros(2), torch.zeros(3), lambda z: z), "latent sizes differ"),
    (lambda: geodesic(torch.zeros(2), torch.ones(2), lambda z: z, n_points=2), "n_points"),
    (lambda: geodesic(torch.zeros(2), torch.ones(2), lambda z: z, uncertainty_weight=1.0), "density_codes"),
    (lambda: geodesic(torch.zeros(2), torch.ones(2), lambda z: z, density_codes=torch.zeros(5, 3),
                      uncertainty_weight=1.0), "latent sizes differ"),
    (lambda: geodesic(torch.zeros(2, 1), torch.ones(2), lambda z: z), "z0"),
    (lambda: constant_speed(torch.zeros(4, 2), lambda z: z, 1), "T_out"),
    (lambda: curve_length(torch.zeros(4, 2), lambda z: z[:2]), "decode"),
])
def test_wrong_inputs_raise_named_errors(call, name):
    with pytest.raises(ValueError, match=name):
        call()
