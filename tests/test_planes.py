"""latent.planes, the one place planes are built: PCA against scikit-learn (values and sign), LDA and the
remaining directions against their definitions."""

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from latentsynth.latent.planes import (
    code_plane,
    complement,
    lda_plane,
    make_plane,
    pca_projection,
    principal_directions,
)
from latentsynth.latent.projections import project


def _codes(n=400, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    scale = torch.linspace(3.0, 0.2, d)
    rot, _ = torch.linalg.qr(torch.randn(d, d, generator=g))
    return (torch.randn(n, d, generator=g) * scale) @ rot + torch.randn(d, generator=g)


def test_principal_directions_and_projection_match_sklearn_pca_with_its_sign():
    z = _codes().double()
    ref = PCA(n_components=4).fit(z.numpy())  # svd_flip: each component's largest-magnitude entry positive
    dirs, stds = principal_directions(z)
    np.testing.assert_allclose(dirs[:4].numpy(), ref.components_, atol=1e-10)
    np.testing.assert_allclose(stds[:4].numpy() ** 2, ref.explained_variance_, rtol=1e-10)
    (pa, pb), ev = pca_projection(z, z[:7] * 2)
    np.testing.assert_allclose(pa.numpy(), ref.transform(z.numpy())[:, :2], atol=1e-10)
    np.testing.assert_allclose(pb.numpy(), ref.transform(z[:7].numpy() * 2)[:, :2], atol=1e-10)
    np.testing.assert_allclose(ev.numpy(), ref.explained_variance_ratio_[:2], rtol=1e-10)
    # explore's figures and synth's planes draw the same plane, never mirrored
    a, _, _ = project(z.float(), z[:3].float(), "pca")
    centre, basis, _ = code_plane(z.float(), z.shape[1])
    np.testing.assert_allclose(a, ((z.float() - centre) @ basis.T).numpy(), atol=1e-4)


def test_lda_plane_separates_classes_and_rest_completes_an_orthonormal_basis():
    g = torch.Generator().manual_seed(1)
    classes = torch.arange(300) % 3
    offsets = torch.tensor([[0.0, 0, 0, 0, 0], [0, 0, 0, 3, 1], [0, 0, 0, -1, 3]])  # class means span dims 3, 4
    z = torch.randn(300, 5, generator=g) * torch.tensor([2.0, 2, 2, 1, 1]) + offsets[classes]
    centre, basis, scale = lda_plane(z, classes)
    assert torch.allclose(basis @ basis.T, torch.eye(2), atol=1e-5)
    # the discriminant plane holds the class-mean offsets almost entirely, not the wider within-class spread
    means = torch.stack([z[classes == k].mean(0) for k in range(3)]) - centre
    kept = ((means @ basis.T) ** 2).sum() / (means**2).sum()
    assert kept > 0.95
    rest, rest_std = complement(z, basis)
    full = torch.cat([basis, rest])
    assert torch.allclose(full @ full.T, torch.eye(5), atol=1e-5)
    assert bool((rest_std[:-1] >= rest_std[1:] - 1e-5).all())  # by decreasing variance


def test_plane_lift_inverts_project_and_bad_dims_are_named():
    z = _codes(100, 4)
    p = make_plane("dims", 4, z, dims=(2, 0))
    xy = torch.tensor([[0.3, -1.0]])
    assert torch.allclose(p.project(p.lift(xy, [0.5])), xy, atol=1e-6)
    assert p.lift(xy, [0.5])[0, p.rest.argmax(1)[0]] == pytest.approx(float(p.centre[p.rest.argmax(1)[0]]) + 0.5)
    with pytest.raises(ValueError, match="dims: two different latent dimensions in 0..3"):
        make_plane("dims", 4, z, dims=(1, 1))
    with pytest.raises(ValueError, match="plane.rest"):
        p.lift(xy, [0.0, 0.0, 0.0])
