"""The synthesizer in the page (issue #23): the web export of a harmonic decoder, the plain-JS core
(serve/static/synth-core.js) and the AudioWorklet, against the Python engine (the independent truth:
latentsynth.dsp.harmonic.additive_synth of Synth.harmonic_params).

* node (no browser): the core's parameters and audio for a fixed path equal Python's;
* headless Chromium (Playwright, Debian's /usr/bin/chromium): the worklet in an OfflineAudioContext matches
  (harmonic parameters 1e-4 relative, audio with noise off 1e-3, noise band energies); a move of a held note
  reaches the next control frame (the worklet's frame counter); 8 keys give 8 voices whose f0s are in the
  spectrum of the worklet's own recorded output; MIDI through a fake MIDIAccess (note on/off, pitch bend, CC
  learn); the web export plays from file://; a bad model file gives a message on the page.

Runs on the reference model models/sol/harmonic-wae-mmd (committed, 1.4 MB of decoder weights).
"""

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from latentsynth.dsp.harmonic import additive_synth
from latentsynth.serve import background_server, create_app
from latentsynth.synth import Synth
from latentsynth.synth.export import host_manifest
from latentsynth.synth.web import web_model, write_web_model

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "models" / "sol" / "harmonic-wae-mmd"
STATIC = REPO / "src" / "latentsynth" / "serve" / "static"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run", "--autoplay-policy=no-user-gesture-required"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synth():
    return Synth.load(MODEL)


