"""`kws spectrogram`: the readable default picture, and the classic wav_to_spectrogram image
checked against TensorFlow."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import kws
from kws.commands.spectrogram import magnitude_spectrogram, spectrogram_image


@pytest.fixture(scope="module")
def real_clip(speech_dir):
    path = sorted((speech_dir / "left").glob("*.wav"))[0]
    samples, rate = kws.read_wav(str(path))
    return path, samples, rate


def test_magnitude_matches_tensorflow_audio_spectrogram(real_clip):
    import tensorflow as tf

    _, samples, _ = real_clip
    ref = tf.raw_ops.AudioSpectrogram(
        input=samples[:, None], window_size=256, stride=128, magnitude_squared=False
    ).numpy()[0]
    ours = magnitude_spectrogram(samples, 256, 128)
    assert ours.shape == ref.shape == (1 + (len(samples) - 256) // 128, 129)
    assert np.max(np.abs(ours - ref)) < 1e-3 * max(1.0, float(np.max(ref)))


def test_cli_writes_classic_png(real_clip, tmp_path):
    import tensorflow as tf

    path, samples, _ = real_clip
    out = tmp_path / "spec.png"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(path),
         "--output-image", str(out), "--classic"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    image = np.asarray(Image.open(out))
    spec = tf.raw_ops.AudioSpectrogram(
        input=samples[:, None], window_size=256, stride=128, magnitude_squared=False
    ).numpy()[0]
    expected = np.minimum(spec * 64.0, 255.0).astype(np.uint8)
    assert image.shape == expected.shape  # time down the rows, frequency across
    # Truncation to uint8 may flip a pixel by one level where float rounding differs.
    assert np.max(np.abs(image.astype(int) - expected.astype(int))) <= 1
    assert image.max() > 100  # real speech is visible, not a black picture


def test_time_axis_columns_and_mfcc_image(real_clip, tmp_path):
    path, samples, rate = real_clip
    rows = spectrogram_image(samples)
    cols = spectrogram_image(samples, time_axis="columns")
    assert cols.shape == rows.shape[::-1]
    np.testing.assert_array_equal(cols[::-1].T, rows)  # low frequencies at the bottom
    out = tmp_path / "mfcc.png"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(path),
         "--output_image", str(out), "--mfcc", "--time_axis", "columns", "--classic"],
        capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stderr
    image = np.asarray(Image.open(out))
    assert image.shape == (40, 98)
    assert image.min() == 0 and image.max() == 255


def test_default_is_a_readable_picture(real_clip, tmp_path):
    """The default picture: colour, screen-sized (10 x 4 inches at 100 dpi); --mfcc draws
    the features instead; a bad --size is refused."""
    path, samples, rate = real_clip
    out = tmp_path / "picture.png"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(path),
         "--output_image", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1000 x 400 pixels" in r.stdout
    image = np.asarray(Image.open(out).convert("RGB")).astype(int)
    assert image.shape == (400, 1000, 3)
    # A colour map: many pixels whose channels differ (grayscale would have none).
    colourful = np.abs(image[..., 0] - image[..., 2]) > 40
    assert colourful.mean() > 0.05
    mfcc_out = tmp_path / "mfcc.png"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(path),
         "--output_image", str(mfcc_out), "--mfcc", "--size", "8x3"],
        capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert Image.open(mfcc_out).size == (800, 300)
    assert not np.array_equal(np.asarray(Image.open(mfcc_out).convert("RGB"))[:300, :800],
                              image[:300, :800])
    bad = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(path),
         "--output_image", str(tmp_path / "x.png"), "--size", "100x1"],
        capture_output=True, text=True)
    assert bad.returncode == 1 and "--size '100x1'" in bad.stderr


def test_bad_input_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00JUNK")
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "spectrogram", "--input_wav", str(bad),
         "--output_image", str(tmp_path / "x.png")],
        capture_output=True, text=True,
    )
    assert r.returncode != 0
    assert "bad.wav" in r.stderr
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(ValueError, match="shorter than one window"):
        magnitude_spectrogram(np.zeros(100, np.float32))
