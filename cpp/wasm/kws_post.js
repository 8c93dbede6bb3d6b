// The JavaScript API of kws.js, appended to the Emscripten module (--post-js) and built
// on the C API (kws/c_api.h). Every object owning wasm memory has free(); errors from the
// C API are thrown as KwsError with kws_last_error()'s message.
//
//   const kws = await createKws();
//   const spotter = new kws.Spotter(modelBytes, { hopMs: 30, threshold: 0.2 });
//   for (const d of spotter.feed(float32Samples)) console.log(d.timeMs, d.label, d.score);
(function () {
  'use strict';
  const M = Module;

  class KwsError extends Error {
    constructor(message, status) {
      super(message);
      this.name = 'KwsError';
      this.status = status;
    }
  }

  function check(status) {
    if (status !== 0) throw new KwsError(UTF8ToString(M._kws_last_error()), status);
  }

  function alloc(bytes) {
    const p = M._malloc(Math.max(bytes, 8));
    if (!p) throw new KwsError('out of wasm memory (' + bytes + ' bytes)', 6);
    return p;
  }

  // Calls fn(pointer) with `bytes` of scratch memory, freed afterwards.
  function withScratch(bytes, fn) {
    const p = alloc(bytes);
    try {
      return fn(p);
    } finally {
      M._free(p);
    }
  }

  function withString(text, fn) {
    const n = lengthBytesUTF8(text) + 1;
    return withScratch(n, (p) => {
      stringToUTF8(text, p, n);
      return fn(p);
    });
  }

  function readI64(p) {
    return HEAPU32[p >> 2] + HEAP32[(p + 4) >> 2] * 4294967296;
  }

  // A float32 as the shortest decimal that is the same float32: a threshold of 0.85 reads
  // back 0.85, not 0.8500000238418579.
  function readF32(p) {
    const x = HEAPF32[p >> 2];
    for (let digits = 1; digits <= 9; ++digits) {
      const v = Number(x.toPrecision(digits));
      if (Math.fround(v) === x) return v;
    }
    return x;
  }

  function writeI64(p, v) {
    HEAPU32[p >> 2] = v >>> 0;
    HEAP32[(p + 4) >> 2] = Math.floor(v / 4294967296);
  }

  // Reads one value through an output pointer: kind 'i32', 'u32' or 'str'.
  function out(kind, fn) {
    return withScratch(8, (p) => {
      check(fn(p));
      if (kind === 'i32') return HEAP32[p >> 2];
      if (kind === 'u32') return HEAPU32[p >> 2];
      return UTF8ToString(HEAPU32[p >> 2]);
    });
  }

  // A growable block of wasm memory for float samples.
  class FloatBuffer {
    constructor() {
      this.ptr = 0;
      this.capacity = 0;
    }
    set(samples) {
      if (samples.length > this.capacity) {
        if (this.ptr) M._free(this.ptr);
        this.ptr = 0;
        this.capacity = 0;
        this.ptr = alloc(samples.length * 4);
        this.capacity = samples.length;
      }
      HEAPF32.set(samples, this.ptr >> 2);
      return this.ptr;
    }
    free() {
      if (this.ptr) M._free(this.ptr);
      this.ptr = 0;
      this.capacity = 0;
    }
  }

  function asBytes(bytes) {
    if (bytes instanceof Uint8Array) return bytes;
    if (bytes instanceof ArrayBuffer) return new Uint8Array(bytes);
    if (ArrayBuffer.isView(bytes)) return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    throw new KwsError('model bytes must be a Uint8Array or an ArrayBuffer', 1);
  }

  function asFloats(samples) {
    if (samples instanceof Float32Array) return samples;
    return Float32Array.from(samples);
  }

  class Model {
    // `bytes`: the contents of a model.kws file; `name` is used in error messages.
    constructor(bytes, name) {
      const data = asBytes(bytes);
      this.name = name || 'model.kws';
      this.ptr = withScratch(data.length, (buf) => {
        HEAPU8.set(data, buf);
        return withString(this.name, (namePtr) =>
          out('u32', (p) => M._kws_model_load_from_memory(buf, data.length, namePtr, p)));
      });
      const n = out('i32', (p) => M._kws_model_num_labels(this.ptr, p));
      this.labels = [];
      for (let i = 0; i < n; ++i) {
        this.labels.push(out('str', (p) => M._kws_model_label(this.ptr, i, p)));
      }
      this.architecture = out('str', (p) => M._kws_model_architecture(this.ptr, p));
      this.sampleRate = out('i32', (p) => M._kws_model_sample_rate(this.ptr, p));
      this.clipSamples = out('i32', (p) => M._kws_model_clip_samples(this.ptr, p));
      this.frameStrideSamples = out('i32', (p) => M._kws_model_frame_stride_samples(this.ptr, p));
    }
    // Softmax scores of exactly clipSamples samples.
    predict(samples) {
      const s = asFloats(samples);
      const n = this.labels.length;
      return withScratch(s.length * 4, (sp) => {
        HEAPF32.set(s, sp >> 2);
        return withScratch(n * 4, (op) => {
          check(M._kws_model_predict(this.ptr, sp, s.length, op, n));
          return HEAPF32.slice(op >> 2, (op >> 2) + n);
        });
      });
    }
    // A stream emitting a window every hopMs (a whole number of feature frames).
    createStream(hopMs) {
      const hop = Math.round(((hopMs === undefined ? 30 : hopMs) * this.sampleRate) / 1000);
      return new Stream(this, hop);
    }
    free() {
      if (this.ptr) check(M._kws_model_free(this.ptr));
      this.ptr = 0;
    }
  }

  class Stream {
    constructor(model, hopSamples) {
      this.numLabels = model.labels.length;
      this.sampleRate = model.sampleRate;
      this.ptr = out('u32', (p) => M._kws_stream_create(model.ptr, hopSamples, p));
      this.hopSamples = hopSamples;
      this.buffer = new FloatBuffer();
      this.result = alloc(this.numLabels * 4 + 16);
    }
    // Appends samples; returns every window completed by them:
    // [{startSample, endSample, timeMs, scores: Float32Array}].
    acceptWaveform(samples) {
      const s = asFloats(samples);
      if (s.length > 0) check(M._kws_stream_accept_waveform(this.ptr, this.buffer.set(s), s.length));
      return this.decodeReady();
    }
    // No more audio; returns the windows still complete.
    inputFinished() {
      check(M._kws_stream_input_finished(this.ptr));
      return this.decodeReady();
    }
    decodeReady() {
      const windows = [];
      const scores = this.result;
      const pos = scores + this.numLabels * 4;
      for (;;) {
        const ready = withScratch(4, (p) => {
          check(M._kws_stream_is_ready(this.ptr, p));
          return HEAP32[p >> 2];
        });
        if (!ready) break;
        check(M._kws_stream_decode(this.ptr));
        check(M._kws_stream_result(this.ptr, scores, this.numLabels, pos, pos + 8));
        const start = readI64(pos);
        windows.push({
          startSample: start,
          endSample: readI64(pos + 8),
          timeMs: Math.floor((start * 1000) / this.sampleRate),
          scores: HEAPF32.slice(scores >> 2, (scores >> 2) + this.numLabels),
        });
      }
      return windows;
    }
    reset() {
      check(M._kws_stream_reset(this.ptr));
    }
    free() {
      if (this.ptr) check(M._kws_stream_free(this.ptr));
      this.ptr = 0;
      this.buffer.free();
      if (this.result) M._free(this.result);
      this.result = 0;
    }
  }

  // RecognizeCommands options in JavaScript spelling; missing fields keep the defaults.
  const DEFAULT_OPTIONS = {
    averageWindowMs: 1000,
    threshold: 0.2,
    suppressionMs: 1500,
    minimumCount: 3,
    decisionDelayMs: 0,
    allowRepeats: false,
  };

  function writeOptions(p, options) {
    const o = Object.assign({}, DEFAULT_OPTIONS, options || {});
    for (const key of Object.keys(o)) {
      if (!(key in DEFAULT_OPTIONS)) throw new KwsError('unknown decoder option ' + key, 1);
      if (key === 'allowRepeats') {
        if (typeof o[key] !== 'boolean') {
          throw new KwsError('decoder option allowRepeats must be true or false', 1);
        }
      } else if (typeof o[key] !== 'number' || !isFinite(o[key])) {
        throw new KwsError('decoder option ' + key + ' must be a finite number', 1);
      }
    }
    writeI64(p, Math.trunc(o.averageWindowMs));
    HEAPF32[(p + 8) >> 2] = o.threshold;
    writeI64(p + 16, Math.trunc(o.suppressionMs));
    HEAP32[(p + 24) >> 2] = Math.trunc(o.minimumCount);
  }

  class Recognizer {
    // `labels`: a Model or an array of label strings in model output order.
    constructor(labels, options) {
      const names = labels instanceof Model ? labels.labels : labels;
      if (!Array.isArray(names)) throw new KwsError('labels must be a Model or an array', 1);
      this.numLabels = names.length;
      this.labels = names.slice();
      const pointers = names.map((name) => {
        const n = lengthBytesUTF8(String(name)) + 1;
        const p = alloc(n);
        stringToUTF8(String(name), p, n);
        return p;
      });
      try {
        this.ptr = withScratch(4 * Math.max(1, names.length), (array) => {
          pointers.forEach((p, i) => { HEAPU32[(array >> 2) + i] = p; });
          return withScratch(32, (op) => {
            writeOptions(op, options);
            return out('u32', (p) => M._kws_recognizer_create(array, names.length, op, p));
          });
        });
      } finally {
        pointers.forEach((p) => M._free(p));
      }
      this.scores = alloc(this.numLabels * 4);
      this.answer = alloc(24);
      try {
        const o = Object.assign({}, DEFAULT_OPTIONS, options || {});
        this.setDecisionDelay(o.decisionDelayMs);
        this.setAllowRepeats(o.allowRepeats);
      } catch (e) {
        this.free();
        throw e;
      }
    }
    setDecisionDelay(ms) {
      const t = Math.trunc(ms);
      check(M._kws_recognizer_set_decision_delay(this.ptr, t >>> 0, Math.floor(t / 4294967296)));
    }
    // true: a word said again is reported again once suppressionMs has passed since it
    // last was; false (the classic rule): only after another label or silence between.
    setAllowRepeats(allow) {
      check(M._kws_recognizer_set_allow_repeats(this.ptr, allow ? 1 : 0));
    }
    readAnswer() {
      const a = this.answer;
      return {
        label: UTF8ToString(HEAPU32[a >> 2]),
        labelIndex: HEAP32[(a + 4) >> 2],
        score: HEAPF32[(a + 8) >> 2],
        isNew: HEAP32[(a + 12) >> 2] !== 0,
        timeMs: readI64(a + 16),
      };
    }
    // Feeds one window's scores at timeMs; returns {label, labelIndex, score, isNew, timeMs}
    // (of a new command, timeMs is when its averaged score passed the threshold).
    process(scores, timeMs) {
      const s = asFloats(scores);
      if (s.length > this.numLabels) {
        throw new KwsError('got ' + s.length + ' scores; the recognizer has ' + this.numLabels + ' labels', 1);
      }
      HEAPF32.set(s, this.scores >> 2);
      const t = Math.trunc(timeMs);
      // int64 arguments reach JavaScript as (low, high) 32-bit halves.
      check(M._kws_recognizer_process(this.ptr, this.scores, s.length, t >>> 0,
                                      Math.floor(t / 4294967296), this.answer));
      return this.readAnswer();
    }
    // End of input: the command still being decided (decisionDelayMs), if any, as isNew.
    finish() {
      check(M._kws_recognizer_finish(this.ptr, this.answer));
      return this.readAnswer();
    }
    get options() {
      return withScratch(32, (p) => {
        check(M._kws_recognizer_options_get(this.ptr, p));
        return {
          averageWindowMs: readI64(p),
          threshold: readF32(p + 8),
          suppressionMs: readI64(p + 16),
          minimumCount: HEAP32[(p + 24) >> 2],
          decisionDelayMs: withScratch(8, (q) => {
            check(M._kws_recognizer_decision_delay(this.ptr, q));
            return readI64(q);
          }),
          allowRepeats: withScratch(4, (q) => {
            check(M._kws_recognizer_allow_repeats(this.ptr, q));
            return HEAP32[q >> 2] !== 0;
          }),
        };
      });
    }
    // Replaces the options (merged over the current ones) and resets the decoder.
    setOptions(options) {
      const merged = Object.assign(this.options, options || {});
      withScratch(32, (p) => {
        writeOptions(p, merged);
        check(M._kws_recognizer_set_options(this.ptr, p));
      });
      this.setDecisionDelay(merged.decisionDelayMs);
      this.setAllowRepeats(merged.allowRepeats);
    }
    reset() {
      check(M._kws_recognizer_reset(this.ptr));
    }
    free() {
      if (this.ptr) check(M._kws_recognizer_free(this.ptr));
      this.ptr = 0;
      if (this.scores) M._free(this.scores);
      if (this.answer) M._free(this.answer);
      this.scores = this.answer = 0;
    }
  }

  // MFCC features of 16 kHz `samples` with the default (speech-commands) front end:
  // {numFrames, numCoefficients, features (row-major)}.
  function mfcc(samples) {
    const s = asFloats(samples);
    const h = out('u32', (p) => M._kws_mfcc_create(0, p));
    try {
      const coefficients = out('i32', (p) => M._kws_mfcc_num_coefficients(h, p));
      const frames = out('u32', (p) => M._kws_mfcc_num_frames(h, s.length, p));
      return withScratch(s.length * 4, (sp) => {
        HEAPF32.set(s, sp >> 2);
        return withScratch(frames * coefficients * 4, (fp) => {
          check(M._kws_mfcc_compute(h, sp, s.length, fp, frames * coefficients, 0));
          return {
            numFrames: frames,
            numCoefficients: coefficients,
            features: HEAPF32.slice(fp >> 2, (fp >> 2) + frames * coefficients),
          };
        });
      });
    } finally {
      M._kws_mfcc_free(h);
    }
  }

  // Model + stream + RecognizeCommands: float samples at the model's rate in, commands out.
  class Spotter {
    // options: hopMs (30) and the decoder's averageWindowMs, threshold, suppressionMs,
    // minimumCount, decisionDelayMs, allowRepeats; name for error messages.
    constructor(modelBytes, options) {
      const o = Object.assign({ hopMs: 30 }, options || {});
      this.model = new Model(modelBytes, o.name);
      try {
        this.stream = this.model.createStream(o.hopMs);
        const decoder = {};
        for (const key of Object.keys(DEFAULT_OPTIONS)) if (key in o) decoder[key] = o[key];
        this.recognizer = new Recognizer(this.model, decoder);
      } catch (e) {
        this.free();
        throw e;
      }
      this.labels = this.model.labels;
      this.sampleRate = this.model.sampleRate;
    }
    // Streams samples; returns the new commands [{timeMs, label, score}] (never
    // `_silence_`). onWindow(window, answer) is called for every scored window.
    feed(samples, onWindow) {
      return this.handle(this.stream.acceptWaveform(samples), onWindow);
    }
    // End of audio: scores what is left, then reports a command still being decided.
    finish(onWindow) {
      const found = this.handle(this.stream.inputFinished(), onWindow);
      const last = this.recognizer.finish();
      if (last.isNew && last.label !== '_silence_') {
        found.push({ timeMs: last.timeMs, label: last.label, score: last.score });
      }
      return found;
    }
    handle(windows, onWindow) {
      const found = [];
      for (const w of windows) {
        const answer = this.recognizer.process(w.scores, w.timeMs);
        if (onWindow) onWindow(w, answer);
        if (answer.isNew && answer.label !== '_silence_') {
          found.push({ timeMs: answer.timeMs, label: answer.label, score: answer.score });
        }
      }
      return found;
    }
    setOptions(options) {
      this.recognizer.setOptions(options);
    }
    reset() {
      this.stream.reset();
      this.recognizer.reset();
    }
    free() {
      if (this.recognizer) this.recognizer.free();
      if (this.stream) this.stream.free();
      if (this.model) this.model.free();
      this.recognizer = this.stream = this.model = null;
    }
  }

  M.KwsError = KwsError;
  M.Model = Model;
  M.Stream = Stream;
  M.Recognizer = Recognizer;
  M.Spotter = Spotter;
  M.mfcc = mfcc;
  M.version = () => UTF8ToString(M._kws_version());
  M.buildInfo = () => UTF8ToString(M._kws_build_info());
})();
