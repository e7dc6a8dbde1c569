"""Typed, validated configuration: plain data, YAML presets and ``key=value`` overrides.

A run is described by one :class:`RunConfig`. Presets are composed from two YAML files, a data preset
(``presets/data/mnist.yaml``) and a model preset (``presets/model/vae.yaml``): the preset name
``mnist-vae`` means "data ``mnist`` + model ``vae``". Any field can then be overridden on the command line
with dotted keys, e.g. ``model.latent_dim=8 regularizer.weight=2``.

Every bad value raises :class:`ConfigError` with one message that names the offending field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .yamlfile import read_yaml

PRESET_DIR = Path(__file__).parent / "presets"


def stable_hash(obj: Any, length: int = 12) -> str:
    """The one cache key: first ``length`` hex digits of the SHA-256 of ``obj`` (bytes as they are, a string's
    UTF-8, anything else, pydantic models included, as JSON with sorted keys). Stable across runs and machines."""
    import hashlib
    import json

    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, str):
        blob = obj.encode()
    elif isinstance(obj, bytes):
        blob = obj
    else:
        blob = json.dumps(obj, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the field and what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Strict):
    """Images (``name`` mnist / fashion-mnist) or spectrogram frames of an audio corpus (``name: frames``)."""

    name: Literal["mnist", "fashion-mnist", "frames"] = "mnist"
    data_dir: str | None = None  # images: else $LATENTSYNTH_DATA, then ~/.cache/latentsynth, then download
    # frames only: the corpus (``latentsynth audio render`` / ``import-*``), prepared into a cached frame set
    corpus: str | None = None  # corpus folder (metadata.csv + wav/)
    cache_dir: str | None = None  # frame caches (default: <corpus>/cache)
    representation: Literal["stft", "mel", "cqt"] = "stft"
    window: int = Field(1, ge=1)  # frames per item: 1 = single frames ([1, F]), else windows [window, F]
    frame_hop: int = Field(1, ge=1)  # training windows start every frame_hop frames
    normalize: Literal["standard", "minmax"] = "minmax"  # of the dB values, with the train statistics
    holdout_instruments: list[str] = Field(default_factory=list)  # every note of these goes to test
    pitch_test: float = Field(0.0, ge=0, lt=0.5)  # fraction of (instrument, pitch) pairs held out: split "pitch"
    source_test: str | None = None  # frames: a corpus of a sound source never trained on (the source test, #22)
    val_size: int = Field(5000, ge=0)  # held out from the official train set with `split_seed`
    split_seed: int = 0
    train_subset: int | None = Field(None, ge=1)  # use only the first N training images (quick runs)
    binarize: Literal["none", "threshold", "dynamic"] = "none"
    batch_size: int = Field(100, ge=1)
    num_workers: int = Field(0, ge=0)

    @property
    def kind(self) -> str:
        """``images`` or ``frames``."""
        return "frames" if self.name == "frames" else "images"

    @model_validator(mode="after")
    def _frames_need_a_corpus(self) -> DataConfig:
        if self.name == "frames" and not self.corpus:
            raise ValueError("corpus: frames need an audio corpus folder (latentsynth audio render ... makes one)")
        return self


class NetworkConfig(_Strict):
    # harmonic: an MLP encoder and a harmonic-plus-noise decoder (spectrogram frames, conditioned on pitch)
    kind: Literal["mlp", "conv", "harmonic"] = "mlp"
    hidden: list[int] = Field(default_factory=lambda: [400])  # MLP layer widths (encoder order)
    channels: list[int] = Field(default_factory=lambda: [32, 64, 128, 256])  # conv channels (encoder order)
    batchnorm: bool = True  # conv nets only (as in the WAE paper and the pythae benchmark)
    n_harmonics: int = Field(64, ge=1)  # harmonic: partials at k x f0 (those above Nyquist are silent)
    noise_bands: int = Field(64, ge=1)  # harmonic: bands of the noise envelope (linear over 0..Nyquist)
    detune: bool = True  # harmonic: the encoder also estimates each item's detune (semitones, +-0.5)
    # harmonic: what the encoder reads. frame: the frame's bins; pitch: the frame sampled at multiples of the
    # labelled f0 (view_points per partial, n_harmonics partials) + its mean in noise_bands linear bands, so a
    # new pitch looks familiar to it (dsp.harmonic.harmonic_view); both: that view and the frame
    encoder_view: Literal["frame", "pitch", "both"] = "frame"
    view_points: int = Field(4, ge=1)
    # harmonic: the decoder's trunk reads the pitch label too (true), or the pitch only places the partials and
    # the timbre comes from the code and the other labels (false: what it learns at one pitch serves at all)
    decoder_pitch: bool = True

    @model_validator(mode="after")
    def _positive(self) -> NetworkConfig:
        for name in ("hidden", "channels"):
            values = getattr(self, name)
            if any(v <= 0 for v in values):
                raise ValueError(f"{name}: every width must be > 0, got {values}")
        if self.kind == "conv" and not self.channels:
            raise ValueError("channels: a conv network needs at least one layer")
        if not self.decoder_pitch and self.kind != "harmonic":
            raise ValueError("decoder_pitch: only a harmonic decoder can place partials without reading the pitch")
        if self.encoder_view != "frame" and self.kind != "harmonic":
            raise ValueError(f"encoder_view: '{self.encoder_view}' reads frames at the pitch's partials; it needs "
                             "kind: harmonic (use frame)")
        return self


class PriorConfig(_Strict):
    kind: Literal["gaussian", "uniform", "mixture", "hypersphere"] = "gaussian"
    scale: float = Field(1.0, gt=0)  # std (gaussian), half-width (uniform), radius (hypersphere)
    n_components: int = Field(10, ge=1)  # mixture
    component_std: float = Field(0.5, gt=0)  # mixture
    radius: float = Field(3.0, gt=0)  # mixture: distance of the component means from the origin
    seed: int = 0  # mixture: the component means are drawn once from this seed


class ScheduleConfig(_Strict):
    kind: Literal["constant", "linear", "cyclical"] = "constant"
    warmup_epochs: float = Field(10.0, gt=0)  # linear: epochs from 0 to the full weight
    cycle_epochs: float = Field(10.0, gt=0)  # cyclical: period
    ramp_fraction: float = Field(0.5, gt=0, le=1)  # cyclical: part of each period spent increasing


class RegularizerConfig(_Strict):
    kind: Literal["none", "kl", "mmd", "adversarial"] = "kl"
    weight: float = Field(1.0, ge=0)  # beta for KL, lambda for MMD / adversarial
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    kl_estimator: Literal["auto", "analytic", "mc"] = "auto"  # auto: analytic for a Gaussian prior
    kernel: Literal["rbf", "imq"] = "imq"  # MMD
    multiscale: bool = True  # MMD: sum over scales {.1,.2,.5,1,2,5,10} x C (Tolstikhin et al.)
    bandwidth: float | Literal["median"] | None = None  # MMD: C; None -> 2 * d * sigma_prior^2
    disc_hidden: list[int] = Field(default_factory=lambda: [256, 256])  # adversarial
    disc_lr: float = Field(5e-4, gt=0)  # adversarial (WAE paper: half the auto-encoder lr)
    # adversarial: discriminator updates per auto-encoder step (each on fresh prior samples), and more of them over
    # the first disc_warmup_steps auto-encoder steps (disc_warmup_updates each) so the critic is trained first
    disc_steps: int = Field(1, ge=1)
    disc_warmup_steps: int = Field(0, ge=0)
    disc_warmup_updates: int = Field(5, ge=1)
    disc_label_smoothing: float = Field(0.0, ge=0, lt=0.5)  # adversarial: the prior's target is 1 - s
    # adversarial: a gradient penalty on the discriminator, R1 (gamma/2 E_prior ||grad D||^2, Mescheder et al. 2018)
    # or WGAN-GP's (gamma E (||grad D(z~)|| - 1)^2 on random interpolates, Gulrajani et al. 2017)
    disc_penalty: Literal["none", "r1", "wgan-gp"] = "none"
    disc_penalty_weight: float = Field(1.0, ge=0)
    disc_schedule: bool = True  # adversarial: the discriminator's lr follows optim.scheduler too
    disc_prior_logit: bool = False  # adversarial: D's logit = network + centred log p(z) (Gaussian prior)
    # adversarial: instance noise, N(0, sigma^2 I) added to the codes and the prior samples the critic sees (not to
    # the decoder's code), constant or annealed linearly to 0 over the training's steps
    disc_instance_noise: float = Field(0.0, ge=0)
    disc_instance_noise_anneal: Literal["none", "linear"] = "none"
    free_bits: float = Field(0.0, ge=0)  # KL: nats per latent dimension below which its KL is not penalised

    @model_validator(mode="after")
    def _check(self) -> RegularizerConfig:
        if isinstance(self.bandwidth, float) and self.bandwidth <= 0:
            raise ValueError(f"bandwidth: must be > 0 or 'median', got {self.bandwidth}")
        return self


class LikelihoodConfig(_Strict):
    # logmag_l1 / spectral: spectrogram frames only (they undo the frames' normalisation to dB / magnitude)
    kind: Literal["bernoulli", "gaussian", "mse", "l1", "logmag_l1", "spectral"] = "bernoulli"
    sigma: float = Field(1.0, gt=0)  # gaussian: fixed std, or the initial value when learned
    learn_sigma: bool = False  # gaussian: one learned log-std shared by all dimensions
    scale: float = Field(1.0, gt=0)  # multiplies the per-sample loss (WAE paper: 0.05 * sum of squares)
    output: Literal["sigmoid", "identity"] = "sigmoid"  # mean of gaussian/mse/l1 (bernoulli: always logits)
    # spectral: spectral convergence of linear magnitudes over the whole batch (energy-weighted, "batch") or
    # per item ("item"), plus log_weight x mean |ln S - ln S_hat|; resolutions > 1 adds the same terms on
    # magnitudes pooled over 2, 4, ... adjacent bins (a multi-resolution variant along frequency)
    sc: Literal["batch", "item"] = "item"
    log_weight: float = Field(1.0, ge=0)
    resolutions: int = Field(1, ge=1, le=6)
    # spectral: + level_weight x mean over frames |L - L_hat|, L = 10 log10 sum_f S^2 (dB): the frame's level.
    # SC and the log term estimate each bin's mean / median magnitude, which under-states the power of noisy
    # bins (a Rayleigh bin's median is 1.59 dB under its RMS); this term holds the level (issue #22)
    level_weight: float = Field(0.0, ge=0)


class ConditioningConfig(_Strict):
    """Labels of a frame's note given to the networks (a conditional AE / VAE / WAE)."""

    labels: list[Literal["pitch", "instrument", "dynamics", "style"]] = Field(default_factory=list)
    pitch: Literal["onehot", "continuous", "both"] = "both"  # how pitch enters the networks
    encoder: bool = True  # the encoder sees the labels too (the decoder always does)

    @model_validator(mode="after")
    def _unique(self) -> ConditioningConfig:
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels: each label once, got {self.labels}")
        return self


