// AudioWorklet processor: takes the microphone (first channel) at the context's rate,
// resamples it to the model's rate with a windowed-sinc low-pass interpolator and posts
// Float32Array chunks of `chunkSamples` to the page.
class ResamplingCapture extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.outRate = o.targetRate || 16000;
    this.inRate = sampleRate;  // the AudioContext's rate (global in the worklet scope)
    this.chunkSamples = o.chunkSamples || 1600;
    this.chunk = new Float32Array(this.chunkSamples);
    this.filled = 0;
    this.step = this.inRate / this.outRate;  // input samples per output sample
    // Low-pass below the output Nyquist (a little under, for the transition band).
    this.cutoff = Math.min(1, this.outRate / this.inRate) * 0.5 * 0.92;  // cycles per input sample
    this.half = Math.ceil(12 / (2 * this.cutoff));  // 12 zero crossings each side
    this.history = new Float32Array(0);  // input samples [historyStart, +length)
    this.historyStart = 0;
    this.next = 0;  // position of the next output sample, in input samples
    this.running = true;
    this.port.onmessage = (e) => { if (e.data === 'stop') this.running = false; };
  }

  kernel(x) {
    // Hann-windowed sinc low-pass at this.cutoff, support |x| <= this.half.
    if (Math.abs(x) >= this.half) return 0;
    const w = 0.5 + 0.5 * Math.cos((Math.PI * x) / this.half);
    const a = 2 * Math.PI * this.cutoff * x;
    return 2 * this.cutoff * w * (x === 0 ? 1 : Math.sin(a) / a);
  }

  push(value) {
    this.chunk[this.filled++] = value;
    if (this.filled === this.chunkSamples) {
      this.port.postMessage(this.chunk, [this.chunk.buffer]);  // detaches this.chunk
      this.chunk = new Float32Array(this.chunkSamples);
      this.filled = 0;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    if (this.inRate === this.outRate) {
      for (let i = 0; i < input.length; ++i) this.push(input[i]);
      return true;
    }
    const joined = new Float32Array(this.history.length + input.length);
    joined.set(this.history);
    joined.set(input, this.history.length);
    const start = this.historyStart;
    const end = start + joined.length;
    while (this.next + this.half < end) {
      const center = this.next;
      const lo = Math.max(start, Math.ceil(center - this.half));
      const hi = Math.floor(center + this.half);
      let sum = 0;
      for (let k = lo; k <= hi; ++k) sum += joined[k - start] * this.kernel(center - k);
      this.push(sum);
      this.next += this.step;
    }
    // Keep what the next outputs still need.
    const keepFrom = Math.max(start, Math.floor(this.next - this.half) - 1);
    this.history = joined.slice(keepFrom - start);
    this.historyStart = keepFrom;
    return true;
  }
}

registerProcessor('kws-capture', ResamplingCapture);
