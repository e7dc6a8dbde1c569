"""A gallery: for each model, every path generator's WAV and figure, on one HTML page with audio players.

``gallery(models, out)`` writes ``out/<model>/<kind>.{path.json,wav,png}`` and ``out/index.html``. The notes
that blends start from are two training notes of different instruments (their codes from the model's saved
code sample, in time order), or the notes of ``corpus`` when given with note file stems.
"""

from __future__ import annotations

import html
import time
from pathlib import Path

import torch

from ..dsp.audiofile import write_wav
from ..folders import atomic_write_text, write_json
from ..models.conditioning import LABELS
from .engine import Synth, loudness_normalize
from .figures import plot_path
from .generators import KINDS, label_fields, make_path
from .notes import code_sample_note
from .pathfile import PathFile
from .render import render_path


def sample_notes(synth: Synth, n: int = 2) -> list[PathFile]:
    """Paths of ``n`` training notes of different instruments (as far apart as the sample allows), from the
    model's code sample: each note's sampled codes in time order of the sample (one point per code)."""
    cs = synth.codes
    if cs is None:
        raise ValueError(f"{synth.model.cfg.name}: the model folder has no codes.safetensors (train it again, or "
                         "give --note path files)")
    inst = cs.labels[:, LABELS.index("instrument")].long()
    counts = torch.bincount(cs.note, minlength=len(cs.names))
    chosen: list[int] = []
    for i in inst.unique().tolist():
        notes = cs.note[inst == i].unique()
        best = int(notes[counts[notes].argmax()])
        chosen.append(best)
        if len(chosen) == n:
            break
    chosen += [int(k) for k in counts.argsort(descending=True) if int(k) not in chosen][: n - len(chosen)]
    return [code_sample_note(synth, k) for k in chosen]


GALLERY_KINDS = KINDS + ("morph",)  # morph: from the first note's timbre to the second's at one pitch


def steady(note: PathFile) -> PathFile:
    """A one-point path: the mean code of the middle half of a note (its sustained sound), its median pitch."""
    z = note.z
    mid = z[len(z) // 4: max(len(z) // 4 + 1, 3 * len(z) // 4)].mean(0, keepdim=True)
    return PathFile.from_tensor(mid, **label_fields(note), meta=note.meta)


def gallery(models: list[str | Path], out: str | Path, kinds: tuple[str, ...] = GALLERY_KINDS, seconds: float = 2.0,
            notes: list[PathFile] | None = None, quiet: bool = False) -> Path:
    """Write every generator's WAV, path file and figure for each model, and ``index.html``; returns it."""
    out = Path(out)
    sections = []
    for folder in models:
        synth = Synth.load(folder)
        name = synth.model.cfg.name
        pair = notes or sample_notes(synth, 2)
        points = max(2, round(seconds / synth.hop_seconds))
        rows = []
        for kind in kinds:
            t0 = time.perf_counter()
            if kind == "morph":  # the straight line between the two sustained codes, the first note's pitch held
                pf = make_path(synth, "lerp", [steady(n) for n in pair], points=points, alpha="sweep",
                               pitch_mode="hold")
            else:
                pf = make_path(synth, kind, pair, points=points)
            pf.duration = seconds
            y, z, c = render_path(synth, pf)
            stem = out / name / kind
            pf.save(stem.with_suffix(".path.json"))
            write_wav(stem.with_suffix(".wav"), loudness_normalize(y), synth.spec.sample_rate)
            plot_path(synth, z, y, stem.with_suffix(".png"), f"{name}: {kind}")
            info = {k: v for k, v in pf.meta.items() if k in ("ratio", "length", "line_length")}
            rows.append((kind, f"{name}/{kind}", info, time.perf_counter() - t0))
            if not quiet:
                print(f"[{name}] {kind}: {stem.with_suffix('.wav')} ({rows[-1][3]:.1f} s)", flush=True)
        sections.append((name, [n.meta.get("source", "") for n in pair], rows))
        write_json(out / name / "gallery.json", {"model": str(folder), "notes": sections[-1][1],
                                                 "paths": [{"kind": k, **i} for k, _, i, _ in rows]})
    page = out / "index.html"
    atomic_write_text(page, _html(sections))
    return page


def _html(sections) -> str:
    parts = ["<!doctype html><meta charset='utf-8'><title>latentsynth gallery</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:auto}figure{display:inline-block;"
             "margin:8px;width:560px;vertical-align:top}img{width:100%}figcaption{font-size:13px}</style>",
             "<h1>latentsynth gallery</h1><p>Every path generator of <code>latentsynth synth path</code>, rendered "
             "by <code>latentsynth synth render</code> (additive for harmonic models, Griffin-Lim otherwise).</p>"]
    for name, notes, rows in sections:
        parts.append(f"<h2>{html.escape(name)}</h2><p>notes: {html.escape(', '.join(notes))}</p>")
        for kind, stem, info, _ in rows:
            extra = " ".join(f"{k} {v}" for k, v in info.items())
            parts.append(f"<figure><figcaption><b>{kind}</b> {html.escape(extra)}</figcaption>"
                         f"<audio controls preload='none' src='{stem}.wav'></audio>"
                         f"<img src='{stem}.png' alt='{kind}'></figure>")
    return "\n".join(parts) + "\n"
