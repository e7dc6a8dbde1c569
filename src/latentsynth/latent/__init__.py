"""Latent geometry, no figures: paths (interpolations, traversals), 2-D projections, aggregate-posterior
sampling. Figures of it: :mod:`latentsynth.explore`."""

from .paths import lerp, slerp, traversal

__all__ = ["lerp", "slerp", "traversal"]
