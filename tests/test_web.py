"""The WebAssembly build and the browser demo (web/).

scripts/build_wasm.sh builds kws::core + the C API with Emscripten into web/kws.js +
web/kws.wasm. In Node, kws.js gives the same windows and detections as the native runtime
on the same samples. In headless Chromium (Debian's chromium), the page in web/ is served
with `python -m http.server`; Chromium's fake media device plays a WAV of real spoken words
as the microphone; the page captures it in an AudioWorklet, resamples it to 16 kHz, streams
it through kws and the decoder and highlights each word. The words it reports equal the
native runtime's detections on the audio it was fed (exactly), and on the original WAV (the
same words in the same order). A screenshot is written to build/web_test/web_demo.png.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import LABELS, write_random_model

import kws

WEB_FILES = ["index.html", "app.js", "style.css", "capture-worklet.js", "kws.js", "kws.wasm"]
# A trained model: the one the package ships.
TRAINED = str(kws.bundled.model_path("speech_commands"))
# The page's decision delay slider is set to this (the page's decoder and the native one
# must then report the same words at the same times).
PAGE_DELAY_MS = 750


@pytest.fixture(scope="session")
def web_dir(repo_root) -> Path:
    """Builds (or reuses, when nothing changed) web/kws.js + web/kws.wasm."""
    out = subprocess.run(["bash", str(repo_root / "scripts" / "build_wasm.sh")],
                         capture_output=True, text=True, cwd=repo_root,
                         env={**os.environ, "KWS_JOBS": os.environ.get("KWS_JOBS", "2")})
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    web = repo_root / "web"
    for name in WEB_FILES:
        assert (web / name).is_file(), name
    return web


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise RuntimeError("node is missing (Debian's nodejs comes with emscripten)")
    return node


def _native_windows(model_path: Path, samples: np.ndarray, hop_ms: int):
    model = kws.Model.load(str(model_path))
    stream = model.create_stream(hop_ms=hop_ms)
    return stream.accept_waveform(samples)


@pytest.mark.parametrize("delay_ms,repeats", [(0, False), (750, False), (750, True)])
def test_wasm_in_node_equals_native(web_dir, repo_root, models, sample_dir, detections,
                                    tmp_path, delay_ms, repeats):
    """kws.js on 12 s of real words: every window's scores and every detection equal the
    native runtime's (Python's kws) on the same samples, with a decision delay and with
    repeats allowed too; errors are KwsError messages."""
    clips = [kws.read_wav(str(sorted((sample_dir / w).glob("*.wav"))[i]))[0]
             for w, i in [("yes", 0), ("no", 1), ("up", 0), ("stop", 2), ("go", 0), ("left", 1)]]
    gap = np.zeros(8000, np.float32)
    samples = np.concatenate([gap] + [c for clip in clips for c in (clip, gap)]).astype(np.float32)
    raw = tmp_path / "samples.f32"
    samples.tofile(raw)
    options = {"hopMs": 30, "threshold": 0.3, "averageWindowMs": 800, "chunkSamples": 1234,
               "decisionDelayMs": delay_ms, "allowRepeats": repeats}
    out = subprocess.run([_node(), str(repo_root / "tests" / "wasm_spotter.js"), str(web_dir),
                          str(models["fc"]), str(raw), json.dumps(options)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["version"] == kws.__version__
    assert "wasm32-emscripten" in got["buildInfo"]
    assert "; kernels wasm_simd128;" in got["buildInfo"]

    native = _native_windows(models["fc"], samples, 30)
    assert len(got["windows"]) == len(native) > 250
    for (start, scores), (n_start, n_scores) in zip(got["windows"], native):
        assert start == n_start
        np.testing.assert_allclose(scores, n_scores, atol=1e-5, rtol=0)

    assert got["options"]["allowRepeats"] is repeats
    assert got["options"]["decisionDelayMs"] == delay_ms
    # The float32 threshold reads back as written (0.3, not 0.30000001192092896).
    assert (got["options"]["threshold"], got["options"]["averageWindowMs"]) == (0.3, 800)
    assert got["badOption"] == {"name": "KwsError", "message":
                                "decoder option allowRepeats must be true or false"}
    expected = detections.python(models["fc"], samples, 30, detection_threshold=0.3,
                                 average_window_duration_ms=800, decision_delay_ms=delay_ms,
                                 allow_repeats=repeats)
    assert len(expected) >= 3
    assert [(d["timeMs"], d["label"]) for d in got["detections"]] == \
        [(t, label) for t, label, _ in expected]
    np.testing.assert_allclose([d["score"] for d in got["detections"]],
                               [s for _, _, s in expected], atol=1e-5)
    assert got["error"]["name"] == "KwsError" and got["error"]["status"] == 3
    assert got["error"]["message"].startswith("kws_model_load_from_memory: cut.kws: ")


@pytest.mark.parametrize("model", ["trained", "svdf", "ds_cnn"])
def test_wasm_kernels_round_as_the_scalar_set(web_dir, repo_root, models, sample_dir, tmp_path,
                                              model):
    """The wasm_simd128 set multiplies then adds, as the native scalar set does, and sums
    every element in the same order: streams of the bundled model (convolutions, dense,
    pooling), an SVDF model and a ds_cnn (depthwise convolutions) give the native scalar
    set's window scores bit for bit (and the FMA sets' to float precision)."""
    from kernel_sets import kernel_sets

    if model == "ds_cnn":
        path = str(tmp_path / "ds_cnn.kws")
        write_random_model("ds_cnn", Path(path), np.random.default_rng(1))
    else:
        path = TRAINED if model == "trained" else str(models["svdf"])
    words = [kws.read_wav(str(sorted((sample_dir / w).glob("*.wav"))[0]))[0]
             for w in ("yes", "left", "go")]
    samples = np.concatenate(words + [np.zeros(4000, np.float32)]).astype(np.float32)
    raw = tmp_path / "samples.f32"
    samples.tofile(raw)
    out = subprocess.run([_node(), str(repo_root / "tests" / "wasm_spotter.js"), str(web_dir),
                          path, str(raw), json.dumps({"hopMs": 30, "chunkSamples": 777})],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    wasm = np.array([scores for _, scores in json.loads(out.stdout)["windows"]], np.float32)
    assert len(wasm) > 50
    for name in kernel_sets():
        native = np.array([scores for _, scores in _native_windows(Path(path), samples, 30)])
        assert native.shape == wasm.shape, name
        if name == "scalar":
            assert np.array_equal(native, wasm)
        else:
            np.testing.assert_allclose(native, wasm, atol=1e-5, rtol=0, err_msg=name)


def _refusing(opcodes: str) -> str:
    """JavaScript that makes WebAssembly.validate refuse every module whose bytes hold
    `opcodes` (comma-separated decimal bytes): a runtime without that feature."""
    return ("{ const validate = WebAssembly.validate; WebAssembly.validate = (b) => "
            "!(',' + Array.from(new Uint8Array(b)).join(',') + ',')"
            f".includes(',{opcodes},') && validate(b); }}")


# A runtime without WebAssembly SIMD (no 0xfd 0x0f, i8x16.splat), and one without exception
# handling (no 0x06 0x40 0x0b, an empty try block).
NO_SIMD = _refusing("253,15")
NO_EXCEPTIONS = _refusing("6,64,11")
NEEDS = "kws.wasm needs WebAssembly SIMD (128-bit) and exception handling; "


@pytest.mark.parametrize("runtime, expected", [
    (NO_SIMD, "error " + NEEDS + "this browser or JavaScript runtime lacks SIMD (128-bit) ("),
    (NO_EXCEPTIONS, "error " + NEEDS + "this browser or JavaScript runtime lacks exception "
                    "handling ("),
    ("", "started kws")])
def test_wasm_names_a_missing_feature(web_dir, runtime, expected):
    """kws.wasm is built with WebAssembly SIMD and exception handling: where the runtime
    cannot compile one of them (here WebAssembly.validate made to refuse it), createKws()
    fails with an error naming it, before anything is compiled; the runtime as it is
    starts."""
    script = (runtime + "const fs = require('fs');"
              f"const createKws = require({json.dumps(str(web_dir / 'kws.js'))});"
              f"const wasm = fs.readFileSync({json.dumps(str(web_dir / 'kws.wasm'))});"
              "(async () => { try { const k = await createKws({ wasmBinary: wasm });"
              " console.log('started ' + k.buildInfo()); }"
              " catch (e) { console.log('error ' + e.message); } })();")
    out = subprocess.run([_node(), "-e", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(expected), out.stdout


# ---- the page in headless Chromium --------------------------------------------------------

class Chromium:
    """Chromium driven over the DevTools protocol on --remote-debugging-pipe (fds 3/4:
    JSON messages separated by NUL bytes)."""

    def __init__(self, binary: str, args: list[str], log: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes replies on fd 4.
        cmd = ["bash", "-c", f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}', binary,
               "--remote-debugging-pipe", *args]
        self._log = open(log, "wb")
        self.proc = subprocess.Popen(cmd, pass_fds=(to_chrome_r, from_chrome_w),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._events: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.session: str | None = None

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = os.read(self._from_chrome, 1 << 16)
            except OSError:
                data = b""
            if not data:
                with self._cond:
                    self._replies[-1] = {"closed": True}
                    self._cond.notify_all()
                return
            buffer += data
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    with self._cond:
                        self._replies[message["id"]] = message
                        self._cond.notify_all()
                else:
                    self._events.put(message)

    def send(self, method: str, params: dict | None = None, timeout: float = 60,
             session: bool = True) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._next_id not in self._replies:
                if -1 in self._replies:
                    raise RuntimeError(f"chromium exited while waiting for {method}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no reply to {method} in {timeout} s")
                self._cond.wait(left)
            reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def attach_to_page(self) -> None:
        targets = self.send("Target.getTargets", session=False)["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": page["targetId"], "flatten": True},
                                 session=False)["sessionId"]

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True, "userGesture": True},
                           timeout=timeout)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page error in {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        state = self.evaluate("JSON.stringify({state: kwsDemo.state, error: kwsDemo.error, "
                              "status: document.getElementById('status').textContent})")
        raise TimeoutError(f"{what} did not happen in {timeout} s; page: {state}")

    def close(self) -> None:
        try:
            self.send("Browser.close", session=False, timeout=10)
        except Exception:  # noqa: BLE001  (already gone)
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        self._log.close()


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise RuntimeError("chromium is missing: scripts/test.sh installs Debian's chromium")


@pytest.fixture(scope="module")
def spoken_words(sample_dir, detections, tmp_path_factory):
    """A WAV of real spoken words over pink noise (made here, as the dataset's
    pink_noise.wav was made: white noise shaped to 1/f power), 1 s apart, and its words in
    order: for each word, the first clip with which the bundled model (natively) hears
    exactly the words so far plus this one."""
    n_noise = 16000 + 10 * 32000 + 8000
    spectrum = np.fft.rfft(np.random.default_rng(0).normal(0.0, 1.0, n_noise))
    spectrum[1:] /= np.sqrt(np.arange(1, len(spectrum)))
    spectrum[0] = 0
    noise = np.fft.irfft(spectrum, n_noise)
    noise = (0.02 * noise / np.abs(noise).max()).astype(np.float32)
    samples = noise[:16000].copy()
    words = []
    for word in ["yes", "no", "up", "down", "left", "right", "stop", "go", "on", "off"]:
        n = len(samples)
        for path in sorted((sample_dir / word).glob("*.wav"))[:40]:
            clip = kws.read_wav(str(path))[0]
            clip = np.pad(clip, (0, max(0, 16000 - len(clip))))[:16000].astype(np.float32)
            candidate = np.concatenate([samples, clip + noise[n:n + 16000],
                                        noise[n + 16000:n + 32000]])
            heard = detections.python(TRAINED, candidate, 30, detection_threshold=0.3,
                                      decision_delay_ms=PAGE_DELAY_MS)
            if [label for _, label, _ in heard] == words + [word]:
                samples = candidate
                words.append(word)
                break
        if len(words) == 6:
            break
    n = len(samples)
    samples = np.clip(np.concatenate([samples, noise[n:n + 8000]]), -1, 1).astype(np.float32)
    wav = tmp_path_factory.mktemp("web") / "spoken.wav"
    kws.write_wav(str(wav), samples, 16000)
    assert len(words) >= 4, words
    return wav, words


def _site(web_dir: Path, tmp_path: Path) -> Path:
    """A folder served as the page: the files of web/ (as built), nothing else."""
    site = tmp_path / "site"
    site.mkdir()
    for name in WEB_FILES:
        shutil.copy(web_dir / name, site / name)
    return site


def _headless(tmp_path: Path, log: Path, *flags: str) -> Chromium:
    """Headless Chromium with its own profile and `flags`, attached to its blank page with
    the Page and Runtime domains on."""
    browser = Chromium(_chromium(), [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--no-default-browser-check", f"--user-data-dir={tmp_path / 'profile'}", *flags,
        "about:blank"], log)
    try:
        browser.attach_to_page()
        browser.send("Page.enable")
        browser.send("Runtime.enable")
    except Exception:
        browser.close()
        raise
    return browser


@pytest.fixture
def serve():
    """serve(directory) -> its URL, from a local HTTP server stopped when the test ends,
    however it ends."""
    servers = []

    def start(directory: Path) -> str:
        server, url = _serve(directory)
        servers.append(server)
        return url

    yield start
    for server in servers:
        server.terminate()
        server.wait()


def _serve(directory: Path):
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1",
                               "--directory", str(directory), "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
    port = int(line.split(" port ")[1].split()[0])
    return server, f"http://127.0.0.1:{port}/"


def _in_order(page, native, offset: int | None = None,
              tolerance_ms: int = 75) -> list[tuple[int, int]]:
    """Longest common subsequence of the two detection lists: the (page time, native
    time) pairs of the words both heard, in order. Two detections match when their labels
    agree and, given an `offset`, when the page's time is the native time + offset within
    `tolerance_ms` (so a word heard twice pairs with the right occurrence)."""
    def same(a, b) -> bool:
        return a[1] == b[1] and (offset is None or abs(a[0] - b[0] - offset) <= tolerance_ms)

    n, m = len(page), len(native)
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            best[i][j] = (best[i + 1][j + 1] + 1 if same(page[i], native[j])
                          else max(best[i + 1][j], best[i][j + 1]))
    pairs, i, j = [], 0, 0
    while i < n and j < m:
        if same(page[i], native[j]):
            pairs.append((page[i][0], native[j][0]))
            i, j = i + 1, j + 1
        elif best[i + 1][j] >= best[i][j + 1]:
            i += 1
        else:
            j += 1
    return pairs


def test_page_hears_the_words_the_native_runtime_hears(web_dir, models, spoken_words,
                                                      detections, repo_root, tmp_path, serve):
    wav, words = spoken_words
    samples, _ = kws.read_wav(str(wav))
    threshold, delay = 0.3, PAGE_DELAY_MS
    native = detections.python(TRAINED, samples, 30, detection_threshold=threshold,
                               decision_delay_ms=delay)
    native_words = [label for _, label, _ in native]
    # The model hears the spoken words natively (the page must hear the same).
    assert native_words == words, (native, words)

    site = _site(web_dir, tmp_path)
    (site / "models").mkdir()
    # The page's own model (a stand-in here), then the user's choice: the bundled model.
    shutil.copy(models["fc"], site / "models" / "speech_commands.kws")
    (site / "models" / "speech_commands.json").write_text(json.dumps({"stream": {
        "recommended_threshold": 0.45, "recommended_decision_delay_ms": 500,
        "recommended_average_window_ms": 400, "recommended_allow_repeats": True}}))
    chosen = tmp_path / "my_model.kws"
    shutil.copy(TRAINED, chosen)

    out_dir = repo_root / "build" / "web_test"
    out_dir.mkdir(parents=True, exist_ok=True)
    url = serve(site)
    browser = _headless(tmp_path, out_dir / "chromium.log",
                        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                        f"--use-file-for-fake-audio-capture={wav}%noloop",
                        "--autoplay-policy=no-user-gesture-required", "--window-size=820,900")
    try:
        browser.send("Page.navigate", {"url": url})
        # The bundled model loads by itself.
        browser.wait_for("window.kwsDemo && kwsDemo.state === 'ready'", 60, "bundled model load")
        assert browser.evaluate("kwsDemo.modelName") == "models/speech_commands.kws"
        # Its card's threshold and decision delay are where the sliders start, and its
        # averaging window is the decoder's.
        browser.wait_for("kwsDemo.card !== null", 10, "the bundled model's card")
        assert browser.evaluate("kwsDemo.card") == {"threshold": 0.45, "decisionDelayMs": 500,
                                                    "averageWindowMs": 400,
                                                    "allowRepeats": True}
        assert browser.evaluate("kwsDemo.averageWindowMs") == 400
        assert browser.evaluate("[kwsDemo.threshold, kwsDemo.decisionDelayMs]") == [0.45, 500]
        assert browser.evaluate("document.getElementById('threshold-value').textContent") == \
            "0.45"
        assert browser.evaluate(
            "document.getElementById('decision-delay-value').textContent") == "500 ms"
        tiles = browser.evaluate(
            "Array.from(document.querySelectorAll('.word')).map(t => t.dataset.label)")
        assert tiles == [w for w in LABELS if not w.startswith("_")]

        # A model chosen by the user replaces it.
        doc = browser.send("DOM.getDocument")
        node = browser.send("DOM.querySelector", {"nodeId": doc["root"]["nodeId"],
                                                  "selector": "#model-file"})["nodeId"]
        browser.send("DOM.setFileInputFiles", {"nodeId": node, "files": [str(chosen)]})
        browser.wait_for("kwsDemo.modelName === 'my_model.kws' && kwsDemo.state === 'ready'",
                         30, "chosen model load")
        # Decoded with the default window: the card is the bundled model's.
        assert browser.evaluate("kwsDemo.averageWindowMs") == \
            kws.RecognizeCommandsOptions().average_window_duration_ms

        # The threshold slider.
        browser.evaluate(f"(() => {{ const s = document.getElementById('threshold'); "
                         f"s.value = '{threshold}'; "
                         f"s.dispatchEvent(new Event('input')); }})()")
        assert browser.evaluate("kwsDemo.threshold") == threshold
        assert browser.evaluate("document.getElementById('threshold-value').textContent") == \
            f"{threshold:.2f}"
        # The decision delay slider.
        browser.evaluate(f"(() => {{ const s = document.getElementById('decision-delay'); "
                         f"s.value = '{delay}'; "
                         f"s.dispatchEvent(new Event('input')); }})()")
        assert browser.evaluate("kwsDemo.decisionDelayMs") == delay
        assert browser.evaluate("document.getElementById('decision-delay-value').textContent") \
            == f"{delay} ms"

        browser.evaluate("kwsDemo.keepAudio = true")
        browser.evaluate("kwsDemo.start()", timeout=60)
        assert browser.evaluate("kwsDemo.state") == "listening", browser.evaluate("kwsDemo.error")
        # Real time: the fake microphone plays the file once; a screenshot while a word is lit.
        needed = len(samples) + 16000
        deadline = time.monotonic() + len(samples) / 16000 + 60
        seen = 0
        while time.monotonic() < deadline:
            fed, count, lit = browser.evaluate(
                "[kwsDemo.samplesFed, kwsDemo.detections.length, "
                "document.querySelectorAll('.word.heard').length]")
            if count > seen and lit:
                seen = count
                shot = browser.send("Page.captureScreenshot", {"format": "png"})
                (out_dir / "web_demo.png").write_bytes(base64.b64decode(shot["data"]))
            if fed >= needed:
                break
            time.sleep(0.25)
        assert fed >= needed, f"page streamed {fed} samples, wanted {needed}"
        browser.evaluate("kwsDemo.stop()")
        state = browser.evaluate(
            "(() => { const n = kwsDemo.audio.reduce((a, c) => a + c.length, 0);"
            " const all = new Float32Array(n); let o = 0;"
            " for (const c of kwsDemo.audio) { all.set(c, o); o += c.length; }"
            " const bytes = new Uint8Array(all.buffer); let s = '';"
            " for (let i = 0; i < bytes.length; i += 8192)"
            "   s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));"
            " return {state: kwsDemo.state, error: kwsDemo.error, rate: kwsDemo.contextRate,"
            "   detections: kwsDemo.detections, audio: btoa(s),"
            "   heard: Array.from(document.querySelectorAll('#heard li')).map(l => l.textContent)};"
            "})()", timeout=120)
    finally:
        browser.close()

    assert state["state"] == "stopped", state["error"]
    fed_audio = np.frombuffer(base64.b64decode(state["audio"]), np.float32)
    assert len(fed_audio) >= needed
    page = [(d["timeMs"], d["label"], d["score"]) for d in state["detections"]]
    # Exactly what the native runtime says on the audio the page fed to kws.
    on_fed = detections.python(TRAINED, fed_audio, 30, detection_threshold=threshold,
                               decision_delay_ms=delay)
    assert [(t, label) for t, label, _ in page] == [(t, label) for t, label, _ in on_fed]
    np.testing.assert_allclose([s for *_, s in page], [s for *_, s in on_fed], atol=1e-4)
    # The spoken words the native runtime hears in the original WAV, heard by the page in
    # the same order, at the same times up to the capture's start offset. The browser's
    # resampling and where the capture starts may change up to two borderline answers.
    # The capture's start offset: the median over the pairs matched by label alone; then
    # the pairs must also agree in time, within 75 ms of that offset.
    offset = int(np.median([t - n for t, n in _in_order(page, native)]))
    matched = _in_order(page, native, offset)
    assert len(matched) >= len(native) - 2, (page, native, offset, state["rate"])
    offsets = [t - n for t, n in matched]
    assert max(offsets) - min(offsets) <= 150, (offsets, page, native)
    assert len(state["heard"]) == len(page)
    assert (out_dir / "web_demo.png").stat().st_size > 10000


def test_page_without_simd_says_so(web_dir, tmp_path, serve):
    """In a browser whose WebAssembly cannot compile SIMD, the page shows that kws.wasm
    needs it, instead of a compile error or nothing."""
    url = serve(_site(web_dir, tmp_path))
    browser = _headless(tmp_path, tmp_path / "chromium.log")
    try:
        browser.send("Page.addScriptToEvaluateOnNewDocument", {"source": NO_SIMD})
        browser.send("Page.navigate", {"url": url})
        browser.wait_for("window.kwsDemo && kwsDemo.state === 'error'", 60, "the error")
        error = browser.evaluate("kwsDemo.error")
        status = browser.evaluate("document.getElementById('status').textContent")
    finally:
        browser.close()
    assert NEEDS + "this browser or JavaScript runtime lacks SIMD (128-bit) (" in error, error
    assert NEEDS + "this browser or JavaScript runtime lacks SIMD (128-bit) (" in status, status
