"""DSP: STFT/mel/CQT magnitudes, torch Griffin-Lim vs librosa, mel inversion, metrics (librosa/formula truth)."""

import librosa
import numpy as np
import pytest
import torch

from latentsynth.dsp import (
    NormStats,
    SpecConfig,
    compress,
    cqt_to_linear,
    decompress,
    griffinlim,
    invert,
    log_spectral_distance,
    magnitude,
    mel_to_linear,
    multi_resolution_stft_distance,
    spectral_convergence,
    stft,
)

SR = 22050


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def harmonic(f0: float, seconds: float = 1.0, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    y = sum(np.sin(2 * np.pi * f0 * k * t + k) / k for k in range(1, 12) if f0 * k < sr / 2)
    return (0.3 * y * np.minimum(1, t / 0.05) * np.exp(-1.5 * t)).astype(np.float32)


@pytest.fixture(scope="module")
def notes() -> np.ndarray:
    return np.stack([harmonic(f, 0.6) for f in (110.0, 220.0, 330.5, 440.0)])  # [4, N]


def test_torch_stft_matches_librosa(notes):
    ref = librosa.stft(notes, n_fft=1024, hop_length=256)
    got = stft(torch.from_numpy(notes), 1024, 256).numpy()
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-3 * np.abs(ref).max())


