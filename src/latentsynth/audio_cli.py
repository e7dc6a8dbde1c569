"""``latentsynth audio ...``: build note corpora, prepare cached spectrogram frames, validate the round trip."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Audio note corpora, spectrogram frames and phase reconstruction.")


def _guard(fn, *args, **kwargs):
    from pydantic import ValidationError

    from .data.idx import DataError

    try:
        return fn(*args, **kwargs)
    except (DataError, FileNotFoundError, ValueError) as err:
        if isinstance(err, ValidationError):
            err = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}"
                            for e in err.errors())
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


def _split_list(s: str | None) -> list[str] | None:
    return [x.strip() for x in s.split(",") if x.strip()] if s else None


def _report(report, out: Path) -> None:
    typer.echo(report.summary())
    for s in report.skipped[:10]:
        typer.echo(f"  skipped {s['file']}: {s['reason']}")
    if len(report.skipped) > 10:
        typer.echo(f"  ... {len(report.skipped) - 10} more in {out / 'build_report.json'}")
    typer.echo(f"corpus: {out} (metadata.csv, build_report.json)")


@app.command()
def render(
    out: Path = typer.Option(Path("runs/audio/fluidr3"), "--out", "-o", help="corpus folder"),
    soundfont: Path = typer.Option(None, help="a .sf2 file (default FluidR3_GM, else pretty-midi's TimGM6mb)"),
    instruments: str = typer.Option(None, help="comma list of abbreviations (Fl,Ob,...); default all"),
    dynamics: str = typer.Option("pp,mf,ff", help="comma list from pp,p,mf,f,ff"),
    sample_rate: int = typer.Option(22050, help="Hz"),
    sustain: float = typer.Option(1.5, help="seconds the key is held"),
    release: float = typer.Option(0.5, help="seconds of release tail"),
    styles: bool = typer.Option(True, help="also pizzicato / tremolo strings and muted trumpet"),
    seed: int = typer.Option(0, help="seed of the stratified split"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Render single notes of 16 orchestral instruments over their tessitura with FluidSynth."""
    from .data.audio.fluidsynth import render_corpus

    report = _guard(render_corpus, out, soundfont, _split_list(instruments), tuple(_split_list(dynamics) or ()),
                    sample_rate, sustain, release, styles, seed, quiet)
    _report(report, out)


