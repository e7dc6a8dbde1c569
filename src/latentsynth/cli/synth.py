"""``latentsynth synth ...``: notes as latent paths, path generators, rendering, gallery, export."""

from __future__ import annotations

from pathlib import Path

import click
import typer
from typer.core import TyperCommand

from .common import THREADS, guarded, use_threads

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Latent synthesis: encode notes into paths, make paths, render them to audio.")

MODEL = typer.Argument(..., help="a frame model folder (runs/<name> or models/sol/<name>)")


def _options(kind: str, items: list[str] | None) -> dict:
    """``key=value`` generator options of ``kind``, checked and typed (``synth.generators.parse_options``)."""
    from ..synth.generators import parse_options

    raw = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--opt {item!r}: expected key=value, e.g. radius=1.5")
        key, value = item.split("=", 1)
        raw[key.strip()] = value
    return parse_options(kind, raw)


@app.command()
def encode(
    model: Path = MODEL,
    wavs: list[Path] = typer.Argument(..., help="sound files of single notes"),
    out: Path = typer.Option(Path("."), "--out", "-o", help="folder for <stem>.path.json"),
    pitch: float = typer.Option(None, help="MIDI pitch (estimated from the audio if not given)"),
    instrument: str = typer.Option(None, help="instrument name of the model's vocabulary"),
    dynamics: str = typer.Option(None, help="dynamics name (pp, mf, ff...)"),
    style: str = typer.Option(None, help="playing style name"),
    fit_steps: int = typer.Option(20, "--fit-steps", min=0, help="refine the encoder's codes by this many steps "
                                  "on the note's own reconstruction (follows a sound the encoder never heard: "
                                  "about half the error on an unseen SoundFont, issue #22; 0: the encoder's codes)"),
    threads: int = THREADS,
) -> None:
    """Encode note recordings into latent paths (one code per frame, with the pitch curve)."""
    use_threads(threads)
    from ..synth import Synth, encode_note

    def go():
        synth = Synth.load(model)
        used = synth.model.cfg.model.conditioning.labels
        unused = [k for k in ("instrument", "dynamics", "style") if k not in used]
        if synth.model.conditioned and unused:  # a timbre model: the codes carry them (issue #22)
            typer.echo(f"{', '.join(unused)}: not needed; the model is conditioned on {', '.join(used)} only")
        for wav in wavs:
            pf = encode_note(synth, wav, pitch, instrument, dynamics, style, fit_steps=fit_steps)
            dst = pf.save(out / f"{wav.stem}.path.json")
            pitch_text = "curve" if isinstance(pf.pitch, list) else pf.pitch
            if not synth.model.conditioned:
                pitch_text = "none: the model takes no labels (no pitch, instrument, dynamics or style needed)"
            typer.echo(f"{dst}: {len(pf.codes)} points, pitch {pitch_text}"
                       + "".join(f", {k} {getattr(pf, k)}" for k in ("instrument", "dynamics", "style")
                                 if getattr(pf, k) is not None))
            for key, name in pf.meta.get("assumed", {}).items():
                typer.echo(f"warning: {wav}: no --{key} given; assumed {name!r}, the first the model knows ("
                           f"{', '.join(synth.info.vocab[key])}); pass --{key} to choose", err=True)

    guarded(go)


class _PathCommand(TyperCommand):
    """The ``synth path`` command: its ``kind`` help lists the generator registry (``synth.generators.GENERATORS``)
    when the help is shown, so a new generator needs no CLI edit (the registry is imported only then: it is slow
    to import and the CLI starts without it)."""

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ..synth.generators import GENERATORS

        for param in self.params:
            if param.name == "kind":
                param.help = ", ".join(GENERATORS)  # type: ignore[attr-defined]
        super().format_help(ctx, formatter)


