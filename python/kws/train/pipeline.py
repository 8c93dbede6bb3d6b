"""The `tf.data` input pipeline: decode, augment (SPEC.md), features, in parallel.

`make_dataset(index, partition, settings, batch_size)` yields
`(features float32 [batch, frames, feature_width], labels int32 [batch])` with features
from `kws.train.features.tf_features` (the TensorFlow reference of the native front end).

Augmentation (training only), exactly the classic one:
  1. foreground volume 0 for silence entries made from noise, else 1;
  2. time shift: an integer uniform in [-shift, shift) samples; positive pads the front,
     negative the back, then crop to the clip length;
  3. background: with probability `background_frequency`, a random window of a random
     noise file at volume uniform(0, `background_volume`); silence entries always get
     noise at volume uniform(0, 1);
  4. clip the sum to [-1, 1].
Clips are zero-padded or cropped to the clip duration when decoded.

Validation and testing are deterministic: no shift, no random background, and silence
entries get noise drawn from a fixed seed per entry (the same on every pass).
Randomness is stateless and keyed on (seed, element number), so a given `seed` gives the
same training stream whatever the parallelism.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf

from kws.labels import UNKNOWN_WORD_LABEL
from kws.train.data import DatasetIndex
from kws.train.features import tf_features
from kws.train.settings import ModelSettings

DEFAULT_EVAL_SEED = 59185

SamplesHook = Callable[..., object]  # (samples [batch, n] float32 tensor) -> same shape
FeaturesHook = Callable[..., object]  # (features [batch, frames, width]) -> same shape


def _noise_tensors(index: DatasetIndex):
    """Background noise as one flat float32 tensor plus per-file starts and lengths."""
    noises = index.background_noise
    if not noises:
        return None
    lengths = np.array([len(n) for n in noises], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    flat = np.concatenate(noises).astype(np.float32)
    return tf.constant(flat), tf.constant(starts), tf.constant(lengths)


def _check_settings(index: DatasetIndex, settings: ModelSettings) -> None:
    if settings.sample_rate != index.sample_rate:
        raise ValueError(
            f"model sample rate {settings.sample_rate} Hz differs from the dataset index's "
            f"{index.sample_rate} Hz"
        )
    if settings.desired_samples != index.desired_samples:
        raise ValueError(
            f"model clip length {settings.desired_samples} samples differs from the dataset "
            f"index's {index.desired_samples}"
        )
    if settings.label_count != len(index.labels):
        raise ValueError(
            f"model has {settings.label_count} labels but the dataset has {len(index.labels)} "
            f"({', '.join(index.labels)})"
        )


def make_samples_dataset(
    index: DatasetIndex,
    partition: str,
    batch_size: int,
    *,
    background_frequency: float = 0.8,
    background_volume: float = 0.1,
    time_shift_ms: float = 100.0,
    unknown_time_shift_ms: float | None = None,
    augment: bool | None = None,
    shuffle: bool | None = None,
    repeat: bool | None = None,
    seed: int | None = None,
    drop_remainder: bool | None = None,
    samples_hook: SamplesHook | None = None,
):
    """Like `make_dataset` but yields `(samples float32 [batch, clip samples], labels)`.

    The augmented audio before the front end (useful for listening, export's
    representative data, or a custom front end).
    """
    return _pipeline(
        index, partition, batch_size, background_frequency=background_frequency,
        background_volume=background_volume, time_shift_ms=time_shift_ms,
        unknown_time_shift_ms=unknown_time_shift_ms, augment=augment, shuffle=shuffle,
        repeat=repeat, seed=seed, drop_remainder=drop_remainder,
        samples_hook=samples_hook, clip_fn=None,
    )


def _pipeline(
    index: DatasetIndex,
    partition: str,
    batch_size: int,
    *,
    background_frequency: float,
    background_volume: float,
    time_shift_ms: float,
    unknown_time_shift_ms: float | None,
    augment: bool | None,
    shuffle: bool | None,
    repeat: bool | None,
    seed: int | None,
    drop_remainder: bool | None,
    samples_hook: SamplesHook | None,
    clip_fn: Callable | None,
):
    """The shared pipeline; `clip_fn` (e.g. the front end) runs per clip in the parallel
    map, before batching (much faster than a map over the batch)."""
    if partition not in index.data:
        raise ValueError(f"unknown partition '{partition}': training, validation or testing")
    entries = index.data[partition]
    if not entries:
        raise ValueError(
            f"partition '{partition}' of {', '.join(map(str, index.data_dirs))} is empty "
            "(check --validation_percentage/--testing_percentage)"
        )
    if batch_size <= 0:
        raise ValueError(f"--batch_size must be positive, got {batch_size}")
    if not 0 <= background_frequency <= 1:
        raise ValueError(f"--background_frequency must be in [0, 1], got {background_frequency}")
    if background_volume < 0:
        raise ValueError(f"--background_volume must be >= 0, got {background_volume}")
    clip_ms = index.desired_samples * 1000 / index.sample_rate
    for name, value in (("time_shift_ms", time_shift_ms),
                        ("unknown_time_shift_ms", unknown_time_shift_ms)):
        if value is not None and not 0 <= value <= clip_ms:
            raise ValueError(f"--{name} must be in [0, {clip_ms:g}] (the clip's length), "
                             f"got {value}")
    training = partition == "training"
    augment = training if augment is None else bool(augment)
    shuffle = training if shuffle is None else bool(shuffle)
    repeat = training if repeat is None else bool(repeat)
    drop_remainder = repeat if drop_remainder is None else bool(drop_remainder)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1) if training else (
            DEFAULT_EVAL_SEED
        )
    seed = int(seed)

    desired = index.desired_samples
    shift_max = int(time_shift_ms * index.sample_rate / 1000) if augment else 0
    # _unknown_ clips may have a shift range of their own.
    unknown_shift_max = (
        int(unknown_time_shift_ms * index.sample_rate / 1000)
        if augment and unknown_time_shift_ms is not None else shift_max
    )
    unknown_label = (index.labels.index(UNKNOWN_WORD_LABEL)
                     if UNKNOWN_WORD_LABEL in index.labels else -1)
    noise = _noise_tensors(index)
    use_python_reader = bool(index.converted)

    paths = [p or "" for p, _ in entries]
    labels = np.array([lab for _, lab in entries], dtype=np.int32)
    ds = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle:
        ds = ds.shuffle(len(entries), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.enumerate()  # element number: the key of its random draws

    def python_load(path: bytes) -> np.ndarray:
        return index.load_clip(path.decode("utf-8"))

    def decode(path):
        if use_python_reader:
            x = tf.numpy_function(python_load, [path], tf.float32, stateful=False)
            return tf.ensure_shape(x, [desired])
        audio, _ = tf.audio.decode_wav(
            tf.io.read_file(path), desired_channels=1, desired_samples=desired
        )
        return audio[:, 0]

    def load_and_augment(number, element):
        path, label = element
        key = tf.stack([tf.constant(seed, tf.int64), number])
        keys = tf.random.experimental.stateless_split(key, num=6)
        generated_silence = tf.equal(path, "")
        samples = tf.cond(
            generated_silence,
            lambda: tf.zeros([desired], tf.float32),
            lambda: decode(path),
        )
        if shift_max > 0 or unknown_shift_max > 0:
            limit = tf.where(tf.equal(label, unknown_label), unknown_shift_max, shift_max)
            # Uniform in [-limit, limit) ([0, 1) when limit is 0: no shift).
            shift = tf.random.stateless_uniform(
                [], keys[0], minval=-limit, maxval=tf.maximum(limit, 1), dtype=tf.int32
            )
            front = tf.maximum(shift, 0)
            back = tf.maximum(-shift, 0)
            padded = tf.pad(samples, [[front, back]])
            samples = padded[back : back + desired]
        if noise is not None:
            flat, starts, lengths = noise
            n_files = tf.shape(starts, out_type=tf.int64)[0]
            which = tf.random.stateless_uniform(
                [], keys[1], minval=0, maxval=n_files, dtype=tf.int64
            )
            span = lengths[which] - desired + 1
            offset = tf.random.stateless_uniform([], keys[2], minval=0, maxval=span, dtype=tf.int64)
            window = flat[starts[which] + offset : starts[which] + offset + desired]
            if augment and background_frequency > 0:
                mixed = tf.random.stateless_uniform([], keys[3]) < background_frequency
                word_volume = tf.where(
                    mixed,
                    tf.random.stateless_uniform([], keys[4], maxval=background_volume),
                    0.0,
                )
            else:
                word_volume = tf.constant(0.0)
            silence_volume = tf.random.stateless_uniform([], keys[5])
            volume = tf.where(generated_silence, silence_volume, word_volume)
            samples = samples + window * volume
        samples = tf.ensure_shape(tf.clip_by_value(samples, -1.0, 1.0), [desired])
        if clip_fn is not None:
            return clip_fn(samples), label
        return samples, label

    ds = ds.map(load_and_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if augment and samples_hook is not None:
        ds = ds.map(lambda s, y: (samples_hook(s), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def make_dataset(
    index: DatasetIndex,
    partition: str,
    settings: ModelSettings,
    batch_size: int,
    *,
    background_frequency: float = 0.8,
    background_volume: float = 0.1,
    time_shift_ms: float = 100.0,
    unknown_time_shift_ms: float | None = None,
    augment: bool | None = None,
    shuffle: bool | None = None,
    repeat: bool | None = None,
    seed: int | None = None,
    drop_remainder: bool | None = None,
    samples_hook: SamplesHook | None = None,
    features_hook: FeaturesHook | None = None,
):
    """A `tf.data.Dataset` of `(features [batch, frames, width] float32, labels [batch] int32)`.

    Training (the default for partition 'training'): shuffled, augmented, repeated forever,
    full batches only. Validation/testing: one deterministic pass, last batch may be short.
    `augment`, `shuffle`, `repeat` and `drop_remainder` override those defaults; `seed`
    fixes the shuffle and the augmentation draws (None: a fresh random seed for
    training, a fixed one for evaluation). Augmenting shifts each clip by a whole number
    of samples drawn uniformly from [-time_shift_ms, time_shift_ms), and `_unknown_`
    clips from [-unknown_time_shift_ms, unknown_time_shift_ms) when that is given; both
    at most the clip's length.

    Hooks for extra augmentation, applied only when augmenting: `samples_hook(samples)`
    gets the float samples batch [batch, clip samples] after the classic augmentation;
    `features_hook(features)` gets the features batch. Each returns a tensor of the same
    shape (e.g. reverb, speed perturbation, SpecAugment).
    """
    _check_settings(index, settings)
    training = partition == "training"
    augment_on = training if augment is None else bool(augment)
    # Without a samples hook the front end runs per clip inside the parallel map;
    # a samples hook needs the whole batch of samples first.
    per_clip = samples_hook is None or not augment_on
    ds = _pipeline(
        index,
        partition,
        batch_size,
        background_frequency=background_frequency,
        background_volume=background_volume,
        time_shift_ms=time_shift_ms,
        unknown_time_shift_ms=unknown_time_shift_ms,
        augment=augment,
        shuffle=shuffle,
        repeat=repeat,
        seed=seed,
        drop_remainder=drop_remainder,
        samples_hook=samples_hook,
        clip_fn=(lambda clip: tf_features(clip, settings)) if per_clip else None,
    )
    if not per_clip:
        ds = ds.map(lambda s, y: (tf_features(s, settings), y),
                    num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if augment_on and features_hook is not None:
        ds = ds.map(lambda f, y: (features_hook(f), y), num_parallel_calls=tf.data.AUTOTUNE,
                    deterministic=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def load_clip_samples(
    index: DatasetIndex,
    partition: str,
    max_clips: int | None = None,
    *,
    seed: int = DEFAULT_EVAL_SEED,
) -> tuple[np.ndarray, np.ndarray]:
    """Un-augmented clips of a partition as numpy: (samples [n, clip samples], labels [n]).

    Silence entries get the deterministic noise of the evaluation pipeline. Meant for
    representative datasets (quantization), listening and tests.
    """
    entries = index.data[partition]
    n = len(entries) if max_clips is None else min(max_clips, len(entries))
    if n == 0:
        raise ValueError(f"partition '{partition}' is empty")
    sub = DatasetIndex.__new__(DatasetIndex)
    sub.__dict__.update(index.__dict__)
    sub.data = dict(index.data)
    sub.data[partition] = entries[:n]
    ds = make_samples_dataset(
        sub, partition, batch_size=min(n, 256), augment=False, shuffle=False, repeat=False,
        seed=seed, drop_remainder=False,
    )
    xs, ys = [], []
    for x, y in ds.as_numpy_iterator():
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
