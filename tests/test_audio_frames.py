"""Preprocessing, the frame cache (invalidation, resume, bad notes), splits, the frame dataset, validate."""

import json
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from latentsynth.cli.audio import app
from latentsynth.data.audio import FrameIndex, PrepConfig, SplitConfig, prepare
from latentsynth.data.audio import corpus as C
from latentsynth.data.audio import frames as F
from latentsynth.data.idx import DataError
from latentsynth.dsp import SpecConfig

from helpers import harmonic, make_corpus

SR = 44100  # corpus rate; prepare resamples to 22,050 Hz


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def corpus(tmp_path) -> Path:
    return make_corpus(tmp_path / "corpus")


def test_load_note_resamples_trims_and_normalises(corpus):
    note = C.read_metadata(corpus)[0]
    y = F.load_note(corpus / note.path, PrepConfig())
    raw, _ = sf.read(corpus / note.path)
    ref = librosa.resample(raw.astype(np.float32), orig_sr=SR, target_sr=22050, res_type="soxr_hq")
    ref, _ = librosa.effects.trim(ref, top_db=60, frame_length=1024, hop_length=256)
    assert np.abs(y).max() == pytest.approx(0.9, abs=1e-5)
    np.testing.assert_allclose(y, ref * 0.9 / np.abs(ref).max(), atol=1e-5)
    assert len(y) < (note.duration - 0.15) * 22050  # the leading and trailing silence are gone
    short = F.load_note(corpus / note.path, PrepConfig(max_duration=0.1, normalize="none"))
    assert len(short) == 2205


def test_prepare_builds_the_cache(corpus):
    out = prepare(corpus, workers=1, quiet=True)
    cfg = PrepConfig()
    assert out == corpus / "cache" / cfg.key()
    feats = np.asarray(F.FrameStore(out))
    notes = F._read_notes(out)
    assert feats.shape == (sum(int(n["n_frames"]) for n in notes), 513) and feats.dtype == np.float16
    # one note against an independent computation: librosa STFT of the preprocessed audio, in dB
    n = notes[4]
    y = F.load_note(corpus / n["path"], cfg)
    ref = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=1024, hop_length=256)), ref=1.0, amin=1e-10,
                                  top_db=None).clip(-80, None).T
    got = feats[int(n["frame_start"]): int(n["frame_start"]) + int(n["n_frames"])]
    np.testing.assert_allclose(got, ref, atol=0.05)
    times = np.loadtxt(out / "frames.csv", delimiter=",", skiprows=1)
    assert len(times) == len(feats)
    np.testing.assert_allclose(times[:, 2], times[:, 1] * 256 / 22050, atol=1e-4)
    assert json.loads((out / "settings.json").read_text()) == cfg.model_dump(mode="json")
    assert not (out / "shards").exists()


def test_splits_follow_notes_and_stats_are_train_only(corpus):
    out = prepare(corpus, workers=1, quiet=True)
    feats = np.asarray(F.FrameStore(out)).astype(np.float64)
    notes = F._read_notes(out)
    corpus_split = {n.path: n.split for n in C.read_metadata(corpus)}
    info = json.loads(F.write_splits(out).read_text())
    assert info["splits"] == [corpus_split[n["path"]] for n in notes]
    train = np.concatenate([feats[int(n["frame_start"]): int(n["frame_start"]) + int(n["n_frames"])]
                            for n, s in zip(notes, info["splits"], strict=False) if s == "train"])
    np.testing.assert_allclose(info["stats"]["mean"], train.mean(0), atol=1e-6)
    np.testing.assert_allclose(info["stats"]["std"], np.maximum(train.std(0), 1e-5), rtol=1e-5, atol=1e-6)
    seen = {}
    index = FrameIndex(out)
    for split in ("train", "val", "test"):
        for n in index.windows(split)[1]:
            seen.setdefault(int(n), set()).add(split)
    assert all(len(s) == 1 for s in seen.values()) and len(seen) == len(notes)
    held = SplitConfig(holdout_instruments=("Vc",), holdout_pitch=(45, 46))
    train_ids = FrameIndex(out, held).windows("train")[1]
    assert all(notes[n]["instrument"] != "Vc" and int(notes[n]["pitch"]) > 46 for n in set(train_ids))
    test_notes = {notes[n]["instrument"] for n in set(FrameIndex(out, held).windows("test")[1])}
    assert "Vc" in test_notes
    # held-out pitches: every note of the chosen (instrument, pitch) pairs, none of them in training, and
    # never an instrument's lowest or highest pitch
    split = FrameIndex(out, SplitConfig(pitch_test=0.3)).note_split
    pairs = {(n["instrument"], n["pitch"]) for n, s in zip(notes, split, strict=True) if s == "pitch"}
    assert pairs
    for n, s in zip(notes, split, strict=True):
        assert ((n["instrument"], n["pitch"]) in pairs) == (s == "pitch")
    for inst in {i for i, _ in pairs}:
        ps = sorted({int(n["pitch"]) for n in notes if n["instrument"] == inst})
        assert all(ps[0] < int(p) < ps[-1] for i, p in pairs if i == inst)


