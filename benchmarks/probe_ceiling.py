"""How high can the instrument probe go? Issue #22's target is >= 0.90 balanced accuracy from the codes; this asks
what the notes themselves allow, and where a probe on the codes loses against one on the encoder's input.

    .venv/bin/python benchmarks/probe_ceiling.py RUN [RUN ...] --out docs/results/probe-ceiling

Two parts, written to ``<out>.csv`` (one table, a ``part`` column) and ``<out>.md``:

1. **Shared sounds** (the evidence behind ``latentsynth.data.audio.corpus.shared_sounds``): for each sound source
   of the models' corpora (``note_source``) and each preset that renders several instrument labels, the SC
   (``latentsynth.dsp.spectral_convergence``, first note the reference) between the linear STFT magnitudes
   (``note_features`` + ``decompress``, default frame analysis, cut to the shorter note; as
   ``benchmarks/source_twins.py``) of two notes of different instruments at the same style, pitch and dynamics;
   up to ``--pairs`` key-pairs per instrument pair, spread over their common keys. The control: the same
   instruments' notes from their own presets in that source.
2. **Probes**: for each model folder (a harmonic model whose corpus is here), the probes of
   ``evaluation.timbre.probe_scores`` (logistic regression on standardised features and 10-NN, balanced
   accuracy) fed, per note,

   * features: ``code`` (the encoder codes of the note's loud windows, ``note_frame_codes``), ``view`` (the
     encoder's input at those windows, the pitch view: the frame read at the partials of f0 and noise bands),
     ``frame`` (the normalised dB frames of those windows);
   * summary: ``mean`` over the windows, or ``path`` (``path_summary``: the thirds' means and each unit's
     spread, on the windows in time order);
   * notes: ``all`` (spread(train, 1200) -> every test note) or ``identifiable`` (``identifiable_notes``:
     spread(identifiable train, 1200) -> every identifiable test note), the note rule of ``code_probes``.

   The ``code``/``path``/``identifiable`` row is ``code_probes``' ``timbre_inst_linear`` / ``_knn`` and the
   ``code``/``mean``/``all`` row its ``timbre_inst_mean_linear``; the script runs ``code_probes`` and stops if
   they differ.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections import defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
import torch

FEATURES = ("code", "view", "frame")
SUMMARIES = ("mean", "path")
NOTE_SETS = ("all", "identifiable")


# ------------------------------------------------------------------------------------------ part 1: evidence


def shared_sound_rows(corpora: list[Path], per_pair: int) -> list[dict]:
    """Part 1's rows: per source, per shared preset (and the control, the same instruments' own presets), per
    instrument pair: the number of common (style, pitch, dynamics) keys, the scored pairs and their median SC."""
    from latentsynth.data.audio.corpus import note_source, read_metadata, shared_sounds, spread
    from latentsynth.data.audio.frames import PrepConfig, note_features
    from latentsynth.dsp import spectral_convergence
    from latentsynth.dsp.transforms import decompress

    prep = PrepConfig()
    cache: dict[Path, torch.Tensor] = {}

    def mag(path: Path) -> torch.Tensor:  # linear magnitudes [F, T]
        if path not in cache:
            cache[path] = decompress(torch.from_numpy(note_features(path, prep)).float(), prep.spec).T
        return cache[path]

    rows = []
    for corpus in corpora:
        notes = read_metadata(corpus)
        shared = shared_sounds([n.instrument for n in notes], [n.source_file for n in notes])
        by_source: dict[str, list] = defaultdict(list)
        for n in notes:
            by_source[note_source(n)].append(n)
        for source, group in sorted(by_source.items()):
            presets = sorted({n.source_file for n in group} & shared)
            users = sorted({n.instrument for n in group if n.source_file in shared})
            own = sorted({n.source_file for n in group if n.instrument in users and n.source_file not in shared})
            sounds = [(p, "shared", {p}) for p in presets] + ([("own presets", "control", set(own))] if own else [])
            for sound, kind, files in sounds:
                index: dict[str, dict[tuple, Path]] = defaultdict(dict)  # instrument -> (style, pitch, dyn) -> file
                for n in group:
                    if n.source_file in files:
                        index[n.instrument].setdefault((n.style, n.pitch, n.dynamics), corpus / n.path)
                for a, b in combinations(sorted(index), 2):
                    common = sorted(set(index[a]) & set(index[b]))
                    scs = []
                    for k in spread(common, per_pair):
                        ma, mb = mag(index[a][k]), mag(index[b][k])
                        t = min(ma.shape[1], mb.shape[1])
                        scs.append(float(spectral_convergence(ma[:, :t], mb[:, :t])))
                    if not scs:
                        continue
                    rows.append({"part": "shared", "source": source, "sound": sound, "kind": kind,
                                 "presets": " + ".join(sorted(f.split(":", 1)[1] for f in files)),
                                 "styles": "/".join(sorted({k[0] for k in common})),
                                 "pair": f"{a}-{b}", "keys": len(common), "pairs": len(scs),
                                 "sc_median": round(float(np.median(scs)), 4)})
                    print(rows[-1], flush=True)
    return rows


# ------------------------------------------------------------------------------------------ part 2: probes


@torch.no_grad()
def note_summaries(model, data, notes: list[int]) -> dict[tuple[str, str], np.ndarray]:
    """``{(feature, summary): [N, D]}`` for ``notes``: each feature at the windows a note's path keeps
    (``note_windows``), its mean over them and its ``path_summary``."""
    from latentsynth.evaluation.timbre import note_frame_codes, note_windows, path_summary
    from latentsynth.models.conditioning import LABELS

    pitch_col = LABELS.index("pitch")
    out: dict[tuple[str, str], list[np.ndarray]] = {(f, s): [] for f in FEATURES for s in SUMMARIES}
    for k in notes:
        x, lab = data.note_tensor(k), data.note_labels[k]
        z = note_frame_codes(model, x, lab)  # [T', d]
        win, keep = note_windows(model, x)  # the same windows: [N, W, F], [N]
        loud = win[keep]  # [T', W, F]
        view = model.pitch_view(loud, lab[pitch_col].expand(len(loud)))  # [T', W, V]: what the encoder reads
        per = {"code": z.numpy(), "view": view.reshape(len(loud), -1).numpy(),
               "frame": loud.reshape(len(loud), -1).numpy()}
        for f, v in per.items():
            out[(f, "mean")].append(v.mean(0))
            out[(f, "path")].append(path_summary(v))
    return {key: np.stack(v) for key, v in out.items()}


def probe_rows(run: Path) -> list[dict]:
    """Part 2's rows for one model folder; checks the code rows against ``code_probes``."""
    from latentsynth import load
    from latentsynth.data import data_module
    from latentsynth.data.audio.corpus import spread
    from latentsynth.evaluation.timbre import code_probes, identifiable_notes, probe_scores

    model = load(run).eval()
    if getattr(model, "pitch_view", None) is None:
        raise SystemExit(f"{run}: not a harmonic model with a pitch view; give a timbre or harmonic model")
    data = data_module(model.cfg)
    train, test = data.note_indices("train"), data.note_indices("test")
    sets = {"all": (spread(train, 1200), test),
            "identifiable": (spread(identifiable_notes(data, train), 1200), identifiable_notes(data, test))}
    notes = sorted({k for tr, te in sets.values() for k in tr + te})
    t0 = time.perf_counter()
    feats = note_summaries(model, data, notes)
    print(f"{run.name}: features of {len(notes)} notes in {time.perf_counter() - t0:.0f} s", flush=True)
    row_of = {k: i for i, k in enumerate(notes)}
    rows = []
    for ns, (tr, te) in sets.items():
        yt = [str(data.notes[k]["instrument"]) for k in tr]
        yv = [str(data.notes[k]["instrument"]) for k in te]
        it, iv = [row_of[k] for k in tr], [row_of[k] for k in te]
        for f in FEATURES:
            for s in SUMMARIES:
                z = feats[(f, s)]
                p = probe_scores(z[it], yt, z[iv], yv)
                rows.append({"part": "probe", "model": run.name, "features": f, "summary": s, "notes": ns,
                             "dim": z.shape[1], "train_notes": len(tr), "test_notes": len(te),
                             "instruments": len(set(yt)), "linear": round(p["linear"], 4),
                             "knn": round(p["knn"], 4), "_linear": p["linear"], "_knn": p["knn"]})
                print({k: v for k, v in rows[-1].items() if not k.startswith("_")}, flush=True)
    ref = code_probes(model, data)
    got = {(r["features"], r["summary"], r["notes"]): r for r in rows}
    checks = [("timbre_inst_linear", got[("code", "path", "identifiable")]["_linear"]),
              ("timbre_inst_knn", got[("code", "path", "identifiable")]["_knn"]),
              ("timbre_inst_mean_linear", got[("code", "mean", "all")]["_linear"])]
    for key, mine in checks:
        print(f"{run.name}: code_probes {key} = {ref[key]!r}, this script = {mine!r}", flush=True)
        if ref[key] != mine:
            raise SystemExit(f"{run}: {key} differs from code_probes ({ref[key]} vs {mine}): the rows do not "
                             "follow the timbre score's notes or codes")
    for r in rows:
        r["code_probes_inst_linear"] = round(ref["timbre_inst_linear"], 4)
    return rows


