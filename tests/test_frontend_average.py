"""The native "average" front end (kws.MfccOptions(average_window_width=w) > 0: the power
spectrogram averaged over groups of w bins) against TensorFlow's, kws.train.features.tf_features
with --preprocess average (AudioSpectrogram magnitude_squared + tf.nn.pool AVG SAME), on real
clips; and its option checks."""

from __future__ import annotations

import numpy as np
import pytest

import kws
from kws.train.settings import ModelSettings

# feature_bin_count -> (average_window_width, features per frame) over 257 bins (32 ms):
# width 1 is the raw power spectrogram; 2 leaves the last group one bin short; 4 pads one
# bin before the first group and two after the last.
CASES = {257: (1, 257), 86: (2, 129), 64: (4, 65)}
RTOL = 1e-5


def settings(feature_bin_count: int) -> ModelSettings:
    return ModelSettings(preprocess="average", window_size_ms=32.0, window_stride_ms=10.0,
                         feature_bin_count=feature_bin_count)


def native_options(width: int) -> kws.MfccOptions:
    return kws.MfccOptions(window_size_ms=32.0, window_stride_ms=10.0,
                           average_window_width=width)


@pytest.fixture(scope="module")
def clips(speech_dir):
    """Three real one-second clips (two words and a background-noise excerpt)."""
    out = []
    for path in (sorted((speech_dir / "yes").glob("*.wav"))[0],
                 sorted((speech_dir / "left").glob("*.wav"))[0],
                 sorted((speech_dir / "_background_noise_").glob("*.wav"))[0]):
        samples, rate = kws.read_wav(str(path))
        assert rate == 16000
        clip = np.zeros(16000, np.float32)  # tf_features takes whole clips
        clip[: min(16000, len(samples))] = samples[:16000]
        out.append((path.name, clip))
    return out


def assert_relative_close(ours: np.ndarray, ref: np.ndarray, what: str) -> None:
    assert ours.shape == ref.shape, what
    # Relative error: the power spans many decades. Exact zeros (digital silence) match
    # exactly; the absolute floor is far below any real bin.
    floor = 1e-12 * float(np.max(ref))
    err = np.abs(ours.astype(np.float64) - ref) - RTOL * np.abs(ref.astype(np.float64))
    worst = int(np.argmax(err))
    assert err.flat[worst] <= floor, (
        f"{what}: {ours.flat[worst]} vs TensorFlow {ref.flat[worst]} at {worst}")


@pytest.mark.parametrize("feature_bin_count", sorted(CASES))
def test_native_average_equals_tf_features(clips, feature_bin_count):
    from kws.train.features import tf_features

    s = settings(feature_bin_count)
    width, outputs = CASES[feature_bin_count]
    assert (s.average_window_width, s.fingerprint_width) == (width, outputs)
    frontend = kws.MfccFrontend(native_options(width))
    assert frontend.num_coefficients == outputs == frontend.options.num_features
    for name, clip in clips:
        ref = tf_features(clip, s).numpy()
        assert ref.shape == (s.spectrogram_length, outputs)
        ours = frontend.compute(clip)
        assert_relative_close(ours, ref, f"{name}, width {width}")
        # On the log scale a model sees, the two agree to ~1e-5 absolute.
        assert np.max(np.abs(np.log(ours + 1e-10) - np.log(ref + 1e-10))) < 1e-4


def test_width_one_is_the_power_spectrogram(clips):
    import tensorflow as tf

    _, clip = clips[0]
    power = tf.raw_ops.AudioSpectrogram(input=clip[:, None], window_size=512, stride=160,
                                        magnitude_squared=True).numpy()[0]
    ours = kws.MfccFrontend(native_options(1)).compute(clip)
    assert ours.shape == power.shape == (97, 257)
    assert_relative_close(ours, power, "width 1")
    # And a group of w bins is their mean (SAME placement: groups of 2 start at bin 0).
    two = kws.MfccFrontend(native_options(2)).compute(clip)
    np.testing.assert_allclose(two[:, :128], (ours[:, 0:256:2] + ours[:, 1:256:2]) / 2,
                               rtol=1e-6, atol=1e-12 * float(ours.max()))
    np.testing.assert_array_equal(two[:, 128], ours[:, 256])


def test_stream_equals_whole_signal(clips):
    _, clip = clips[1]
    options = native_options(2)
    whole = kws.MfccFrontend(options).compute(clip)
    stream = kws.MfccStream(options)
    assert stream.num_coefficients == 129
    for start in range(0, len(clip), 1234):
        stream.accept_waveform(clip[start:start + 1234])
    np.testing.assert_array_equal(stream.pop_frames(), whole)


def test_options_field_defaults_and_repr():
    o = kws.MfccOptions()
    assert o.average_window_width == 0  # the MFCC
    assert o.num_features == o.dct_coefficient_count == 40
    o = native_options(3)
    assert (o.spectrogram_bins, o.num_features) == (257, 86)
    assert "average_window_width=3" in repr(o)
    o.average_window_width = 5
    assert o.num_features == 52
    # The MFCC's own options are not used by the average front end, so not checked.
    o.upper_frequency_limit = 1e9
    o.validate()


@pytest.mark.parametrize("width, message", [
    (-1, r"average_window_width = -1: must be between 0 \(the MFCC\) and the 257 spectrogram bins"),
    (258, r"average_window_width = 258: .*257 spectrogram bins of a 512-point FFT"),
])
def test_bad_width_is_a_clear_error(width, message):
    with pytest.raises(ValueError, match=message):
        native_options(width).validate()
    with pytest.raises(ValueError, match=message):
        kws.MfccFrontend(native_options(width))
    with pytest.raises(ValueError, match=message):
        kws.MfccStream(native_options(width))
