"""The TensorFlow front end: the reference that kws's native MFCC matches.

Used by the training pipeline and inside exported SavedModel/TFLite models.
"""

from __future__ import annotations

import tensorflow as tf

from kws.train.settings import ModelSettings


def mfcc_to_log_mel(mfcc, settings: ModelSettings):
    """(..., channels) MFCC with as many coefficients as mel channels -> the log mel
    filterbank (kws.train.log_mel)."""
    import tensorflow as tf

    from kws.train.log_mel import mfcc_to_log_mel_matrix

    matrix = tf.constant(mfcc_to_log_mel_matrix(settings.filterbank_channel_count),
                         tf.float32)
    return tf.tensordot(mfcc, matrix, axes=[[mfcc.shape.rank - 1], [0]])


def average_bins(spectrogram, width: int):
    """The classic "average" front end on (1, frames, bins) squared magnitudes: the mean of
    groups of `width` bins with SAME padding, ceil(bins / width) outputs."""
    if width == 1:
        return spectrogram
    return tf.nn.pool(spectrogram[..., tf.newaxis], window_shape=[1, width],
                      pooling_type="AVG", strides=[1, width], padding="SAME")[..., 0]


def tf_features(samples, settings: ModelSettings):
    """Features of float samples in [-1, 1].

    `samples` is a 1-D tensor (one clip) or 2-D (batch, samples); returns
    (frames, bins) or (batch, frames, bins) float32.
    """
    samples = tf.convert_to_tensor(samples, dtype=tf.float32)
    batched = samples.shape.rank == 2
    if not batched:
        samples = samples[tf.newaxis, :]
    # AudioSpectrogram wants (samples, channels) for one clip; map over the batch.
    def one(clip):
        spectrogram = tf.raw_ops.AudioSpectrogram(
            input=clip[:, tf.newaxis],
            window_size=settings.window_size_samples,
            stride=settings.window_stride_samples,
            magnitude_squared=True,
        )
        if settings.preprocess in ("mfcc", "log_mel"):
            feats = tf.raw_ops.Mfcc(
                spectrogram=spectrogram,
                sample_rate=settings.sample_rate,
                upper_frequency_limit=settings.upper_frequency_limit,
                lower_frequency_limit=settings.lower_frequency_limit,
                filterbank_channel_count=settings.filterbank_channel_count,
                dct_coefficient_count=settings.feature_bin_count,
            )
            if settings.preprocess == "log_mel":
                feats = mfcc_to_log_mel(feats, settings)
        elif settings.preprocess == "average":
            feats = average_bins(spectrogram, settings.average_window_width)
        else:
            raise ValueError(f"preprocess '{settings.preprocess}' is not supported by tf_features")
        return feats[0]

    out = tf.map_fn(
        one,
        samples,
        fn_output_signature=tf.TensorSpec(
            [settings.spectrogram_length, settings.fingerprint_width], tf.float32
        ),
    )
    return out if batched else out[0]
