"""Issue #27: the last tracebacks, the silent cases and the misleading messages. Each case asserts the message a
user sees (one line, naming the file, field or setting and what to do)."""

import csv
import json
import os
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from latentsynth.cli import app
from latentsynth.config import ConfigError, load_config
from latentsynth.data.audio import corpus as C
from latentsynth.data.audio.importers import import_sol
from latentsynth.data.errors import DataError
from latentsynth.data.idx import load_idx_dataset
from latentsynth.folders import load_metrics, save_model
from latentsynth.models import AutoEncoder
from latentsynth.synth import PathFile, Synth, SynthError
from latentsynth.synth.generators import GENERATORS, OPTION_TYPES, parse_options
from latentsynth.training import train
from latentsynth.training.fit import check_model_size, cpu_cores, warn_cpu_processes

from helpers import harmonic, tiny_overrides

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "sol"
HARMONIC, PITCHLESS = REFERENCE / "harmonic-ae", REFERENCE / "vae-frame"  # conditioned+harmonic; no labels


def cli(*args) -> tuple[int, str, str]:
    """Exit code, stdout and stderr (each on one line) of ``latentsynth ARGS``; fails on a traceback."""
    res = runner.invoke(app, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), (
        f"traceback instead of a clear error: {res.exception!r}\n{res.output}")
    return res.exit_code, " ".join(res.stdout.split()), " ".join(res.stderr.split())


def error(*args) -> str:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    text = (err + " " + out).strip()
    assert text.startswith("error: ") or "Invalid value" in text, text
    return text


@pytest.fixture
def image_model(tmp_path) -> Path:
    cfg = load_config("mnist-vae", ["model.network.hidden=[8]", "model.latent_dim=2", "name=m"])
    return save_model(AutoEncoder(cfg, (1, 28, 28)).eval(), tmp_path / "m", {"test_bce": 1.0})


# ------------------------------------------------------------------------------------------- 1. tracebacks


