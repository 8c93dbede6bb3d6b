"""Shared fixtures.

Real speech comes in two sizes:
- `speech_dir`: the fixture clips committed in tests/data/speech_commands (a few per
  word, always there), for tests that need some real speech;
- `sample_dir`: the larger real sample, for accuracy, training on real clips and
  real-voice streams. It is KWS_SAMPLE_DIR, else ../shared/data/speech_commands_sample
  beside the repository; when neither exists it is fetched as a user would, with
  `kws download` of the official Speech Commands test set (KWS_SAMPLE_URL overrides the
  address) into build/speech_commands_test_set. If that fails too, the tests fail with
  a message saying how to provide it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

import kws
from kws.download import TEST_SET_URL
from kws.labels import parse_wanted_words, prepare_words_list

REPO_ROOT = Path(__file__).resolve().parents[1]
SPEECH_DIR = REPO_ROOT / "tests" / "data" / "speech_commands"
LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))


def configured_sample_dir() -> Path:
    env = os.environ.get("KWS_SAMPLE_DIR")
    if env:
        return Path(env)
    return REPO_ROOT.parent / "shared" / "data" / "speech_commands_sample"


def fetch_sample(url: str, dest: Path) -> Path:
    """`kws download` of a Speech Commands archive into `dest`. The test set has no
    background noise: the fixture's noise excerpt is copied in when it has none."""
    out = subprocess.run([sys.executable, "-m", "kws.cli", "download", "--data_url", url,
                          "--data_dir", str(dest), "--quiet"],
                         capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip() or out.stdout.strip())
    noise = dest / "_background_noise_"
    if not noise.is_dir():
        shutil.copytree(SPEECH_DIR / "_background_noise_", noise)
    return dest


