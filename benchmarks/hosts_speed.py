"""Speed of the musicians' hosts (issue #24), one torch thread:

* the nn~ module's ``decode`` in host buffers of 2048 / 4096 / 8192 samples, driven as nn~ drives it (controls
  decimated to the hop, state carried), x real time (target >= 50x at 2048), beside the offline Python render of
  the same frames (``Synth.harmonic_params`` + ``dsp.additive_synth`` in one call) as the peer;
* a MIDI file with 8 voices (8-note chords, one per beat, 12 s) rendered by ``synth.midi.render_midi``,
  x real time (target >= 20x), beside FluidSynth rendering the same file with the General MIDI SoundFont (a
  sample-playback peer; skipped when pyfluidsynth or the SoundFont is missing).

    .venv/bin/python benchmarks/hosts_speed.py models/sol/harmonic-wae-mmd [--repeats 5]

writes docs/benchmarks/hosts_speed.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from latentsynth.dsp.harmonic import additive_synth
from latentsynth.folders import load
from latentsynth.synth import Synth
from latentsynth.synth.midi import render_midi
from latentsynth.synth.nn_tilde import build
from latentsynth.threads import set_threads

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks"
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
SECONDS = 12.0


def best_and_median(fn, repeats: int) -> tuple[float, float, float]:
    """Best and median wall seconds, and the best CPU seconds of this thread (torch runs on it with one thread:
    what the work costs when the machine is shared)."""
    fn()
    ts, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.thread_time()
        fn()
        ts.append(time.perf_counter() - t)
        cpu.append(time.thread_time() - c)
    return min(ts), statistics.median(ts), min(cpu)


def decode_controls(model, n: int, n_in: int) -> torch.Tensor:
    """Audio-rate decode inlets ``[1, C, n]``: training codes drifting, a melody, labels, velocity 0.8."""
    from latentsynth.folders import CodeSample

    d, sr = model.latent_dim, model.audio.spec.sample_rate
    codes = CodeSample.load(MODEL_DIR)
    t = torch.arange(n) / sr
    z = codes.codes[100][:, None] + 0.3 * torch.sin(2 * torch.pi * 0.5 * t)[None]
    pitch = 60 + 2 * torch.floor(t * 2 % 6)
    rows = [*z, pitch] + [torch.zeros(n)] * (n_in - d - 2) + [torch.full((n,), 0.8)]
    return torch.stack(rows)[None]


def nn_decode(module, controls: torch.Tensor, buffer: int, hop: int) -> None:
    """``decode`` over ``controls`` buffer by buffer (nn~'s decimation), a fresh stream."""
    c = controls.shape[1]
    module.reset()
    for i in range(0, controls.shape[2], buffer):
        x = controls[:, :, i:i + buffer].reshape(c, 1, -1, hop).select(-1, -1).permute(1, 0, 2)
        module.decode(x)


def write_piece(path: Path, seconds: float) -> None:
    import mido

    f = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0)])
    chords = [[48, 55, 60, 64, 67, 72, 76, 79], [50, 57, 62, 65, 69, 74, 77, 81], [43, 55, 59, 62, 67, 71, 74, 79]]
    for beat in range(int(seconds * 2)):
        ch = chords[beat % 3]
        tr += [mido.Message("note_on", note=p, velocity=90, time=0) for p in ch]
        tr += [mido.Message("note_off", note=p, velocity=0, time=480 if i == 0 else 0) for i, p in enumerate(ch)]
    f.tracks.append(tr)
    f.save(str(path))


def main() -> None:
    global MODEL_DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("model", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    MODEL_DIR = args.model
    set_threads(1)
    model = load(args.model)
    spec = model.audio.spec
    sr, hop = spec.sample_rate, spec.hop_length
    module = build(model)
    n = int(SECONDS * sr) // 8192 * 8192
    controls = decode_controls(model, n, int(module.decode_params[0]))
    audio_s = n / sr
    rows = []
    for buffer in (2048, 4096, 8192):
        nn_decode(module, controls, buffer, hop)  # warm-up (the scripted graph's first runs)
        best, med, cpu = best_and_median(lambda b=buffer: nn_decode(module, controls, b, hop), args.repeats)
        rows.append((f"nn~ decode, buffer {buffer} ({buffer / sr * 1000:.0f} ms)", audio_s / best, audio_s / med,
                     audio_s / cpu))

    synth = Synth.load(args.model)
    frames = controls[0, :, hop - 1::hop]
    d = model.latent_dim
    c = torch.zeros(frames.shape[1], 4)
    c[:, 0] = frames[d]

    def offline():
        with torch.no_grad():
            f0, amps, noise = model.harmonic_params(frames[:d].T.contiguous(), c)
            additive_synth(f0.T, amps.transpose(0, 1) * 0.8, noise.transpose(0, 1) * 0.8, spec, length=n)

    best, med, cpu = best_and_median(offline, args.repeats)
    rows.append(("peer: offline Python render of the same frames (one call)", audio_s / best, audio_s / med,
                 audio_s / cpu))

    with tempfile.TemporaryDirectory() as tmp:
        song = Path(tmp) / "piece.mid"
        write_piece(song, SECONDS)
        piece_s = SECONDS + 0.3
        best, med, cpu = best_and_median(lambda: render_midi(synth, song, timbre="Vc" if "Vc" in (
            synth.info.vocab.get("instrument") or []) else None), args.repeats)
        rows.append(("MIDI: 8 voices, 8-note chords on every beat (synth.midi.render_midi)", piece_s / best,
                     piece_s / med, piece_s / cpu))
        if SOUNDFONT.exists():
            try:
                import pretty_midi

                pm = pretty_midi.PrettyMIDI(str(song))
                best, med, cpu = best_and_median(lambda: pm.fluidsynth(fs=sr, synthesizer=str(SOUNDFONT)),
                                                 args.repeats)
                rows.append(("peer: FluidSynth (FluidR3_GM) of the same file", piece_s / best, piece_s / med,
                             piece_s / cpu))
            except ImportError:
                pass

    load_avg = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# Musicians' hosts: speed (issue #24)",
        "",
        f"`{' '.join(['benchmarks/hosts_speed.py', str(args.model), '--repeats', str(args.repeats)])}` on "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, **1 torch thread**; "
        f"{audio_s:.1f} s of controls for nn~, a {SECONDS:.0f} s piece for MIDI; best and median of "
        f"{args.repeats} runs (x real time = audio seconds / wall seconds), and by the CPU time of the thread "
        f"that runs torch (best run): what the work costs where the machine is shared. Load average at the end: "
        f"{load_avg:.1f} on {os.cpu_count()} cores: the wall figures are slowed by other jobs, the CPU figures "
        "much less (cache and memory are shared too).",
        "",
        f"Model: `{model.cfg.name}` ({model.decoder.k} partials, {model.decoder.n} noise bands, "
        f"hop {hop} at {sr} Hz). Targets: nn~ decode >= 50x at 2048, MIDI 8 voices >= 20x.",
        "",
        "| path | x real time, wall (best) | wall (median) | CPU time (best) |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {b:.1f} | {m:.1f} | {c:.1f} |" for name, b, m, c in rows],
        "",
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hosts_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
