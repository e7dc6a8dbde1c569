"""Audio note corpora (rendered with FluidSynth, TinySOL/OrchideaSOL, NSynth) and cached spectrogram frames."""

from .corpus import COLUMNS, AudioChecks, BadAudio, BuildReport, Note, assign_splits, read_audio, read_metadata
from .fluidsynth import INSTRUMENTS, render_corpus
from .frames import FrameIndex, PrepConfig, SplitConfig, load_note, prepare
from .importers import import_nsynth, import_sol

__all__ = [
    "COLUMNS", "INSTRUMENTS", "AudioChecks", "BadAudio", "BuildReport", "FrameIndex", "Note", "PrepConfig",
    "SplitConfig", "assign_splits", "import_nsynth", "import_sol", "load_note", "prepare", "read_audio",
    "read_metadata", "render_corpus",
]
