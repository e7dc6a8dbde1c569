"""Training on Lightning: the module, fit/resume/export."""

from .fit import train
from .module import LitAutoEncoder, NonFiniteLossError

__all__ = ["train", "LitAutoEncoder", "NonFiniteLossError"]
