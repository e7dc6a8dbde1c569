"""The instrument's control latency and cost (issue #23), in headless Chromium, in one run:

* pointer -> onset of the new timbre, in the AudioContext clock, over >= 20 moves of a held note to a far spot of
  the pad: the worklet (the page's synthesizer: onset = the sample where the amplitudes start ramping to the
  frame decoded from the new code, reported by the worklet) side by side with today's block design on the same
  harmonic model (``?engine=blocks``: 0.5 s blocks asked for 0.3 s ahead; onset = the start of the first block
  requested after the move) and the shorter Griffin-Lim blocks (0.2 s / 0.12 s) on a Griffin-Lim model;
* worklet cost: an OfflineAudioContext renders 4 s with N voices through the real AudioWorklet; wall time / audio
  time is the audio thread's busy fraction; per voice in ms per 128-sample quantum; held notes and notes whose
  code moves every control frame (a decode per frame per voice); the most voices under 100 % busy;
* page playable: navigation -> ready (model, plane and worklet loaded) on localhost, median of 5 loads;
* web export size for the model.

    .venv/bin/python benchmarks/instrument_latency.py [--model models/sol/harmonic-wae-mmd]
        [--gl-model models/sol/vae-frame] [--moves 24]

writes docs/benchmarks/instrument_latency.md.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--autoplay-policy=no-user-gesture-required"]


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def moves(page, n: int, spacing_ms: int) -> list[float]:
    """Hold the pad, jump between two far spots ``n`` times; the onsets the page recorded (ms after each move)."""
    page.evaluate("window.__ls.moves = []")
    box = page.locator("#pad").bounding_box()
    a = (box["x"] + 0.2 * box["width"], box["y"] + 0.2 * box["height"])
    b = (box["x"] + 0.8 * box["width"], box["y"] + 0.8 * box["height"])
    page.mouse.move(a[0] + 3, a[1] + 3)  # off any dot
    page.mouse.down()
    page.wait_for_timeout(400)
    for i in range(n):
        x, y = b if i % 2 == 0 else a
        page.mouse.move(x + (i % 3), y + (i % 5))
        page.wait_for_timeout(spacing_ms)
    page.wait_for_timeout(800)
    page.mouse.up()
    got = page.evaluate("window.__ls.moves")
    return [(m["onset"] - m["t"]) * 1000 for m in got if m["onset"] is not None]


NODE_COST = r"""
const fs = require("fs"), Core = require(process.argv[1]), dir = process.argv[2];
const b = fs.readFileSync(dir + "/weights.bin");
const model = Core.loadModel(JSON.parse(fs.readFileSync(dir + "/web.json")),
                             new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
const sr = model.sr, Q = Math.round(4 * sr / 128), out = new Float32Array(128), rows = [];
const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
let t = cpu();
for (let i = 0; i < 500; i++) Core.decode(model, new Array(model.latentDim).fill(i * 1e-3), [60, 0, 0, 0]);
const decodeMs = (cpu() - t) / 500;
for (const moving of [false, true]) for (const n of [1, 8, 16, 32, 48, 64]) {
  const e = new Core.Engine(model, 128), z = new Array(model.latentDim).fill(0.1);
  const adsr = { a: 0.01, d: 0.1, s: 0.8, r: 0.1 };
  for (let v = 0; v < n; v++) e.noteOn({ id: v, labels: [40 + (v % 40), 0, 0, 0], z, adsr });
  for (let q = 0; q < 100; q++) e.render(out, 128);
  t = cpu();
  for (let q = 0; q < Q; q++) {
    if (moving && q % 2 === 0) for (const v of e.voices.values()) v.move(z.map((x, j) => x + Math.sin(q * 0.01 + j)));
    e.render(out, 128);
  }
  rows.push({ moving, n, msPerQuantum: (cpu() - t) / Q });
}
console.log(JSON.stringify({ decodeMs, rows, quantumMs: 128 / sr * 1000 }));
"""


def shown(p: Path) -> Path:
    return p.resolve().relative_to(ROOT) if p.resolve().is_relative_to(ROOT) else p


def node_cost(model: Path) -> dict:
    """CPU time (not wall time: the machine is shared) of the worklet's code in node, same V8 engine as Chromium."""
    import json

    from latentsynth.folders import load
    from latentsynth.synth.web import write_web_model

    core = ROOT / "src" / "latentsynth" / "serve" / "static" / "synth-core.js"
    with tempfile.TemporaryDirectory() as tmp:
        write_web_model(load(model), tmp)
        out = subprocess.run(["node", "-e", NODE_COST, str(core), tmp], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "sol" / "harmonic-wae-mmd")
    ap.add_argument("--gl-model", type=Path, default=ROOT / "models" / "sol" / "vae-frame")
    ap.add_argument("--moves", type=int, default=24)
    ap.add_argument("--out", type=Path, default=OUT / "instrument_latency.md")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    from latentsynth.serve import background_server, create_app
    from latentsynth.serve.webexport import export_web
    from latentsynth.threads import set_threads

    set_threads(1)
    name = args.model.resolve().name
    app = create_app([args.model, args.gl_model])
    rows, cost = [], []
    with background_server(app) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        chromium = browser.version

        # page playable
        ready = []
        for _ in range(5):
            pg = browser.new_page(viewport={"width": 1150, "height": 830})
            t0 = time.perf_counter()
            pg.goto(url)
            pg.wait_for_function("window.__ls && window.__ls.ready && window.__ls.engine === 'live'", timeout=30_000)
            ready.append((time.perf_counter() - t0) * 1000)
            pg.close()

        # latency: worklet, then the block designs
        for label, query, model, spacing in (
                ("worklet (in the page)", "", name, 250),
                ("server blocks 0.5 s / 0.3 s ahead (the old design)", "?engine=blocks", name, 650),
                ("server blocks 0.2 s / 0.12 s ahead, Griffin-Lim", "", args.gl_model.resolve().name, 450)):
            pg = browser.new_page(viewport={"width": 1150, "height": 830})
            pg.goto(url + "/" + query)
            pg.wait_for_function("window.__ls && window.__ls.ready", timeout=30_000)
            if model != name:
                pg.locator("#model").select_option(model)
                pg.wait_for_function(f"window.__ls.engine === 'blocks' && document.getElementById('status')"
                                     f".textContent.startsWith('{model}')", timeout=30_000)
            pg.wait_for_function("window.__ls.axes !== null", timeout=30_000)  # the axis labels' heatmaps
            pg.locator("#heatmap").select_option("none")
            pg.wait_for_timeout(300)
            reqs = pg.evaluate("window.__ls.requests")
            ms = moves(pg, args.moves, spacing)
            reqs = pg.evaluate("window.__ls.requests") - reqs
            rows.append((label, model, len(ms), statistics.median(ms), pct(ms, 0.9), min(ms), max(ms), reqs))
            pg.close()

        # worklet cost: offline rendering through the real AudioWorklet
        pg = browser.new_page()
        pg.goto(url)
        pg.wait_for_function("window.__ls && window.__ls.ready", timeout=30_000)
        for moving in (False, True):
            for n in (1, 8, 16, 32, 48):
                r = pg.evaluate("""async ([n, moving]) => {
                  const data = await Live.fetchModel(window.__S.model), sr = data.manifest.synth.sample_rate;
                  const secs = 4, ctx = new OfflineAudioContext(1, secs * sr, sr), P = window.__S.plane;
                  const notes = [];
                  for (let i = 0; i < n; i++) {
                    const note = { id: i, pitch: 48 + (i % 24), labels: [48 + (i % 24), 0, 0, 0], z: P.centre,
                                   adsr: { a: 0.01, d: 0.1, s: 0.8, r: 0.1 } };
                    if (moving) {  // a new code every control frame: one decode per frame per voice
                      note.path = Array.from({ length: Math.ceil(secs * sr / data.manifest.synth.hop) + 2 },
                        (_, t) => P.centre.map((c, j) => c + Math.sin(0.05 * t + i + j) * P.scale[j % 2]));
                    }
                    notes.push(note);
                  }
                  const node = await Live.createNode(ctx, data, { notes, maxVoices: 64 });
                  node.connect(ctx.destination);
                  const t0 = performance.now();
                  await ctx.startRendering();
                  const wall = performance.now() - t0;
                  return { wall, secs, quanta: secs * sr / 128 };
                }""", [n, moving])
                busy = r["wall"] / (r["secs"] * 1000)
                cost.append((moving, n, busy, r["wall"] / r["quanta"] / n))
        pg.close()
        browser.close()

    ncost = node_cost(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        files = export_web(args.model, Path(tmp) / "web")
        size = sum(f.stat().st_size for f in files.values())
        weights = files["model/weights.bin"].stat().st_size
        bundle = files["static/bundle.js"].stat().st_size

    def most(moving: bool) -> str:
        ok = [n for m, n, busy, _ in cost if m == moving and busy < 1.0]
        return str(max(ok)) if ok else "none"

    load = " / ".join(f"{v:.0f}" for v in __import__("os").getloadavg())
    cpu = subprocess.run(["bash", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True,
                         text=True).stdout.strip()
    lines = [
        "# The instrument in real time: control latency and worklet cost",
        "",
        f"`python benchmarks/instrument_latency.py --model {shown(args.model)} --gl-model {shown(args.gl_model)}"
        f" --moves {args.moves}` (headless Chromium {chromium}, {cpu or platform.processor()}, "
        f"{platform.python_version()}, torch on 1 thread; a 2-core machine shared with other jobs: load average "
        f"{load} during the run, so wall-clock costs are inflated).",
        "",
        "## Pointer -> onset of the new timbre (AudioContext clock)",
        "",
        "A held note; the pointer jumps between two far spots of the pad. Onset: worklet, the sample where the "
        "partial amplitudes start ramping to the frame decoded from the new code (the worklet's own report; it is "
        "reached one control frame, 11.6 ms, later); blocks, the start of the first block requested after the move "
        "(the block glides from the old code to the new one). The pointer's time is the AudioContext's currentTime "
        "read in the event handler: it moves in steps of one render quantum (128 samples, 5.8 ms), so the worklet's "
        "figures are 0 or one quantum; the output device's latency comes on top of every design alike.",
        "",
        "| design | model | moves | median ms | p90 ms | min ms | max ms | requests while playing |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for label, model, n, med, p90, lo, hi, reqs in rows:
        lines.append(f"| {label} | {model} | {n} | {med:.1f} | {p90:.1f} | {lo:.1f} | {hi:.1f} | {reqs} |")
    qms = ncost["quantumMs"]
    lines += [
        "",
        "## Worklet cost, CPU time (the worklet's code in node, the same V8; CPU time, so the other jobs on the "
        "machine count little)",
        "",
        "One decode (the MLP: codes + labels -> amplitudes and noise bands): "
        f"{ncost['decodeMs']:.3f} ms. A 128-sample quantum lasts {qms:.2f} ms; busy = CPU per quantum / that. "
        "'moving': every voice gets a new code every control frame (one decode per voice per hop).",
        "",
        "| voices | code | CPU ms per quantum | per voice | busy % |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in ncost["rows"]:
        lines.append(f"| {r['n']} | {'moving every frame' if r['moving'] else 'held'} | {r['msPerQuantum']:.3f} | "
                     f"{r['msPerQuantum'] / r['n']:.4f} | {100 * r['msPerQuantum'] / qms:.1f} |")
    for moving in (False, True):
        ok = [r["n"] for r in ncost["rows"] if r["moving"] == moving and r["msPerQuantum"] < qms]
        per = [r["msPerQuantum"] / r["n"] for r in ncost["rows"] if r["moving"] == moving and r["n"] >= 8]
        lines.append(f"\n{'Moving' if moving else 'Held'}: most voices measured under one quantum of CPU: "
                     f"{max(ok) if ok else 'none'}; at the per-voice cost of >= 8 voices, about "
                     f"{int(qms / statistics.median(per))} voices fill the audio thread.")
    lines += [
        "",
        "## Worklet cost, wall time (OfflineAudioContext through the real AudioWorklet in Chromium, 4 s of audio)",
        "",
        "busy = render wall time / audio time (the audio thread's share at real time); per voice = wall time per "
        "128-sample quantum / voices (a quantum lasts 5.8 ms at 22050 Hz).",
        "",
        "| voices | code | busy % | ms per quantum per voice |",
        "|---:|---|---:|---:|",
    ]
    for moving, n, busy, per in cost:
        lines.append(f"| {n} | {'moves every frame (decode per frame)' if moving else 'held (decoded once)'} | "
                     f"{100 * busy:.1f} | {per:.4f} |")
    lines += [
        "",
        f"Most voices under 100 % busy (of those measured): held {most(False)}, moving every frame {most(True)}.",
        "",
        "## Page and export",
        "",
        f"- page playable (navigation -> model, plane and worklet ready) on localhost: median "
        f"{statistics.median(ready):.0f} ms, max {max(ready):.0f} ms over {len(ready)} loads;",
        f"- web export of {name} (`latentsynth synth export MODEL --web DIR`): {size / 1e6:.2f} MB in all, of which "
        f"weights.bin {weights / 1e6:.2f} MB and bundle.js {bundle / 1e6:.2f} MB (the weights again in base64, "
        "for file:// pages that cannot fetch files, plus the plane and heatmaps).",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
