"""Bring a frame model folder saved before folders carried their audio settings up to date.

Such a folder (``model.json`` without ``audio``) still loads, encodes and decodes normalised frames, but cannot
make sound on its own. :func:`attach_audio` rebuilds what it lacks from the corpus it was trained on (the same
prepared cache, so the same normalisation statistics): the :class:`~latentsynth.models.conditioning.AudioInfo`
in ``model.json``, the dB scale in the weights, and the training-code sample (``codes.safetensors``).
"""

from __future__ import annotations

from pathlib import Path

from ..data import data_module
from ..folders import load, load_metrics, save_model
from .fit import save_code_sample


def attach_audio(folder: str | Path, corpus: str | Path | None = None) -> Path:
    """Write the audio settings and code sample of the frame model in ``folder`` (``corpus``: its training
    corpus, if it moved since training); returns the folder."""
    folder = Path(folder)
    model = load(folder)
    if model.cfg.data.kind != "frames":
        raise ValueError(f"{folder}: a model of {model.cfg.data.name} images; only frame models make sound")
    data = data_module(model.cfg, str(corpus) if corpus else None)
    if tuple(data.shape) != tuple(model.data_shape):
        raise ValueError(f"{folder}: the corpus gives items of shape {list(data.shape)}, the model was trained on "
                         f"{list(model.data_shape)}; give the corpus it was trained on (--corpus)")
    model.audio = data.audio_info()
    model.db.set(*model.audio.db_affine())
    save_model(model, folder, load_metrics(folder) or None)
    save_code_sample(model, data, folder)
    return folder
