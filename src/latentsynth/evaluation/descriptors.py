"""Perceptual audio descriptors, their differentiable twins, and scores built on them.

* :func:`frame_descriptors` / :func:`sound_descriptors`: numpy/librosa descriptors of one sound ``y [N]``,
  per frame ``[T]`` (``T = 1 + N // hop``, Hann-windowed centred frames as :mod:`latentsynth.dsp.transforms`)
  and per sound (one float each). Names, order, labels and units: the one registry :data:`REGISTRY` (and the
  lists read from it: :data:`DESCRIPTORS`, :data:`SOUND_DESCRIPTORS`, :data:`TORCH_DESCRIPTORS`, :data:`LABELS`,
  :data:`UNITS`).
* :func:`torch_descriptors`: centroid, bandwidth, flatness, soft rolloff and RMS dB computed in torch from
  linear STFT magnitudes ``[..., F]``; they match the librosa ones on the same magnitudes and can be
  back-propagated through (descriptor-targeted synthesis).
* :func:`smoothness`, :func:`monotonicity`, :func:`tv_ratio`, :func:`f0_stability_cents`,
  :func:`path_metrics`: shape of descriptor trajectories ``[T]`` along latent paths.
* :func:`predictability`: how well latent codes ``[N, d]`` predict a descriptor ``[N]``.
* :func:`descriptor_distances`: distribution distances between descriptor vectors of real and generated sounds.

RMS is the RMS of the signal, not of the windowed frame: Parseval gives the windowed frame's energy from
its spectrum, divided by ``mean(hann^2) = 3/8`` so a sine of amplitude ``a`` reads ``a / sqrt(2)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import librosa
import numpy as np
import torch
from torch import Tensor

from .generation import frechet_distance


@dataclass(frozen=True)
class Descriptor:
    """One audio descriptor: ``name``, axis ``label``, ``unit``, ``kind`` (``frame``: per frame and per sound;
    ``sound``: per sound only), ``differentiable`` (also computed by :func:`torch_descriptors` on magnitudes:
    maps, curves, targets, the instrument's heatmaps) and, for those, ``target`` (help of its
    ``latentsynth synth target --NAME`` option)."""

    name: str
    label: str
    unit: str = ""
    kind: str = "frame"
    differentiable: bool = False
    target: str = ""


# THE descriptor registry: a new descriptor is one row here (plus its formula in frame_descriptors or
# torch_descriptors); the lists below, the CLI's `synth target` options, synth.descriptors, the server's
# heatmap quantities (and units) and the page's menu (GET /api/descriptors) all read it.
REGISTRY: tuple[Descriptor, ...] = (
    Descriptor("centroid", "spectral centroid", "Hz", differentiable=True,
               target="spectral centroid target in Hz: 1500 (constant) or 800:3000 (ramp; more values: a "
                      "piecewise-linear curve)"),
    Descriptor("bandwidth", "spectral bandwidth", "Hz", differentiable=True,
               target="spectral bandwidth target in Hz"),
    Descriptor("contrast", "spectral contrast", "dB"),
    Descriptor("flatness", "spectral flatness", "", differentiable=True, target="spectral flatness target (0-1)"),
    Descriptor("rolloff", "spectral rolloff (85 %)", "Hz", differentiable=True, target="85 % rolloff target in Hz"),
    Descriptor("loudness", "RMS level", "dB", differentiable=True,
               target="RMS level target in dB (e.g. -20, or -30:-10)"),
    Descriptor("f0", "fundamental frequency", "Hz"),
    Descriptor("periodicity", "periodicity", ""),
    Descriptor("attack_time", "attack time (10-90 %)", "s", kind="sound"),
)
BY_NAME: dict[str, Descriptor] = {d.name: d for d in REGISTRY}
DESCRIPTORS: tuple[str, ...] = tuple(d.name for d in REGISTRY if d.kind == "frame")
SOUND_DESCRIPTORS: tuple[str, ...] = DESCRIPTORS + tuple(d.name for d in REGISTRY if d.kind == "sound")
TORCH_DESCRIPTORS: tuple[str, ...] = tuple(d.name for d in REGISTRY if d.differentiable)
LABELS: dict[str, str] = {d.name: d.label for d in REGISTRY}
UNITS: dict[str, str] = {d.name: d.unit for d in REGISTRY}
ROLL_PERCENT = 0.85
HANN_POWER = 3 / 8  # mean(w^2) of the periodic Hann window (exact for any even length)
AMIN = 1e-5  # linear amplitude floor of the dB scale: -100 dB
F0_MIN, F0_MAX = 65.40639132514966, 2093.004522404789  # C2, C7


def label(name: str) -> str:
    """Axis label ``"spectral centroid (Hz)"`` of a descriptor name."""
    unit = UNITS.get(name, "")
    return f"{LABELS.get(name, name)} ({unit})" if unit else LABELS.get(name, name)


# --------------------------------------------------------------------------------------- numpy / librosa


def _rms_from_magnitude(S: np.ndarray, n_fft: int) -> np.ndarray:
    """Signal RMS per frame from linear magnitudes ``[F, T]`` of a Hann STFT (Parseval): ``[T]``."""
    return librosa.feature.rms(S=S, frame_length=n_fft)[0] / math.sqrt(HANN_POWER)


def _contrast_bands(sr: float, fmin: float = 200.0, n_bands: int = 6) -> int:
    """Largest ``n_bands <= 6`` whose octave bands start below Nyquist (librosa refuses otherwise)."""
    while n_bands > 1 and fmin * 2 ** (n_bands - 1) >= sr / 2:
        n_bands -= 1
    return n_bands


def _yin_periodicity(y: np.ndarray, f0: np.ndarray, sr: float, frame_length: int, hop: int) -> np.ndarray:
    """Normalised autocorrelation of each centred frame at the lag ``sr / f0``: ``[T]`` in [-1, 1]."""
    frames = librosa.util.frame(np.pad(y, frame_length // 2), frame_length=frame_length, hop_length=hop)
    out = np.zeros(len(f0))
    for t, f in enumerate(f0[: frames.shape[1]]):
        lag = int(round(sr / f)) if np.isfinite(f) and f > 0 else 0
        if 0 < lag < frame_length:
            a, b = frames[: frame_length - lag, t], frames[lag:, t]
            den = math.sqrt(float(a @ a) * float(b @ b))
            out[t] = float(a @ b) / den if den > 0 else 0.0
    return out


def frame_descriptors(
    y: np.ndarray, sr: float, n_fft: int = 1024, hop: int = 256, f0: bool = True,
    f0_method: str = "pyin", fmin: float = F0_MIN, fmax: float = F0_MAX, f0_frame_length: int = 2048,
) -> dict[str, np.ndarray]:
    """Per-frame descriptors of ``y [N]``: ``{name: [T]}`` in :data:`DESCRIPTORS` order, ``T = 1 + N // hop``.

    Spectral ones come from ``|STFT|`` (Hann, ``n_fft``, ``hop``, centred, zero padding) through librosa:
    centroid and bandwidth (p = 2) on magnitudes, flatness on power (librosa's default), rolloff at 85 %
    of the magnitude sum, contrast in dB averaged over octave bands from 200 Hz. ``loudness`` is the
    signal RMS in dB re 1.0 (floor -100 dB). ``f0`` (Hz, NaN where unvoiced) and ``periodicity`` come from
    ``librosa.pyin`` (voiced probability) or, with ``f0_method="yin"``, from ``librosa.yin`` plus the
    normalised autocorrelation at the detected period (frames below 0.5 count as unvoiced); both search
    ``[fmin, fmax]`` with frames of ``f0_frame_length`` samples. ``f0=False`` skips them (NaN arrays).

    Cost (1 CPU thread, 22,050 Hz): pyin ~0.35 s per second of audio, yin ~0.01 s, the rest ~0.01 s.
    The f0 frame averages the period: a 5 Hz vibrato through 2048-sample frames reads 0.68 x its depth.
    A single-frame flatness of white noise is exp(-Euler gamma) = 0.56, not 1 (exponential bin powers).
    """
    y = np.asarray(y, dtype=np.float32)
    S = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop, center=True, pad_mode="constant"))
    kw = {"S": S, "sr": sr, "n_fft": n_fft, "hop_length": hop}
    out = {
        "centroid": librosa.feature.spectral_centroid(**kw)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(**kw)[0],
        "contrast": librosa.feature.spectral_contrast(**kw, n_bands=_contrast_bands(sr)).mean(axis=0),
        "flatness": librosa.feature.spectral_flatness(S=S)[0],
        "rolloff": librosa.feature.spectral_rolloff(**kw, roll_percent=ROLL_PERCENT)[0],
        "loudness": 20 * np.log10(np.maximum(_rms_from_magnitude(S, n_fft), AMIN)),
    }
    T = S.shape[1]
    if not f0:
        out["f0"], out["periodicity"] = np.full(T, np.nan), np.full(T, np.nan)
    elif f0_method == "pyin":
        f, _, prob = librosa.pyin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=f0_frame_length, hop_length=hop)
        out["f0"], out["periodicity"] = f[:T], prob[:T]
    elif f0_method == "yin":
        f = librosa.yin(y, fmin=fmin, fmax=fmax, sr=sr, frame_length=f0_frame_length, hop_length=hop)[:T]
        per = _yin_periodicity(y, f, sr, f0_frame_length, hop)
        out["f0"], out["periodicity"] = np.where(per >= 0.5, f, np.nan), per
    else:
        raise ValueError(f"f0_method: 'pyin' or 'yin', got {f0_method!r}")
    return {k: np.asarray(out[k], dtype=np.float64) for k in DESCRIPTORS}


def attack_time(loudness_db: np.ndarray, sr: float, hop: int, lo: float = 0.1, hi: float = 0.9) -> float:
    """Seconds from the first frame whose RMS reaches ``lo`` x its peak to the first reaching ``hi`` x peak."""
    env = 10 ** (np.asarray(loudness_db) / 20)
    peak = env.max()
    t_lo, t_hi = int(np.argmax(env >= lo * peak)), int(np.argmax(env >= hi * peak))
    return max(t_hi - t_lo, 0) * hop / sr


def sound_descriptors(y: np.ndarray, sr: float, n_fft: int = 1024, hop: int = 256, **kw) -> dict[str, float]:
    """One value per descriptor of ``y [N]`` (:data:`SOUND_DESCRIPTORS` order).

    Spectral descriptors and periodicity: means over frames weighted by linear RMS, so silence does not
    count; ``loudness``: dB of the RMS over the whole sound (energy mean of frames); ``f0``: median over
    voiced frames (NaN if none); ``attack_time``: :func:`attack_time`. ``kw`` go to :func:`frame_descriptors`.
    """
    d = frame_descriptors(y, sr, n_fft, hop, **kw)
    w = 10 ** (d["loudness"] / 20)
    w = w / w.sum()
    out = {k: float(np.nansum(w * d[k])) for k in ("centroid", "bandwidth", "contrast", "flatness", "rolloff",
                                                     "periodicity")}
    out["loudness"] = float(10 * np.log10(max(np.mean(10 ** (d["loudness"] / 10)), AMIN**2)))
    voiced = d["f0"][np.isfinite(d["f0"])]
    out["f0"] = float(np.median(voiced)) if voiced.size else math.nan
    if np.isnan(d["periodicity"]).all():
        out["periodicity"] = math.nan
    out["attack_time"] = attack_time(d["loudness"], sr, hop)
    return {k: out[k] for k in SOUND_DESCRIPTORS}


# ------------------------------------------------------------------------------------------ torch


def torch_descriptors(
    mag: Tensor, sr: float, n_fft: int, rolloff_temperature: float = 0.01, eps: float = 1e-10,
) -> dict[str, Tensor]:
    """Differentiable descriptors of linear STFT magnitudes ``[..., F]`` (``F = n_fft // 2 + 1``) -> ``[...]``.

    With ``p = mag / sum(mag)``: ``centroid = sum p f``; ``bandwidth = sqrt(sum p (f - centroid)^2)``;
    ``flatness = geometric / arithmetic mean of max(mag^2, 1e-10)`` (librosa's formulas). ``rolloff`` is a
    soft version of librosa's "lowest bin where the cumulative sum of p reaches 85 %": that bin index is the
    number of bins whose cumulative sum ``c_k`` is still below 0.85, and the count is smoothed to
    ``sum_k sigmoid((0.85 - c_k) / rolloff_temperature)`` (times the bin spacing ``sr / n_fft``): it moves
    continuously with the magnitudes, and tends to the hard rolloff as the temperature goes to 0.
    ``loudness`` is the RMS in dB from the magnitudes by Parseval for the Hann window (see module doc).
    Magnitudes are ``[..., T, F]``-shaped for spectrograms: pass ``S.transpose(-1, -2)`` for ``[F, T]``.
    """
    F = mag.shape[-1]
    if F != n_fft // 2 + 1:
        raise ValueError(f"mag: last dim must be n_fft // 2 + 1 = {n_fft // 2 + 1} bins, got {F}")
    freqs = torch.linspace(0, sr / 2, F, dtype=mag.dtype, device=mag.device)
    p = mag / mag.sum(-1, keepdim=True).clamp_min(eps)
    centroid = (p * freqs).sum(-1)
    bandwidth = ((p * (freqs - centroid.unsqueeze(-1)) ** 2).sum(-1) + eps).sqrt()
    power = mag.pow(2).clamp_min(1e-10)
    flatness = power.log().mean(-1).exp() / power.mean(-1)
    c = p.cumsum(-1)
    rolloff = torch.sigmoid((ROLL_PERCENT - c) / rolloff_temperature).sum(-1) * (sr / n_fft)
    # full-spectrum energy: every bin twice except DC (and Nyquist for even n_fft)
    sq = mag.pow(2)
    energy = 2 * sq.sum(-1) - sq[..., 0] - (sq[..., -1] if n_fft % 2 == 0 else 0)
    ms = energy / (n_fft**2 * HANN_POWER)
    loudness = 10 * torch.log10(ms.clamp_min(AMIN**2))
    return {"centroid": centroid, "bandwidth": bandwidth, "flatness": flatness, "rolloff": rolloff,
            "loudness": loudness}


# ------------------------------------------------------------------------------------- path metrics


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def smoothness(x: np.ndarray, normalise: bool = True) -> float:
    """``mean |x[t+1] - 2 x[t] + x[t-1]|`` of a trajectory ``[T]`` (0 for a straight line; lower is smoother).

    With ``normalise`` it is divided by the range ``max - min`` so descriptors in Hz, dB or unitless
    compare (a constant curve gives 0). NaN frames (unvoiced f0) are dropped first; NaN below 3 points.
    """
    x = _finite(x)
    if x.size < 3:
        return math.nan
    s = float(np.abs(np.diff(x, n=2)).mean())
    rng = float(x.max() - x.min())
    return (s / rng if rng > 0 else 0.0) if normalise else s


def monotonicity(x: np.ndarray) -> float:
    """Spearman rank correlation of a trajectory ``[T]`` with time: +1 / -1 for strictly rising / falling.

    NaN frames are dropped; NaN for a constant curve or fewer than 3 points.
    """
    x = _finite(x)
    if x.size < 3 or np.all(x == x[0]):
        return math.nan
    from scipy.stats import spearmanr  # lazy: scipy.stats costs 1.5 s at import (the CLI reads this registry)

    return float(spearmanr(np.arange(x.size), x).statistic)


def tv_ratio(x: np.ndarray) -> float:
    """Total variation ``sum |x[t+1] - x[t]|`` over the net change ``|x[-1] - x[0]|`` of a trajectory ``[T]``.

    1 for a monotone curve, larger when it wanders back and forth; 1 for a constant curve, inf for a
    curve that moves but ends where it started. NaN frames are dropped; NaN below 2 points.
    """
    x = _finite(x)
    if x.size < 2:
        return math.nan
    tv, net = float(np.abs(np.diff(x)).sum()), abs(float(x[-1] - x[0]))
    if tv == 0:
        return 1.0
    return tv / net if net > 0 else math.inf


def f0_stability_cents(f0: np.ndarray, target: np.ndarray | None = None) -> float:
    """Standard deviation (ddof 0) of ``1200 log2(f0 / median f0)`` over voiced frames (finite, > 0) of ``[T]``;
    with ``target`` (Hz ``[T]``: the pitch the frames were asked for, e.g. a glide), of ``1200 log2(f0 / target)``
    instead, so a followed glide is stable and only the wobble around it counts.

    A sinusoidal vibrato of depth ``D`` cents (peak deviation) gives ``D / sqrt(2)``. NaN with no voiced frame.
    """
    f0 = np.asarray(f0, dtype=float)
    ref = np.full_like(f0, np.nan) if target is None else np.asarray(target, dtype=float)
    ok = np.isfinite(f0) & (f0 > 0) & (np.isfinite(ref) & (ref > 0) if target is not None else True)
    f = f0[ok]
    if f.size == 0:
        return math.nan
    return float(np.std(1200 * np.log2(f / (np.median(f) if target is None else ref[ok]))))


def path_metrics(desc: dict[str, np.ndarray]) -> dict[str, float]:
    """``{f"{name}_{metric}": value}`` for every trajectory ``[T]`` of ``desc`` and metric smoothness
    (normalised), monotonicity, tv_ratio; plus ``f0_stability_cents`` when ``"f0"`` is present."""
    out: dict[str, float] = {}
    for name, x in desc.items():
        out[f"{name}_smoothness"] = smoothness(x)
        out[f"{name}_monotonicity"] = monotonicity(x)
        out[f"{name}_tv_ratio"] = tv_ratio(x)
    if "f0" in desc:
        out["f0_stability_cents"] = f0_stability_cents(desc["f0"])
    return out


# ------------------------------------------------------------------------ predictability, distances


def predictability(codes: np.ndarray, values: np.ndarray, seed: int = 0, test_size: float = 0.25,
                   k: int = 5) -> dict:
    """How well latent codes ``[N, d]`` predict a descriptor ``values [N]`` (NaN rows dropped).

    Returns ``r2_linear`` and ``r2_knn``: held-out R^2 of least-squares linear regression and of k-NN
    regression (on codes standardised with the training split), on a fixed ``seed``-ed split keeping
    ``test_size`` for testing; ``pearson``: ``[d]`` correlation of each code dimension with the values
    (NaN for a constant dimension); ``n``: rows used.
    """
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import train_test_split
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.preprocessing import StandardScaler

    codes, values = np.asarray(codes, dtype=np.float64), np.asarray(values, dtype=np.float64).ravel()
    keep = np.isfinite(values) & np.isfinite(codes).all(axis=1)
    codes, values = codes[keep], values[keep]
    xtr, xte, ytr, yte = train_test_split(codes, values, test_size=test_size, random_state=seed)
    r2_lin = LinearRegression().fit(xtr, ytr).score(xte, yte)
    sc = StandardScaler().fit(xtr)
    knn = KNeighborsRegressor(n_neighbors=min(k, len(xtr))).fit(sc.transform(xtr), ytr)
    r2_knn = knn.score(sc.transform(xte), yte)
    zc, zv = codes - codes.mean(0), values - values.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        pearson = (zc * zv[:, None]).sum(0) / np.sqrt((zc**2).sum(0) * (zv**2).sum())
    return {"r2_linear": float(r2_lin), "r2_knn": float(r2_knn), "pearson": pearson, "n": int(len(values))}


def descriptor_distances(real: np.ndarray, fake: np.ndarray, names: tuple[str, ...] | list[str]) -> dict[str, float]:
    """Distances between descriptor vectors of real ``[N, D]`` and generated ``[M, D]`` sounds (columns ``names``).

    Both sets are standardised with the real set's mean and std (ddof 0; a constant column is only centred).
    ``frechet``: Frechet distance of Gaussian fits (:func:`..generation.frechet_distance`) over rows without
    NaN; ``wasserstein_<name>``: 1-D Wasserstein-1 distance per column over finite values, i.e. in units
    of the real std; ``wasserstein_mean``: their mean. All 0 for identical sets.
    """
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if real.shape[1] != len(names) or fake.shape[1] != len(names):
        raise ValueError(f"real {real.shape} / fake {fake.shape}: need {len(names)} columns, one per name")
    mu, sd = np.nanmean(real, axis=0), np.nanstd(real, axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    zr, zf = (real - mu) / sd, (fake - mu) / sd
    rr, ff = zr[np.isfinite(zr).all(1)], zf[np.isfinite(zf).all(1)]
    out = {"frechet": frechet_distance(torch.from_numpy(rr), torch.from_numpy(ff))}
    from scipy.stats import wasserstein_distance

    ws = {f"wasserstein_{n}": float(wasserstein_distance(_finite(zr[:, j]), _finite(zf[:, j])))
          for j, n in enumerate(names)}
    out["wasserstein_mean"] = float(np.mean(list(ws.values())))
    return out | ws
