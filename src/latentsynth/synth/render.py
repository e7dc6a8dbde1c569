"""A path file rendered: resampled to its duration (or reparametrised by decoded arc length), its labels encoded,
decoded and rendered by :meth:`~.engine.Synth.render`."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..models.conditioning import LABELS, MIXED, NAMED, mix_labels
from .engine import Synth, SynthError, edge_fade
from .pathfile import PathFile


def render_path(synth: Synth, pf: PathFile, method: str = "auto", n_iter: int = 32, seed: int = 0,
                phase: float | None = None, fade: bool = True) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """Audio of a path file, with the codes and labels actually rendered: ``(y [samples], z [T', d],
    c [T', 4])``. With ``duration`` the path is resampled to ``duration / hop`` points (by decoded arc length
    when ``constant_speed``). A whole path (``fade`` and no ``phase``) fades in and out over
    :data:`~.engine.EDGE_FRAMES` hops; blocks of a stream (the instrument) are left as rendered."""
    from ..latent.geodesic import constant_speed
    from ..latent.paths import resample_path

    if pf.latent_dim != synth.latent_dim:
        raise SynthError(f"path: latent_dim {pf.latent_dim} does not match the model's {synth.latent_dim}")
    z = pf.z
    pitch = torch.tensor(pf.pitch, dtype=torch.float32) if isinstance(pf.pitch, list) else pf.pitch
    points = len(z) if pf.duration is None else max(2, math.ceil(pf.duration / synth.hop_seconds))
    c = synth.labels(len(z), pitch, pf.instrument, pf.dynamics, pf.style) if synth.model.conditioned else None
    if c is not None and pf.weights is not None and pf.to:  # label weights: the two notes' labels blended
        to = synth.labels(1, pf.to.get("pitch") or float(c[0, 0]), pf.to.get("instrument"),
                          pf.to.get("dynamics"), pf.to.get("style"))[0]
        mixed = mix_labels(c[0], to, torch.tensor(pf.weights), glide=False)
        mixed[:, LABELS.index("pitch")] = c[:, LABELS.index("pitch")]  # the path's own pitch (a glide: a curve)
        c = mixed
    if points != len(z) or pf.constant_speed:
        if pf.constant_speed and len(z) > 1:
            z = constant_speed(z, synth.decoded_distance_fn(c), points)
        else:
            z = resample_path(z, points) if len(z) > 1 else z.expand(points, -1).clone()
        if c is not None:
            c = resample_path(c, points) if len(c) > 1 else c.expand(points, -1).clone()
            named = [LABELS.index(k) for k in NAMED] + [MIXED.index(f"{k}_to") for k in NAMED if c.shape[1] > 4]
            c[:, named] = c[:, named].round()  # names stay indices (label weights stay fractional)
    y = synth.render(z, c, method, n_iter, seed, phase)
    if fade and phase is None:  # a whole path, not a block of a stream: fade in and out over a few frames
        y = edge_fade(torch.from_numpy(y), synth.spec.hop_length).numpy()
    return y, z, c