@pytest.fixture(scope="session")
def speech_dir() -> Path:
    """The committed fixture clips (Speech Commands layout, see its README.md)."""
    return SPEECH_DIR


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The larger real-speech sample. Missing data is an error, never a skip."""
    configured = configured_sample_dir()
    if (configured / "yes").is_dir():
        return configured
    url = os.environ.get("KWS_SAMPLE_URL", TEST_SET_URL)
    dest = REPO_ROOT / "build" / "speech_commands_test_set"
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        # One fetch at a time (pytest-xdist workers share the folder); a worker that waited
        # finds the other's finished copy (the noise folder is written last).
        with open(dest.parent / "speech_commands_test_set.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (dest / "yes").is_dir() and (dest / "_background_noise_").is_dir():
                return dest
            return fetch_sample(url, dest)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        pytest.fail(
            f"these tests need real speech beyond the fixture clips: no sample at "
            f"{configured}, and `kws download --data_url {url}` failed ({e}). Set "
            "KWS_SAMPLE_DIR to a Speech Commands folder (e.g. the test set: `kws download "
            "--test_set --data_dir DIR`), or KWS_SAMPLE_URL to a reachable copy of the "
            "test-set archive.", pytrace=False)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def sample_fetcher():
    """The function `sample_dir` uses to fetch the sample: fetch(url, dest) -> dest."""
    return fetch_sample


# ---- a tiny synthetic dataset for training tests -------------------------------------

TONE_RATE = 16000
# word -> (start Hz, end Hz)
TONE_SWEEPS = {
    "yes": (400.0, 1200.0),
    "no": (1500.0, 500.0),
    "up": (2500.0, 2600.0),
    "down": (800.0, 300.0),
    "cat": (1000.0, 3000.0),
    "dog": (3000.0, 2000.0),
}


def _write_pcm16(path: Path, samples: np.ndarray) -> None:
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(TONE_RATE)
        w.writeframes(pcm.tobytes())


def make_tone_dataset(root: Path, speakers: int = 30, seed: int = 0,
                      words: dict | None = None) -> Path:
    """A Speech Commands folder where each word is a distinct tone sweep (with per-clip
    jitter, a random onset and noise), one file per "speaker" so the classic hash split
    spreads speakers over the partitions, plus two background-noise files."""
    rng = np.random.default_rng(seed)
    words = words or TONE_SWEEPS
    for word, (f0, f1) in words.items():
        folder = root / word
        folder.mkdir(parents=True, exist_ok=True)
        for s in range(speakers):
            jitter = rng.uniform(0.95, 1.05)
            length = int(rng.uniform(0.4, 0.6) * TONE_RATE)
            t = np.arange(length) / TONE_RATE
            freq = jitter * (f0 + (f1 - f0) * t / t[-1])
            phase = 2 * np.pi * np.cumsum(freq) / TONE_RATE
            envelope = np.sin(np.pi * np.arange(length) / length)
            clip = np.zeros(TONE_RATE)
            onset = rng.integers(0, TONE_RATE - length)
            clip[onset:onset + length] = 0.5 * envelope * np.sin(phase)
            clip += rng.normal(0, 0.01, TONE_RATE)
            _write_pcm16(folder / f"{s:04x}{seed:02x}c0de_nohash_0.wav", clip)
    noise = root / "_background_noise_"
    noise.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        _write_pcm16(noise / f"noise{i}.wav", rng.normal(0, 0.2, 3 * TONE_RATE).clip(-1, 1))
    return root


@pytest.fixture(scope="session")
def tone_dataset():
    """make_tone_dataset(root, speakers=30, seed=0, words=None) -> root."""
    return make_tone_dataset


# ---- native models fitted on real speech ---------------------------------------------


def _clip(samples: np.ndarray) -> np.ndarray:
    return np.pad(samples, (0, max(0, 16000 - len(samples))))[:16000]


@pytest.fixture(scope="session")
def models(sample_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """A single_fc fitted in numpy on the real sample (softmax regression on native MFCC,
    seconds instead of minutes of training) and a random low_latency_svdf, as model.kws."""
    from kws.train import export
    from kws.train import models as kws_models
    from kws.train.settings import ModelSettings

    out = tmp_path_factory.mktemp("models")
    settings = ModelSettings(label_count=len(LABELS))
    rng = np.random.default_rng(0)
    noises = [kws.read_wav(f)[0]
              for f in sorted((sample_dir / "_background_noise_").glob("*.wav"))]
    feats, targets = [], []
    for folder in sorted(p for p in sample_dir.iterdir()
                         if p.is_dir() and p.name != "_background_noise_"):
        label = 0 if folder.name == "_silence_" else (
            LABELS.index(folder.name) if folder.name in LABELS else 1)
        for f in sorted(folder.glob("*.wav"))[::2]:
            noise = noises[rng.integers(len(noises))]
            start = rng.integers(len(noise) - 16000)
            clip = _clip(kws.read_wav(f)[0]) + rng.uniform(0, 0.1) * noise[start:start + 16000]
            feats.append(kws.mfcc(np.clip(clip, -1, 1).astype(np.float32)).reshape(-1))
            targets.append(label)
    x, y = np.stack(feats), np.eye(len(LABELS))[targets]
    mu, sd = x.mean(0), x.std(0) + 1e-3
    z = (x - mu) / sd
    w, b = np.zeros((z.shape[1], len(LABELS))), np.zeros(len(LABELS))
    m, v = np.zeros_like(w), np.zeros_like(w)
    for it in range(1, 41):  # Adam on full-batch softmax cross entropy
        logits = z @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - y) / len(z)
        gw = z.T @ g + 1e-3 * w
        m, v = 0.9 * m + 0.1 * gw, 0.999 * v + 0.001 * gw * gw
        w -= 0.01 * (m / (1 - 0.9**it)) / (np.sqrt(v / (1 - 0.999**it)) + 1e-8)
        b -= 0.1 * g.sum(0)
    fc = kws_models.build_model("single_fc", settings, training_dropout=False)
    fc.get_layer("logits").set_weights([(w / sd[:, None]).astype(np.float32),
                                        (b - (mu / sd) @ w).astype(np.float32)])
    export.write_model_kws(out / "fc.kws", fc, settings, "single_fc", LABELS)

    write_random_model("low_latency_svdf", out / "svdf.kws", rng)
    return {"fc": out / "fc.kws", "svdf": out / "svdf.kws"}


def write_random_model(architecture: str, path: Path, rng: np.random.Generator) -> None:
    """A model of `architecture` (12 labels, default settings) with random non-trivial
    weights drawn from `rng`, written as model.kws: batch-norm scales and variances uniform
    in [0.5, 1.5], every other weight normal with a standard deviation of 1 / sqrt(fan in)."""
    from kws.train import export
    from kws.train import models as kws_models
    from kws.train.settings import ModelSettings

    settings = ModelSettings(label_count=len(LABELS))
    model = kws_models.build_model(architecture, settings, training_dropout=False)
    for weight in model.weights:
        shape = tuple(weight.shape)
        if "moving_variance" in weight.path or "gamma" in weight.path:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 1.0, shape) / np.sqrt(max(1, int(np.prod(shape[:-1]))))
        weight.assign(value.astype(np.float32))
    export.write_model_kws(path, model, settings, architecture, LABELS)


# ---- detections: what the Python API says, and what a program printed ----------------


class Detections:
    """Helpers to compare a program's detection lines with the Python API."""

    @staticmethod
    def python(model_path: Path, samples: np.ndarray, hop_ms: int = 30,
               **decoder) -> list[tuple[int, str, float]]:
        """kws.Model's stream, every window's scores into kws.RecognizeCommands at the
        window's start time, then its finish(): the new labels other than silence, at the
        times the decoder gives them."""
        model = kws.Model.load(str(model_path))
        stream = model.create_stream(hop_ms=hop_ms)
        recognizer = kws.RecognizeCommands(list(model.labels), **decoder)
        results = [recognizer.process(scores, start * 1000 // model.sample_rate)
                   for start, scores in stream.accept_waveform(samples)]
        results.append(recognizer.finish())
        return [(r.time_ms, r.label, r.score) for r in results
                if r.is_new and r.label != "_silence_"]

    @staticmethod
    def parse(stdout: str) -> list[tuple[int, str, float]]:
        """`1230ms: yes (0.912345)` lines."""
        found = []
        for line in stdout.splitlines():
            match = re.match(r"^(\d+)ms: (\S+) \(([0-9.]+)\)$", line)
            assert match, f"not a detection line: {line!r}"
            found.append((int(match[1]), match[2], float(match[3])))
        return found

    @staticmethod
    def assert_same(got, expected) -> None:
        assert [(t, label) for t, label, _ in got] == [(t, label) for t, label, _ in expected]
        np.testing.assert_allclose([s for *_, s in got], [s for *_, s in expected],
                                   atol=1e-5, rtol=0)


@pytest.fixture(scope="session")
def detections() -> type[Detections]:
    return Detections
