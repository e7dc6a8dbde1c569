"""Timbre scores of a frame model (issue #22): do the latent codes carry the sound, not the labels?

Every score has a pure core on arrays (tested on toy data with known answers) and a driver on a model and its
frame data module (:func:`timbre_scores`, the keys of ``metrics.json``; definitions in docs/evaluation.md):

* **probes** (:func:`probe_scores`): instrument / dynamics / style read off the *paths* of held-out notes (the
  encoder codes of a note's frames within 20 dB of its loudest, summarised by :func:`path_summary`: the mean
  code of the onset, body and end thirds and each unit's spread), by a logistic regression and a 10-NN vote
  fitted on the train notes' paths; balanced accuracy (mean recall over classes, chance = 1/classes). The
  instrument probe counts only notes whose instrument is a sound of its own (:func:`identifiable_notes`: GM
  renders every string instrument's pizz and trem with one section preset).
* **pitch invariance** (:func:`pitch_invariance`): mean distance between note codes of one instrument at
  different pitches over the mean distance between codes of different instruments at one pitch (< 1: codes
  group by instrument, not by pitch); and the instrument probe fitted on train notes and tested on notes at
  pitches never trained on (the ``pitch`` split).
* **source test** (:func:`source_test`): notes of a sound source never trained on (``data.source_test``, a corpus
  folder), encoded and re-rendered with the encoder's codes: the fraction closer (SC) to their input than to
  every corpus twin (same instrument, style, pitch, dynamics), counted on notes whose input differs from its
  nearest twin by SC >= 0.2; and their mean SC over the corpus test notes' (``source_sc_ratio``).
* **morph** (:func:`morph_curve_scores`): along straight lines between the codes of two notes of different
  instruments at one pitch, a judge (:func:`morph_judge`: the mean posterior of frame classifiers trained on
  real frames from several seeds) gives ``p_B(t) = P(B) / (P(A) + P(B))``;
  a pair counts when the endpoints are recognised (argmax A at t = 0, B at t = 1); per pair the Spearman rho
  of p_B with t, where p_B first crosses 1/2, and the mean |p_B(t) - t| (distance from a straight ramp). The
  per-path measures (:func:`morph_curve`, :func:`morph_path_scores`) also score the synthesis study's paths.
* **path smoothness** (:func:`path_smoothness`, issue #25): along the same lines (every pair, recognised or
  not), the trajectories of the differentiable descriptors (centroid, bandwidth, flatness, rolloff, loudness) of
  the decoded frames; per trajectory ``mean |x[t+1] - 2 x[t] + x[t-1]|`` (the unnormalised
  :func:`~.descriptors.smoothness`) over that descriptor's standard deviation on the loud frames of the pairs'
  real notes (a scale fixed by the data, so every model is measured in the same units); the mean over
  descriptors and pairs. 0 for trajectories that change linearly along the line; lower is smoother.
* **loudness and f0** (:func:`loudness_db`, :func:`f0_errors`): DDSP's loudness L1 (A-weighted power in dB per
  frame, frames within 60 dB of the note's loudest) and, on Griffin-Lim audio of a few notes, the YIN f0 error
  in cents (median over voiced frames) and the outlier rate (frames off by more than 50 cents).
* **MR-STFT split** (:func:`mrstft_split`): the multi-resolution STFT distance of :mod:`latentsynth.dsp.metrics`
  computed separately on the bins within two bins of a partial ``k f0`` and on the other (floor) bins.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..dsp import invert, spectral_convergence
from ..dsp.griffinlim import stft
from ..dsp.harmonic import midi_to_hz
from ..dsp.metrics import MR_EPS, MR_RESOLUTIONS, log_magnitude_l1
from ..models.conditioning import LABELS, NAMED, DbScale, mix_labels

INSTRUMENT = LABELS.index("instrument")  # the instrument column of a label row
MORPH_INSTRUMENTS = ("Fl", "TpC", "Vc", "Vn")  # the pairs of the morph score, where the vocabulary has them
MORPH_STEPS = 21  # points along each interpolation (also of the path smoothness)
SOURCE_MIN_SC = 0.2  # a source-test note counts when its input and nearest twin differ at least this much


# ------------------------------------------------------------------------------------------ pure cores


def balanced_accuracy(y_true, y_pred) -> float:
    """Mean over the classes present in ``y_true`` of the fraction of their items predicted right."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def probe_scores(z_train: np.ndarray, y_train, z_test: np.ndarray, y_test, k: int = 10) -> dict[str, float]:
    """Balanced accuracy of a logistic regression (standardised codes) and of a ``k``-NN vote fitted on
    ``z_train [N, d]`` / ``y_train [N]`` and tested on ``z_test [M, d]`` / ``y_test [M]``: ``{linear, knn}``
    (None when the train labels have one class); the predictors of :mod:`.probes`."""
    from .probes import knn_predict, linear_predict

    y_train, y_test = np.asarray(y_train), np.asarray(y_test)
    if len(np.unique(y_train)) < 2 or len(y_test) == 0:
        return {"linear": None, "knn": None}
    return {"linear": balanced_accuracy(y_test, linear_predict(z_train, y_train, z_test)),
            "knn": balanced_accuracy(y_test, knn_predict(z_train, y_train, z_test, k))}


