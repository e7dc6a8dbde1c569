"""The web instrument as a static folder (``latentsynth synth export MODEL --web DIR``): the page of ``static/``
(the same files the server serves) with the model in ``static/bundle.js`` instead of the API, so it plays from
``file://`` or any static host with no Python and no server::

    DIR/index.html              the served page, unchanged
    DIR/static/*.js, style.css  the page, the synthesizer core and the AudioWorklet, unchanged
    DIR/static/bundle.js        window.LATENTSYNTH_BUNDLE = {models, descriptors, planes, heatmaps, web}: the models,
                                PCA plane, density and descriptor heatmaps (precomputed at the default labels),
                                and the decoder (web.json + weights.bin base64: a file:// page cannot fetch files)
    DIR/model/web.json, weights.bin   the same decoder as files (latentsynth.synth.web), for other hosts

What needs the server is unavailable there, with a message: other planes, heatmaps at other labels, encoding a
recording, server-side path generators and Griffin-Lim rendering (only harmonic models export).
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

from ..folders import atomic_write_text
from ..synth.export import ExportError
from ..synth.web import write_web_model
from . import api
from .app import STATIC, model_names
from .core import Instrument

PAGE_FILES = ("app.js", "live.js", "synth-core.js", "worklet.js", "style.css")


def export_web(folder: str | Path, out: str | Path, heatmap_size: int = 32) -> dict[str, Path]:
    """Write the static web instrument of the harmonic model in ``folder`` into ``out`` (see module doc); returns
    ``{file: path}``. :class:`~latentsynth.synth.export.ExportError` for a model that cannot play in a page."""
    out = Path(out)
    name = model_names([folder])[0]
    inst = Instrument(name, folder)
    if not inst.synth.model.harmonic:
        raise ExportError(f"{folder}: a web export plays harmonic models only (this one renders with Griffin-Lim: "
                          "use `latentsynth serve`)")
    written = {f"model/{k}": v for k, v in write_web_model(inst.synth.model, out / "model").items()}
    plane = inst.plane_out(api.PlaneSpec())
    heat = {}
    for q in api.QUANTITIES:  # density and every descriptor of the registry
        try:
            heat[q] = inst.heatmap(api.HeatmapRequest(quantity=q, size=heatmap_size,
                                                      extent=plane.extent)).model_dump(mode="json")
        except ValueError:  # a descriptor the representation has no bins for
            continue
    manifest = json.loads((out / "model" / "web.json").read_text())
    weights = base64.b64encode((out / "model" / "weights.bin").read_bytes()).decode()
    bundle = {"models": [inst.info().model_dump(mode="json")],
              "descriptors": [d.model_dump(mode="json") for d in api.descriptor_list()],
              "planes": {name: plane.model_dump(mode="json")},
              "heatmaps": {name: heat}, "web": {name: {"manifest": manifest, "weights": weights}}}
    (out / "static").mkdir(parents=True, exist_ok=True)
    for f in PAGE_FILES:
        shutil.copyfile(STATIC / f, out / "static" / f)
        written[f"static/{f}"] = out / "static" / f
    shutil.copyfile(STATIC / "index.html", out / "index.html")
    written["index.html"] = out / "index.html"
    atomic_write_text(out / "static" / "bundle.js",
                      "// the model of this web export (latentsynth.serve.webexport): the page needs no server\n"
                      f"window.LATENTSYNTH_BUNDLE = {json.dumps(bundle, separators=(',', ':'))};\n")
    written["static/bundle.js"] = out / "static" / "bundle.js"
    return written


__all__ = ["export_web"]
