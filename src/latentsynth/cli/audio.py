"""``latentsynth audio ...``: build note corpora, prepare cached spectrogram frames, validate the round trip
(:mod:`latentsynth.evaluation.roundtrip`), write WAVs of a frame model's reconstructions."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from ..evaluation.roundtrip import SETTINGS as ROUNDTRIP_SETTINGS
from .common import THREADS, guarded, use_threads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Audio corpora (render, import), spectrogram frames, round trips.")


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
    soundfont: list[Path] = typer.Option(None, help="a .sf2/.sf3 file (default FluidR3_GM, else pretty-midi's "
                                                    "TimGM6mb); repeat it for a corpus of several sound sources "
                                                    "(wav/<stem>/, twins share a split)"),
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
    from ..data.audio.fluidsynth import render_corpus

    report = guarded(render_corpus, out, soundfont, _split_list(instruments), tuple(_split_list(dynamics) or ()),
                    sample_rate, sustain, release, styles, seed, quiet)
    _report(report, out)


@app.command("import-tinysol")
def import_tinysol(
    src: Path = typer.Argument(..., help="unpacked TinySOL / OrchideaSOL folder"),
    out: Path = typer.Option(Path("runs/audio/tinysol"), "--out", "-o", help="corpus folder"),
    seed: int = typer.Option(0),
    trust_csv: bool = typer.Option(False, "--trust-csv", help="keep a file whose CSV pitch contradicts its name "
                                                              "(with the CSV's pitch) instead of skipping it"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Import a TinySOL / OrchideaSOL folder (labels from its metadata CSV, else from file names)."""
    from ..data.audio.importers import import_sol

    _report(guarded(import_sol, src, out, seed=seed, quiet=quiet, trust_csv=trust_csv), out)


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
    from ..data.audio.importers import import_nsynth as run

    _report(guarded(run, src, out, _split_list(families), _split_list(sources), limit, split, seed=seed,
                   quiet=quiet), out)