def fixed_path(s: Synth, n: int = 40, seed: int = 0):
    """A smooth random path of codes and one label row (a fixed note)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, s.latent_dim, generator=g).cumsum(0) * 0.2
    c = s.labels(n, 57.0, instrument=s.info.vocab["instrument"][1])
    return z, c


def python_reference(s: Synth, z, c, noise: bool = False, harmonic: bool = True):
    f0, amps, nz = s.harmonic_params(z, c)
    y = additive_synth(f0[None], amps[None] * float(harmonic), nz[None] if noise else None, s.spec,
                       generator=torch.Generator().manual_seed(0))[0]
    return f0, amps, nz, y.numpy()


def test_web_export_shares_the_manifest_and_lays_out_every_weight(synth, tmp_path):
    man, weights = web_model(synth.model)
    host = host_manifest(synth.model)
    for key in ("labels", "spec", "normalisation", "harmonic_synth"):
        assert man[key] == json.loads(json.dumps(host[key]))  # the same facts as export.json
    assert len(weights) == 4 * man["weights"]["count"]
    dec = synth.model.decoder
    flat = np.frombuffer(weights, "<f4")
    lin = [m for m in dec.trunk if isinstance(m, torch.nn.Linear)] + [dec.amps, dec.noise]
    layers = man["decoder"]["layers"] + [man["decoder"]["heads"]["amps"], man["decoder"]["heads"]["noise"]]
    covered = 0
    for m, layer in zip(lin, layers, strict=True):
        w = flat[layer["weight"]: layer["weight"] + layer["in"] * layer["out"]].reshape(layer["out"], layer["in"])
        np.testing.assert_array_equal(w, m.weight.detach().numpy())
        np.testing.assert_array_equal(flat[layer["bias"]: layer["bias"] + layer["out"]], m.bias.detach().numpy())
        covered += w.size + layer["out"]
    assert covered == man["weights"]["count"]
    written = write_web_model(synth.model, tmp_path)
    assert written["weights.bin"].read_bytes() == weights


def test_the_js_core_in_node_matches_python(synth, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    z, c = fixed_path(synth)
    f0, amps, _, y = python_reference(synth, z, c)
    write_web_model(synth.model, tmp_path)
    (tmp_path / "path.json").write_text(json.dumps({"z": z.tolist(), "labels": c[0].tolist(), "n": len(y)}))
    script = f"""
    const fs = require("fs"), Core = require({json.dumps(str(STATIC / "synth-core.js"))});
    const dir = {json.dumps(str(tmp_path))}, ref = JSON.parse(fs.readFileSync(dir + "/path.json"));
    const b = fs.readFileSync(dir + "/weights.bin");
    const model = Core.loadModel(JSON.parse(fs.readFileSync(dir + "/web.json")),
                                 new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
    const e = new Core.Engine(model), out = new Float32Array(ref.n);
    const v = e.noteOn({{ id: 1, labels: ref.labels, z: ref.z[0], path: ref.z, noise: false, log: true,
                          adsr: {{ a: 0, d: 0, s: 1, r: 0 }} }});
    e.render(out, ref.n);
    fs.writeFileSync(dir + "/out.json", JSON.stringify({{ y: Array.from(out), log: v.log }}));
    """
    subprocess.run([node, "-e", script], check=True, timeout=60)
    out = json.loads((tmp_path / "out.json").read_text())
    js_amps = np.array([f["amps"] for f in out["log"]])[: len(amps)]
    np.testing.assert_allclose(js_amps, amps.numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose([f["f0"] for f in out["log"]][: len(f0)], f0.numpy(), rtol=1e-6)
    np.testing.assert_allclose(out["y"], y, atol=1e-3, rtol=0)


# ------------------------------------------------------------------------------------------------- browser
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (Debian package chromium)")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server():
    with background_server(create_app([MODEL])) as url:
        yield url


FAKE_MIDI = """
window.__midiIn = { onmidimessage: null, id: "fake", name: "fake keyboard" };
window.__midi = (bytes) => window.__midiIn.onmidimessage
  && window.__midiIn.onmidimessage({ data: new Uint8Array(bytes) });
navigator.requestMIDIAccess = () => Promise.resolve({ inputs: new Map([["fake", window.__midiIn]]), outputs: new Map(),
                                                      onstatechange: null });
"""


@pytest.fixture(scope="module")
def page(browser, server):
    pg = browser.new_page()
    pg.add_init_script(FAKE_MIDI)
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(server)
    pg.wait_for_function("window.__ls && (window.__ls.ready || window.__ls.loadError)", timeout=30_000)
    assert pg.evaluate("window.__ls.engine") == "live", pg.evaluate("window.__ls.lastError")
    assert pg.evaluate("Live.via()") == "blob"
    pg.errors = errors
    yield pg
    assert not errors, errors
    pg.close()


OFFLINE = """async ([name, n, notes, moves, dumpAt]) => {
  const data = await Live.fetchModel(name), sr = data.manifest.synth.sample_rate;
  const ctx = new OfflineAudioContext(1, n, sr);
  const node = await Live.createNode(ctx, data, { notes });
  node.connect(ctx.destination);
  const applied = [], logs = {};
  let waiting = null;
  node.port.onmessage = (ev) => {
    if (ev.data.type === "applied") applied.push(ev.data);
    if (ev.data.type === "log") { logs[ev.data.id] = ev.data.frames; if (waiting) { waiting(); waiting = null; } }
  };
  for (const [t, msg] of moves) ctx.suspend(t).then(() => { node.port.postMessage(msg); ctx.resume(); });
  if (dumpAt !== null) ctx.suspend(dumpAt).then(async () => {
    for (const v of notes) if (v.log) {
      const p = new Promise((r) => { waiting = r; });
      node.port.postMessage({ type: "dump", id: v.id });
      await p;
    }
    ctx.resume();
  });
  const buf = await ctx.startRendering();
  await new Promise((r) => setTimeout(r, 50));
  return { y: Array.from(buf.getChannelData(0)), applied, logs };
}"""

FLAT = {"a": 0, "d": 0, "s": 1, "r": 0}


def offline(page, synth, n, notes, moves=(), dump_at=None):
    return page.evaluate(OFFLINE, ["harmonic-wae-mmd", n, notes, list(moves), dump_at])


@needs_chromium
def test_worklet_offline_matches_the_python_engine(page, synth):
    z, c = fixed_path(synth)
    f0, amps, nz, y = python_reference(synth, z, c)
    n = len(y)
    note = {"id": 1, "labels": c[0].tolist(), "z": z[0].tolist(), "path": z.tolist(), "noise": False, "log": True,
            "adsr": FLAT}
    out = offline(page, synth, n, [note], dump_at=(n - 256) / synth.spec.sample_rate)
    log = out["logs"]["1"]
    js_amps = np.array([f["amps"] for f in log])[: len(amps)]
    assert len(log) >= len(amps) - 1
    np.testing.assert_allclose(js_amps, amps.numpy()[: len(js_amps)], rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(np.array([f["noise"] for f in log])[: len(nz)], nz.numpy()[: len(log)], rtol=1e-4,
                               atol=1e-6)
    np.testing.assert_allclose(np.array(out["y"]), y, atol=1e-3, rtol=0)  # sample by sample, same phase start
    assert np.abs(y).max() > 0.05  # not two silences

    # noise only: the same band energies (mean STFT power over frames, 8 bands over 0..Nyquist); the worklet's
    # noise frame t starts at sample t * hop where Python's is centred there: it lags by n_fft / 2 samples
    # (a slow glide of 120 frames: two Python renderings of other seeds differ by < 0.5 dB per band there)
    w = torch.linspace(0, 1, 120)[:, None]
    zn = z[0] * (1 - w) + z[5] * w
    _, _, _, y_noise = python_reference(synth, zn, c[:1].expand(120, -1), noise=True, harmonic=False)
    note.update(z=zn[0].tolist(), path=zn.tolist(), noise=True, harmonic=False, log=False)
    lag = synth.spec.n_fft // 2
    js_noise = np.array(offline(page, synth, len(y_noise) + lag, [note])["y"])[lag:]

    def bands(x):
        hop = synth.spec.hop_length
        spec = torch.stft(torch.tensor(x[4 * hop: -4 * hop]), 1024, hop, window=torch.hann_window(1024),
                          return_complex=True).abs().pow(2).mean(-1)
        return spec[:512].reshape(8, 64).sum(-1).numpy()

    b_py, b_js = bands(y_noise), bands(js_noise)
    assert b_py.sum() > 0
    np.testing.assert_allclose(10 * np.log10(b_js), 10 * np.log10(b_py), atol=1.0)  # dB per band
    print(f"\nnoise bands js / python: {np.round(b_js / b_py, 3)}")


@needs_chromium
def test_a_move_reaches_the_next_control_frame(page, synth):
    z, c = fixed_path(synth, 2, seed=3)
    z1, z2 = z[0] * 0, z[1] * 3  # far apart: a clearly different timbre
    sr, hop = synth.spec.sample_rate, synth.spec.hop_length
    n = 40 * hop
    note = {"id": 7, "labels": c[0].tolist(), "z": z1.tolist(), "noise": False, "log": True, "adsr": FLAT}
    t_move = (10 * hop + 77) / sr  # mid-frame, rounded to the render quantum by suspend()
    move = {"type": "move", "id": 7, "z": z2.tolist(), "sent": t_move}
    out = offline(page, synth, n, [note], [(t_move, move)], dump_at=(n - 128) / sr)
    (rep,) = [a for a in out["applied"] if a["sent"] is not None]
    assert rep["segment"] == rep["received"] + 1  # the ramp to the new code starts at the next frame boundary
    assert rep["applied"] == rep["received"] + 2  # ... towards the frame decoded from it
    assert 0 <= rep["onsetTime"] - t_move <= hop / sr + 128 / sr
    log = out["logs"]["7"]
    _, a1, _ = synth.harmonic_params(z1[None], c[:1])
    _, a2, _ = synth.harmonic_params(z2[None], c[:1])
    np.testing.assert_allclose(log[rep["applied"] - 1]["amps"], a1[0].numpy(), rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(log[rep["applied"]]["amps"], a2[0].numpy(), rtol=1e-4, atol=1e-7)
    assert float((a1 - a2).abs().max()) > 1e-2


@needs_chromium
def test_eight_keys_give_eight_voices_in_the_spectrum(page, synth):
    page.evaluate("window.__S.octave = 3; document.activeElement && document.activeElement.blur()")
    page.locator("#pad").focus()
    page.locator("#take").click()  # record the worklet's output
    keys = "asdfghjk"  # C D E F G A B C of octave 3 (MIDI 48 ...)
    for k in keys:
        page.keyboard.down(k)
    page.wait_for_timeout(600)
    stats = page.evaluate("window.__live().stats()")
    assert stats["voices"] == 8 and page.evaluate("window.__S.voices.size") == 8
    page.locator("#take").click()
    for k in keys:
        page.keyboard.up(k)
    page.wait_for_function("window.__S.lastTake !== null", timeout=5000)
    y = np.array(page.evaluate("Array.from(window.__S.lastTake.samples)"))
    sr = synth.spec.sample_rate
    y = y[int(0.15 * sr):]  # past the attack
    assert len(y) > 0.3 * sr
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    freqs = np.fft.rfftfreq(len(y), 1 / sr)
    pitches = [s["pitch"] for s in stats["voice"].values()]
    assert sorted(pitches) == [48, 50, 52, 53, 55, 57, 59, 60]
    floor = np.median(spec[(freqs > 50) & (freqs < 2000)])
    for p in pitches:
        f0 = 440 * 2 ** ((p - 69) / 12)
        near = spec[np.abs(freqs - f0) < 2].max()
        assert near > 10 * floor, (p, near / floor)  # a peak at every voice's f0 (> 20 dB over the median)


@needs_chromium
def test_midi_note_bend_and_learnt_cc(page, synth):
    assert page.evaluate("window.__ls.midiInputs") == 1
    live = "window.__live().stats()"
    page.evaluate("window.__midi([0x90, 62, 100])")  # note on D4, velocity 100
    page.wait_for_function("window.__S.voices.has('midi62')")
    page.wait_for_timeout(60)
    v = page.evaluate(live)["voice"]["midi62"]
    assert v["f0"] == pytest.approx(440 * 2 ** ((62 - 69) / 12), rel=1e-9) and not v["released"]
    page.locator("#bend-range").fill("12")
    page.evaluate("window.__midi([0xE0, 0x00, 0x60])")  # bend (0x60 << 7) - 8192 = +4096: half up = +6 semitones
    page.wait_for_timeout(80)
    v = page.evaluate(live)["voice"]["midi62"]
    assert v["bend"] == pytest.approx(6.0) and v["f0"] == pytest.approx(440 * 2 ** ((68 - 69) / 12), rel=1e-6)
    # CC learn: the first latent direction (a slider) learns CC 21; CC 21 = 127 moves the code by +3 sigma along it
    z0 = np.array(v["z"])
    page.locator("#learn-target").select_option("rest0")
    page.locator("#learn").click()
    page.evaluate("window.__midi([0xB0, 21, 0])")  # the learnt knob
    assert page.evaluate("window.__ls.midiLearn[21]") == "rest0"
    page.evaluate("window.__midi([0xB0, 21, 127])")
    page.wait_for_timeout(80)
    z1 = np.array(page.evaluate(live)["voice"]["midi62"]["z"])
    plane = page.evaluate("({rest: window.__S.plane.rest[0], scale: window.__S.plane.rest_scale[0]})")
    np.testing.assert_allclose(z1 - z0, 3 * plane["scale"] * np.array(plane["rest"]), atol=1e-5)
    page.evaluate("window.__midi([0x80, 62, 0])")  # note off: released in the worklet
    page.wait_for_timeout(60)
    st = page.evaluate(live)
    assert "midi62" not in st["voice"] or st["voice"]["midi62"]["released"]
    assert not page.evaluate("window.__S.voices.has('midi62')")


@needs_chromium
def test_web_export_plays_from_file_and_a_bad_model_gives_a_message(browser, tmp_path):
    from latentsynth.serve.webexport import export_web

    out = tmp_path / "web"
    files = export_web(MODEL, out, heatmap_size=8)
    assert (out / "index.html").read_text() == (STATIC / "index.html").read_text()  # the same page
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((out / "index.html").as_uri())
    pg.wait_for_function("window.__ls && (window.__ls.ready || window.__ls.loadError)", timeout=30_000)
    assert pg.evaluate("window.__ls.engine") == "live" and pg.evaluate("window.__ls.requests") == 0
    assert pg.evaluate("Live.via()") == "data"  # the worklet's module from a data: URL (file:// refuses blob:)
    rms = pg.evaluate("""async () => {
      const data = await Live.fetchModel('harmonic-wae-mmd'), sr = data.manifest.synth.sample_rate;
      const ctx = new OfflineAudioContext(1, sr / 2, sr);
      const node = await Live.createNode(ctx, data, { notes: [{ id: 1, pitch: 60, labels: [60, 0, 0, 0],
        z: window.__S.plane.centre, adsr: { a: 0.01, d: 0.05, s: 0.8, r: 0.1 } }] });
      node.connect(ctx.destination);
      const y = (await ctx.startRendering()).getChannelData(0);
      return Math.sqrt(y.reduce((a, v) => a + v * v, 0) / y.length);
    }""")
    assert rms > 1e-3
    assert not errors, errors
    pg.close()
    # a bad model file: weights cut short -> a message on the page, not a silent failure
    bundle = out / "static" / "bundle.js"
    text = bundle.read_text()
    data = json.loads(text[text.index("=") + 1: text.rindex(";")])
    w = data["web"]["harmonic-wae-mmd"]
    w["weights"] = w["weights"][: len(w["weights"]) // 2 // 16 * 16]  # whole float32s, half of them
    bundle.write_text(f"window.LATENTSYNTH_BUNDLE = {json.dumps(data)};\n")
    pg = browser.new_page()
    pg.goto((out / "index.html").as_uri())
    pg.wait_for_function("window.__ls && (window.__ls.ready || window.__ls.loadError)", timeout=30_000)
    msg = pg.locator("#status").inner_text()
    assert "model weights" in msg and "the manifest expects" in msg, msg
    assert pg.evaluate("window.__ls.engine") != "live"
    pg.close()
    assert sum(f.stat().st_size for f in files.values()) < 6e6
    assert not math.isnan(rms)


def test_the_server_hands_out_the_same_decoder_and_refuses_griffin_lim_models(synth, server):
    import urllib.error
    import urllib.request

    from latentsynth.folders import load
    from latentsynth.synth.export import ExportError

    man, weights = web_model(synth.model)
    with urllib.request.urlopen(f"{server}/api/models/harmonic-wae-mmd/weights.bin", timeout=20) as r:
        assert r.read() == weights
    with urllib.request.urlopen(f"{server}/api/models/harmonic-wae-mmd/web.json", timeout=20) as r:
        assert json.loads(r.read()) == json.loads(json.dumps(man))
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{server}/api/models/nope/web.json", timeout=20)
    assert err.value.code == 404
    with pytest.raises(ExportError, match="only harmonic models"):
        web_model(load(REPO / "models" / "sol" / "vae-frame"))


@needs_chromium
def test_musician_controls_sustain_mpe_morph_loop_and_take(page, synth, tmp_path):
    from latentsynth.synth import PathFile

    live = "window.__live().stats()"
    # sustain pedal: a note released under the pedal sounds on until the pedal is lifted
    page.evaluate("window.__midi([0xB0, 64, 127]); window.__midi([0x90, 64, 90]); window.__midi([0x80, 64, 0])")
    page.wait_for_timeout(60)
    assert not page.evaluate(live)["voice"]["midi64"]["released"]
    page.evaluate("window.__midi([0xB0, 64, 0])")
    page.wait_for_timeout(60)
    st = page.evaluate(live)["voice"]
    assert "midi64" not in st or st["midi64"]["released"]
    # MPE: each channel's bend and pressure move only its own note
    page.locator("#mpe").check()
    page.locator("#mpe-pressure").select_option("0")
    page.evaluate("window.__midi([0x91, 60, 100]); window.__midi([0x92, 67, 100])")
    page.wait_for_timeout(60)
    before = page.evaluate(live)["voice"]
    page.evaluate("window.__midi([0xE1, 0x00, 0x60]); window.__midi([0xD2, 127])")  # ch 2 bend, ch 3 pressure
    page.wait_for_timeout(80)
    after = page.evaluate(live)["voice"]
    assert after["midi1:60"]["bend"] != 0 and after["midi2:67"]["bend"] == 0
    assert after["midi1:60"]["z"] == before["midi1:60"]["z"] and after["midi2:67"]["z"] != before["midi2:67"]["z"]
    page.evaluate("window.__midi([0x81, 60, 0]); window.__midi([0x82, 67, 0])")
    page.locator("#mpe").uncheck()
    # four-corner morph: at the bottom-left corner of the pad the code is note A's (the sliders at the centre)
    page.locator("#reset-sliders").click()
    notes = page.evaluate("window.__S.plane.notes.slice(0, 4).map((n) => n.index)")
    page.evaluate(f"window.__S.selected = {notes}; window.__S.point = [window.__S.plane.extent[0], "
                  "window.__S.plane.extent[2]]")
    page.locator("#morph").check()
    page.evaluate("window.__midi([0x90, 65, 100])")
    page.wait_for_timeout(60)
    z = page.evaluate(live)["voice"]["midi65"]["z"]
    code_a = page.evaluate("window.__S.plane.notes[0].code")
    np.testing.assert_allclose(z, code_a, atol=1e-5)
    page.evaluate("window.__midi([0x80, 65, 0])")
    page.locator("#morph").uncheck()
    # the label menus reach held notes
    page.evaluate("window.__midi([0x90, 66, 100])")
    last = page.evaluate("[...document.getElementById('instrument').options].length - 1")
    page.locator("#instrument").select_option(index=last)
    page.wait_for_timeout(60)
    assert page.evaluate(live)["voice"]["midi66"]["labels"][1] == last
    page.evaluate("window.__midi([0x80, 66, 0])")
    page.locator("#instrument").select_option(index=0)
    # a circle loop while a note is held, recorded as a take: the WAV of the worklet's output and the path
    page.locator("#loop").select_option("circle")
    page.locator("#loop-rate").fill("4")
    page.locator("#take").click()
    page.evaluate("window.__midi([0x90, 60, 100])")
    zs = []
    for _ in range(3):
        page.wait_for_timeout(120)
        zs.append(page.evaluate(live)["voice"]["midi60"]["z"])
    page.evaluate("window.__midi([0x80, 60, 0])")
    page.locator("#take").click()
    page.locator("#loop").select_option("off")
    assert zs[0] != zs[1] != zs[2]  # the loop moves the held note's code
    page.wait_for_function("window.__S.lastTake !== null && window.__S.lastTake.moves.length > 5")
    with page.expect_download() as dl:
        page.locator("#export").click()
    wav = tmp_path / "take.wav"
    dl.value.save_as(wav)
    import soundfile as sf

    y, sr = sf.read(wav)
    assert sr == synth.spec.sample_rate and len(y) > 0.3 * sr and np.abs(y).max() > 1e-3
    with page.expect_download() as dl:
        page.locator("#save-take").click()
    dst = tmp_path / "take.path.json"
    dl.value.save_as(dst)
    pf = PathFile.read(dst)
    assert pf.latent_dim == synth.latent_dim and len(pf.codes) >= 10
    assert page.evaluate("window.__ls.errors") == 0, page.evaluate("window.__ls.lastError")


def test_the_cli_writes_the_web_instrument_and_refuses_griffin_lim_models(tmp_path):
    from typer.testing import CliRunner

    from latentsynth.cli.synth import app

    res = CliRunner().invoke(app, ["export", str(MODEL), "--web", str(tmp_path / "web")])
    assert res.exit_code == 0, res.output
    assert "web instrument: open" in res.output
    for f in ("index.html", "static/bundle.js", "static/worklet.js", "static/synth-core.js", "model/weights.bin"):
        assert (tmp_path / "web" / f).stat().st_size > 0
    res = CliRunner().invoke(app, ["export", str(REPO / "models" / "sol" / "vae-frame"), "--web", str(tmp_path / "gl")])
    assert res.exit_code != 0 and "harmonic models only" in res.output and "Traceback" not in res.output