class ModelConfig(_Strict):
    latent_dim: int = Field(16, ge=1)
    encoder: Literal["deterministic", "gaussian"] = "gaussian"
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    conditioning: ConditioningConfig = Field(default_factory=ConditioningConfig)


class OptimConfig(_Strict):
    name: Literal["adam", "adamw"] = "adam"
    lr: float = Field(1e-3, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = Field(0.0, ge=0)
    scheduler: Literal["none", "multistep", "cosine"] = "none"
    milestones: list[int] = Field(default_factory=list)  # multistep: epochs where lr *= gamma_i
    gammas: list[float] = Field(default_factory=list)  # multistep: one factor per milestone
    grad_clip: float | None = Field(None, gt=0)  # max gradient norm

    @model_validator(mode="after")
    def _check(self) -> OptimConfig:
        if self.scheduler == "multistep" and len(self.milestones) != len(self.gammas):
            raise ValueError("gammas: give one factor per milestone")
        return self


PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true", "32", "16", "bf16", "64",
              "transformer-engine", "transformer-engine-float16")  # what Lightning's Trainer(precision=) takes


class TrainConfig(_Strict):
    max_epochs: int = Field(20, ge=1)
    seed: int = 0
    early_stopping_patience: int | None = Field(None, ge=1)  # epochs without val improvement
    accelerator: str = "auto"  # cpu / cuda / gpu / mps / auto
    devices: int | str = "auto"
    num_nodes: int = Field(1, ge=1)
    strategy: str = "auto"  # Lightning strategies: ddp, fsdp, ...
    precision: str = "32-true"  # Lightning's: 32-true, 16-mixed, bf16-mixed, 64-true, ...
    log_every_n_steps: int = Field(50, ge=1)
    progress_every_s: float = Field(30.0, gt=0)  # non-TTY progress line period
    eval_iw_samples: int = Field(100, ge=1)  # importance samples for the test NLL estimate
    eval_mmd_samples: int = Field(2000, ge=2)  # fixed sample size for the reference latent MMD
    # frame models: also score the test notes with codes fitted to each note by this many Adam steps from the
    # encoder's (AutoEncoder.fit_codes; test_fit_spec_sc, test_pitch_fit_spec_sc); 0 skips
    eval_fit_steps: int = Field(20, ge=0)
    # frame models (issue #22): augment each training item by a random gain (uniform +-augment_gain_db dB, the
    # dB floor kept) and a random detune (uniform +-augment_detune semitones: the spectrum resampled and the pitch
    # label moved with it), so the encoder follows a level or tuning it never saw; 0 = off
    augment_gain_db: float = Field(0.0, ge=0)
    # frame models: also the timbre scores at the end of training (evaluation.timbre: probes of note codes, morph
    # score, loudness / f0, MR-STFT split; the source test when data.source_test names a corpus); `latentsynth
    # eval` computes them always
    eval_timbre: bool = False
    augment_detune: float = Field(0.0, ge=0, le=2)

    @field_validator("precision", mode="before")
    @classmethod
    def _precision(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, str) and value not in PRECISIONS:
            raise ValueError(f"unknown precision '{value}'; use one of {', '.join(PRECISIONS)}")
        return value