@app.command(cls=_PathCommand)
def path(
    model: Path = MODEL,
    kind: str = typer.Argument(..., help="a generator kind (listed from the registry)"),
    notes: list[Path] = typer.Option(None, "--note", "-n", help="path files of notes (blends need two)"),
    out: Path = typer.Option(Path("path.json"), "--out", "-o"),
    seconds: float = typer.Option(2.0, help="duration"),
    seed: int = typer.Option(0),
    opt: list[str] = typer.Option(None, "--opt", help="generator option key=value (radius=1.5, dims=[0,1], "
                                                      "alpha=sweep, pc=1, step=0.05, uncertainty=1...)"),
    force: bool = typer.Option(False, "--force", help="use note paths made for another model anyway"),
    threads: int = THREADS,
) -> None:
    """Make a latent path of one kind (see `latentsynth synth path --help` and the synth docs)."""
    use_threads(threads)
    from ..synth import PathFile, Synth, make_path

    def go():
        options = _options(kind, opt)  # before loading anything: a typo is named at once
        synth = Synth.load(model)
        pfs = [PathFile.read(p) for p in notes or []]
        for p, pf in zip(notes or [], pfs, strict=True):  # notes encoded by another model: refused (or --force)
            warning = synth.check_made_for(pf, str(p), force)
            if warning:
                typer.echo(f"warning: {warning}", err=True)
        points = max(2, round(seconds / synth.hop_seconds))
        pf = make_path(synth, kind, pfs, points=points, seed=seed, **options)
        pf.duration = seconds
        pf.save(out)
        extra = "".join(f", {k} {pf.meta[k]}" for k in ("ratio", "length", "line_length") if k in pf.meta)
        typer.echo(f"{out}: {kind}, {len(pf.codes)} points{extra}")

    guarded(go)


@app.command()
def render(
    model: Path = MODEL,
    paths: list[Path] = typer.Argument(..., help="path files (.path.json)"),
    out: Path = typer.Option(None, "--out", "-o", help="folder for the WAVs and figures (default: beside)"),
    method: str = typer.Option("auto", help="auto (additive for harmonic models), additive or griffinlim"),
    seconds: float = typer.Option(None, help="duration (default: the path file's)"),
    constant_speed: bool = typer.Option(None, "--constant-speed/--path-speed",
                                        help="timbre at a steady rate (decoded arc length)"),
    color_by: str = typer.Option("instrument", help="colour of the training codes: instrument or pitch"),
    iterations: int = typer.Option(32, help="Griffin-Lim iterations"),
    force: bool = typer.Option(False, "--force", help="render a path file made for another model anyway (it "
                                                      "will not sound as it did there)"),
    threads: int = THREADS,
) -> None:
    """Render path files to WAV, each with a figure: the path over the training codes beside its spectrogram.
    A path file made for another model (its recorded fingerprint differs) is refused unless --force."""
    use_threads(threads)
    from ..dsp.audiofile import write_wav
    from ..synth import PathFile, Synth, render_path
    from ..synth.figures import plot_path

    def go():
        synth = Synth.load(model)
        for p in paths:
            pf = PathFile.read(p)
            warning = synth.check_made_for(pf, str(p), force)
            if warning:
                typer.echo(f"warning: {warning}", err=True)
            if seconds is not None:
                pf.duration = seconds
            if constant_speed is not None:
                pf.constant_speed = constant_speed
            y, z, _ = render_path(synth, pf, method, iterations)
            stem = (out / p.name if out else p).with_suffix("").with_suffix("")
            write_wav(stem.with_suffix(".wav"), y, synth.spec.sample_rate)
            plot_path(synth, z, y, stem.with_suffix(".png"), f"{synth.model.cfg.name}: {p.name}", color_by)
            typer.echo(f"{stem.with_suffix('.wav')}: {len(y) / synth.spec.sample_rate:.2f} s "
                       f"({synth.resolve(method)}), figure {stem.with_suffix('.png')}")

    guarded(go)


@app.command()
def gallery(
    models: list[Path] = typer.Argument(..., help="frame model folders"),
    out: Path = typer.Option(Path("runs/gallery"), "--out", "-o"),
    seconds: float = typer.Option(2.0),
    threads: int = THREADS,
) -> None:
    """Every generator's WAV and figure for each model, on one HTML page with audio players."""
    use_threads(threads)
    from ..synth.gallery import gallery as run

    guarded(lambda: typer.echo(f"gallery: {run(models, out, seconds=seconds)}"))


