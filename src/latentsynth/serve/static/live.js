// latentsynth — the instrument's real-time engine: a harmonic model's decoder and synthesizer in an AudioWorklet
// (synth-core.js + worklet.js), fed by the page with notes, latent moves, bends and labels. No request goes
// to the server while playing. Loaded before app.js; used by it through window.Live.
"use strict";

let LS_WORKLET_VIA = "blob";  // how the worklet's module was loaded (blob: URL, or data: URL on file:// pages)
const Live = (() => {
  /** The worklet's module source as a Blob URL: the core and the processor in one classic-script body. A
   *  Blob works from http:// and from file:// pages alike (addModule of a file:// URL does not). */
  function workletSource() {
    if (typeof latentsynthCore !== "function" || typeof latentsynthWorklet !== "function")
      throw new Error("synth-core.js and worklet.js must be loaded before live.js");
    return `"use strict";\n(${latentsynthCore.toString()})(globalThis);\n(${latentsynthWorklet.toString()})();\n`;
  }
  function workletUrl() { return URL.createObjectURL(new Blob([workletSource()], { type: "text/javascript" })); }

  function b64ToFloat32(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    if (bytes.length % 4) throw new Error(`model weights: ${bytes.length} bytes is not a whole number of float32`);
    return new Float32Array(bytes.buffer);
  }

  /** The model data of the page: from the web export's bundle.js (file:// or a static host) or the server. */
  async function fetchModel(name) {
    const B = window.LATENTSYNTH_BUNDLE;
    if (B) {
      const m = B.web && B.web[name];
      if (!m) throw new Error(`model ${name}: the export has no web model (not a harmonic model?)`);
      return { manifest: m.manifest, weights: b64ToFloat32(m.weights) };
    }
    const base = `api/models/${encodeURIComponent(name)}`;
    const [rm, rw] = await Promise.all([fetch(`${base}/web.json`), fetch(`${base}/weights.bin`)]);
    for (const r of [rm, rw]) if (!r.ok) {
      let msg = r.statusText;
      try { msg = (await r.json()).detail || msg; } catch (e) { /* not JSON */ }
      throw new Error(`${r.status}: ${msg}`);
    }
    const manifest = await rm.json(), buf = await rw.arrayBuffer();
    if (buf.byteLength % 4) throw new Error(`weights.bin: ${buf.byteLength} bytes is not a whole number of float32`);
    return { manifest, weights: new Float32Array(buf) };
  }

  /** An AudioWorkletNode running the model in ctx; resolves once the processor has loaded the weights (or
   *  rejects with its message). ``notes``: voices to start at the first sample (offline rendering, tests). */
  async function createNode(ctx, data, opts = {}) {
    // the core checks the manifest and the weights in the page first, so a bad model file gives a message here
    LatentSynthCore.loadModel(data.manifest, data.weights);
    const url = workletUrl();
    try { await ctx.audioWorklet.addModule(url); }
    catch (e) {  // a file:// page has an opaque origin, whose blob: URLs a worklet refuses: a data: URL then
      await ctx.audioWorklet.addModule(`data:text/javascript;charset=utf-8,${encodeURIComponent(workletSource())}`);
      LS_WORKLET_VIA = "data";
    } finally { URL.revokeObjectURL(url); }
    const node = new AudioWorkletNode(ctx, "latentsynth", { numberOfInputs: 0, numberOfOutputs: 1, outputChannelCount: [1],
      processorOptions: { manifest: data.manifest, weights: data.weights, notes: opts.notes || [], maxVoices: opts.maxVoices || 16,
                          adsr: opts.adsr || null } });
    await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("the audio worklet did not answer")), 10000);
      node.port.onmessage = (ev) => {
        if (ev.data.type !== "ready") return;
        clearTimeout(t);
        ev.data.error ? reject(new Error(ev.data.error)) : resolve();
      };
    });
    return node;
  }

  /** The page's side of a live model: note ids, messages, latency and recording. */
  class Engine {
    constructor(ctx, node, manifest, destination) {
      this.ctx = ctx; this.node = node; this.manifest = manifest;
      this.sr = manifest.synth.sample_rate; this.hop = manifest.synth.hop;
      this.latencies = []; this.applied = []; this.rec = null; this.recListeners = []; this.logs = new Map();
      this.onApplied = null;
      node.connect(destination);
      node.port.onmessage = (ev) => this.onMessage(ev.data);
    }

    onMessage(m) {
      if (m.type === "applied") {
        this.applied.push(m);
        if (this.applied.length > 2000) this.applied.shift();
        if (m.sent !== null && m.sent !== undefined) {
          this.latencies.push((m.onsetTime - m.sent) * 1000);
          if (this.latencies.length > 200) this.latencies.shift();
        }
        if (this.onApplied) this.onApplied(m);
      } else if (m.type === "rec" && this.rec) this.rec.push(m.samples);
      else if (m.type === "log") { const r = this.logs.get(m.id); if (r) { this.logs.delete(m.id); r(m); } }
      else if (m.type === "stats" && this.statsWaiter) { this.statsWaiter(m); this.statsWaiter = null; }
    }

    post(m) { this.node.port.postMessage(m); }
    noteOn(opts) { this.post({ type: "noteOn", ...opts }); }
    noteOff(id) { this.post({ type: "noteOff", id }); }
    move(id, z) { this.post({ type: "move", id, z: Array.from(z), sent: this.ctx.currentTime }); }
    labels(id, labels) { this.post({ type: "labels", id, labels }); }
    bend(id, semitones) { this.post({ type: "bend", id, semitones }); }
    mix(id, mix) { this.post({ type: "mix", id, mix }); }
    adsr(adsr) { this.post({ type: "adsr", adsr }); }
    gain(value) { this.post({ type: "gain", value }); }
    allOff() { this.post({ type: "allOff" }); }
    dump(id) { return new Promise((res) => { this.logs.set(id, res); this.post({ type: "dump", id }); }); }
    stats() { return new Promise((res) => { this.statsWaiter = res; this.post({ type: "stats" }); }); }
    startRecording() { this.rec = []; this.post({ type: "record", on: true }); }
    async stopRecording() {
      this.post({ type: "record", on: false });
      await new Promise((r) => setTimeout(r, 60));
      const parts = this.rec || []; this.rec = null;
      const n = parts.reduce((a, p) => a + p.length, 0), out = new Float32Array(n);
      let o = 0;
      for (const p of parts) { out.set(p, o); o += p.length; }
      return out;
    }
    medianLatency() {
      if (!this.latencies.length) return null;
      const s = this.latencies.slice().sort((a, b) => a - b);
      return s[Math.floor((s.length - 1) / 2)];
    }
    disconnect() { try { this.node.disconnect(); } catch (e) { /* gone */ } }
  }

  async function create(ctx, name, destination, opts = {}) {
    const data = await (opts.data || fetchModel(name));
    const node = await createNode(ctx, data, opts);
    return new Engine(ctx, node, data.manifest, destination);
  }

  // ------------------------------------------------------------------------------------------ generators
  /** Loop offsets in plane units at time t (s) for a held note: circle, spiral (radius breathes), walk
   *  (a smooth random walk: sums of slow sines). rate: cycles per second. */
  function loopOffset(kind, t, rate, radius) {
    const ph = 2 * Math.PI * rate * t;
    if (kind === "circle") return [radius * Math.cos(ph), radius * Math.sin(ph)];
    if (kind === "spiral") { const r = radius * (0.5 + 0.5 * Math.sin(ph / 4)); return [r * Math.cos(ph), r * Math.sin(ph)]; }
    if (kind === "walk") return [radius * (0.6 * Math.sin(ph * 0.73 + 1.3) + 0.4 * Math.sin(ph * 1.91)),
                                 radius * (0.6 * Math.sin(ph * 0.57 + 0.2) + 0.4 * Math.cos(ph * 1.37))];
    return [0, 0];
  }

  /** Bilinear weights of the four corners (A bottom-left, B bottom-right, C top-left, D top-right) at (u, v)
   *  in [0, 1]^2. */
  function bilinear(u, v) {
    u = Math.max(0, Math.min(1, u)); v = Math.max(0, Math.min(1, v));
    return [(1 - u) * (1 - v), u * (1 - v), (1 - u) * v, u * v];
  }

  /** Label the pad's axes by descriptors: for each heatmap, the correlation of its values with x and with y;
   *  an axis takes the descriptor most correlated with it (sign: which way it grows). */
  function axisLabels(heatmaps) {
    const best = { x: null, y: null };
    for (const [name, h] of Object.entries(heatmaps)) {
      if (!h || name === "density") continue;
      const n = h.size, vals = h.values;
      let mx = 0, my = 0, mv = 0;
      const N = n * n;
      for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) { mx += q; my += r; mv += vals[r * n + q]; }
      mx /= N; my /= N; mv /= N;
      let sxv = 0, syv = 0, sxx = 0, syy = 0, svv = 0;
      for (let r = 0; r < n; r++) for (let q = 0; q < n; q++) {
        const dv = vals[r * n + q] - mv, dx = q - mx, dy = r - my;
        sxv += dx * dv; syv += dy * dv; sxx += dx * dx; syy += dy * dy; svv += dv * dv;
      }
      const cx = svv > 0 ? sxv / Math.sqrt(sxx * svv) : 0, cy = svv > 0 ? syv / Math.sqrt(syy * svv) : 0;
      if (!best.x || Math.abs(cx) > Math.abs(best.x.r)) best.x = { name, r: cx };
      if (!best.y || Math.abs(cy) > Math.abs(best.y.r)) best.y = { name, r: cy };
    }
    return best;
  }

  return { via: () => LS_WORKLET_VIA, create, createNode, fetchModel, workletUrl, Engine, loopOffset, bilinear, axisLabels, b64ToFloat32 };
})();
window.Live = Live;
