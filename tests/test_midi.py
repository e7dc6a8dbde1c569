"""MIDI files rendered with a harmonic model: a file the test writes with mido (a chord, a tempo change, a melody)
-> every note's onset and f0 measured in the WAV against the times and pitches the test computed from the ticks
and tempos itself; bad files -> one clear error."""

from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from latentsynth.cli import app
from latentsynth.synth import Synth
from latentsynth.synth.midi import MidiError, read_midi, render_midi

MODEL = Path(__file__).resolve().parents[1] / "models" / "sol" / "harmonic-wae-mmd"
pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="reference model not in the checkout")
TPB = 480
CHORD = [60, 64, 67]  # beats 0-2 at 120 bpm (program 73, flute)
MELODY = [69, 71, 73, 74]  # one beat each from beat 2, after the change to 90 bpm (program 42, cello)


def write_song(path: Path) -> list[tuple[float, float, int]]:
    """Writes the song; returns its notes as (start s, end s, pitch) computed here from ticks and tempos."""
    tempo1, tempo2 = mido.bpm2tempo(120), mido.bpm2tempo(90)
    meta = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=tempo1, time=0),
                           mido.MetaMessage("set_tempo", tempo=tempo2, time=2 * TPB)])
    chord = mido.MidiTrack([mido.MetaMessage("track_name", name="flute", time=0),
                            mido.Message("program_change", program=73, channel=0, time=0)])
    chord += [mido.Message("note_on", note=p, velocity=100, channel=0, time=0) for p in CHORD]
    chord += [mido.Message("note_off", note=p, velocity=0, channel=0, time=2 * TPB if i == 0 else 0)
              for i, p in enumerate(CHORD)]
    mel = mido.MidiTrack([mido.Message("program_change", program=42, channel=1, time=0)])
    for i, p in enumerate(MELODY):
        mel.append(mido.Message("note_on", note=p, velocity=30, channel=1, time=2 * TPB if i == 0 else 0))
        mel.append(mido.Message("note_off", note=p, velocity=0, channel=1, time=TPB))
    f = mido.MidiFile(ticks_per_beat=TPB)
    f.tracks += [meta, chord, mel]
    f.save(str(path))
    b1, b2 = tempo1 / 1e6, tempo2 / 1e6  # seconds per beat
    notes = [(0.0, 2 * b1, p) for p in CHORD]
    notes += [(2 * b1 + i * b2, 2 * b1 + (i + 1) * b2, p) for i, p in enumerate(MELODY)]
    return notes


def stft(y: np.ndarray, hop: int = 32, n_fft: int = 2048) -> np.ndarray:
    """Magnitudes ``[frames, bins]``, frame ``i`` centred at sample ``i * hop`` (periodic Hann)."""
    pad = np.pad(y, n_fft // 2)
    frames = np.lib.stride_tricks.sliding_window_view(pad, n_fft)[::hop] * np.hanning(n_fft + 1)[:-1]
    return np.abs(np.fft.rfft(frames.astype(np.float32), axis=1))


def band_level(spec: np.ndarray, sr: int, freq: float, n_fft: int = 2048) -> np.ndarray:
    """Magnitude at ``freq`` (the two nearest bins) per frame."""
    k = int(np.floor(freq * n_fft / sr))
    return spec[:, k:k + 2].sum(1)


def peak_f0(seg: np.ndarray, sr: int, near: float) -> float:
    """The spectral peak within a semitone of ``near`` (Hann, 16x zero-padding, parabolic interpolation)."""
    n = len(seg) * 16
    mag = np.log(np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n)) + 1e-12)
    lo, hi = int(near * 2 ** (-1 / 12) * n / sr), int(near * 2 ** (1 / 12) * n / sr)
    i = lo + int(np.argmax(mag[lo:hi]))
    a, b, c = mag[i - 1], mag[i], mag[i + 1]
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * sr / n


def test_chord_and_melody_with_a_tempo_change(tmp_path):
    song = tmp_path / "song.mid"
    truth = write_song(song)
    synth = Synth.load(MODEL)
    sr, hop = synth.spec.sample_rate, synth.spec.hop_length
    notes = read_midi(song)
    assert [(round(n.start, 6), n.pitch) for n in notes] == sorted((round(s, 6), p) for s, _, p in truth)
    y = render_midi(synth, song, timbre="Fl", programs={"73": "Fl", "42": "Vc"}, release=0.2)
    assert y.dtype == np.float32 and np.isfinite(y).all() and np.abs(y).max() <= 0.99
    assert len(y) >= int((truth[-1][1] + 0.2) * sr) - 1  # the last release tail is kept
    spec = stft(y)
    for start, end, pitch in truth:
        f = 440 * 2 ** ((pitch - 69) / 12)
        level = band_level(spec, sr, f)
        t = np.arange(len(level)) * 32 / sr
        inside = (t >= start) & (t <= end)
        first = np.nonzero((t >= start - 0.2) & (level >= 0.5 * level[inside].max()))[0][0]
        assert abs(t[first] - start) <= hop / sr, f"note {pitch}: onset at {t[first]:.4f} s, MIDI says {start:.4f}"
        seg = y[int((start + 0.1) * sr):int((end - 0.05) * sr)]
        cents = 1200 * np.log2(peak_f0(seg, sr, f) / f)
        assert abs(cents) < 20, f"note {pitch}: {cents:.1f} cents off"


def test_cli_writes_the_wav_and_bad_files_fail_clearly(tmp_path):
    song = tmp_path / "song.mid"
    write_song(song)
    runner = CliRunner()
    res = runner.invoke(app, ["synth", "midi", str(MODEL), str(song), "-o", str(tmp_path / "s.wav"),
                              "--sweep", "note", "--release", "0.1"])
    assert res.exit_code == 0, res.output
    y, sr = sf.read(tmp_path / "s.wav")
    assert sr == 22050 and len(y) > 3.5 * sr

    empty = tmp_path / "empty.mid"
    f = mido.MidiFile()
    f.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=500000, time=0)]))
    f.save(str(empty))
    corrupt = tmp_path / "corrupt.mid"
    corrupt.write_bytes(b"MThd\x00\x00\x00\x06garbage" + bytes(range(50)))
    drums = tmp_path / "drums.mid"
    f = mido.MidiFile()
    f.tracks.append(mido.MidiTrack([mido.Message("note_on", note=36, velocity=100, channel=9, time=0),
                                    mido.Message("note_off", note=36, velocity=0, channel=9, time=480)]))
    f.save(str(drums))
    for path, words in [(empty, "no notes"), (corrupt, "not a readable"), (drums, "only drum notes"),
                        (tmp_path / "missing.mid", "no such")]:
        with pytest.raises(MidiError, match=words):
            read_midi(path)
        res = runner.invoke(app, ["synth", "midi", str(MODEL), str(path)])
        assert res.exit_code != 0 and words in res.output and "Traceback" not in res.output
