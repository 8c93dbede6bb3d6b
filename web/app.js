// The kws demo page: a model.kws (the bundled one, or one the user picks) runs in
// WebAssembly (kws.js) on the microphone's audio, captured in an AudioWorklet and
// resampled to the model's rate; each word is highlighted in the grid as it is heard.
'use strict';

// The bundled model, tried first; a missing file is not an error (the user picks one).
const DEFAULT_MODEL_URL = 'models/speech_commands.kws';
// Its model card (scripts/model_card.py), when there: the threshold and decision delay it
// recommends become the sliders' starting values, and the bundled model is decoded with the
// averaging window they were chosen with.
const DEFAULT_CARD_URL = 'models/speech_commands.json';
const HOP_MS = 30;                // a window scored every 30 ms
const CHUNK_MS = 100;             // audio handed from the worklet to kws per message
const HIGHLIGHT_MS = 1500;        // how long a heard word stays lit

const $ = (id) => document.getElementById(id);

// State read by the page and by automated tests (window.kwsDemo).
const demo = {
  state: 'loading',          // loading | no-model | ready | listening | stopped | error
  modelName: null,
  labels: [],
  hopMs: HOP_MS,
  threshold: Number($('threshold').value),
  decisionDelayMs: Number($('decision-delay').value),
  detections: [],            // [{timeMs, label, score}] since the last start
  samplesFed: 0,             // model-rate samples streamed since the last start
  contextRate: null,         // the AudioContext's rate (resampled from)
  keepAudio: false,          // tests set this to read back the audio kws was fed
  audio: [],                 // Float32Array chunks when keepAudio
  error: null,
  averageWindowMs: null,     // the decoder's averaging window for the loaded model
  card: null,                // {threshold, decisionDelayMs[, averageWindowMs][, allowRepeats]} from the bundled model's card
};
window.kwsDemo = demo;

let kws = null;       // the wasm module
let spotter = null;   // kws.Spotter for the loaded model
let modelBytes = null;
let audio = null;     // {context, stream, node}
const tiles = new Map();

function setStatus(text, isError) {
  $('status').textContent = text;
  $('status').classList.toggle('error', Boolean(isError));
}

function fail(message) {
  demo.state = 'error';
  demo.error = message;
  setStatus(message, true);
}

function buildGrid(labels) {
  const grid = $('words');
  grid.textContent = '';
  tiles.clear();
  labels.forEach((label, index) => {
    if (label === '_silence_' || label === '_unknown_') return;
    const tile = document.createElement('div');
    tile.className = 'word';
    tile.dataset.label = label;
    tile.innerHTML = '<span class="name"></span><span class="score"></span><span class="bar"></span>';
    tile.querySelector('.name').textContent = label;
    grid.appendChild(tile);
    tiles.set(index, tile);
  });
}

function loadModel(bytes, name) {
  const next = new kws.Spotter(bytes, { name, hopMs: HOP_MS, threshold: demo.threshold,
                                        decisionDelayMs: demo.decisionDelayMs });
  if (spotter) spotter.free();
  spotter = next;
  modelBytes = bytes;
  demo.modelName = name;
  demo.labels = spotter.labels.slice();
  demo.averageWindowMs = spotter.recognizer.options.averageWindowMs;
  buildGrid(spotter.labels);
  demo.state = audio ? 'listening' : 'ready';
  $('start').disabled = Boolean(audio);
  setStatus(`Model ${name}: ${spotter.model.architecture}, ${tiles.size} words, ` +
            `${spotter.sampleRate} Hz. ${audio ? 'Listening…' : 'Press Start and speak.'}`);
}

async function loadDefaultModel() {
  let response;
  try {
    response = await fetch(DEFAULT_MODEL_URL);
  } catch (e) {
    response = null;
  }
  if (!response || !response.ok) {
    demo.state = 'no-model';
    setStatus(`No bundled model at ${DEFAULT_MODEL_URL}: choose a model.kws file.`);
    return;
  }
  loadModel(new Uint8Array(await response.arrayBuffer()), DEFAULT_MODEL_URL);
  await useCardDecoder();
}

// The bundled model's card: its recommended threshold and decision delay, when both are
// numbers the sliders can show, the averaging window they were chosen with when it gives
// one (whole ms in [1, 600000]) and whether a word said again is reported again (true or
// false); anything else (no card, not JSON) keeps the defaults.
async function useCardDecoder() {
  let stream;
  try {
    const response = await fetch(DEFAULT_CARD_URL);
    if (!response.ok) return;
    stream = (await response.json()).stream || {};
  } catch (e) {
    return;
  }
  const threshold = stream.recommended_threshold;
  const delay = stream.recommended_decision_delay_ms;
  const averageWindow = stream.recommended_average_window_ms;
  const repeats = stream.recommended_allow_repeats;
  const slider = $('decision-delay');
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1) ||
      !Number.isInteger(delay) || delay < 0 || delay > Number(slider.max)) return;
  if (averageWindow !== undefined && !(Number.isInteger(averageWindow) && averageWindow >= 1 &&
                                       averageWindow <= 600000)) {
    return;
  }
  if (repeats !== undefined && typeof repeats !== 'boolean') return;
  // The card's decoder options in one change (each change rebuilds the recognizer).
  const decoder = {};
  if (averageWindow !== undefined) decoder.averageWindowMs = averageWindow;
  if (repeats !== undefined) decoder.allowRepeats = repeats;
  if (Object.keys(decoder).length) {
    spotter.setOptions(decoder);
    demo.averageWindowMs = spotter.recognizer.options.averageWindowMs;
  }
  $('threshold').value = String(threshold);
  setThreshold(Number($('threshold').value));
  slider.value = String(delay);
  setDecisionDelay(Number(slider.value));
  demo.card = { threshold: demo.threshold, decisionDelayMs: demo.decisionDelayMs };
  if (averageWindow !== undefined) demo.card.averageWindowMs = averageWindow;
  if (repeats !== undefined) demo.card.allowRepeats = spotter.recognizer.options.allowRepeats;
}

