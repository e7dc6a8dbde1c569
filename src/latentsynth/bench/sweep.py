"""Sweeps: a YAML list of model variations (preset + overrides), an optional grid and seeds, expanded into
one :class:`~latentsynth.config.RunConfig` per run.

.. code-block:: yaml

    name: mnist-quick
    base: [train.max_epochs=5]            # applied to every run
    paper: [train.max_epochs=100]         # added with --paper-protocol (default on a GPU)
    data: mnist                           # optional: presets below are then model presets
    variations:
      - {name: vae, preset: vae}
      - {name: vae-mixture, preset: vae, overrides: [prior.kind=mixture], factor: prior}
      - {name: wae, preset: wae-mmd-imq, factor: model, baseline: vae}   # compared with vae, not its preset
    grid: {model.latent_dim: [8, 16]}     # optional cartesian product over every variation
    seeds: [0, 1, 2]

``extends: <sweep>`` starts from another sweep (e.g. ``fashion-full`` = ``mnist-full`` with ``data: fashion-mnist``).
Run names are ``<variation>[-<key>=<value>...]-s<seed>``; the seed sets ``train.seed`` only (the data split
stays the same for every run). The report compares each variation with its baseline: ``baseline:`` if given,
else the reference variation (``factor`` left at ``reference``) built from the same preset.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ..config import PRESET_DIR, ConfigError, RunConfig, format_validation_error, load_config
from ..yamlfile import read_yaml

SWEEP_DIR = PRESET_DIR / "sweeps"


class Variation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    preset: str
    overrides: list[str] = Field(default_factory=list)
    factor: str = "reference"  # which factor this variation changes (for the report)
    # the variation this one is compared with in the report's effects table; default: the reference
    # variation (factor "reference") built from the same preset, if there is exactly one
    baseline: str | None = None


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    description: str = ""
    data: str | None = None  # if set, a variation's preset is "<data>-<preset>" (e.g. mnist + vae)
    base: list[str] = Field(default_factory=list)
    paper: list[str] = Field(default_factory=list)
    variations: list[Variation]
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    seeds: list[int] = Field(default_factory=lambda: [0])
    # audio sweeps: how to render the corpus with FluidSynth when data.corpus does not exist yet
    # (keyword arguments of latentsynth.data.audio.render_corpus: instruments, dynamics, styles, ...)
    render: dict[str, Any] | None = None
    # scores (metrics.json keys) to draw held-out SC against as Pareto fronts (pareto.png, fronts in summary.md)
    pareto: list[str] = Field(default_factory=list)

    @field_validator("variations")
    @classmethod
    def _unique(cls, v: list[Variation]) -> list[Variation]:
        names = [x.name for x in v]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate variation names: {sorted(dup)}")
        if not v:
            raise ValueError("at least one variation is needed")
        unknown = [f"{x.name} -> {x.baseline}" for x in v if x.baseline and x.baseline not in names]
        if unknown:
            raise ValueError(f"baseline names no variation of this sweep: {', '.join(unknown)}")
        return v

    @field_validator("pareto")
    @classmethod
    def _known_scores(cls, v: list[str]) -> list[str]:
        from ..metric_table import METRIC

        unknown = [k for k in v if k not in METRIC]
        if unknown:
            raise ValueError(f"pareto: {', '.join(unknown)} is not a score of metric_table.py (a metrics.json "
                             "key such as test_latent_mmd, test_active_units, morph_ramp, path_smoothness)")
        return v

    def baseline_of(self, var: Variation) -> str | None:
        """The variation ``var`` is compared with (None for the reference variations themselves)."""
        if var.baseline:
            return var.baseline
        if var.factor == "reference":
            return None
        refs = [x.name for x in self.variations if x.factor == "reference" and x.preset == var.preset]
        return refs[0] if len(refs) == 1 else None


@dataclass
class PlannedRun:
    """One run of a sweep: its name, config and the factor values that identify its group."""

    name: str
    config: RunConfig
    variation: str
    factor: str
    seed: int
    grid: dict[str, Any] = field(default_factory=dict)
    baseline: str = ""  # group this run's group is compared with in the effects table ("" = none)

    @property
    def group(self) -> str:
        """Name without the seed: runs of one group differ only by seed."""
        return group_name(self.name)


SEED_SUFFIX = re.compile(r"-s\d+$")  # run names end in -s<seed>: the one rule that reads and writes them


def seeded_name(group: str, seed: int) -> str:
    """``harmonic-vae``, 1 -> ``harmonic-vae-s1``: the run name of a seed of a group (a variation)."""
    return f"{group}-s{seed}"


def group_name(run: str) -> str:
    """``harmonic-vae-s1`` -> ``harmonic-vae`` (the variation of a seeded run; a name without a seed is kept)."""
    return SEED_SUFFIX.sub("", run)


def list_sweeps() -> list[str]:
    return sorted(p.stem for p in SWEEP_DIR.glob("*.yaml"))


def load_sweep(source: str | Path) -> SweepSpec:
    """A sweep from a YAML file or a built-in name (``latentsynth bench --list`` shows them)."""
    path = Path(source)
    if not path.suffix:
        path = SWEEP_DIR / f"{source}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown sweep '{source}'; built-in sweeps: {', '.join(list_sweeps())}, "
                              "or give the path of a sweep YAML file")
    if not path.exists():
        raise ConfigError(f"{path}: no such sweep file")
    data = read_yaml(path, ConfigError)  # the configs' reader: a key given twice is an error here too
    try:
        if "extends" in data:  # reuse another sweep's variations, e.g. the same study on another data set
            parent = load_sweep(str(data.pop("extends"))).model_dump()
            parent.pop("name")  # the child is its own sweep (own folder), named after its file unless it says
            data = {**parent, "description": "", **data}
        data.setdefault("name", path.stem)
        return SweepSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"{path}: invalid sweep: {format_validation_error(err)}") from None


def _fmt(v: Any) -> str:
    return str(v).replace(" ", "").replace("/", "_")


def expand(spec: SweepSpec, paper_protocol: bool = False, extra: list[str] | None = None) -> list[PlannedRun]:
    """Every run of the sweep, validated (a bad variation fails here, before anything trains)."""
    keys = list(spec.grid)
    combos = list(itertools.product(*(spec.grid[k] for k in keys))) or [()]
    runs: list[PlannedRun] = []
    for var in spec.variations:
        base_var = spec.baseline_of(var)
        for combo in combos:
            grid = dict(zip(keys, combo, strict=True))
            for seed in spec.seeds:
                suffix = "".join(f"-{k.split('.')[-1]}={_fmt(v)}" for k, v in grid.items())
                name = seeded_name(f"{var.name}{suffix}", seed)
                items = [*spec.base, *(spec.paper if paper_protocol else []), *var.overrides,
                         *(f"{k}={json.dumps(v)}" for k, v in grid.items()),
                         *(extra or []), f"train.seed={seed}", f"name={name}"]
                preset = f"{spec.data}-{var.preset}" if spec.data else var.preset
                try:
                    cfg = load_config(preset, items)
                except ConfigError as err:
                    raise ConfigError(f"sweep {spec.name}, variation '{var.name}': {err}") from None
                baseline = f"{base_var}{suffix}" if base_var else ""  # same grid cell, other variation
                runs.append(PlannedRun(name, cfg, var.name, var.factor, seed, grid, baseline))
    return runs
