// latentsynth — the instrument. Vanilla JS, Web Audio, Web MIDI; talks to the API of latentsynth.serve, or, in a
// web export (bundle.js holds the model), to nobody. Harmonic models play in an AudioWorklet (live.js); other
// models (Griffin-Lim) play server-rendered blocks.
"use strict";

const $ = (id) => document.getElementById(id);
const QUERY = new URLSearchParams(location.search);
const ENGINE = QUERY.get("engine") || "auto";  // auto: the worklet for harmonic models; blocks: server blocks
// seconds of audio per request while a note is held, and the lookahead that asks for the next block: the
// harmonic models' old block design (0.5 / 0.3, kept with ?engine=blocks) and shorter Griffin-Lim blocks
const BLOCKS = { harmonic: [0.5, 0.3], griffinlim: [0.2, 0.12] };
let BLOCK = 0.5, LOOKAHEAD = 0.3;
const XFADE = 0.005;      // blocks overlap by the engine's fade length
const KEYS = "awsedftgyhujk"; // computer keyboard: C .. C one octave up
const DYN_ORDER = ["ppp", "pp", "p", "mp", "mf", "f", "ff", "fff"];
const NOTE_NAMES = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"];
const PALETTE = ["#4e9df5", "#f5a04e", "#5ec46a", "#e8555a", "#b48cf2", "#a0765a", "#f07cc8", "#9a9a9a",
                 "#d5d04e", "#4ed5d0"];

// counters for tests and the curious
const LS = window.__ls = {
  ready: false, readyMs: null, blocksReceived: 0, blocksScheduled: 0, lastPitch: null, lastLatencyMs: null,
  lastRenderMs: null, requests: 0, errors: 0, lastError: null, lastExport: null, pathPoints: 0,
  engine: null, moves: [], axes: null, midiLearn: {}, lastBend: 0,
};

const S = {
  models: [], model: null, info: null, plane: null, rest: [], point: [0, 0], pitch: 60, octave: 4,
  selected: [], path: null, heat: null, voices: new Map(), record: [], drawing: null, dotsPx: [],
  live: null, bend: 0, chanBend: {}, sustain: false, sustained: new Set(), loop: null, take: null, lastTake: null,
  learning: null, seed: 0,
};

let ctx = null, master = null;

function audio(resume = true) {
  const sr = S.info ? S.info.sample_rate : undefined;
  if (ctx && sr && ctx.sampleRate !== sr && !S.live) { ctx.close(); ctx = null; }  // a model of another rate
  if (!ctx) {
    ctx = new (window.AudioContext || window.webkitAudioContext)({ latencyHint: "interactive", sampleRate: sr });
    master = ctx.createGain();
    master.gain.value = +$("gain").value;
    master.connect(ctx.destination);
  }
  if (resume && ctx.state === "suspended") ctx.resume();
  return ctx;
}

function status(msg, isError = false) {
  $("status").textContent = msg;
  $("status").style.color = isError ? "#e8555a" : "";
  if (isError) { LS.errors += 1; LS.lastError = msg; }
}

