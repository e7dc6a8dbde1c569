"""Signal processing: magnitude representations, Griffin-Lim phase reconstruction and spectral metrics."""

from .griffinlim import griffinlim, invert, istft, stft
from .metrics import log_spectral_distance, multi_resolution_stft_distance, spectral_convergence
from .transforms import (
    REPRESENTATIONS,
    NormStats,
    SpecConfig,
    compress,
    cqt_to_linear,
    decompress,
    magnitude,
    mel_basis,
    mel_to_linear,
)

__all__ = [
    "REPRESENTATIONS", "NormStats", "SpecConfig", "compress", "cqt_to_linear", "decompress", "griffinlim", "invert",
    "istft", "log_spectral_distance", "magnitude", "mel_basis", "mel_to_linear", "multi_resolution_stft_distance",
    "spectral_convergence", "stft",
]