class RunConfig(_Strict):
    name: str = "run"  # the run folder's name under --out: one plain folder name
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    prior: PriorConfig = Field(default_factory=PriorConfig)
    regularizer: RegularizerConfig = Field(default_factory=RegularizerConfig)
    likelihood: LikelihoodConfig = Field(default_factory=LikelihoodConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not name.strip() or "/" in name or "\\" in name or name.startswith("."):
            raise ValueError("must be a plain folder name (no '/', '\\', '..' or leading '.'): the run goes to "
                             "<out>/<name>; choose the parent folder with --out")
        return name

    @model_validator(mode="after")
    def _coherent(self) -> RunConfig:
        reg = self.regularizer
        if reg.kind == "kl":
            if self.model.encoder != "gaussian":
                raise ValueError("model.encoder: the KL regularizer needs a 'gaussian' encoder")
            if self.prior.kind in ("uniform", "hypersphere"):
                raise ValueError(
                    f"prior.kind: KL to a '{self.prior.kind}' prior is infinite or undefined for a Gaussian "
                    "posterior; use 'gaussian' or 'mixture', or regularizer.kind=mmd / adversarial"
                )
            if reg.kl_estimator == "analytic" and self.prior.kind != "gaussian":
                raise ValueError("regularizer.kl_estimator: 'analytic' needs prior.kind=gaussian; use 'mc'")
        if reg.kind == "mmd" and reg.bandwidth == "median" and reg.kernel != "rbf":
            raise ValueError("regularizer.bandwidth: the 'median' heuristic is for kernel=rbf")
        cond, net = self.model.conditioning, self.model.network
        # the network first: a harmonic model on images (mnist-harmonic-vae) is wrong by its network, whose
        # likelihood and labels only follow from it
        if net.kind == "harmonic" and (self.data.kind != "frames" or self.data.representation == "cqt"):
            raise ValueError("model.network.kind: the harmonic decoder renders STFT or mel frames "
                             "(data.name=frames, data.representation=stft or mel)")
        if self.likelihood.kind in ("logmag_l1", "spectral") and self.data.kind != "frames":
            raise ValueError(f"likelihood.kind: '{self.likelihood.kind}' is for spectrogram frames (data.name=frames)")
        if cond.labels and self.data.kind != "frames":
            raise ValueError("model.conditioning.labels: conditioning on note labels is for spectrogram frames "
                             "(data.name=frames)")
        if net.kind == "harmonic":
            if "pitch" not in cond.labels:
                raise ValueError("model.conditioning.labels: the harmonic decoder needs the pitch "
                                 "(model.conditioning.labels=[pitch, instrument])")
        if self.data.kind == "frames" and self.data.normalize == "standard":  # values outside [0, 1]
            if self.likelihood.kind == "bernoulli":
                raise ValueError("likelihood.kind: bernoulli needs data in [0, 1]; with data.normalize=standard use "
                                 "mse, gaussian, l1, logmag_l1 or spectral (and likelihood.output=identity)")
            if self.likelihood.output == "sigmoid":
                raise ValueError("likelihood.output: standardised frames are not in [0, 1]; use identity")
        return self


# ----------------------------------------------------------------------------------------------- loading


def format_validation_error(err: ValidationError, sep: str = "; ", inputs: bool = False) -> str:
    """One line per pydantic error, ``field.path: message`` (``Value error, `` dropped; an unknown key says so),
    with the rejected value when ``inputs``; joined by ``sep``. The formatter of
    configuration errors (the server words request errors for HTTP clients in ``serve/app.py``)."""
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(root)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; `latentsynth config` prints every valid key)"
        elif inputs:
            msg += f" (got {e['input']!r})"
        lines.append(f"{loc}: {msg}")
    return sep.join(lines)


