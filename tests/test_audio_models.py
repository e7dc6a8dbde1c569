"""Frame models (Exercise 3): data module, spectral objectives, audio scores, reconstruct command, audio sweep."""

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentsynth.bench import expand, load_sweep, run_sweep
from latentsynth.cli.audio import app as audio_app
from latentsynth.config import ConfigError, load_config
from latentsynth.data import data_module
from latentsynth.dsp import decompress, log_spectral_distance, spectral_convergence
from latentsynth.evaluation.audio import audio_scores, reconstruct_frames
from latentsynth.folders import load, save_model
from latentsynth.models import AutoEncoder
from latentsynth.models.conditioning import DbScale
from latentsynth.models.likelihoods import LogMagL1Likelihood, SpectralLikelihood
from latentsynth.training import train

from helpers import make_corpus

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("audio") / "corpus", per_instrument=8)


def frames_cfg(corpus, model="vae", *extra):
    return load_config(f"sol-{model}", [f"data.corpus={corpus}", "train.max_epochs=1", "data.batch_size=64",
                                        "model.network.hidden=[64]", "model.network.channels=[8,16]",
                                        "train.eval_iw_samples=4", "train.eval_mmd_samples=200", *extra])


def test_frame_data_module_items_follow_the_cache(corpus):
    cfg = frames_cfg(corpus, "ae", "data.window=3", "data.normalize=standard", "likelihood.kind=mse",
                     "likelihood.output=identity")
    data = data_module(cfg)
    assert data.shape == (3, 513) and data.train.shape == (3, 513)
    x, labels = data.train.__getitems__([0, 5])
    assert x.shape == (2, 3, 513) and labels.shape == (2, 4)
    # truth: the same windows read from the cache's features by hand, normalised by hand
    from latentsynth.data.audio import FrameIndex
    from latentsynth.models.conditioning import DbScale

    index = FrameIndex(data.cache, data.splits)
    starts, note_ids, _ = index.windows("train", 3, 1)
    raw = torch.stack([torch.from_numpy(np.asarray(index.features[starts[i]:starts[i] + 3], np.float32))
                       for i in (0, 5)])  # [2, 3, F] dB
    mean, std = torch.tensor(data.stats.mean), torch.tensor(data.stats.std)
    torch.testing.assert_close(x, (raw - mean) / std)
    torch.testing.assert_close(DbScale.from_info(data.audio_info()).to_db(x), raw, atol=1e-3, rtol=1e-4)
    # labels: the note's MIDI pitch and its names' positions in the vocabularies
    for row, k in zip(labels, note_ids[[0, 5]], strict=True):
        r = data.notes[k]
        assert row[0] == int(r["pitch"]) and data.vocab["instrument"][int(row[1])] == r["instrument"]
        assert data.vocab["dynamics"][int(row[2])] == r["dynamics"]
    # splits are by note: no note in two splits, and val/test windows do not overlap
    tr, te = set(data.train.notes.tolist()), set(data.test.notes.tolist())
    assert tr and te and not tr & te
    assert len(data.test) == sum(int(data.notes[k]["n_frames"]) // 3 for k in te)


@pytest.mark.parametrize("kind,window", [("mlp", 1), ("conv", 1), ("mlp", 4), ("conv", 4)])
def test_every_frame_network_trains_and_reloads(corpus, tmp_path, kind, window):
    cfg = frames_cfg(corpus, "wae-mmd-imq", f"model.network.kind={kind}", f"data.window={window}",
                     f"name={kind}-{window}")
    run = train(cfg, tmp_path, quiet=True)
    model = load(run)
    x = data_module(cfg).test.as_tensor()[:5]
    assert model.reconstruct(x).shape == x.shape == (5, window, 513)
    m = (run / "metrics.json").read_text()
    for key in ("test_spec_sc", "test_spec_lsd", "test_audio_mrstft", "test_latent_mmd"):
        assert key in m
    assert (run / "curves.png").exists()


def test_spectral_objectives_against_formulas():
    torch.manual_seed(0)
    f = 7
    offset, gain = torch.linspace(-60, -20, f), torch.linspace(10, 40, f)
    db = DbScale(f)
    db.set(offset, gain)
    lik = SpectralLikelihood(db, scale=2.0, output="identity")
    l1 = LogMagL1Likelihood(db, scale=1.0, output="identity")
    x, out = torch.rand(3, 2, f), torch.rand(3, 2, f)
    db_x, db_o = x * gain + offset, out * gain + offset
    # L1 of log10 magnitudes = |dB difference| / 20
    expect_l1 = [sum(abs(float(db_x[i, t, k] - db_o[i, t, k])) / 20 for t in range(2) for k in range(f))
                 for i in range(3)]
    torch.testing.assert_close(l1.loss(out, x), torch.tensor(expect_l1), rtol=1e-5, atol=1e-5)
    # spectral convergence + mean |ln S - ln S_hat|, magnitudes S = 10^(dB / 20)
    for i in range(3):
        s, e = 10 ** (db_x[i].double().numpy() / 20), 10 ** (db_o[i].double().numpy() / 20)
        sc = np.sqrt(((s - e) ** 2).sum()) / np.sqrt((s**2).sum())
        logterm = np.abs(np.log(s) - np.log(e)).mean()
        assert float(lik.loss(out, x)[i]) == pytest.approx(2.0 * (sc + logterm), rel=1e-4)
    assert float(lik.loss(x, x).abs().max()) < 1e-6


def test_the_level_term_is_the_mean_frame_level_error_in_db():
    torch.manual_seed(1)
    f = 7
    db = DbScale(f)
    db.set(torch.linspace(-60, -20, f), torch.linspace(10, 40, f))
    plain = SpectralLikelihood(db, scale=2.0, output="identity", log_weight=0.5)
    level = SpectralLikelihood(db, scale=2.0, output="identity", log_weight=0.5, level_weight=0.3)
    x, out = torch.rand(3, 2, f), torch.rand(3, 2, f)
    s, e = db.to_linear(x).double().numpy(), db.to_linear(out).double().numpy()  # [3, 2, F] magnitudes
    for i in range(3):
        gap = np.mean([abs(10 * np.log10((s[i, t] ** 2).sum()) - 10 * np.log10((e[i, t] ** 2).sum()))
                       for t in range(2)])
        assert float(level.loss(out, x)[i] - plain.loss(out, x)[i]) == pytest.approx(2.0 * 0.3 * gap, rel=1e-4)
    # a frame 6.02 dB too quiet everywhere (half the magnitude): the term reads 20 log10 2
    half = db.from_db(db.to_db(x) - 20 * np.log10(2))
    want = 0.3 * 20 * np.log10(2)
    got = level.loss(half, x) - plain.loss(half, x)
    torch.testing.assert_close(got, torch.full((3,), 2.0 * want, dtype=got.dtype), rtol=1e-4, atol=1e-4)


def test_db_affine_is_saved_with_the_weights(corpus, tmp_path):
    cfg = frames_cfg(corpus, "ae", "likelihood.kind=spectral", "likelihood.output=identity")
    model = AutoEncoder(cfg, (1, 513))
    model.db.set(torch.arange(513.0), torch.full((513,), 3.0))
    save_model(model, tmp_path / "m")
    back = load(tmp_path / "m")
    torch.testing.assert_close(back.db.offset, torch.arange(513.0))
    torch.testing.assert_close(back.db.gain, torch.full((513,), 3.0))


class _Identity(torch.nn.Module):
    """A 'model' that reconstructs perfectly: checks the window stitching, not a network."""

    def __init__(self, noise: float = 0.0):
        super().__init__()
        self.p, self.noise = torch.nn.Parameter(torch.zeros(1)), noise

    def reconstruct(self, x, c=None, fit_steps=0):
        return x + self.noise

    def eval(self):
        return self


@pytest.mark.parametrize("t,window", [(10, 1), (10, 3), (9, 3), (2, 4)])
def test_reconstruct_frames_covers_every_frame(t, window):
    x = torch.randn(t, 5)
    torch.testing.assert_close(reconstruct_frames(_Identity(), x, window), x)
    torch.testing.assert_close(reconstruct_frames(_Identity(0.5), x, window), x + 0.5)


def test_audio_scores_are_the_dsp_formulas(corpus):
    cfg = frames_cfg(corpus, "ae")
    data = data_module(cfg)
    perfect = audio_scores(_Identity(), data, n_notes=3, audio_notes=1)
    assert perfect["test_spec_sc"] == pytest.approx(0, abs=1e-6)
    assert perfect["test_spec_lsd"] == pytest.approx(0, abs=1e-4)
    # the perfect model's audio score is Griffin-Lim's own error: its floor
    assert perfect["test_audio_mrstft"] == pytest.approx(perfect["test_audio_mrstft_floor"], rel=1e-5)
    notes = data.note_indices("test")
    off = audio_scores(_Identity(0.1), data, n_notes=len(notes), audio_notes=1)  # +0.1 normalised (min-max)
    sc, lsd = [], []
    for k in notes:  # truth: every test note's magnitudes, shifted by hand
        x = data.note_tensor(k)
        ref, est = (decompress(v * (data.stats.max - data.stats.min + 1e-8) + data.stats.min, data.spec).T
                    for v in (x, x + 0.1))  # min-max normalisation undone by hand
        sc.append(float(spectral_convergence(ref, est)))
        lsd.append(float(log_spectral_distance(ref, est)))
    assert off["test_spec_sc"] == pytest.approx(np.mean(sc), rel=1e-5)
    assert off["test_spec_lsd"] == pytest.approx(np.mean(lsd), rel=1e-5)
    assert off["test_spec_sc"] > 0.05 and off["test_audio_mrstft"] > perfect["test_audio_mrstft"]


def test_config_errors_name_the_field(corpus):
    with pytest.raises(ConfigError, match="corpus"):
        load_config("sol-vae", ["data.corpus=null"])
    with pytest.raises(ConfigError, match="likelihood.kind"):
        load_config("mnist-vae", ["likelihood.kind=spectral"])
    with pytest.raises(ConfigError, match="likelihood.kind: bernoulli needs data in"):
        load_config("sol-vae", ["data.normalize=standard"])
    with pytest.raises(ConfigError, match="likelihood.output"):
        load_config("sol-ae", ["data.normalize=standard", "likelihood.kind=mse"])


def test_audio_sweep_and_reconstruct_command(corpus, tmp_path):
    f = tmp_path / "tiny-sol.yaml"
    f.write_text(f"""data: sol
base: [data.corpus={corpus}, train.max_epochs=1, "model.network.hidden=[32]", train.eval_iw_samples=2]
variations:
  - {{name: ae, preset: ae}}
  - {{name: vae-spectral, preset: vae, factor: objective,
     overrides: [likelihood.kind=spectral, likelihood.output=sigmoid]}}
""")
    spec = load_sweep(f)
    root = run_sweep(spec, expand(spec), tmp_path / "out")
    rows = list(csv.DictReader((root / "results.csv").open()))
    assert [r["status"] for r in rows] == ["ok", "ok"], rows
    assert all(not math.isnan(float(r["test_spec_sc"])) for r in rows) and rows[0]["representation"] == "stft"
    assert "spectral conv." in (root / "summary.md").read_text() and (root / "runs/ae-s0/notes.png").exists()
    page = (root / "summary.html").read_text()  # per run: original, reconstruction, oracle players of 2 notes
    assert page.count("<audio") == 2 * 2 * 3 and "runs/ae-s0/audio/" in page
    res = CliRunner().invoke(audio_app, ["reconstruct", str(root / "runs/ae-s0"), "-n", "2", "--iterations", "4"])
    assert res.exit_code == 0, res.output
    wavs = sorted(p.name for p in (root / "runs/ae-s0/audio").glob("*.wav"))
    assert len(wavs) == 6 and sum(w.endswith("-reconstruction.wav") for w in wavs) == 2
    import soundfile as sf

    y, sr = sf.read(root / "runs/ae-s0/audio" / wavs[0])
    assert sr == 22050 and len(y) > 1000
    bad = CliRunner().invoke(audio_app, ["reconstruct", str(root / "runs/ae-s0"), "--names", "nope"])
    assert bad.exit_code == 2 and "--names" in bad.output
    # the generic commands dispatch on the data kind
    from latentsynth.cli import app

    run = root / "runs/vae-spectral-s0"
    for args in (["explore", str(run)], ["sample", str(run), "--n", "2"], ["eval", str(run)]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, (args, res.output)
    assert {p.name for p in (run / "explore").iterdir()} == {"projection_pca.png", "samples_prior.png", "probes.json"}
    assert (run / "notes.png").exists() and "spec_sc=" in res.output
    # the report picks up the probes that explore wrote, for that run only
    from latentsynth.bench.report import write_report

    write_report(spec, expand(spec), root, {})
    rows = {r["run"]: r for r in csv.DictReader((root / "results.csv").open())}
    probes = json.loads((run / "explore/probes.json").read_text())
    assert float(rows["vae-spectral-s0"]["probe_pitch_mae"]) == pytest.approx(probes["pitch_mae"])
    assert rows["ae-s0"]["probe_pitch_mae"] == "" and "k-NN pitch MAE" in (root / "summary.md").read_text()
    res = CliRunner().invoke(app, ["card", str(run), "--note", "chosen for the test"])
    assert res.exit_code == 0, res.output
    card = (run / "CARD.md").read_text()
    metrics = json.loads((run / "metrics.json").read_text())  # truth: the folder's own files
    assert "chosen for the test" in card and f"`{corpus}`: stft" in card and "spectral" in card
    assert f"| spectral convergence (test notes) | {metrics['test_spec_sc']:.4g} |" in card
    # export: a lean copy that loads to the same weights, its card, and an index row read from its metrics
    res = CliRunner().invoke(app, ["card", str(run), "--to", str(tmp_path / "ref"), "--name", "vae-ref",
                                   "--note", "the reference VAE"])
    assert res.exit_code == 0, res.output
    ref = tmp_path / "ref/vae-ref"
    assert not (ref / "checkpoints").exists() and "the reference VAE" in (ref / "CARD.md").read_text()
    a, b = load(run).state_dict(), load(ref).state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    index = (tmp_path / "ref/README.md").read_text()
    assert f"| [vae-ref](vae-ref/CARD.md) | stft frames | kl | {metrics['test_spec_sc']:.4g} |" in index
    assert f"| {probes['pitch_mae']:.2f} |" in (ref / "CARD.md").read_text()
    assert "the reference VAE" in index
    bad = CliRunner().invoke(app, ["card", str(run), str(run), "--name", "x"])
    assert bad.exit_code == 2 and "--name" in bad.output


def test_note_attributes_follow_the_metadata(corpus):
    from latentsynth.explore.frames import note_attributes

    data = data_module(frames_cfg(corpus, "ae"))
    notes = data.test.notes[[0, len(data.test) - 1]]
    attrs = note_attributes(data, notes)
    for i, k in enumerate(notes.tolist()):  # truth: the corpus metadata.csv row of the window's note
        row = next(r for r in csv.DictReader((corpus / "metadata.csv").open()) if r["path"] == data.notes[k]["path"])
        assert (attrs["instrument"][i], attrs["pitch"][i], attrs["dynamics"][i]) == (
            row["instrument"], int(row["pitch"]), row["dynamics"])


def test_attribute_probes_match_a_naive_knn():
    from latentsynth.explore.frames import attribute_probes

    rng = np.random.default_rng(0)
    zt, zv = torch.tensor(rng.normal(size=(60, 3))), torch.tensor(rng.normal(size=(25, 3)))

    def attrs(n):
        return {"instrument": list(rng.choice(["Fl", "TpC", "Vc"], n)), "dynamics": list(rng.choice(["ff", "pp"], n)),
                "pitch": [int(p) for p in rng.integers(40, 80, n)]}

    at, av = attrs(60), attrs(25)
    res = attribute_probes(zt, at, zv, av, k=5)
    near = [np.argsort(((zt - z) ** 2).sum(1).numpy(), kind="stable")[:5] for z in zv]  # naive 5-NN
    for key in ("instrument", "dynamics"):
        classes = sorted(set(at[key]))
        votes = [max(classes, key=lambda c: (sum(at[key][j] == c for j in idx), -classes.index(c))) for idx in near]
        assert res[f"{key}_acc"] == pytest.approx(np.mean([v == t for v, t in zip(votes, av[key], strict=True)]))
        top = max(classes, key=lambda c: (at[key].count(c), -classes.index(c)))
        assert res[f"{key}_chance"] == pytest.approx(np.mean([t == top for t in av[key]]))
    pred = [np.mean([at["pitch"][j] for j in idx]) for idx in near]
    assert res["pitch_mae"] == pytest.approx(np.mean(np.abs(np.array(pred) - av["pitch"])))
    assert res["pitch_mae_chance"] == pytest.approx(np.mean(np.abs(np.median(at["pitch"]) - np.array(av["pitch"]))))
    # codes that are the attributes themselves are probed perfectly
    codes = lambda a: torch.tensor([[a["pitch"][i], 100.0 * (a["instrument"][i] == "Fl"),  # noqa: E731
                                     100.0 * (a["dynamics"][i] == "ff")] for i in range(len(a["pitch"]))])
    at["instrument"] = ["Fl" if p % 2 else "Vc" for p in at["pitch"]]
    av["instrument"] = ["Fl" if p % 2 else "Vc" for p in av["pitch"]]
    exact = attribute_probes(codes(at), at, codes(av), av, k=1)
    assert exact["dynamics_acc"] == 1.0 and exact["instrument_acc"] == 1.0


def test_sol_presets_expand():
    quick = expand(load_sweep("sol-quick"))
    assert {r.config.data.kind for r in quick} == {"frames"} and load_sweep("sol-quick").render
    full = expand(load_sweep("sol-full"))
    reps = {r.config.data.representation for r in full}
    assert reps == {"stft", "mel", "cqt"} and len({r.seed for r in full}) >= 2


REFERENCE = Path(__file__).resolve().parents[1] / "models" / "sol"


@pytest.mark.parametrize("folder", sorted(p.parent.name for p in REFERENCE.glob("*/model.json")))
def test_reference_models_load_and_decode_frames(folder):
    from latentsynth.dsp import SpecConfig

    model = load(REFERENCE / folder)
    cfg = load_config(REFERENCE / folder)
    bins = SpecConfig(representation=cfg.data.representation).n_bins  # truth: the representation's bin count
    c = model.audio.labels(3, pitch=sum(model.audio.pitch_range) / 2) if model.conditioned else None
    x = model.likelihood.mean(model.decode(model.prior.sample(3), c))
    assert x.shape == (3, cfg.data.window, bins) and torch.isfinite(x).all()
    if cfg.likelihood.output == "sigmoid" or cfg.likelihood.kind == "bernoulli":
        assert x.min() >= 0 and x.max() <= 1  # min-max normalised dB frames
    db = model.db.to_db(x)  # the decoded frames lie in the dB range of the training frames (the -80 dB floor up)
    assert db.min() >= model.audio.stats.min - 1 and db.max() <= model.audio.stats.max + 20
    card = (REFERENCE / folder / "CARD.md").read_text()
    metrics = json.loads((REFERENCE / folder / "metrics.json").read_text())
    assert f"| spectral convergence (test notes) | {metrics['test_spec_sc']:.4g} |" in card
    assert f"[{folder}]({folder}/CARD.md)" in (REFERENCE / "README.md").read_text()


def test_linear_probe_reads_separable_classes_and_not_noise():
    from latentsynth.evaluation.probes import linear_accuracy, majority_chance

    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 600)
    z = rng.normal(size=(600, 4))
    z[:, 0] += 20.0 * y  # class = position along axis 0: linearly separable (gaps of 20 std)
    assert linear_accuracy(z[:400], y[:400], z[400:], y[400:]) == 1.0
    noise = rng.normal(size=(600, 4))  # codes independent of the labels: about chance
    chance = majority_chance(y[:400], y[400:])
    assert abs(linear_accuracy(noise[:400], y[:400], noise[400:], y[400:]) - chance) < 0.15
    assert chance == pytest.approx(np.mean(y[400:] == np.bincount(y[:400]).argmax()))
