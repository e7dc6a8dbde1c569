"""``latentsynth explore``: every latent-structure and generation figure of a saved image model.

Writes into ``<run>/explore/``: ``projection_pca.png`` (and ``projection_tsne.png``), ``samples_prior.png``,
``samples_aggregate.png``, ``traversals.png``, ``interpolations_linear.png``, ``interpolations_spherical.png``
and ``probes.json`` (k-NN and linear probes of the class, as in the sweep's metrics).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from ..data.images import ImageDataModule
from ..evaluation.metrics import encode_all
from ..evaluation.probes import class_probes_of_codes
from ..folders import write_json
from ..models import AutoEncoder
from ..plots import save_grid
from .paths import lerp, slerp, traversal
from .projections import plot_projections
from .sampling import fit_aggregate_posterior, sample_aggregate_posterior


def encodings(model: AutoEncoder, data: ImageDataModule, n: int = 5000, seed: int = 0):
    """Posterior-mean codes and labels of ``n`` train and ``n`` test images (seeded subset)."""
    g = torch.Generator().manual_seed(seed)
    it = torch.randperm(len(data.train), generator=g)[:n]
    iv = torch.randperm(len(data.test), generator=g)[:n]
    xt, yt = data.train.__getitems__(it.tolist())
    xv, yv = data.test.__getitems__(iv.tolist())
    return encode_all(model, xt), yt, encode_all(model, xv), yv


@torch.no_grad()
def _decode(model: AutoEncoder, z: Tensor) -> Tensor:
    return model.likelihood.mean(model.decode(z.reshape(-1, model.latent_dim))).cpu()


def explore(model: AutoEncoder, out: str | Path, data: ImageDataModule, tsne: bool = False, n_samples: int = 100,
            traversal_range: float = 3.0, steps: int = 10, seed: int = 0) -> list[Path]:
    """Write every figure for ``model`` into ``out``; returns the paths."""
    out = Path(out)
    name = model.cfg.name
    written = []
    zt, yt, zv, yv = encodings(model, data, seed=seed)
    classes = data.classes
    write_json(out / "probes.json", {"train_images": len(zt), "test_images": len(zv),
                                     **class_probes_of_codes(zt, yt, zv, yv)})
    written.append(out / "probes.json")
    written.append(plot_projections([(name, zt, yt, zv, yv)], out / "projection_pca.png", "pca", classes))
    if tsne:
        sub = slice(0, 2000)
        written.append(plot_projections([(name, zt[sub], yt[sub], zv[sub], yv[sub])], out / "projection_tsne.png",
                                        "tsne", classes))
    g = torch.Generator().manual_seed(seed)
    written.append(save_grid(model.generate(n_samples, generator=g), out / "samples_prior.png",
                             title=f"{name}: samples from the prior"))
    gmm = fit_aggregate_posterior(zt, n_components=10, seed=seed)
    written.append(save_grid(_decode(model, sample_aggregate_posterior(gmm, n_samples, seed)),
                             out / "samples_aggregate.png",
                             title=f"{name}: samples from the aggregate posterior (10-component GMM on codes)"))
    # traversals: each row moves one latent dimension over +-range prior stds around the code of a test image
    sigma = model.prior.sigma
    values = torch.linspace(-traversal_range * sigma, traversal_range * sigma, steps)
    dims = list(range(min(model.latent_dim, 16)))
    trav = traversal(zv[0], dims, values)  # [dims, steps, d]
    written.append(save_grid(_decode(model, trav), out / "traversals.png", nrow=steps,
                             title=f"{name}: dimensions 0-{dims[-1]} from -{traversal_range:g} to "
                                   f"+{traversal_range:g} prior std (rows), others fixed"))
    # interpolations between pairs of test images (first and last column: their reconstructions)
    pairs = [(2 * i, 2 * i + 1) for i in range(8)]
    a, b = zv[[p[0] for p in pairs]], zv[[p[1] for p in pairs]]
    for kind, fn in (("linear", lerp), ("spherical", slerp)):
        path = fn(a, b, steps).transpose(0, 1)  # [pairs, steps, d]
        written.append(save_grid(_decode(model, path), out / f"interpolations_{kind}.png", nrow=steps,
                                 title=f"{name}: {kind} interpolations between test images"))
    return written