async function api(path, body, raw = false) {
  if (window.LATENTSYNTH_BUNDLE) return bundleApi(path, body);
  LS.requests += 1;
  const opt = body === undefined ? {} : body instanceof FormData ? { method: "POST", body } :
    { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const r = await fetch(path, opt);
  if (!r.ok) {
    let msg = r.statusText;
    try { msg = (await r.json()).detail || msg; } catch (e) { /* not JSON */ }
    throw new Error(`${r.status}: ${msg}`);
  }
  return raw ? r : r.json();
}
const mpath = (what) => `/api/models/${encodeURIComponent(S.model)}/${what}`;

// the web export: what the server would answer, from bundle.js (models, PCA plane, precomputed heatmaps)
async function bundleApi(path, body) {
  const B = window.LATENTSYNTH_BUNDLE;
  if (path === "/api/models") return B.models;
  if (path === "/api/descriptors") return B.descriptors || [];
  const m = path.match(/^\/api\/models\/([^/]+)\/(\w+)$/), name = m && decodeURIComponent(m[1]), what = m && m[2];
  const plane = B.planes && B.planes[name];
  if (what === "plane") {
    if (!plane || (body && body.kind && body.kind !== "pca")) throw new Error("this web export holds the PCA plane only");
    return plane;
  }
  if (what === "heatmap") {
    const h = B.heatmaps && B.heatmaps[name] && B.heatmaps[name][body.quantity];
    if (!h) throw new Error(`${body.quantity}: not precomputed in this web export (the server computes any)`);
    return h;
  }
  if (what === "project") {
    return { xy: body.codes.map((z) => plane.basis.map((b) => b.reduce((a, v, i) => a + v * (z[i] - plane.centre[i]), 0))) };
  }
  throw new Error(`${what}: needs the server (latentsynth serve MODEL); this web export plays in the page only`);
}

// ---------------------------------------------------------------------------------------------- labels
function labels() {
  const out = { pitch: S.pitch };
  for (const k of ["instrument", "dynamics", "style"]) {
    const v = $(k).value;
    if (v) out[k] = v;
  }
  return out;
}

function pitchName(p) { return NOTE_NAMES[((Math.round(p) % 12) + 12) % 12] + (Math.floor(Math.round(p) / 12) - 1); }

function setPitch(p) {
  S.pitch = p;
  $("pitch-name").textContent = `${pitchName(p)} (MIDI ${p})`;
}

function fillSelect(id, names) {
  const sel = $(id);
  sel.innerHTML = "";
  for (const n of names || []) sel.add(new Option(n, n));
  sel.disabled = !names || names.length < 2;
}

function dynamicsFromVelocity(vel) {
  const names = (S.info.vocab.dynamics || []).slice();
  if (!names.length) return null;
  const rank = (n) => (DYN_ORDER.includes(n) ? DYN_ORDER.indexOf(n) : DYN_ORDER.indexOf("mf"));
  names.sort((a, b) => rank(a) - rank(b));
  return names[Math.min(names.length - 1, Math.floor(vel / 128 * names.length))];
}

// ---------------------------------------------------------------------------------------------- geometry
function addRest(z) {  // the other directions at the sliders' values, added to the code z in place
  const p = S.plane;
  p.rest.forEach((dir, k) => {
    const a = (S.rest[k] || 0) * p.rest_scale[k];
    if (a) for (let i = 0; i < z.length; i++) z[i] += a * dir[i];
  });
  return z;
}
function lift(u, v) {  // plane point -> code, the other directions at the sliders' values
  const p = S.plane, z = p.centre.slice();
  for (let i = 0; i < z.length; i++) z[i] += u * p.basis[0][i] + v * p.basis[1][i];
  return addRest(z);
}
function toPx([u, v]) {
  const [x0, x1, y0, y1] = S.plane.extent, c = $("pad");
  return [(u - x0) / (x1 - x0) * c.width, c.height - (v - y0) / (y1 - y0) * c.height];
}
function fromPx(px, py) {
  const [x0, x1, y0, y1] = S.plane.extent, c = $("pad");
  return [x0 + px / c.width * (x1 - x0), y0 + (c.height - py) / c.height * (y1 - y0)];
}
function eventPx(ev) {
  const r = $("pad").getBoundingClientRect();
  return [(ev.clientX - r.left) * $("pad").width / r.width, (ev.clientY - r.top) * $("pad").height / r.height];
}

// ---------------------------------------------------------------------------------------------- drawing
function dotColor(lab) {  // lab = [pitch, instrument, dynamics, style]
  const by = $("color-by").value;
  if (by === "pitch") {
    const [lo, hi] = S.info.pitch_range, t = Math.max(0, Math.min(1, (lab[0] - lo) / Math.max(1, hi - lo)));
    return `hsl(${260 - 220 * t}, 80%, 60%)`;
  }
  return PALETTE[Math.round(lab[by === "dynamics" ? 2 : 1]) % PALETTE.length];
}

function drawLegend() {
  const by = $("color-by").value, el = $("legend");
  if (by === "pitch") { el.textContent = `pitch: purple = ${S.info.pitch_range[0]} … orange = ${S.info.pitch_range[1]}`; return; }
  const names = S.info.vocab[by] || [];
  el.innerHTML = names.map((n, i) => `<span class="sw" style="background:${PALETTE[i % PALETTE.length]}"></span>${n}`).join("");
  if (S.heat) el.innerHTML += ` &nbsp; heatmap ${S.heat.quantity}: ${S.heat.min.toFixed(2)} … ${S.heat.max.toFixed(2)} ${S.heat.unit}`;
}

function draw() {
  const c = $("pad"), g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (!S.plane) return;
  const p = S.plane;
  g.globalAlpha = 0.35;
  p.points.forEach((pt, i) => {
    const [x, y] = toPx(pt);
    g.fillStyle = dotColor(p.point_labels[i]);
    g.fillRect(x - 1, y - 1, 2, 2);
  });
  g.globalAlpha = 1;
  S.dotsPx = p.notes.map((n) => toPx(n.xy));
  p.notes.forEach((n, i) => {
    const [x, y] = S.dotsPx[i];
    g.beginPath(); g.arc(x, y, 4, 0, 2 * Math.PI);
    g.fillStyle = dotColor([n.pitch, (S.info.vocab.instrument || []).indexOf(n.instrument),
      (S.info.vocab.dynamics || []).indexOf(n.dynamics), 0]);
    g.fill(); g.strokeStyle = "#000"; g.lineWidth = 1; g.stroke();
    const k = S.selected.indexOf(n.index);
    if (k >= 0) {
      g.beginPath(); g.arc(x, y, 8, 0, 2 * Math.PI); g.strokeStyle = "#fff"; g.lineWidth = 2; g.stroke();
      g.fillStyle = "#fff"; g.fillText(String.fromCharCode(65 + k), x + 9, y - 6);
    }
  });
  const path = S.drawing || (S.path && S.path.xy);
  if (path && path.length) {
    g.beginPath();
    path.forEach((pt, i) => { const [x, y] = toPx(pt); i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.strokeStyle = "#fff"; g.lineWidth = 2; g.stroke();
    const [sx, sy] = toPx(path[0]);
    g.beginPath(); g.arc(sx, sy, 5, 0, 2 * Math.PI); g.strokeStyle = "#f0a030"; g.stroke();
  }
  const [px, py] = toPx(S.point);
  g.strokeStyle = "#f0a030"; g.lineWidth = 1.5;
  g.beginPath(); g.moveTo(px - 8, py); g.lineTo(px + 8, py); g.moveTo(px, py - 8); g.lineTo(px, py + 8); g.stroke();
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
function viridis(t) {
  t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
  return VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
}

function drawHeat() {
  const c = $("heat"), g = c.getContext("2d");
  g.fillStyle = "#101216"; g.fillRect(0, 0, c.width, c.height);
  const h = S.heat;
  if (!h) return;
  const img = g.createImageData(h.size, h.size), span = (h.max - h.min) || 1;
  for (let r = 0; r < h.size; r++) for (let q = 0; q < h.size; q++) {
    const v = (h.values[r * h.size + q] - h.min) / span, [R, G, B] = viridis(v);
    const o = ((h.size - 1 - r) * h.size + q) * 4;  // row 0 is y0: the bottom
    img.data[o] = R * 0.6; img.data[o + 1] = G * 0.6; img.data[o + 2] = B * 0.6; img.data[o + 3] = 255;
  }
  const tmp = document.createElement("canvas");
  tmp.width = tmp.height = h.size;
  tmp.getContext("2d").putImageData(img, 0, 0);
  g.imageSmoothingEnabled = true;
  // cell centres sit on the grid lines of the extent: stretch by half a cell on each side
  const cw = c.width / (h.size - 1), ch = c.height / (h.size - 1);
  g.drawImage(tmp, -cw / 2, -ch / 2, c.width + cw, c.height + ch);
}

let heatTimer = null, heatSeq = 0;
function refreshHeat(delay = 0) {
  clearTimeout(heatTimer);
  heatTimer = setTimeout(async () => {
    const q = $("heatmap").value, seq = ++heatSeq;
    if (q === "none" || !S.plane) { S.heat = null; drawHeat(); drawLegend(); return; }
    try {
      const h = await api(mpath("heatmap"), { quantity: q, plane: planeSpec(), extent: S.plane.extent, size: 32,
        ...labels() });
      if (seq !== heatSeq) return;
      S.heat = h; drawHeat(); drawLegend();
    } catch (e) { status(`heatmap: ${e.message}`, true); }
  }, delay);
}

// ---------------------------------------------------------------------------------------------- sliders
function buildSliders() {
  const box = $("sliders"); box.innerHTML = "";
  const p = S.plane;
  S.rest = p.rest.map(() => 0);
  const restDims = p.kind === "dims" ? p.rest.map((r) => r.findIndex((v) => v === 1)) : null;
  p.rest.forEach((_, k) => {
    const name = p.kind === "dims" ? `dim ${restDims[k]}` : p.kind === "pca" ? `PC ${k + 3}` : `dir ${k + 1}`;
    const lab = document.createElement("label");
    lab.innerHTML = `<span>${name}</span><input type="range" min="-3" max="3" step="0.05" value="0"><output>0</output>`;
    const inp = lab.querySelector("input"), out = lab.querySelector("output");
    inp.addEventListener("input", () => {
      S.rest[k] = +inp.value; out.textContent = (+inp.value).toFixed(2) + " σ";
      sendMoves();
      if ($("heatmap").value !== "density") refreshHeat(250);
    });
    box.appendChild(lab);
  });
}

// ---------------------------------------------------------------------------------------------- voices
function env(voice, t) {  // ADSR gain of a voice at time t (the same curve the GainNode plays)
  const { a, d, s, r } = voice.adsr, t0 = voice.t0;
  if (t0 === null || t < t0) return 0;
  const at = (x) => x < a ? x / a : x < a + d ? 1 - (1 - s) * (x - a) / d : s;
  if (voice.tRel === null || t < voice.tRel) return at(t - t0);
  const g0 = at(voice.tRel - t0);
  return Math.max(0, g0 * (1 - (t - voice.tRel) / r));
}

function adsr() {
  return { a: +$("attack").value, d: +$("decay").value, s: +$("sustain").value, r: +$("release").value };
}

class Voice {
  constructor(key, pitch, getZ, dynamics) {
    this.key = key; this.pitch = pitch; this.getZ = getZ; this.dynamics = dynamics;
    this.adsr = adsr(); this.t0 = null; this.tRel = null; this.released = false; this.sources = [];
    this.next = 0; this.lastZ = null; this.phase = null; this.gain = audio().createGain();
    this.gain.gain.value = 0; this.gain.connect(master);
  }

  start(t) {
    const { a, d, s } = this.adsr, g = this.gain.gain;
    this.t0 = t;
    g.setValueAtTime(0, t); g.linearRampToValueAtTime(1, t + a); g.linearRampToValueAtTime(Math.max(s, 1e-4), t + a + d);
  }

  schedule(samples, sr, tReq) {
    const c = audio(), buf = c.createBuffer(1, samples.length, sr);
    buf.copyToChannel(samples, 0);
    const src = c.createBufferSource();
    src.buffer = buf; src.connect(this.gain);
    const t = Math.max(this.next, c.currentTime + 0.02);
    if (this.t0 === null) this.start(t);
    src.start(t);
    this.sources.push(src);
    src.onended = () => { this.sources = this.sources.filter((x) => x !== src); };
    this.next = t + samples.length / sr - XFADE;
    LS.blocksScheduled += 1;
    S.record.push({ t, sr, samples, voice: this, gain: master.gain.value });
    if (tReq !== null) {
      LS.lastLatencyMs = performance.now() - tReq;
      showLatency();
    }
    $("rec-info").textContent = `${recordSeconds().toFixed(1)} s recorded`;
    return t;
  }

  release(at = null) {
    if (this.released) return;
    this.released = true;
    const c = audio(), { r } = this.adsr, g = this.gain.gain;
    const t = Math.max(at === null ? c.currentTime : at, this.t0 === null ? c.currentTime : this.t0);
    this.tRel = t;
    const v = env(this, t);
    if (g.cancelAndHoldAtTime) g.cancelAndHoldAtTime(t); else g.cancelScheduledValues(t);
    g.setValueAtTime(v, t); g.linearRampToValueAtTime(0, t + r);
    for (const s of this.sources) { try { s.stop(t + r + 0.01); } catch (e) { /* already stopped */ } }
    setTimeout(() => this.gain.disconnect(), (t + r - c.currentTime + 0.2) * 1000);
  }

  async pump() {  // keep 0.5 s blocks coming while held; each block glides from the last code to the current one
    let first = true;
    while (!this.released) {
      if (this.next - audio().currentTime < LOOKAHEAD) {
        const z = this.getZ(), codes = this.lastZ && !same(this.lastZ, z) ? [this.lastZ, z] : [z];
        this.lastZ = z;
        const tAsk = audio().currentTime;
        const tReq = performance.now();
        const lab = { ...labels(), pitch: this.pitch };
        if (this.dynamics) lab.dynamics = this.dynamics;
        LS.lastPitch = this.pitch;
        try {
          const body = { codes, duration: BLOCK, phase_at: BLOCK - XFADE, ...lab };
          if (this.phase !== null) body.phase = this.phase;  // continue the tone where the last block's overlap starts
          const { samples, sr, phase } = await decode(body);
          this.phase = phase;
          if (this.released) break;
          const t = this.schedule(samples, sr, first ? tReq : null);
          for (const m of LS.moves) if (m.onset === null && m.engine === "blocks" && m.t <= tAsk) m.onset = t;
          first = false;
        } catch (e) { status(`decode: ${e.message}`, true); this.release(); break; }
      } else {
        await new Promise((res) => setTimeout(res, 25));
      }
    }
  }
}

const same = (a, b) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-7);

async function decode(body) {
  const r = await api(mpath("decode"), { format: "f32", ...body }, true);
  const samples = new Float32Array(await r.arrayBuffer());
  LS.blocksReceived += 1;
  LS.lastRenderMs = +r.headers.get("x-render-ms");
  const phase = r.headers.get("x-phase");
  return { samples, sr: +r.headers.get("x-sample-rate"), phase: phase === null ? null : +phase };
}

function showLatency() {
  $("latency").textContent = `latency ${LS.lastLatencyMs.toFixed(0)} ms (server render ${(LS.lastRenderMs || 0).toFixed(1)} ms)`;
}

function noteOn(key, pitch, dynamics = null, opts = {}) {
  if (S.voices.has(key)) return;
  setPitch(pitch);
  LS.lastPitch = pitch;
  markKey(pitch, true);
  if (S.live) { liveNoteOn(key, pitch, dynamics, opts); return; }
  const v = new Voice(key, pitch, () => lift(...S.point), dynamics);
  S.voices.set(key, v);
  v.pump();
}

function noteOff(key) {
  const v = S.voices.get(key);
  if (!v) return;
  if (v.live && S.sustain && v.midi) { S.sustained.add(key); return; }  // the pedal holds it
  S.voices.delete(key);
  markKey(v.pitch, false);
  if (v.live) { S.live.noteOff(key); if (![...S.voices.values()].some((x) => x.live)) stopLoop(); return; }
  v.release();
}

// ---------------------------------------------------------------------------------------------- live (worklet)
function labelRow(pitch, names = {}) {  // [pitch, instrument, dynamics, style] indices of the model's vocabularies
  const row = [pitch, 0, 0, 0];
  ["instrument", "dynamics", "style"].forEach((k, i) => {
    const v = names[k] !== undefined ? names[k] : $(k).value, voc = S.info.vocab[k] || [];
    row[i + 1] = Math.max(0, voc.indexOf(v));
  });
  return row;
}

function morphCorners() {  // the four selected notes (A..D) as corners, or null
  if (!$("morph").checked || S.selected.length < 4) return null;
  return S.selected.slice(0, 4).map((i) => S.plane.notes.find((n) => n.index === i)).filter(Boolean);
}

function baseCode() {  // the pad's code: the plane point, or the bilinear blend of four notes' codes
  const corners = morphCorners();
  if (!corners || corners.length < 4) return { z: lift(...S.point), mix: null };
  const [x0, x1, y0, y1] = S.plane.extent;
  const w = Live.bilinear((S.point[0] - x0) / (x1 - x0), (S.point[1] - y0) / (y1 - y0));
  const z = new Array(S.info.latent_dim).fill(0);
  corners.forEach((n, c) => n.code.forEach((v, i) => { z[i] += w[c] * v; }));
  addRest(z);  // the sliders still add their directions
  const mix = corners.map((n, c) => [labelRow(n.pitch, n), w[c]]);
  return { z, mix };
}

function voiceCode(v, base) {  // a voice's code: the pad's, plus its MPE pressure along the chosen direction
  if (!v.pressure) return base.z;
  const k = +$("mpe-pressure").value, dir = S.plane.rest[k];
  if (!dir) return base.z;
  const a = v.pressure * 3 * S.plane.rest_scale[k];
  return base.z.map((x, i) => x + a * dir[i]);
}

function liveNoteOn(key, pitch, dynamics, opts) {
  const base = baseCode(), vel = opts.velocity === undefined ? 100 : opts.velocity;
  const names = dynamics ? { dynamics } : {};
  const v = { key, pitch, live: true, midi: !!opts.midi, channel: opts.channel, pressure: 0, names };
  S.voices.set(key, v);
  S.live.noteOn({ id: key, pitch, z: voiceCode(v, base), labels: labelRow(pitch, names), mix: base.mix,
                  velocityGain: 0.25 + 0.75 * vel / 127, adsr: adsr(), seed: ++S.seed });
  const bend = opts.channel !== undefined && $("mpe").checked ? (S.chanBend[opts.channel] || 0) : S.bend;
  if (bend) S.live.bend(key, bend);
  if ($("loop").value !== "off" && !S.loop) startLoop();
  LS.engine = "live";
}

function sendMoves() {  // the pad, a slider, a loop or a CC moved: every held voice gets its new code
  if (!S.live) return;
  const base = baseCode();
  for (const v of S.voices.values()) if (v.live) {
    S.live.move(v.key, voiceCode(v, base));
    if (base.mix) S.live.mix(v.key, base.mix);
  }
  if (S.take) S.take.moves.push([ctx.currentTime, base.z]);
}

// path generators as loops while a note is held: circle, spiral, walk around the point where it started
function loopRate() {
  const r = +$("loop-rate").value;
  return $("loop-unit").value === "bpm" ? r / 60 / 4 : r;  // BPM: one cycle per bar of four beats
}
function startLoop() {
  stopLoop();
  const anchor = S.point.slice(), t0 = performance.now(), [x0, x1, y0, y1] = S.plane.extent;
  const radius = 0.2 * Math.min(x1 - x0, y1 - y0);
  S.loop = setInterval(() => {
    const kind = $("loop").value;
    if (kind === "off") { stopLoop(); return; }
    const [dx, dy] = Live.loopOffset(kind, (performance.now() - t0) / 1000, loopRate(), radius);
    S.point = [anchor[0] + dx, anchor[1] + dy];
    sendMoves(); draw();
  }, 10);
}
function stopLoop() { if (S.loop) { clearInterval(S.loop); S.loop = null; } }

function showLiveLatency(m) {
  if (m.sent === null || m.sent === undefined) return;
  const ms = (m.onsetTime - m.sent) * 1000, med = S.live.medianLatency();
  LS.lastLatencyMs = ms;
  $("latency").textContent = `control latency ${ms.toFixed(1)} ms (median ${med.toFixed(1)} ms, worklet frame ${m.segment})`;
}

// record a take: the worklet's output (WAV) and the pad's codes (a path file)
function toggleTake() {
  if (!S.live) { status("recording a take needs the live (worklet) engine; blocks are recorded as they play"); return; }
  if (!S.take) {
    S.take = { t0: ctx.currentTime, moves: [[ctx.currentTime, baseCode().z]] };
    S.live.startRecording();
    $("take").textContent = "■ stop"; status("recording…");
    return;
  }
  const take = S.take; S.take = null;
  $("take").textContent = "● rec";
  S.live.stopRecording().then((samples) => {
    take.samples = samples; take.t1 = ctx.currentTime; S.lastTake = take;
    status(`take: ${(samples.length / S.live.sr).toFixed(2)} s recorded (export WAV, save take path)`);
    $("rec-info").textContent = `take ${(samples.length / S.live.sr).toFixed(1)} s`;
  });
}

function takePath() {  // the take's codes at one point per hop (the last move held), as a path file
  const t = S.lastTake;
  if (!t) { status("no take recorded"); return null; }
  const hop = S.info.hop_seconds, n = Math.max(2, Math.round((t.t1 - t.t0) / hop)), codes = [];
  let k = 0;
  for (let i = 0; i < n; i++) {
    const ti = t.t0 + i * hop;
    while (k + 1 < t.moves.length && t.moves[k + 1][0] <= ti) k++;
    codes.push(t.moves[k][1]);
  }
  return pathFile(codes, { duration: n * hop, meta: { generator: "take", model: S.model } });
}

function resample(codes, n) {  // linear resampling of a path to n points (uniform in its index)
  if (codes.length === 1) return Array.from({ length: n }, () => codes[0]);
  return Array.from({ length: n }, (_, i) => {
    const u = i * (codes.length - 1) / Math.max(1, n - 1), a = Math.min(codes.length - 2, Math.floor(u)), w = u - a;
    return codes[a].map((x, j) => x + w * (codes[a + 1][j] - x));
  });
}

function livePlayPath(codes, duration, what) {  // a path played by the worklet: one point per hop, then released
  const n = Math.max(2, Math.round(duration / S.info.hop_seconds)), id = `path${Math.random()}`;
  const pitch = typeof S.pitch === "number" ? S.pitch : 60;
  S.live.noteOn({ id, pitch, z: codes[0], path: resample(codes, n), labels: labelRow(pitch), adsr: adsr(),
                  seed: ++S.seed, length: Math.round(duration * S.live.sr) });
  LS.blocksScheduled += 1;  // one "block": the whole path
  status(`${what}: ${duration.toFixed(2)} s (in the page)`);
}

async function playOnce(body, what) {  // a whole path or a held note as one buffer, with the envelope
  if (S.live && !body.constant_speed) { livePlayPath(body.codes, body.duration || 1, what); return; }
  const v = new Voice("once-" + Math.random(), body.pitch, null, null);
  const tReq = performance.now();
  LS.lastPitch = body.pitch;
  try {
    const { samples, sr } = await decode(body);
    const t = v.schedule(samples, sr, tReq);
    v.release(Math.max(t, t + samples.length / sr - v.adsr.r));
    status(`${what}: ${(samples.length / sr).toFixed(2)} s`);
  } catch (e) { status(`${what}: ${e.message}`, true); v.release(); }
}

// ---------------------------------------------------------------------------------------------- recording
function recordSpan() {
  if (!S.record.length) return null;
  let t0 = Infinity, t1 = -Infinity;
  for (const b of S.record) {
    t0 = Math.min(t0, b.t);
    let end = b.t + b.samples.length / b.sr;
    if (b.voice.tRel !== null) end = Math.min(end, b.voice.tRel + b.voice.adsr.r);
    t1 = Math.max(t1, end);
  }
  return [t0, t1];
}
function recordSeconds() { const s = recordSpan(); return s ? s[1] - s[0] : 0; }

function mixRecording() {  // the played blocks through their envelopes and gain, at the model's sample rate
  const span = recordSpan();
  if (!span) return null;
  const sr = S.record[0].sr, [t0, t1] = span, n = Math.max(1, Math.round((t1 - t0) * sr));
  const out = new Float32Array(n);
  for (const b of S.record) {
    const off = Math.round((b.t - t0) * sr);
    for (let i = 0; i < b.samples.length; i++) {
      const j = off + i;
      if (j < 0 || j >= n) continue;
      out[j] += b.samples[i] * env(b.voice, b.t + i / sr) * b.gain;
    }
  }
  return { out, sr };
}

function encodeWav(samples, sr) {  // 16-bit PCM mono
  const buf = new ArrayBuffer(44 + samples.length * 2), v = new DataView(buf);
  const str = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); v.setUint32(4, 36 + samples.length * 2, true); str(8, "WAVE");
  str(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sr, true); v.setUint32(28, sr * 2, true); v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  str(36, "data"); v.setUint32(40, samples.length * 2, true);
  for (let i = 0; i < samples.length; i++) {
    const x = Math.max(-1, Math.min(1, samples[i]));
    v.setInt16(44 + i * 2, x < 0 ? x * 0x8000 : x * 0x7fff, true);
  }
  return buf;
}

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob); a.download = name;
  document.body.appendChild(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function exportWav() {  // the last take as the worklet played it, or else the played blocks
  const take = S.live && S.lastTake, mix = take ? { out: S.lastTake.samples, sr: S.live.sr } : mixRecording();
  if (!mix) { status("export: nothing played yet"); return; }
  const wav = encodeWav(mix.out, mix.sr), v = new DataView(wav);
  LS.lastExport = { bytes: wav.byteLength, sampleRate: v.getUint32(24, true), dataBytes: v.getUint32(40, true),
                    seconds: v.getUint32(40, true) / 2 / v.getUint32(24, true) };
  if (take) LS.lastExport.source = "worklet";
  download(`latentsynth-${S.model}${take ? "-take" : ""}.wav`, new Blob([wav], { type: "audio/wav" }));
  status(take ? `exported the take: ${LS.lastExport.seconds.toFixed(2)} s`
    : `exported ${LS.lastExport.seconds.toFixed(2)} s of audio`);
}

// ---------------------------------------------------------------------------------------------- paths
function planeSpec() {
  const kind = $("plane").value, spec = { kind, rest: S.rest.slice() };
  if (kind === "dims") spec.dims = [+$("dim-x").value, +$("dim-y").value];
  return spec;
}

function pathFile(codes, extra = {}) {
  const lab = labels();
  return { format: 1, latent_dim: S.info.latent_dim, codes, pitch: lab.pitch, instrument: lab.instrument || null,
           dynamics: lab.dynamics || null, style: lab.style || null, duration: null, constant_speed: false,
           meta: {}, ...extra };
}

function playPath() {
  if (!S.path) { status("no path: draw one, make one or load one"); return; }
  const dur = +$("duration").value;
  playOnce({ codes: S.path.codes, duration: dur, constant_speed: $("constant-speed").checked, ...labels() }, "path");
}

async function generate() {
  const kind = $("generator").value, need = ["lerp", "slerp", "expressive", "geodesic", "polyline", "bezier"];
  if (need.includes(kind) && S.selected.length < 2) { status(`${kind}: shift-click two dots first`); return; }
  const points = Math.max(2, Math.round(+$("duration").value / S.info.hop_seconds));
  status(`making a ${kind} path…`);
  try {
    const out = await api(mpath("path"), { kind, points: Math.min(points, 20000), notes: S.selected,
      plane: planeSpec(), ...labels() });
    S.path = { codes: out.path.codes, xy: out.xy, file: out.path };
    LS.pathPoints = out.xy.length;
    draw();
    playPath();
  } catch (e) { status(`${kind}: ${e.message}`, true); }
}

// ---------------------------------------------------------------------------------------------- pad events
function nearestDot(px, py, radius = 7) {
  let best = -1, bd = radius * radius;
  S.dotsPx.forEach(([x, y], i) => { const d = (x - px) ** 2 + (y - py) ** 2; if (d < bd) { bd = d; best = i; } });
  return best;
}

function onPadDown(ev) {
  if (!S.plane) return;
  audio();
  $("pad").setPointerCapture(ev.pointerId);
  const [px, py] = eventPx(ev), mode = document.querySelector("input[name=mode]:checked").value;
  if (mode === "draw") { S.drawing = [fromPx(px, py)]; draw(); return; }
  const k = nearestDot(px, py);
  if (k >= 0) {
    const n = S.plane.notes[k];
    if (ev.shiftKey) {
      const i = S.selected.indexOf(n.index);
      if (i >= 0) S.selected.splice(i, 1); else S.selected.push(n.index);
      S.selected = S.selected.slice(-8);
      $("selection").textContent = S.selected.length ? `selected: ${S.selected.length} note(s)` : "";
      draw(); return;
    }
    S.point = n.xy.slice();
    for (const [key, val] of [["instrument", n.instrument], ["dynamics", n.dynamics], ["style", n.style]])
      if (val) $(key).value = val;
    setPitch(Math.round(n.pitch));
    draw();
    playOnce({ codes: [n.code], duration: 1.0, ...labels() }, `${n.name} — its mean code, decoded (the original recording is not in the model folder)`);
    return;
  }
  S.point = fromPx(px, py);
  draw();
  noteOn("pad", S.pitch);
}

function onPadMove(ev) {
  if (!S.plane) return;
  const [px, py] = eventPx(ev);
  if (S.drawing) { S.drawing.push(fromPx(px, py)); draw(); return; }
  if (S.voices.has("pad")) {
    S.point = fromPx(px, py); draw();
    if (S.live) { LS.moves.push({ t: ctx.currentTime, onset: null, engine: "live" }); sendMoves(); }
    else LS.moves.push({ t: audio().currentTime, onset: null, engine: "blocks" });
    if (LS.moves.length > 500) LS.moves.shift();
  }
  const k = nearestDot(px, py), tip = $("tip");
  if (k >= 0) {
    const n = S.plane.notes[k];
    tip.textContent = `${n.name} (${[n.instrument, pitchName(n.pitch), n.dynamics].filter(Boolean).join(", ")})`;
    tip.style.left = `${px + 12}px`; tip.style.top = `${py + 8}px`; tip.hidden = false;
  } else tip.hidden = true;
}

function onPadUp() {
  if (S.drawing) {
    const xy = S.drawing; S.drawing = null;
    if (xy.length >= 2) {
      S.path = { xy, codes: xy.map(([u, v]) => lift(u, v)) };
      LS.pathPoints = xy.length;
      status(`drawn path: ${xy.length} points — press "play path"`);
    }
    draw(); return;
  }
  noteOff("pad");
}

// ---------------------------------------------------------------------------------------------- keyboard, MIDI
function buildKeyboard() {
  const kb = $("keyboard"); kb.innerHTML = "";
  const base = 12 * (S.octave + 1);
  let x = 0;
  for (let m = base; m <= base + 24; m++) {
    const black = [1, 3, 6, 8, 10].includes(m % 12), el = document.createElement("div");
    el.className = `key ${black ? "black" : "white"}`;
    el.dataset.midi = m;
    if (black) el.style.left = `${x - 10}px`; else { el.style.left = `${x}px`; x += 32; }
    if (!black && m % 12 === 0) el.textContent = pitchName(m);
    el.addEventListener("pointerdown", (e) => { e.preventDefault(); audio(); noteOn(`kb${m}`, m); });
    for (const t of ["pointerup", "pointerleave"]) el.addEventListener(t, () => noteOff(`kb${m}`));
    kb.appendChild(el);
  }
  $("octave").textContent = `(keys from ${pitchName(base)}; Z/X octave)`;
}

function markKey(m, on) {
  const el = document.querySelector(`#keyboard .key[data-midi="${m}"]`);
  if (el) el.classList.toggle("on", on);
}

function onKey(ev, down) {
  if (ev.target.tagName === "INPUT" && ev.target.type !== "range" || ev.target.tagName === "SELECT") return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const k = ev.key.toLowerCase(), i = KEYS.indexOf(k);
  if (down && (k === "z" || k === "x")) { S.octave = Math.max(0, Math.min(8, S.octave + (k === "x" ? 1 : -1))); buildKeyboard(); return; }
  if (i < 0) return;
  ev.preventDefault();
  if (down) { if (!ev.repeat) { audio(); noteOn(`key${k}`, 12 * (S.octave + 1) + i); } } else noteOff(`key${k}`);
}

function setupMidi() {
  if (!navigator.requestMIDIAccess) return;
  navigator.requestMIDIAccess().then((access) => {
    const hook = () => access.inputs.forEach((inp) => { inp.onmidimessage = onMidi; });
    hook(); access.onstatechange = hook;
    LS.midiInputs = access.inputs.size;
  }).catch(() => { /* no MIDI permission: keys and pad still play */ });
}

// MIDI learn targets: a latent direction (a slider of "other directions"), the pad's axes, gain, ADSR stages
function learnTargets() {
  const t = [["x", "pad x"], ["y", "pad y"], ["gain", "gain"], ["attack", "attack"], ["decay", "decay"],
             ["sustain", "sustain"], ["release", "release"]];
  if (S.plane) S.plane.rest.forEach((_, k) => t.push([`rest${k}`, `direction ${k + 1} (${restName(k)})`]));
  return t;
}
function restName(k) {
  const p = S.plane;
  return p.kind === "dims" ? `dim ${p.rest[k].findIndex((v) => v === 1)}` : p.kind === "pca" ? `PC ${k + 3}` : `dir ${k + 1}`;
}
function fillLearn() {
  for (const id of ["learn-target", "mod-target", "mpe-pressure"]) {
    const sel = $(id), keep = sel.value;
    sel.innerHTML = "";
    for (const [v, name] of learnTargets()) if (id !== "mpe-pressure" || v.startsWith("rest")) sel.add(new Option(name, id === "mpe-pressure" ? v.slice(4) : v));
    if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
    else if (id === "mod-target" && S.plane.rest.length) sel.value = "rest0";  // the mod wheel: a latent direction
  }
}
function showLearn() {
  $("learn-map").textContent = Object.entries(LS.midiLearn).map(([cc, t]) => `CC${cc} → ${t}`).join(", ") || "no CC learnt";
}

function applyCC(target, value) {  // value 0..127
  const u = value / 127;
  if (target === "x" || target === "y") {
    const [x0, x1, y0, y1] = S.plane.extent;
    if (target === "x") S.point[0] = x0 + u * (x1 - x0); else S.point[1] = y0 + u * (y1 - y0);
    draw(); sendMoves(); return;
  }
  if (target.startsWith("rest")) {
    const el = document.querySelectorAll("#sliders input")[+target.slice(4)];
    if (el) { el.value = -3 + 6 * u; el.dispatchEvent(new Event("input")); }
    return;
  }
  const el = $(target);
  if (el) setRange(target, +el.min + u * (+el.max - +el.min));
}

function onMidi(msg) {
  const [st, d1, d2] = msg.data, type = st & 0xf0, ch = st & 0x0f, mpe = $("mpe").checked;
  const key = mpe ? `midi${ch}:${d1}` : `midi${d1}`;
  if (type === 0x90 && d2 > 0) {
    audio();
    noteOn(key, d1, dynamicsFromVelocity(d2), { velocity: d2, midi: true, channel: ch });
    S.sustained.delete(key);
  } else if (type === 0x80 || (type === 0x90 && d2 === 0)) noteOff(key);
  else if (type === 0xE0) {  // pitch bend: 14 bits, centre 8192, +-range semitones
    const semis = ((d2 << 7 | d1) - 8192) / 8192 * +$("bend-range").value;
    LS.lastBend = semis;
    if (mpe) S.chanBend[ch] = semis; else S.bend = semis;
    if (S.live) for (const v of S.voices.values()) if (v.live && (!mpe || v.channel === ch)) S.live.bend(v.key, semis);
  } else if (type === 0xD0 && mpe) {  // channel pressure (MPE): this channel's notes along the chosen direction
    for (const v of S.voices.values()) if (v.live && v.channel === ch) v.pressure = d1 / 127;
    sendMoves();
  } else if (type === 0xB0) {
    if (S.learning) { LS.midiLearn[d1] = S.learning; S.learning = null; $("learn").textContent = "learn"; showLearn(); return; }
    if (d1 === 64) {  // sustain pedal
      S.sustain = d2 >= 64;
      if (!S.sustain) { for (const k of [...S.sustained]) { S.sustained.delete(k); noteOff(k); } }
    } else if (LS.midiLearn[d1]) applyCC(LS.midiLearn[d1], d2);
    else if (d1 === 1) applyCC($("mod-target").value, d2);  // mod wheel
  }
}

// ---------------------------------------------------------------------------------------------- files
function savePreset() {
  const pf = pathFile([lift(...S.point)], { meta: { generator: "preset", model: S.model, plane: planeSpec(),
    xy: S.point, adsr: adsr(), gain: +$("gain").value } });
  download("preset.path.json", new Blob([JSON.stringify(pf, null, 1)], { type: "application/json" }));
}

function savePath() {
  if (!S.path) { status("no path to save"); return; }
  const pf = pathFile(S.path.codes, { duration: +$("duration").value, constant_speed: $("constant-speed").checked,
    meta: { ...(S.path.file ? S.path.file.meta : { generator: "drawn" }), model: S.model } });
  download("path.path.json", new Blob([JSON.stringify(pf, null, 1)], { type: "application/json" }));
}

async function loadFile(file) {
  try {
    const pf = JSON.parse(await file.text());
    if (pf.latent_dim !== S.info.latent_dim) throw new Error(`latent_dim ${pf.latent_dim}; this model has ${S.info.latent_dim}`);
    const { xy } = await api(mpath("project"), { codes: pf.codes, plane: planeSpec() });
    for (const k of ["instrument", "dynamics", "style"]) if (pf[k]) $(k).value = pf[k];
    if (typeof pf.pitch === "number") setPitch(Math.round(pf.pitch));
    const m = pf.meta || {};
    if (m.adsr) for (const [k, id] of [["a", "attack"], ["d", "decay"], ["s", "sustain"], ["r", "release"]]) setRange(id, m.adsr[k]);
    if (m.gain !== undefined) setRange("gain", m.gain);
    if (pf.codes.length === 1) { S.point = xy[0]; status(`preset loaded (${file.name})`); }
    else {
      S.path = { codes: pf.codes, xy, file: pf };
      if (pf.duration) $("duration").value = pf.duration;
      $("constant-speed").checked = !!pf.constant_speed;
      status(`path loaded: ${pf.codes.length} points (${file.name})`);
    }
    draw();
  } catch (e) { status(`load ${file.name}: ${e.message}`, true); }
}

async function uploadRecording(file) {
  const fd = new FormData();
  fd.append("file", file);
  for (const k of ["instrument", "dynamics", "style"]) if ($(k).value) fd.append(k, $(k).value);
  fd.append("plane", $("plane").value);
  if ($("plane").value === "dims") fd.append("dims", `${$("dim-x").value},${$("dim-y").value}`);
  status(`encoding ${file.name}…`);
  try {
    const out = await api(mpath("encode"), fd);
    S.path = { codes: out.path.codes, xy: out.xy, file: out.path };
    if (typeof out.path.pitch === "number") setPitch(Math.round(out.path.pitch));
    $("duration").value = (out.path.meta.seconds || 2).toFixed(2);
    draw();
    status(`${file.name}: ${out.path.codes.length} codes — press "play path"`);
  } catch (e) { status(`encode: ${e.message}`, true); }
}

function setRange(id, v) { const el = $(id); el.value = v; el.dispatchEvent(new Event("input")); }

// ---------------------------------------------------------------------------------------------- setup
async function loadPlane() {
  status("loading the plane…");
  S.plane = await api(mpath("plane"), { kind: $("plane").value, dims: $("plane").value === "dims" ? [+$("dim-x").value, +$("dim-y").value] : null });
  buildSliders();
  const [x0, x1, y0, y1] = S.plane.extent;
  if (!(S.point[0] >= x0 && S.point[0] <= x1 && S.point[1] >= y0 && S.point[1] <= y1)) S.point = [(x0 + x1) / 2, (y0 + y1) / 2];
  if (S.path) {
    try { S.path.xy = (await api(mpath("project"), { codes: S.path.codes, plane: planeSpec() })).xy; } catch (e) { S.path = null; }
  }
  draw(); drawLegend();
  status(`${S.info.name}: ${S.plane.notes.length} training notes, ${S.info.latent_dim}-d, ` +
         `${S.info.harmonic ? "harmonic (additive rendering)" : "Griffin-Lim rendering"} — click the pad`);
  refreshHeat();
}

async function loadLive(data) {  // a harmonic model runs in the page; any failure is shown, the server still renders
  if (S.live) { S.live.allOff(); S.live.disconnect(); S.live = null; }
  LS.engine = "blocks";
  [BLOCK, LOOKAHEAD] = BLOCKS[S.info.harmonic ? "harmonic" : "griffinlim"];
  $("engine").textContent = S.info.harmonic ? "server blocks (?engine=blocks)" : `server blocks of ${BLOCK} s (Griffin-Lim)`;
  if (!S.info.harmonic || ENGINE === "blocks") return;
  try {
    audio(false);
    S.live = await Live.create(ctx, S.model, master, { adsr: adsr(), data });
    S.live.onApplied = (m) => {
      const mv = LS.moves.find((x) => x.engine === "live" && x.onset === null && Math.abs(x.t - m.sent) < 1e-9);
      if (mv) mv.onset = m.onsetTime;
      showLiveLatency(m);
    };
    LS.engine = "live";
    $("engine").textContent = `in the page (AudioWorklet, ${S.live.sr} Hz, control frame ${(1000 * S.live.hop / S.live.sr).toFixed(1)} ms)`;
  } catch (e) {
    S.live = null;
    const msg = `model ${S.model}: ${e.message}`;
    status(msg, true); LS.liveError = msg;
    if (window.LATENTSYNTH_BUNDLE) { $("engine").textContent = "cannot play: see the message"; throw new Error(msg); }
    $("engine").textContent = "server blocks (the page could not run the model: see the message)";
  }
}

// axis labels: the descriptor most correlated with each axis of the pad (from descriptor heatmaps)
async function labelAxes() {
  const maps = {};
  const label = {};
  for (const d of S.descriptors || []) {  // the descriptor registry, as the server lists it
    label[d.name] = d.label;
    try { maps[d.name] = await api(mpath("heatmap"), { quantity: d.name, plane: planeSpec(), extent: S.plane.extent, size: 16, ...labels() }); }
    catch (e) { /* not available here (e.g. not precomputed in a web export): no label from it */ }
  }
  const best = Live.axisLabels(maps);
  const say = (b, axis) => !b ? "" : `${axis} → ${b.r >= 0 ? "more" : "less"} ${label[b.name]} (r = ${b.r.toFixed(2)})`;
  LS.axes = best;
  $("axes").textContent = [say(best.x, "x"), say(best.y, "y")].filter(Boolean).join(" · ");
}

async function loadModel(name) {
  S.model = name;
  S.info = S.models.find((m) => m.name === name);
  for (const k of ["instrument", "dynamics", "style"]) fillSelect(k, S.info.vocab[k]);
  $("dim-x").max = $("dim-y").max = S.info.latent_dim - 1;
  const [lo, hi] = S.info.pitch_range;
  setPitch(Math.round((lo + hi) / 2));
  S.octave = Math.max(0, Math.floor(S.pitch / 12) - 1);
  S.selected = []; S.path = null;
  buildKeyboard();
  const data = S.info.harmonic && ENGINE !== "blocks" ? Live.fetchModel(name) : null;  // while the plane loads
  if (data) data.catch(() => { /* reported by loadLive */ });
  await loadPlane();
  fillLearn();
  await loadLive(data);
  labelAxes();
}

function bindRanges() {
  for (const id of ["attack", "decay", "sustain", "release", "gain"]) {
    const el = $(id), out = el.nextElementSibling;
    const show = () => { out.textContent = (+el.value).toFixed(id === "sustain" || id === "gain" ? 2 : 3); };
    el.addEventListener("input", show); show();
  }
  $("gain").addEventListener("input", () => { if (master) master.gain.setTargetAtTime(+$("gain").value, ctx.currentTime, 0.01); });
  for (const id of ["attack", "decay", "sustain", "release"]) $(id).addEventListener("input", () => { if (S.live) S.live.adsr(adsr()); });
}

async function main() {
  bindRanges();
  const pad = $("pad");
  pad.addEventListener("pointerdown", onPadDown);
  pad.addEventListener("pointermove", onPadMove);
  pad.addEventListener("pointerup", onPadUp);
  pad.addEventListener("pointercancel", onPadUp);
  pad.addEventListener("pointerleave", () => { $("tip").hidden = true; });
  window.addEventListener("keydown", (e) => onKey(e, true));
  window.addEventListener("keyup", (e) => onKey(e, false));
  window.addEventListener("blur", () => { for (const k of [...S.voices.keys()]) noteOff(k); });
  $("model").addEventListener("change", () => loadModel($("model").value).catch((e) => status(e.message, true)));
  $("plane").addEventListener("change", () => {
    $("dims-box").hidden = $("plane").value !== "dims";
    loadPlane().catch((e) => status(`plane: ${e.message}`, true));
  });
  for (const id of ["dim-x", "dim-y"]) $(id).addEventListener("change", () => loadPlane().catch((e) => status(`plane: ${e.message}`, true)));
  $("color-by").addEventListener("change", () => { draw(); drawLegend(); });
  $("heatmap").addEventListener("change", () => refreshHeat());
  for (const id of ["instrument", "dynamics", "style"]) $(id).addEventListener("change", () => {
    if ($("heatmap").value !== "density") refreshHeat(100);
    if (S.live) for (const v of S.voices.values()) if (v.live) S.live.labels(v.key, labelRow(v.pitch, v.names));  // held notes too
  });
  $("generate").addEventListener("click", generate);
  $("play-path").addEventListener("click", () => { audio(); playPath(); });
  $("clear-path").addEventListener("click", () => { S.path = null; S.selected = []; $("selection").textContent = ""; draw(); });
  $("save-preset").addEventListener("click", savePreset);
  $("save-path").addEventListener("click", savePath);
  $("load").addEventListener("change", (e) => { if (e.target.files[0]) loadFile(e.target.files[0]); e.target.value = ""; });
  $("upload").addEventListener("change", (e) => { if (e.target.files[0]) uploadRecording(e.target.files[0]); e.target.value = ""; });
  $("export").addEventListener("click", exportWav);
  $("clear-rec").addEventListener("click", () => { S.record = []; $("rec-info").textContent = ""; });
  $("reset-sliders").addEventListener("click", () => { document.querySelectorAll("#sliders input").forEach((el) => setRange2(el)); });
  try {
    S.models = await api("/api/models");
    S.descriptors = await api("/api/descriptors");
    for (const d of S.descriptors) $("heatmap").insertBefore(new Option(d.label, d.name), $("heatmap").querySelector("option[value=none]"));
    for (const m of S.models) $("model").add(new Option(m.name, m.name));
    await loadModel(S.models[0].name);
    setupMidi();
    $("learn").addEventListener("click", () => { S.learning = $("learn-target").value; $("learn").textContent = "move a knob…"; });
    $("take").addEventListener("click", toggleTake);
    $("save-take").addEventListener("click", () => { const pf = takePath(); if (pf) download("take.path.json", new Blob([JSON.stringify(pf, null, 1)], { type: "application/json" })); });
    $("morph").addEventListener("change", () => { if ($("morph").checked && S.selected.length < 4) status("morph: shift-click four dots (corners A B C D: bottom-left, bottom-right, top-left, top-right)"); sendMoves(); });
    LS.ready = true;
    LS.readyMs = performance.now();
  } catch (e) { status(`could not load: ${e.message}`, true); LS.loadError = e.message; }
}

window.__dots = () => S.dotsPx;  // for tests: note dots in pad pixels
window.__live = () => S.live;
window.__S = S;
window.__hop = () => S.info.hop_seconds;

function setRange2(el) { el.value = 0; el.dispatchEvent(new Event("input")); }

main();
