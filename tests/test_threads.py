"""Thread safety from Python: one kws.Model shared by many threads, each with its own
Stream on different real audio, gives exactly the scores of running them one by one;
the native calls release the GIL (a Python thread keeps running while another is inside
C++); misuse (two threads on one Stream) never crashes; MFCC and read_wav from threads."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import write_random_model

import kws

THREADS = 8


def _real_audio(speech_dir: Path, index: int, clips: int = 3) -> np.ndarray:
    """`clips` real one-second clips back to back; a different set for every index."""
    words = sorted(p for p in speech_dir.iterdir() if p.is_dir() and not p.name.startswith("_"))
    parts = []
    for k in range(clips):
        word = words[(index * clips + k) % len(words)]
        found = sorted(word.glob("*.wav"))
        wav = found[index % len(found)]
        samples, rate = kws.read_wav(str(wav))
        assert rate == 16000
        parts.append(np.pad(samples, (0, max(0, 16000 - len(samples)))))
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """A ds_cnn with random non-trivial weights, written by kws's exporter."""
    path = tmp_path_factory.mktemp("threads") / "ds_cnn.kws"
    write_random_model("ds_cnn", path, np.random.default_rng(3))
    return path


def _stream_scores(model: kws.Model, audio: np.ndarray, chunk: int) -> list[tuple[int, np.ndarray]]:
    stream = model.create_stream(hop_ms=20)
    out = []
    for pos in range(0, len(audio), chunk):
        out.extend(stream.accept_waveform(audio[pos:pos + chunk]))
    return out


def _run_together(fn, n: int) -> list:
    results: list = [None] * n
    errors: list = []
    barrier = threading.Barrier(n)

    def body(i: int) -> None:
        try:
            barrier.wait()
            results[i] = fn(i)
        except BaseException as e:  # reported below, in the main thread
            errors.append((i, e))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_shared_model_streams_on_threads_match_serial(model_path: Path, speech_dir: Path):
    model = kws.Model.load(str(model_path))
    audio = [_real_audio(speech_dir, i) for i in range(THREADS)]
    chunks = [320 + 111 * i for i in range(THREADS)]
    serial = [_stream_scores(model, audio[i], chunks[i]) for i in range(THREADS)]
    threaded = _run_together(lambda i: _stream_scores(model, audio[i], chunks[i]), THREADS)
    for s, t in zip(serial, threaded):
        assert len(s) == len(t) == 1 + (len(audio[0]) - 16000) // 320
        for (s_start, s_scores), (t_start, t_scores) in zip(s, t):
            assert s_start == t_start
            np.testing.assert_array_equal(s_scores, t_scores)
    # Different audio gives different scores: the comparison above is not vacuous.
    assert not np.array_equal(serial[0][0][1], serial[1][0][1])

    # Batch predict from every thread at once, one model.
    batches = [np.stack([a[s:s + 16000] for s in range(0, 32001, 8000)]) for a in audio]
    predict_serial = [model.predict(b) for b in batches]
    predict_threaded = _run_together(lambda i: model.predict(batches[i]), THREADS)
    for s, t in zip(predict_serial, predict_threaded):
        np.testing.assert_array_equal(s, t)


def test_native_calls_release_the_gil(model_path: Path, speech_dir: Path):
    """While a worker thread is inside Stream.accept_waveform (one long call), the main
    thread keeps executing Python. With the GIL held it could run only at the edges of
    the call (a few switch intervals); compare against what it does in such an interval."""
    model = kws.Model.load(str(model_path))
    long_audio = np.tile(_real_audio(speech_dir, 0), 4)  # 12 s: 551 windows in one call
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(0.001)
    try:
        def spin_for(seconds: float) -> int:
            import time
            end, n = time.perf_counter() + seconds, 0
            while time.perf_counter() < end:
                n += 1
            return n

        per_interval = spin_for(0.001)
        started, done = threading.Event(), threading.Event()
        windows: list = []

        def worker() -> None:
            stream = model.create_stream(hop_ms=20)
            started.set()
            windows.extend(stream.accept_waveform(long_audio))
            done.set()

        t = threading.Thread(target=worker)
        t.start()
        started.wait()
        during = 0
        while not done.is_set():
            during += 1
        t.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert len(windows) == 1 + (len(long_audio) - 16000) // 320
    # Held GIL: at most ~2 intervals of main-thread work around the call.
    assert during > 20 * per_interval, (during, per_interval)


def test_one_stream_from_two_threads_never_crashes(model_path: Path):
    """Misuse: four Python threads feeding the same Stream. Calls are serialised (no data
    race, no crash); every window is produced exactly once. Runs in a child process so a
    crash is a clean test failure (before the lock, this crashed or duplicated windows)."""
    code = f"""
import threading, numpy as np, kws
model = kws.Model.load({str(model_path)!r})
stream = model.create_stream(hop_ms=20)
rng = np.random.default_rng(0)
chunks = [rng.uniform(-0.5, 0.5, n).astype(np.float32)
          for n in (160, 333, 1000, 7, 4000, 17000) * 40]
starts = []
lock = threading.Lock()
def feed(part):
    for c in part:
        got = stream.accept_waveform(c)
        with lock:
            starts.extend(s for s, _ in got)
threads = [threading.Thread(target=feed, args=(chunks[i::4],)) for i in range(4)]
[t.start() for t in threads]
[t.join() for t in threads]
total = sum(len(c) for c in chunks)
assert sorted(starts) == list(range(0, total - 16000 + 1, 320)), (len(starts), total)
print("ok", len(starts))
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("ok ")


def test_mfcc_and_read_wav_from_threads_match_serial(speech_dir: Path):
    clips = sorted(p for p in speech_dir.glob("*/*.wav") if not p.parent.name.startswith("_"))
    paths = [clips[k % len(clips)] for k in range(THREADS * 2)]  # two per thread

    def work(i: int) -> list[np.ndarray]:
        out = []
        for p in paths[2 * i:2 * i + 2]:
            samples, _ = kws.read_wav(str(p))
            out.append(samples)
            out.append(kws.mfcc(samples, window_size_ms=30, feature_bin_count=40))
            out.append(kws.mfcc(samples, window_size_ms=64, feature_bin_count=13))
        return out

    serial = [work(i) for i in range(THREADS)]
    threaded = _run_together(work, THREADS)
    for s, t in zip(serial, threaded):
        assert len(s) == len(t) == 6
        for a, b in zip(s, t):
            assert a.size > 0
            np.testing.assert_array_equal(a, b)
