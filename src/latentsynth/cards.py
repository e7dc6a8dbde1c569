"""Model cards: a short ``CARD.md`` inside a model folder (data, representation, settings, scores), written
from the folder's own ``config.yaml`` and ``metrics.json`` so it never disagrees with them."""

from __future__ import annotations

import shutil
from pathlib import Path

from .config import load_config
from .folders import (
    CODES_FILE,
    MODEL_FILES,
    atomic_write,
    atomic_write_text,
    check_model_folder,
    load_metrics,
    read_json,
)
from .metric_table import METRIC, view


def card_markdown(run: str | Path, note: str = "") -> str:
    """The card of the model folder ``run`` as Markdown (``note``: an optional sentence on why it was chosen)."""
    run = Path(run)
    cfg, metrics = load_config(run), load_metrics(run)
    d, m, reg = cfg.data, cfg.model, cfg.regularizer
    if d.kind == "frames":
        data = (f"spectrogram frames of the corpus `{d.corpus}`: {d.representation}, windows of {d.window} "
                f"frame(s), dB normalised ({d.normalize}); held-out instruments: "
                f"{', '.join(d.holdout_instruments) or 'none'}")
    else:
        data = f"{d.name} images (28x28, binarize={d.binarize})"
    kernel = f", {reg.kernel} kernel{' (multi-scale)' if reg.multiscale else ''}" if reg.kind == "mmd" else ""
    lines = [
        f"# {cfg.name}", "",
        *([note, ""] if note else []),
        f"- **data**: {data}",
        f"- **model**: {m.encoder} encoder, {m.network.kind} network "
        f"({m.network.hidden if m.network.kind == 'mlp' else m.network.channels}), latent {m.latent_dim}",
        f"- **regularizer**: {reg.kind} (weight {reg.weight}{kernel}, schedule {reg.schedule.kind}); "
        f"prior {cfg.prior.kind}; likelihood {cfg.likelihood.kind} (scale {cfg.likelihood.scale})",
        f"- **training**: {cfg.optim.name} lr {cfg.optim.lr}, batch {d.batch_size}, {cfg.train.max_epochs} epochs, "
        f"seed {cfg.train.seed}",
        "- **load**: `latentsynth.load(\"<this folder>\")`; audio: `latentsynth audio reconstruct <this folder>`",
        "", "| score | value |", "|---|---:|",
    ]
    lines += [f"| {m.card} | {m.format(metrics[m.key])} |" for m in view("card") if metrics.get(m.key) is not None]
    probes = next((p for p in (run / "probes.json", run / "explore" / "probes.json") if p.is_file()), None)
    if probes is not None:  # written by `latentsynth explore` (frame models)
        pr = read_json(probes)
        lines += [f"| k-NN probe: instrument accuracy (chance {pr['instrument_chance']:.3f}) | "
                  f"{pr['instrument_acc']:.3f} |",
                  f"| k-NN probe: dynamics accuracy (chance {pr['dynamics_chance']:.3f}) | {pr['dynamics_acc']:.3f} |",
                  f"| k-NN probe: pitch MAE, semitones (chance {pr['pitch_mae_chance']:.2f}) | {pr['pitch_mae']:.2f} |"]
    lines += ["", "Scores: test split, definitions in docs/evaluation.md. Written by `latentsynth card`."]
    return "\n".join(lines) + "\n"


def write_card(run: str | Path, note: str = "") -> Path:
    """Write ``CARD.md`` into the model folder; returns its path."""
    path = Path(run) / "CARD.md"
    atomic_write_text(path, card_markdown(run, note))
    return path


#: the files of a model folder that travel with an exported model (checkpoints and logs stay behind)
EXPORTED = (*MODEL_FILES, "metrics.json", "curves.png", "notes.png", CODES_FILE)  # CODES_FILE: frame models


def export_model(run: str | Path, dest: str | Path, note: str = "") -> Path:
    """Copy the model folder ``run`` (weights, config, metrics, figures, k-NN probes; no checkpoints or logs) to
    ``dest``, write its ``CARD.md`` there and refresh the index ``README.md`` of ``dest``'s parent; returns
    ``dest``.

    Each file is copied to a temporary name and renamed, so an interrupted export never leaves a half file.
    """
    run, dest = check_model_folder(run), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    files = [(run / name, dest / name) for name in EXPORTED] + [(run / "explore" / "probes.json", dest / "probes.json")]
    for src, dst in files:
        if src.is_file():
            atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))
    write_card(dest, note)
    write_index(dest.parent)
    return dest


#: the score columns of the index, audio first (labels and formats from the metric table)
INDEX_COLUMNS = tuple(METRIC[k] for k in ("test_spec_sc", "test_spec_lsd", "test_audio_mrstft", "test_latent_mmd",
                                          "test_active_units"))


def write_index(root: str | Path) -> Path:
    """Write ``root/README.md``: one row per model folder under ``root`` (its card's first note line, its
    representation and scores), read from each folder's own files."""
    root = Path(root)
    rows = []
    for folder in sorted(p for p in root.iterdir() if (p / "model.json").is_file()):
        cfg, m = load_config(folder), load_metrics(folder)
        d = cfg.data
        rep = (f"{d.representation}, {d.window}-frame windows" if d.window > 1 else f"{d.representation} frames"
               ) if d.kind == "frames" else d.name
        card = (folder / "CARD.md").read_text().splitlines() if (folder / "CARD.md").is_file() else []
        note = card[2] if len(card) > 2 and not card[2].startswith("- **") else ""
        cols = [c.format(float(m[c.key])) if isinstance(m.get(c.key), (int, float)) else "-" for c in INDEX_COLUMNS]
        rows.append(f"| [{folder.name}]({folder.name}/CARD.md) | {rep} | {cfg.regularizer.kind} | "
                    + " | ".join(cols) + f" | {note} |")
    head = ["# Model folders", "",
            "Each folder loads with `latentsynth.load(folder)`; its CARD.md gives data, settings and scores. "
            "Written by `latentsynth card RUN --to FOLDER`.", "",
            "| model | data | regularizer | " + " | ".join(c.label for c in INDEX_COLUMNS) + " | why |",
            "|---|---|---|" + "---:|" * len(INDEX_COLUMNS) + "---|"]
    path = root / "README.md"
    atomic_write_text(path, "\n".join(head + rows) + "\n")
    return path