function highlight(index, score) {
  const tile = tiles.get(index);
  if (!tile) return;
  tile.classList.add('heard');
  tile.querySelector('.score').textContent = score.toFixed(2);
  clearTimeout(tile.timer);
  tile.timer = setTimeout(() => tile.classList.remove('heard'), HIGHLIGHT_MS);
}

function onWindow(scored, answer) {
  // A thin live bar per word: its score in the latest window.
  for (const [index, tile] of tiles) {
    tile.querySelector('.bar').style.width = `${Math.round(scored.scores[index] * 100)}%`;
  }
  if (answer.isNew && answer.label !== '_silence_') highlight(answer.labelIndex, answer.score);
}

function onAudio(chunk) {
  if (!spotter) return;
  if (demo.keepAudio) demo.audio.push(chunk);
  demo.samplesFed += chunk.length;
  let found;
  try {
    found = spotter.feed(chunk, onWindow);
  } catch (e) {
    fail(e.message);
    stop();
    return;
  }
  for (const d of found) {
    demo.detections.push(d);
    const item = document.createElement('li');
    item.textContent = `${(d.timeMs / 1000).toFixed(2)} s  ${d.label}  ${d.score.toFixed(3)}`;
    $('heard').prepend(item);
  }
}

async function start() {
  if (!spotter || audio) return;
  $('start').disabled = true;
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false,
               autoGainControl: false },
    });
  } catch (e) {
    $('start').disabled = false;
    fail(`Microphone not available: ${e.message}`);
    return;
  }
  const context = new AudioContext();
  await context.audioWorklet.addModule('capture-worklet.js');
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, 'kws-capture', {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    channelCount: 1,
    channelCountMode: 'explicit',
    processorOptions: { targetRate: spotter.sampleRate,
                        chunkSamples: Math.round((spotter.sampleRate * CHUNK_MS) / 1000) },
  });
  node.port.onmessage = (e) => onAudio(e.data);
  node.onprocessorerror = () => {
    fail('The audio capture stopped with an error');
    stop();
  };
  // The worklet is pulled by the graph through a silent gain to the output.
  const mute = context.createGain();
  mute.gain.value = 0;
  source.connect(node).connect(mute).connect(context.destination);
  await context.resume();
  spotter.reset();
  demo.detections = [];
  demo.audio = [];
  demo.samplesFed = 0;
  demo.contextRate = context.sampleRate;
  audio = { context, stream, node };
  demo.state = 'listening';
  $('stop').disabled = false;
  $('heard').textContent = '';
  setStatus(`Listening (microphone at ${context.sampleRate} Hz, resampled to ` +
            `${spotter.sampleRate} Hz)…`);
}

function stop() {
  if (!audio) return;
  audio.node.port.postMessage('stop');
  audio.node.port.onmessage = null;
  audio.stream.getTracks().forEach((t) => t.stop());
  audio.context.close();
  audio = null;
  $('start').disabled = false;
  $('stop').disabled = true;
  if (demo.state === 'error') return;
  try {
    for (const d of spotter.finish(onWindow)) demo.detections.push(d);
  } catch (e) {
    fail(e.message);
    return;
  }
  demo.state = 'stopped';
  setStatus(`Stopped: ${demo.detections.length} words heard.`);
}
demo.stop = stop;
demo.start = start;

function setThreshold(value) {
  demo.threshold = value;
  $('threshold-value').textContent = value.toFixed(2);
  if (spotter) spotter.setOptions({ threshold: value });
}

// The decoder reports a word this long after its score passes the threshold: the word
// whose score peaked highest meanwhile (0: the word that passed it, at once).
function setDecisionDelay(ms) {
  demo.decisionDelayMs = ms;
  $('decision-delay-value').textContent = `${ms} ms`;
  if (spotter) spotter.setOptions({ decisionDelayMs: ms });
}

async function main() {
  try {
    kws = await createKws();
  } catch (e) {
    fail(`Cannot start the kws runtime (kws.js / kws.wasm): ${e}`);
    return;
  }
  $('build').textContent = kws.buildInfo();
  $('threshold').addEventListener('input', (e) => setThreshold(Number(e.target.value)));
  $('decision-delay').addEventListener('input',
                                       (e) => setDecisionDelay(Number(e.target.value)));
  $('start').addEventListener('click', start);
  $('stop').addEventListener('click', stop);
  $('model-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      loadModel(new Uint8Array(await file.arrayBuffer()), file.name);
    } catch (err) {
      fail(err.message);
    }
  });
  setThreshold(Number($('threshold').value));
  setDecisionDelay(Number($('decision-delay').value));
  try {
    await loadDefaultModel();
  } catch (e) {
    fail(e.message);
  }
}

main();
