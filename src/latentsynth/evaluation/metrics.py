"""One evaluation for every model, whatever its training loss.

* ``bce`` / ``mse``: reconstruction of the test set from the posterior mean, summed over pixels, mean over
  images (BCE of the mean reconstruction clamped to [1e-6, 1 - 1e-6]).
* ``latent_mmd``: MMD^2 between ``n`` test codes and ``n`` prior samples, always with the multi-scale IMQ
  kernel (C = 2 d sigma_prior^2) and a fixed seed, so models are comparable.
* ``nll_iw``: importance-weighted estimate of -log p(x) in nats (Burda et al. 2016) with K samples from
  q(z|x), for a Gaussian encoder with a normalized likelihood and a prior with a density.
* ``loss`` / ``recon`` / ``reg``: the model's own objective at full weight on the test set.
* aggregate posterior: per-dimension mean / variance of q(z), KL of its Gaussian fit to the prior's, active units
  (see :mod:`latentsynth.evaluation.latent`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from ..models import AutoEncoder
from ..models.regularizers import MMD_SCALES, default_bandwidth, gaussian_log_density, mmd
from .latent import aggregate_posterior_stats


def _batches(x: Tensor, size: int, c: Tensor | None = None):
    """Slices of ``x`` (and of the labels ``c``, or None) of ``size`` items."""
    for i in range(0, len(x), size):
        yield x[i : i + size], None if c is None else c[i : i + size]


def _to(c: Tensor | None, dev) -> Tensor | None:
    return None if c is None else c.to(dev)


@torch.no_grad()
def encode_all(model: AutoEncoder, x: Tensor, sample: bool = False, batch_size: int = 1000,
               c: Tensor | None = None) -> Tensor:
    """Codes of ``x`` ``[N, *shape]`` (labels ``c [N, 4]`` for a conditioned model) -> ``[N, d]`` (posterior
    means unless ``sample``)."""
    dev = next(model.parameters()).device
    return torch.cat([model.encode(b.to(dev), _to(cb, dev), sample=sample).z.cpu()
                      for b, cb in _batches(x, batch_size, c)])


@torch.no_grad()
def reconstruction_errors(model: AutoEncoder, x: Tensor, batch_size: int = 1000,
                          c: Tensor | None = None) -> dict[str, float | None]:
    """Per-item BCE and squared error (summed over dimensions), averaged over ``x`` ``[N, *shape]``.

    BCE only for data in [0, 1] (images, min-max normalised frames), else ``None``."""
    dev = next(model.parameters()).device
    bce: float | None = 0.0 if float(x.min()) >= 0 and float(x.max()) <= 1 else None
    mse = 0.0
    for b, cb in _batches(x, batch_size, c):
        b = b.to(dev)
        r = model.reconstruct(b, _to(cb, dev))
        if bce is not None:
            bce += F.binary_cross_entropy(r.clamp(1e-6, 1 - 1e-6), b, reduction="sum").item()
        mse += ((r - b) ** 2).sum().item()
    return {"bce": None if bce is None else bce / len(x), "mse": mse / len(x)}


@torch.no_grad()
def latent_mmd(model: AutoEncoder, x: Tensor, n: int = 2000, seed: int = 0, c: Tensor | None = None) -> float:
    """Reference MMD^2 between the codes of the first ``n`` items of ``x`` and ``n`` prior samples."""
    n = min(n, len(x))
    g = torch.Generator().manual_seed(seed)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)  # the encoder's own sampling noise, if any
    z = encode_all(model, x[:n], sample=model.stochastic, c=None if c is None else c[:n])
    torch.random.set_rng_state(state)
    zp = model.prior.sample(n, generator=g).cpu()
    c = default_bandwidth(model.latent_dim, model.prior.sigma)
    return mmd(z, zp, "imq", c, MMD_SCALES).item()


def supports_nll(model: AutoEncoder) -> bool:
    return model.stochastic and model.likelihood.is_normalized and model.prior.has_log_prob


@torch.no_grad()
def iw_nll(model: AutoEncoder, x: Tensor, k: int = 100, batch_size: int = 100, seed: int = 0,
           c: Tensor | None = None) -> float:
    """Importance-weighted -log p(x) per item, K = ``k`` samples: -log mean_k p(x|z_k) p(z_k) / q(z_k|x)."""
    if not supports_nll(model):
        raise ValueError("the IW-NLL needs a gaussian encoder, a bernoulli/gaussian likelihood and a prior density")
    dev = next(model.parameters()).device
    g = torch.Generator(device="cpu").manual_seed(seed)
    total = 0.0
    for b, cb in _batches(x, batch_size, c):
        b, cb = b.to(dev), _to(cb, dev)
        enc = model.encode(b, cb, sample=False)
        mu, logvar = enc.mu, enc.logvar  # [B, d]
        eps = torch.randn(k, *mu.shape, generator=g).to(dev)
        z = mu + eps * (0.5 * logvar).exp()  # [K, B, d]
        log_q = gaussian_log_density(z, mu, logvar)  # [K, B]
        log_p = model.prior.log_prob(z)  # [K, B]
        ck = None if cb is None else model.detuned(cb, enc).repeat(k, 1)  # [K*B, 4]
        out = model.decode(z.flatten(0, 1), ck)  # [K*B, *shape]
        target = b.unsqueeze(0).expand(k, *b.shape).flatten(0, 1)
        log_px = -(model.likelihood.loss(out, target) / model.likelihood.scale).view(k, len(b))
        log_w = log_px + log_p - log_q
        total += -(torch.logsumexp(log_w, 0) - math.log(k)).sum().item()
    return total / len(x)


@torch.no_grad()
def objective(model: AutoEncoder, x: Tensor, batch_size: int = 500, seed: int = 0,
              c: Tensor | None = None) -> dict[str, float]:
    """The model's own loss at full regularizer weight (mean over batches of ``batch_size``)."""
    dev = next(model.parameters()).device
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    recon = reg = loss = 0.0
    n = 0
    for b, cb in _batches(x, batch_size, c):
        out = model(b.to(dev), _to(cb, dev))
        recon += out.recon_loss.sum().item()
        reg += out.penalty.item() * len(b)
        loss += out.loss(model.cfg.regularizer.weight).item() * len(b)
        n += len(b)
    torch.random.set_rng_state(state)
    return {"recon": recon / n, "reg": reg / n, "loss": loss / n}


