"""Regularization weight schedules: the factor in [0, 1] applied to the regularizer weight at
training time ``t``, measured in (fractional) epochs."""

from __future__ import annotations

from ..config import ScheduleConfig


def schedule_factor(cfg: ScheduleConfig, epoch: float) -> float:
    """Factor at fractional epoch ``epoch`` >= 0.

    constant: 1.  linear: min(1, epoch / warmup_epochs) (warm-up from 0).
    cyclical (Fu et al. 2019): within each period of ``cycle_epochs``, rises linearly from 0 to 1 over the
    first ``ramp_fraction`` of the period, then stays at 1.
    """
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "linear":
        return min(1.0, epoch / cfg.warmup_epochs)
    if cfg.kind == "cyclical":
        phase = (epoch % cfg.cycle_epochs) / cfg.cycle_epochs
        return min(1.0, phase / cfg.ramp_fraction)
    raise ValueError(f"regularizer.schedule.kind: unknown schedule '{cfg.kind}'")
