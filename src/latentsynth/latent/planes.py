"""Planes of a latent space, the one place they are built: PCA, LDA and two-dimension planes of a set of codes,
the principal directions (one sign convention), the directions left off a plane and the projection of codes onto
a plane and back. Pure torch (scikit-learn only for the LDA fit), no model, no figure.

Sign convention of principal directions (:func:`principal_directions`, hence :func:`pca_plane`, the traversals
and descriptor curves of ``synth``, the instrument's planes and the PCA figures of ``explore``): each direction
is the row of the SVD with its largest-magnitude entry made positive (scikit-learn's ``svd_flip`` of ``Vt``), so
"the PCA plane" is the same, never mirrored, wherever it is drawn.

A plane is ``(centre [d], basis [2, d], scale [2])``: orthonormal rows, and the std of the codes along each
(a floor of :data:`SCALE_FLOOR`); :class:`Plane` adds the remaining directions ``rest [d - 2, d]`` (by decreasing
variance of the codes) and maps plane points to codes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .checks import check_path

SCALE_FLOOR = 1e-6  # std floor of a plane axis (a degenerate axis still gives a grid of its own size)
PLANE_KINDS = ("pca", "lda", "dims")


def sign_fixed(rows: Tensor) -> Tensor:
    """Rows ``[k, d]`` each multiplied by the sign of its largest-magnitude entry (see the module doc)."""
    idx = rows.abs().argmax(-1, keepdim=True)
    return rows * torch.sign(rows.gather(-1, idx))


def principal_directions(codes: Tensor) -> tuple[Tensor, Tensor]:
    """Unit principal directions ``[k, d]`` (rows, by decreasing variance, ``k = min(N, d)``, sign-fixed) and the
    codes' std along each ``[k]`` (unbiased, N - 1) of ``codes [N, d]``."""
    _, s, vh = torch.linalg.svd(codes - codes.mean(0), full_matrices=False)
    return sign_fixed(vh).contiguous(), s / math.sqrt(max(1, codes.shape[0] - 1))


def pca_plane(codes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Principal plane of ``codes`` ``[N, d]``: ``(centre [d], basis [2, d], scale [2])`` with centre the mean,
    basis the two leading principal directions (orthonormal rows; sign fixed so each row's largest-magnitude
    entry is positive) and scale the std of the codes along each (unbiased, N - 1)."""
    check_path(codes, "codes", min_len=2)
    if codes.shape[1] < 2:
        raise ValueError(f"codes must have d >= 2 for a plane, got {tuple(codes.shape)}")
    dirs, stds = principal_directions(codes)
    return codes.mean(0), dirs[:2].contiguous(), stds[:2]


def plane_basis(d: int, dims: tuple[int, int] = (0, 1), dtype: torch.dtype = torch.float32) -> Tensor:
    """Orthonormal basis ``[2, d]`` of the plane of two latent dimensions ``dims = (i, j)``."""
    if isinstance(d, bool) or not isinstance(d, int) or d < 2:
        raise ValueError(f"d must be an int >= 2, got {d!r}")
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= int(j) < d for j in dims):
        raise ValueError(f"dims must be two distinct dimensions in [0, {d}), got {dims!r}")
    basis = torch.zeros(2, d, dtype=dtype)
    basis[0, int(dims[0])] = 1.0
    basis[1, int(dims[1])] = 1.0
    return basis


def check_dims(dims, d: int) -> tuple[int, int]:
    """Two different latent dimensions in ``0..d-1``, or ``ValueError`` naming ``dims``."""
    dims = tuple(int(i) for i in dims)
    if len(dims) != 2 or dims[0] == dims[1] or not all(0 <= i < d for i in dims):
        raise ValueError(f"dims: two different latent dimensions in 0..{d - 1}, got {list(dims)}")
    return dims


def code_plane(codes: Tensor | None, d: int, dims: tuple[int, int] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(centre [d], basis [2, d], scale [2])``: the PCA plane of ``codes [N, d]``, or the plane of latent
    dimensions ``dims`` through the codes' mean (scaled by their std); without codes the unit plane of ``dims``
    (or of dimensions 0 and 1) through 0."""
    codes = None if codes is None else codes.float()
    if dims is not None:
        basis = plane_basis(d, check_dims(dims, d))
        if codes is None:
            return torch.zeros(d), basis, torch.ones(2)
        return codes.mean(0), basis, (codes @ basis.T).std(0).clamp_min(SCALE_FLOOR)
    if codes is None:
        return torch.zeros(d), plane_basis(d, (0, 1)), torch.ones(2)
    centre, basis, scale = pca_plane(codes)
    return centre, basis, scale.clamp_min(SCALE_FLOOR)


def orthonormal_rows(m: Tensor) -> Tensor:
    """Rows of ``m [k, d]`` orthonormalised (Gram-Schmidt by QR), signs kept."""
    q, r = torch.linalg.qr(m.T.double())
    q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(1, dtype=q.dtype))
    return q.T.float().contiguous()


