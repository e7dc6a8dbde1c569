"""Benchmarks of model variations: sweep expansion, a resumable runner and reports."""

from .report import write_report
from .runner import run_sweep
from .sweep import expand, list_sweeps, load_sweep

__all__ = ["expand", "list_sweeps", "load_sweep", "run_sweep", "write_report"]
