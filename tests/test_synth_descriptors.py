"""Exercise 5 machinery: descriptor maps and curves over a latent space, path descriptors, descriptor-targeted
synthesis, and the synthesis study runner (toy decoders with closed-form descriptors, plus one tiny trained model)."""

import csv
import json
import math
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentsynth.bench.synthesis_study import expand_seeds, group_name, run_study
from latentsynth.cli import app
from latentsynth.config import load_config
from latentsynth.dsp.transforms import SpecConfig, mel_basis
from latentsynth.folders import CodeSample
from latentsynth.latent.paths import lerp
from latentsynth.synth.descriptors import (
    descriptor_curves,
    descriptor_map,
    mel_spread_basis,
    path_descriptors,
    path_report,
    plot_descriptor_curves,
    plot_descriptor_maps,
)
from latentsynth.synth.target import greedy_search, parse_curve, target_curves, targeted_path
from latentsynth.training import train

from helpers import make_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class PeakSynth:
    """Toy decoder: one Gaussian spectral peak (std 60 Hz) at ``2000 + 500 z[0]`` Hz with amplitude
    ``0.1 exp(0.5 z[1])``: its centroid is that frequency and its level moves with z[1], in closed form."""

    def __init__(self, n_codes: int = 300, seed: int = 0):
        self.latent_dim, self.spec, self.hop_seconds = 2, SpecConfig(), 256 / 22050
        g = torch.Generator().manual_seed(seed)
        codes = torch.randn(n_codes, 2, generator=g)
        self.codes = CodeSample(codes=codes, labels=torch.zeros(n_codes, 4), note=torch.arange(n_codes) // 10,
                                names=[f"n{i}" for i in range(n_codes // 10)])
        self.freqs = torch.linspace(0, self.spec.sample_rate / 2, self.spec.n_fft // 2 + 1)

    @staticmethod
    def centre(z):
        return 2000 + 500 * z[..., 0]

    def decode_magnitudes(self, z, c=None):
        f = self.centre(z)[:, None]
        amp = 0.1 * torch.exp(0.5 * z[:, 1:2])
        return (amp * torch.exp(-0.5 * ((self.freqs - f) / 60) ** 2) + 1e-9)[:, None, :]  # [N, 1, F]


def test_descriptor_map_of_a_peak_decoder_matches_its_closed_form(tmp_path):
    s = PeakSynth()
    m = descriptor_map(s, plane=(0, 1), n=24, extent=2.5)
    assert m["centroid"].shape == (24, 24) and m.density.shape == (24, 24)
    # columns follow axis 1 = latent dim 0 (scaled by the codes' std), rows axis 2 = dim 1
    z = m.codes_at(*np.meshgrid(m.u, m.v))
    np.testing.assert_allclose(m["centroid"], PeakSynth.centre(z).numpy(), rtol=2e-3)
    assert np.ptp(m["centroid"], axis=0).max() < 1.0  # the centroid does not depend on dim 1...
    assert np.all(np.diff(m["loudness"], axis=0) > 0)  # ...the level rises with it
    assert np.unravel_index(m.density.argmax(), m.density.shape) in {(i, j) for i in (10, 11, 12, 13)
                                                                      for j in (10, 11, 12, 13)}
    assert plot_descriptor_maps(m, tmp_path / "map.png").is_file()
    cv = descriptor_curves(s, "dims", span=2.0, n=9)
    assert set(cv.curves) == {"dim 0", "dim 1"}
    c0 = cv.curves["dim 0"]["centroid"]
    assert np.all(np.diff(c0) > 0) and np.ptp(cv.curves["dim 1"]["centroid"]) < 1.0
    assert plot_descriptor_curves(cv, tmp_path / "curves.png").is_file()


def test_mel_spread_map_is_exact_on_a_flat_spectrum():
    spec = SpecConfig(representation="mel")
    A, M = mel_spread_basis(spec), torch.from_numpy(mel_basis(spec))
    x = (A @ (M @ torch.ones(M.shape[1])))
    inside = M.sum(0) > 0
    torch.testing.assert_close(x[inside], torch.ones(int(inside.sum())), rtol=1e-4, atol=1e-4)
    assert float(x[~inside].abs().max()) == 0.0


def test_lerp_on_a_linear_decoder_gives_monotone_descriptor_paths():
    s = PeakSynth()
    z = lerp(torch.tensor([-1.0, 0.0]), torch.tensor([1.5, 0.5]), 60)
    desc = path_descriptors(s, z)
    assert set(desc) == {"centroid", "bandwidth", "flatness", "rolloff", "loudness"} and len(desc["centroid"]) == 60
    rep = path_report(s, z, desc=desc)
    assert rep["centroid_monotonicity"] == pytest.approx(1.0) and rep["loudness_monotonicity"] == pytest.approx(1.0)
    assert rep["centroid_tv_ratio"] == pytest.approx(1.0, abs=1e-6)
    assert rep["centroid_smoothness"] < 1e-3  # a straight line in Hz
    assert rep["latent_length"] == pytest.approx(float((z[-1] - z[0]).norm()), rel=1e-4)
    assert rep["decoded_length"] > 0


def test_targeted_search_reaches_a_reachable_target_and_beats_greedy():
    s = PeakSynth()
    assert parse_curve("1500:3000") == (1500.0, 3000.0) and parse_curve("-20") == -20.0
    with pytest.raises(ValueError, match="not a differentiable descriptor"):
        target_curves({"f0": 440}, 10)
    targets = {"centroid": (1500, 3000), "loudness": -64}
    res = targeted_path(s, targets, points=80, steps=150)
    # centroid 1500 -> 3000 Hz is z0 -1 -> 2; -64 dB is reachable with z1 (about +0.45; 4.3 dB per unit)
    assert res.error["rel_rms_centroid"] < 0.02 and res.error["rel_rms_loudness"] < 0.02
    assert res.error["rel_rms_mean"] <= res.greedy_error["rel_rms_mean"] + 1e-4
    np.testing.assert_allclose(res.achieved["centroid"], PeakSynth.centre(res.z).numpy(), rtol=2e-3)
    g = greedy_search(s, target_curves(targets, 80))
    assert g.shape == (80, 2) and all(bool((row == s.codes.codes).all(1).any()) for row in g)  # training codes
    assert res.greedy_error["rel_rms_centroid"] < 0.2


def test_group_names_and_seed_expansion(tmp_path):
    assert group_name("harmonic-vae-s1") == "harmonic-vae" and group_name("mlp-ae-bce") == "mlp-ae-bce"
    for n in ("a-s0", "a-s1", "b-s0"):
        (tmp_path / n).mkdir()
        (tmp_path / n / "model.safetensors").write_bytes(b"")
    assert [p.name for p in expand_seeds([tmp_path / "a-s0", tmp_path / "b-s0"])] == ["a-s0", "a-s1", "b-s0"]
    assert [p.name for p in expand_seeds([tmp_path / "a"])] == ["a-s0", "a-s1"]
    # a sibling a sweep still holds (a live claim: this process, fresh heartbeat) is left out and named
    (tmp_path / "a-s1" / "claim.json").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    training = []
    assert [p.name for p in expand_seeds([tmp_path / "a-s0"], training)] == ["a-s0"]
    assert [p.name for p in training] == ["a-s1"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny conditioned harmonic VAE (2 epochs on a 3-instrument corpus)."""
    return tiny_run(tmp_path_factory.mktemp("synthdesc"), "sol-harmonic-vae", "train.eval_iw_samples=2", "name=tiny-s0")


def tiny_run(root: Path, preset: str, *overrides: str):
    """``preset`` trained 2 epochs, small, on a 4-notes-per-instrument corpus under ``root``."""
    corpus = make_corpus(root / "corpus", per_instrument=4)
    cfg = load_config(preset, [f"data.corpus={corpus}", "train.max_epochs=2", "data.batch_size=64",
                               "model.network.hidden=[32]", "model.network.n_harmonics=8",
                               "model.network.noise_bands=4", "train.eval_mmd_samples=50", *overrides])
    return train(cfg, root / "runs", quiet=True)


def test_study_runner_writes_results_and_report(tiny, tmp_path):
    report = run_study([tiny], tmp_path / "study", pairs=2, kinds=("lerp", "geodesic"), geodesic_steps=5,
                       quiet=True)
    rows = list(csv.DictReader(open(tmp_path / "study" / "results.csv")))
    assert len(rows) == 4 and {r["kind"] for r in rows} == {"lerp", "geodesic"} and rows[0]["group"] == "tiny"
    assert all(math.isfinite(float(r["centroid_smoothness"])) and float(r["frechet"]) >= 0 for r in rows)
    # the FAD stand-in: one embedding Frechet per generator (its pairs pooled), from a classifier trained on the
    # model's corpus and cached beside the results
    fad = {r["kind"]: float(r["fad"]) for r in rows}
    assert all(math.isfinite(v) and v >= 0 for v in fad.values()) and len(fad) == 2
    assert list((tmp_path / "study").glob("classifier-*/classifier.safetensors"))
    text = report.read_text()
    assert "| lerp | tiny |" in text and "geodesic - lerp" not in text and "generator - lerp" in text
    assert "predictability" in text and (tmp_path / "study" / "predictability.csv").is_file()
    assert (tmp_path / "study" / "metrics.png").is_file()
    assert (tmp_path / "study" / "figures" / "map-tiny-s0.png").is_file()


def test_target_and_study_commands(tiny, tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["synth", "target", str(tiny), "--centroid", "900:1400", "--loudness", "-25",
                              "--seconds", "0.5", "--instrument", "Fl", "--pitch", "74", "--steps", "20",
                              "-o", str(tmp_path / "t" / "rise")])
    assert res.exit_code == 0, res.output
    assert "centroid: relative RMS error" in res.output
    for ext in (".wav", ".path.json", ".png", ".json"):
        assert (tmp_path / "t" / f"rise{ext}").is_file()
    res = runner.invoke(app, ["synth", "target", str(tiny), "-o", str(tmp_path / "t" / "none")])
    assert res.exit_code == 2 and "at least one target" in res.output
    res = runner.invoke(app, ["synth", "study", str(tiny), "--pairs", "1", "--kinds", "lerp,circle",
                              "--out", str(tmp_path / "s")])
    assert res.exit_code == 0, res.output
    assert Path(res.output.split("study: ")[-1].strip()).is_file()


@pytest.fixture(scope="module")
def tiny_timbre(tmp_path_factory):
    """A tiny pitch-only timbre WAE-MMD (2 epochs on the 3-instrument corpus): the instrument lives in its codes."""
    return tiny_run(tmp_path_factory.mktemp("synthtimbre"), "sol-timbre-wae-mmd", "train.eval_timbre=false",
                    "name=timbre-s0")


def test_study_of_a_pitch_only_model_scores_morphs_across_instruments(tiny_timbre, tmp_path, monkeypatch):
    """The study's CSV carries the morph columns on the paths from one instrument's note to another's (blends and
    geodesic; empty on a note-free generator), its 6 pairs hold each ordered pair of the 3 instruments once, one
    row's rho and ramp equal the textbook formulas on the classifier's posteriors along the re-made path, and a
    second run with the same settings resumes from the finished models without studying them again."""
    from itertools import permutations

    import latentsynth.bench.synthesis_study as S
    from latentsynth.evaluation.audio_classifier import load_frame_classifier
    from latentsynth.synth import Synth, make_path, render_path

    out = tmp_path / "study"
    kw = dict(pairs=6, kinds=("lerp", "geodesic", "circle"), geodesic_steps=5, figures=False, quiet=True)
    report = run_study([tiny_timbre], out, **kw)
    text = (out / "results.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert {"morph_path_rho", "morph_path_cross", "morph_path_ramp", "morph_path_recognised"} <= set(rows[0])
    lerp = [r for r in rows if r["kind"] == "lerp"]
    assert sorted((r["instrument_a"], r["instrument_b"]) for r in lerp) == sorted(permutations(["Fl", "Tbn", "Vc"], 2))
    for r in rows:
        if r["kind"] == "circle":
            assert r["morph_path_rho"] == r["morph_path_recognised"] == ""
        else:
            assert -1 <= float(r["morph_path_rho"]) <= 1 and 0 <= float(r["morph_path_ramp"]) <= 1
            assert r["morph_path_recognised"] in ("0.0", "1.0")
    text_md = report.read_text()
    assert "| lerp | timbre | " in text_md and "morph_path_rho" in text_md
    # FAD is one value per run and generator: compared over runs (one run here: a difference, no test), not pairs
    head = next(ln for ln in text_md.splitlines() if ln.startswith("| model | generator |")).split(" | ")
    geo = next(ln for ln in text_md.splitlines() if ln.startswith("| timbre | geodesic |")).split(" | ")
    assert "(p" not in geo[head.index("fad")] and "(p" in geo[head.index("frechet")]
    # one row by hand: the same path again, the corpus classifier's posteriors, p_B, the textbook rho and ramp
    synth = Synth.load(tiny_timbre)
    a, b = S.note_pairs(synth, 6)[1]
    pf = make_path(synth, "lerp", [a, b], points=max(3, round(2.0 / synth.hop_seconds)), seed=1, alpha="sweep")
    _, z, c = render_path(synth, pf)
    clf = load_frame_classifier(next(out.glob("morph-classifier-*")))
    with torch.no_grad():
        prob = torch.softmax(clf(synth.magnitudes(z, c))["instrument"], 1).numpy()
    vocab = synth.info.vocab["instrument"]
    pb = [p[vocab.index(b.instrument)] / (p[vocab.index(a.instrument)] + p[vocab.index(b.instrument)]) for p in prob]
    n, t = len(pb), np.linspace(0, 1, len(pb))
    rank = lambda v: [sorted(v).index(e) + 1 for e in v]  # noqa: E731 - tie-free
    rho = 1 - 6 * sum((i - j) ** 2 for i, j in zip(rank(list(t)), rank(pb), strict=True)) / (n * (n * n - 1))
    assert float(lerp[1]["morph_path_rho"]) == pytest.approx(rho, abs=1e-6)
    ramp = sum(abs(p - s) for p, s in zip(pb, t, strict=True)) / n
    assert float(lerp[1]["morph_path_ramp"]) == pytest.approx(ramp, abs=1e-6)
    # resume: the finished model is read back, not studied again; other settings study it again

    def refuse(*a, **k):
        raise AssertionError("studied again")

    monkeypatch.setattr(S, "study_model", refuse)
    run_study([tiny_timbre], out, **kw)
    assert (out / "results.csv").read_text() == text
    with pytest.raises(AssertionError, match="studied again"):
        run_study([tiny_timbre], out, **{**kw, "pairs": 5})
    w = tiny_timbre / "model.safetensors"  # new weights in the same folder (a run trained again)
    os.utime(w, ns=(w.stat().st_atime_ns, w.stat().st_mtime_ns + 10**9))
    with pytest.raises(AssertionError, match="studied again"):
        run_study([tiny_timbre], out, **kw)
