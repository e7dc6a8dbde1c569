// latentsynth — the AudioWorklet processor: the voices of synth-core.js on the audio thread. Messages (port):
//   {type: "noteOn", id, pitch, z, labels, velocityGain, adsr, path, noise, harmonic, seed, log}
//   {type: "noteOff", id} {type: "move", id, z, sent} {type: "labels", id, labels} {type: "bend", id, semitones}
//   {type: "mix", id, mix: [[labels, weight], ...]}
//   {type: "adsr", adsr} {type: "gain", value} {type: "allOff"} {type: "record", on} {type: "dump", id}
//   {type: "stats"}
// Replies: {type: "applied", id, received, applied, onsetTime, sent} when a move reaches the synthesizer (frame
// counters of the voice: the move arrived during frame `received`; frame `applied` is the first decoded from
// the new code, and the ramp to it starts at onsetTime, in the AudioContext clock), {type: "rec", samples},
// {type: "log", id, frames}, {type: "stats", ...}.
// Like synth-core.js it is one function so that the page can make a Blob of its source (file:// pages).
"use strict";

function latentsynthWorklet() {
  const Core = globalThis.LatentSynthCore;

  class LatentSynthProcessor extends AudioWorkletProcessor {
    constructor(options) {
      super();
      const o = options.processorOptions || {};
      this.engine = null; this.error = null; this.record = false; this.recBuf = null; this.recPos = 0;
      this.quanta = 0; this.adsr = o.adsr || null;
      try {
        this.engine = new Core.Engine(Core.loadModel(o.manifest, o.weights), o.maxVoices || 16);
        for (const n of o.notes || []) this.engine.noteOn(n);
      } catch (e) { this.error = String(e && e.message || e); }
      this.port.onmessage = (ev) => this.onMessage(ev.data);
      this.port.postMessage({ type: "ready", error: this.error });
    }

    onMessage(m) {
      const e = this.engine;
      if (!e) return;
      const v = m.id === undefined ? null : e.voice(m.id);
      switch (m.type) {
        case "noteOn": e.noteOn(Object.assign({ adsr: this.adsr }, m)); break;
        case "noteOff": e.noteOff(m.id); break;
        case "move": if (v) v.move(m.z, m.sent); break;
        case "labels": if (v) v.setLabels(m.labels); break;
        case "bend": if (v) v.setBend(m.semitones); break;
        case "mix": if (v) v.setMix(m.mix); break;
        case "adsr": this.adsr = m.adsr; for (const x of e.voices.values()) if (x.releasedAt < 0) x.adsr = Object.assign({}, x.adsr, m.adsr); break;
        case "gain": e.gain = m.value; break;
        case "allOff": for (const x of e.voices.values()) x.release(); break;
        case "record": this.record = !!m.on; if (!this.record) this.flush(); break;
        case "dump": if (v && v.log) this.port.postMessage({ type: "log", id: m.id, frames: v.log, frame: v.frame }); break;
        case "stats": this.port.postMessage({ type: "stats", voices: e.voices.size, quanta: this.quanta,
          frames: Object.fromEntries([...e.voices].map(([id, x]) => [id, x.frame])),
          voice: Object.fromEntries([...e.voices].map(([id, x]) => [id, { frame: x.frame, f0: x.cur.f0, bend: x.bend,
            pitch: x.labels[0], labels: Array.from(x.labels), z: Array.from(x.z), released: x.releasedAt >= 0 }])) }); break;
        default: break;
      }
    }

    flush() {
      if (this.recBuf && this.recPos) {
        const out = this.recBuf.slice(0, this.recPos);
        this.port.postMessage({ type: "rec", samples: out }, [out.buffer]);
      }
      this.recBuf = null; this.recPos = 0;
    }

    process(inputs, outputs) {
      const out = outputs[0];
      if (!out || !out.length) return true;
      const ch = out[0];
      if (!this.engine) { ch.fill(0); return true; }
      this.engine.sampleTime = currentFrame;  // the AudioContext's clock, in samples
      this.engine.render(ch, ch.length);
      for (let c = 1; c < out.length; c++) out[c].set(ch);
      this.quanta += 1;
      for (const v of this.engine.voices.values()) {
        if (!v.reports.length) continue;
        const keep = [];
        for (const r of v.reports) {
          if (r.onsetSample === undefined) { keep.push(r); continue; }
          this.port.postMessage({ type: "applied", id: r.id, received: r.received, applied: r.applied, segment: r.segment,
                                  sent: r.sent,
                                  onsetTime: r.onsetSample / sampleRate });
        }
        v.reports = keep;
      }
      if (this.record) {
        if (!this.recBuf) { this.recBuf = new Float32Array(8192); this.recPos = 0; }
        this.recBuf.set(ch, this.recPos); this.recPos += ch.length;
        if (this.recPos + ch.length > this.recBuf.length) this.flush();
      }
      return true;
    }
  }

  registerProcessor("latentsynth", LatentSynthProcessor);
}

if (typeof registerProcessor === "function") latentsynthWorklet();