def test_frame_windows(corpus):
    out = prepare(corpus, workers=1, quiet=True)
    notes = F._read_notes(out)
    raw = np.asarray(F.FrameStore(out)).astype(np.float32)
    index = FrameIndex(out)
    starts, note_ids, frame_ids = index.windows("train")
    assert index.features[starts[3]].shape == (513,)
    np.testing.assert_array_equal(index.features[starts[3]],
                                  raw[int(notes[note_ids[3]]["frame_start"]) + frame_ids[3]])
    np.testing.assert_array_equal(index.note_frames(int(note_ids[3]))[frame_ids[3]], raw[starts[3]])
    starts, note_ids, frame_ids = index.windows("train", window=5, hop=3)
    expected = sum(len(range(0, int(n["n_frames"]) - 5 + 1, 3))
                   for n, sp in zip(notes, index.note_split, strict=True) if sp == "train")
    assert len(starts) == expected and all(frame_ids % 3 == 0)
    for n, t in zip(note_ids, frame_ids, strict=True):
        assert t + 5 <= int(notes[n]["n_frames"])  # never crosses into the next note
    mid = len(starts) // 2
    x = index.stats.normalize(torch.from_numpy(raw[starts[mid]:starts[mid] + 5]))
    np.testing.assert_allclose(index.stats.denormalize(x).numpy(), raw[starts[mid]:starts[mid] + 5], atol=1e-3)
    mm = index.stats.normalize(torch.from_numpy(raw[np.concatenate([np.arange(s, s + 5) for s in starts])]),
                               "minmax")
    assert float(mm.min()) == pytest.approx(0, abs=1e-5) and float(mm.max()) == pytest.approx(1, abs=1e-5)


def test_changed_setting_rebuilds_and_same_setting_reuses(corpus, monkeypatch):
    out = prepare(corpus, workers=1, quiet=True)
    stamp = (out / "parts.json").stat().st_mtime_ns
    calls = []
    monkeypatch.setattr(F, "note_features", lambda *a: calls.append(a) or np.zeros((3, 513), np.float32))
    assert prepare(corpus, workers=1, quiet=True) == out and not calls
    assert (out / "parts.json").stat().st_mtime_ns == stamp
    monkeypatch.undo()
    other = prepare(corpus, PrepConfig(spec=SpecConfig(n_fft=512, hop_length=128)), workers=1, quiet=True)
    assert other != out and F.FrameStore(other).shape[1] == 257
    mel = prepare(corpus, PrepConfig(spec=SpecConfig(representation="mel", n_mels=40)), workers=2, quiet=True)
    assert F.FrameStore(mel).shape[1] == 40
    # an edited corpus (one note fewer) re-consolidates, reusing nothing stale
    notes = C.read_metadata(corpus)
    C.write_metadata(corpus, notes[1:])
    assert len(F._read_notes(prepare(corpus, workers=1, quiet=True))) == len(notes) - 1


def test_killed_prepare_resumes(corpus, monkeypatch):
    real, done = F.note_features, []

    def dies_after_five(path, cfg):
        if len(done) == 5:
            raise KeyboardInterrupt
        done.append(path)
        return real(path, cfg)

    monkeypatch.setattr(F, "note_features", dies_after_five)
    with pytest.raises(KeyboardInterrupt):
        prepare(corpus, workers=1, quiet=True, part_notes=2)
    out = corpus / "cache" / PrepConfig().key()
    assert len(list((out / "parts").glob("*.json"))) == 2 and not (out / "parts.json").exists()
    done = done[:4]  # two finished parts of two notes; the fifth note's part was in flight
    again = []
    monkeypatch.setattr(F, "note_features", lambda path, cfg: again.append(path) or real(path, cfg))
    prepare(corpus, workers=1, quiet=True, part_notes=2)
    n = len(C.read_metadata(corpus))
    assert len(again) == n - 4 and not set(again) & set(done)
    report = json.loads((out / "build_report.json").read_text())
    assert (report["kept"], report["built"]) == (4, n - 4)
    fresh = prepare(corpus, cache=corpus / "fresh", workers=1, quiet=True)  # one part of all notes
    np.testing.assert_array_equal(np.asarray(F.FrameStore(fresh)), np.asarray(F.FrameStore(out)))