def pitch_invariance(z: np.ndarray, instrument, pitch) -> float | None:
    """Codes ``z [N, d]`` with instrument and pitch per item -> mean distance of pairs of one instrument at
    different pitches / mean distance of pairs of different instruments at one pitch (None without both kinds
    of pairs)."""
    z, inst, pitch = np.asarray(z, dtype=float), np.asarray(instrument), np.asarray(pitch)
    d = np.linalg.norm(z[:, None] - z[None], axis=-1)
    same_inst = (inst[:, None] == inst[None]) & (pitch[:, None] != pitch[None])
    same_pitch = (pitch[:, None] == pitch[None]) & (inst[:, None] != inst[None])
    if not same_inst.any() or not same_pitch.any():
        return None
    return float(d[same_inst].mean() / d[same_pitch].mean())


def spearman(x, y) -> float:
    """Spearman's rank correlation of two sequences (average ranks for ties; 0 when one is constant)."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return 0.0
    return float(np.corrcoef(rx, ry)[0, 1])


def crossing(t: np.ndarray, p: np.ndarray, level: float = 0.5) -> float | None:
    """Where ``p(t)`` first reaches ``level`` (linear interpolation between samples; None if it never does)."""
    t, p = np.asarray(t, dtype=float), np.asarray(p, dtype=float)
    above = np.nonzero(p >= level)[0]
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(t[0])
    return float(t[i - 1] + (level - p[i - 1]) / (p[i] - p[i - 1]) * (t[i] - t[i - 1]))


def morph_curve(prob: np.ndarray, ia: int, ib: int, ends: int = 1) -> tuple[np.ndarray, bool]:
    """Instrument posteriors ``prob [T, K]`` along a path from an instrument-``ia`` note to an instrument-``ib``
    one -> ``p_B(t) = P(B) / (P(A) + P(B))`` ``[T]`` and whether both endpoints are recognised: the argmax of
    the mean posterior over the first ``ends`` points is A, over the last ``ends`` points B."""
    prob = np.asarray(prob, dtype=float)
    ends = max(1, min(int(ends), len(prob)))
    recognised = int(prob[:ends].mean(0).argmax()) == ia and int(prob[-ends:].mean(0).argmax()) == ib
    return prob[:, ib] / np.maximum(prob[:, ia] + prob[:, ib], 1e-12), recognised


def morph_path_scores(p: np.ndarray) -> dict[str, float | None]:
    """One curve ``p_B(t)`` ``[T]`` (t evenly 0..1) -> its Spearman rho with t, where it first crosses 1/2
    (None if never) and its mean distance from the straight ramp p = t: ``{rho, cross, ramp}``."""
    p = np.asarray(p, dtype=float)
    t = np.linspace(0.0, 1.0, len(p))
    return {"rho": spearman(t, p), "cross": crossing(t, p), "ramp": float(np.mean(np.abs(p - t)))}


def morph_curve_scores(curves: list[np.ndarray]) -> dict[str, float | None]:
    """Curves ``p_B(t)`` ``[T]`` (t evenly 0..1) of the counted pairs -> median Spearman rho with t, median
    crossing of 1/2, the fraction of pairs crossing within 30-70 % of the path, the mean distance from the
    straight ramp p = t (each curve's :func:`morph_path_scores`), and the number of pairs."""
    if not curves:
        return {"morph_rho": None, "morph_cross": None, "morph_even": None, "morph_ramp": None, "morph_pairs": 0}
    per = [morph_path_scores(p) for p in curves]
    cross = [s["cross"] for s in per]
    known = [c for c in cross if c is not None]
    return {"morph_rho": float(np.median([s["rho"] for s in per])),
            "morph_cross": float(np.median(known)) if known else None,
            "morph_even": float(np.mean([c is not None and 0.3 <= c <= 0.7 for c in cross])),
            "morph_ramp": float(np.mean([s["ramp"] for s in per])), "morph_pairs": len(curves)}


def path_smoothness(paths: list[dict[str, np.ndarray]], scale: dict[str, float]) -> float | None:
    """Descriptor trajectories of several paths (``{name: [T]}`` each) and one scale per descriptor (> 0) ->
    the mean over paths and descriptors of ``mean_t |x[t+1] - 2 x[t] + x[t-1]| / scale[name]`` (None without
    paths; descriptors without a positive finite scale are left out)."""
    from .descriptors import smoothness

    vals = [smoothness(x, normalise=False) / scale[name] for p in paths for name, x in p.items()
            if name in scale and np.isfinite(scale[name]) and scale[name] > 0]
    vals = [v for v in vals if np.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def a_weighting(freqs: np.ndarray) -> np.ndarray:
    """IEC 61672 A-weighting in dB at ``freqs`` (Hz) (0 dB at 1 kHz)."""
    f2 = np.asarray(freqs, dtype=float) ** 2
    ra = (12194.0**2 * f2**2) / ((f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2))
    return 20 * np.log10(np.maximum(ra, 1e-20)) + 2.0


def loudness_db(mag: Tensor, sample_rate: int, n_fft: int) -> Tensor:
    """A-weighted loudness per frame in dB: linear STFT magnitudes ``[F, T]`` (``F = n_fft // 2 + 1``) ->
    ``10 log10(sum_f |X_f|^2 10^(A(f) / 10))`` ``[T]``."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    w = torch.as_tensor(10 ** (a_weighting(freqs) / 10), dtype=mag.dtype)
    return 10 * torch.log10((mag.pow(2) * w[:, None]).sum(0) + 1e-10)


def loudness_l1(ref: Tensor, est: Tensor, sample_rate: int, n_fft: int, floor_db: float = 60.0) -> float:
    """Mean |loudness(ref) - loudness(est)| (dB) over the frames of ``ref`` within ``floor_db`` of its loudest
    (magnitudes ``[F, T]`` each)."""
    a, b = loudness_db(ref, sample_rate, n_fft), loudness_db(est, sample_rate, n_fft)
    keep = a >= a.max() - floor_db
    return float((a - b).abs()[keep].mean())


def f0_track(y: np.ndarray, sr: int, pitch: float, frame_length: int = 4096, hop: int = 256) -> np.ndarray:
    """YIN f0 in Hz per frame of ``y`` searched within an octave of the MIDI ``pitch`` (NaN where the
    aperiodicity is high or the frame is quiet)."""
    import librosa

    f = float(midi_to_hz(torch.tensor(pitch)))
    fmin, fmax = max(f / 2, 2 * sr / frame_length + 1), min(2 * f, sr / 2 - 1)
    f0 = librosa.yin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=frame_length, hop_length=hop)
    rms = librosa.feature.rms(y=y, frame_length=frame_length, hop_length=hop)[0][: len(f0)]
    f0 = f0[: len(rms)]
    f0[rms < rms.max() * 10 ** (-30 / 20)] = np.nan
    return f0


def f0_errors(ref_f0: np.ndarray, est_f0: np.ndarray, outlier_cents: float = 50.0) -> tuple[np.ndarray, int]:
    """Per-frame |f0 error| in cents on the frames voiced in both tracks, and how many of ``ref_f0``'s voiced
    frames are outliers (unvoiced in ``est_f0`` or off by more than ``outlier_cents``) -> ``(cents, outliers)``."""
    n = min(len(ref_f0), len(est_f0))
    a, b = ref_f0[:n], est_f0[:n]
    both = np.isfinite(a) & np.isfinite(b)
    cents = np.abs(1200 * np.log2(b[both] / a[both]))
    outliers = int(np.sum(np.isfinite(a) & ~np.isfinite(b)) + np.sum(cents > outlier_cents))
    return cents, outliers


def partial_mask(n_fft: int, sample_rate: int, f0: float, width_bins: float = 2.0) -> Tensor:
    """``[n_fft // 2 + 1]`` bool: bins within ``width_bins`` of a partial ``k f0`` below Nyquist."""
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    k = torch.arange(1, int(sample_rate / 2 / f0) + 1, dtype=torch.float32) * f0
    return ((freqs[:, None] - k[None]).abs() <= width_bins * sample_rate / n_fft).any(1)


def mrstft_split(x: Tensor, y: Tensor, sample_rate: int, f0: float) -> tuple[float, float]:
    """Multi-resolution STFT distance (spectral convergence + log-magnitude L1, mean over
    :data:`~latentsynth.dsp.metrics.MR_RESOLUTIONS`) of signals ``x``, ``y`` ``[N]`` on the bins near partials
    of ``f0`` (Hz) and on the other bins: ``(partials, floor)``."""
    n = min(len(x), len(y))
    parts: tuple[list[float], list[float]] = ([], [])
    for n_fft, hop in MR_RESOLUTIONS:
        mx, my = stft(x[None, :n], n_fft, hop).abs()[0], stft(y[None, :n], n_fft, hop).abs()[0]  # [F, T]
        m = partial_mask(n_fft, sample_rate, f0)
        for j, sel in enumerate((m, ~m)):
            if not bool(sel.any()):  # a low note at a coarse resolution: every bin is near a partial
                continue
            a, b = mx[sel], my[sel]  # [K, T]
            parts[j].append(float(spectral_convergence(a, b) + log_magnitude_l1(a, b, MR_EPS)))
    return tuple(float(np.mean(p)) if p else float("nan") for p in parts)  # type: ignore[return-value]


# ------------------------------------------------------------------------------------------ model side


@torch.no_grad()
def note_windows(model, frames: Tensor, loud_db: float = 20.0) -> tuple[Tensor, Tensor]:
    """One note's frames ``[T, F]`` (normalised) cut into the model's windows ``[N, W, F]`` (a note shorter than
    a window: its last frame repeated), and the mask ``[N]`` of the windows a note's path keeps: those whose
    loudest bin lies within ``loud_db`` of the loudest window's."""
    w = model.audio.window if model.audio is not None else 1
    t = len(frames) - len(frames) % w if len(frames) >= w else 0
    x = frames[:t].reshape(-1, w, frames.shape[-1]) if t else frames[-1:].expand(w, -1)[None]
    energy = model.db.to_db(x).amax(dim=(1, 2))  # loudest bin per window, dB
    return x, energy >= energy.max() - loud_db


@torch.no_grad()
def note_frame_codes(model, frames: Tensor, labels: Tensor, loud_db: float = 20.0) -> Tensor:
    """The path of one note in the latent space: the encoder codes (posterior means) of its windows over its
    frames ``[T, F]`` (normalised; labels ``[4]``) kept by :func:`note_windows`, in time order -> ``[T', d]``."""
    x, keep = note_windows(model, frames, loud_db)
    c = labels[None].expand(len(x), -1) if model.conditioned else None
    return model.encode(x, c, sample=False).z[keep]


def note_code(model, frames: Tensor, labels: Tensor, loud_db: float = 20.0) -> Tensor:
    """The code of one note: the mean of :func:`note_frame_codes` -> ``[d]`` (the morph lines' endpoints)."""
    return note_frame_codes(model, frames, labels, loud_db).mean(0)


def path_summary(z: Tensor | np.ndarray) -> np.ndarray:
    """What the probes read of a note's path ``z [T, d]`` (time order): the mean code of its first, middle and
    last third (onset, body, end; a part with no frame takes the whole path's mean) and the standard deviation
    of each unit over the path -> ``[4 d]``. A note's timbre is also how its sound moves (attack, decay, a
    tremolo): the mean alone drops that."""
    z = np.asarray(z, dtype=np.float64)
    parts = [z[i].mean(0) if len(i) else z.mean(0) for i in np.array_split(np.arange(len(z)), 3)]
    return np.concatenate(parts + [z.std(0)])


def _note_attrs(data, notes: list[int], key: str) -> np.ndarray:
    return np.array([str(data.notes[k][key]) for k in notes])


def _note_code(model, data, note: int) -> Tensor:
    return note_code(model, data.note_tensor(note), data.note_labels[note])


def _identifiable(data) -> list[bool]:
    """Per note of the data: :func:`~..data.audio.corpus.identifiable`."""
    from ..data.audio.corpus import identifiable

    return identifiable([str(r["instrument"]) for r in data.notes], [str(r.get("source_file", "")) for r in data.notes])


def identifiable_notes(data, notes: list[int]) -> list[int]:
    """Those of ``notes`` whose instrument is a sound of its own (:func:`~..data.audio.corpus.identifiable`: not
    rendered by a preset that several instruments share, like GM's pizzicato and tremolo string sections)."""
    ok = _identifiable(data)
    return [k for k in notes if ok[k]]


def code_probes(model, data, max_train: int = 1200) -> dict[str, float | None]:
    """Instrument / dynamics / style probes of the notes' paths (:func:`path_summary`; train notes -> test
    notes; the instrument on :func:`identifiable_notes` only), the pitch-invariance ratio of the test notes'
    mean codes, the instrument probe on held-out pitches, and the mean-code instrument probe over every note
    (``timbre_inst_mean_linear``: the definition before the path summary, kept for comparison)."""
    from ..data.audio.corpus import spread

    train, test = spread(data.note_indices("train"), max_train), data.note_indices("test")
    it = spread(identifiable_notes(data, data.note_indices("train")), max_train)  # the instrument's train notes
    iv = identifiable_notes(data, test)
    held = identifiable_notes(data, data.note_indices("pitch")) if getattr(data, "pitch", None) is not None else []
    paths = {k: note_frame_codes(model, data.note_tensor(k), data.note_labels[k])  # each note encoded once
             for k in dict.fromkeys(train + it + test + held)}
    summary = {k: path_summary(z) for k, z in paths.items()}

    def summ(notes: list[int]) -> np.ndarray:  # [N, 4 d]
        return np.stack([summary[k] for k in notes]) if notes else np.zeros((0, 4 * model.latent_dim))

    def mean(notes: list[int]) -> np.ndarray:  # [N, d]
        return torch.stack([paths[k].mean(0) for k in notes]).numpy()

    def attrs(notes: list[int], key: str) -> np.ndarray:
        return _note_attrs(data, notes, key)

    out: dict[str, float | None] = {}
    for key, short in (("dynamics", "dyn"), ("style", "style")):
        p = probe_scores(summ(train), attrs(train, key), summ(test), attrs(test, key))
        out[f"timbre_{short}_linear"], out[f"timbre_{short}_knn"] = p["linear"], p["knn"]
    p = probe_scores(summ(it), attrs(it, "instrument"), summ(iv), attrs(iv, "instrument"))
    out["timbre_inst_linear"], out["timbre_inst_knn"] = p["linear"], p["knn"]
    out["timbre_inst_notes"] = len(iv)
    out["timbre_inst_mean_linear"] = probe_scores(mean(train), attrs(train, "instrument"), mean(test),
                                                  attrs(test, "instrument"))["linear"]
    out["timbre_pitch_invariance"] = pitch_invariance(mean(test), attrs(test, "instrument"), attrs(test, "pitch"))
    if held and it:
        out["timbre_inst_newpitch"] = probe_scores(summ(it), attrs(it, "instrument"), summ(held),
                                                   attrs(held, "instrument"))["linear"]
    return out


MORPH_CLASSIFIER_EPOCHS = 30  # at 4 epochs it confused flute and trumpet frames (real test recall 0.60 / 0.69)


def frame_classifier(data, n_frames: int = 30000, epochs: int = MORPH_CLASSIFIER_EPOCHS, seed: int = 0):
    """An instrument classifier (:class:`~.audio_classifier.FrameClassifier`) trained on ``n_frames`` seeded
    non-silent train frames of the data (linear magnitudes) for ``epochs`` epochs: the morph score's judge.
    Only frames of :func:`identifiable_notes` are drawn: a frame of a shared section preset carries four labels'
    worth of the same sound and would teach the judge to guess."""
    from .audio_classifier import train_frame_classifier

    g = torch.Generator().manual_seed(seed)
    ok = torch.tensor(_identifiable(data))  # [n_notes] bool
    pool = torch.nonzero(ok[data.train.notes]).flatten()  # the train windows of identifiable notes
    pool = pool if len(pool) else torch.arange(len(data.train))  # no instrument has a sound of its own: all
    idx = pool[torch.randperm(len(pool), generator=g)[: n_frames * 2]].tolist()
    mag, y = loud_frames(data, data.train, idx)
    sizes = {k: len(data.vocab[k]) for k in NAMED}
    with torch.enable_grad():
        clf, _ = train_frame_classifier(mag[:n_frames], y[:n_frames], sizes, epochs=epochs, seed=seed)
    return clf


MORPH_JUDGES = 5  # judges (seeds 0..4) of the morph score; one judge's seed moved a model's morph_even 0.58-0.86


class JudgeEnsemble(torch.nn.Module):
    """Several frame classifiers as one judge: ``[B, F]`` linear magnitudes -> ``{"instrument": log of the mean
    instrument posterior [B, K]}`` (so a softmax of it is the mean posterior). Decoded morph frames lie off the
    real frames the judges were trained on, where one small classifier's boundary is set by its seed; the mean
    posterior of several is the better calibrated judge there (deep ensembles, Lakshminarayanan et al. 2017)."""

    def __init__(self, judges: list[torch.nn.Module]):
        super().__init__()
        self.judges = torch.nn.ModuleList(judges)

    def forward(self, mag: Tensor) -> dict[str, Tensor]:
        prob = torch.stack([torch.softmax(j(mag)["instrument"], dim=1) for j in self.judges]).mean(0)
        return {"instrument": prob.clamp_min(1e-12).log()}


def morph_judge(data, n: int = MORPH_JUDGES) -> JudgeEnsemble:
    """The morph score's judge: :func:`frame_classifier` from seeds ``0..n-1`` (each its own draw of frames),
    their instrument posteriors averaged (:class:`JudgeEnsemble`)."""
    return JudgeEnsemble([frame_classifier(data, seed=s) for s in range(n)])


def loud_frames(data, split, index: list[int], floor_db: float = 50.0) -> tuple[Tensor, Tensor]:
    """The frames ``index`` of a split's windows (their first frame) that lie within ``floor_db`` of the loudest
    of them (what the morph score's judge is trained and checked on) -> linear magnitudes ``[N, F]`` and
    labels ``[N, 4]``, in order."""
    db = DbScale.from_info(data.audio_info())
    x, y = split.__getitems__(index)
    loud = db.to_db(x[:, 0]).amax(1)
    keep = loud > loud.max() - floor_db
    return db.to_magnitude(x[keep][:, 0], data.spec), y[keep]


def morph_pairs(data, per_pair: int = 3) -> list[tuple[int, int]]:
    """Note pairs ``(A, B)`` of different instruments among :data:`MORPH_INSTRUMENTS` (else the first four of
    the vocabulary) at one pitch, same dynamics (mf if there, else the first), ordinary style and one source,
    ``per_pair`` pitches spread over their common range; held-out notes first, else any split."""
    from ..data.audio.corpus import spread

    insts = [i for i in MORPH_INSTRUMENTS if i in data.vocab["instrument"]]
    insts = insts if len(insts) >= 2 else data.vocab["instrument"][:4]
    dyns = data.vocab["dynamics"]
    dyn = "mf" if "mf" in dyns else dyns[0]
    first_source = data.notes[0]["source_file"].split(":")[0]
    index: dict[tuple[str, int], list[int]] = {}
    for k, r in enumerate(data.notes):
        if r["dynamics"] == dyn and r.get("style", "ord") in ("ord", "") and \
                r["source_file"].split(":")[0] == first_source:
            index.setdefault((r["instrument"], int(r["pitch"])), []).append(k)
    pairs = []
    for a in range(len(insts)):
        for b in range(a + 1, len(insts)):
            common = sorted({p for i, p in index if i == insts[a]} & {p for i, p in index if i == insts[b]})
            for p in spread(common, per_pair):
                pairs.append((index[(insts[a], p)][0], index[(insts[b], p)][0]))
    return pairs


@torch.no_grad()
def morph_lines(model, data, steps: int = MORPH_STEPS, hold_labels: bool = False
                ) -> list[tuple[int, int, Tensor]]:
    """``(A, B, magnitudes [steps, W, F])``: the decoded linear magnitudes along the straight line from note A's
    code to note B's, for every pair of :func:`morph_pairs` (``hold_labels``: a label model is held at the first
    note's labels along the line, as paths were before label weights)."""
    t = torch.linspace(0, 1, steps)
    lines = []
    for a, b in morph_pairs(data):
        za, zb = _note_code(model, data, a), _note_code(model, data, b)
        z = za[None] + t[:, None] * (zb - za)[None]
        c = mix_labels(data.note_labels[a], data.note_labels[b], t * (0.0 if hold_labels else 1.0))  # [T, 10]
        lines.append((a, b, model.to_magnitude(model.likelihood.mean(model.decode(z, c)))))
    return lines


@torch.no_grad()
def morph_scores(model, data, clf=None, steps: int = MORPH_STEPS, hold_labels: bool = False,
                 lines: list[tuple[int, int, Tensor]] | None = None) -> dict[str, float | None]:
    """The morph score (module doc) over the pairs of :func:`morph_pairs` (``lines``: those of
    :func:`morph_lines`, computed here when not given)."""
    clf = clf if clf is not None else morph_judge(data)
    curves = []
    for a, b, mags in lines if lines is not None else morph_lines(model, data, steps, hold_labels):
        ia, ib = int(data.note_labels[a][INSTRUMENT]), int(data.note_labels[b][INSTRUMENT])
        prob = torch.softmax(clf(mags.mean(1))["instrument"], dim=1)  # frames of a window averaged: [T, F]
        p_b, recognised = morph_curve(prob.numpy(), ia, ib)
        if recognised:
            curves.append(p_b)
    return morph_curve_scores(curves)


@torch.no_grad()
def path_scores(data, lines: list[tuple[int, int, Tensor]], loud_db: float = 20.0) -> dict[str, float | None]:
    """``path_smoothness`` (module doc) of :func:`morph_lines`' lines; STFT models only (the descriptors read
    linear STFT bins), else ``{}``."""
    from .descriptors import TORCH_DESCRIPTORS, torch_descriptors

    spec = data.spec
    if spec.representation != "stft" or not lines:
        return {}
    sr, n_fft = spec.sample_rate, spec.n_fft
    db = DbScale.from_info(data.audio_info())
    real: dict[str, list[Tensor]] = {n: [] for n in TORCH_DESCRIPTORS}
    for k in sorted({k for a, b, _ in lines for k in (a, b)}):
        x = data.note_tensor(k)  # [T, F] normalised
        loud = db.to_db(x).amax(1)
        d = torch_descriptors(db.to_magnitude(x[loud >= loud.max() - loud_db], spec), sr, n_fft)
        for n in TORCH_DESCRIPTORS:
            real[n].append(d[n])
    scale = {n: float(torch.cat(v).double().std()) for n, v in real.items()}
    paths = [{n: v.mean(1).double().numpy() for n, v in torch_descriptors(mags, sr, n_fft).items()}
             for _, _, mags in lines]  # [T, W] per descriptor -> mean over a window's frames
    return {"path_smoothness": path_smoothness(paths, scale)}


@torch.no_grad()
def foreign_frames(model, data, path: Path, db: DbScale | None = None) -> Tensor:
    """Normalised frames ``[T, F]`` of a WAV analysed as the data's notes were (``db``: the data's
    :class:`DbScale`, built here when not given)."""
    from ..data.audio.frames import note_features

    db = DbScale.from_info(data.audio_info()) if db is None else db
    return db.from_db(torch.from_numpy(note_features(path, data.prep)).float())


def source_test(ref_in: list[Tensor], est: list[Tensor], twins: list[list[Tensor]],
                min_sc: float = SOURCE_MIN_SC) -> dict[str, float | None]:
    """Magnitudes ``[F, T]`` of inputs, their re-renderings and each input's corpus twins -> the fraction of
    counted notes (input vs nearest twin SC >= ``min_sc``) re-rendered closer to the input than to every twin,
    the number counted, and the mean SC of the re-renderings to their inputs (all notes)."""
    closer, counted, scs = 0, 0, []
    for x, y, ts in zip(ref_in, est, twins, strict=True):
        scs.append(float(spectral_convergence(x, y)))
        if not ts:
            continue
        n = min([x.shape[1], y.shape[1]] + [tw.shape[1] for tw in ts])
        gap = min(float(spectral_convergence(tw[:, :n], x[:, :n])) for tw in ts)
        if gap < min_sc:
            continue
        counted += 1
        to_input = float(spectral_convergence(x[:, :n], y[:, :n]))
        closer += to_input < min(float(spectral_convergence(tw[:, :n], y[:, :n])) for tw in ts)
    return {"source_closer": closer / counted if counted else None, "source_counted": counted,
            "source_sc": float(np.mean(scs)) if scs else None}


@torch.no_grad()
def source_scores(model, data, corpus: str | Path, n_notes: int = 48) -> dict[str, float | None]:
    """:func:`source_test` on ``n_notes`` notes (spread) of a never-trained source corpus whose twins are in the
    data's corpus and whose labels the model knows; codes from the encoder."""
    from ..data.audio.corpus import read_metadata, spread, twin_key
    from .audio import reconstruct_frames

    corpus = Path(corpus)
    info = data.audio_info()
    db = DbScale.from_info(info)
    by_key: dict[tuple, list[int]] = {}
    for k, r in enumerate(data.notes):
        by_key.setdefault((r["instrument"], r.get("style", ""), int(r["pitch"]), r["dynamics"]), []).append(k)
    cands = [n for n in read_metadata(corpus) if twin_key(n) in by_key
             and all(getattr(n, key) in info.vocab[key] for key in NAMED if info.vocab.get(key))]
    ref_in, est, twins = [], [], []
    for n in spread(cands, n_notes):
        x = foreign_frames(model, data, corpus / n.path, db)
        lab = torch.tensor(info.label_row(float(n.pitch), n.instrument, n.dynamics, n.style))
        y = reconstruct_frames(model, x, data.cfg.window, lab)
        ref_in.append(db.to_magnitude(x, data.spec).T)
        est.append(db.to_magnitude(y, data.spec).T)
        twins.append([db.to_magnitude(data.note_tensor(k), data.spec).T for k in by_key[twin_key(n)]])
    return source_test(ref_in, est, twins)


@torch.no_grad()
def sound_scores(model, data, n_notes: int = 32, audio_notes: int = 6, n_iter: int = 32) -> dict[str, float | None]:
    """Loudness L1 on ``n_notes`` test notes (STFT models), f0 error and the MR-STFT split on Griffin-Lim audio
    of ``audio_notes`` of them."""
    from .audio import audio_note_picks, note_audio, note_magnitudes, pick_notes

    if data.spec.representation != "stft":
        return {}
    notes = pick_notes(data, n_notes)
    db = DbScale.from_info(data.audio_info())
    sr, n_fft = data.spec.sample_rate, data.spec.n_fft
    loud, cents, outliers, voiced, parts, floor = [], [], 0, 0, [], []
    with_audio = set(audio_note_picks(len(notes), audio_notes))
    for j, k in enumerate(notes):
        ref, est = note_magnitudes(model, data, k, db)
        loud.append(loudness_l1(ref, est, sr, n_fft))
        if j not in with_audio:
            continue
        y = note_audio(data, k)
        rec = invert(est[None], data.spec, n_iter=n_iter, length=len(y))[0].numpy()
        pitch = float(data.notes[k]["pitch"])
        f_ref, f_est = f0_track(y, sr, pitch), f0_track(rec, sr, pitch)
        c, o = f0_errors(f_ref, f_est)
        cents.extend(c.tolist())
        outliers, voiced = outliers + o, voiced + int(np.isfinite(f_ref).sum())
        p, f = mrstft_split(torch.from_numpy(y), torch.from_numpy(rec), sr, float(midi_to_hz(torch.tensor(pitch))))
        parts.append(p)
        floor.append(f)
    return {"loudness_l1": float(np.mean(loud)), "f0_cents": float(np.median(cents)) if cents else None,
            "f0_outliers": outliers / voiced if voiced else None,
            "mrstft_partials": float(np.nanmean(parts)) if parts else None,
            "mrstft_floor_bins": float(np.nanmean(floor)) if np.isfinite(floor).any() else None}


def timbre_scores(model, data, source: str | Path | None = None, test_sc: float | None = None) -> dict:
    """Every timbre score of a frame model (the ``timbre_*``, ``morph_*``, ``source_*`` and sound keys of
    ``metrics.json``); ``source``: a corpus of a never-trained sound source for the source test; ``test_sc``:
    the corpus test notes' SC (for ``source_sc_ratio``)."""
    model.eval()
    out: dict = {}
    out.update(code_probes(model, data))
    lines = morph_lines(model, data)
    out.update(morph_scores(model, data, lines=lines))
    out.update(path_scores(data, lines))
    out.update(sound_scores(model, data))
    if source:
        out.update(source_scores(model, data, source))
        if test_sc and out.get("source_sc") is not None:
            out["source_sc_ratio"] = out["source_sc"] / test_sc
    return out