@app.command()
def export(
    model: Path = MODEL,
    out: Path = typer.Option(None, "--out", "-o", help="folder (default <model>/export)"),
    web: Path = typer.Option(None, "--web", help="write the web instrument (page + AudioWorklet + weights + plane "
                                                 "and heatmaps) into this folder instead: it plays from file://"),
    nn_tilde: bool = typer.Option(False, "--nn-tilde", help="write only <out>/<model>.ts, one TorchScript file "
                                  "that nn~ (Max/MSP, PureData) loads: decode, encode, forward (harmonic models)"),
    sounding: bool = typer.Option(True, "--sounding/--no-sounding", help="harmonic models: also synth.onnx, the "
                                  "decoder and the synthesizer in one streaming graph"),
    threads: int = THREADS,
) -> None:
    """Export the encoder and decoder (and a harmonic model's parameters and self-sounding graph) to ONNX and
    TorchScript, or (``--web``) a harmonic model as a static web instrument, or (``--nn-tilde``) one file for
    nn~."""
    use_threads(threads)
    from ..folders import load, writable_folder

    def go():
        if web is not None:
            from ..serve.webexport import export_web

            writable_folder(web)  # before the export: an unwritable folder is said at once
            files = export_web(model, web)
            size = sum(f.stat().st_size for f in files.values())
            for kind, f in files.items():
                typer.echo(f"{kind}: {f}")
            typer.echo(f"web instrument: open {web / 'index.html'} ({size / 1e6:.2f} MB)")
            return
        m = load(model)
        folder = writable_folder(out or model / "export")  # before the export: an unwritable folder is said at once
        if nn_tilde:
            from ..synth.nn_tilde import export_nn_tilde

            path = export_nn_tilde(m, folder / f"{m.cfg.name}.ts")
            typer.echo(f"nn~: {path} (Max: [nn~ {path.name} decode], Pd: [nn~ {path.name} decode])")
            return
        from ..synth.export import export_model

        files = export_model(m, folder, sounding=sounding)
        for kind, f in files.items():
            typer.echo(f"{kind}: {f}")

    guarded(go)


def _descriptor_options(fn):
    """``fn`` with one ``--NAME`` option per differentiable descriptor of the registry
    (:data:`latentsynth.evaluation.descriptors.REGISTRY`), right after its first argument; they arrive in
    ``**given``. A new descriptor needs no edit here."""
    import inspect

    from ..evaluation.descriptors import REGISTRY

    sig = inspect.signature(fn, eval_str=True)
    own = [p.replace(kind=p.KEYWORD_ONLY) for p in sig.parameters.values() if p.kind != p.VAR_KEYWORD]
    extra = [inspect.Parameter(d.name, inspect.Parameter.KEYWORD_ONLY, default=typer.Option(None, help=d.target),
                               annotation=str) for d in REGISTRY if d.differentiable]
    fn.__signature__ = sig.replace(parameters=[own[0], *extra, *own[1:]])
    return fn


@app.command()
def midi(
    model: Path = MODEL,
    song: Path = typer.Argument(..., help="a standard MIDI file (.mid)"),
    out: Path = typer.Option(None, "--out", "-o", help="WAV file (default: <song>.wav)"),
    timbre: str = typer.Option(None, help="a point (d comma-separated numbers), a preset (an instrument name or a "
                                          "training note name of the model) or a path file; default: the mean "
                                          "training code"),
    sweep: str = typer.Option("none", help="none (the path's first point), note (the path over each note) or "
                                           "piece (over the whole piece)"),
    velocity: str = typer.Option("auto", help="auto (the dynamics label if the model has one, else gain), "
                                              "dynamics or gain"),
    instrument: str = typer.Option(None, help="instrument name for unmapped notes (label models)"),
    program: list[str] = typer.Option(None, "--program", help="PROGRAM=INSTRUMENT: a GM program (0-127) or a "
                                                              "track name -> a model instrument; repeatable"),
    release: float = typer.Option(0.3, help="release tail in seconds (-60 dB at its end)"),
    seed: int = typer.Option(0, help="noise seed"),
    threads: int = THREADS,
) -> None:
    """Render a MIDI file polyphonically with a harmonic model's timbre to a WAV."""
    use_threads(threads)
    from ..dsp.audiofile import write_wav
    from ..synth import Synth
    from ..synth.midi import parse_programs, render_midi

    def go():
        synth = Synth.load(model)
        point = timbre
        if timbre is not None and "," in timbre and not Path(timbre).exists():
            try:
                point = [float(v) for v in timbre.split(",")]
            except ValueError:
                raise ValueError(f"--timbre {timbre!r}: a point is {synth.latent_dim} comma-separated numbers") \
                    from None
        y = render_midi(synth, song, timbre=point, sweep=sweep, velocity=velocity, instrument=instrument,
                        programs=parse_programs(program), release=release, seed=seed)
        dst = out or song.with_suffix(".wav")
        write_wav(dst, y, synth.spec.sample_rate)
        typer.echo(f"{dst}: {len(y) / synth.spec.sample_rate:.2f} s")

    guarded(go)


