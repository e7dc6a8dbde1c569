"""Torch thread count of a process: one thread unless asked (``--threads N`` or ``LATENTSYNTH_THREADS``).

On a shared CPU, torch's default (one thread per core) spin-waits for cores that other work holds: a training
step was ~48x slower with 2 threads and the other core busy than with 1 (docs/benchmarks/threads.md).
"""

from __future__ import annotations

import os

ENV = "LATENTSYNTH_THREADS"


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op (and, where still allowed, inter-op) threads to ``n``, else ``$LATENTSYNTH_THREADS``,
    else 1; exports the count in ``LATENTSYNTH_THREADS`` so worker processes inherit it. Returns it."""
    import torch

    if n is None:
        raw = os.environ.get(ENV, "").strip()
        n = int(raw) if raw.isdigit() and int(raw) > 0 else 1
    n = max(1, int(n))
    torch.set_num_threads(n)
    try:  # only legal before the first inter-op parallel work of the process
        torch.set_num_interop_threads(n)
    except RuntimeError:
        pass
    os.environ[ENV] = str(n)
    return n
