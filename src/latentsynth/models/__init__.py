"""Model parts: networks, priors, regularizers, likelihoods, schedules and the auto-encoder."""

from .autoencoder import AutoEncoder, ModelOutput
from .priors import build_prior
from .regularizers import Encoding, kernel_matrix, mmd

__all__ = ["AutoEncoder", "ModelOutput", "Encoding", "build_prior", "kernel_matrix", "mmd"]
