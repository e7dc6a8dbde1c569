import math

import librosa
import numpy as np
import pytest
import torch

from latentsynth.evaluation.descriptors import (
    DESCRIPTORS,
    LABELS,
    SOUND_DESCRIPTORS,
    UNITS,
    descriptor_distances,
    f0_stability_cents,
    frame_descriptors,
    label,
    monotonicity,
    path_metrics,
    predictability,
    smoothness,
    sound_descriptors,
    torch_descriptors,
    tv_ratio,
)

SR, N_FFT, HOP = 22050, 1024, 256
T = np.arange(SR) / SR  # 1 s


def _sine(f: float, a: float = 0.5) -> np.ndarray:
    return a * np.sin(2 * np.pi * f * T)


def _inner(x: np.ndarray) -> np.ndarray:
    """Drop the first/last frames (zero padding of the centred STFT)."""
    return x[8:-8]


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return 0.1 * np.random.default_rng(0).standard_normal(SR)


def test_names_labels_units_cover_every_descriptor():
    assert set(SOUND_DESCRIPTORS) == set(LABELS) == set(UNITS)
    assert SOUND_DESCRIPTORS[: len(DESCRIPTORS)] == DESCRIPTORS
    assert label("centroid") == "spectral centroid (Hz)" and label("flatness") == "spectral flatness"


