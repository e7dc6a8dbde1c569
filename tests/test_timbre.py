"""Timbre scores (issue #22) on toy data with known answers: probes, pitch invariance, morph score on a toy
decoder, the source test on two synthetic sources, loudness, f0 error and the MR-STFT split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentsynth.evaluation import timbre as T


def test_balanced_accuracy_counts_each_class_equally():
    y = np.array([0, 0, 0, 0, 1])
    pred = np.array([0, 0, 0, 0, 0])  # 80 % plain accuracy, but class 1 never found
    assert T.balanced_accuracy(y, pred) == pytest.approx(0.5)


def test_probes_read_a_separable_attribute_and_not_noise():
    rng = np.random.default_rng(0)
    y_tr, y_te = rng.integers(0, 4, 400), rng.integers(0, 4, 200)
    centers = rng.normal(size=(4, 6)) * 5
    z_tr, z_te = centers[y_tr] + rng.normal(size=(400, 6)), centers[y_te] + rng.normal(size=(200, 6))
    good = T.probe_scores(z_tr, y_tr, z_te, y_te)
    assert good["linear"] > 0.97 and good["knn"] > 0.97
    noise = T.probe_scores(rng.normal(size=(400, 6)), y_tr, rng.normal(size=(200, 6)), y_te)
    assert abs(noise["linear"] - 0.25) < 0.12 and abs(noise["knn"] - 0.25) < 0.12  # chance = 1 / 4 classes


def test_path_summary_is_the_thirds_means_and_the_spread():
    z = np.arange(12, dtype=float).reshape(6, 2)  # rows (0,1) (2,3) ... (10,11): thirds of 2 frames each
    want = np.r_[z[0:2].mean(0), z[2:4].mean(0), z[4:6].mean(0), z.std(0)]
    assert np.allclose(T.path_summary(z), want)
    two = np.array([[1.0, -1.0], [3.0, 5.0]])  # thirds of 1, 1 and 0 frames: the empty end takes the mean
    assert np.allclose(T.path_summary(two), np.r_[two[0], two[1], two.mean(0), two.std(0)])


def test_the_path_summary_tells_notes_the_mean_code_cannot():
    # two "instruments" with the same mean code: one swells (code rises along the note), the other decays
    rng = np.random.default_rng(1)
    t = np.linspace(-1, 1, 30)[:, None]

    def notes(n):
        y = rng.integers(0, 2, n)
        return [np.where(k, 1.0, -1.0) * t * np.ones((1, 3)) + 0.2 * rng.normal(size=(30, 3)) for k in y], y

    (pt, yt), (pv, yv) = notes(200), notes(100)
    mean = T.probe_scores(np.stack([z.mean(0) for z in pt]), yt, np.stack([z.mean(0) for z in pv]), yv)
    path = T.probe_scores(np.stack([T.path_summary(z) for z in pt]), yt,
                          np.stack([T.path_summary(z) for z in pv]), yv)
    assert abs(mean["linear"] - 0.5) < 0.15 and path["linear"] > 0.97


def test_a_preset_shared_by_instruments_is_no_instrument_sound():
    from types import SimpleNamespace

    from latentsynth.data.audio.corpus import identifiable, shared_sounds

    inst = ["Vn", "Va", "Vn", "Fl", "Fl", "Vc", "Ob", "Bn"]
    src = ["sf:Pizz", "sf:Pizz", "sf:Violin", "sf:Flute", "sf:Flute", "other:Pizz", "tag", "tag"]
    # one instrument on a preset twice is still its own sound; a tag that names no preset is no sound
    assert shared_sounds(inst, src) == {"sf:Pizz"}
    assert identifiable(inst, src) == [False, False, True, True, True, True, True, True]
    data = SimpleNamespace(notes=[{"instrument": i, "source_file": s} for i, s in zip(inst, src, strict=True)])
    assert T.identifiable_notes(data, [0, 2, 5, 1]) == [2, 5]


def test_pitch_invariance_is_the_ratio_of_the_two_distances():
    # z(instrument i, pitch p) = (a i, b p): same instrument, other pitch -> b |dp|; same pitch -> a
    a, b = 4.0, 0.5
    inst, pitch = np.array([0, 0, 1, 1]), np.array([60, 61, 60, 61])
    z = np.stack([a * inst, b * (pitch - 60)], axis=1)
    assert T.pitch_invariance(z, inst, pitch) == pytest.approx(b / a)


def test_morph_curve_scores_of_a_ramp_and_of_a_switch():
    t = np.linspace(0, 1, 21)
    ramp = T.morph_curve_scores([t.copy()])
    assert ramp["morph_rho"] == pytest.approx(1.0) and ramp["morph_cross"] == pytest.approx(0.5)
    assert ramp["morph_ramp"] == pytest.approx(0.0) and ramp["morph_even"] == 1.0
    switch = T.morph_curve_scores([(t > 0.1).astype(float)])  # jumps between t = 0.10 and 0.15
    assert 0.1 <= switch["morph_cross"] <= 0.15 and switch["morph_even"] == 0.0
    assert switch["morph_ramp"] == pytest.approx(np.mean(np.abs((t > 0.1) - t)))
    assert T.morph_curve_scores([])["morph_pairs"] == 0


def test_morph_score_on_a_toy_decoder():
    """A toy decoder mixes two templates linearly in the code (frame = (1 - z) A + z B); a nearest-template
    classifier's posterior along the code line is a symmetric S-curve: rho 1 and the crossing at one half.
    A decoder that switches timbre at z = 0.2 crosses there instead."""
    spec_a, spec_b = torch.tensor([1.0, 0.0, 0.3]), torch.tensor([0.0, 1.0, 0.3])

    def classify(frames):  # logits: minus squared distance to each template, sharpened
        return -4 * torch.stack([(frames - spec_a).pow(2).sum(1), (frames - spec_b).pow(2).sum(1)], dim=1)

    z = torch.linspace(0, 1, 21)[:, None]
    curves = []
    for decoder in (lambda z: (1 - z) * spec_a + z * spec_b,
                    lambda z: torch.where(z < 0.2, spec_a.expand(len(z), -1), spec_b.expand(len(z), -1))):
        p = torch.softmax(classify(decoder(z)), dim=1)
        curves.append((p[:, 1] / p.sum(1)).numpy())
    even, switch = T.morph_curve_scores(curves[:1]), T.morph_curve_scores(curves[1:])
    assert even["morph_rho"] == pytest.approx(1.0) and even["morph_cross"] == pytest.approx(0.5, abs=1e-6)
    assert even["morph_even"] == 1.0
    assert switch["morph_cross"] == pytest.approx(0.2, abs=0.05) and switch["morph_even"] == 0.0


def test_the_judge_ensemble_is_the_mean_posterior_of_its_judges():
    """Two judges that disagree on a frame: the ensemble's posterior is the plain mean of theirs (a numpy
    softmax), so a frame one judge calls A at 0.9 and the other B at 0.7 is 0.6 / 0.4, not either; one judge
    alone is that judge."""

    class Fixed(torch.nn.Module):
        def __init__(self, logits):
            super().__init__()
            self.logits = torch.tensor(logits)

        def forward(self, mag):
            return {"instrument": self.logits.expand(len(mag), -1)}

    def softmax(v):
        e = np.exp(np.asarray(v) - np.max(v))
        return e / e.sum()

    a, b = [np.log(0.9), np.log(0.1), -30.0], [np.log(0.3), np.log(0.7), -30.0]
    frames = torch.zeros(4, 8)
    both = torch.softmax(T.JudgeEnsemble([Fixed(a), Fixed(b)])(frames)["instrument"], dim=1)
    assert np.allclose(both.numpy(), (softmax(a) + softmax(b)) / 2, atol=1e-6)
    assert both[0, :2].numpy() == pytest.approx([0.6, 0.4], abs=1e-6)
    one = torch.softmax(T.JudgeEnsemble([Fixed(b)])(frames)["instrument"], dim=1)
    assert np.allclose(one.numpy(), softmax(b), atol=1e-6)


def _harmonic_spectrum(tilt: float, n_bins: int = 64, f0_bin: int = 4, frames: int = 10) -> torch.Tensor:
    mag = torch.zeros(n_bins, frames)
    for k in range(1, n_bins // f0_bin):
        mag[k * f0_bin] = k ** -tilt
    return mag


def test_source_test_on_two_synthetic_sources():
    """Source 1 (the corpus): partials falling as 1/k; source 2 (never trained): as 1/k^3. A re-renderer that
    follows its input passes every counted note; one that returns the corpus twin passes none; a twin too close
    to its input (gap < 0.2) is not counted."""
    inputs = [_harmonic_spectrum(3.0) * (1 + 0.1 * i) for i in range(4)]
    twins = [[_harmonic_spectrum(1.0) * (1 + 0.1 * i)] for i in range(4)]
    assert float(T.spectral_convergence(twins[0][0], inputs[0])) >= T.SOURCE_MIN_SC
    follow = T.source_test(inputs, [x * 1.02 for x in inputs], twins)
    assert follow["source_closer"] == 1.0 and follow["source_counted"] == 4
    assert follow["source_sc"] == pytest.approx(0.02, abs=1e-6)
    copy = T.source_test(inputs, [tw[0] for tw in twins], twins)
    assert copy["source_closer"] == 0.0
    same = T.source_test(inputs, inputs, [[x * 1.01] for x in inputs])  # sources that do not differ
    assert same["source_counted"] == 0 and same["source_closer"] is None


def test_a_weighting_and_loudness_l1():
    assert T.a_weighting(np.array([1000.0]))[0] == pytest.approx(0.0, abs=0.01)
    assert T.a_weighting(np.array([100.0]))[0] == pytest.approx(-19.1, abs=0.1)  # IEC 61672 table
    mag = torch.rand(513, 20) + 0.1
    assert T.loudness_l1(mag, 2 * mag, 22050, 1024) == pytest.approx(20 * np.log10(2), abs=1e-4)


def test_f0_error_in_cents_of_a_detuned_tone():
    sr = 22050
    t = np.arange(sr) / sr
    ref, est = np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 445 * t)
    cents, outliers = T.f0_errors(T.f0_track(ref, sr, 69.0), T.f0_track(est, sr, 69.0))
    assert np.median(cents) == pytest.approx(1200 * np.log2(445 / 440), abs=2.0) and outliers == 0


def test_mrstft_split_separates_partials_from_the_floor():
    sr = 22050
    t = torch.arange(sr) / sr
    tone = sum(torch.sin(2 * np.pi * 220 * k * t) / k for k in range(1, 50))  # partials up to Nyquist
    noise = 0.01 * torch.randn(sr, generator=torch.Generator().manual_seed(0))
    partials, floor = T.mrstft_split(tone + noise, tone + noise, sr, 220.0)
    assert partials == pytest.approx(0.0, abs=1e-6) and floor == pytest.approx(0.0, abs=1e-6)
    partials, floor = T.mrstft_split(tone + noise, tone, sr, 220.0)  # the noise floor missing: floor term only
    assert floor > 5 * partials


def test_twins_of_two_sources_share_a_split():
    from latentsynth.data.audio.corpus import Note, assign_twin_splits

    notes = [Note(i, "", p, "", d, "ord", f"{src}.sf2:x", 1.0, 22050, "train", f"wav/{src}/{i}-{p}-{d}.wav")
             for src in ("A", "B") for i in ("Fl", "Vc") for p in range(60, 80) for d in ("pp", "ff")]
    splits = assign_twin_splits(notes, seed=3)
    half = len(notes) // 2
    assert splits[:half] == splits[half:] and {"train", "val", "test"} <= set(splits)


def test_augmentation_moves_a_partial_by_the_detune_and_keeps_the_floor():
    from latentsynth.models.conditioning import DbScale
    from latentsynth.training.module import augment_frames

    db = DbScale(513)
    db.set(torch.full((513,), -80.0), torch.full((513,), 80.0))  # min-max: x = (dB + 80) / 80
    x = torch.zeros(64, 1, 513)
    for k in range(194, 207):  # one partial's main lobe at bin 200: -40 dB, falling 6 dB a bin; floor -80 dB
        x[:, 0, k] = (80 - 40 - 6 * abs(k - 200)) / 80
    y = torch.tensor([[60.0, 0, 0, 0]]).repeat(64, 1)
    torch.manual_seed(0)
    xa, ya = augment_frames(x, y, db, 80.0, 6.0, 0.5)
    shift = ya[:, 0] - 60
    assert shift.abs().max() <= 0.5 and shift.std() > 0.1
    d = db.to_db(xa[:, 0])
    peak = d.argmax(1).float()
    assert (peak - 200 * 2 ** (shift / 12)).abs().max() <= 1.0  # the partial moved with the pitch label
    # gain within +-6 dB (a lobe read between bins: up to 3 dB lower)
    assert d.amax(1).max() <= -40 + 6 + 1e-4 and d.amax(1).min() >= -40 - 6 - 4
    assert float(d.min()) == pytest.approx(-80.0)  # the floor stays the floor


def tiny_model(preset: str = "sol-harmonic-wae-mmd"):
    """An untrained small harmonic model of single STFT frames (vocabulary Fl / TpC / Vc, pp / ff)."""
    from latentsynth.config import load_config
    from latentsynth.dsp.transforms import NormStats, SpecConfig
    from latentsynth.models import AutoEncoder
    from latentsynth.models.conditioning import AudioInfo

    info = AudioInfo(spec=SpecConfig(), normalize="minmax", window=1,
                     stats=NormStats(mean=[0.0] * 513, std=[1.0] * 513, min=-80, max=40, count=1),
                     vocab={"instrument": ["Fl", "TpC", "Vc"], "dynamics": ["pp", "ff"], "style": ["ord"]},
                     pitch_range=(40, 90))
    cfg = load_config(preset, ["data.corpus=x", "model.network.hidden=[32,32]",
                               "model.network.n_harmonics=16", "model.network.noise_bands=8"])
    torch.manual_seed(0)
    return AutoEncoder(cfg, (1, 513), info).eval()


def test_label_weights_blend_the_embeddings_and_keep_hard_labels():
    """A mixed label tensor [T, 10] (mix_labels) gives the hard labels' output at weight 0 and 1 and, in between,
    the weighted mean of the two label embeddings (the decoder's first layer is linear in them)."""
    from latentsynth.models.conditioning import MIXED, mix_labels

    model = tiny_model()
    a, b = torch.tensor([60.0, 0, 0, 0]), torch.tensor([64.0, 1, 1, 0])
    t = torch.tensor([0.0, 0.25, 1.0])
    c = mix_labels(a, b, t)
    assert c.shape == (3, len(MIXED)) and c[:, 0].tolist() == [60.0, 61.0, 64.0]  # the pitch glides
    e = model.dec_conditioning(c)
    ea, eb = model.dec_conditioning(a[None]), model.dec_conditioning(torch.tensor([[61.0, 1, 1, 0]]))
    torch.testing.assert_close(e[1, 1:], 0.75 * ea[0, 1:] + 0.25 * eb[0, 1:])  # named parts blended
    z = torch.randn(3, 16)
    hard_a = torch.tensor([[60.0, 0, 0, 0]]).expand(3, -1)
    hard_b = torch.tensor([[64.0, 1, 1, 0]]).expand(3, -1)
    torch.testing.assert_close(model.decode(z, c)[0], model.decode(z, hard_a)[0])
    torch.testing.assert_close(model.decode(z, c)[2], model.decode(z, hard_b)[2])
    held = mix_labels(a, b, t, glide=False)
    assert held[:, 0].tolist() == [60.0, 60.0, 60.0]


def _two_notes():
    from latentsynth.synth.pathfile import PathFile

    g = torch.Generator().manual_seed(0)
    a = PathFile.from_tensor(torch.randn(20, 16, generator=g), pitch=60.0, instrument="Fl", dynamics="pp",
                             style="ord")
    b = PathFile.from_tensor(torch.randn(20, 16, generator=g) + 1, pitch=67.0, instrument="TpC", dynamics="ff",
                             style="ord")
    return a, b


def test_paths_between_notes_carry_both_labels_and_morph():
    """A lerp sweep from a flute to a trumpet carries the trumpet's labels with weights 0 -> 1 and a pitch glide
    (or holds the pitch); rendered by a label model, its frames at the start and end match the hard-label
    renderings of the two notes' labels."""
    from latentsynth.synth.engine import Synth
    from latentsynth.synth.generators import make_path
    from latentsynth.synth.notes import render_path

    synth = Synth(tiny_model())
    a, b = _two_notes()
    pf = make_path(synth, "lerp", [a, b], points=30, alpha="sweep")
    assert pf.to["instrument"] == "TpC" and pf.weights[0] == 0.0 and pf.weights[-1] == 1.0
    assert pf.pitch[0] == 60.0 and pf.pitch[-1] == 67.0  # the pitch glides
    held = make_path(synth, "lerp", [a, b], points=30, alpha="sweep", pitch_mode="hold")
    assert held.pitch == 60.0 and held.weights == pf.weights
    geo = make_path(synth, "geodesic", [a, b], points=30, steps=5)
    assert geo.weights[0] == 0.0 and geo.weights[-1] == 1.0
    _, z, c = render_path(synth, pf)
    assert c.shape == (30, 10)
    frames = synth.frames(z, c)
    hard_b = synth.labels(1, 67.0, "TpC", "ff", "ord").expand(30, -1)
    hard_a = synth.labels(1, 60.0, "Fl", "pp", "ord").expand(30, -1)
    torch.testing.assert_close(frames[-1], synth.frames(z, hard_b)[-1])
    torch.testing.assert_close(frames[0], synth.frames(z, hard_a)[0])


@pytest.mark.parametrize("kind", ["circle", "geodesic", "lerp"])
def test_every_rendered_path_fades_in_and_out(kind):
    """The first and last hop of a rendered whole path lie more than 40 dB below its loudest hop."""
    from latentsynth.synth.engine import Synth
    from latentsynth.synth.generators import make_path
    from latentsynth.synth.notes import render_path

    synth = Synth(tiny_model())
    a, b = _two_notes()
    pf = make_path(synth, kind, [a, b], points=40, steps=5)
    y, _, _ = render_path(synth, pf)
    hop = synth.spec.hop_length
    frames = torch.from_numpy(y[: len(y) // hop * hop]).reshape(-1, hop)
    db = 10 * torch.log10(frames.pow(2).mean(1) + 1e-20)
    assert db[0] < db.max() - 40 and db[-1] < db.max() - 40
    assert db[len(db) // 2] > db.max() - 40  # the middle is not faded


def test_loudness_normalize_sets_the_level_and_keeps_the_peak_below_its_limit():
    from latentsynth.synth.engine import loudness_normalize

    t = np.arange(22050) / 22050
    quiet = 0.01 * np.sin(2 * np.pi * 220 * t)  # -43 dBFS peak
    y = loudness_normalize(quiet)
    assert 20 * np.log10(np.sqrt(np.mean(y**2))) == pytest.approx(-20.0, abs=0.1)
    spiky = np.zeros(22050)
    spiky[100] = 0.5
    assert np.abs(loudness_normalize(spiky)).max() == pytest.approx(10 ** (-1 / 20), rel=1e-3)


def _naive_spearman(x, y) -> float:
    """Spearman's rho of two tie-free sequences by its textbook formula: 1 - 6 sum d^2 / (n (n^2 - 1))."""
    rank = lambda v: [sorted(v).index(e) + 1 for e in v]  # noqa: E731 - tie-free: each value's place
    rx, ry = rank(list(x)), rank(list(y))
    n = len(rx)
    return 1 - 6 * sum((a - b) ** 2 for a, b in zip(rx, ry, strict=True)) / (n * (n * n - 1))


def test_morph_path_measures_of_a_hand_made_posterior():
    """Posteriors over 3 instruments along a path from A (index 2) to B (index 0): p_B rises as a clipped ramp
    from t = 0.2 to 0.6 (so it reaches 1/2 at t = 0.4 exactly), with a wiggle that breaks ties; the third
    instrument takes a constant share. Rho against the textbook formula, the crossing by hand, the ramp
    distance by a naive loop, and the endpoint rule over the first / last points."""
    n = 41
    t = np.linspace(0, 1, n)
    pb = np.clip((t - 0.2) / 0.4, 0, 1) * 0.98 + 0.01 + 1e-4 * np.sin(37 * t)  # distinct values, p_B(0.4) = 0.5
    other = 0.1
    prob = np.zeros((n, 3))
    prob[:, 0], prob[:, 2], prob[:, 1] = (1 - other) * pb, (1 - other) * (1 - pb), other
    curve, ok = T.morph_curve(prob, 2, 0)
    assert ok and np.allclose(curve, pb)
    m = T.morph_path_scores(curve)
    assert m["rho"] == pytest.approx(_naive_spearman(t, pb), abs=1e-12)
    assert m["cross"] == pytest.approx(0.4, abs=2e-4)  # the wiggle moves it by < 1e-4 / slope
    assert m["ramp"] == pytest.approx(sum(abs(p - ti) for p, ti in zip(pb, t, strict=True)) / n)
    # endpoints: the path's last point names the third instrument, the mean of its last 5 points still B
    spoiled = prob.copy()
    spoiled[-1] = [0.2, 0.7, 0.1]
    assert not T.morph_curve(spoiled, 2, 0)[1] and T.morph_curve(spoiled, 2, 0, ends=5)[1]
    assert not T.morph_curve(prob, 0, 2)[1]  # the other direction: neither end recognised
    falling = T.morph_path_scores(1 - t)
    assert falling["rho"] == pytest.approx(-1.0) and falling["cross"] == 0.0  # at 1/2 from the start
    assert T.morph_path_scores(np.full(n, 0.2))["cross"] is None  # never reaches 1/2
