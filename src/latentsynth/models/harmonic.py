"""Harmonic-plus-noise decoder: codes + labels + pitch -> the magnitudes of a harmonic tone with a noise floor.

A decoder that does not know the pitch must learn where every harmonic of every note goes; this one is told
the pitch and only learns the *timbre*: per frame, the amplitudes of ``K`` partials at ``k x f0`` and a noise
envelope of ``N`` bands. :func:`latentsynth.dsp.harmonic.render_magnitudes` turns them into the STFT frame such
a tone has (the analysis window's main lobe placed at each partial), mapped to mel through the mel bank when the
model was trained on mel frames. So the decoder generalises to pitches it never saw, and the same parameters
(:meth:`HarmonicDecoder.params`) drive additive synthesis with no phase retrieval.

Shapes: ``z [B, d]``, conditioning ``e [B, E]``, pitch ``[B]`` (MIDI, float) -> frames ``[B, W, F]``
(normalised dB, the data space of the frame models).

:class:`PitchView` is the encoder's side of the same idea (``model.network.encoder_view``): it shows the encoder
each frame sampled at multiples of the labelled f0, so partial ``k`` is always at the same input whatever the
pitch, and a note at a pitch never trained on is encoded from a familiar pattern.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..config import NetworkConfig
from ..dsp.harmonic import harmonic_view, midi_to_hz, render_magnitudes, to_representation
from .conditioning import AudioInfo, DbScale


def exp_sigmoid(x: Tensor, max_value: float = 2.0, threshold: float = 1e-7) -> Tensor:
    """DDSP's positive output non-linearity: ``max_value * sigmoid(x) ** ln(10) + threshold`` (same shape)."""
    return max_value * torch.sigmoid(x).pow(math.log(10.0)) + threshold


class HarmonicDecoder(nn.Module):
    """MLP trunk on ``[z, e]`` -> per-frame harmonic amplitudes ``[B, W, K]`` and noise bands ``[B, W, N]``,
    rendered at ``f0 = midi_to_hz(pitch)`` into ``[B, W, F]`` normalised dB frames (see module doc)."""

    AMP_MAX = 2.0  # time-domain amplitude of one partial (peak-normalised notes stay below 1)
    NOISE_MAX = 20.0  # STFT magnitude of the noise envelope (white noise of std 1 gives about 20)

    def __init__(self, cfg: NetworkConfig, shape: tuple[int, ...], latent: int, cond_dim: int, audio: AudioInfo,
                 db: DbScale):
        super().__init__()
        self.window, self.n_bins = shape
        self.k, self.n = cfg.n_harmonics, cfg.noise_bands
        self.spec = audio.spec
        self.__dict__["db"] = db  # the model's normalisation (registered once, on the AutoEncoder)
        widths = [latent + cond_dim, *reversed(cfg.hidden)]
        layers: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:], strict=True):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.1)]
        self.trunk = nn.Sequential(*layers)
        self.amps = nn.Linear(widths[-1], self.window * self.k)
        self.noise = nn.Linear(widths[-1], self.window * self.n)
        with torch.no_grad():  # start quiet but well above the -80 dB floor, where the gradients live
            self.amps.bias.fill_(-3.0)
            self.noise.bias.fill_(-3.0)
        self.floor = 10.0 ** (-audio.spec.top_db / 20.0)

    def params(self, z: Tensor, e: Tensor | None, pitch: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``f0 [B, W]`` (Hz), harmonic amplitudes ``[B, W, K]`` (time-domain sine amplitudes) and noise
        bands ``[B, W, N]`` (STFT magnitudes) for codes ``z [B, d]``, conditioning ``e`` and pitch ``[B]``."""
        h = self.trunk(z if e is None else torch.cat([z, e], dim=1))
        amps = exp_sigmoid(self.amps(h), self.AMP_MAX).unflatten(1, (self.window, self.k))  # no len(z): exportable
        noise = exp_sigmoid(self.noise(h), self.NOISE_MAX).unflatten(1, (self.window, self.n))
        f0 = midi_to_hz(pitch)[:, None].expand(-1, self.window)
        return f0, amps, noise

    def magnitudes(self, z: Tensor, e: Tensor | None, pitch: Tensor) -> Tensor:
        """Linear magnitudes ``[B, W, F]`` in the model's representation."""
        f0, amps, noise = self.params(z, e, pitch)
        return to_representation(render_magnitudes(f0, amps, noise, self.spec), self.spec)

    def forward(self, z: Tensor, e: Tensor | None, pitch: Tensor) -> Tensor:
        mag = self.magnitudes(z, e, pitch)
        db = 10.0 * torch.log10(mag.pow(2) + self.floor**2)  # a soft -top_db floor: gradients everywhere
        return self.db.from_db(db)


class PitchView(nn.Module):
    """What a harmonic model's encoder reads: frames ``[B, W, F]`` (normalised dB) and pitch ``[B]`` (MIDI) ->
    ``[B, W, V]``. ``pitch``: the frame at ``u * f0`` for ``u = 1/P .. K`` (:func:`~latentsynth.dsp.harmonic.
    harmonic_view`, ``K * P`` values) then its mean in ``N`` linear bands over 0..Nyquist (the noise and what lies
    above ``K * f0``), ``V = K * P + N``; ``both``: that view followed by the frame itself, ``V = K * P + F``."""

    def __init__(self, cfg: NetworkConfig, audio: AudioInfo, n_bins: int, fill: float):
        super().__init__()
        self.spec, self.mode = audio.spec, cfg.encoder_view
        self.k, self.p, self.fill = cfg.n_harmonics, cfg.view_points, fill
        n = cfg.noise_bands
        band = torch.div(torch.arange(n_bins) * n, n_bins, rounding_mode="floor")  # [F] band of each bin
        pool = torch.zeros(n_bins, n).index_put_((torch.arange(n_bins), band), torch.ones(n_bins))
        self.register_buffer("pool", pool / pool.sum(0).clamp_min(1.0), persistent=False)  # [F, N] band means
        self.dim = self.k * self.p + (n if self.mode == "pitch" else n_bins)

    def forward(self, x: Tensor, pitch: Tensor) -> Tensor:
        view = harmonic_view(x, midi_to_hz(pitch), self.spec, self.k, self.p, self.fill)  # [B, W, K * P]
        rest = x @ self.pool if self.mode == "pitch" else x
        return torch.cat([view, rest], dim=-1)