@app.command("import-tinysol")
def import_tinysol(
    src: Path = typer.Argument(..., help="unpacked TinySOL / OrchideaSOL folder"),
    out: Path = typer.Option(Path("runs/audio/tinysol"), "--out", "-o", help="corpus folder"),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Import a TinySOL / OrchideaSOL folder (labels from its metadata CSV, else from file names)."""
    from .data.audio.importers import import_sol

    _report(_guard(import_sol, src, out, seed=seed, quiet=quiet), out)


@app.command("import-nsynth")
def import_nsynth(
    src: Path = typer.Argument(..., help="NSynth split folder with examples.json and audio/"),
    out: Path = typer.Option(Path("runs/audio/nsynth"), "--out", "-o", help="corpus folder"),
    families: str = typer.Option(None, help="comma list of instrument_family_str to keep (brass,string,...)"),
    sources: str = typer.Option(None, help="comma list of instrument_source_str (acoustic,electronic,synthetic)"),
    limit: int = typer.Option(None, help="keep at most N notes"),
    split: str = typer.Option(None, help="train/val/test for every note (default: from the folder name)"),
    seed: int = typer.Option(0),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Import an NSynth folder (examples.json + audio/<note_str>.wav)."""
    from .data.audio.importers import import_nsynth as run

    _report(_guard(run, src, out, _split_list(families), _split_list(sources), limit, split, seed=seed,
                   quiet=quiet), out)


def _pitch_range(s: str | None) -> tuple[int, int] | None:
    from .data.audio.corpus import parse_pitch

    if not s:
        return None
    try:
        lo, hi = (int(p) if p.lstrip("-").isdigit() else parse_pitch(p) for p in s.split(":"))
    except ValueError:
        raise ValueError(f"--holdout-pitch: expected LOW:HIGH as MIDI numbers or names (C2:B2), got {s!r}") from None
    return lo, hi


@app.command()
def prepare(
    corpus: Path = typer.Argument(..., help="corpus folder (metadata.csv + wav/)"),
    representation: str = typer.Option("stft", help="stft, mel or cqt"),
    sample_rate: int = typer.Option(22050),
    n_fft: int = typer.Option(1024),
    hop_length: int = typer.Option(256),
    n_mels: int = typer.Option(128),
    bins_per_octave: int = typer.Option(24),
    compression: str = typer.Option("db", help="db, log1p or none"),
    max_duration: float = typer.Option(2.0, help="crop notes to this many seconds (0: keep all)"),
    normalize: str = typer.Option("peak", help="peak, rms or none"),
    cache: Path = typer.Option(None, help="cache root (default <corpus>/cache)"),
    workers: int = typer.Option(2),
    val: float = typer.Option(0.1),
    test: float = typer.Option(0.1),
    seed: int = typer.Option(0),
    resplit: bool = typer.Option(False, help="new stratified split instead of the corpus split column"),
    holdout_instruments: str = typer.Option(None, help="comma list of instruments put entirely in test"),
    holdout_pitch: str = typer.Option(None, help="MIDI range put in test, e.g. 21:35 or A0:B1"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Preprocess a corpus into cached, memory-mapped spectrogram frames (resumes a killed build)."""
    from .data.audio.frames import FrameDataset, PrepConfig, SplitConfig
    from .data.audio.frames import prepare as run
    from .dsp.transforms import SpecConfig
    from .folders import read_json

    def go():
        spec = SpecConfig(representation=representation, sample_rate=sample_rate, n_fft=n_fft,
                          hop_length=hop_length, n_mels=n_mels, bins_per_octave=bins_per_octave,
                          compression=compression, fmax=min(8000.0, sample_rate / 2))
        cfg = PrepConfig(spec=spec, max_duration=max_duration or None, normalize=normalize)
        splits = SplitConfig(from_corpus=not resplit, val=val, test=test, seed=seed,
                             holdout_instruments=tuple(_split_list(holdout_instruments) or ()),
                             holdout_pitch=_pitch_range(holdout_pitch))
        t0 = time.time()
        out = run(corpus, cfg, cache, splits, workers, quiet)
        report = read_json(out / "build_report.json")
        sizes = {s: len(FrameDataset(out, s, splits=splits)) for s in ("train", "val", "test")}
        typer.echo(f"prepared {read_json(out / 'manifest.json')['notes']} notes in {time.time() - t0:.1f} s "
                   f"({len(report['skipped'])} skipped, see build_report.json); frames: "
                   + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        typer.echo(f"cache: {out}")

    _guard(go)


# ------------------------------------------------------------------------------------------ validate


def _pick_notes(notes, n: int):
    """About ``n`` notes spread over instruments and, within each, evenly over the pitch range."""
    by_inst: dict[str, list] = {}
    for note in sorted(notes, key=lambda x: (x.instrument, x.pitch, x.style, x.dynamics)):
        by_inst.setdefault(note.instrument, []).append(note)
    per = max(1, math.ceil(n / max(len(by_inst), 1)))
    picked = []
    for group in by_inst.values():
        idx = sorted({round(i * (len(group) - 1) / max(per - 1, 1)) for i in range(per)}) if per > 1 else [
            len(group) // 2]
        picked += [group[i] for i in idx]
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

    from .data.audio.corpus import read_metadata, write_wav
    from .data.audio.frames import PrepConfig, load_note
    from .dsp import (
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
    from .dsp.griffinlim import invert_cqt_librosa

    torch.set_num_threads(1)  # one note at a time: small FFTs, one thread is as fast and never spin-waits
    notes = _pick_notes(read_metadata(corpus), n_notes)
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
            typer.echo(f"{rep:5s} iters {n_iter:3d} momentum {mom:.2f}: SC {r['spectral_convergence']:.3f} "
                       f"LSD {r['log_spectral_distance_db']:.2f} dB ({r['lsd_64_8000_db']:.2f} dB in 64-8000 Hz) "
                       f"MR-STFT {r['mr_stft']:.3f}", err=True)
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


def _markdown(rows: list[dict], command: str, corpus: Path, spec, examples: Path | None, md_path: Path) -> str:
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


@app.command()
def validate(
    corpus: Path = typer.Argument(..., help="corpus folder"),
    notes: int = typer.Option(32, help="number of notes (spread over instruments and pitches)"),
    out: Path = typer.Option(Path("docs/results-audio.md"), "--out", "-o",
                             help="Markdown file: its section between the validate markers, else the whole file"),
    examples: Path = typer.Option(Path("docs/audio"), help="folder for example WAVs and the figure"),
    csv_out: Path = typer.Option(None, "--csv", help="also write the rows as CSV"),
    settings: str = typer.Option(",".join(f"{r}:{i}:{m}" for r, i, m in SETTINGS),
                                 help="comma list of representation:iterations:momentum"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Round trip audio -> representation -> Griffin-Lim over a corpus; writes the table as Markdown."""
    import csv as _csv
    import io
    import shlex
    import sys

    from .dsp import SpecConfig
    from .folders import atomic_write_text

    def go():
        try:
            todo = [(r, int(i), float(m)) for r, i, m in (x.split(":") for x in settings.split(","))]
        except ValueError:
            raise ValueError(f"--settings: expected representation:iterations:momentum, got {settings!r}") from None
        rows = roundtrip(corpus, notes, todo, examples=examples, quiet=quiet)
        cmd = "latentsynth audio validate " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index(
            "validate") + 1:]) if "validate" in sys.argv else f"latentsynth audio validate {corpus}"
        atomic_write_text(out, splice_section(out, _markdown(rows, cmd, corpus, SpecConfig(), examples, out)))
        if csv_out:
            buf = io.StringIO()
            w = _csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader(), w.writerows(rows)
            atomic_write_text(csv_out, buf.getvalue())
        typer.echo(f"wrote {out}")

    _guard(go)


# --------------------------------------------------------------------------------------- reconstruct


@app.command("reconstruct")
def reconstruct_cmd(
    run: Path = typer.Argument(..., help="model folder of a frame model (data.name=frames)"),
    notes: int = typer.Option(4, "--notes", "-n", help="how many test notes (spread over the test split)"),
    names: str = typer.Option(None, "--names", help="comma list of note file stems instead (e.g. Fl-ord-A4-mf-N-N)"),
    out: Path = typer.Option(None, "--out", "-o", help="folder (default: <run>/audio)"),
    n_iter: int = typer.Option(64, "--iterations", help="Griffin-Lim iterations"),
    corpus: str = typer.Option(None, "--corpus", help="the corpus folder, if it moved since training"),
) -> None:
    """Original, reconstructed and Griffin-Lim-only ("oracle": the original magnitudes through the same
    inversion) WAVs of test notes, a spectrogram figure and their scores."""
    import torch

    from .data import data_module
    from .data.audio.corpus import write_wav
    from .dsp import invert, multi_resolution_stft_distance, spectral_convergence
    from .evaluation.audio import note_audio, note_magnitudes, pick_notes, plot_notes
    from .folders import load

    def go():
        model = load(run)
        if model.cfg.data.kind != "frames":
            raise ValueError(f"{run}: a model of {model.cfg.data.name} images, not of spectrogram frames")
        data = data_module(model.cfg, corpus)
        if names:
            stems = {Path(r["path"]).stem: k for k, r in enumerate(data.notes)}
            missing = [s for s in names.split(",") if s not in stems]
            if missing:
                raise ValueError(f"--names: not in the corpus: {', '.join(missing)}")
            chosen = [stems[s] for s in names.split(",")]
        else:
            chosen = pick_notes(data, notes)
        folder = out or run / "audio"
        sr = data.spec.sample_rate
        for k in chosen:
            stem = Path(data.notes[k]["path"]).stem.replace("#", "s")
            y = note_audio(data, k)
            ref, est = note_magnitudes(model, data, k)
            rec = invert(est[None], data.spec, n_iter=n_iter, length=len(y))[0]
            ora = invert(ref[None], data.spec, n_iter=n_iter, length=len(y))[0]
            for what, sig in (("original", y), ("reconstruction", rec.numpy()), ("oracle", ora.numpy())):
                write_wav(folder / f"{stem}-{what}.wav", sig, sr)
            yt = torch.from_numpy(y)[None]
            typer.echo(f"{stem} ({data.note_split[k]}): SC {float(spectral_convergence(ref, est)):.3f}  "
                       f"MR-STFT {float(multi_resolution_stft_distance(yt, rec[None])[0]):.3f} "
                       f"(oracle {float(multi_resolution_stft_distance(yt, ora[None])[0]):.3f})")
        fig = plot_notes(model, data, chosen, folder / "spectrograms.png")
        typer.echo(f"wrote {3 * len(chosen)} WAVs and {fig}")

    _guard(go)


if __name__ == "__main__":
    app()
