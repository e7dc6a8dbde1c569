"""latentsynth: regularized auto-encoders (AE, VAE, WAE) and latent audio synthesis."""

__version__ = "0.1.0"

from .folders import load, save_model  # noqa: E402

__all__ = ["load", "save_model", "__version__"]
