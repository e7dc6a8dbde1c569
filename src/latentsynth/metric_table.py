"""The one table of the scores a model folder's ``metrics.json`` holds: each key once, with its labels, which
way is better, its format, the data it applies to, and the views that show it.

Every place that prints or renders scores reads it: the training log line (:func:`log_line`, via
``training.fit.format_metrics``), ``latentsynth compare`` (``cli.models``), the sweep summary, its effects
table and best-per-column marks (``bench.report``), the model cards and their index (``cards``). The order of
the table is the order of every view. Definitions of the scores: docs/evaluation.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["lower", "higher"] | None

#: the views: ``log`` the line printed after training / eval, ``compare`` the columns of ``latentsynth compare``,
#: ``report`` the sweep summary columns, ``effect`` the effects table (variation - baseline), ``card`` the rows of
#: a model card (``CARD.md``), ``study`` the columns of the synthesis study (scores of synthesized paths in its
#: ``results.csv``, not of a model folder)
VIEWS = ("log", "compare", "report", "effect", "card", "study")


@dataclass(frozen=True)
class Metric:
    key: str  # the key in metrics.json / results.csv
    label: str  # short label: summary and effects columns, compare of two groups, card index
    card: str = ""  # long label of a card row ("" : not on cards)
    direction: Direction = "lower"  # which way is better (None: not ranked)
    fmt: str = ".4g"  # format of one value (cards, log line, compare)
    kind: Literal["images", "frames", "both"] = "both"  # the data it is computed for
    group: Literal["test", "gen", "probe", "train", "path"] = "test"  # test split, generation, probes of codes,
    # training, synthesized paths (the synthesis study)
    views: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """The key without its ``test_`` prefix (the log line and compare header)."""
        return self.key.removeprefix("test_")

    def format(self, value: Any) -> str:
        """A float in ``fmt``; anything else (an int epoch count) as is."""
        return format(value, self.fmt) if isinstance(value, float) else str(value)


def _m(key: str, label: str, card: str = "", direction: Direction = "lower", views: str = "report effect",
       **kw: Any) -> Metric:
    return Metric(key, label, card, direction, views=frozenset(views.split()), **kw)


_ALL = "log compare report effect card"
METRICS: tuple[Metric, ...] = (
    # reconstruction and latent fit (evaluation.metrics), images and frames
    _m("test_bce", "BCE", "test BCE (sum over dims)", views=_ALL),
    _m("test_mse", "MSE", "test MSE (sum over dims)", views=_ALL),
    _m("test_nll_iw", "IW-NLL (Bernoulli)", "test IW-NLL (nats)", views="log compare report card"),
    _m("test_latent_mmd", "latent MMD", "latent MMD to the prior", views=_ALL),
    _m("test_loss", "loss", views="log"),
    _m("test_agg_kl_gauss", "KL(q(z) fit ‖ p)", "KL(Gaussian fit of q(z) ‖ prior)", views="report effect card"),
    _m("test_active_units", "active units", "active units", None, views="report effect card"),
    # generation in the features of the domain classifier (evaluation.generation), images
    _m("gen_fd", "FD (clf features)", "Fréchet distance (classifier features)", kind="images", group="gen",
       views="report effect card"),
    _m("gen_precision", "precision", "precision", "higher", kind="images", group="gen", views="report effect card"),
    _m("gen_recall", "recall", "recall", "higher", kind="images", group="gen", views="report effect card"),
    _m("gen_confidence", "clf confidence", direction="higher", kind="images", group="gen"),
    _m("gen_class_coverage", "class coverage", direction="higher", kind="images", group="gen"),
    _m("gen_mmd_data", "MMD pixels", kind="images", group="gen"),
    _m("probe_class_knn", "k-NN class", direction="higher", kind="images", group="probe"),
    _m("probe_class_linear", "linear class", direction="higher", kind="images", group="probe", views="report"),
    # whole test notes (evaluation.audio), frames
    _m("test_spec_sc", "spectral conv.", "spectral convergence (test notes)", kind="frames",
       views="log report effect card"),
    _m("test_spec_lsd", "LSD (dB)", "log-spectral distance (dB)", kind="frames", views="log report effect card"),
    _m("test_audio_mrstft", "MR-STFT audio", "MR-STFT distance after Griffin-Lim", kind="frames",
       views="log report effect card"),
    _m("test_audio_mrstft_floor", "MR-STFT floor", "MR-STFT, Griffin-Lim alone (floor)", None, kind="frames",
       views="card"),  # the same for every model of a corpus: not ranked
    _m("test_pitch_spec_sc", "spectral conv. (new pitches)", "spectral convergence (held-out pitches)",
       kind="frames", views="log report effect card"),
    _m("test_pitch_spec_lsd", "LSD (dB, new pitches)", "log-spectral distance, held-out pitches (dB)",
       kind="frames", views="log report effect card"),
    _m("test_fit_spec_sc", "spectral conv. (fitted codes)", "spectral convergence, codes fitted to each note "
       "(train.eval_fit_steps)", kind="frames", views="report effect card"),
    _m("test_pitch_fit_spec_sc", "spectral conv. (new pitches, fitted codes)",
       "spectral convergence, held-out pitches, codes fitted to each note", kind="frames",
       views="report effect card"),
    # k-NN probes of the codes by note attribute (`latentsynth explore`), frames
    _m("probe_instrument_acc", "k-NN instrument", direction="higher", kind="frames", group="probe", views="report"),
    _m("probe_dynamics_acc", "k-NN dynamics", direction="higher", kind="frames", group="probe", views="report"),
    _m("probe_pitch_mae", "k-NN pitch MAE", kind="frames", group="probe", views="report"),
    # timbre (evaluation.timbre, issue #22), frames: what the codes carry, morphs, the source test, DDSP's scores
    _m("timbre_inst_linear", "instrument probe (linear)", "instrument from note paths, linear probe (balanced acc.)",
       "higher", kind="frames", group="probe", views="report effect card"),
    _m("timbre_inst_knn", "instrument probe (k-NN)", "instrument from note paths, 10-NN (balanced acc.)", "higher",
       kind="frames", group="probe", views="report card"),
    _m("timbre_inst_notes", "instrument probe notes", "test notes the instrument probe counts (identifiable)",
       None, fmt=".0f", kind="frames", group="probe", views="card"),
    _m("timbre_inst_mean_linear", "instrument probe (mean code)", "instrument from mean note codes, every note, "
       "linear (balanced acc.; the probe before #22's path summary)", "higher", kind="frames", group="probe",
       views="report card"),
    _m("timbre_dyn_linear", "dynamics probe", "dynamics from note codes, linear probe (balanced acc.)", "higher",
       kind="frames", group="probe", views="report card"),
    _m("timbre_dyn_knn", "dynamics probe (k-NN)", "dynamics from note codes, 10-NN (balanced acc.)", "higher",
       kind="frames", group="probe", views="card"),
    _m("timbre_style_linear", "style probe", "playing style from note codes, linear probe (balanced acc.)",
       "higher", kind="frames", group="probe", views="report card"),
    _m("timbre_style_knn", "style probe (k-NN)", "playing style from note codes, 10-NN (balanced acc.)", "higher",
       kind="frames", group="probe", views="card"),
    _m("timbre_inst_newpitch", "instrument probe (new pitches)", "instrument probe on held-out pitches (linear)",
       "higher", kind="frames", group="probe", views="report card"),
    _m("timbre_pitch_invariance", "pitch invariance", "code distance: same instrument other pitch / other "
       "instrument same pitch", kind="frames", group="probe", views="report card"),
    _m("morph_rho", "morph rho", "morph: median Spearman rho of P(B) along A->B lines", "higher", kind="frames",
       group="probe", views="log report effect card"),
    _m("morph_even", "even morphs", "morph: pairs crossing 1/2 within 30-70 % of the line", "higher",
       kind="frames", group="probe", views="report effect card"),
    _m("morph_cross", "morph crossing", "morph: median position where P(B) crosses 1/2", None, kind="frames",
       group="probe", views="card"),
    _m("morph_ramp", "morph ramp dist.", "morph: mean distance of P(B)(t) from the ramp t", kind="frames",
       group="probe", views="report effect card"),
    _m("morph_pairs", "morph pairs", "morph: pairs whose endpoints are recognised", "higher", fmt=".0f",
       kind="frames", group="probe", views="card"),
    _m("path_smoothness", "path smoothness", "path smoothness: descriptor 2nd diff. along instrument lerps",
       kind="frames", group="probe", views="log report effect card"),
    _m("source_closer", "source test", "source test: unseen-source notes closer to input than to twin", "higher",
       kind="frames", views="log report effect card"),
    _m("source_sc", "SC (unseen source)", "spectral convergence, notes of a never-trained source", kind="frames",
       views="report card"),
    _m("source_sc_ratio", "SC ratio unseen/test", "SC unseen source / SC corpus test notes", kind="frames",
       views="report effect card"),
    _m("loudness_l1", "loudness L1 (dB)", "loudness L1 (A-weighted dB per frame)", kind="frames",
       views="log report effect card"),
    _m("f0_cents", "f0 error (cents)", "f0 error, median (cents, Griffin-Lim audio)", kind="frames",
       views="report card"),
    _m("f0_outliers", "f0 outliers", "f0 outlier rate (> 50 cents or unvoiced)", kind="frames", views="card"),
    _m("mrstft_partials", "MR-STFT partials", "MR-STFT, bins near partials", kind="frames", views="report card"),
    _m("mrstft_floor_bins", "MR-STFT floor bins", "MR-STFT, bins between partials (noise floor)", kind="frames",
       views="card"),
    # training
    _m("epochs", "epochs", "epochs trained", None, group="train", views="compare report card"),
    _m("train_samples_per_s", "samples/s", direction="higher", group="train", views="log compare report"),
    _m("wall_seconds", "wall s", "training wall time (s)", group="train", views="compare report card"),
    # synthesized paths (bench.synthesis_study: trajectories, f0, lengths, realism against decoded training codes)
    _m("centroid_smoothness", "centroid smoothness", kind="frames", group="path", views="study"),
    _m("centroid_abs_monotonicity", "|centroid monotonicity|", direction=None, kind="frames", group="path",
       views="study"),
    _m("centroid_tv_ratio", "centroid TV ratio", kind="frames", group="path", views="study"),
    _m("loudness_smoothness", "loudness smoothness", kind="frames", group="path", views="study"),
    _m("f0_stability_cents", "f0 stability (cents)", kind="frames", group="path", views="study"),
    _m("decoded_length", "decoded length", direction=None, kind="frames", group="path", views="study"),
    _m("frechet", "Fréchet (descriptors)", kind="frames", group="path", views="study"),
    _m("wasserstein_mean", "Wasserstein (descriptors)", kind="frames", group="path", views="study"),
    _m("fad", "FAD (frame classifier)", kind="frames", group="path", views="study"),
    # morphs between notes of two instruments (evaluation.timbre's per-path measures of P(B) along the path)
    _m("morph_path_rho", "morph rho (path)", direction="higher", kind="frames", group="path", views="study"),
    _m("morph_path_cross", "morph crossing (path)", direction=None, kind="frames", group="path", views="study"),
    _m("morph_path_ramp", "morph ramp dist. (path)", kind="frames", group="path", views="study"),
    _m("morph_path_recognised", "endpoints recognised", direction="higher", kind="frames", group="path",
       views="study"),
)

METRIC: dict[str, Metric] = {m.key: m for m in METRICS}


def view(name: str) -> tuple[Metric, ...]:
    """The metrics of one view (see :data:`VIEWS`), in table order."""
    if name not in VIEWS:
        raise ValueError(f"unknown view '{name}'; views: {', '.join(VIEWS)}")
    return tuple(m for m in METRICS if name in m.views)


def log_line(name: str, metrics: dict[str, Any]) -> str:
    """``[name] bce=...  mse=...``: the scores of the log view that ``metrics`` has."""
    vals = [f"{m.name}={m.format(float(metrics[m.key]))}" for m in view("log") if metrics.get(m.key) is not None]
    return f"[{name}] " + "  ".join(vals)
