"""Round trip of the audio pipeline: audio -> representation (compressed, as cached) -> magnitude -> Griffin-Lim
-> audio, per setting, scored against the original (``latentsynth audio validate`` writes its table into
docs/results-audio.md between the validate markers)."""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path


def pick_corpus_notes(notes, n: int):
    """About ``n`` notes spread over instruments and, within each, evenly over the pitch range."""
    from ..data.audio.corpus import spread

    by_inst: dict[str, list] = {}
    for note in sorted(notes, key=lambda x: (x.instrument, x.pitch, x.style, x.dynamics)):
        by_inst.setdefault(note.instrument, []).append(note)
    per = max(1, math.ceil(n / max(len(by_inst), 1)))
    picked = []
    for group in by_inst.values():
        picked += spread(group, per) if per > 1 else [group[len(group) // 2]]  # one per instrument: its middle
    return picked[: max(n, len(by_inst))]


SETTINGS = (("stft", 32, 0.0), ("stft", 32, 0.99), ("stft", 100, 0.99), ("mel", 32, 0.99), ("mel", 100, 0.99),
            ("cqt", 32, 0.99), ("cqt", 100, 0.99), ("cqt-librosa", 32, 0.99))


def roundtrip(corpus: Path, n_notes: int = 32, settings=SETTINGS, examples: Path | None = None,
              n_examples: int = 2, quiet: bool = False) -> list[dict]:
    """Audio -> representation (compressed, as cached) -> magnitude -> audio, for each setting.

    Returns one row per setting with mean spectral convergence and log-spectral distance (on the linear
    STFT magnitude of the analysis settings) and multi-resolution STFT distance, plus seconds per note.
    """
    import numpy as np
    import torch

    from ..data.audio.corpus import read_metadata
    from ..data.audio.frames import PrepConfig, load_note
    from ..dsp import (
        SpecConfig,
        compress,
        decompress,
        invert,
        log_spectral_distance,
        magnitude,
        multi_resolution_stft_distance,
        spectral_convergence,
        stft,
    )
    from ..dsp.audiofile import write_wav
    from ..dsp.griffinlim import invert_cqt_librosa

    notes = pick_corpus_notes(read_metadata(corpus), n_notes)
    prep = PrepConfig()
    audio = [load_note(corpus / n.path, prep) for n in notes]
    base = prep.spec
    ref = [torch.from_numpy(magnitude(y, base)) for y in audio]
    freqs = np.fft.rfftfreq(base.n_fft, 1 / base.sample_rate)
    band = torch.from_numpy((freqs >= base.fmin) & (freqs <= base.fmax))  # the band mel keeps
    rows, recon = [], {}
    for rep, n_iter, mom in settings:
        spec = SpecConfig(**{**base.model_dump(), "representation": rep.removesuffix("-librosa")})
        t0 = time.time()
        outs = []
        for y in audio:  # one note at a time: notes differ in length
            mag = torch.from_numpy(decompress(compress(magnitude(y, spec), spec), spec))
            if rep == "cqt-librosa":  # the reference inversion, for comparison
                outs.append(torch.from_numpy(invert_cqt_librosa(mag, spec, n_iter, mom, length=len(y))[0]))
            else:
                outs.append(invert(mag, spec, n_iter, mom, length=len(y)))
        dt = (time.time() - t0) / len(audio)
        sc, lsd, lsd_band, mr = [], [], [], []
        for y, r, o in zip(audio, ref, outs, strict=False):
            est = stft(o[None].float(), base.n_fft, base.hop_length).abs()[0]
            sc.append(float(spectral_convergence(r, est)))
            lsd.append(float(log_spectral_distance(r, est)))
            lsd_band.append(float(log_spectral_distance(r[band], est[band])))
            mr.append(float(multi_resolution_stft_distance(torch.from_numpy(y)[None], o[None].float())[0]))
        rows.append({"representation": rep, "n_iter": n_iter, "momentum": mom, "notes": len(audio),
                     "spectral_convergence": float(np.mean(sc)), "sc_std": float(np.std(sc)),
                     "log_spectral_distance_db": float(np.mean(lsd)),
                     "lsd_64_8000_db": float(np.mean(lsd_band)), "mr_stft": float(np.mean(mr)),
                     "seconds_per_note": dt})
        recon[(rep, n_iter, mom)] = outs
        if not quiet:
            r = rows[-1]
            print(f"{rep:5s} iters {n_iter:3d} momentum {mom:.2f}: SC {r['spectral_convergence']:.3f} "
                       f"LSD {r['log_spectral_distance_db']:.2f} dB ({r['lsd_64_8000_db']:.2f} dB in 64-8000 Hz) "
                       f"MR-STFT {r['mr_stft']:.3f}", file=sys.stderr)
    if examples is not None:
        _examples(examples, notes, audio, recon, base, n_examples, write_wav)
    return rows


def _examples(folder: Path, notes, audio, recon, spec, n_examples: int, write_wav) -> None:
    """A few short example WAVs (original + best setting of each representation) and one figure."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    best = {}
    for key in recon:  # the most iterations with momentum, per representation
        if key[2] > 0 and not key[0].endswith("-librosa") and (key[0] not in best or key[1] > best[key[0]][1]):
            best[key[0]] = key
    pick = [i for i, n in enumerate(notes) if n.style == "ord"][:: max(1, len(notes) // (2 * n_examples))]
    pick = pick[:n_examples]
    clip = int(0.6 * spec.sample_rate)
    fig, axes = plt.subplots(len(pick), 1 + len(best), figsize=(2.0 * (1 + len(best)), 1.8 * len(pick)),
                             squeeze=False)
    for row, i in enumerate(pick):
        stem = Path(notes[i].path).stem.replace("#", "s")  # no '#' in Markdown links
        versions = {"original": audio[i]} | {k: recon[v][i].numpy() for k, v in best.items()}
        for col, (name, y) in enumerate(versions.items()):
            write_wav(folder / f"{stem}-{name}.wav", y[:clip], spec.sample_rate)
            db = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=spec.n_fft, hop_length=spec.hop_length)),
                                         ref=1.0, top_db=80)
            ax = axes[row, col]
            ax.imshow(db[:256:2, :clip // spec.hop_length * 2], origin="lower", aspect="auto", cmap="magma",
                      vmin=db.max() - 80, interpolation="nearest")
            ax.set_title(f"{stem}\n{name}" if col == 0 else name, fontsize=7)
            ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(folder / "roundtrip.png", dpi=60)
    plt.close(fig)


def markdown(rows: list[dict], command: str, corpus: Path, spec, examples: Path | None, md_path: Path) -> str:
    lines = [
        "# Audio pipeline: round-trip quality",
        "",
        "Audio -> magnitude representation (dB-compressed as in the frame cache) -> linear magnitude -> "
        "Griffin-Lim -> audio, on notes spread over every instrument and its pitch range. Generated by:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Corpus `{corpus}`; preprocessing defaults: {spec.sample_rate} Hz, peak-normalised, trimmed at 60 dB, "
        f"cropped to 2 s; STFT n_fft {spec.n_fft}, hop {spec.hop_length}; mel {spec.n_mels} bins "
        f"{spec.fmin:.0f}-{spec.fmax:.0f} Hz, mapped back to linear by NNLS (torch); CQT "
        f"{spec.bins_per_octave} bins/octave x {spec.n_octaves} octaves from C2, mapped back to linear by a "
        "non-negative linear map fitted on pure tones (`dsp.transforms.cqt_to_linear`). All three then use the "
        "torch Griffin-Lim (`latentsynth.dsp.griffinlim`); `cqt-librosa` is the reference CQT inversion "
        "`librosa.griffinlim_cqt`, for comparison.",
        "",
        "SC: spectral convergence `||S - S_hat||_F / ||S||_F` on the linear STFT magnitude (lower is better); "
        "LSD: log-spectral distance (dB) over all bins and over 64-8000 Hz only (the mel band: mel discards "
        "everything outside it, which dominates its full-band LSD); MR-STFT: multi-resolution STFT distance "
        "(SC + mean |log| difference, averaged over n_fft 512/1024/2048) between the original and reconstructed audio.",
        "",
        "| representation | iterations | momentum | notes | SC (mean ± std) | LSD (dB) | LSD 64-8000 Hz (dB) "
        "| MR-STFT | s / note |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['representation']} | {r['n_iter']} | {r['momentum']} | {r['notes']} | "
                     f"{r['spectral_convergence']:.3f} ± {r['sc_std']:.3f} | {r['log_spectral_distance_db']:.2f} | "
                     f"{r['lsd_64_8000_db']:.2f} | "
                     f"{r['mr_stft']:.3f} | {r['seconds_per_note']:.2f} |")
    if examples is not None:
        rel = Path("audio") if examples.resolve().parent == md_path.resolve().parent else examples
        lines += ["", "## Examples", "",
                  f"Spectrograms (dB, 0-5.5 kHz, first 1.2 s) of originals and reconstructions, 0.6 s clips as WAVs in "
                  f"`{rel}/`:", "", f"![round trip]({rel}/roundtrip.png)", ""]
        for w in sorted(examples.glob("*.wav")):
            lines.append(f"- [{w.name}]({rel}/{w.name})")
    return "\n".join(lines) + "\n"


VALIDATE_START, VALIDATE_END = "<!-- validate:start -->", "<!-- validate:end -->"


def splice_section(path: Path, text: str) -> str:
    """``text`` as the new content of ``path``: if the file exists and holds the validate markers, only the part
    between them is replaced (headings one level down), so a hand-written results page can carry the table."""
    if path.is_file():
        old = path.read_text()
        if VALIDATE_START in old and VALIDATE_END in old:
            body = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
            head, tail = old.split(VALIDATE_START, 1)[0], old.split(VALIDATE_END, 1)[1]
            return f"{head}{VALIDATE_START}\n{body}\n{VALIDATE_END}{tail}"
    return text