# ------------------------------------------------------------------------------------------ the report


def _best(rows: list[dict], **where) -> dict:
    sel = [r for r in rows if all(r[k] == v for k, v in where.items())]
    return max(sel, key=lambda r: max(r["linear"], r["knn"]))


def reading(shared: list[dict], probes: list[dict]) -> list[str]:
    """The doc's reading of the numbers, computed from the rows."""
    out = []
    sh = [r["sc_median"] for r in shared if r["kind"] == "shared"]
    ctl = [r["sc_median"] for r in shared if r["kind"] == "control"]
    if sh and ctl:
        out.append(f"* **Shared presets are one sound.** The median SC between two instruments' notes of one style, "
                   f"pitch and dynamics under a shared preset lies in {min(sh):.2f}-{max(sh):.2f} (per instrument "
                   f"pair, preset and source), against {min(ctl):.2f}-{max(ctl):.2f} between the same instruments' "
                   "own presets: no feature can tell those labels apart.")

    def get(m: list[dict], f: str, s: str, n: str) -> dict:
        return next(r for r in m if (r["features"], r["summary"], r["notes"]) == (f, s, n))

    for model in dict.fromkeys(r["model"] for r in probes):
        m = [r for r in probes if r["model"] == model]
        ident, every = _best(m, notes="identifiable"), _best(m, notes="all")
        ci, ca = get(m, "code", "path", "identifiable"), get(m, "code", "path", "all")
        vi, va = get(m, "view", "path", "identifiable"), get(m, "view", "path", "all")
        cm = get(m, "code", "mean", "identifiable")
        out.append(
            f"* **{model}.** Ceiling (best probe on any feature): {max(ident['linear'], ident['knn']):.3f} on "
            f"identifiable notes ({ident['features']}/{ident['summary']}), {max(every['linear'], every['knn']):.3f} "
            f"on all notes ({every['features']}/{every['summary']}). The codes' path summary: "
            f"{ci['linear']:.3f} linear / {ci['knn']:.3f} 10-NN on identifiable notes, {ca['linear']:.3f} / "
            f"{ca['knn']:.3f} on all; the encoder's view: {vi['linear']:.3f} / {vi['knn']:.3f} and "
            f"{va['linear']:.3f} / {va['knn']:.3f}. The codes lose {vi['linear'] - ci['linear']:.3f} "
            f"(identifiable) and {va['linear'] - ca['linear']:.3f} (all) of the linear probe against their "
            f"input; by 10-NN, codes - view: {ci['knn'] - vi['knn']:+.3f} (identifiable). The path summary over "
            f"the mean code: {ci['linear'] - cm['linear']:+.3f} linear (identifiable).")
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, torch {torch.__version__}, " \
           "1 thread"


