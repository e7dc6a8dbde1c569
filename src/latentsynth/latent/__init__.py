"""Latent space: paths (interpolations, traversals), projections, aggregate-posterior sampling."""

from .paths import lerp, slerp, traversal

__all__ = ["lerp", "slerp", "traversal"]
