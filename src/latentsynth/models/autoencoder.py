"""The auto-encoder: encoder + decoder + prior + regularizer + likelihood, all chosen by the config.

One class covers AE, VAE/beta-VAE, WAE-MMD and WAE-GAN; they differ only in their parts:

============  ==============  ============  ======================
model         encoder         regularizer   typical likelihood
============  ==============  ============  ======================
AE            deterministic   none          bernoulli / mse
VAE           gaussian        kl            bernoulli
WAE-MMD       deterministic   mmd           mse (x 0.05)
WAE-GAN       deterministic   adversarial   mse (x 0.05)
============  ==============  ============  ======================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import RunConfig
from .likelihoods import build_likelihood
from .networks import build_decoder, build_encoder
from .priors import build_prior
from .regularizers import Encoding, build_regularizer

LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite


@dataclass
class ModelOutput:
    """Shared output type of every model for a batch ``x`` ``[B, *shape]``."""

    out: Tensor  # [B, *shape] raw decoder output (logits for Bernoulli)
    recon: Tensor  # [B, *shape] mean reconstruction in data space
    enc: Encoding  # z, mu, logvar: [B, d]
    recon_loss: Tensor  # [B] per-sample reconstruction loss
    penalty: Tensor  # [] regularizer value (unweighted)


class AutoEncoder(nn.Module):
    def __init__(self, cfg: RunConfig, data_shape: tuple[int, ...]):
        super().__init__()
        self.cfg = cfg
        self.data_shape = tuple(data_shape)
        d = cfg.model.latent_dim
        self.stochastic = cfg.model.encoder == "gaussian"
        self.encoder = build_encoder(cfg.model.network, self.data_shape, 2 * d if self.stochastic else d)
        self.decoder = build_decoder(cfg.model.network, self.data_shape, d)
        self.prior = build_prior(cfg.prior, d)
        self.regularizer = build_regularizer(cfg.regularizer, d)
        self.likelihood = build_likelihood(cfg.likelihood, tuple(data_shape))

    @property
    def latent_dim(self) -> int:
        return self.cfg.model.latent_dim

    def encode(self, x: Tensor, sample: bool = True) -> Encoding:
        """``[B, *shape]`` -> :class:`Encoding` with ``z`` ``[B, d]``. A Gaussian encoder draws
        z = mu + sigma * eps when ``sample`` (else z = mu)."""
        h = self.encoder(x)
        if not self.stochastic:
            return Encoding(z=h)
        mu, logvar = h.chunk(2, dim=1)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return Encoding(z=z, mu=mu, logvar=logvar)

    def decode(self, z: Tensor) -> Tensor:
        """``[B, d]`` -> raw decoder output ``[B, *shape]``."""
        return self.decoder(z)

    def forward(self, x: Tensor) -> ModelOutput:
        enc = self.encode(x, sample=True)
        out = self.decode(enc.z)
        return ModelOutput(
            out=out,
            recon=self.likelihood.mean(out),
            enc=enc,
            recon_loss=self.likelihood.loss(out, x),
            penalty=self.regularizer.penalty(enc, self.prior),
        )

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Mean reconstruction from the posterior mean: ``[B, *shape]`` -> ``[B, *shape]``."""
        return self.likelihood.mean(self.decode(self.encode(x, sample=False).z))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Decode ``n`` prior samples: returns ``[n, *shape]`` in data space."""
        z = self.prior.sample(n, generator=generator)
        return self.likelihood.mean(self.decode(z))

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """Everything but the adversarial discriminator (which has its own optimizer)."""
        disc = {id(p) for p in getattr(self.regularizer, "discriminator", nn.Module()).parameters()}
        return [p for p in self.parameters() if id(p) not in disc]
