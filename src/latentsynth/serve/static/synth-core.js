// latentsynth — the harmonic decoder and the harmonic-plus-noise synthesizer in plain JS, for the AudioWorklet
// (worklet.js), the page and node. One definition of the maths: latentsynth.dsp.harmonic.additive_synth
// (docs/instrument.md, "The synthesizer in the page"); the weights and constants come from latentsynth.synth.web.
//
// The whole file is one function, latentsynthCore(root), so that the page can hand its source text to an
// AudioWorklet as a Blob (addModule of a file:// URL fails in Chromium): `(${latentsynthCore})(globalThis)`.
"use strict";

function latentsynthCore(root) {
  // ------------------------------------------------------------------------------------------- decoder
  /** manifest (web.json) + weights (ArrayBuffer or Float32Array, float32 LE) -> a model object. */
  function loadModel(manifest, weights) {
    if (!manifest || manifest.web_format !== 1 || !manifest.decoder || !manifest.synth)
      throw new Error("model manifest: not a latentsynth web export (web.json with web_format 1)");
    const w = weights instanceof Float32Array ? weights : new Float32Array(weights);
    if (w.length !== manifest.weights.count)
      throw new Error(`model weights: ${w.length} floats, the manifest expects ${manifest.weights.count}`);
    const view = (off, n) => {
      if (!(off >= 0 && off + n <= w.length)) throw new Error("model manifest: a layer lies outside weights.bin");
      return w.subarray(off, off + n);
    };
    const dense = (l) => ({ nIn: l.in, nOut: l.out, W: view(l.weight, l.in * l.out), b: view(l.bias, l.out),
                            activation: l.activation, slope: l.slope, max: l.max_value, exponent: l.exponent,
                            threshold: l.threshold });
    const d = manifest.decoder, s = manifest.synth;
    const layers = d.layers.map(dense);
    const model = { manifest, layers, amps: dense(d.heads.amps), noise: dense(d.heads.noise), codec: manifest.label_codec,
                    latentDim: d.latent_dim, condDim: d.cond_dim, frames: d.frames, K: d.n_harmonics, N: d.noise_bands,
                    sr: s.sample_rate, hop: s.hop, nFft: s.n_fft, noiseScale: s.noise_scale };
    const nIn = (layers.length ? layers[0] : model.amps).nIn;
    if (nIn !== d.latent_dim + d.cond_dim) throw new Error("model manifest: the first layer's input size is not latent_dim + cond_dim");
    const widest = Math.max(nIn, ...layers.map((l) => l.nOut));
    // activations in float32 as torch's (the sums accumulate in double): a float32 operand is faster in V8
    model.bufA = new Float32Array(widest); model.bufB = new Float32Array(widest);
    return model;
  }

  function roundHalfEven(x) {
    const r = Math.round(x);
    return (Math.abs(x % 1) === 0.5 && r % 2 !== 0) ? r - 1 : r;
  }

  /** labels [pitch, instrument, dynamics, style] -> the decoder's conditioning values written into out at off. */
  function embedLabels(model, labels, out, off) {
    for (const p of model.codec) {
      const v = labels[p.column];
      if (p.kind === "continuous") { out[off++] = (v - p.offset) / p.scale; continue; }
      let i = roundHalfEven(v);
      if (p.label === "pitch") i = Math.min(127, Math.max(0, i));
      for (let k = 0; k < p.size; k++) out[off + k] = k === i ? 1 : 0;
      off += p.size;
    }
    return off;
  }

  function denseForward(l, x, y) {  // y[o] = b[o] + sum_i W[o, i] x[i], then the activation
    const nIn = l.nIn, W = l.W;
    for (let o = 0; o < l.nOut; o++) {
      let acc = l.b[o];
      const row = o * nIn;
      for (let i = 0; i < nIn; i++) acc += W[row + i] * x[i];
      if (l.activation === "leaky_relu") y[o] = acc >= 0 ? acc : acc * l.slope;
      else if (l.activation === "exp_sigmoid") y[o] = l.max * Math.pow(1 / (1 + Math.exp(-acc)), l.exponent) + l.threshold;
      else y[o] = acc;
    }
  }

  /** codes z [d] + labels [4] -> {amps: Float64Array [W * K], noise: Float64Array [W * N]} (HarmonicDecoder.params). */
  function decode(model, z, labels, mix = null) {
    let x = model.bufA, y = model.bufB;
    for (let i = 0; i < model.latentDim; i++) x[i] = z[i];
    if (mix && mix.length) {  // label weights: sum_i w_i embed(row_i), the played pitch in every row (morphing)
      const d = model.latentDim, e = model.mixBuf || (model.mixBuf = new Float64Array(d + model.condDim));
      for (let i = d; i < d + model.condDim; i++) x[i] = 0;
      for (const [row, w] of mix) {
        const r = Array.from(row); r[0] = labels[0];
        embedLabels(model, r, e, d);
        for (let i = d; i < d + model.condDim; i++) x[i] += w * e[i];
      }
    } else embedLabels(model, labels, x, model.latentDim);
    for (const l of model.layers) { denseForward(l, x, y); const t = x; x = y; y = t; }
    const amps = new Float64Array(model.amps.nOut), noise = new Float64Array(model.noise.nOut);
    denseForward(model.amps, x, amps);
    denseForward(model.noise, x, noise);
    return { amps, noise };
  }

  const midiToHz = (p) => 440 * Math.pow(2, (p - 69) / 12);

  // ------------------------------------------------------------------------------------------- noise
  function fftTables(n) {
    if (n < 2 || (n & (n - 1)) !== 0) throw new Error(`n_fft ${n}: the page's synthesizer needs a power of two`);
    const rev = new Uint32Array(n), bits = Math.log2(n);
    for (let i = 0; i < n; i++) { let r = 0; for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b); rev[i] = r; }
    const cos = new Float64Array(n / 2), sin = new Float64Array(n / 2);
    for (let i = 0; i < n / 2; i++) { cos[i] = Math.cos(2 * Math.PI * i / n); sin[i] = Math.sin(2 * Math.PI * i / n); }
    const win = new Float64Array(n);  // periodic Hann, as torch.hann_window / librosa
    for (let i = 0; i < n; i++) win[i] = 0.5 - 0.5 * Math.cos(2 * Math.PI * i / n);
    return { n, rev, cos, sin, win };
  }

  function inverseFft(t, re, im) {  // in place, x[n] = 1/N sum_k X[k] e^{+2 pi i k n / N}
    const n = t.n;
    for (let i = 0; i < n; i++) { const j = t.rev[i]; if (j > i) { let a = re[i]; re[i] = re[j]; re[j] = a; a = im[i]; im[i] = im[j]; im[j] = a; } }
    for (let size = 2; size <= n; size *= 2) {
      const half = size / 2, step = n / size;
      for (let s = 0; s < n; s += size) for (let k = 0; k < half; k++) {
        const c = t.cos[k * step], si = t.sin[k * step], a = s + k, b = a + half;
        const xr = re[b] * c - im[b] * si, xi = re[b] * si + im[b] * c;
        re[b] = re[a] - xr; im[b] = im[a] - xi; re[a] += xr; im[a] += xi;
      }
    }
    for (let i = 0; i < n; i++) { re[i] /= n; im[i] /= n; }
  }

  function mulberry32(seed) {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6D2B79F5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  // ------------------------------------------------------------------------------------------- voice
  /** One note: control frames at the model's hop, linear interpolation of f0 and amplitudes per sample between
   *  frame centres, continuous phase, random-phase overlap-added noise, an ADSR envelope and a gain.
   *  opts: {id, pitch, z, labels [4], velocityGain, adsr {a, d, s, r} (s), path [[z...]] (one point per
   *  frames_per_point frames, then held), noise (bool), harmonic (bool), seed, log (bool), phase (cycles)}. */
  class Voice {
    constructor(engine, opts) {
      const m = engine.model;
      this.engine = engine; this.model = m; this.id = opts.id;
      this.z = Float64Array.from(opts.z || new Array(m.latentDim).fill(0));
      this.labels = Float64Array.from(opts.labels || [opts.pitch || 60, 0, 0, 0]);
      this.bend = 0; this.gain = opts.velocityGain === undefined ? 1 : opts.velocityGain;
      this.adsr = Object.assign({ a: 0.01, d: 0.1, s: 0.8, r: 0.2 }, opts.adsr || {});
      this.path = opts.path || null; this.pathIndex = 0;
      this.useNoise = opts.noise !== false; this.useHarmonic = opts.harmonic !== false;
      this.log = opts.log ? [] : null;
      this.length = opts.length || 0;  // samples after which the voice releases itself (paths), 0: held
      this.mix = opts.mix || null;  // [[labels row, weight], ...]: blended label weights (four-corner morphing)
      this.phase = opts.phase || 0;
      this.frame = 0;           // control frames begun (the worklet's frame counter)
      this.j = 0;               // sample within the current segment
      this.item = null; this.itemFrame = 0; this.dirty = true;
      this.pending = null;      // {received: frame, sent} of the last move not yet applied
      this.reports = [];
      this.env = 0; this.t = 0; this.releasedAt = -1; this.relLevel = 0; this.done = false;
      this.rand = mulberry32(opts.seed === undefined ? 1 : opts.seed);
      const n = m.nFft;
      this.ola = new Float64Array(n); this.olaPos = 0;
      this.re = new Float64Array(n); this.im = new Float64Array(n);
      this.K = m.K; this.N = m.N;
      this.cur = this.nextFrame(); this.nxt = this.nextFrame();
      this.startFrame(this.cur);
    }

    pitch() { return this.labels[0] + this.bend; }

    /** The parameters of the next control frame: {f0, amps [K], noise [N], frame}. */
    nextFrame() {
      const m = this.model;
      let changed = false;
      if (this.path) {
        if (this.itemFrame === 0 || this.item === null) {
          const z = this.path[Math.min(this.pathIndex, this.path.length - 1)];
          this.pathIndex += 1;
          this.item = decode(m, z, this.decodeLabels(), this.mix);
        }
      } else if (this.dirty || this.item === null) {
        this.item = decode(m, this.z, this.decodeLabels(), this.mix);
        this.dirty = false; changed = true;
      }
      const w = this.itemFrame;
      this.itemFrame = (this.itemFrame + 1) % m.frames;
      const f = { f0: midiToHz(this.pitch()), amps: this.item.amps.subarray(w * m.K, (w + 1) * m.K),
                  noise: this.item.noise.subarray(w * m.N, (w + 1) * m.N), index: this.frameCount || 0 };
      this.frameCount = (this.frameCount || 0) + 1;
      if (changed && this.pending) {  // a move reaches the synthesizer: this frame is the first with the new code
        this.reports.push({ type: "applied", id: this.id, received: this.pending.received, applied: f.index,
                            sent: this.pending.sent, onsetFrame: null });
        this.pending = null; f.report = this.reports[this.reports.length - 1];
      }
      if (this.log) this.log.push({ f0: f.f0, amps: Array.from(f.amps), noise: Array.from(f.noise) });
      return f;
    }

    decodeLabels() { const l = Float64Array.from(this.labels); l[0] = this.pitch(); return l; }

    move(z, sent) {
      for (let i = 0; i < this.z.length; i++) this.z[i] = z[i];
      this.dirty = true;
      this.pending = { received: this.frame, sent: sent === undefined ? null : sent };
    }

    setLabels(labels) { for (let i = 0; i < 4; i++) if (labels[i] !== undefined && labels[i] !== null) this.labels[i] = labels[i]; this.dirty = true; }
    setMix(mix) { this.mix = mix && mix.length ? mix : null; this.dirty = true; }
    setBend(semitones) { if (semitones !== this.bend) { this.bend = semitones; this.dirty = true; } }

    release() { if (this.releasedAt < 0) { this.releasedAt = this.t; this.relLevel = this.env; } }

    /** Overlap-add one random-phase noise frame of the frame's envelope (it starts now: the noise lags the
     *  centred frames of Python by n_fft / 2 samples; its spectrum is the same). */
    startFrame(f) {
      if (!this.useNoise) return;
      const m = this.model, n = m.nFft, nb = n / 2 + 1, tb = this.engine.fft, re = this.re, im = this.im;
      const bands = f.noise, N = this.N, scale = m.noiseScale;
      for (let b = 0; b < nb; b++) {
        let mag;
        if (N === 1) mag = bands[0];
        else {
          const pos = b * (N - 1) / (nb - 1), i0 = Math.min(N - 2, Math.floor(pos)), w = pos - i0;
          mag = bands[i0] * (1 - w) + bands[i0 + 1] * w;
        }
        mag *= scale;
        const ph = 2 * Math.PI * this.rand();
        re[b] = mag * Math.cos(ph); im[b] = (b === 0 || b === nb - 1) ? 0 : mag * Math.sin(ph);
      }
      for (let b = nb; b < n; b++) { re[b] = re[n - b]; im[b] = -im[n - b]; }
      inverseFft(tb, re, im);
      const ola = this.ola, pos = this.olaPos, norm = this.engine.olaNorm;
      for (let i = 0; i < n; i++) ola[(pos + i) % n] += re[i] * tb.win[i] / norm;
    }

    envelope(sr) {  // linear ADSR, per sample
      const { a, d, s, r } = this.adsr, t = this.t / sr;
      let g;
      if (this.releasedAt >= 0) {
        const tr = (this.t - this.releasedAt) / sr;
        g = r > 0 ? this.relLevel * Math.max(0, 1 - tr / r) : 0;
        if (g <= 0) this.done = true;
      } else if (t < a) g = t / a;
      else if (t < a + d) g = 1 + (s - 1) * (t - a) / d;
      else g = s;
      this.env = g;
      return g;
    }

    /** Add n samples into out[start .. start + n). */
    render(out, start, n) {
      const m = this.model, sr = m.sr, hop = m.hop, nyq = sr / 2, K = this.K;
      const ola = this.ola, nF = m.nFft;
      for (let i = 0; i < n; i++) {
        if (this.j === hop) {  // segment boundary: frame s + 1 becomes the start, a new target is decoded
          this.j = 0; this.frame += 1;
          this.cur = this.nxt; this.nxt = this.nextFrame();
          if (this.nxt.report) {  // from here the amplitudes ramp towards the frame of the new code
            this.nxt.report.onsetSample = this.engine.sampleTime + start + i; this.nxt.report.segment = this.frame;
          }
          this.startFrame(this.cur);
        }
        const w = this.j / hop, c = this.cur, x = this.nxt;
        let y = 0;
        if (this.useHarmonic) {
          const f0 = c.f0 + (x.f0 - c.f0) * w;
          let kmax = f0 > 0 ? Math.ceil(nyq / f0) - 1 : 0;
          if (kmax > K) kmax = K;
          const th = 2 * Math.PI * this.phase, s1 = Math.sin(th), c2 = 2 * Math.cos(th);
          let sPrev = 0, sK = s1;
          const a0 = c.amps, a1 = x.amps;
          for (let k = 0; k < kmax; k++) {  // sin((k+1) th) by the Chebyshev recurrence
            y += (a0[k] + (a1[k] - a0[k]) * w) * sK;
            const sNext = c2 * sK - sPrev; sPrev = sK; sK = sNext;
          }
          this.phase += f0 / sr;
          this.phase -= Math.floor(this.phase);
        }
        if (this.useNoise) { const p = this.olaPos; y += ola[p]; ola[p] = 0; this.olaPos = (p + 1) % nF; }
        if (this.length && this.t >= this.length) this.release();
        out[start + i] += y * this.envelope(sr) * this.gain;
        this.j += 1; this.t += 1;
        if (this.done) return;
      }
    }
  }

  // ------------------------------------------------------------------------------------------- engine
  /** Voices of one model, mixed into a mono block. */
  class Engine {
    constructor(model, maxVoices = 16) {
      this.model = model; this.maxVoices = maxVoices; this.voices = new Map();
      this.fft = fftTables(model.nFft);
      // least-squares overlap-add of torch.istft: divide by sum_t w^2(n - t hop) (1.5 for hop = n_fft / 4)
      let acc = 0;
      for (let i = 0; i < model.hop; i++) { let s = 0; for (let q = i; q < model.nFft; q += model.hop) s += this.fft.win[q] ** 2; acc += s; }
      this.olaNorm = acc / model.hop;
      this.sampleTime = 0; this.gain = 1;
    }

    noteOn(opts) {
      if (this.voices.has(opts.id)) this.voices.get(opts.id).release();
      if (this.voices.size >= this.maxVoices) {  // steal the oldest
        const first = this.voices.keys().next().value; this.voices.delete(first);
      }
      const v = new Voice(this, opts);
      this.voices.set(opts.id, v);
      return v;
    }

    voice(id) { return this.voices.get(id); }
    noteOff(id) { const v = this.voices.get(id); if (v) v.release(); }

    /** Mix n samples of every voice into out (zeroed first); finished voices are dropped. */
    render(out, n = out.length) {
      out.fill(0, 0, n);
      for (const [id, v] of this.voices) {
        v.render(out, 0, n);
        if (v.done) this.voices.delete(id);
      }
      if (this.gain !== 1) for (let i = 0; i < n; i++) out[i] *= this.gain;
      this.sampleTime += n;
    }
  }

  const api = { loadModel, decode, embedLabels, midiToHz, Engine, Voice, fftTables, inverseFft, mulberry32 };
  root.LatentSynthCore = api;
  return api;
}

if (typeof module !== "undefined" && module.exports) module.exports = latentsynthCore({});
else latentsynthCore(globalThis);
