"""The latent-synthesis study of Exercise 5: models x path generators x note pairs, scored by audio descriptors.

``run_study(models, out, pairs=8)`` (``latentsynth synth study MODEL... --pairs 8 --out DIR``) does, per model:

* ``pairs`` note pairs: two training notes of different instruments from the model's code sample (seeded,
  going through every ordered pair of instruments in turn; each note's sampled codes in time order, as the
  gallery's ``sample_notes``);
* for each generator of :data:`STUDY_KINDS` and each pair: the path (:func:`~latentsynth.synth.make_path`, 2 s;
  the blends lerp / slerp / expressive sweep their fraction from the first note to the second over the path, as
  the geodesic goes from one to the other, with the label weights and the pitch glide of the generators, so a
  pitch-only model's path glides in pitch while its codes morph; note-free generators start from the first note
  with its labels), its rendered audio, and
  :func:`~latentsynth.synth.descriptors.path_report` of the decoded-magnitude descriptor trajectories
  (smoothness, monotonicity, total-variation ratio per descriptor, latent and decoded lengths) plus, on the audio
  (YIN), ``f0_stability_cents`` (around the pitch the path asks for: a glide between two notes is followed,
  only the wobble around it counts) and the voiced fraction;
* realism: :func:`~latentsynth.evaluation.descriptors.descriptor_distances` (Frechet, mean 1-D Wasserstein in
  real stds) between the path's decoded frames and the **decoded training codes** (each with its own labels), in
  the five torch descriptors. Real recordings would mix the decoder's reconstruction error into every
  generator's score alike, and the models' folders carry no corpus; the decoded training codes are what the
  model makes of its data, so the distance measures where a generator leads the decoder: to sounds like the
  model's own notes or away from them. Reconstruction quality is scored separately (``test_spec_sc``);
* the timbre morph (blends and geodesic, between notes of two instruments): the morph score's instrument
  classifier (:func:`morph_classifier`: ``evaluation.timbre.frame_classifier`` on the model's corpus, trained
  longer) gives the posteriors of the path's decoded frames, and
  :func:`~latentsynth.evaluation.timbre.morph_curve` / :func:`~latentsynth.evaluation.timbre.morph_path_scores`
  (the measures of the timbre morph score, per path) give ``morph_path_rho`` (Spearman rho of
  ``p_B = P(B) / (P(A) + P(B))`` with time), ``morph_path_cross`` (where ``p_B`` first reaches 1/2),
  ``morph_path_ramp`` (mean ``|p_B(t) - t|``) and ``morph_path_recognised`` (1 when the mean posterior over the
  first / last :data:`MORPH_ENDS` of the points names A / B);
* latent -> descriptor predictability on the model's codes
  (:func:`~latentsynth.evaluation.descriptors.predictability`: held-out R^2 of linear and k-NN regression, and
  the per-dimension Pearson correlations) for each descriptor of the decoded training codes;
* figures: descriptor maps over the PCA plane with the codes' density, descriptor curves along the principal
  directions.

Then ``results.csv`` (one row per model x generator x pair), ``predictability.csv``, ``metrics.png`` (mean and
std over pairs per generator and model group) and ``report.md``: tables of mean +- std, Welch tests
(:func:`latentsynth.bench.report.welch`) between model groups per generator and between generators (geodesic,
every other one, against lerp) per model group. Runs of one variation with different seeds (``harmonic-vae-s0``,
``harmonic-vae-s1``) form one group; between groups, the unit of a test is the run (mean over its pairs) when
both groups have at least 2 runs, else the note pair. A finished model's rows are kept in ``done/<run>.json``: the
same command run again reads them back (for the same folder, weights and settings) instead of studying it again.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import load_config
from ..dsp.harmonic import midi_to_hz
from ..evaluation.descriptors import descriptor_distances, f0_stability_cents, frame_descriptors, predictability
from ..evaluation.timbre import MORPH_CLASSIFIER_EPOCHS
from ..folders import atomic_write_text, read_json, write_csv, write_json
from ..metric_table import view
from ..models.conditioning import LABELS
from .report import P_SIGNIFICANT, mean_std, welch, welch_cell
from .sweep import SEED_SUFFIX, group_name

STUDY_KINDS: tuple[str, ...] = ("lerp", "slerp", "expressive", "geodesic", "traversal", "walk", "circle", "spiral")
STUDY_VERSION = 2  # bump when a score changes its definition: a resumed study never mixes two definitions
MORPH_ENDS = 0.05  # the fraction of a path's points at each end whose mean posterior must name its note's instrument
KEY_METRICS: tuple[str, ...] = tuple(m.key for m in view("study"))  # the study's columns: rows of metric_table
DIRECTION = {m.key: m.direction for m in view("study") if m.direction}
RUN_LEVEL = ("fad",)  # one value per run and generator (its pairs pooled): Welch over runs, never over pairs


def expand_seeds(models: list[str | Path], training: list[Path] | None = None) -> list[Path]:
    """Each model folder plus its sibling runs of the same variation with other seeds (``<group>-s<k>`` with
    saved weights and no live claim: a sweep still training or scoring it; those are appended to ``training``);
    a folder named without a seed suffix expands to its ``-s<k>`` siblings. Order kept, no duplicates."""
    from .claims import is_stale, read_claim

    def live(p: Path) -> bool:
        claim = read_claim(p)
        if claim is not None and not is_stale(claim) and training is not None and p not in training:
            training.append(p)
        return claim is not None and not is_stale(claim)

    out: list[Path] = []
    for m in models:
        m = Path(m)
        group = group_name(m.name)
        sibs = sorted(p for p in m.parent.glob(f"{group}-s*") if SEED_SUFFIX.search(p.name)
                      and group_name(p.name) == group and (p / "model.safetensors").is_file() and not live(p))
        for p in ([m] if (m / "model.safetensors").is_file() else []) + sibs:
            if p not in out:
                out.append(p)
    return out


def note_pairs(synth, n_pairs: int, seed: int = 0) -> list[tuple[Any, Any]]:
    """``n_pairs`` pairs of training notes (path files) drawn with ``seed`` from the notes of the model's code
    sample with >= 4 codes. The pairs go through every ordered pair of instruments in turn (shuffled once; so 6
    pairs over 3 instruments hold each direction once), each with two random notes of those instruments, no pair
    twice while others are left; with one instrument, any two notes."""
    from ..synth.notes import code_sample_note

    cs = synth.codes
    if cs is None:
        raise ValueError(f"{synth.model.cfg.name}: the model folder has no codes.safetensors")
    counts = torch.bincount(cs.note, minlength=len(cs.names))
    notes = [int(k) for k in torch.nonzero(counts >= min(4, int(counts.max()))).ravel()]
    if len(notes) < 2:
        raise ValueError("the code sample holds fewer than 2 notes")
    inst = {k: int(cs.labels[cs.note == k][0, 1]) for k in notes}
    by_inst: dict[int, list[int]] = defaultdict(list)
    for k in notes:
        by_inst[inst[k]].append(k)
    rng = np.random.default_rng(seed)
    combos = [(i, j) for i in sorted(by_inst) for j in sorted(by_inst) if i != j]
    combos = [combos[k] for k in rng.permutation(len(combos))] if combos else [(None, None)]
    pairs: list[tuple[int, int]] = []
    for n in range(n_pairs):
        ia, ib = combos[n % len(combos)]
        for _ in range(50):  # a pair not drawn yet, when there is one
            if ia is None:
                a, b = (int(v) for v in rng.choice(notes, 2, replace=False))
            else:
                a, b = int(rng.choice(by_inst[ia])), int(rng.choice(by_inst[ib]))
            if (a, b) not in pairs:
                break
        pairs.append((a, b))
    return [(code_sample_note(synth, a), code_sample_note(synth, b)) for a, b in pairs]


def audio_reference(folder: str | Path, out: Path, n_real: int = 4000, seed: int = 0, quiet: bool = False):
    """The FAD stand-in of a model's corpus: a frame classifier (:mod:`latentsynth.evaluation.audio_classifier`)
    trained on the corpus's training frames (cached in ``out/classifier-<corpus>``) and ``n_real`` real
    training frames (linear STFT magnitudes); None when the corpus is not here or not STFT frames."""
    from ..data import data_module
    from ..evaluation.audio_classifier import (
        load_frame_classifier,
        save_frame_classifier,
        train_frame_classifier,
    )
    from ..folders import load
    from ..models.conditioning import DbScale

    model = load(folder)
    if model.cfg.data.representation != "stft":
        return None
    try:
        data = data_module(model.cfg)
    except (FileNotFoundError, ValueError):
        return None
    db = DbScale.from_info(data.audio_info())
    mag = lambda ds: db.to_magnitude(ds.as_tensor().flatten(0, 1), data.spec)  # noqa: E731 - [N * W, F]
    lab = lambda ds: ds.labels().repeat_interleave(ds.window, 0)  # noqa: E731
    cache = out / f"classifier-{Path(model.cfg.data.corpus).name}"
    train_mag = mag(data.train)
    if (cache / "classifier.safetensors").is_file():
        clf = load_frame_classifier(cache)
    else:
        sizes = {k: len(v) for k, v in data.vocab.items()}
        clf, acc = train_frame_classifier(train_mag, lab(data.train), sizes, mag(data.test), lab(data.test),
                                          seed=seed)
        save_frame_classifier(clf, cache, {"test_" + k: v for k, v in acc.items()})
        if not quiet:
            print(f"frame classifier on {model.cfg.data.corpus}: test accuracy {acc}", flush=True)
    g = torch.Generator().manual_seed(seed)
    real = train_mag[torch.randperm(len(train_mag), generator=g)[:n_real]]
    return clf, real


def morph_classifier(folder: str | Path, out: Path, seed: int = 0, quiet: bool = False):
    """The instrument classifier of the morph measures: :func:`latentsynth.evaluation.timbre.frame_classifier`
    (the morph score's, on non-silent train frames) trained for its
    :data:`~latentsynth.evaluation.timbre.MORPH_CLASSIFIER_EPOCHS` epochs on the model's corpus, cached in
    ``out/morph-classifier-<corpus>`` with its recall per instrument on the non-silent test frames;
    None when the corpus is not here or not STFT frames."""
    from ..data import data_module
    from ..evaluation.audio_classifier import load_frame_classifier, save_frame_classifier
    from ..evaluation.timbre import INSTRUMENT, frame_classifier, loud_frames
    from ..folders import load

    model = load(folder)
    if model.cfg.data.representation != "stft":
        return None
    cache = out / f"morph-classifier-{Path(model.cfg.data.corpus).name}"
    if (cache / "classifier.safetensors").is_file():
        return load_frame_classifier(cache)
    try:
        data = data_module(model.cfg)
    except (FileNotFoundError, ValueError):
        return None
    clf = frame_classifier(data, epochs=MORPH_CLASSIFIER_EPOCHS, seed=seed)
    mag, y = loud_frames(data, data.test, list(range(len(data.test))))  # the kind of frames it was trained on
    with torch.no_grad():
        pred = clf(mag)["instrument"].argmax(1)
    truth = y[:, INSTRUMENT].long()
    recall = {f"test_recall_{name}": float((pred[truth == i] == i).float().mean())
              for i, name in enumerate(data.vocab["instrument"]) if bool((truth == i).any())}
    save_frame_classifier(clf, cache, {"epochs": MORPH_CLASSIFIER_EPOCHS, **recall})
    if not quiet:
        print(f"morph classifier on {model.cfg.data.corpus}: {recall}", flush=True)
    return clf


def _predictability_rows(synth, real_d: dict[str, np.ndarray], run: str, group: str, seed: int) -> list[dict]:
    """One row per torch descriptor: how well the model's training codes ``[N, d]`` predict its values
    ``real_d[name] [N]`` (linear and k-NN R², the best single dimension's Pearson r, and every dimension's r)."""
    from ..synth.descriptors import TORCH_DESCRIPTORS

    codes = synth.codes.codes.numpy()
    pred_rows = []
    for n in TORCH_DESCRIPTORS:
        p = predictability(codes, real_d[n], seed=seed)
        r = np.nan_to_num(np.abs(p["pearson"]), nan=0.0)
        pred_rows.append({"run": run, "group": group, "descriptor": n, "r2_linear": p["r2_linear"],
                          "r2_knn": p["r2_knn"], "max_abs_pearson": float(r.max()), "best_dim": int(r.argmax()),
                          "n": p["n"], **{f"pearson_{i}": float(v) for i, v in enumerate(p["pearson"])}})
    return pred_rows


def morph_row(prob: np.ndarray, ia: int, ib: int, ends: int) -> dict[str, float | None]:
    """The morph measures of one path from an instrument-``ia`` note to an instrument-``ib`` note, from the
    frame classifier's instrument posteriors ``prob [T, K]`` along it (:func:`~latentsynth.evaluation.timbre.
    morph_curve` with ``ends`` points averaged at each end, :func:`~latentsynth.evaluation.timbre.
    morph_path_scores`): the study's ``morph_path_*`` columns."""
    from ..evaluation.timbre import morph_curve, morph_path_scores

    p_b, recognised = morph_curve(prob, ia, ib, ends)
    m = morph_path_scores(p_b)
    return {"morph_path_rho": m["rho"], "morph_path_cross": m["cross"], "morph_path_ramp": m["ramp"],
            "morph_path_recognised": float(recognised)}


def _instrument_posteriors(clf, mag: torch.Tensor, points: int) -> np.ndarray:
    """The classifier's instrument posteriors ``[T, K]`` of a path's decoded magnitudes ``[T * W, F]`` (the
    ``W`` frames of a point averaged, as the timbre morph score does)."""
    with torch.no_grad():
        m = mag.reshape(points, -1, mag.shape[-1]).mean(1)
        return torch.softmax(clf(m)["instrument"], dim=1).numpy()


def _path_row(synth, pf, real: np.ndarray) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Render one path and score it: the path report (with absolute monotonicities), f0 stability and voicing of
    its audio, and the distances of its descriptor frames to the training codes' ``real [N, D]``; returns the
    scores and the path's codes ``z [T, d]`` and labels ``c [T, L]``."""
    from ..synth import render_path
    from ..synth.descriptors import TORCH_DESCRIPTORS, path_descriptors, path_report

    y, z, c = render_path(synth, pf)
    desc = path_descriptors(synth, z, c)
    rep = path_report(synth, z, c, desc=desc)
    rep.update({f"{n}_abs_monotonicity": abs(rep[f"{n}_monotonicity"]) for n in TORCH_DESCRIPTORS})
    ad = frame_descriptors(y, synth.spec.sample_rate, synth.spec.n_fft, synth.spec.hop_length, f0_method="yin")
    target = None  # the pitch the path asks for (a glide between two notes), on the audio's frames
    if c is not None:
        pitch = c[:, LABELS.index("pitch")].numpy()
        target = midi_to_hz(torch.from_numpy(np.interp(np.linspace(0, 1, len(ad["f0"])), np.linspace(0, 1, len(
            pitch)), pitch))).numpy()
    fake = np.stack([desc[n] for n in TORCH_DESCRIPTORS], 1)
    dist = descriptor_distances(real, fake, TORCH_DESCRIPTORS)
    return ({**rep, "f0_stability_cents": f0_stability_cents(ad["f0"], target),
             "voiced": float(np.isfinite(ad["f0"]).mean()), "frechet": dist["frechet"],
             "wasserstein_mean": dist["wasserstein_mean"]}, z, c)


def _descriptor_figures(synth, note_sets: list, out: Path, run: str) -> None:
    """``figures/map-<run>.png`` (descriptors over the PCA plane) and ``figures/curves-<run>.png`` (along the
    principal directions), at the labels of the first note pair."""
    from ..synth.descriptors import descriptor_curves, descriptor_map, plot_descriptor_curves, plot_descriptor_maps
    from ..synth.generators import label_fields

    lab = label_fields(note_sets[0][0])  # ignored by an unconditioned model
    m = descriptor_map(synth, labels=lab)
    plot_descriptor_maps(m, out / "figures" / f"map-{run}.png",
                         f"{run}: descriptors over the PCA plane (contours: training codes' density)")
    cv = descriptor_curves(synth, "pca", labels=lab, max_directions=6)
    plot_descriptor_curves(cv, out / "figures" / f"curves-{run}.png", f"{run}: along the principal directions")


def study_model(folder: str | Path, out: Path, pairs: int = 8, kinds: tuple[str, ...] = STUDY_KINDS,
                seconds: float = 2.0, seed: int = 0, geodesic_steps: int = 100, figures: bool = True,
                quiet: bool = False, reference=None, morph_clf=None) -> tuple[list[dict], list[dict]]:
    """One model's rows (one per generator x pair) and predictability rows (one per descriptor). With
    ``reference`` (:func:`audio_reference`), each generator's frames, pooled over its pairs, also get the
    Fréchet distance of their classifier embeddings to real frames (``fad``, the same on every row of the
    generator); with ``morph_clf`` (:func:`morph_classifier`), each path between two instruments' notes its
    morph measures (:func:`morph_row`)."""
    from ..evaluation.audio_classifier import embedding_frechet
    from ..synth import Synth, make_path
    from ..synth.descriptors import TORCH_DESCRIPTORS, code_descriptors
    from ..synth.generators import BLENDS

    folder = Path(folder)
    run, t_model = folder.name, time.perf_counter()
    group = group_name(run)
    synth = Synth.load(folder)
    real_d = code_descriptors(synth)
    real = np.stack([real_d[n] for n in TORCH_DESCRIPTORS], 1)
    pred_rows = _predictability_rows(synth, real_d, run, group, seed)
    note_sets = note_pairs(synth, pairs, seed)
    points = max(3, round(seconds / synth.hop_seconds))
    vocab = synth.info.vocab["instrument"]
    rows = []
    for kind in kinds:
        t_kind = time.perf_counter()
        pooled = []
        for i, (a, b) in enumerate(note_sets):
            t0 = time.perf_counter()
            opt = {"steps": geodesic_steps} if kind == "geodesic" else {"alpha": "sweep"} if kind in BLENDS else {}
            pf = make_path(synth, kind, [a, b], points=points, seed=seed + i, **opt)
            scores, z, c = _path_row(synth, pf, real)
            mag = synth.magnitudes(z, c) if reference is not None or morph_clf is not None else None
            if reference is not None:
                pooled.append(mag)
            if morph_clf is not None and kind in BLENDS and a.instrument != b.instrument:  # a morph A -> B
                scores.update(morph_row(_instrument_posteriors(morph_clf, mag, len(z)), vocab.index(a.instrument),
                                        vocab.index(b.instrument), max(1, round(MORPH_ENDS * len(z)))))
            rows.append({"run": run, "group": group, "kind": kind, "pair": i, "note_a": a.meta["source"],
                         "note_b": b.meta["source"], "instrument_a": a.instrument, "instrument_b": b.instrument,
                         **scores, "seconds": time.perf_counter() - t0})
        if reference is not None:
            fad = embedding_frechet(reference[0], reference[1], torch.cat(pooled))
            for r in rows[-len(note_sets):]:
                r["fad"] = fad
        if not quiet:
            print(f"[{run}] {kind}: {len(note_sets)} pairs ({time.perf_counter() - t_kind:.1f} s)", flush=True)
    if figures:
        _descriptor_figures(synth, note_sets, out, run)
    if not quiet:
        print(f"[{run}] done in {time.perf_counter() - t_model:.1f} s", flush=True)
    return rows, pred_rows


def run_study(models: list[str | Path], out: str | Path, pairs: int = 8, kinds: tuple[str, ...] = STUDY_KINDS,
              seconds: float = 2.0, seed: int = 0, geodesic_steps: int = 100, figures: bool = True,
              seeds_from_runs: bool = False, quiet: bool = False) -> Path:
    """Run the study (module doc) over ``models`` (with ``seeds_from_runs``, every seed of each model's
    variation, :func:`expand_seeds`) and write ``out/{results.csv, predictability.csv, metrics.png,
    report.md, study.json}`` and ``out/figures/``; returns the report's path."""
    out = Path(out)
    training: list[Path] = []
    folders = expand_seeds(models, training) if seeds_from_runs else [Path(m) for m in models]
    if training and not quiet:
        print("left out, still claimed by a sweep: " + ", ".join(p.name for p in training), flush=True)
    if not folders:
        raise ValueError("no model folders to study")
    rows, pred, t0 = [], [], time.perf_counter()
    settings = {"version": STUDY_VERSION, "pairs": pairs, "kinds": list(kinds), "seconds": seconds, "seed": seed,
                "geodesic_steps": geodesic_steps, "blend_alpha": "sweep", "morph_ends": MORPH_ENDS,
                "morph_classifier_epochs": MORPH_CLASSIFIER_EPOCHS}
    references: dict[str, object] = {}
    morph_clfs: dict[str, object] = {}
    for f in folders:
        done = out / "done" / f"{f.name}.json"  # a finished model's rows: a study run again resumes after it
        w = (f / "model.safetensors").stat() if (f / "model.safetensors").is_file() else None
        key = {"folder": str(f.resolve()), "settings": settings, "weights": w and [w.st_size, w.st_mtime_ns]}
        saved = read_json(done) if done.is_file() and w else {}
        if all(saved.get(k) == v for k, v in key.items()):
            rows += [dict(r) for r in saved["rows"]]
            pred += [dict(r) for r in saved["pred"]]
            if not quiet:
                print(f"[{f.name}] done before: {done}", flush=True)
            continue
        corpus = str(load_config(f).data.corpus)
        if corpus not in references:
            references[corpus] = audio_reference(f, out, seed=seed, quiet=quiet)
            morph_clfs[corpus] = morph_classifier(f, out, seed=seed, quiet=quiet)
        r, p = study_model(f, out, pairs, kinds, seconds, seed, geodesic_steps, figures, quiet, references[corpus],
                           morph_clfs[corpus])
        write_json(done, {**key, "rows": [list(x.items()) for x in r],  # rows as (key, value) lists: in order
                          "pred": [list(x.items()) for x in p]})
        rows += r
        pred += p
    write_csv(out / "results.csv", rows)
    write_csv(out / "predictability.csv", pred)
    write_json(out / "study.json", {"models": [str(f) for f in folders], **settings,
                                    "wall_seconds": round(time.perf_counter() - t0, 1)})
    if figures:
        plot_metric_bars(rows, out / "metrics.png")
    report = out / "report.md"
    atomic_write_text(report, study_markdown(rows, pred, kinds, pairs, seconds))
    return report


# ------------------------------------------------------------------------------------------- report


def _groups(rows: list[dict]) -> list[str]:
    seen: list[str] = []
    for r in rows:
        if r["group"] not in seen:
            seen.append(r["group"])
    return seen


def _vals(rows, metric, **where) -> list[float]:
    return [float(r[metric]) for r in rows if all(r[k] == v for k, v in where.items())
            and r.get(metric) is not None and math.isfinite(float(r[metric]))]


def _run_means(rows, metric, group, kind) -> list[float]:
    by_run: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        if r["group"] == group and r["kind"] == kind and r.get(metric) is not None and math.isfinite(float(r[metric])):
            by_run[r["run"]].append(float(r[metric]))
    return [sum(v) / len(v) for v in by_run.values()]


def _fmt(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    a = abs(x)
    return f"{x:.0f}" if a >= 1000 else f"{x:.1f}" if a >= 100 else f"{x:.3g}" if a >= 0.01 else f"{x:.2e}"


def _cell(v: list[float]) -> str:
    m, s, n = mean_std(v)
    return "–" if n == 0 else f"{_fmt(m)} ± {_fmt(s)}"


def _test_cell(a: list[float], b: list[float]) -> str:
    return welch_cell(welch(a, b), (".3g", ".2g"), with_p=True) if a and b else "–"


def study_markdown(rows: list[dict], pred: list[dict], kinds: tuple[str, ...], pairs: int, seconds: float) -> str:
    groups = _groups(rows)
    runs = {g: sorted({r["run"] for r in rows if r["group"] == g}) for g in groups}
    kinds = tuple(k for k in kinds if any(r["kind"] == k for r in rows))
    metrics = tuple(m for m in KEY_METRICS if any(m in r for r in rows))
    lines = ["# Latent synthesis study (Exercise 5)", "",
             f"{len(groups)} model group(s) ({', '.join(f'{g}: {len(runs[g])} run(s)' for g in groups)}), "
             f"{len(kinds)} generators, {pairs} note pairs per run, {seconds:g} s paths. Trajectories: torch "
             "descriptors of the decoded linear STFT magnitudes per frame; f0 stability: YIN on the rendered "
             "audio (std of cents around the path's pitch curve, voiced frames). Frechet / Wasserstein: the "
             "path's decoded frames against the model's decoded training codes (5 descriptors, in real stds). "
             "Direction: lower is better for smoothness (mean |2nd difference| / range), tv ratio (1 = "
             "monotone), f0 stability and the distances; abs monotonicity is |Spearman correlation with time| "
             "(1 for a sweep either way). "
             "Blends (lerp, slerp, expressive) sweep from the first note to the second over the path. Morph "
             "(blends and geodesic between two instruments; evaluation/timbre.py's measures per path): "
             "p_B = P(B) / (P(A) + P(B)) of the morph score's instrument classifier (evaluation.timbre."
             f"frame_classifier, {MORPH_CLASSIFIER_EPOCHS} epochs; its test recall per instrument in "
             "morph-classifier-*/) along the path; morph_path_rho its Spearman "
             "rho with time (higher is better), morph_path_cross where it first reaches 1/2, morph_path_ramp "
             "its mean distance from the ramp t (lower is better), morph_path_recognised the fraction of "
             f"paths whose first / last {MORPH_ENDS:.0%} of points the classifier names A / B.", ""]
    lines += ["## Mean ± std over pairs (and seeds)", "",
              "| generator | model | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
    for k in kinds:
        for g in groups:
            lines.append(f"| {k} | {g} | " + " | ".join(_cell(_vals(rows, m, group=g, kind=k)) for m in metrics)
                         + " |")
    if len(groups) > 1:
        ref = groups[0]
        lines += ["", f"## Between models, per generator: group - {ref} (Welch)", "",
                  f"Δ ± SE (p), * p < {P_SIGNIFICANT}. Unit: the run (mean over its pairs) when both groups have "
                  f"≥ 2 runs, else the note pair ({', '.join(RUN_LEVEL)}: always the run).", "",
                  "| generator | model | unit | " + " | ".join(metrics) + " |",
                  "|---|---|---|" + "---:|" * len(metrics)]
        for k in kinds:
            for g in groups[1:]:
                by_run = len(runs[g]) >= 2 and len(runs[ref]) >= 2
                cells = []
                for m in metrics:
                    if by_run or m in RUN_LEVEL:
                        a, b = _run_means(rows, m, g, k), _run_means(rows, m, ref, k)
                    else:
                        a, b = _vals(rows, m, group=g, kind=k), _vals(rows, m, group=ref, kind=k)
                    cells.append(_test_cell(a, b))
                lines.append(f"| {k} | {g} | {'run' if by_run else 'pair'} | " + " | ".join(cells) + " |")
    if "lerp" in kinds and len(kinds) > 1:
        lines += ["", "## Between generators, per model: generator - lerp (Welch over note pairs and seeds)", "",
                  f"{', '.join(m for m in RUN_LEVEL if m in metrics) or 'none'}: over runs (one value per run "
                  "and generator).", "",
                  "| model | generator | " + " | ".join(metrics) + " |", "|---|---|" + "---:|" * len(metrics)]
        order = ["geodesic"] + [k for k in kinds if k not in ("lerp", "geodesic")]
        for g in groups:
            for k in (k for k in order if k in kinds):
                lines.append(f"| {g} | {k} | " + " | ".join(
                    _test_cell(_run_means(rows, m, g, k), _run_means(rows, m, g, "lerp")) if m in RUN_LEVEL else
                    _test_cell(_vals(rows, m, group=g, kind=k), _vals(rows, m, group=g, kind="lerp"))
                    for m in metrics) + " |")
    if pred:
        names = list(dict.fromkeys(p["descriptor"] for p in pred))
        lines += ["", "## Latent -> descriptor predictability (decoded training codes; mean ± std over seeds)", "",
                  "Held-out R² of linear / k-NN regression from the codes; max |r|: the best single latent "
                  "dimension's Pearson correlation (per-dimension values in predictability.csv).", "",
                  "| model | " + " | ".join(f"{n} R² lin | {n} R² kNN | {n} max abs r" for n in names) + " |",
                  "|---|" + "---:|" * (3 * len(names))]
        for g in groups:
            cells = []
            for n in names:
                sel = [p for p in pred if p["group"] == g and p["descriptor"] == n]
                cells += [_cell([p[k] for p in sel]) for k in ("r2_linear", "r2_knn", "max_abs_pearson")]
            lines.append(f"| {g} | " + " | ".join(cells) + " |")
    secs = _vals(rows, "seconds")
    lines += ["", f"Figures: `metrics.png` (mean ± std per generator and model), `figures/map-<run>.png`, "
              f"`figures/curves-<run>.png`. Mean time per rendered and scored path: {_fmt(mean_std(secs)[0])} s.",
              ""]
    return "\n".join(lines)


def plot_metric_bars(rows: list[dict], path: str | Path, metrics: tuple[str, ...] = KEY_METRICS) -> Path | None:
    """One panel per metric: bars per generator, one colour per model group, error bars = std over pairs."""
    from ..plots import plt, save_figure

    metrics = tuple(m for m in metrics if any(m in r for r in rows))
    if not rows or not metrics:
        return None
    groups = _groups(rows)
    kinds = list(dict.fromkeys(r["kind"] for r in rows))
    cols = 4
    nrows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.5 * cols, 3.2 * nrows), squeeze=False)
    width = 0.8 / len(groups)
    cmap = plt.get_cmap("tab10")
    for ax, m in zip(axes.flat, metrics, strict=False):
        for j, g in enumerate(groups):
            stats = [mean_std(_vals(rows, m, group=g, kind=k)) for k in kinds]
            x = np.arange(len(kinds)) + (j - (len(groups) - 1) / 2) * width
            ax.bar(x, [s[0] for s in stats], width, yerr=[s[1] for s in stats], color=cmap(j % 10), label=g,
                   capsize=2, error_kw={"lw": 0.8})
        ax.set_xticks(range(len(kinds)))
        ax.set_xticklabels(kinds, rotation=45, fontsize=7)
        ax.set_title(m + (f" ({DIRECTION[m]} is better)" if m in DIRECTION else ""), fontsize=9)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, Path(path))
