"""kws.mfcc and the streaming front end against TensorFlow itself (AudioSpectrogram with
magnitude_squared=True followed by Mfcc): max abs difference <= 1e-3 on noise, real speech,
digital silence and full-scale clipping audio, for several settings; plus the shared
fixture (same numbers as cpp/tests/mfcc_test.cc), streaming invariance and input checks."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import kws
from kws.train.features import tf_features
from kws.train.settings import ModelSettings

TOLERANCE = 1e-3
FIXTURE = Path(__file__).resolve().parent / "data" / "mfcc_fixture.txt"

# (sample_rate, window_ms, stride_ms, coefficients, channels, lower_hz, upper_hz)
SETTINGS = {
    "default": (16000, 30.0, 10.0, 40, 40, 20.0, 4000.0),
    "40ms_20ms_13": (16000, 40.0, 20.0, 13, 40, 20.0, 4000.0),
    "25ms_10ms_10": (16000, 25.0, 10.0, 10, 40, 20.0, 4000.0),
    "8khz": (8000, 30.0, 10.0, 40, 40, 20.0, 4000.0),
    "telephone_band": (16000, 32.0, 16.0, 13, 26, 300.0, 3400.0),
    "full_band": (16000, 30.0, 10.0, 20, 40, 0.0, 8000.0),
}


def read_pcm16(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return data.astype(np.float32) / 32768.0


def tf_reference(samples: np.ndarray, setting: tuple) -> np.ndarray:
    rate, window_ms, stride_ms, coefficients, channels, lower, upper = setting
    spectrogram = tf.raw_ops.AudioSpectrogram(
        input=tf.constant(samples, tf.float32)[:, tf.newaxis],
        window_size=int(rate * window_ms / 1000),
        stride=int(rate * stride_ms / 1000),
        magnitude_squared=True,
    )
    return tf.raw_ops.Mfcc(
        spectrogram=spectrogram,
        sample_rate=rate,
        upper_frequency_limit=upper,
        lower_frequency_limit=lower,
        filterbank_channel_count=channels,
        dct_coefficient_count=coefficients,
    )[0].numpy()


def kws_mfcc(samples: np.ndarray, setting: tuple) -> np.ndarray:
    rate, window_ms, stride_ms, coefficients, channels, lower, upper = setting
    return kws.mfcc(
        samples,
        sample_rate=rate,
        window_size_ms=window_ms,
        window_stride_ms=stride_ms,
        feature_bin_count=coefficients,
        filterbank_channel_count=channels,
        lower_frequency_limit=lower,
        upper_frequency_limit=upper,
    )


def assert_matches_tf(samples: np.ndarray, setting: tuple, what: str) -> None:
    expected = tf_reference(samples, setting)
    got = kws_mfcc(samples, setting)
    assert got.dtype == np.float32
    assert got.shape == expected.shape, what
    assert got.shape[0] > 0, what
    diff = float(np.max(np.abs(got - expected)))
    assert diff <= TOLERANCE, f"{what}: max abs diff {diff}"


def synthetic_signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1234)
    t = np.arange(16000) / 16000.0
    return {
        "uniform_noise": rng.uniform(-1, 1, 16000).astype(np.float32),
        "quiet_noise": (1e-4 * rng.standard_normal(16000 + 77)).astype(np.float32),
        "digital_silence": np.zeros(16000, np.float32),
        "silence_then_click": np.concatenate([np.zeros(8000), [1.0], np.zeros(7999)]).astype(
            np.float32
        ),
        "full_scale_square": np.where(np.sin(2 * np.pi * 441 * t) >= 0, 1.0, -1.0).astype(
            np.float32
        ),
        "clipped_sine": np.clip(4.0 * np.sin(2 * np.pi * 300 * t), -1, 1).astype(np.float32),
        "random_signs_full_scale": rng.choice([-1.0, 1.0], 16000).astype(np.float32),
    }


@pytest.fixture(scope="module")
def speech_clips(speech_dir: Path) -> dict[str, np.ndarray]:
    """Two real clips of each of several words plus up to 5 s of recorded background noise."""
    clips = {}
    for word in ("yes", "no", "up", "stop", "go", "left", "right"):
        files = sorted((speech_dir / word).glob("*.wav"))
        assert files, f"no clips for '{word}' in {speech_dir}"
        for f in files[:2]:
            clips[f"{word}/{f.name}"] = read_pcm16(f)
    noise_files = sorted((speech_dir / "_background_noise_").glob("*.wav"))
    assert noise_files, f"no background noise in {speech_dir}"
    clips["background:" + noise_files[0].name] = read_pcm16(noise_files[0])[: 5 * 16000]
    return clips


@pytest.mark.parametrize("setting_name", sorted(SETTINGS))
def test_matches_tensorflow_on_synthetic_signals(setting_name: str) -> None:
    for name, x in synthetic_signals().items():
        assert_matches_tf(x, SETTINGS[setting_name], f"{name} / {setting_name}")


@pytest.mark.parametrize("setting_name", sorted(SETTINGS))
def test_matches_tensorflow_on_real_speech(setting_name: str, speech_clips) -> None:
    for name, x in speech_clips.items():
        assert_matches_tf(x, SETTINGS[setting_name], f"{name} / {setting_name}")


def test_matches_the_training_front_end(speech_clips) -> None:
    """kws.train.features.tf_features (what training feeds models) gives the same frames."""
    settings = ModelSettings(window_size_ms=40.0, window_stride_ms=20.0, feature_bin_count=20)
    for name, x in list(speech_clips.items())[:6]:
        clip = np.zeros(settings.desired_samples, np.float32)
        clip[: min(len(x), len(clip))] = x[: len(clip)]
        expected = tf_features(clip, settings).numpy()
        got = kws.mfcc(clip, window_size_ms=40.0, window_stride_ms=20.0, feature_bin_count=20)
        assert got.shape == expected.shape == (49, 20)
        assert float(np.max(np.abs(got - expected))) <= TOLERANCE, name


def read_fixture() -> tuple[np.ndarray, list[tuple[dict, np.ndarray]]]:
    lines = [ln for ln in FIXTURE.read_text().splitlines() if ln and not ln.startswith("#")]
    assert lines[0].startswith("samples ")
    n = int(lines[0].split()[1])
    pos, values = 1, []
    while len(values) < n:
        values.extend(int(v) for v in lines[pos].split())
        pos += 1
    samples = np.array(values, np.float32) / 32768.0
    cases = []
    while pos < len(lines):
        head = lines[pos].split()
        assert head[0] == "case"
        fields = dict(item.split("=") for item in head[1:])
        frames = int(fields.pop("frames"))
        rows = [[float(v) for v in lines[pos + 1 + f].split()] for f in range(frames)]
        cases.append((fields, np.array(rows, np.float32)))
        pos += 1 + frames
    return samples, cases


def test_fixture_shared_with_cpp() -> None:
    samples, cases = read_fixture()
    assert len(samples) == 4800 and len(cases) == 2
    for fields, expected in cases:
        got = kws.mfcc(
            samples,
            sample_rate=int(fields["sample_rate"]),
            window_size_ms=float(fields["window_size_ms"]),
            window_stride_ms=float(fields["window_stride_ms"]),
            feature_bin_count=int(fields["feature_bin_count"]),
            filterbank_channel_count=int(fields["filterbank_channel_count"]),
            lower_frequency_limit=float(fields["lower_frequency_limit"]),
            upper_frequency_limit=float(fields["upper_frequency_limit"]),
        )
        assert got.shape == expected.shape
        assert float(np.max(np.abs(got - expected))) <= TOLERANCE, fields
    # The fixture has a frame of pure digital silence: c0 at the log floor.
    default_frames = cases[0][1]
    assert np.isclose(default_frames[:, 0].min(), 40 * np.sqrt(2 / 40) * np.log(1e-12), atol=1e-3)


def stream_frames(options: kws.MfccOptions, x: np.ndarray, chunk: int) -> np.ndarray:
    stream = kws.MfccStream(options)
    parts = []
    for i, start in enumerate(range(0, len(x), chunk)):
        stream.accept_waveform(x[start : start + chunk])
        if i % 3 == 0:
            parts.append(stream.pop_frames())
    parts.append(stream.pop_frames())
    assert stream.num_frames_ready == 0
    return np.concatenate(parts)


@pytest.mark.parametrize(
    "window_ms,stride_ms,coefficients", [(30, 10, 40), (40, 20, 13), (10, 25, 10)]
)
def test_streaming_frames_are_identical_whatever_the_chunking(window_ms, stride_ms, coefficients):
    x = np.random.default_rng(5).uniform(-1, 1, 16000 + 33).astype(np.float32)
    options = kws.MfccOptions(
        window_size_ms=window_ms, window_stride_ms=stride_ms, dct_coefficient_count=coefficients
    )
    whole = kws.mfcc(
        x, window_size_ms=window_ms, window_stride_ms=stride_ms, feature_bin_count=coefficients
    )
    assert whole.shape == (options.num_frames(len(x)), coefficients)
    for chunk in (1, 7, 160, len(x)):
        got = stream_frames(options, x, chunk)
        assert got.dtype == np.float32 and got.shape == whole.shape
        assert np.array_equal(got, whole), f"chunk {chunk}"


def test_stream_pop_limits_and_reset() -> None:
    x = np.random.default_rng(6).uniform(-1, 1, 16000).astype(np.float32)
    whole = kws.mfcc(x)
    stream = kws.MfccStream(kws.MfccOptions())
    stream.accept_waveform(x[:479])
    assert stream.num_frames_ready == 0
    assert stream.pop_frames().shape == (0, 40)
    stream.accept_waveform(x[479:])
    assert stream.num_frames_ready == 98
    first = stream.pop_frames(max_frames=5)
    assert np.array_equal(first, whole[:5]) and stream.frames_emitted == 5
    assert np.array_equal(stream.pop_frames(), whole[5:])
    stream.accept_waveform(x[:1234])
    stream.reset()
    assert stream.num_frames_ready == 0 and stream.frames_emitted == 0
    stream.accept_waveform(x)
    assert np.array_equal(stream.pop_frames(), whole)
    # A stream can share a front end built once.
    shared = kws.MfccStream(kws.MfccFrontend(kws.MfccOptions()))
    shared.accept_waveform(x)
    assert np.array_equal(shared.pop_frames(), whole)


def test_frontend_object_and_input_conversion() -> None:
    x = np.random.default_rng(7).uniform(-1, 1, 8000)
    frontend = kws.MfccFrontend(kws.MfccOptions(dct_coefficient_count=13))
    assert frontend.num_coefficients == 13
    via_float64 = frontend.compute(x)  # float64 input is converted
    assert np.array_equal(via_float64, kws.mfcc(x.astype(np.float32), feature_bin_count=13))
    strided = x.astype(np.float32)[::2]  # a non-contiguous view is copied, not misread
    assert not strided.flags.c_contiguous
    assert np.array_equal(kws.mfcc(strided), kws.mfcc(np.ascontiguousarray(strided)))
    assert kws.mfcc(np.zeros(479, np.float32)).shape == (0, 40)
    assert kws.mfcc(np.zeros(0, np.float32)).shape == (0, 40)


def test_bad_input_raises_value_error_naming_the_problem() -> None:
    with pytest.raises(ValueError, match="1-D"):
        kws.mfcc(np.zeros((2, 16000), np.float32))
    with pytest.raises(ValueError, match="feature_bin_count|dct_coefficient_count"):
        kws.mfcc(np.zeros(16000, np.float32), feature_bin_count=41)
    with pytest.raises(ValueError, match="upper_frequency_limit"):
        kws.mfcc(np.zeros(16000, np.float32), sample_rate=8000, upper_frequency_limit=4001)
    with pytest.raises(ValueError, match="window_size_ms"):
        kws.MfccOptions(window_size_ms=0).validate()
    with pytest.raises(ValueError, match="sample_rate"):
        kws.MfccStream(kws.MfccOptions(sample_rate=-1))
    with pytest.raises(ValueError, match="1-D"):
        kws.MfccStream(kws.MfccOptions()).accept_waveform(np.zeros((3, 3), np.float32))


def test_options_fields_and_repr() -> None:
    o = kws.MfccOptions()
    assert (o.sample_rate, o.window_size_ms, o.window_stride_ms) == (16000, 30.0, 10.0)
    assert (o.window_size_samples, o.window_stride_samples, o.fft_length) == (480, 160, 512)
    assert o.num_frames(16000) == 98
    o.dct_coefficient_count = 13
    o.validate()
    assert "dct_coefficient_count=13" in repr(o) and repr(o).startswith("MfccOptions(")
