"""Issue #25, the fronts on the timbre models: the path-smoothness score against a naive loop and hand values,
the ``timbre-fronts`` sweep spec (its families, axes and priors) and the validation of ``pareto:`` axes."""

from __future__ import annotations

import numpy as np
import pytest

from latentsynth.bench.pareto import direction, family
from latentsynth.bench.sweep import expand, load_sweep
from latentsynth.config import ConfigError
from latentsynth.evaluation import timbre as T


def _naive_smoothness(paths, scale):
    """The definition written out: for every path and descriptor, the mean over t of |x[t+1] - 2x[t] + x[t-1]|
    divided by that descriptor's scale; then the plain mean of those numbers."""
    vals = []
    for p in paths:
        for name, x in p.items():
            total = 0.0
            for t in range(1, len(x) - 1):
                total += abs(x[t + 1] - 2 * x[t] + x[t - 1])
            vals.append(total / (len(x) - 2) / scale[name])
    return sum(vals) / len(vals)


def test_path_smoothness_against_a_naive_loop():
    rng = np.random.default_rng(0)
    paths = [{"centroid": rng.normal(1000, 200, 21), "loudness": rng.normal(-20, 3, 21)} for _ in range(4)]
    scale = {"centroid": 250.0, "loudness": 4.0}
    assert T.path_smoothness(paths, scale) == pytest.approx(_naive_smoothness(paths, scale), rel=1e-12)


def test_path_smoothness_hand_values():
    t = np.linspace(0, 1, 21)
    # a straight ramp has no second difference, whatever its slope
    assert T.path_smoothness([{"a": 5 + 300 * t}], {"a": 1.0}) == pytest.approx(0.0, abs=1e-12)
    # x = t^2 on a grid of step h = 1/20: every second difference is 2 h^2 = 0.005; scale 0.5 -> 0.01
    assert T.path_smoothness([{"a": t**2}], {"a": 0.5}) == pytest.approx(0.01)
    # a zig-zag +-1: |1 - 2(-1) + 1| = 4 at every inner point
    zig = np.array([(-1.0) ** k for k in range(21)])
    assert T.path_smoothness([{"a": zig}, {"a": 0 * t}], {"a": 2.0}) == pytest.approx((4 / 2 + 0) / 2)
    # a descriptor without a usable scale is left out; no path: None
    assert T.path_smoothness([{"a": t**2, "b": zig}], {"a": 0.5, "b": 0.0}) == pytest.approx(0.01)
    assert T.path_smoothness([], {"a": 1.0}) is None


def test_timbre_fronts_spec_covers_every_regularizer_and_prior():
    spec = load_sweep("timbre-fronts")
    runs = expand(spec)
    assert spec.seeds == [0, 1, 2] and len(runs) == 3 * len(spec.variations)
    assert all(r.config.model.network.kind == "harmonic" and r.config.model.conditioning.labels == ["pitch"]
               and r.config.train.eval_timbre for r in runs)  # the timbre models: pitch-only decoders
    fam: dict[str, set[float]] = {}
    for r in runs:
        row = {"regularizer": r.config.regularizer.kind, "prior": r.config.prior.kind,
               "kernel": r.config.regularizer.kernel if r.config.regularizer.kind == "mmd" else "",
               "free_bits": r.config.regularizer.free_bits}
        fam.setdefault(family(row), set()).add(r.config.regularizer.weight)
    for name in ("kl", "mmd imq", "mmd rbf", "adversarial"):
        assert len(fam[name]) >= 5, name  # a front of >= 5 weights per regularizer
    assert {"none", "kl free bits", "mmd imq, mixture", "mmd imq, hypersphere"} <= set(fam)
    gan = [r.config.regularizer for r in runs if r.config.regularizer.kind == "adversarial"]
    assert all(g.disc_penalty == "r1" and g.disc_penalty_weight == 10 for g in gan)
    mix = {r.config.prior.n_components for r in runs if r.config.prior.kind == "mixture"}
    assert mix == {3, 6}
    assert {"test_latent_mmd", "test_active_units", "morph_ramp", "path_smoothness"} <= set(spec.pareto)
    assert direction("path_smoothness") == "lower" and direction("morph_ramp") == "lower"


def test_pareto_axes_must_be_known_scores(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("name: s\npareto: [test_latent_mmd, path_smoothnes]\nvariations: [{name: a, preset: mnist-vae}]\n")
    with pytest.raises(ConfigError, match=r"pareto: path_smoothnes is not a score of metric_table"):
        load_sweep(f)


class _Info:
    def __init__(self, spec):
        self.spec = spec

    def db_affine(self):  # normalised frames are dB here
        import torch

        return torch.zeros(self.spec.n_bins), torch.ones(self.spec.n_bins)


class _Data:
    """What path_scores reads of a frame data module: the spec, the dB scale and each note's frames [T, F]."""

    def __init__(self, spec, notes):
        self.spec, self.notes_db = spec, notes

    def audio_info(self):
        return _Info(self.spec)

    def note_tensor(self, k):
        return self.notes_db[k]


def test_path_scores_against_a_naive_computation():
    """The driver: descriptors of the decoded lines (mean over a window's frames), their second differences
    over the std of each descriptor on the real notes' loud frames (within 20 dB of the note's loudest),
    restated here frame by frame with plain loops."""
    import torch

    from latentsynth.dsp.transforms import SpecConfig
    from latentsynth.evaluation.descriptors import TORCH_DESCRIPTORS, torch_descriptors

    spec = SpecConfig(sample_rate=8000, n_fft=64, hop_length=16, fmax=4000.0)
    F = spec.n_fft // 2 + 1
    g = torch.Generator().manual_seed(0)
    notes = {k: -60 + 50 * torch.rand(12, F, generator=g) for k in (3, 7, 9)}  # dB frames
    notes[3][:4] -= 40  # a quiet attack: left out of the scale
    lines = [(3, 7, torch.rand(21, 2, F, generator=g) + 0.01), (7, 9, torch.rand(21, 2, F, generator=g) + 0.01)]
    got = T.path_scores(_Data(spec, notes), lines)["path_smoothness"]

    def desc(frame):  # one frame [F] -> {name: float}
        return {n: float(v) for n, v in torch_descriptors(frame[None], spec.sample_rate, spec.n_fft).items()}

    real = {n: [] for n in TORCH_DESCRIPTORS}
    for k in (3, 7, 9):
        loudest = max(float(notes[k][t].max()) for t in range(len(notes[k])))
        for t in range(len(notes[k])):
            if float(notes[k][t].max()) >= loudest - 20:
                for n, v in desc(10 ** (notes[k][t] / 20)).items():
                    real[n].append(v)
    scale = {n: float(np.std(v, ddof=1)) for n, v in real.items()}
    paths = []
    for _, _, mags in lines:
        traj = {n: [] for n in TORCH_DESCRIPTORS}
        for t in range(len(mags)):
            per_frame = [desc(mags[t, w]) for w in range(mags.shape[1])]
            for n in TORCH_DESCRIPTORS:
                traj[n].append(sum(d[n] for d in per_frame) / len(per_frame))
        paths.append({n: np.array(v) for n, v in traj.items()})
    assert got == pytest.approx(_naive_smoothness(paths, scale), rel=1e-4)
    mel = _Data(SpecConfig(representation="mel", sample_rate=8000, n_fft=64, hop_length=16, n_mels=8, fmax=4000.0),
                notes)
    assert T.path_scores(mel, lines) == {}  # the descriptors read STFT bins
