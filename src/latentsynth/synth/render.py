"""A path file rendered: resampled to its duration (or reparametrised by decoded arc length), its labels encoded,
decoded and rendered by :meth:`~.engine.Synth.render`."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..models.conditioning import LABELS, NAMED
from .engine import Synth, SynthError
from .pathfile import PathFile


def render_path(synth: Synth, pf: PathFile, method: str = "auto", n_iter: int = 32, seed: int = 0,
                phase: float | None = None) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Audio of a path file, with the codes and labels actually rendered: ``(y [samples], z [T', d],
    c [T', 4])``. With ``duration`` the path is resampled to ``duration / hop`` points (by decoded arc length
    when ``constant_speed``)."""
    from ..latent.geodesic import constant_speed
    from ..latent.paths import resample_path

    if pf.latent_dim != synth.latent_dim:
        raise SynthError(f"path: latent_dim {pf.latent_dim} does not match the model's {synth.latent_dim}")
    z = pf.z
    pitch = torch.tensor(pf.pitch, dtype=torch.float32) if isinstance(pf.pitch, list) else pf.pitch
    points = len(z) if pf.duration is None else max(2, math.ceil(pf.duration / synth.hop_seconds))
    c = synth.labels(len(z), pitch, pf.instrument, pf.dynamics, pf.style) if synth.model.conditioned else None
    if points != len(z) or pf.constant_speed:
        if pf.constant_speed and len(z) > 1:
            z = constant_speed(z, synth.decoded_distance_fn(c), points)
        else:
            z = resample_path(z, points) if len(z) > 1 else z.expand(points, -1).clone()
        if c is not None:
            c = resample_path(c, points) if len(c) > 1 else c.expand(points, -1).clone()
            named = [LABELS.index(k) for k in NAMED]
            c[:, named] = c[:, named].round()  # names stay indices
    return synth.render(z, c, method, n_iter, seed, phase), z, c
