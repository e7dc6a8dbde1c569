"""Where the MR-STFT distance of a frame model comes from: its two terms per resolution, and the quiet bins.

For the audio notes that ``latentsynth.evaluation.audio.audio_scores`` scores (the same notes, the same 32
Griffin-Lim iterations), per STFT resolution of ``latentsynth.dsp.multi_resolution_stft_distance``:

* ``sc``: spectral convergence of the re-analysed audio against the original;
* ``log_l1``: mean |log(|X| + eps) - log(|Y| + eps)| over all bins (eps = 1e-4, as the metric);
* ``quiet``: the fraction of bins more than 60 dB below the note's peak, and the log term over those bins
  (``log_l1_quiet``) and over the others (``log_l1_loud``), with the mean signed difference on the quiet bins
  (``bias_quiet``: > 0 where the reconstruction is louder there);

for the reconstruction from the encoder's codes (``encoder``), from codes fitted to each note (``fitted``,
``AutoEncoder.fit_codes``) and for the original magnitudes through the same inversion (``oracle``, the floor).

    .venv/bin/python benchmarks/mrstft_parts.py models/sol/harmonic-ae --corpus runs/audio/quick

Writes docs/benchmarks/mrstft_parts.{csv,md}.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def parts(x: torch.Tensor, y: torch.Tensor, n_fft: int, hop: int) -> dict[str, float]:
    """The terms of one resolution for the original ``x [1, N]`` and the rebuilt ``y [1, N]``."""
    from latentsynth.dsp import spectral_convergence, stft
    from latentsynth.dsp.metrics import MR_EPS

    mx, my = stft(x, n_fft, hop).abs(), stft(y, n_fft, hop).abs()
    d = torch.log(my + MR_EPS) - torch.log(mx + MR_EPS)
    quiet = mx < mx.max() * 1e-3  # -60 dB
    return {"sc": float(spectral_convergence(mx, my)), "log_l1": float(d.abs().mean()),
            "quiet": float(quiet.float().mean()), "log_l1_quiet": float(d[quiet].abs().mean()),
            "log_l1_loud": float(d[~quiet].abs().mean()), "bias_quiet": float(d[quiet].mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--corpus", help="the model's corpus folder, if it moved")
    ap.add_argument("--fit-steps", type=int, default=20)
    ap.add_argument("--audio-notes", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from latentsynth import load
    from latentsynth.data.audio.datamodule import FrameDataModule
    from latentsynth.dsp import invert
    from latentsynth.dsp.metrics import MR_RESOLUTIONS
    from latentsynth.evaluation.audio import audio_note_picks, note_audio, note_magnitudes, pick_notes
    from latentsynth.folders import atomic_write_text, write_csv
    from latentsynth.models.conditioning import DbScale

    model = load(args.model).eval()
    data = FrameDataModule.for_run(model.cfg, args.corpus)
    db = DbScale.from_info(data.audio_info())
    scored = pick_notes(data, 64)
    notes = [scored[k] for k in audio_note_picks(len(scored), args.audio_notes)]  # audio_scores' audio notes
    rows = []
    for note in notes:
        y = torch.from_numpy(note_audio(data, note))[None]
        ref, est = note_magnitudes(model, data, note, db)
        _, fit = note_magnitudes(model, data, note, db, args.fit_steps)
        for what, mag in (("encoder", est), ("fitted", fit), ("oracle", ref)):
            rec = invert(mag[None], data.spec, n_iter=32, length=y.shape[1])
            for n_fft, hop in MR_RESOLUTIONS:
                rows.append({"note": data.notes[note]["path"], "what": what, "n_fft": n_fft,
                             **parts(y, rec, n_fft, hop)})
    keys = ["sc", "log_l1", "quiet", "log_l1_quiet", "log_l1_loud", "bias_quiet"]
    table = []
    for what in ("encoder", "fitted", "oracle"):
        for n_fft, _ in MR_RESOLUTIONS:
            sel = [r for r in rows if r["what"] == what and r["n_fft"] == n_fft]
            table.append({"what": what, "n_fft": n_fft, **{k: round(float(np.mean([r[k] for r in sel])), 3)
                                                          for k in keys}})
        sel = [r for r in table if r["what"] == what]
        table.append({"what": what, "n_fft": "MR-STFT", "sc": None, "log_l1": None, "quiet": None,
                      "log_l1_quiet": None, "log_l1_loud": None, "bias_quiet": None,
                      "mrstft": round(float(np.mean([r["sc"] + r["log_l1"] for r in sel])), 3)})
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "mrstft_parts.csv", rows)
    lines = [f"# MR-STFT of `{args.model}`, term by term", "",
             f"Measured by `python benchmarks/mrstft_parts.py {args.model}"
             + (f" --corpus {args.corpus}" if args.corpus else "") + f"` on the {len(notes)} audio notes of its "
             f"evaluation; fitted codes: {args.fit_steps} steps. Means over the notes (per note: mrstft_parts.csv).",
             "", "| codes | n_fft | SC | log L1 | quiet bins | log L1, quiet | log L1, loud | mean log diff, quiet | "
             "MR-STFT |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table:
        cells = ["" if r.get(k) is None else f"{r[k]:.3f}" for k in (*keys, "mrstft")]
        lines.append(f"| {r['what']} | {r['n_fft']} | " + " | ".join(cells) + " |")
    atomic_write_text(args.out / "mrstft_parts.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