@app.command("import-folder")
def import_folder(
    src: Path = typer.Argument(..., help="folder of WAV/FLAC/AIFF notes (subfolders included)"),
    out: Path = typer.Option(None, "--out", "-o", help="corpus folder (default runs/audio/<folder name>)"),
    pattern: str = typer.Option("{instrument}/{name}", help="labels from the path: fields {instrument} {family} "
                                "{style} {dynamics} {pitch} {name} {_}; pitch names (C4, Fs4) or MIDI numbers and "
                                "pp..ff in file names are found anyway"),
    unsure: str = typer.Option("keep", help="an unsure pYIN pitch estimate: keep (named as a warning) or skip"),
    seed: int = typer.Option(0, help="seed of the stratified split"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Import your own samples: labels from a CSV in the folder (a file/path column), else from folder and file
    names by --pattern; the pitch estimated with pYIN where nothing names it (flagged when unsure)."""
    from ..data.audio.folder_import import import_folder as run

    out = out or Path("runs/audio") / src.resolve().name
    _report(guarded(run, src, out, pattern, unsure, seed=seed, quiet=quiet), out)


def _pitch_range(s: str | None) -> tuple[int, int] | None:
    from ..data.audio.corpus import parse_pitch

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
    verify: bool = typer.Option(False, "--verify", help="hash every note file's content and rebuild the notes "
                                "whose content changed although size and mtime did not"),
    part_notes: int = typer.Option(256, "--part-notes", min=1, help="notes per cache part (memory of the build)"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    threads: int = THREADS,
) -> None:
    """Preprocess a corpus into cached spectrogram frames, in parts read lazily (resumes a killed build)."""
    use_threads(threads)
    from ..data.audio.frames import FrameIndex, PrepConfig, SplitConfig
    from ..data.audio.frames import prepare as run
    from ..dsp.transforms import SpecConfig
    from ..folders import read_json

    def go():
        spec = SpecConfig(representation=representation, sample_rate=sample_rate, n_fft=n_fft,
                          hop_length=hop_length, n_mels=n_mels, bins_per_octave=bins_per_octave,
                          compression=compression, fmax=min(8000.0, sample_rate / 2))
        cfg = PrepConfig(spec=spec, max_duration=max_duration or None, normalize=normalize)
        splits = SplitConfig(from_corpus=not resplit, val=val, test=test, seed=seed,
                             holdout_instruments=tuple(_split_list(holdout_instruments) or ()),
                             holdout_pitch=_pitch_range(holdout_pitch))
        t0 = time.time()
        out = run(corpus, cfg, cache, splits, workers, quiet, verify=verify, part_notes=part_notes)
        report = read_json(out / "build_report.json")
        if verify:
            rebuilt = report.get("rebuilt", [])  # a verified build always writes its report
            typer.echo(f"verified: {len(rebuilt)} note(s) rebuilt (content changed, size and mtime kept)"
                       + "".join(f"\n  rebuilt {p}" for p in rebuilt[:20])
                       + (f"\n  ... {len(rebuilt) - 20} more in build_report.json" if len(rebuilt) > 20 else ""))
        index = FrameIndex(out, splits)
        sizes = {s: len(index.windows(s)[0]) for s in ("train", "val", "test")}
        typer.echo(f"prepared {read_json(out / 'manifest.json')['notes']} notes in {time.time() - t0:.1f} s "
                   f"({len(report['skipped'])} skipped, see build_report.json); frames: "
                   + ", ".join(f"{k} {v}" for k, v in sizes.items()))
        typer.echo(f"cache: {out}")

    guarded(go)


# ------------------------------------------------------------------------------------------ validate


@app.command()
def validate(
    corpus: Path = typer.Argument(..., help="corpus folder"),
    notes: int = typer.Option(32, help="number of notes (spread over instruments and pitches)"),
    out: Path = typer.Option(Path("docs/results-audio.md"), "--out", "-o",
                             help="Markdown file: its section between the validate markers, else the whole file"),
    examples: Path = typer.Option(Path("docs/audio"), help="folder for example WAVs and the figure"),
    csv_out: Path = typer.Option(None, "--csv", help="also write the rows as CSV"),
    settings: str = typer.Option(",".join(f"{r}:{i}:{m}" for r, i, m in ROUNDTRIP_SETTINGS),
                                 help="comma list of representation:iterations:momentum"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
    threads: int = THREADS,
) -> None:
    """Round trip audio -> representation -> Griffin-Lim over a corpus; writes the table as Markdown."""
    use_threads(threads)
    import csv as _csv
    import io
    import shlex
    import sys

    from ..dsp import SpecConfig
    from ..evaluation.roundtrip import markdown, roundtrip, splice_section
    from ..folders import atomic_write_text

    def go():
        try:
            todo = [(r, int(i), float(m)) for r, i, m in (x.split(":") for x in settings.split(","))]
        except ValueError:
            raise ValueError(f"--settings: expected representation:iterations:momentum, got {settings!r}") from None
        rows = roundtrip(corpus, notes, todo, examples=examples, quiet=quiet)
        cmd = "latentsynth audio validate " + " ".join(shlex.quote(a) for a in sys.argv[sys.argv.index(
            "validate") + 1:]) if "validate" in sys.argv else f"latentsynth audio validate {corpus}"
        atomic_write_text(out, splice_section(out, markdown(rows, cmd, corpus, SpecConfig(), examples, out)))
        if csv_out:
            buf = io.StringIO()
            w = _csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader(), w.writerows(rows)
            atomic_write_text(csv_out, buf.getvalue())
        typer.echo(f"wrote {out}")

    guarded(go)


# --------------------------------------------------------------------------------------- reconstruct


@app.command("reconstruct")
def reconstruct_cmd(
    run: Path = typer.Argument(..., help="model folder of a frame model (data.name=frames)"),
    notes: int = typer.Option(4, "--notes", "-n", help="how many test notes (spread over the test split)"),
    names: str = typer.Option(None, "--names", help="comma list of note file stems instead (e.g. Fl-ord-A4-mf-N-N)"),
    out: Path = typer.Option(None, "--out", "-o", help="folder (default: <run>/audio)"),
    n_iter: int = typer.Option(64, "--iterations", help="Griffin-Lim iterations"),
    corpus: str = typer.Option(None, "--corpus", help="the corpus folder, if it moved since training"),
    threads: int = THREADS,
) -> None:
    """Original, reconstructed and Griffin-Lim-only ("oracle": the original magnitudes through the same
    inversion) WAVs of test notes, a spectrogram figure and their scores."""
    use_threads(threads)
    from ..data import data_module
    from ..evaluation.audio import pick_notes, plot_notes, write_note_audio
    from ..folders import load

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
        for r in write_note_audio(model, data, chosen, folder, n_iter):
            typer.echo(f"{r['stem']} ({r['split']}): SC {r['sc']:.3f}  MR-STFT {r['mrstft']:.3f} "
                       f"(oracle {r['mrstft_oracle']:.3f})")
        fig = plot_notes(model, data, chosen, folder / "spectrograms.png")
        typer.echo(f"wrote {3 * len(chosen)} WAVs and {fig}")

    guarded(go)


@app.command()
def attach(
    folders: list[Path] = typer.Argument(..., help="frame model folders saved before they carried audio settings"),
    corpus: Path = typer.Option(None, "--corpus", help="the corpus the models were trained on, if it moved"),
    threads: int = THREADS,
) -> None:
    """Make older frame model folders self-contained: audio settings, dB scale and a training-code sample, rebuilt
    from the corpus they were trained on (then the folder makes sound with no corpus at hand)."""
    use_threads(threads)
    from ..training.attach import attach_audio

    def go():
        for folder in folders:
            typer.echo(f"attached audio settings and codes.safetensors to {attach_audio(folder, corpus)}")

    guarded(go)

