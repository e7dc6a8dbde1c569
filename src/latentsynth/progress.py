"""Progress lines for long loops: one format for item loops (corpus builds, imports, training epochs; a sweep
prints one line per finished run instead, :class:`latentsynth.bench.runner.Progress`).

:func:`progress_line` formats ``label: done/total (rate/s, ETA s)``; :class:`Progress` counts items and prints
that line on stderr (a live line on a TTY, else one line every ``every`` items). The training loop's Lightning
callback (:class:`latentsynth.training.fit.ProgressLines`) prints the same line every few seconds.
"""

from __future__ import annotations

import sys
import time


def progress_line(label: str, done: int, total: int, elapsed: float, per_step: float = 1.0, unit: str = "",
                  extra: str = "") -> str:
    """``label: done/total (R unit/s, ETA E s)`` plus ``extra``; the rate counts ``per_step`` units per step done
    (a batch of 100 samples: ``per_step=100, unit=" samples"``); the ETA is for the remaining steps."""
    steps = done / elapsed if elapsed > 0 else 0.0
    eta = (total - done) / steps if steps > 0 else 0.0
    rate = steps * per_step
    return f"{label}: {done}/{total} ({rate:.1f}{unit}/s, ETA {eta:.0f} s)" + (f"  {extra}" if extra else "")


class Progress:
    """Progress on stderr: a live line on a TTY, else one line every ``every`` items with rate and ETA."""

    def __init__(self, total: int, label: str, every: int = 200, quiet: bool = False) -> None:
        self.total, self.label, self.every, self.quiet = total, label, every, quiet
        self.tty = sys.stderr.isatty()
        self.t0, self.n = time.time(), 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.quiet or not (self.tty or self.n % self.every == 0 or self.n == self.total):
            return
        line = progress_line(self.label, self.n, self.total, time.time() - self.t0)
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.tty and not self.quiet:
            print(file=sys.stderr)
