"""Training on Lightning: the module, fit/resume/export."""

from .fit import CheckpointError, TrainingInterrupted, train
from .module import LitAutoEncoder, NonFiniteLossError

__all__ = ["train", "CheckpointError", "TrainingInterrupted", "LitAutoEncoder", "NonFiniteLossError"]
