"""Evaluation shared by every model."""

from .metrics import evaluate, iw_nll, latent_mmd, reconstruction_errors

__all__ = ["evaluate", "iw_nll", "latent_mmd", "reconstruction_errors"]