@app.command()
@_descriptor_options
def target(
    model: Path = MODEL,
    seconds: float = typer.Option(2.0, help="duration"),
    pitch: float = typer.Option(None, help="MIDI pitch (conditioned models; default: the middle of the range)"),
    instrument: str = typer.Option(None, help="instrument name of the model's vocabulary"),
    dynamics: str = typer.Option(None, help="dynamics name"),
    style: str = typer.Option(None, help="playing style name"),
    steps: int = typer.Option(200, help="Adam steps"),
    smooth: float = typer.Option(0.01, help="weight of the squared second differences of the path"),
    near: float = typer.Option(0.001, help="weight of the stay-near-the-training-codes term"),
    out: Path = typer.Option(Path("target"), "--out", "-o", help="output stem: <out>.path.json, .wav, .png, .json"),
    threads: int = THREADS,
    **given: str | None,
) -> None:
    """Descriptor-targeted synthesis: a latent path whose sound follows descriptor curves (gradient descent through
    the decoder, against a greedy search over the training codes); writes the path, WAV, figure and errors."""
    use_threads(threads)
    from ..dsp.audiofile import write_wav
    from ..folders import write_json
    from ..synth import PathFile, Synth
    from ..synth.target import parse_curve, plot_target, targeted_path

    def go():
        targets = {k: parse_curve(v) for k, v in given.items() if v is not None}
        if not targets:
            raise ValueError("give at least one target, e.g. --centroid 800:3000 --loudness -20")
        synth = Synth.load(model)
        names = {"pitch": pitch, "instrument": instrument, "dynamics": dynamics, "style": style}
        res = targeted_path(synth, targets, seconds=seconds, c=names, steps=steps, smooth=smooth, near=near)
        pf = PathFile.from_tensor(res.z, **names, meta={"generator": "target", "targets": {
            k: list(v) if isinstance(v, tuple) else v for k, v in targets.items()}, "error": res.error},
            model=synth.stamp())
        stem = out.with_suffix("") if out.suffix == ".wav" else out
        pf.save(stem.with_suffix(".path.json"))
        y = synth.render(res.z, res.c)
        write_wav(stem.with_suffix(".wav"), y, synth.spec.sample_rate)
        plot_target(res, stem.with_suffix(".png"), synth.hop_seconds, f"{synth.model.cfg.name}: targeted synthesis")
        write_json(stem.with_suffix(".json"), res.summary())
        for k in targets:
            typer.echo(f"{k}: relative RMS error {100 * res.error[f'rel_rms_{k}']:.1f} % (greedy "
                       f"{100 * res.greedy_error[f'rel_rms_{k}']:.1f} %)")
        typer.echo(f"{stem.with_suffix('.wav')}, {stem.with_suffix('.path.json')}, {stem.with_suffix('.png')} "
                   f"({res.seconds:.1f} s)")

    guarded(go)


@app.command()
def study(
    models: list[Path] = typer.Argument(..., help="frame model folders (runs of a sweep, e.g. "
                                                  "runs/bench/sol-models/runs/harmonic-vae-s0)"),
    pairs: int = typer.Option(8, help="note pairs per model"),
    out: Path = typer.Option(Path("runs/synthesis-study"), "--out", "-o"),
    kinds: str = typer.Option(",".join(("lerp", "slerp", "expressive", "geodesic", "traversal", "walk", "circle",
                                        "spiral")), help="generators, comma-separated"),
    seconds: float = typer.Option(2.0, help="path duration"),
    seed: int = typer.Option(0, help="seed of the note pairs and walks"),
    geodesic_steps: int = typer.Option(100, help="optimisation steps of each geodesic"),
    seeds_from_runs: bool = typer.Option(False, "--seeds-from-runs",
                                         help="add every other seed of each model's variation (<name>-s<k>)"),
    threads: int = THREADS,
) -> None:
    """The synthesis study of Exercise 5: models x generators x note pairs, scored by audio descriptors and, on
    paths from one instrument's note to another's, the timbre morph; writes results.csv, predictability.csv,
    figures and report.md (mean ± std, Welch tests). Run again, it reads back the models it finished (done/)."""
    use_threads(threads)
    from ..bench.synthesis_study import run_study

    def go():
        ks = tuple(k.strip() for k in kinds.split(",") if k.strip())
        report = run_study(models, out, pairs, ks, seconds, seed, geodesic_steps, seeds_from_runs=seeds_from_runs)
        typer.echo(f"study: {report}")

    guarded(go)
