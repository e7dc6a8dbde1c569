"""The synthesis engine: latent paths of a frame model -> frames -> magnitudes -> audio.

A path is ``z [T, d]`` with labels ``c [T, 4]`` (columns :data:`~latentsynth.models.conditioning.LABELS`: MIDI
pitch, which may glide or carry a detune, and the indices of instrument, dynamics and style). Each point is one
item of the model's data (one frame, or a window of ``W`` frames), one hop (about 11.6 ms) apart.

Two renderers:

* ``griffinlim``: any model; decoded magnitudes -> torch Griffin-Lim (:func:`latentsynth.dsp.invert`);
* ``additive``: harmonic models; the decoder's own parameters (f0, harmonic amplitudes, noise bands) drive
  :func:`latentsynth.dsp.harmonic.additive_synth`: sinusoids at k x f0 with accumulated phase plus filtered
  noise, no phase retrieval.

:class:`CodeSample` is the sample of training codes saved in a model folder (``codes.safetensors``): what the
figures, the instrument's XY pad and the density-aware geodesics place a path against, with no corpus at hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dsp.griffinlim import invert
from ..dsp.harmonic import additive_synth, base_phase, midi_to_hz, safe_peak
from ..folders import CodeSample
from ..models import AutoEncoder
from ..models.conditioning import LABELS, MIXED, NoAudioInfo
from .pathfile import ModelStamp, PathFile

METHODS = ("auto", "additive", "griffinlim")
PITCH_MARGIN = 12  # semitones a harmonic model may play beyond the pitch range of its training notes


FADE_SECONDS = 0.005  # raised-cosine fade in and out: no click where a sound starts or stops mid-wave


def fade(y: Tensor, n: int) -> Tensor:
    """``y [..., N]`` with raised-cosine fades of ``n`` samples at both ends (shorter for short signals)."""
    n = min(n, y.shape[-1] // 2)
    if n < 1:
        return y
    ramp = 0.5 - 0.5 * torch.cos(torch.linspace(0, torch.pi, n + 2, dtype=y.dtype)[1:-1])
    y = y.clone()
    y[..., :n] *= ramp
    y[..., -n:] *= ramp.flip(0)
    return y


EDGE_FRAMES = 4  # a whole rendered path fades in and out over this many hops (issue #22)


def edge_fade(y: Tensor, hop: int, frames: int = EDGE_FRAMES) -> Tensor:
    """``y [..., N]`` faded in and out over ``frames`` hops at each end: the first and last hop silent, then a
    raised-cosine ramp over the other ``frames - 1`` hops, so a path that starts or stops at full level neither
    clicks nor splatters (shorter signals: over a quarter of their length each)."""
    n = min(frames * hop, y.shape[-1] // 4)
    if n < 2:
        return y
    lead = min(hop, n // 2)
    ramp = torch.zeros(n, dtype=y.dtype)
    ramp[lead:] = 0.5 - 0.5 * torch.cos(torch.linspace(0, torch.pi, n - lead + 2, dtype=y.dtype)[1:-1])
    y = y.clone()
    y[..., :n] *= ramp
    y[..., -n:] *= ramp.flip(0)
    return y


def loudness_normalize(y: np.ndarray, rms_db: float = -20.0, peak_db: float = -1.0) -> np.ndarray:
    """``y [N]`` scaled to an RMS of ``rms_db`` dBFS (over the samples within 40 dB of the loudest 10 ms), or
    less where its peak would pass ``peak_db`` dBFS: the level of gallery and study WAVs (silence stays)."""
    y = np.asarray(y, dtype=np.float32)
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak < 1e-9:
        return y
    blocks = y[: len(y) - len(y) % 220].reshape(-1, 220) if len(y) >= 220 else y[None]
    rms = np.sqrt((blocks**2).mean(1))
    loud = blocks[rms >= rms.max() * 0.01]
    gain = min(10 ** (rms_db / 20) / max(float(np.sqrt((loud**2).mean())), 1e-12), 10 ** (peak_db / 20) / peak)
    return (y * gain).astype(np.float32)


class SynthError(ValueError):
    """Bad synthesis input (wrong latent size, an unknown renderer, a path that is not finite)."""


class Synth:
    """A loaded frame model as an instrument: labels from names, paths -> frames, magnitudes and audio."""

    def __init__(self, model: AutoEncoder, codes: CodeSample | None = None):
        if model.db is None:
            raise SynthError(f"{model.cfg.name}: an image model cannot make sound; use a frame model "
                             "(data.name=frames)")
        if model.audio is None:
            raise NoAudioInfo(f"{model.cfg.name}: this model folder carries no audio settings (saved before they "
                              "were stored); attach them with `latentsynth audio attach FOLDER --corpus CORPUS`")
        self.model, self.codes = model.eval(), codes
        self.info = model.audio
        self.spec = model.audio.spec
        self.window = model.data_shape[0]

    @classmethod
    def load(cls, folder: str | Path) -> Synth:
        from ..folders import load

        return cls(load(folder), CodeSample.load(folder))

    @property
    def latent_dim(self) -> int:
        return self.model.latent_dim

    def stamp(self) -> ModelStamp:
        """What a path file records of this model (:class:`~.pathfile.ModelStamp`): the fingerprint is the first
        16 hex digits of a SHA-256 over its config and every tensor of its state (names, shapes, bytes)."""
        if getattr(self, "_stamp", None) is None:
            import hashlib

            from ..config import dump_yaml

            h = hashlib.sha256(dump_yaml(self.model.cfg).encode())
            for key, t in sorted(self.model.state_dict().items()):
                t = t.detach().cpu().reshape(-1).contiguous()
                h.update(f"{key}{list(t.shape)}{t.dtype}".encode())
                h.update(t.view(torch.uint8).numpy().tobytes())
            self._stamp = ModelStamp(name=self.model.cfg.name, fingerprint=h.hexdigest()[:16],
                                     latent_dim=self.latent_dim, sample_rate=self.spec.sample_rate,
                                     pitched=bool(self.model.conditioned))
        return self._stamp

    def check_made_for(self, pf: PathFile, source: str = "path", force: bool = False) -> str | None:
        """None when ``pf`` was made for this model; a warning when it cannot tell (an older path file without
        ``model``) or when ``force`` lets a mismatch through; else :class:`SynthError` saying what differs."""
        mine = self.stamp()
        if pf.model is None:
            return (f"{source}: made before path files recorded their model, so it cannot be checked against "
                    f"{mine.name}; it renders as if made for it (re-make it with `latentsynth synth encode` or "
                    "`synth path` to record the model)")
        if pf.model.fingerprint == mine.fingerprint:
            return None
        theirs = pf.model
        what = [f"{k} {getattr(theirs, k)} here {getattr(mine, k)}" for k in ("latent_dim", "sample_rate")
                if getattr(theirs, k) != getattr(mine, k)]
        if theirs.pitched != mine.pitched:
            what.append(f"{'pitched' if theirs.pitched else 'pitchless'} there, "
                        f"{'pitched' if mine.pitched else 'pitchless'} here")
        diff = "; ".join(what) or "same sizes, other weights (codes of another model mean other sounds)"
        msg = (f"{source}: made for {theirs.describe()}, not for this model {mine.describe()}: {diff}")
        if force:
            return msg + "; rendered anyway (--force)"
        raise SynthError(msg + ". Render it with the model it was made for, re-make it with this one, or pass "
                               "--force to render it anyway")

    @property
    def hop_seconds(self) -> float:
        """Seconds between two consecutive points of a path (one item = ``window`` frames)."""
        return self.info.hop_seconds * self.window

    def labels(self, n: int = 1, pitch: float | Tensor | None = None, instrument: str | None = None,
               dynamics: str | None = None, style: str | None = None) -> Tensor:
        """Labels ``[n, 4]`` from names; ``pitch`` a MIDI number or a curve ``[n]`` (default: the middle of
        the model's range): the codec :meth:`~latentsynth.models.conditioning.AudioInfo.labels` with this model's
        pitch margin (a harmonic decoder places partials at any f0). Unknown names raise
        :class:`~latentsynth.models.conditioning.LabelError`."""
        return self.info.labels(n, pitch, instrument, dynamics, style,
                                margin=PITCH_MARGIN if self.model.harmonic else 0, check_range=self.model.conditioned)

    def check_path(self, z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """``z [T, d]`` (and labels ``[T, 4]`` or ``[1, 4]``) as float tensors, or one clear error."""
        z = torch.as_tensor(z, dtype=torch.float32)
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise SynthError(f"path: expected codes [T, {self.latent_dim}] for this model, got {list(z.shape)}")
        if len(z) == 0 or not bool(torch.isfinite(z).all()):
            raise SynthError("path: codes must be finite numbers, at least one point")
        if c is None:
            if self.model.conditioned:
                c = self.labels(len(z))
            return z, c
        c = torch.as_tensor(c, dtype=torch.float32)
        if c.dim() != 2 or c.shape[1] not in (len(LABELS), len(MIXED)) or len(c) not in (1, len(z)):
            raise SynthError(f"labels: expected [T, {len(LABELS)}] or [1, {len(LABELS)}], got {list(c.shape)}")
        return z, c.expand(len(z), -1).contiguous()

    @torch.no_grad()
    def frames(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Decoded frames in data space (normalised dB) ``[T * W, F]``."""
        z, c = self.check_path(z, c)
        out = self.model.likelihood.mean(self.model.decode(z, c if self.model.conditioned else None))
        return out.reshape(-1, out.shape[-1])

    @torch.no_grad()
    def magnitudes(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """Linear magnitudes ``[T * W, F]`` of the model's representation."""
        return self.model.to_magnitude(self.frames(z, c))

    def resolve(self, method: str) -> str:
        if method not in METHODS:
            raise SynthError(f"method: one of {', '.join(METHODS)}, got {method!r}")
        if method == "auto":
            return "additive" if self.model.harmonic else "griffinlim"
        if method == "additive" and not self.model.harmonic:
            raise SynthError("method: additive rendering needs a harmonic model (model.network.kind=harmonic); "
                             "use griffinlim")
        return method

    @torch.no_grad()
    def harmonic_params(self, z: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """A harmonic model's per-frame ``f0 [T * W]`` (Hz), amplitudes ``[T * W, K]``, noise ``[T * W, N]``."""
        z, c = self.check_path(z, c)
        f0, amps, noise = self.model.harmonic_params(z, c)
        return f0.reshape(-1), amps.reshape(-1, amps.shape[-1]), noise.reshape(-1, noise.shape[-1])

    @torch.no_grad()
    def render(self, z: Tensor, c: Tensor | None = None, method: str = "auto", n_iter: int = 32,
               seed: int = 0, phase: float | None = None) -> np.ndarray:
        """Audio ``[samples]`` (float32, peak-safe: scaled down only if it would clip) of a path. ``phase``:
        the additive renderer's starting phase (cycles; :meth:`phase_after` of the previous block)."""
        method = self.resolve(method)
        if method == "additive":
            f0, amps, noise = self.harmonic_params(z, c)
            g = torch.Generator().manual_seed(seed)
            p0 = None if phase is None else torch.tensor([float(phase)])
            y = additive_synth(f0[None], amps[None], noise[None], self.spec, generator=g, phase=p0)[0]
        else:
            mag = self.magnitudes(z, c)  # [T, F]
            y = invert(mag.T[None], self.spec, n_iter=n_iter, seed=seed)[0]
        return safe_peak(fade(y, int(FADE_SECONDS * self.spec.sample_rate))).numpy().astype(np.float32)

    @torch.no_grad()
    def phase_after(self, z: Tensor, c: Tensor | None, samples: int, phase: float | None = None) -> float:
        """The additive renderer's phase (cycles) ``samples`` samples into the rendering of a path started at
        ``phase``: the ``phase`` of the block that follows there, so held notes rendered block by block stay one
        continuous tone."""
        z, c = self.check_path(z, c)
        f0 = midi_to_hz(c[:, LABELS.index("pitch")]).repeat_interleave(self.window)  # the decoder's f0, [T * W]
        p0 = None if phase is None else torch.tensor([float(phase)])
        return float(base_phase(f0[None], samples, self.spec, p0)[0])

    def decoded_distance_fn(self, c: Tensor | None = None):
        """``z [N, d] -> frames [N, W * F]`` with fixed labels (the first row of ``c``): the decoded space in
        which geodesics and constant-speed playback measure lengths."""
        c0 = None if c is None else torch.as_tensor(c, dtype=torch.float32)[:1]

        def decode(z: Tensor) -> Tensor:
            cc = None
            if self.model.conditioned:
                cc = (c0 if c0 is not None else self.labels(1)).expand(len(z), -1)
            return self.model.likelihood.mean(self.model.decode(z, cc)).flatten(1)

        return decode


def conditioned(synth) -> bool:
    """Whether ``synth`` (a :class:`Synth`, or a duck-typed toy decoder without a model) takes labels."""
    model = getattr(synth, "model", None)
    return bool(model is not None and model.conditioned)


def labels_for(synth, n: int, labels: Tensor | dict | None = None) -> Tensor | None:
    """Labels ``[n, 4]`` for ``n`` codes: ``labels`` as a ``[1, 4]`` / ``[n, 4]`` tensor or a dict of
    :meth:`~.engine.Synth.labels` arguments (pitch, instrument, dynamics, style); None for an unconditioned
    model."""
    if not conditioned(synth):
        return None
    if labels is None:
        labels = synth.labels(1)
    elif isinstance(labels, dict):
        labels = synth.labels(1, **{k: v for k, v in labels.items() if v is not None})
    labels = torch.as_tensor(labels, dtype=torch.float32)
    return labels.expand(n, -1) if len(labels) == 1 else labels
