"""`latentsynth audio import-folder`: a folder of your own notes -> a corpus that prepares and trains."""

import csv
import json

import librosa
import numpy as np
import pytest
import soundfile as sf

from latentsynth.data.audio.corpus import read_metadata
from latentsynth.data.audio.folder_import import estimate_pitch, import_folder, labels_from_path, pitch_token
from latentsynth.data.errors import DataError

SR = 22050


def tone(midi: float, seconds: float = 0.6, sr: int = SR, harmonics: int = 4) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    f0 = librosa.midi_to_hz(midi)
    y = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, harmonics + 1))
    return (0.3 * y * np.minimum(1, t / 0.01)).astype(np.float32)


def test_labels_from_names_and_patterns():
    assert pitch_token("C4") == 60 and pitch_token("Fs4") == 66 and pitch_token("Bb2") == 46
    assert pitch_token("m61") == 61 and pitch_token("midi100") == 100 and pitch_token("01") is None
    assert labels_from_path("Flute/Fl_C4_ff.wav") == {"name": "Fl_C4_ff", "instrument": "Flute", "pitch": 60,
                                                       "dynamics": "ff"}
    assert labels_from_path("Cello/take 3 - 48 - mp.flac")["pitch"] == 48  # a lone MIDI number
    assert "pitch" not in labels_from_path("Pad/warm.wav")
    lab = labels_from_path("Brass/Horn/stopped/G3-fff.aiff", "{family}/{instrument}/{style}/{pitch}-{dynamics}")
    assert lab == {"family": "Brass", "instrument": "Horn", "style": "stopped", "pitch": 55, "dynamics": "ff"}
    with pytest.raises(DataError, match=r"unknown field \{inst\}"):
        labels_from_path("a/b.wav", "{inst}/{name}")


def test_pyin_estimate_and_its_doubt():
    est = estimate_pitch(tone(57.0), SR)  # A3, 220 Hz
    assert est.midi == 57 and not est.unsure and abs(est.hz - 220.0) < 3
    rng = np.random.default_rng(0)
    noise = estimate_pitch((0.3 * rng.standard_normal(SR)).astype(np.float32), SR)
    assert noise.midi is None or noise.unsure
    glide = np.sin(2 * np.pi * np.cumsum(np.geomspace(200, 400, SR)) / SR).astype(np.float32) * 0.3
    assert estimate_pitch(glide, SR).unsure  # an octave glide: no single pitch


def test_import_folder_then_prepare(tmp_path):
    from latentsynth.data.audio.frames import FrameIndex, PrepConfig, prepare
    from latentsynth.dsp.transforms import SpecConfig

    src = tmp_path / "samples"
    (src / "Flute").mkdir(parents=True)
    (src / "Synth").mkdir()
    for midi in (60, 62, 64, 65, 67):
        sf.write(src / "Flute" / f"Fl_{librosa.midi_to_note(midi, unicode=False).replace('#', 's')}_mf.wav",
                 tone(midi), SR)
    for i, midi in enumerate((50, 53, 57)):  # no pitch in the name: pYIN
        sf.write(src / "Synth" / f"lead {chr(97 + i)}.flac", tone(midi, sr=44100), 44100)
    sf.write(src / "Synth" / "pad.aiff", tone(45, sr=32000), 32000, format="AIFF")  # pitch from the CSV
    (src / "labels.csv").write_text("file,pitch,dynamics\nSynth/pad.aiff,A2,pp\nSynth/gone.wav,60,\n")
    sf.write(src / "Synth" / "silence.wav", np.zeros(SR, np.float32), SR)
    (src / "Synth" / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    (src / "notes.txt").write_text("my samples")
    out = tmp_path / "corpus"
    report = import_folder(src, out, quiet=True)
    notes = {n.source_file: n for n in read_metadata(out)}
    assert len(notes) == 9 and report.built == 9
    assert {notes[f"Flute/Fl_{librosa.midi_to_note(m, unicode=False).replace('#', 's')}_mf.wav"].pitch
            for m in (60, 62, 64, 65, 67)} == {60, 62, 64, 65, 67}
    assert [notes[f"Synth/lead {c}.flac"].pitch for c in "abc"] == [50, 53, 57]  # estimated
    pad = notes["Synth/pad.aiff"]
    assert (pad.pitch, pad.dynamics, pad.instrument, pad.sample_rate) == (45, "pp", "Synth", 32000)
    assert notes["Flute/Fl_C4_mf.wav"].instrument == "Flute" and notes["Flute/Fl_C4_mf.wav"].dynamics == "mf"
    skipped = {s["file"]: s["reason"] for s in json.loads((out / "build_report.json").read_text())["skipped"]}
    assert set(skipped) == {"Synth/silence.wav", "Synth/broken.wav", "notes.txt", "Synth/gone.wav"}
    assert "silent" in skipped["Synth/silence.wav"] and "unreadable" in skipped["Synth/broken.wav"]
    assert "missing" in skipped["Synth/gone.wav"] and "not a WAV" in skipped["notes.txt"]
    est = list(csv.DictReader((out / "pitch_estimates.csv").open()))
    assert sorted(r["file"] for r in est) == [f"Synth/lead {c}.flac" for c in "abc"]
    assert all(r["unsure"] == "" for r in est)
    # a second call resumes: nothing written again
    assert import_folder(src, out, quiet=True).kept == 9
    # then prepare as for any corpus
    cache = prepare(out, PrepConfig(spec=SpecConfig(n_fft=512, hop_length=256)), workers=1, quiet=True)
    index = FrameIndex(cache)
    assert len(index.notes) == 9 and index.features.shape[1] == 257


def test_import_folder_cli_names_an_empty_folder(tmp_path):
    from typer.testing import CliRunner

    from latentsynth.cli import app

    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(app, ["audio", "import-folder", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "no WAV, FLAC or AIFF file" in res.output
