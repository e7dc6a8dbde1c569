"""Latent synthesis (Exercise 4): notes as latent paths, path generators, rendering, gallery, export.

:class:`Synth` wraps a loaded frame model (labels from names, paths -> frames -> magnitudes -> audio, additive
or Griffin-Lim); :class:`PathFile` is a path on disk; :func:`encode_note` turns a recording into its path;
:func:`make_path` makes every kind of path (:data:`KINDS`); :func:`render_path` renders a path file.
"""

from .engine import METHODS, Synth, SynthError
from .generators import KINDS, make_path
from .notes import encode_note
from .pathfile import PathFile, PathFileError
from .render import render_path

__all__ = ["KINDS", "METHODS", "PathFile", "PathFileError", "Synth", "SynthError", "encode_note", "make_path",
           "render_path"]
