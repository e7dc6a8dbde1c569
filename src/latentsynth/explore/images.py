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
from ..evaluation.probes import class_probes_of_codes, encodings
from ..folders import write_json
from ..latent.paths import lerp, slerp, traversal
from ..latent.sampling import fit_aggregate_posterior, sample_aggregate_posterior
from ..models import AutoEncoder
from ..plots import save_grid
from .projections import plot_projections


@torch.no_grad()
def decode_mean(model: AutoEncoder, z: Tensor, c: Tensor | None = None) -> Tensor:
    """Mean decoding of codes ``[..., d]`` (flattened to ``[N, d]``; labels ``c [N, 4]`` for a conditioned
    model) in data space, on the CPU."""
    return model.likelihood.mean(model.decode(z.reshape(-1, model.latent_dim), c)).cpu()


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
    written.append(save_grid(decode_mean(model, sample_aggregate_posterior(gmm, n_samples, seed)),
                             out / "samples_aggregate.png",
                             title=f"{name}: samples from the aggregate posterior (10-component GMM on codes)"))
    # traversals: each row moves one latent dimension over +-range prior stds around the code of a test image
    sigma = model.prior.sigma
    values = torch.linspace(-traversal_range * sigma, traversal_range * sigma, steps)
    dims = list(range(min(model.latent_dim, 16)))
    trav = traversal(zv[0], dims, values)  # [dims, steps, d]
    written.append(save_grid(decode_mean(model, trav), out / "traversals.png", nrow=steps,
                             title=f"{name}: dimensions 0-{dims[-1]} from -{traversal_range:g} to "
                                   f"+{traversal_range:g} prior std (rows), others fixed"))
    # interpolations between pairs of test images (first and last column: their reconstructions)
    pairs = [(2 * i, 2 * i + 1) for i in range(8)]
    a, b = zv[[p[0] for p in pairs]], zv[[p[1] for p in pairs]]
    for kind, fn in (("linear", lerp), ("spherical", slerp)):
        path = fn(a, b, steps).transpose(0, 1)  # [pairs, steps, d]
        written.append(save_grid(decode_mean(model, path), out / f"interpolations_{kind}.png", nrow=steps,
                                 title=f"{name}: {kind} interpolations between test images"))
    return written