def evaluate(model: AutoEncoder, x: Tensor, iw_samples: int = 100, mmd_samples: int = 2000,
             prefix: str = "test_", c: Tensor | None = None) -> dict[str, float | None]:
    """All metrics above on ``x`` ``[N, *shape]`` (values in [0, 1]; labels ``c [N, 4]`` for a conditioned
    model); keys prefixed with ``prefix``."""
    model.eval()
    c = c if model.conditioned else None
    res: dict[str, float | None] = {}
    res.update(reconstruction_errors(model, x, c=c))
    res["latent_mmd"] = latent_mmd(model, x, mmd_samples, c=c)
    res["nll_iw"] = iw_nll(model, x, iw_samples, c=c) if supports_nll(model) else None
    res.update(objective(model, x, c=c))
    res.update(latent_stats(model, x, c=c))
    return {prefix + k: v for k, v in res.items()}


@torch.no_grad()
def latent_stats(model: AutoEncoder, x: Tensor, seed: int = 0, c: Tensor | None = None) -> dict[str, object]:
    """Aggregate-posterior statistics of ``x`` ``[N, *shape]`` against ``N`` prior samples (fixed seed)."""
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    z = encode_all(model, x, sample=model.stochastic, c=c)
    torch.random.set_rng_state(state)
    mu = encode_all(model, x, sample=False, c=c)
    prior = model.prior.sample(len(x), generator=torch.Generator().manual_seed(seed)).cpu()
    return aggregate_posterior_stats(z, mu, prior)