def _unwritable(tmp_path: Path) -> Path:
    """A folder this process cannot write into: read-only by mode, or (as root, whom modes do not stop) /sys."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        return ro
    return Path("/sys")


def test_export_into_an_unwritable_folder_is_one_error(tmp_path):
    ro = _unwritable(tmp_path)
    out = error("synth", "export", HARMONIC, "--out", ro)
    assert out.startswith(f"error: {ro}: cannot write here (Permission denied)"), out
    assert "choose a folder you can write to" in out
    out = error("synth", "export", HARMONIC, "--out", ro / "sub" / "export")  # mkdir of a sub-folder
    assert out.startswith(f"error: {ro / 'sub' / 'export'}: cannot write here ("), out
    # atomic_write itself, for every other writer: its temporary file and its mkdir name the file meant
    from latentsynth.folders import atomic_write_text

    for path in (ro / "a.json", ro / "sub" / "a.json"):
        with pytest.raises(OSError, match=f"^{path}: cannot write here") as err:
            atomic_write_text(path, "{}")
        assert ".tmp" not in str(err.value)
    code, _, err = cli("synth", "path", HARMONIC, "circle", "-o", ro / "c.json")
    assert code == 2 and err.startswith(f"error: {ro / 'c.json'}: cannot write here"), err


def test_an_oversized_network_is_refused_before_allocating(real_data_dir, tmp_path):
    tiny = tiny_overrides(real_data_dir, **{"data.train_subset": 200, "data.val_size": 100, "train.max_epochs": 1})
    out = error("train", "mnist-ae", "--out", tmp_path, *tiny, "model.latent_dim=100000000")
    assert "model.latent_dim=100000000, model.network.hidden=[64]" in out and "Lower model.latent_dim" in out, out
    assert not (tmp_path / "mnist-ae").exists()
    # the count on the meta device is the real network's, and the memory rule is weights x 4 float32 copies
    cfg = load_config("mnist-vae", ["model.latent_dim=3", "model.network.hidden=[16]"])
    real = sum(p.numel() for p in AutoEncoder(cfg, (1, 28, 28)).parameters())
    assert check_model_size(cfg, (1, 28, 28), None) == real
    assert check_model_size(cfg, (1, 28, 28), None, memory=16 * real) == real
    with pytest.raises(ConfigError, match=f"would have {real:,} parameters"):
        check_model_size(cfg, (1, 28, 28), None, memory=16 * real - 1)


# ------------------------------------------------------------------------------------------- 2. silent


def test_eval_iw_samples_zero_is_refused(image_model):
    assert "Invalid value for '--iw-samples'" in error("eval", image_model, "--iw-samples", "0")


def test_path_options_are_checked_by_name_and_type(tmp_path):
    out = error("synth", "path", HARMONIC, "circle", "--opt", "radiux=2", "-o", tmp_path / "c.json")
    assert "--opt radiux: not an option of circle; circle takes radius, revolutions, dims" in out, out
    out = error("synth", "path", HARMONIC, "circle", "--opt", "radius=abc", "-o", tmp_path / "c.json")
    assert "--opt radius=abc: radius expects a number, got 'abc'" in out
    assert "(alpha is an option of lerp, slerp, expressive)" in error(
        "synth", "path", HARMONIC, "circle", "--opt", "alpha=0.3", "-o", tmp_path / "c.json")
    assert not (tmp_path / "c.json").exists()
    assert parse_options("circle", {"radius": "2", "dims": "[0,1]"}) == {"radius": 2.0, "dims": (0, 1)}
    assert parse_options("lerp", {"alpha": "sweep"}) == {"alpha": "sweep"}
    assert parse_options("traversal", {"pc": "1", "span": "3"}) == {"pc": 1, "span": 3.0}
    with pytest.raises(SynthError, match="pc expects an integer, got '1.5'"):
        parse_options("traversal", {"pc": "1.5"})
    with pytest.raises(SynthError, match="dims expects two integers"):
        parse_options("spiral", {"dims": "[0]"})
    assert all(o in OPTION_TYPES for g in GENERATORS.values() for o in g.options)  # every option has its type


def test_path_files_know_their_model(tmp_path):
    made = tmp_path / "v.json"
    code, out, _ = cli("synth", "path", PITCHLESS, "circle", "--seconds", "0.3", "-o", made)
    assert code == 0, out
    stamp = json.loads(made.read_text())["model"]
    pitchless = Synth.load(PITCHLESS)
    assert stamp == pitchless.stamp().model_dump() and stamp["pitched"] is False and stamp["sample_rate"] == 22050
    # a harmonic model refuses it, saying what differs and what to do; --force renders it with a warning
    out = error("synth", "render", HARMONIC, made, "-o", tmp_path / "h")
    assert f"{made}: made for vae-beta0.01-s0 (fingerprint {stamp['fingerprint']}" in out
    assert "pitchless there, pitched here" in out and "pass --force" in out
    assert not (tmp_path / "h" / "v.wav").exists()
    out = error("synth", "path", HARMONIC, "lerp", "-n", made, "-n", made, "-o", tmp_path / "l.json")
    assert f"{made}: made for vae-beta0.01-s0" in out and not (tmp_path / "l.json").exists()  # as notes too
    code, out, err = cli("synth", "render", HARMONIC, made, "-o", tmp_path / "h", "--force")
    assert code == 0 and "rendered anyway (--force)" in err and (tmp_path / "h" / "v.wav").is_file(), err
    # the model it was made for: no word; an older file without a stamp: rendered, with a warning
    code, out, err = cli("synth", "render", PITCHLESS, made, "-o", tmp_path / "p")
    assert code == 0 and err == "", err
    old = tmp_path / "old.json"
    old.write_text(json.dumps({k: v for k, v in json.loads(made.read_text()).items() if k != "model"}))
    code, out, err = cli("synth", "render", PITCHLESS, old, "-o", tmp_path / "p")
    assert code == 0 and f"warning: {old}: made before path files recorded their model" in err, err
    assert PathFile.read(old).model is None


def test_the_fingerprint_follows_the_weights(tmp_path):
    copy = shutil.copytree(HARMONIC, tmp_path / "h")
    assert Synth.load(copy).stamp() == Synth.load(HARMONIC).stamp()  # a copy is the same model
    state = {k: v.clone() for k, v in load_file(copy / "model.safetensors").items()}
    key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
    state[key].view(-1)[0] += 1e-3
    save_file(state, copy / "model.safetensors")
    changed = Synth.load(copy)
    assert changed.stamp().fingerprint != Synth.load(HARMONIC).stamp().fingerprint
    pf = PathFile.from_tensor(torch.zeros(3, 16), pitch=60.0, model=Synth.load(HARMONIC).stamp())
    with pytest.raises(SynthError, match="same sizes, other weights"):
        changed.check_made_for(pf, "p.json")


def test_encode_says_which_labels_it_assumed(tmp_path):
    wav = tmp_path / "a4.wav"
    C.write_wav(wav, harmonic(440.0, 0.5), 44100)
    code, out, err = cli("synth", "encode", HARMONIC, wav, "--instrument", "Fl", "-o", tmp_path)
    assert code == 0, err
    assert f"warning: {wav}: no --dynamics given; assumed 'ff', the first the model knows (ff, pp)" in err, err
    assert "--instrument" not in err and "--style" not in err  # given, or the model knows only one (ord)
    pf = PathFile.read(tmp_path / "a4.path.json")
    assert (pf.dynamics, pf.style, pf.meta["assumed"]) == ("ff", "ord", {"dynamics": "ff"})
    code, out, err = cli("synth", "encode", HARMONIC, wav, "--instrument", "Fl", "--dynamics", "pp", "-o", tmp_path)
    assert code == 0 and err == "" and PathFile.read(tmp_path / "a4.path.json").dynamics == "pp"
    code, out, err = cli("synth", "encode", PITCHLESS, wav, "-o", tmp_path)
    assert code == 0 and err == "" and "the model takes no labels" in out, out


def test_more_cpu_processes_than_cores_are_warned(capsys):
    cores = len(os.sched_getaffinity(0))
    assert cpu_cores() == cores
    msg = warn_cpu_processes("cpu", cores + 2)
    assert msg == (f"warning: train.devices={cores + 2} starts {cores + 2} training processes on {cores} CPU core"
                   f"{'s' if cores > 1 else ''}: they compete for the cores and train slower than one process; use "
                   f"train.devices={cores} or fewer (or train.devices=1)")
    assert msg in capsys.readouterr().err
    assert warn_cpu_processes("cpu", cores) is None and warn_cpu_processes("cpu", "auto") is None
    if not torch.cuda.is_available():
        assert warn_cpu_processes("auto", cores + 1) is not None


# ------------------------------------------------------------------------------------------- 3. misleading


def test_one_idx_file_missing_names_it_and_downloads_nothing(real_data_dir, tmp_path, monkeypatch):
    part = tmp_path / "mnist"
    part.mkdir()
    for f in (real_data_dir / "mnist").glob("*.gz"):
        if not f.name.startswith("t10k-labels"):
            shutil.copy(f, part / f.name)
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("tried to download"))
    monkeypatch.setenv("LATENTSYNTH_DATA", str(real_data_dir))  # a complete copy elsewhere: not used around it
    with pytest.raises(DataError) as err:
        load_idx_dataset("mnist", tmp_path)
    msg = str(err.value)
    assert msg.startswith(f"{part}: mnist is incomplete: missing t10k-labels-idx1-ubyte (.gz or raw)"), msg
    assert "download" not in msg.lower() and "found train-images-idx3-ubyte" in msg
    monkeypatch.delenv("LATENTSYNTH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    out = error("train", "mnist-ae", "--data-dir", tmp_path, "--out", tmp_path / "runs")
    assert "mnist is incomplete: missing t10k-labels-idx1-ubyte" in out and "download" not in out.lower(), out


def test_resume_of_a_missing_folder_and_empty_configs(tmp_path, image_model):
    out = error("train", tmp_path / "gone", "--resume")
    assert f"{tmp_path / 'gone'}: no such run folder (nor a preset name); --resume continues" in out
    assert "unknown preset" not in out
    out = error("train", tmp_path / "gone.yaml")
    assert f"{tmp_path / 'gone.yaml'}: no such config file" in out
    (image_model / "config.yaml").write_text("")
    for args in (["eval", image_model], ["train", image_model, "--resume"]):
        out = error(*args)
        assert f"{image_model / 'config.yaml'}: empty file; a run folder's config.yaml holds" in out, out
        assert "shape" not in out
    (tmp_path / "x.yaml").write_text("# nothing yet\n")
    assert f"{tmp_path / 'x.yaml'}: empty file; start it with a preset" in error("config", tmp_path / "x.yaml")


def test_serve_on_a_taken_port_says_so_before_any_address(monkeypatch):
    import uvicorn

    monkeypatch.setattr(uvicorn.Server, "run", lambda *a, **k: pytest.fail("the server started"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = cli("serve", HARMONIC, "--port", port)
    assert code == 2 and "open http" not in out, out
    assert f"error: port {port} on 127.0.0.1 is taken" in err and "--port 0 picks a free one" in err, err


def _sol_source(root: Path) -> Path:
    """A TinySOL-layout folder whose CSV names its pitch column ``Pitch ID`` (as some releases do)."""
    rows = []

    def note(rel: str, pitch_id, audio: np.ndarray | None = None, in_csv: bool = True):
        if audio is not None:
            C.write_wav(root / rel, audio, 44100)
        if in_csv:
            rows.append({"Path": rel, "Family": "Winds", "Instrument (abbr.)": "Fl", "Technique (abbr.)": "ord",
                         "Pitch": "", "Pitch ID": pitch_id, "Dynamics": "mf"})

    tone = harmonic(440.0, 0.4)
    note("Winds/Flute/ordinario/Fl-ord-A4-mf-N-N.wav", "69", tone)
    note("Winds/Flute/ordinario/Fl-ord-C4-mf-N-N.wav", "300", harmonic(261.6, 0.4))
    note("Winds/Flute/ordinario/Fl-ord-D4-mf-N-N.wav", "-12", harmonic(293.7, 0.4))
    note("Winds/Flute/ordinario/Fl-ord-E4-mf-N-N.wav", "60.7", harmonic(329.6, 0.4))
    note("Winds/Flute/ordinario/Fl-ord-F4-mf-N-N.wav", "65", np.full(44100, 0.5, np.float32))  # DC, no note
    rng = np.random.default_rng(0)
    note("Winds/Flute/ordinario/Fl-ord-G4-mf-N-N.wav", "67", (0.3 * rng.standard_normal(44100)).astype(np.float32))
    note("Winds/Flute/ordinario/Fl-ord-B4-mf-N-N.wav", "71", harmonic(493.9, 0.4), in_csv=False)  # not listed
    long = root / "Winds/Flute/ordinario/Fl-ord-A5-mf-N-N.wav"
    note(long.relative_to(root).as_posix(), "81", harmonic(880.0, 1.0))
    data = long.read_bytes()
    long.write_bytes(data[: 44 + (len(data) - 44) // 2])  # the header still announces the whole note
    link = root / "Winds/Flute/ordinario/Fl-ord-G5-mf-N-N.wav"
    link.symlink_to(root / "gone.wav")  # dangling, and listed in the CSV
    note(link.relative_to(root).as_posix(), "79")
    with open(root / "TinySOL_metadata.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


def test_tinysol_import_reports_what_it_saw(tmp_path):
    src = _sol_source(tmp_path / "src")
    report = import_sol(src, tmp_path / "out", quiet=True)
    skipped = {Path(s["file"]).name: s["reason"] for s in report.skipped}
    warned = {Path(w["file"]).name: w["note"] for w in report.warnings}
    assert skipped["Fl-ord-C4-mf-N-N.wav"] == "pitch 300 in the metadata CSV is outside MIDI 0-127; fix the row"
    assert skipped["Fl-ord-D4-mf-N-N.wav"] == "pitch -12 in the metadata CSV is outside MIDI 0-127; fix the row"
    assert "'Pitch ID' is 60.7, not a whole MIDI number" in skipped["Fl-ord-E4-mf-N-N.wav"]
    assert "Pitch ID (MIDI)" not in json.dumps(report.skipped)
    assert skipped["Fl-ord-F4-mf-N-N.wav"].startswith("no note in it: a constant level (DC offset +0.5)")
    assert skipped["Fl-ord-G4-mf-N-N.wav"].startswith("no pitched note in it: a flat spectrum like noise")
    assert [Path(s["file"]).name for s in report.skipped].count("Fl-ord-G5-mf-N-N.wav") == 1  # once: the link
    assert "dangling link" in skipped["Fl-ord-G5-mf-N-N.wav"]
    assert warned["Fl-ord-B4-mf-N-N.wav"].startswith("not in the metadata CSV: labelled from its file name "
                                                     "(instrument Fl, pitch 71")
    # the header announces 1.5 s (1.0 s of tone + 0.1 s lead + 0.1 s tail... as written), the file holds half
    announced = (len(harmonic(880.0, 1.0))) / 44100
    assert warned["Fl-ord-A5-mf-N-N.wav"].startswith(
        f"truncated: the WAV header announces {announced:.2f} s of audio, the file holds {announced / 2:.2f} s")
    for entry in report.skipped + report.warnings:  # one naming rule: relative to the source folder
        assert not entry["file"].startswith(str(src)) and entry["file"].startswith("Winds/"), entry
    kept = {n.path for n in C.read_metadata(tmp_path / "out")}
    assert kept == {"wav/Fl-ord-A4-mf-N-N.wav", "wav/Fl-ord-B4-mf-N-N.wav", "wav/Fl-ord-A5-mf-N-N.wav"}


# ------------------------------------------------------------------------------------------- 5. resumed runs


def test_a_resumed_run_reports_the_whole_run(real_data_dir, tmp_path):
    def cfg(epochs):
        return load_config("mnist-ae", tiny_overrides(real_data_dir, **{
            "data.train_subset": 200, "data.val_size": 100, "train.max_epochs": epochs}))

    run = train(cfg(1), tmp_path, quiet=True)
    (run / "metrics.json").unlink()  # as if killed after the first checkpoint, before the model was saved
    train(cfg(2), tmp_path, resume=True, quiet=True)
    m = load_metrics(run)
    seg = m["segments"]
    assert [s["epochs"] for s in seg] == [[0, 1], [1, 2]]
    assert [s["train_samples"] for s in seg] == [200, 200]
    assert m["wall_seconds"] == pytest.approx(sum(s["wall_seconds"] for s in seg))
    assert m["wall_seconds"] > seg[1]["wall_seconds"] > 0 and seg[0]["wall_seconds"] > 0
    assert m["train_samples_per_s"] == pytest.approx(400 / sum(s["train_seconds"] for s in seg))