def validate(data: dict[str, Any], source: str = "config") -> RunConfig:
    """Build a :class:`RunConfig` from a nested dict, raising :class:`ConfigError` naming the field."""
    try:
        return RunConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(f"invalid configuration in {source}:\n  "
                          + format_validation_error(err, "\n  ", inputs=True)) from None


def _read_yaml(path: Path) -> dict[str, Any]:
    return read_yaml(path, ConfigError)


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``update`` into a copy of ``base``."""
    out = dict(base)
    for k, v in update.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def list_presets() -> list[str]:
    """All valid ``<data>-<model>`` preset names (``mnist-harmonic-vae`` is not: the harmonic models are for
    spectrogram frames)."""
    datas = sorted(p.stem for p in (PRESET_DIR / "data").glob("*.yaml"))
    models = sorted(p.stem for p in (PRESET_DIR / "model").glob("*.yaml"))
    names = []
    for d in datas:
        for m in models:
            merged = deep_merge(_read_yaml(PRESET_DIR / "data" / f"{d}.yaml"),
                                _read_yaml(PRESET_DIR / "model" / f"{m}.yaml"))
            try:
                RunConfig.model_validate(merged)
            except ValidationError:
                continue
            names.append(f"{d}-{m}")
    return names


def preset_dict(name: str) -> dict[str, Any]:
    """The merged dict of preset ``name`` (``<data>-<model>``), e.g. ``fashion-mnist-wae-gan``."""
    for data_file in sorted((PRESET_DIR / "data").glob("*.yaml"), key=lambda p: -len(p.stem)):
        prefix = data_file.stem + "-"
        if name.startswith(prefix):
            model_file = PRESET_DIR / "model" / f"{name[len(prefix):]}.yaml"
            if model_file.exists():
                merged = deep_merge(_read_yaml(data_file), _read_yaml(model_file))
                merged["name"] = name
                return merged
    raise ConfigError(
        f"unknown preset or file '{name}'. Presets: {', '.join(list_presets())}; "
        "or give the path of a YAML file or of a run folder"
    )


def parse_override(item: str) -> dict[str, Any]:
    """``'a.b=3'`` -> ``{'a': {'b': 3}}``; the value is parsed as YAML (numbers, lists, null...)."""
    if "=" not in item:
        raise ConfigError(f"override '{item}': expected key=value, e.g. model.latent_dim=8")
    key, raw = item.split("=", 1)
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override '{item}': empty key")
    try:
        value = yaml.safe_load(raw) if raw != "" else ""
    except yaml.YAMLError:
        value = raw
    out: dict[str, Any] = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def load_config(source: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Load a config from a preset name, a YAML file or a run folder, then apply ``key=value`` overrides."""
    path = Path(source)
    if path.is_dir() and (path / "config.yaml").exists():
        data, origin = _read_yaml(path / "config.yaml"), str(path / "config.yaml")
        if not data:
            raise ConfigError(f"{path / 'config.yaml'}: empty file; a run folder's config.yaml holds the run's whole "
                              "configuration: restore it from a copy, or re-train the model")
    elif path.is_dir():
        raise ConfigError(f"{path}: a folder without config.yaml, so not a run folder; give a run folder "
                          "(<out>/<name> of `latentsynth train`), a preset name or a YAML file")
    elif path.suffix in (".yaml", ".yml"):
        if not path.exists():
            raise ConfigError(f"{path}: no such config file")
        data, origin = _read_yaml(path), str(path)
        if not data:
            raise ConfigError(f"{path}: empty file; start it with a preset (preset: mnist-vae) and the keys to change")
        data.setdefault("name", path.stem)
        if "preset" in data:  # a YAML file may start from a preset and change a few keys
            data = deep_merge(preset_dict(str(data.pop("preset"))), data)
    else:
        try:
            data, origin = preset_dict(str(source)), f"preset '{source}'"
        except ConfigError:
            if not path.exists() and (path.is_absolute() or len(path.parts) > 1 or str(source).startswith(".")):
                raise ConfigError(f"{path}: no such folder or file; give an existing run folder (<out>/<name> of "
                                  "`latentsynth train`), a YAML file or a preset name (`latentsynth presets`)"
                                  ) from None
            raise
    for item in overrides or []:
        data = deep_merge(data, parse_override(item))
    if overrides:
        origin += " with overrides " + " ".join(overrides)
    return validate(data, origin)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Plain JSON/YAML-serialisable dict of a config (tuples become lists)."""
    return cfg.model_dump(mode="json")


def dump_yaml(cfg: RunConfig) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