@pytest.mark.parametrize("rep", ["stft", "mel", "cqt"])
def test_magnitudes_match_librosa(rep, notes):
    cfg = SpecConfig(representation=rep)
    y = notes[0]
    got = magnitude(y, cfg)
    S = np.abs(librosa.stft(y, n_fft=1024, hop_length=256))
    if rep == "stft":
        ref = S
    elif rep == "mel":
        ref = librosa.feature.melspectrogram(S=S, sr=SR, n_fft=1024, n_mels=128, fmin=64, fmax=8000, power=1)
    else:
        ref = np.abs(librosa.cqt(y, sr=SR, hop_length=256, fmin=librosa.note_to_hz("C2"), n_bins=168,
                                 bins_per_octave=24))
    assert got.shape == ref.shape == (cfg.n_bins, 1 + len(y) // 256)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * ref.max())


@pytest.mark.parametrize("n", [44100, 41216, 22087, 1001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cqt_magnitude_is_librosa_cqt(n, dtype):
    """The cached-filter-bank CQT (what `audio prepare` stores) equals librosa.cqt bit for bit, for note lengths
    the corpus has (2 s, trimmed) and odd ones; the stated tolerance is 0.1 dB above the -80 dB floor."""
    from latentsynth.dsp.transforms import cqt_magnitude

    cfg = SpecConfig(representation="cqt")
    rng = np.random.default_rng(n)
    t = np.arange(n) / SR
    noise = 0.01 * rng.standard_normal(n) * np.exp(-3 * t)
    y = (harmonic(rng.uniform(60, 1500), (n + 1) / SR)[:n] + noise).astype(dtype)
    ref = np.abs(librosa.cqt(y, sr=SR, hop_length=256, fmin=cfg.cqt_fmin, n_bins=168, bins_per_octave=24))
    got = cqt_magnitude(y, cfg)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(compress(got, cfg) - compress(ref.astype(np.float32), cfg)).max() < 0.1
    assert np.array_equal(got, ref.astype(np.float32))  # so the cache key (PrepConfig) need not change


def test_cqt_magnitude_of_a_batch_is_librosa_cqt(notes):
    from latentsynth.dsp.transforms import cqt_magnitude

    cfg = SpecConfig(representation="cqt")
    batch = notes.reshape(2, 2, -1)  # [2, 2, N]: any leading dimensions, like librosa.cqt
    ref = np.abs(librosa.cqt(batch, sr=SR, hop_length=256, fmin=cfg.cqt_fmin, n_bins=168, bins_per_octave=24))
    assert np.array_equal(cqt_magnitude(batch, cfg), ref.astype(np.float32))


def test_cqt_peak_at_the_fundamental():
    cfg = SpecConfig(representation="cqt")
    C = magnitude(harmonic(220.0), cfg)
    peak_bin = int(np.argmax(C[:, 10:30].mean(1)))
    assert peak_bin == round(24 * np.log2(220.0 / 65.40639))  # A3 = C2 + 21 semitones = bin 42


@pytest.mark.parametrize("f0", [98.0, 440.0, 1760.0])
def test_cqt_to_linear_recovers_a_tones_stft(f0):
    # truth: the STFT magnitude of the same tone; the map must put the energy where the STFT has it and
    # match its level, at low (CQT bins narrower than STFT bins) and high pitches (the reverse)
    cfg, lin = SpecConfig(representation="cqt"), SpecConfig()
    y = harmonic(f0, 0.6)
    S, C = magnitude(y, lin), magnitude(y, cfg)  # [513, T], [168, T]
    est = cqt_to_linear(torch.from_numpy(C)[None], cfg)[0].numpy()
    assert est.shape == S.shape and est.min() >= 0
    top = int(65.40639 * 2**7 * 1024 / SR)  # the CQT stops at C9 (8372 Hz): nothing above can come back
    s_mid, e_mid = S[:top, 20:40].mean(1), est[:top, 20:40].mean(1)
    assert est[top + 3:].max() < 1e-3 * est.max()
    assert abs(int(np.argmax(e_mid)) - int(np.argmax(s_mid))) <= 1  # same spectral peak (the fundamental)
    assert 0.7 < e_mid.sum() / s_mid.sum() < 1.4  # same level (the map is calibrated on unit tones)
    sc = np.linalg.norm(e_mid - s_mid) / np.linalg.norm(s_mid)
    assert sc < 0.7, sc  # high pitches smear: CQT bins there are wider than STFT bins
    assert sc < 0.6 * np.linalg.norm(np.roll(e_mid, 8) - s_mid) / np.linalg.norm(s_mid)  # not just any blur


def test_cqt_round_trip_beats_librosa_griffinlim_cqt(notes):
    from latentsynth.dsp.griffinlim import invert_cqt_librosa

    cfg = SpecConfig(representation="cqt")
    ref = torch.from_numpy(np.abs(librosa.stft(notes[:2], n_fft=1024, hop_length=256)))
    C = np.stack([magnitude(y, cfg) for y in notes[:2]])
    ours = invert(C, cfg, n_iter=32, length=notes.shape[1])
    theirs = torch.from_numpy(invert_cqt_librosa(C, cfg, n_iter=32, length=notes.shape[1]))
    sc_ours = spectral_convergence(ref, stft(ours, 1024, 256).abs()).mean()
    sc_theirs = spectral_convergence(ref, stft(theirs, 1024, 256).abs()).mean()
    assert sc_ours < 1.1 * sc_theirs, (float(sc_ours), float(sc_theirs))


def test_compress_roundtrip_and_db_formula():
    cfg = SpecConfig()
    x = np.array([1.0, 0.1, 1e-3, 1e-6], dtype=np.float32)
    np.testing.assert_allclose(compress(x, cfg), [0, -20, -60, -80], atol=1e-4)  # floor at -top_db
    np.testing.assert_allclose(decompress(compress(x[:3], cfg), cfg), x[:3], rtol=1e-5)
    log = SpecConfig(compression="log1p")
    t = torch.tensor([0.0, 0.5, 3.0])
    torch.testing.assert_close(decompress(compress(t, log), log), t)


def test_norm_stats_are_mean_and_std():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(500, 6))
    st = NormStats.from_sums(x.sum(0), (x**2).sum(0), float(x.min()), float(x.max()), len(x))
    np.testing.assert_allclose(st.mean, x.mean(0), rtol=1e-10)
    np.testing.assert_allclose(st.std, x.std(0), rtol=1e-8)
    z = st.normalize(torch.tensor(x, dtype=torch.float32))
    torch.testing.assert_close(st.denormalize(z), torch.tensor(x, dtype=torch.float32), atol=1e-4, rtol=1e-4)
    assert 0 <= float(st.normalize(x, "minmax").min()) and float(st.normalize(x, "minmax").max()) <= 1


def _sc(S, y, n_fft=2048, hop=512):
    return spectral_convergence(torch.as_tensor(S), stft(torch.as_tensor(y), n_fft, hop).abs())


def test_griffinlim_is_librosas_algorithm(notes):
    """Same (deterministic) initial phase: same spectral convergence as librosa, with and without momentum."""
    S = np.abs(librosa.stft(notes, n_fft=2048, hop_length=512))
    for momentum in (0.0, 0.99):
        ref = librosa.griffinlim(S, n_iter=16, n_fft=2048, hop_length=512, momentum=momentum, init=None,
                                 length=notes.shape[1])
        got = griffinlim(torch.from_numpy(S), 2048, 512, 16, momentum, notes.shape[1], init="zeros")
        assert got.shape == notes.shape
        np.testing.assert_allclose(_sc(S, got).numpy(), _sc(S, ref).numpy(), atol=0.005)


@pytest.mark.parametrize("n_iter,momentum,seeds", [(32, 0.0, 2), (32, 0.99, 2), (100, 0.99, 1)])
def test_griffinlim_random_init_quality_equals_librosa(notes, n_iter, momentum, seeds):
    """Random initial phases differ between the two, so compare means over notes (and seeds)."""
    S = np.abs(librosa.stft(notes, n_fft=2048, hop_length=512))
    ref = np.mean([_sc(S, librosa.griffinlim(S, n_iter=n_iter, n_fft=2048, hop_length=512, momentum=momentum,
                                             random_state=s, length=notes.shape[1])).mean() for s in range(seeds)])
    got = np.mean([_sc(S, griffinlim(torch.from_numpy(S), 2048, 512, n_iter, momentum, notes.shape[1],
                                     generator=torch.Generator().manual_seed(s))).mean() for s in range(seeds)])
    assert abs(got - ref) < 0.02 + 0.25 * ref, (got, ref)


def test_momentum_converges_faster(notes):
    S = torch.from_numpy(np.abs(librosa.stft(notes, n_fft=2048, hop_length=512)))
    plain = _sc(S, griffinlim(S, 2048, 512, 32, 0.0, generator=torch.Generator().manual_seed(0))).mean()
    fast = _sc(S, griffinlim(S, 2048, 512, 32, 0.99, generator=torch.Generator().manual_seed(0))).mean()
    assert fast < 0.75 * plain


def test_griffinlim_rejects_wrong_bins():
    with pytest.raises(ValueError, match="frequency bins"):
        griffinlim(torch.ones(1, 100, 10), 1024, 256)
    with pytest.raises(ValueError, match="momentum"):
        griffinlim(torch.ones(1, 513, 10), 1024, 256, momentum=1.0)


def test_mel_to_linear_matches_librosa_nnls(notes):
    cfg = SpecConfig(representation="mel")
    M = np.stack([magnitude(y, cfg) for y in notes[:2]])  # [2, 128, T]
    got = mel_to_linear(torch.from_numpy(M), cfg).numpy()
    ref = librosa.feature.inverse.mel_to_stft(M, sr=SR, n_fft=1024, power=1, fmin=64, fmax=8000)
    basis = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=128, fmin=64, fmax=8000)
    assert got.shape == ref.shape and got.min() >= 0
    res_got = np.linalg.norm(basis @ got - M) / np.linalg.norm(M)
    res_ref = np.linalg.norm(basis @ ref - M) / np.linalg.norm(M)
    assert res_got < max(1.5 * res_ref, 0.02), (res_got, res_ref)


@pytest.mark.parametrize("rep,bound", [("stft", 0.15), ("mel", 0.45), ("cqt", 0.6)])
def test_invert_round_trip_quality(rep, bound, notes):
    cfg = SpecConfig(representation=rep)
    y = notes[2]
    y_hat = invert(magnitude(y, cfg), cfg, n_iter=32, length=len(y))
    assert y_hat.shape == (len(y),)
    ref = torch.from_numpy(np.abs(librosa.stft(y, n_fft=1024, hop_length=256)))
    sc = float(spectral_convergence(ref, stft(y_hat[None], 1024, 256).abs()[0]))
    assert sc < bound
    rand = torch.randn(len(y)) * 0.1  # noise of similar energy: far worse
    assert sc < 0.5 * float(spectral_convergence(ref, stft(rand[None], 1024, 256).abs()[0]))


def test_metrics_against_formulas():
    rng = np.random.default_rng(1)
    a, b = rng.random((3, 7, 5)) + 0.1, rng.random((3, 7, 5)) + 0.1
    sc = spectral_convergence(torch.tensor(a), torch.tensor(b)).numpy()
    for i in range(3):
        assert sc[i] == pytest.approx(np.sqrt(((a[i] - b[i]) ** 2).sum()) / np.sqrt((a[i] ** 2).sum()))
    lsd = log_spectral_distance(torch.tensor(a), torch.tensor(b), eps=0.0).numpy()
    for i in range(3):
        naive = np.mean([np.sqrt(np.mean([(20 * np.log10(a[i, f, t] / b[i, f, t])) ** 2 for f in range(7)]))
                         for t in range(5)])
        assert lsd[i] == pytest.approx(naive)
    assert float(spectral_convergence(torch.tensor(a), torch.tensor(a))[0]) == 0


def test_multi_resolution_stft_distance():
    x = torch.from_numpy(np.stack([harmonic(220.0, 0.5), harmonic(330.0, 0.5)]))
    assert torch.allclose(multi_resolution_stft_distance(x, x), torch.zeros(2), atol=1e-6)
    near = multi_resolution_stft_distance(x, x * 1.01)
    far = multi_resolution_stft_distance(x, x.flip(0))
    assert near.shape == (2,) and (near < 0.05).all() and (far > 10 * near).all()
    # one resolution by hand: SC + mean |log| difference
    n = 512
    mx, my = (np.abs(librosa.stft(v.numpy(), n_fft=n, hop_length=128)) for v in (x, x.flip(0)))
    naive = [np.linalg.norm(mx[i] - my[i]) / np.linalg.norm(mx[i]) + np.abs(np.log(mx[i] + 1e-4)
             - np.log(my[i] + 1e-4)).mean() for i in range(2)]
    got = multi_resolution_stft_distance(x, x.flip(0), resolutions=((n, 128),)).numpy()
    np.testing.assert_allclose(got, naive, rtol=1e-3)


def test_spec_config_errors_name_the_field():
    with pytest.raises(ValueError, match="fmax"):
        SpecConfig(sample_rate=8000)
    with pytest.raises(ValueError, match="n_octaves"):
        SpecConfig(representation="cqt", sample_rate=16000, fmax=8000)
    with pytest.raises(ValueError, match="extra"):
        SpecConfig(nfft=1024)
    assert SpecConfig().key() != SpecConfig(n_mels=64).key() and SpecConfig().key() == SpecConfig().key()