def test_bad_notes_are_skipped_with_the_reason(corpus):
    notes = C.read_metadata(corpus)
    (corpus / notes[0].path).write_bytes(b"")
    (corpus / notes[1].path).unlink()
    C.write_wav(corpus / notes[2].path, np.zeros(SR), SR)  # silent
    tail = np.concatenate([harmonic(440, 0.05, lead=0), np.zeros(SR)])  # 50 ms of sound in 1 s
    C.write_wav(corpus / notes[3].path, tail, SR)
    out = prepare(corpus, PrepConfig(min_duration=0.2), workers=2, quiet=True)
    reasons = {s["file"]: s["reason"] for s in json.loads((out / "build_report.json").read_text())["skipped"]}
    assert "empty" in reasons[notes[0].path] and "missing" in reasons[notes[1].path]
    assert "silent" in reasons[notes[2].path] and "too short after trimming" in reasons[notes[3].path]
    assert len(F._read_notes(out)) == len(notes) - 4


def test_errors_name_the_problem(tmp_path, corpus):
    with pytest.raises(DataError, match="metadata.csv: not found"):
        prepare(tmp_path / "nothing")
    with pytest.raises(DataError, match="not a prepared frame cache"):
        FrameIndex(tmp_path)
    out = prepare(corpus, workers=1, quiet=True)
    with pytest.raises(DataError, match="no training frames"):
        FrameIndex(out, splits=SplitConfig(holdout_pitch=(0, 127)))
    with pytest.raises(ValueError, match="window"):
        FrameIndex(out).windows("train", window=0)
    with pytest.raises(ValueError, match="extra"):
        PrepConfig(trim=10)


def test_prepare_and_validate_cli(tmp_path):
    corpus = make_corpus(tmp_path / "c", per_instrument=3)
    run = CliRunner().invoke
    res = run(app, ["prepare", str(corpus), "--representation", "cqt", "-q"])
    assert res.exit_code == 0, res.output
    assert "prepared 9 notes" in res.output and "cache:" in res.output
    res = run(app, ["prepare", str(corpus), "--holdout-pitch", "C2:C3", "--holdout-instruments", "Fl", "-q"])
    assert res.exit_code == 0, res.output
    res = run(app, ["prepare", str(corpus), "--holdout-pitch", "low-high"])
    assert res.exit_code == 2 and "--holdout-pitch" in res.output
    res = run(app, ["prepare", str(corpus), "--representation", "wavelet"])
    assert res.exit_code == 2 and "representation" in res.output
    md = tmp_path / "docs/results.md"
    res = run(app, ["validate", str(corpus), "--notes", "3", "--out", str(md),
                    "--examples", str(tmp_path / "docs/audio"), "--settings", "stft:16:0.99,mel:16:0.99", "-q"])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert "latentsynth audio validate" in text and "| stft | 16 | 0.99 | 3 |" in text and "| mel | 16 |" in text
    sc = float(text.split("| stft | 16 | 0.99 | 3 | ")[1].split(" ±")[0])
    assert 0 < sc < 0.3
    assert (tmp_path / "docs/audio/roundtrip.png").is_file() and list((tmp_path / "docs/audio").glob("*.wav"))
    # a hand-written page with the markers keeps its own text; only the section between them is replaced
    md.write_text("# Mine\n\nintro\n\n<!-- validate:start -->\nold table\n<!-- validate:end -->\n\nafter\n")
    res = run(app, ["validate", str(corpus), "--notes", "3", "--out", str(md), "--examples",
                    str(tmp_path / "docs/audio"), "--settings", "stft:16:0.99", "-q"])
    assert res.exit_code == 0, res.output
    text = md.read_text()
    assert text.startswith("# Mine\n\nintro\n\n<!-- validate:start -->\n## Audio pipeline") and "old table" not in text
    assert text.endswith("<!-- validate:end -->\n\nafter\n") and "| stft | 16 | 0.99 | 3 |" in text


def test_changed_corpus_recomputes_only_changed_notes(corpus, monkeypatch):
    out = prepare(corpus, workers=1, quiet=True)
    before = {r["path"]: r for r in F._read_notes(out)}
    feats = np.asarray(F.FrameStore(out))
    notes = C.read_metadata(corpus)
    changed = notes[1]
    C.write_wav(corpus / changed.path, harmonic(300.0, 0.5), SR)  # new audio for one note
    C.write_metadata(corpus, [n for n in notes if n.path != notes[2].path])  # and one note removed
    real, calls = F.note_features, []
    monkeypatch.setattr(F, "note_features", lambda path, cfg: calls.append(Path(path).name) or real(path, cfg))
    again = prepare(corpus, workers=1, quiet=True)
    assert calls == [Path(changed.path).name]  # the only note computed again
    after = {r["path"]: r for r in F._read_notes(again)}
    assert set(after) == {n.path for n in notes} - {notes[2].path}
    new = np.asarray(F.FrameStore(again))
    for path, r in after.items():  # truth: the first build's rows for every untouched note
        if path == changed.path:
            continue
        b = before[path]
        np.testing.assert_array_equal(new[int(r["frame_start"]):int(r["frame_start"]) + int(r["n_frames"])],
                                      feats[int(b["frame_start"]):int(b["frame_start"]) + int(b["n_frames"])])
