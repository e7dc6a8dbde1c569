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
from .conditioning import LABELS, MIXED, AudioInfo, Conditioning, DbScale, LabelError, NoAudioInfo
from .likelihoods import build_likelihood
from .networks import build_decoder, build_encoder
from .priors import build_prior
from .regularizers import Encoding, build_regularizer

LOGVAR_RANGE = (-30.0, 20.0)  # keeps exp(logvar) finite
DETUNE_RANGE = 0.5  # semitones: the harmonic encoder's detune estimate lies in +-DETUNE_RANGE


@dataclass
class ModelOutput:
    """Shared output type of every model for a batch ``x`` ``[B, *shape]``."""

    out: Tensor  # [B, *shape] raw decoder output (logits for Bernoulli)
    recon: Tensor  # [B, *shape] mean reconstruction in data space
    enc: Encoding  # z, mu, logvar: [B, d]
    recon_loss: Tensor  # [B] per-sample reconstruction loss
    penalty: Tensor  # [] regularizer value (unweighted)

    def loss(self, weight: float) -> Tensor:
        """The training objective ``mean_i recon_i + weight * penalty`` (``[]``)."""
        return self.recon_loss.mean() + weight * self.penalty


class AutoEncoder(nn.Module):
    """Every model of the package, from its parts. Frame models (``data.name: frames``) also carry
    :class:`~.conditioning.AudioInfo` (``audio``: spectrogram settings, normalisation, vocabularies; ``None``
    for a folder saved before models carried it) and ``db`` (:class:`~.conditioning.DbScale`); conditioned
    ones take labels ``c [B, 4]`` (columns :data:`~.conditioning.LABELS`) in every method."""

    def __init__(self, cfg: RunConfig, data_shape: tuple[int, ...], audio: AudioInfo | dict | None = None):
        super().__init__()
        self.cfg = cfg
        self.data_shape = tuple(data_shape)
        self.audio = AudioInfo.model_validate(audio) if isinstance(audio, dict) else audio
        d = cfg.model.latent_dim
        net, cond = cfg.model.network, cfg.model.conditioning
        self.stochastic = cfg.model.encoder == "gaussian"
        sizes = {k: len(v) for k, v in self.audio.vocab.items()} if self.audio else {}
        self.conditioning = Conditioning(cond, sizes) if cond.labels else None
        e = self.conditioning.dim if self.conditioning else 0
        # the decoder's conditioning: the same labels, less the pitch when only the partials' places read it
        self.dec_conditioning = self.conditioning
        if self.conditioning is not None and net.kind == "harmonic" and not net.decoder_pitch:
            rest = [k for k in cond.labels if k != "pitch"]
            self.dec_conditioning = Conditioning(cond.model_copy(update={"labels": rest}), sizes) if rest else None
        e_dec = self.dec_conditioning.dim if self.dec_conditioning else 0
        self.has_detune = net.kind == "harmonic" and net.detune
        out_dim = (2 * d if self.stochastic else d) + int(self.has_detune)
        self.db = DbScale(self.data_shape[-1]) if cfg.data.kind == "frames" else None
        if self.db is not None and self.audio is not None:
            self.db.set(*self.audio.db_affine())
        self.pitch_view = None
        enc_shape = self.data_shape
        if net.kind == "harmonic" and net.encoder_view != "frame":
            if self.audio is None:
                raise ValueError("model.network.encoder_view: the pitch view needs the audio settings (AudioInfo)")
            from .harmonic import PitchView

            floor = float(self.db.from_db(torch.tensor(-self.audio.spec.top_db)).mean())  # silence, normalised
            self.pitch_view = PitchView(net, self.audio, self.data_shape[-1], floor)
            enc_shape = (*self.data_shape[:-1], self.pitch_view.dim)
        self.encoder = build_encoder(net, enc_shape, out_dim, e if cond.encoder else 0)
        if net.kind == "harmonic":
            if self.audio is None:
                raise ValueError("model.network.kind: the harmonic decoder needs the audio settings (AudioInfo)")
            from .harmonic import HarmonicDecoder

            self.decoder = HarmonicDecoder(net, self.data_shape, d, e_dec, self.audio, self.db)
        else:
            self.decoder = build_decoder(net, self.data_shape, d, e)
        self.prior = build_prior(cfg.prior, d)
        self.regularizer = build_regularizer(cfg.regularizer, d)
        self.likelihood = build_likelihood(cfg.likelihood, tuple(data_shape), self.db)

    @property
    def latent_dim(self) -> int:
        return self.cfg.model.latent_dim

    @property
    def conditioned(self) -> bool:
        return self.conditioning is not None

    @property
    def harmonic(self) -> bool:
        return self.cfg.model.network.kind == "harmonic"

    def _embed(self, c: Tensor | None) -> Tensor | None:
        return self.conditioning(c) if self.conditioning is not None else None

    def encode(self, x: Tensor, c: Tensor | None = None, sample: bool = True) -> Encoding:
        """``[B, *shape]`` (labels ``c [B, 4]``) -> :class:`Encoding` with ``z`` ``[B, d]`` (and ``detune``
        ``[B]`` in semitones for a harmonic model). A Gaussian encoder draws z = mu + sigma * eps when
        ``sample`` (else z = mu)."""
        if self.pitch_view is not None:
            if c is None or c.dim() != 2 or c.shape[1] not in (len(LABELS), len(MIXED)):
                self.conditioning(c)  # the message of a missing or misshapen label tensor
            x = self.pitch_view(x, c[:, LABELS.index("pitch")])
        h = self.encoder(x, self._embed(c) if self.cfg.model.conditioning.encoder else None)
        detune = None
        if self.has_detune:
            h, detune = h[:, :-1], DETUNE_RANGE * torch.tanh(h[:, -1])
        if not self.stochastic:
            return Encoding(z=h, detune=detune)
        mu, logvar = h.chunk(2, dim=1)
        logvar = logvar.clamp(*LOGVAR_RANGE)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        return Encoding(z=z, mu=mu, logvar=logvar, detune=detune)

    def decode(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """``[B, d]`` (labels ``c [B, 4]``; the pitch column may be fractional) -> raw output ``[B, *shape]``."""
        if self.harmonic:
            return self.decoder(z, *self._harmonic_inputs(c))
        return self.decoder(z, self._embed(c))

    def _harmonic_inputs(self, c: Tensor | None) -> tuple[Tensor | None, Tensor]:
        """A harmonic decoder's conditioning ``[B, E']`` (or None) and pitch ``[B]`` from labels ``c [B, 4]``."""
        if c is None:
            raise LabelError("labels: a harmonic decoder places the partials at the pitch; give labels c [B, 4]")
        e = self.dec_conditioning(c) if self.dec_conditioning is not None else None
        return e, c[:, LABELS.index("pitch")]

    def harmonic_params(self, z: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """A harmonic model's synthesis controls for codes ``z [B, d]`` and labels ``c [B, 4]``: ``f0 [B, W]`` (Hz),
        harmonic amplitudes ``[B, W, K]`` and noise bands ``[B, W, N]`` (see :class:`.harmonic.HarmonicDecoder`)."""
        return self.decoder.params(z, *self._harmonic_inputs(c))

    @staticmethod
    def detuned(c: Tensor | None, enc: Encoding) -> Tensor | None:
        """Labels with the encoder's detune estimate added to the pitch column (unchanged without one)."""
        if c is None or enc.detune is None:
            return c
        c = c.clone()
        c[:, LABELS.index("pitch")] += enc.detune
        return c

    def forward(self, x: Tensor, c: Tensor | None = None) -> ModelOutput:
        enc = self.encode(x, c, sample=True)
        out = self.decode(enc.z, self.detuned(c, enc))
        return ModelOutput(
            out=out,
            recon=self.likelihood.mean(out),
            enc=enc,
            recon_loss=self.likelihood.loss(out, x),
            penalty=self.regularizer.penalty(enc, self.prior),
        )

    def fit_codes(self, x: Tensor, c: Tensor | None = None, steps: int = 20, lr: float = 0.03) -> Encoding:
        """Semi-amortized inference (Kim et al. 2018): the encoder's posterior mean (and detune), then ``steps``
        Adam steps on the codes alone to lower the reconstruction loss of ``x`` ``[B, *shape]`` (labels ``c``);
        the networks are not changed. Returns an :class:`Encoding` with the fitted ``z`` ``[B, d]`` (``mu`` too
        for a Gaussian encoder) and detune ``[B]`` (kept in +-DETUNE_RANGE). ``steps=0`` is ``encode(x, c,
        sample=False)``. The regularizer is not part of the fit: fitted codes may sit a little off the prior."""
        with torch.no_grad():
            enc = self.encode(x, c, sample=False)
        if steps <= 0:
            return enc
        z = enc.z.detach().clone().requires_grad_(True)
        det = None if enc.detune is None else enc.detune.detach().clone().requires_grad_(True)
        params = [z] if det is None else [z, det]
        opt = torch.optim.Adam(params, lr=lr)
        with torch.enable_grad():
            for _ in range(steps):
                loss = self.likelihood.loss(self.decode(z, self.detuned(c, Encoding(z=z, detune=det))), x).sum()
                grads = torch.autograd.grad(loss, params)  # the networks' .grad stay untouched
                for p, g in zip(params, grads, strict=True):
                    p.grad = g
                opt.step()
                if det is not None:
                    with torch.no_grad():
                        det.clamp_(-DETUNE_RANGE, DETUNE_RANGE)
        z, det = z.detach(), None if det is None else det.detach()
        return Encoding(z=z, mu=z if enc.mu is not None else None, logvar=enc.logvar, detune=det)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, c: Tensor | None = None, fit_steps: int = 0) -> Tensor:
        """Mean reconstruction from the posterior mean: ``[B, *shape]`` -> ``[B, *shape]`` (``fit_steps``: codes
        fitted by :meth:`fit_codes` first)."""
        enc = self.fit_codes(x, c, fit_steps) if fit_steps else self.encode(x, c, sample=False)
        return self.likelihood.mean(self.decode(enc.z, self.detuned(c, enc)))

    @torch.no_grad()
    def generate(self, n: int, generator: torch.Generator | None = None, c: Tensor | None = None) -> Tensor:
        """Decode ``n`` prior samples (labels ``c`` ``[n, 4]`` or ``[1, 4]``): returns ``[n, *shape]``."""
        z = self.prior.sample(n, generator=generator)
        if c is not None and len(c) == 1:
            c = c.expand(n, -1)
        return self.likelihood.mean(self.decode(z, c))

    def to_magnitude(self, frames: Tensor) -> Tensor:
        """Frames in data space ``[..., F]`` (normalised dB) -> linear magnitudes ``[..., F]`` of the model's
        representation. Needs the audio settings saved with the model."""
        if self.audio is None or self.db is None:
            raise NoAudioInfo(f"{self.cfg.name}: this model folder carries no audio settings (saved before they "
                             "were stored); attach them with `latentsynth audio attach FOLDER --corpus CORPUS`")
        return self.db.to_magnitude(frames, self.audio.spec)

    def autoencoder_parameters(self) -> list[nn.Parameter]:
        """Everything but the adversarial discriminator (which has its own optimizer)."""
        disc = {id(p) for p in getattr(self.regularizer, "discriminator", nn.Module()).parameters()}
        return [p for p in self.parameters() if id(p) not in disc]
