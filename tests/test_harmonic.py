"""Harmonic-plus-noise rendering (dsp.harmonic) against independent truths: librosa STFTs of real sine waves,
finite differences, a naive per-sample numpy-style synthesizer, the librosa mel filter bank."""

import math

import librosa
import numpy as np
import pytest
import torch

from latentsynth.dsp.harmonic import (
    additive_synth,
    harmonic_frequencies,
    harmonic_magnitudes,
    harmonic_view,
    noise_magnitudes,
    render_magnitudes,
    safe_peak,
    sample_bins,
    to_representation,
)
from latentsynth.dsp.transforms import SpecConfig, bin_frequencies, fractional_bin

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SR, N_FFT, HOP = 22050, 1024, 256
BIN_HZ = SR / N_FFT
SPEC = SpecConfig()
F = N_FFT // 2 + 1


def stft_mag(y: np.ndarray) -> np.ndarray:
    """``[N]`` -> ``|librosa.stft|`` ``[F, T]`` (the project's analysis)."""
    return np.abs(librosa.stft(np.asarray(y, np.float32), n_fft=N_FFT, hop_length=HOP))


def tone(f0: float, amps, phases=None, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    phases = np.zeros(len(amps)) if phases is None else phases
    return sum(a * np.sin(2 * np.pi * f0 * (k + 1) * t + phases[k]) for k, a in enumerate(amps))


def middle_frame(y: np.ndarray) -> np.ndarray:
    S = stft_mag(y)
    return S[:, S.shape[1] // 2]


def sc(ref: np.ndarray, est: np.ndarray) -> float:
    """Spectral convergence ||ref - est|| / ||ref||."""
    return float(np.linalg.norm(ref - est) / np.linalg.norm(ref))


def local_peaks_near(mag: np.ndarray, centres) -> list[int]:
    """Arg-max of ``mag`` within +-1 bin of each expected centre."""
    return [c - 1 + int(np.argmax(mag[c - 1:c + 2])) for c in centres]


# -------------------------------------------------------------------------------- harmonic_magnitudes


def test_harmonic_frequencies():
    f = harmonic_frequencies(torch.tensor([[100.0, 50.0]]), 3)
    assert f.shape == (1, 2, 3)
    np.testing.assert_allclose(f.numpy(), [[[100, 200, 300], [50, 100, 150]]])


@pytest.mark.parametrize("position", [20.0, 20.3, 20.5, 3.3, 200.7])
def test_single_partial_matches_librosa(position):
    """One sine of amplitude 0.7 at a bin centre / between bins vs the real STFT's middle frame: peak in the
    right bin, peak magnitude within 0.5 % (measured < 0.2 %), whole frame spectral convergence < 1.5 %."""
    f, a = position * BIN_HZ, 0.7
    ref = middle_frame(tone(f, [a]))
    got = harmonic_magnitudes(torch.tensor(f), torch.tensor([a]), SPEC).numpy()
    assert got.shape == (F,)
    assert got.argmax() in {math.floor(position), math.ceil(position)}
    j = int(ref.argmax())
    assert abs(got[j] / ref[j] - 1) < 5e-3
    if position == 20.0:
        assert got[20] == pytest.approx(a * N_FFT / 4, rel=1e-5)  # main-lobe peak amp * sum(w) / 2
    assert sc(ref, got) < 0.015


@pytest.mark.parametrize("f0, bound", [(220.0, 0.01), (60.0, 0.2)])
def test_harmonic_tone_matches_librosa(f0, bound):
    """5 harmonics with random phases. At 220 Hz the lobes are apart (SC measured 0.3 %); at 60 Hz (2.8 bins
    apart) they overlap and the real frame beats with the phases, which the magnitude sum cannot follow: SC
    measured 5-15 % over 20 phase draws (mean 11 %)."""
    amps = [1.0, 0.6, 0.4, 0.25, 0.15]
    phases = np.random.default_rng(3).uniform(0, 2 * np.pi, len(amps))
    ref = middle_frame(tone(f0, amps, phases))
    got = harmonic_magnitudes(torch.tensor(f0), torch.tensor(amps), SPEC).numpy()
    centres = [round(k * f0 / BIN_HZ) for k in range(1, 6)]
    for c, p_ref, p_got in zip(centres, local_peaks_near(ref, centres), local_peaks_near(got, centres), strict=True):
        assert abs(p_ref - c) <= 1 and abs(p_got - c) <= 1
    assert sc(ref, got) < bound


def test_partials_above_nyquist_and_at_zero_contribute_nothing():
    f0 = torch.tensor([6000.0, 0.0, -10.0])
    amps = torch.tensor([[0.5, 1.0, 3.0]]).expand(3, 3)  # 12 kHz and 18 kHz are above Nyquist (11,025 Hz)
    got = harmonic_magnitudes(f0, amps, SPEC)
    assert torch.isfinite(got).all()
    alone = harmonic_magnitudes(torch.tensor(6000.0), torch.tensor([0.5]), SPEC)
    torch.testing.assert_close(got[0], alone)
    assert (got[1:] == 0).all()
    near = harmonic_magnitudes(torch.tensor(SR / 2 - 1.0), torch.tensor([1.0]), SPEC)  # just below: kept
    assert near[-1] > 100


def test_gradients_match_finite_differences():
    spec, f0, amps = SPEC, torch.tensor(431.3, dtype=torch.float64), torch.tensor([0.8, 0.3], dtype=torch.float64)
    weights = torch.linspace(0, 1, F, dtype=torch.float64)  # a loss that weighs every bin differently

    def loss(f, a):
        return (harmonic_magnitudes(f, a, spec) * weights).sum()

    f0.requires_grad_(True)
    amps.requires_grad_(True)
    loss(f0, amps).backward()
    h = 0.5  # Hz: well above the 1/128-bin table grid (0.17 Hz)
    with torch.no_grad():
        df = (loss(f0 + h, amps) - loss(f0 - h, amps)) / (2 * h)
        da = (loss(f0, amps + torch.tensor([1e-3, 0.0], dtype=torch.float64)) - loss(f0, amps)) / 1e-3
    assert f0.grad.abs() > 0 and amps.grad.abs().min() > 0
    assert float(f0.grad) == pytest.approx(float(df), rel=0.05)
    assert float(amps.grad[0]) == pytest.approx(float(da), rel=1e-6)


def test_batched_frames_match_one_by_one():
    gen = torch.Generator().manual_seed(0)
    f0 = 60 + 500 * torch.rand(3, 4, generator=gen)
    amps = torch.rand(3, 4, 8, generator=gen)
    got = harmonic_magnitudes(f0, amps, SPEC)
    assert got.shape == (3, 4, F)
    torch.testing.assert_close(got[2, 1], harmonic_magnitudes(f0[2, 1], amps[2, 1], SPEC))
    with pytest.raises(ValueError, match="amps"):
        harmonic_magnitudes(f0, amps[:, :2], SPEC)


# ---------------------------------------------------------------------------------- noise / render


def test_noise_magnitudes_interpolate_between_band_centres():
    bands = torch.tensor([[4.0, 0.0, 2.0]])
    env = noise_magnitudes(bands, 9)  # centres at bins 0, 4, 8
    np.testing.assert_allclose(env.numpy(), [[4, 3, 2, 1, 0, 0.5, 1, 1.5, 2]], atol=1e-6)
    assert noise_magnitudes(torch.tensor([0.3]), F).shape == (F,)
    assert (noise_magnitudes(torch.tensor([0.3]), F) == 0.3).all()


def test_render_and_representation():
    f0, amps, noise = torch.tensor([220.0, 330.0]), torch.rand(2, 6), torch.rand(2, 5)
    mag = render_magnitudes(f0, amps, noise, SPEC)
    torch.testing.assert_close(mag, harmonic_magnitudes(f0, amps, SPEC) + noise_magnitudes(noise, F))
    torch.testing.assert_close(render_magnitudes(f0, amps, None, SPEC), harmonic_magnitudes(f0, amps, SPEC))
    assert to_representation(mag, SPEC) is mag
    mel_spec = SpecConfig(representation="mel")
    mel = to_representation(mag, mel_spec)
    ref = librosa.feature.melspectrogram(S=mag.numpy().T, sr=SR, n_fft=N_FFT, n_mels=128, fmin=64, fmax=8000,
                                         power=1).T
    np.testing.assert_allclose(mel.numpy(), ref, rtol=1e-4, atol=1e-4 * ref.max())
    with pytest.raises(ValueError, match="representation"):
        to_representation(mag, SpecConfig(representation="cqt"))
    with pytest.raises(ValueError, match="mag_stft"):
        to_representation(mag[:, :100], SPEC)


# ---------------------------------------------------------------------------------------- synthesis


def steady(value, frames: int, width: int | None = None) -> torch.Tensor:
    v = torch.as_tensor(value, dtype=torch.float32)
    return v.expand(1, frames) if width is None else v.expand(1, frames, width).contiguous()


def test_additive_synth_steady_tone():
    """Constant f0 = 220 Hz, 3 partials: peaks at k f0 within one bin, RMS^2 = sum a_k^2 / 2 (within 0.5 %),
    and the STFT of the audio reproduces render_magnitudes frame by frame (SC measured 0.3 %, bound 1 %)."""
    T, amps = 87, [0.3, 0.2, 0.1]
    f0, a = steady(220.0, T), steady(amps, T, 3)
    y = additive_synth(f0, a, None, SPEC)
    assert y.shape == (1, (T - 1) * HOP)
    assert float((y**2).mean()) == pytest.approx(sum(v * v for v in amps) / 2, rel=5e-3)
    S = stft_mag(y[0].numpy())
    assert S.shape == (F, T)
    centres = [round(k * 220 / BIN_HZ) for k in (1, 2, 3)]
    mid = S[:, T // 2]
    assert all(abs(p - c) <= 1 for p, c in zip(local_peaks_near(mid, centres), centres, strict=True))
    R = render_magnitudes(f0, a, None, SPEC)[0].numpy().T  # [F, T]
    inner = slice(4, T - 4)  # edge frames see the zero padding
    assert sc(S[:, inner], R[:, inner]) < 0.01


def test_additive_synth_glide_is_continuous():
    """f0 glides 200 -> 800 Hz: no phase jump, so the largest sample step is that of a sine of the top frequency,
    2 a sin(pi f / sr) (measured 0.1136 vs 0.1137); the STFT follows render_magnitudes (SC measured 1.8 %)."""
    T, a = 173, 0.5
    f0 = torch.linspace(200, 800, T)[None]
    amps = steady([a], T, 1)
    y = additive_synth(f0, amps, None, SPEC)[0]
    assert float(y[0]) == 0.0  # phase starts at 0
    assert float((y[1:] - y[:-1]).abs().max()) <= 2 * a * math.sin(math.pi * 800 / SR) * 1.001
    S, R = stft_mag(y.numpy()), render_magnitudes(f0, amps, None, SPEC)[0].numpy().T
    assert sc(S[:, 4:-4], R[:, 4:-4]) < 0.05


def test_additive_synth_matches_naive_synth_and_silences_above_nyquist():
    """40 partials, f0 300 -> 900 Hz so partials cross Nyquist mid-segment: equal to a float64 per-sample
    synthesizer written from the definition (linear interpolation between frame centres, accumulated phase,
    per-sample mask k f0 < sr / 2)."""
    T, K = 40, 40
    gen = torch.Generator().manual_seed(1)
    f0 = torch.linspace(300, 900, T)[None]
    amps = torch.rand(1, T, K, generator=gen)
    length = (T - 1) * HOP + 100  # past the last frame centre: controls are held
    y = additive_synth(f0, amps, None, SPEC, length=length)[0].double()
    pos = torch.arange(length, dtype=torch.float64) / HOP
    i0 = pos.floor().long().clamp(max=T - 1)
    i1 = (i0 + 1).clamp(max=T - 1)
    w = (pos - pos.floor()).clamp(max=1)
    fu = f0[0, i0].double() * (1 - w) + f0[0, i1].double() * w
    au = amps[0, i0].double() * (1 - w[:, None]) + amps[0, i1].double() * w[:, None]
    cycles = torch.cumsum(fu / SR, 0) - fu / SR
    k = torch.arange(1, K + 1, dtype=torch.float64)
    ref = (au * torch.sin(2 * math.pi * cycles[:, None] * k) * (fu[:, None] * k < SR / 2)).sum(1)
    assert y.shape == ref.shape
    # float32 vs float64 rounding may decide differently for a partial within 0.01 Hz of Nyquist: skip those
    clear = ((fu[:, None] * k - SR / 2).abs() > 0.01).all(1)
    assert clear.float().mean() > 0.99
    assert float((y - ref)[clear].abs().max()) < 1e-4 * float(ref.abs().max())
    silent = additive_synth(torch.zeros(1, T), amps, None, SPEC)  # f0 = 0: nothing, not a DC offset
    assert (silent == 0).all()


def test_noise_matches_envelope_on_average():
    """Noise only, a sloped 5-band envelope, 2 s: the STFT magnitude averaged over frames matches
    noise_magnitudes within 3 % overall (measured 0.4 %) and within 10 % in every 16-bin group (measured 5 %)."""
    T = 173
    bands = torch.tensor([1.0, 0.5, 0.2, 0.1, 0.05])
    gen = torch.Generator().manual_seed(0)
    y = additive_synth(torch.zeros(1, T), torch.zeros(1, T, 1), bands.expand(1, T, 5), SPEC, generator=gen)
    mean = stft_mag(y[0].numpy())[:, 4:-4].mean(1)
    env = noise_magnitudes(bands, F).numpy()
    assert mean[5:-5].mean() / env[5:-5].mean() == pytest.approx(1, abs=0.03)
    ratio = mean[8:504].reshape(-1, 16).mean(1) / env[8:504].reshape(-1, 16).mean(1)
    assert np.all(np.abs(ratio - 1) < 0.10)
    again = additive_synth(torch.zeros(1, T), torch.zeros(1, T, 1), bands.expand(1, T, 5), SPEC,
                           generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again, y)


def test_white_noise_is_flat():
    """One flat band: spectral flatness (geometric / arithmetic mean) of the mean power spectrum > 0.97
    (measured 0.995), and 16-bin group means within 8 % of each other's mean (measured 4 %)."""
    T = 173
    y = additive_synth(torch.zeros(1, T), torch.zeros(1, T, 1), torch.ones(1, T, 1), SPEC,
                       generator=torch.Generator().manual_seed(2))
    S = stft_mag(y[0].numpy())[1:-1, 4:-4]
    power = (S**2).mean(1)
    assert np.exp(np.log(power).mean()) / power.mean() > 0.97
    groups = S.mean(1)[7:503].reshape(-1, 16).mean(1)
    assert np.all(np.abs(groups / groups.mean() - 1) < 0.08)
    assert groups.mean() == pytest.approx(1.0, abs=0.03)


def test_additive_synth_batch_and_gradients():
    T = 10
    f0 = torch.tensor([[220.0] * T, [330.0] * T], requires_grad=True)
    amps = torch.full((2, T, 4), 0.1, requires_grad=True)
    noise = torch.full((2, T, 3), 0.05, requires_grad=True)
    y = additive_synth(f0, amps, noise, SPEC, length=1000, generator=torch.Generator().manual_seed(0))
    assert y.shape == (2, 1000)
    (y**2).sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (f0, amps, noise))
    with pytest.raises(ValueError, match="noise"):
        additive_synth(f0, amps, noise[:, :3], SPEC)


# -------------------------------------------------------------------------------------------- safe_peak


def test_safe_peak():
    quiet = torch.tensor([[0.1, -0.5, 0.2]])
    loud = torch.tensor([[0.5, -3.0, 2.0]])
    torch.testing.assert_close(safe_peak(quiet), quiet)
    capped = safe_peak(loud, peak=0.9)
    assert float(capped.abs().max()) == pytest.approx(0.9)
    torch.testing.assert_close(capped, loud * 0.3)
    both = safe_peak(torch.cat([quiet, loud]))
    torch.testing.assert_close(both[0], quiet[0])
    assert float(both[1].abs().max()) == pytest.approx(0.99)
    assert (safe_peak(torch.zeros(2, 5)) == 0).all()


def test_blocks_rendered_with_the_carried_phase_join_into_one_tone():
    from latentsynth.dsp.harmonic import base_phase

    spec = SpecConfig()
    t = 40
    f0 = torch.full((1, t), 233.0)
    amps = torch.zeros(1, t, 8)
    amps[..., 0], amps[..., 2] = 0.4, 0.2
    whole = additive_synth(f0, amps, None, spec)  # [1, (t - 1) * hop]
    half = (t // 2) * spec.hop_length
    first = additive_synth(f0[:, : t // 2 + 1], amps[:, : t // 2 + 1], None, spec, length=half)
    phase = base_phase(f0[:, : t // 2 + 1], half, spec)
    second = additive_synth(f0[:, t // 2:], amps[:, t // 2:], None, spec, phase=phase)
    joined = torch.cat([first, second], 1)
    # truth: the single long render (no phase jump at the join)
    torch.testing.assert_close(joined[:, : whole.shape[1]], whole, atol=1e-4, rtol=0)
    restart = torch.cat([first, additive_synth(f0[:, t // 2:], amps[:, t // 2:], None, spec)], 1)
    assert float((restart[:, : whole.shape[1]] - whole).abs().max()) > 0.05  # without it the phase jumps


# ------------------------------------------------------------------------------------ the pitch view (analysis)


@pytest.mark.parametrize("rep", ["stft", "mel", "cqt"])
def test_bin_frequencies_and_fractional_bin_follow_librosa(rep):
    spec = SpecConfig(representation=rep, hop_length=512 if rep == "cqt" else 256)
    truth = {"stft": librosa.fft_frequencies(sr=SR, n_fft=N_FFT),
             "mel": librosa.mel_frequencies(spec.n_mels + 2, fmin=spec.fmin, fmax=spec.fmax)[1:-1],
             "cqt": librosa.cqt_frequencies(spec.n_bins, fmin=spec.cqt_fmin, bins_per_octave=spec.bins_per_octave)}
    np.testing.assert_allclose(bin_frequencies(spec), truth[rep], rtol=1e-9)
    pos = fractional_bin(torch.tensor(truth[rep], dtype=torch.float64), spec).numpy()
    np.testing.assert_allclose(pos, np.arange(spec.n_bins), atol=1e-6)
    # half way between two centres (in the representation's own scale) is half a bin
    mid = {"stft": (truth[rep][10] + truth[rep][11]) / 2,
           "mel": librosa.mel_to_hz((librosa.hz_to_mel(truth[rep][10]) + librosa.hz_to_mel(truth[rep][11])) / 2),
           "cqt": math.sqrt(truth[rep][10] * truth[rep][11])}[rep]
    assert float(fractional_bin(torch.tensor(mid, dtype=torch.float64), spec)) == pytest.approx(10.5, abs=1e-6)


def test_sample_bins_is_numpy_interp_with_a_fill_outside():
    g = torch.Generator().manual_seed(0)
    frames = torch.randn(3, 2, 40, generator=g, dtype=torch.float64)
    pos = torch.rand(3, 2, 25, generator=g, dtype=torch.float64) * 50 - 5  # some outside [0, 39]
    got = sample_bins(frames, pos, fill=-7.0)
    for i in range(3):
        for j in range(2):
            p = pos[i, j].numpy()
            want = np.interp(p, np.arange(40), frames[i, j].numpy())
            want[(p < 0) | (p > 39)] = -7.0
            np.testing.assert_allclose(got[i, j].numpy(), want, atol=1e-12)


def test_harmonic_view_puts_each_partial_at_its_index_whatever_the_pitch():
    amps = [0.5, 0.25, 0.3, 0.1, 0.05]
    views = []
    for f0_bins in (10, 16):  # two pitches on bin centres: partial peaks are exact (a * n_fft / 4)
        db = 20 * np.log10(middle_frame(tone(f0_bins * BIN_HZ, amps)) + 1e-6)
        x = torch.tensor(db, dtype=torch.float32)[None, None]  # [1, 1, F]
        v = harmonic_view(x, torch.tensor([f0_bins * BIN_HZ]), SPEC, n_harmonics=8, per_harmonic=4, fill=-120.0)
        assert v.shape == (1, 1, 32)
        views.append(v[0, 0].numpy())
        want = 20 * np.log10(np.array(amps) * N_FFT / 4)
        np.testing.assert_allclose(views[-1][[4 * k - 1 for k in range(1, 6)]], want, atol=0.3)
        assert (views[-1][[4 * k - 3 for k in range(2, 6)]] < want[1:] - 30).all()  # between partials: quiet
    peaks = [4 * k - 1 for k in range(1, 6)]
    np.testing.assert_allclose(views[0][peaks], views[1][peaks], atol=0.3)  # the same pattern at both pitches
    assert np.delete(views[0][:20], peaks).max() < 0 and np.delete(views[1][:20], peaks).max() < 0
    top = harmonic_view(torch.zeros(1, 1, F), torch.tensor([3000.0]), SPEC, 8, 4, fill=-5.0)[0, 0]
    assert (top[15:] == -5.0).all() and (top[:14] == 0).all()  # 3.75 * 3 kHz and up is above Nyquist