def test_sine_centroid_rolloff_flatness_bandwidth_loudness():
    d = frame_descriptors(_sine(1000.0, a=0.3), SR, f0=False)
    assert list(d) == list(DESCRIPTORS) and all(v.shape == (1 + SR // HOP,) for v in d.values())
    assert np.abs(_inner(d["centroid"]) - 1000).max() < 3
    # rolloff: the first bin whose cumulative magnitude reaches 85 %, a bin (21.5 Hz) or two above the peak
    assert np.abs(_inner(d["rolloff"]) - 1000).max() < 2 * SR / N_FFT
    assert _inner(d["flatness"]).max() < 1e-6
    # a Hann main lobe only: much narrower than the bin spacing times a few
    assert _inner(d["bandwidth"]).max() < 40
    assert np.abs(_inner(d["loudness"]) - 20 * math.log10(0.3 / math.sqrt(2))).max() < 0.5
    assert np.isnan(d["f0"]).all() and np.isnan(d["periodicity"]).all()


def test_two_sines_bandwidth_is_half_their_distance():
    # on bin centres, so both main lobes have the same magnitude sum (off-centre scalloping would tilt the
    # magnitude-weighted centroid by ~10 Hz); each lobe adds only sqrt(0.5) bin of spread
    f1, f2 = 23 * SR / N_FFT, 116 * SR / N_FFT
    d = frame_descriptors(_sine(f1) + _sine(f2), SR, f0=False)
    assert np.abs(_inner(d["centroid"]) - (f1 + f2) / 2).max() < 1
    assert np.abs(_inner(d["bandwidth"]) - abs(f2 - f1) / 2).max() < 2


def test_white_noise_flatness_near_one(noise):
    d = frame_descriptors(noise, SR, f0=False)
    # not 1: one periodogram of white noise has exponentially distributed bin powers, E[log P] = log E[P] - gamma,
    # so the geometric / arithmetic mean ratio is exp(-gamma) = 0.561 (1 only for a smoothed, averaged spectrum)
    assert np.median(_inner(d["flatness"])) == pytest.approx(math.exp(-0.5772156649), abs=0.02)
    assert np.median(_inner(d["centroid"])) == pytest.approx(SR / 4, rel=0.05)
    assert np.median(_inner(d["loudness"])) == pytest.approx(20 * math.log10(0.1), abs=0.5)


@pytest.mark.parametrize("method", ["pyin", "yin"])
def test_f0_of_a_440_hz_tone_within_5_cents(method):
    d = frame_descriptors(_sine(440.0), SR, f0_method=method)
    f0 = _inner(d["f0"])
    assert np.isfinite(f0).all()
    assert np.abs(1200 * np.log2(f0 / 440)).max() < 5
    assert _inner(d["periodicity"]).min() > 0.9


def test_yin_marks_noise_unvoiced(noise):
    d = frame_descriptors(noise, SR, f0_method="yin")
    assert np.isnan(d["f0"]).mean() > 0.9


def _vibrato(depth: float, rate: float, f: float = 440.0) -> np.ndarray:
    inst = f * 2 ** (depth / 1200 * np.sin(2 * np.pi * rate * T))
    return 0.5 * np.sin(2 * np.pi * np.cumsum(inst) / SR)


def test_vibrato_f0_stability_from_audio():
    depth = 50.0  # cents, peak
    d = frame_descriptors(_vibrato(depth, rate=2.0), SR, f0_method="yin", f0_frame_length=1024)
    assert f0_stability_cents(d["f0"]) == pytest.approx(depth / math.sqrt(2), rel=0.05)
    # a 5 Hz vibrato seen through 2048-sample (93 ms) frames: the period is averaged over the frame, a box-car
    # that scales the depth by sinc(rate * W) = sin(pi 5 W) / (pi 5 W) = 0.68
    w = 2048 / SR
    d = frame_descriptors(_vibrato(depth, rate=5.0), SR, f0_method="yin", f0_frame_length=2048)
    box = math.sin(math.pi * 5 * w) / (math.pi * 5 * w)
    assert f0_stability_cents(_inner(d["f0"])) == pytest.approx(box * depth / math.sqrt(2), rel=0.05)


def test_sound_descriptors():
    env = np.minimum(T / 0.1, 1.0)  # linear 100 ms attack
    s = sound_descriptors(env * _sine(440.0), SR, f0_method="yin")
    assert list(s) == list(SOUND_DESCRIPTORS)
    assert s["f0"] == pytest.approx(440, rel=3e-3)
    assert s["centroid"] == pytest.approx(440, abs=10)
    # 10 % -> 90 % of a linear ramp: 80 ms (frame resolution 11.6 ms)
    assert s["attack_time"] == pytest.approx(0.08, abs=0.025)
    silent = np.zeros(SR)
    # silent first half (does not weigh on the means), then a 1 kHz tone with a 20 ms fade-in (no click)
    silent[SR // 2 :] = _sine(1000.0)[SR // 2 :] * np.minimum(np.arange(SR // 2) / 441, 1)
    s2 = sound_descriptors(silent, SR, f0=False)
    assert s2["centroid"] == pytest.approx(1000, abs=15) and math.isnan(s2["f0"])
    assert s2["loudness"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)) - 10 * math.log10(2), abs=0.3)


# ------------------------------------------------------------------------------------------- torch


def _mags(y: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(y.astype(np.float32), n_fft=N_FFT, hop_length=HOP))  # [F, T]


@pytest.mark.parametrize("which", ["sine", "two", "noise", "chirp"])
def test_torch_descriptors_match_librosa(which, noise):
    y = {"sine": _sine(700.0), "two": _sine(300.0) + 0.5 * _sine(4000.0), "noise": noise,
         "chirp": librosa.chirp(fmin=100, fmax=8000, sr=SR, duration=1.0)}[which]
    S = _mags(y)
    S = S[:, 4:-4]  # inner frames
    td = {k: v.numpy() for k, v in torch_descriptors(torch.from_numpy(S.T).double(), SR, N_FFT).items()}
    kw = {"S": S, "sr": SR, "n_fft": N_FFT}
    np.testing.assert_allclose(td["centroid"], librosa.feature.spectral_centroid(**kw)[0], rtol=1e-4, atol=0.01)
    np.testing.assert_allclose(td["bandwidth"], librosa.feature.spectral_bandwidth(**kw)[0], rtol=1e-4, atol=0.01)
    np.testing.assert_allclose(td["flatness"], librosa.feature.spectral_flatness(S=S)[0], rtol=1e-3, atol=1e-9)
    # soft rolloff vs the hard one: within a few bins
    hard = librosa.feature.spectral_rolloff(**kw)[0]
    assert np.abs(td["rolloff"] - hard).max() < 4 * SR / N_FFT
    ref = frame_descriptors(y, SR, f0=False)["loudness"][4:-4]
    np.testing.assert_allclose(td["loudness"], ref, atol=1e-3)


def test_torch_soft_rolloff_tends_to_hard(noise):
    S = _mags(noise)[:, 4:-4]
    hard = librosa.feature.spectral_rolloff(S=S, sr=SR, n_fft=N_FFT)[0]
    soft = torch_descriptors(torch.from_numpy(S.T).double(), SR, N_FFT, rolloff_temperature=1e-5)["rolloff"]
    np.testing.assert_allclose(soft.numpy(), hard, atol=SR / N_FFT / 2)


def test_torch_descriptors_gradients_finite_and_batched():
    g = torch.Generator().manual_seed(0)
    mag = torch.rand(2, 3, N_FFT // 2 + 1, generator=g)
    mag[0, 0] = 0.0  # a silent frame
    mag[1, 1, 100:] = 0.0  # empty bins
    mag.requires_grad_(True)
    d = torch_descriptors(mag, SR, N_FFT)
    for k, v in d.items():
        assert v.shape == (2, 3), k
        (grad,) = torch.autograd.grad(v.sum(), mag, retain_graph=True)
        assert torch.isfinite(grad).all(), k
    (grad,) = torch.autograd.grad(d["rolloff"].sum(), mag)
    assert grad.abs().sum() > 0  # the soft rolloff does move with the magnitudes
    with pytest.raises(ValueError, match="n_fft // 2"):
        torch_descriptors(mag[..., :-1], SR, N_FFT)


# ------------------------------------------------------------------------------------ path metrics


def test_path_metrics_on_a_ramp():
    x = np.linspace(3.0, 10.0, 50)
    assert monotonicity(x) == pytest.approx(1.0)
    assert monotonicity(x[::-1]) == pytest.approx(-1.0)
    assert tv_ratio(x) == pytest.approx(1.0)
    assert smoothness(x) == pytest.approx(0.0, abs=1e-12)


def test_path_metrics_on_a_zigzag():
    x = np.array([0.0, 2.0, 1.0, 3.0, 2.0, 4.0])  # steps +2 -1 +2 -1 +2: TV 8, net 4
    assert tv_ratio(x) == pytest.approx(2.0)
    # second differences: -3, +3, -3, +3 -> mean 3, range 4
    assert smoothness(x) == pytest.approx(3 / 4)
    assert smoothness(x, normalise=False) == pytest.approx(3.0)
    assert 0 < monotonicity(x) < 1
    assert tv_ratio(np.array([0.0, 1.0, 0.0])) == math.inf
    assert tv_ratio(np.ones(5)) == 1.0 and math.isnan(monotonicity(np.ones(5)))
    assert tv_ratio(np.array([0.0, np.nan, 1.0])) == 1.0  # NaN frames dropped


def test_f0_stability_of_a_synthetic_vibrato():
    t = np.arange(400) / 100
    depth = 30.0
    f0 = 220 * 2 ** (depth / 1200 * np.sin(2 * np.pi * 5 * t))
    f0[::7] = np.nan  # unvoiced frames ignored
    assert f0_stability_cents(f0) == pytest.approx(depth / math.sqrt(2), rel=0.02)
    assert f0_stability_cents(np.full(10, 330.0)) == 0.0
    assert math.isnan(f0_stability_cents(np.full(10, np.nan)))
    # the same vibrato around an octave glide, against the glide: the vibrato alone (the median would see the glide)
    glide = 220 * 2 ** (t / t[-1])
    assert f0_stability_cents(f0 / 220 * glide, glide) == pytest.approx(depth / math.sqrt(2), rel=0.02)
    assert f0_stability_cents(f0 / 220 * glide) > 300


def test_path_metrics_keys():
    desc = {"centroid": np.linspace(0, 1, 10), "f0": np.full(10, 440.0)}
    m = path_metrics(desc)
    assert set(m) == {"centroid_smoothness", "centroid_monotonicity", "centroid_tv_ratio", "f0_smoothness",
                      "f0_monotonicity", "f0_tv_ratio", "f0_stability_cents"}
    assert m["centroid_monotonicity"] == pytest.approx(1.0) and m["f0_stability_cents"] == 0.0


# ------------------------------------------------------------------------ predictability, distances


def test_predictability_linear_vs_noise():
    rng = np.random.default_rng(0)
    codes = rng.standard_normal((400, 4))
    w = np.array([2.0, -1.0, 0.0, 0.5])
    r = predictability(codes, codes @ w + 3.0)
    assert r["r2_linear"] == pytest.approx(1.0, abs=1e-9)
    assert r["r2_knn"] > 0.8
    assert r["pearson"].shape == (4,)
    assert r["pearson"][0] > 0.8 and r["pearson"][1] < -0.3 and abs(r["pearson"][2]) < 0.15
    noise = predictability(codes, rng.standard_normal(400))
    assert abs(noise["r2_linear"]) < 0.1 and noise["r2_knn"] < 0.1
    # a non-linear function: k-NN sees it, the linear fit does not
    nl = predictability(codes, codes[:, 0] ** 2)
    assert nl["r2_knn"] > 0.5 and nl["r2_linear"] < 0.1
    vals = codes @ w
    vals[:10] = np.nan
    assert predictability(codes, vals)["n"] == 390


def test_descriptor_distances_identical_and_shifted():
    rng = np.random.default_rng(0)
    names = ("centroid", "loudness", "flatness")
    scale = np.array([1000.0, 10.0, 0.01])
    real = rng.standard_normal((500, 3)) * scale + np.array([2000.0, -20.0, 0.1])
    d0 = descriptor_distances(real, real, names)
    assert abs(d0["frechet"]) < 1e-6 and d0["wasserstein_mean"] == 0.0
    prev = 0.0
    for shift in (0.5, 1.0, 2.0):  # in units of each column's std
        d = descriptor_distances(real, real + shift * scale, names)
        # Frechet of standardised vectors: sum of squared mean shifts; Wasserstein-1 of a shift: the shift
        assert d["frechet"] == pytest.approx(3 * shift**2, rel=0.05)
        for n in names:
            assert d[f"wasserstein_{n}"] == pytest.approx(shift, rel=0.05)
        assert d["frechet"] > prev
        prev = d["frechet"]
    with pytest.raises(ValueError, match="columns"):
        descriptor_distances(real, real[:, :2], names)
