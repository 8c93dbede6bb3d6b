// Runs kws.js (the WebAssembly build) in Node on raw float32 samples, as the web page
// does, and prints every window and detection as JSON (for tests/test_web.py).
//   node tests/wasm_spotter.js WEB_DIR MODEL.kws SAMPLES.f32 OPTIONS_JSON
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [webDir, modelPath, samplesPath, optionsJson] = process.argv.slice(2);
  const createKws = require(path.resolve(webDir, 'kws.js'));
  // Node's fetch cannot read a file path: hand the module its wasm bytes directly.
  const kws = await createKws({ wasmBinary: fs.readFileSync(path.resolve(webDir, 'kws.wasm')) });
  const options = JSON.parse(optionsJson);
  const raw = fs.readFileSync(samplesPath);
  const samples = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const result = { version: kws.version(), buildInfo: kws.buildInfo(), windows: [], detections: [] };
  const spotter = new kws.Spotter(fs.readFileSync(modelPath), Object.assign({ name: modelPath }, options));
  const onWindow = (w) => result.windows.push([w.startSample, Array.from(w.scores)]);
  const chunk = options.chunkSamples || 1600;
  for (let i = 0; i < samples.length; i += chunk) {
    result.detections.push(...spotter.feed(samples.subarray(i, i + chunk), onWindow));
  }
  result.detections.push(...spotter.finish(onWindow));
  result.options = spotter.recognizer.options;
  spotter.free();
  // A decoder option of the wrong kind is refused before anything changes.
  try {
    new kws.Recognizer(['_silence_', 'yes'], { allowRepeats: 1 });
  } catch (e) {
    result.badOption = { name: e.name, message: e.message };
  }
  // Errors come back as KwsError naming the input.
  try {
    new kws.Model(new Uint8Array(fs.readFileSync(modelPath)).subarray(0, 100), 'cut.kws');
  } catch (e) {
    result.error = { name: e.name, message: e.message, status: e.status };
  }
  process.stdout.write(JSON.stringify(result));
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