def main() -> None:
    from latentsynth.folders import atomic_write_text, write_csv

    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="path stem: writes <out>.csv and <out>.md")
    ap.add_argument("--pairs", type=int, default=15, help="note pairs per instrument pair and sound (spread)")
    ap.add_argument("--note", default="", help="a sentence on the machine for the doc's header (e.g. its load)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    from latentsynth import load

    corpora = list(dict.fromkeys(Path(load(r).cfg.data.corpus) for r in args.runs))
    shared = shared_sound_rows(corpora, args.pairs)
    probes = [r for run in args.runs for r in probe_rows(run)]
    wall = time.perf_counter() - t0

    write_csv(args.out.with_suffix(".csv"),  # the "_" keys are the markdown's, not the table's
              [{k: v for k, v in r.items() if not k.startswith("_")} for r in shared + probes])

    cmd = f"python benchmarks/probe_ceiling.py {' '.join(map(str, args.runs))} --out {args.out}"
    if args.pairs != 15:
        cmd += f" --pairs {args.pairs}"
    if args.note:
        cmd += f" --note '{args.note}'"
    md = [f"# The instrument probe's ceiling: `{cmd}`", "",
          f"On {machine()}; {wall / 60:.0f} min wall clock{'; ' + args.note if args.note else ''}. "
          f"Corpus: {', '.join(map(str, corpora))}. Written by "
          "the script (module doc: the definitions).", "", "## Reading", ""]
    md += reading(shared, probes)
    md += ["", "## 1. Shared sounds: SC between two instruments' notes of one style, pitch and dynamics", "",
           f"Per source and preset (`shared`: a preset of `corpus.shared_sounds`; `control`: the same instruments' "
           f"own presets in that source), per instrument pair: the common (style, pitch, dynamics) keys, the pairs "
           f"scored (up to {args.pairs}, spread) and their median SC (linear STFT magnitudes, first instrument "
           "the reference).", "",
           "| source | sound | kind | styles | instruments | keys | pairs | median SC |",
           "|---|---|---|---|---|---:|---:|---:|"]
    md += [f"| {r['source']} | {r['presets']} | {r['kind']} | {r['styles']} | {r['pair']} | {r['keys']} | "
           f"{r['pairs']} | {r['sc_median']:.3f} |" for r in shared]
    md += ["", "## 2. The instrument probe on codes, the encoder's view and the frames", "",
           "Balanced accuracy (chance = 1 / instruments). `path`: `path_summary` of the loud windows in time order; "
           "`mean`: their mean. `identifiable`: the notes the timbre score's instrument probe counts. The "
           "code/path/identifiable row equals `code_probes`' `timbre_inst_linear` (last column, recomputed "
           "by the script) and the code/mean/all row its `timbre_inst_mean_linear`.", "",
           "| model | features | summary | notes | dim | instruments | train / test notes | linear | 10-NN | "
           "code_probes inst. linear |",
           "|---|---|---|---|---:|---:|---|---:|---:|---:|"]
    md += [f"| {r['model']} | {r['features']} | {r['summary']} | {r['notes']} | {r['dim']} | {r['instruments']} | "
           f"{r['train_notes']} / {r['test_notes']} | {r['linear']:.3f} | {r['knn']:.3f} | "
           f"{r['code_probes_inst_linear']:.3f} |" for r in probes]
    atomic_write_text(args.out.with_suffix(".md"), "\n".join(md) + "\n")
    print(f"wrote {args.out}.csv and {args.out}.md")


if __name__ == "__main__":
    main()
