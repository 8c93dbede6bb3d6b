// Times kws.js (the WebAssembly build) in Node: a model's cached stream over float32
// samples, as the web page runs it (for bench/bench_wasm.py).
//   node bench/wasm_timing.js WEB_DIR MODEL.kws SAMPLES.f32 HOP_MS REPEATS
// Prints JSON: {buildInfo, ms: [wall ms of each pass over the samples]}.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [webDir, modelPath, samplesPath, hopMs, repeats] = process.argv.slice(2);
  const createKws = require(path.resolve(webDir, 'kws.js'));
  const kws = await createKws({ wasmBinary: fs.readFileSync(path.resolve(webDir, 'kws.wasm')) });
  const raw = fs.readFileSync(samplesPath);
  const samples = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const model = new kws.Model(fs.readFileSync(modelPath), modelPath);
  const ms = [];
  for (let r = 0; r <= Number(repeats); r++) {
    const stream = model.createStream(Number(hopMs));
    const t0 = process.hrtime.bigint();
    stream.acceptWaveform(samples);
    stream.inputFinished();
    const t = Number(process.hrtime.bigint() - t0) / 1e6;
    stream.free();
    if (r > 0) ms.push(t);  // the first pass warms up
  }
  model.free();
  process.stdout.write(JSON.stringify({ buildInfo: kws.buildInfo(), ms }));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
