"""The tf.data pipeline: exact SPEC.md augmentation, determinism, shapes, hooks, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import kws
from kws.train.data import DatasetIndex
from kws.train.features import tf_features
from kws.train.pipeline import load_clip_samples, make_dataset, make_samples_dataset
from kws.train.settings import ModelSettings

N = 16000
NOISE_LEN = 20000
# A ramp noise file: a window's offset and volume can be read back from the mix.
RAMP = (-0.9 + 1.8 * np.arange(NOISE_LEN) / NOISE_LEN).astype(np.float32)
MARK = 8000  # position of the marker sample in every word clip
WANTED_SAMPLE = "yes,no,up,down,left,right,on,off,stop,go"


def word_clip() -> np.ndarray:
    x = np.full(N, 0.25, dtype=np.float32)
    x[MARK] = 0.75
    return x


@pytest.fixture(scope="module")
def marked(tmp_path_factory) -> Path:
    """Every clip: constant 0.25 with one 0.75 marker; one ramp noise file."""
    root = tmp_path_factory.mktemp("marked")
    for word, n in (("yes", 40), ("no", 40), ("cat", 8), ("_silence_", 4)):
        (root / word).mkdir()
        for i in range(n):
            kws.write_wav(root / word / f"{word}{i:04d}_nohash_0.wav", word_clip(), 16000)
    (root / "_background_noise_").mkdir()
    kws.write_wav(root / "_background_noise_" / "ramp.wav", RAMP, 16000)
    return root


def read_ramp_window(mix: np.ndarray) -> tuple[float, float]:
    """(volume, offset) of v * ramp[o:o+N] by a linear fit."""
    slope, intercept = np.polyfit(np.arange(N), mix.astype(np.float64), 1)
    v = slope * NOISE_LEN / 1.8
    o = (intercept / v + 0.9) * NOISE_LEN / 1.8 if v > 1e-9 else 0.0
    return v, o


def collect(ds, count):
    xs, ys = [], []
    for x, y in ds.take(count).as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def test_time_shift_exact(marked):
    idx = DatasetIndex(marked, ["yes", "no"], silence_percentage=0, unknown_percentage=0,
                       validation_percentage=0, testing_percentage=0)
    ds = make_samples_dataset(idx, "training", 50, background_frequency=0.0, seed=3)
    x, _ = collect(ds, 8)
    clip = kws.read_wav(marked / "yes" / "yes0000_nohash_0.wav")[0]
    shifts = []
    for row in x:
        s = int(np.argmax(row)) - MARK
        shifts.append(s)
        expect = np.zeros(N, np.float32)
        if s >= 0:
            expect[s:] = clip[: N - s]
        else:
            expect[: N + s] = clip[-s:]
        np.testing.assert_array_equal(row, expect)  # positive pads the front
    shifts = np.array(shifts)
    assert shifts.min() >= -1600 and shifts.max() < 1600  # uniform in [-shift, shift)
    assert (shifts < -800).any() and (shifts > 800).any()
    assert len(set(shifts.tolist())) > 300
    # Same seed, same stream; another seed, another one.
    again, _ = collect(make_samples_dataset(idx, "training", 50, background_frequency=0.0, seed=3), 2)
    np.testing.assert_array_equal(again, x[:100])
    other, _ = collect(make_samples_dataset(idx, "training", 50, background_frequency=0.0, seed=4), 2)
    assert not np.array_equal(other, x[:100])


def _shifts(ds, count):
    """(shift of each clip, by its marker sample; label) for `count` batches."""
    x, y = collect(ds, count)
    return np.argmax(x, axis=1) - MARK, y


def test_unknown_time_shift(marked):
    """--unknown_time_shift_ms widens the shift of _unknown_ clips only; unset, the draws
    are those of one range for all."""
    idx = DatasetIndex(marked, ["yes", "no"], silence_percentage=0, unknown_percentage=25,
                       validation_percentage=0, testing_percentage=0)
    unknown = idx.labels.index("_unknown_")
    wide, y = _shifts(make_samples_dataset(idx, "training", 50, background_frequency=0.0,
                                           time_shift_ms=50, unknown_time_shift_ms=400,
                                           seed=5), 20)
    words, others = wide[y != unknown], wide[y == unknown]
    assert len(others) > 60 and len(words) > 500
    assert words.min() >= -800 and words.max() < 800
    assert others.min() >= -6400 and others.max() < 6400
    assert (np.abs(others) > 3200).mean() > 0.4  # uniform over the wider range
    # Unset, or equal to --time_shift_ms: the same clips, draw for draw.
    plain = collect(make_samples_dataset(idx, "training", 50, background_frequency=0.0,
                                         time_shift_ms=50, seed=5), 4)[0]
    same = collect(make_samples_dataset(idx, "training", 50, background_frequency=0.0,
                                        time_shift_ms=50, unknown_time_shift_ms=50,
                                        seed=5), 4)[0]
    np.testing.assert_array_equal(plain, same)
    # Keywords alone shifted (unknown 0): the keywords' draws are unchanged.
    still, y0 = _shifts(make_samples_dataset(idx, "training", 50, background_frequency=0.0,
                                             time_shift_ms=50, unknown_time_shift_ms=0,
                                             seed=5), 4)
    assert (still[y0 == unknown] == 0).all()
    np.testing.assert_array_equal(still[y0 != unknown], _shifts(
        make_samples_dataset(idx, "training", 50, background_frequency=0.0,
                             time_shift_ms=50, seed=5), 4)[0][y0 != unknown])
    # Evaluation does not shift, and a range past the clip's length is refused.
    val, _ = _shifts(make_samples_dataset(idx, "training", 50, augment=False,
                                          unknown_time_shift_ms=400, seed=5), 2)
    assert (val == 0).all()
    with pytest.raises(ValueError, match="unknown_time_shift_ms must be in \\[0, 1000\\]"):
        make_samples_dataset(idx, "training", 50, unknown_time_shift_ms=1500)


def test_background_mixing_and_silence_exact(marked):
    idx = DatasetIndex(marked, ["yes", "no"], silence_percentage=50, unknown_percentage=0,
                       validation_percentage=0, testing_percentage=0)
    ds = make_samples_dataset(idx, "training", 64, time_shift_ms=0, background_frequency=0.8,
                              background_volume=0.1, seed=11)
    x, y = collect(ds, 5)
    ramp = idx.background_noise[0]  # as decoded from the 16-bit file
    clip = kws.read_wav(marked / "yes" / "yes0000_nohash_0.wav")[0]
    word_volumes, silence_volumes = [], []
    for row, label in zip(x, y):
        generated = label == 0 and abs(row[MARK] - row[MARK - 1]) < 0.1  # no marker
        fg = np.zeros(N, np.float32) if generated else clip
        v, o = read_ramp_window(row - fg)
        if np.any(row != fg):
            best = None
            for oo in range(max(0, int(round(o)) - 1), min(NOISE_LEN - N, int(round(o)) + 1) + 1):
                w = ramp[oo:oo + N].astype(np.float64)
                vv = float(np.dot(row - fg, w) / np.dot(w, w))
                err = np.abs(row - np.clip(fg + ramp[oo:oo + N] * np.float32(vv), -1, 1)).max()
                if best is None or err < best[0]:
                    best = (err, oo, vv)
            err, o, v = best
            assert 0 <= o <= NOISE_LEN - N
            assert err < 1e-6, (err, o, v, label)  # exactly fg + v * a window of the noise file
        else:
            v = 0.0
        (silence_volumes if generated else word_volumes).append(max(v, 0.0))
    word_volumes = np.array(word_volumes)
    silence_volumes = np.array(silence_volumes)
    assert len(silence_volumes) > 80 and len(word_volumes) > 150
    mixed = word_volumes > 0
    assert 0.72 < mixed.mean() < 0.88  # background_frequency 0.8
    assert word_volumes.max() <= 0.1 + 1e-4 and 0.04 < word_volumes[mixed].mean() < 0.06
    assert silence_volumes.max() <= 1.0 + 1e-4 and 0.4 < silence_volumes.mean() < 0.6
    assert (silence_volumes > 0.9).any()
    assert np.abs(x).max() <= 1.0


def test_clipping(tmp_path):
    (tmp_path / "yes").mkdir()
    for i in range(20):
        kws.write_wav(tmp_path / "yes" / f"s{i}_nohash_0.wav", np.full(N, 0.99), 16000)
    (tmp_path / "_background_noise_").mkdir()
    kws.write_wav(tmp_path / "_background_noise_" / "dc.wav", np.full(N * 2, 0.9), 16000)
    idx = DatasetIndex(tmp_path, ["yes"], silence_percentage=0, validation_percentage=0,
                       testing_percentage=0)
    x, _ = collect(make_samples_dataset(idx, "training", 20, time_shift_ms=0,
                                        background_frequency=1.0, background_volume=1.0, seed=1), 5)
    assert x.max() == 1.0 and (x == 1.0).mean() > 0.9


def test_eval_is_deterministic_one_pass_and_unaugmented(sample_dir):
    idx = DatasetIndex(sample_dir, "yes,no,up,down", validation_percentage=13, testing_percentage=4)
    settings = ModelSettings(label_count=6)
    ds = make_dataset(idx, "validation", settings, 64)
    first = list(ds.as_numpy_iterator())
    second = list(make_dataset(idx, "validation", settings, 64).as_numpy_iterator())
    feats = np.concatenate([f for f, _ in first])
    labels = np.concatenate([y for _, y in first])
    assert feats.shape == (idx.set_size("validation"), 98, 40) and feats.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, [lab for _, lab in idx.data["validation"]])
    np.testing.assert_array_equal(feats, np.concatenate([f for f, _ in second]))
    # Word clips are unaugmented: features of the decoded clip itself.
    samples, ys = load_clip_samples(idx, "validation", max_clips=40)
    np.testing.assert_array_equal(ys, labels[:40])
    for i, (path, label) in enumerate(idx.data["validation"][:40]):
        if path is None:
            assert np.abs(samples[i]).max() > 0  # silence made from noise, not zeros
            continue
        clip = np.zeros(N, np.float32)
        raw = kws.read_wav(path)[0][:N]
        clip[: len(raw)] = raw
        np.testing.assert_array_equal(samples[i], clip)
        want = tf_features(clip, settings).numpy()
        np.testing.assert_allclose(feats[i], want, atol=1e-5)


def test_training_stream_shapes_shuffle_and_hooks(sample_dir):
    idx = DatasetIndex(sample_dir, "yes,no", validation_percentage=13, testing_percentage=4)
    settings = ModelSettings(label_count=4)
    ds = make_dataset(idx, "training", settings, 32, seed=5)
    batches = list(ds.take(idx.set_size("training") // 32 + 3).as_numpy_iterator())
    assert all(f.shape == (32, 98, 40) and y.shape == (32,) for f, y in batches)  # infinite
    labels = np.concatenate([y for _, y in batches])
    assert set(labels.tolist()) == {0, 1, 2, 3}
    order = [lab for _, lab in idx.data["training"]][:64]
    assert labels[:64].tolist() != order  # shuffled
    seen = []

    def samples_hook(s):
        seen.append(s.shape.as_list())
        return tf.zeros_like(s)

    hooked = make_dataset(idx, "training", settings, 8, seed=5, samples_hook=samples_hook,
                          features_hook=lambda f: f + 1.0)
    f, _ = next(iter(hooked))
    assert seen and seen[0] == [8, N]
    zeros = tf_features(np.zeros(N, np.float32), settings).numpy()
    np.testing.assert_allclose(f.numpy(), np.broadcast_to(zeros + 1.0, f.shape), atol=1e-4)
    # Hooks are augmentation: evaluation ignores them.
    ev = make_dataset(idx, "validation", settings, 8, features_hook=lambda f: f + 1000.0)
    assert next(iter(ev))[0].numpy().max() < 500


def test_resampled_clips_go_through_the_python_reader(tmp_path):
    (tmp_path / "yes").mkdir()
    t = np.arange(8000) / 8000
    for i in range(6):
        kws.write_wav(tmp_path / "yes" / f"a{i}_nohash_0.wav", 0.5 * np.sin(2 * np.pi * 300 * t), 8000)
    idx = DatasetIndex(tmp_path, ["yes"], silence_percentage=0, validation_percentage=0,
                       testing_percentage=0, resample=True)
    x, _ = collect(make_samples_dataset(idx, "training", 6, augment=False, shuffle=False,
                                        repeat=False), 1)
    assert x.shape == (6, N)
    spectrum = np.abs(np.fft.rfft(x[0]))
    assert np.argmax(spectrum) == 300


def test_errors(marked):
    idx = DatasetIndex(marked, ["yes"], validation_percentage=0, testing_percentage=0)
    with pytest.raises(ValueError, match="model has 12 labels but the dataset has 3"):
        make_dataset(idx, "training", ModelSettings(), 8)
    with pytest.raises(ValueError, match="sample rate 8000 Hz differs"):
        make_dataset(idx, "training", ModelSettings(label_count=3, sample_rate=8000), 8)
    with pytest.raises(ValueError, match="partition 'validation' of .* is empty"):
        make_dataset(idx, "validation", ModelSettings(label_count=3), 8)
    with pytest.raises(ValueError, match="unknown partition 'train'"):
        make_dataset(idx, "train", ModelSettings(label_count=3), 8)
    with pytest.raises(ValueError, match="background_frequency"):
        make_dataset(idx, "training", ModelSettings(label_count=3), 8, background_frequency=2)


def test_training_features_equal_native_mfcc(sample_dir):
    """A clip's training features (augmented) equal kws.mfcc on the same samples."""
    import kws

    idx = DatasetIndex(sample_dir, WANTED_SAMPLE, validation_percentage=13, testing_percentage=4)
    settings = ModelSettings(label_count=len(idx.labels))
    samples, _ = next(iter(make_samples_dataset(idx, "training", 24, seed=9)))
    feats, _ = next(iter(make_dataset(idx, "training", settings, 24, seed=9)))
    samples, feats = samples.numpy(), feats.numpy()
    assert np.abs(samples).max() > 0.05  # real speech and noise, augmented
    worst = 0.0
    for x, f in zip(samples, feats):
        native = kws.mfcc(x, sample_rate=16000, window_size_ms=30.0, window_stride_ms=10.0,
                          feature_bin_count=40)
        assert native.shape == f.shape == (98, 40)
        worst = max(worst, float(np.abs(native - f).max()))
    assert worst <= 1e-3, worst
