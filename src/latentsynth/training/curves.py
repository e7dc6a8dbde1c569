"""Training curves read back from the CSV logs of a run (all restarts merged) and drawn as a PNG."""

from __future__ import annotations

import csv
import re
from pathlib import Path


def read_curves(run: str | Path) -> dict[str, list[tuple[float, float]]]:
    """``{metric: [(x, value), ...]}`` from ``logs/csv/version_*/metrics.csv``.

    ``x`` is the optimizer step for per-step metrics (``*_step``, ``train/reg_weight``) and the epoch for the
    rest; when a resumed run logged the same x again, the later value wins.
    """
    files = sorted((Path(run) / "logs" / "csv").glob("version_*/metrics.csv"),
                   key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))
    merged: dict[str, dict[float, float]] = {}
    for f in files:
        with f.open(newline="") as fh:
            for row in csv.DictReader(fh):
                for key, val in row.items():
                    if key in ("epoch", "step") or val in (None, ""):
                        continue
                    per_step = key.endswith("_step") or key == "train/reg_weight"
                    x = float(row["step"] if per_step else row["epoch"])
                    merged.setdefault(key, {})[x] = float(val)
    return {k: sorted(v.items()) for k, v in merged.items()}


def plot_curves(run: str | Path, path: str | Path | None = None) -> Path:
    """Draw loss, reconstruction, regularizer and weight schedule against epochs into ``curves.png``."""
    from ..plots import plt, save_figure

    curves = read_curves(run)
    path = Path(path or Path(run) / "curves.png")
    panels = [("loss", ["train/loss_epoch", "val/loss"]), ("reconstruction", ["train/recon_epoch", "val/recon"]),
              ("regularizer", ["train/reg_epoch", "val/reg"]), ("regularizer weight", ["train/reg_weight"])]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
    steps_per_epoch = None
    if "train/loss_step" in curves and "train/loss_epoch" in curves:
        last_step = curves["train/loss_step"][-1][0]
        steps_per_epoch = (last_step + 1) / (curves["train/loss_epoch"][-1][0] + 1)
    for ax, (title, keys) in zip(axes, panels, strict=True):
        for key in keys:
            if key not in curves:
                continue
            xs, ys = zip(*curves[key], strict=True)
            if key == "train/reg_weight" and steps_per_epoch:
                xs = [x / steps_per_epoch for x in xs]
            else:
                xs = [x + 1 for x in xs]  # epoch k ends at x = k + 1
            ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, ms=3, label=key.split("/")[0])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        if ax.lines:
            ax.legend(fontsize=8)
    fig.suptitle(Path(run).name, fontsize=10)
    return save_figure(fig, path)