def lda_plane(codes: Tensor, classes: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The plane that best separates ``classes [N]`` (integers, at least two) among ``codes [N, d]``: the two
    linear discriminants (with two classes: the one discriminant, then the leading principal direction not
    parallel to it), orthonormalised, through the codes' mean."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    n_classes = len(classes.unique())
    if n_classes < 2:
        raise ValueError("lda: codes of at least two classes are needed")
    lda = LinearDiscriminantAnalysis(n_components=min(2, n_classes - 1))
    lda.fit(codes.double().numpy(), classes.numpy())
    dirs = torch.from_numpy(lda.scalings_[:, :2].T.copy()).float()
    if len(dirs) < 2:
        pcs, _ = principal_directions(codes)
        dirs = torch.cat([dirs, pcs[:1] if abs(float(pcs[0] @ dirs[0])) < 0.99 else pcs[1:2]])
    basis = orthonormal_rows(dirs)
    centre = codes.mean(0)
    return centre, basis, ((codes - centre) @ basis.T).std(0)


def complement(codes: Tensor | None, basis: Tensor) -> tuple[Tensor, Tensor]:
    """The directions orthogonal to ``basis [2, d]``, by decreasing variance of the codes (PCA of the codes
    projected off the plane), and the codes' std along each."""
    d = basis.shape[1]
    proj = torch.eye(d) - basis.T @ basis
    if codes is None or len(codes) < 3:
        q = orthonormal_rows(torch.cat([basis, torch.eye(d)]))[2:]
        return q[: d - 2], torch.ones(d - 2)
    x = (codes - codes.mean(0)) @ proj
    _, s, vh = torch.linalg.svd(x, full_matrices=True)
    rest = vh[: d - 2]
    rest = rest - (rest @ basis.T) @ basis  # exact orthogonality to the plane
    rest = orthonormal_rows(rest)
    std = ((codes - codes.mean(0)) @ rest.T).std(0)
    return rest, std


def dims_complement(codes: Tensor | None, d: int, dims: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The latent dimensions other than ``dims`` as unit rows ``[d - 2, d]`` (by decreasing variance of the
    codes) and the codes' std along each."""
    others = [i for i in range(d) if i not in dims]
    if codes is not None:
        others.sort(key=lambda i: -float(codes[:, i].var()))
    rest_scale = codes[:, others].std(0) if codes is not None else torch.ones(d - 2)
    return torch.eye(d)[others], rest_scale


@dataclass
class Plane:
    """A plane with the remaining directions: ``kind`` (pca / lda / dims), ``centre [d]``, ``basis [2, d]``,
    ``scale [2]``, ``rest [d - 2, d]`` (orthonormal, orthogonal to the plane), ``rest_scale [d - 2]``."""

    kind: str
    dims: tuple[int, int] | None
    centre: Tensor
    basis: Tensor
    scale: Tensor
    rest: Tensor
    rest_scale: Tensor

    def project(self, z: Tensor) -> Tensor:
        """Codes ``[N, d]`` -> plane coordinates ``[N, 2]``."""
        return (z - self.centre) @ self.basis.T

    def lift(self, xy: Tensor, rest: list[float] | None = None) -> Tensor:
        """Points ``[N, 2]`` of the plane -> codes ``[N, d]``, the other directions held at ``rest``."""
        r = torch.zeros(len(self.rest))
        if rest:
            if len(rest) > len(self.rest):
                raise ValueError(f"plane.rest: {len(rest)} values for the {len(self.rest)} remaining directions")
            r[: len(rest)] = torch.tensor(rest, dtype=torch.float32)
        return self.centre + xy @ self.basis + r @ self.rest


def make_plane(kind: str, d: int, codes: Tensor | None = None, classes: Tensor | None = None,
               dims: tuple[int, int] | None = None) -> Plane:
    """A :class:`Plane` of ``kind``: ``pca`` (of ``codes``), ``lda`` (separating ``classes [N]`` of the codes) or
    ``dims`` (two latent dimensions), with its remaining directions (see :func:`complement`)."""
    if kind not in PLANE_KINDS:
        raise ValueError(f"plane.kind: one of {', '.join(PLANE_KINDS)}, got {kind!r}")
    if kind == "lda":
        if codes is None or classes is None:
            raise ValueError("lda: the plane needs codes and their classes")
        centre, basis, scale = lda_plane(codes, classes)
    else:
        centre, basis, scale = code_plane(codes, d, dims if kind == "dims" else None)
    if kind == "dims":
        rest, rest_scale = dims_complement(codes, d, check_dims(dims, d))
    else:
        rest, rest_scale = complement(codes, basis)
    return Plane(kind, dims, centre.float(), basis.float(), scale.float(), rest, rest_scale.float())


def pca_projection(fit: Tensor, *others: Tensor) -> tuple[list[Tensor], Tensor]:
    """Codes projected onto the PCA plane of ``fit [N, d]`` (``fit`` first, then each of ``others``), as
    ``[*, 2]`` tensors of their dtype, and the fraction of the variance of ``fit`` along each axis ``[2]``."""
    centre, basis, scale = pca_plane(fit)
    total = fit.var(0).sum().clamp_min(torch.finfo(fit.dtype).tiny)
    return [(z - centre) @ basis.T for z in (fit, *others)], scale**2 / total
