"""BC-ResNet and the streaming-first variants: the paper's parameter counts and
multiplications, sub-spectral normalisation, the log-mel input, and time-shift exactness
of the VALID variants."""

from __future__ import annotations

import keras  # noqa: E402
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

from kws.train.bc_resnet import (  # noqa: E402
    ColumnStridedDepthwise,
    SubSpectralNorm,
    receptive_field,
    sub_bands_for,
)
from kws.train.features import tf_features  # noqa: E402
from kws.train.log_mel import dct_matrix, mfcc_to_log_mel_matrix  # noqa: E402
from kws.train.models import build_model  # noqa: E402
from kws.train.settings import ModelSettings  # noqa: E402

# Kim et al. 2021, Table 2: parameters of BC-ResNet-1, -3 and -8 (12 labels).
PAPER_PARAMS = {1: 9.2e3, 3: 54e3, 8: 321e3}


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize("width", sorted(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(width):
    """Trainable parameters (convolutions, BN and sub-spectral-norm gamma and beta, the
    classifier) round to the paper's figure; the streaming-first variant has the same."""
    count = _trainable(build_model(f"bc_resnet_{width}", ModelSettings()))
    paper = PAPER_PARAMS[width]
    assert abs(count - paper) / paper < 0.005, (count, paper)
    stream = _trainable(build_model(f"bc_resnet_{width}_stream", ModelSettings()))
    assert stream == count


def test_widths_scale_the_channels():
    counts = {w: _trainable(build_model(f"bc_resnet_{w}", ModelSettings())) for w in (1, 2, 6)}
    assert counts[1] < counts[2] < counts[6]
    # Paper Table 2: BC-ResNet-2 27K, BC-ResNet-6 188K.
    assert round(counts[2] / 1e3) == 27 and round(counts[6] / 1e3) == 188


def test_sub_spectral_norm_per_band_and_channel():
    """Training mode normalises each (sub-band, channel) on its own; inference is a scale
    and shift per (bin, channel), equal over a band's bins, from the moving statistics."""
    rng = np.random.default_rng(0)
    bins, channels, bands = 10, 3, 5
    offsets = rng.normal(0, 5, size=(1, 1, bins, channels))
    x = (rng.normal(size=(8, 6, bins, channels)) * 2 + offsets).astype(np.float32)
    layer = SubSpectralNorm(bands, momentum=0.0, epsilon=1e-3)
    y = np.asarray(layer(x, training=True)).reshape(8, 6, bands, bins // bands, channels)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(y.var(axis=(0, 1, 3)), 1.0, atol=2e-3)
    # momentum 0: the moving statistics are this batch's, per (band, channel).
    xb = x.reshape(8, 6, bands, bins // bands, channels)
    np.testing.assert_allclose(np.asarray(layer.moving_mean), xb.mean(axis=(0, 1, 3)),
                               rtol=1e-4, atol=1e-4)
    gamma = rng.uniform(0.5, 2, size=(bands, channels)).astype(np.float32)
    beta = rng.normal(size=(bands, channels)).astype(np.float32)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    scale = gamma / np.sqrt(np.asarray(layer.moving_variance) + 1e-3)
    shift = beta - np.asarray(layer.moving_mean) * scale
    per_bin_scale = np.repeat(scale, bins // bands, axis=0)  # (bins, channels)
    per_bin_shift = np.repeat(shift, bins // bands, axis=0)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)),
                               x * per_bin_scale + per_bin_shift, rtol=1e-5, atol=1e-4)
    # A plain batch norm (one statistic per channel) would not have zeroed every band.
    assert np.abs(x.mean(axis=(0, 1)) - x.mean(axis=(0, 1, 2))).max() > 1.0
    with pytest.raises(ValueError, match="7 frequency bins do not split into 5"):
        SubSpectralNorm(5).build((None, 4, 7, 2))


def test_sub_spectral_norm_fused_training_step_matches_moments():
    """The fused training step (float32) gives the moments step's output, gradients and
    moving statistics, float rounding apart."""
    rng = np.random.default_rng(1)
    shape, bands = (6, 7, 10, 4), 5
    x = tf.constant((rng.normal(size=shape) * 3 + rng.normal(0, 4, (1, 1, 10, 4)))
                    .astype(np.float32))
    g = tf.constant(rng.normal(size=shape).astype(np.float32))
    gamma = rng.uniform(0.5, 2, (bands, 4)).astype(np.float32)
    results = []
    for step in ("_train_fused", "_train_moments"):
        layer = SubSpectralNorm(bands)
        layer.build(shape)
        layer.gamma.assign(gamma)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(getattr(layer, step)(x) * g)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([getattr(layer, step)(x).numpy()] + [v.numpy() for v in grads]
                       + [layer.moving_mean.numpy(), layer.moving_variance.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=0, atol=3e-5 * max(1.0, np.abs(b).max()))
    assert np.abs(results[0][4]).max() > 0.05  # the moving mean moved


def test_sub_bands_follow_the_paper_when_they_divide():
    assert [sub_bands_for(b) for b in (20, 10, 5, 3, 4)] == [5, 5, 5, 3, 4]


@pytest.mark.parametrize("columns,stride,k", [(20, 2, 3), (21, 2, 3), (10, 2, 3), (5, 2, 3),
                                               (12, 3, 3), (9, 2, 5)])
def test_column_strided_depthwise_is_the_strided_same_convolution(columns, stride, k):
    """TensorFlow's SAME rule (out = ceil(F / s), the odd padding column on the right),
    written out tap by tap, against the stride-1-then-subsample layer."""
    rng = np.random.default_rng(columns * 10 + k)
    x = rng.normal(size=(2, 4, columns, 3)).astype(np.float32)
    layer = ColumnStridedDepthwise((1, k), strides=(1, stride), padding="same",
                                   use_bias=True, bias_initializer="random_normal")
    y = np.asarray(layer(x))
    w, b = np.asarray(layer.kernel)[0, :, :, 0], np.asarray(layer.bias)
    out = -(-columns // stride)
    left = max((out - 1) * stride + k - columns, 0) // 2
    want = np.zeros((2, 4, out, 3), np.float32)
    for j in range(out):
        for t in range(k):
            col = j * stride - left + t
            if 0 <= col < columns:
                want[:, :, j, :] += x[:, :, col, :] * w[t]
    np.testing.assert_allclose(y, want + b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="row stride 1"):
        ColumnStridedDepthwise((3, 3), strides=(2, 2), padding="same")(x)


def test_log_mel_inverts_the_mfcc_dct():
    settings = ModelSettings(preprocess="log_mel")
    rng = np.random.default_rng(1)
    t = np.arange(settings.desired_samples) / settings.sample_rate
    tone = (0.3 * np.sin(2 * np.pi * 1000.0 * t) + 0.01 * rng.normal(size=t.size))
    mfcc = np.asarray(tf_features(tone.astype(np.float32), ModelSettings()))
    log_mel = np.asarray(tf_features(tone.astype(np.float32), settings))
    assert log_mel.shape == mfcc.shape == (98, 40)
    # The DCT of the log-mel bins is the MFCC again.
    np.testing.assert_allclose(log_mel @ dct_matrix(40, 40).T, mfcc, rtol=1e-4, atol=1e-3)
    # A 1 kHz tone: the loudest bin is the same in every frame, well inside the band.
    peak = log_mel.argmax(axis=1)
    assert len(set(peak.tolist())) == 1 and 15 < peak[0] < 35
    # Silence: every channel sits at the filterbank floor, log(1e-12).
    silent = np.asarray(tf_features(np.zeros(16000, np.float32), settings))
    np.testing.assert_allclose(silent, np.log(1e-12), atol=1e-3)
    assert np.allclose(mfcc_to_log_mel_matrix(40) @ dct_matrix(40, 40).T, np.eye(40))


def test_log_mel_needs_one_coefficient_per_channel():
    with pytest.raises(ValueError, match="--feature_bin_count 20 must equal the 40 mel"):
        ModelSettings(preprocess="log_mel", feature_bin_count=20)


def _pre_pool(model):
    return keras.Model(model.inputs, model.get_layer("global_pool").input)


@pytest.mark.parametrize("architecture", ["bc_resnet_1_stream", "tc_resnet_stream"])
def test_stream_variants_are_shift_exact(architecture):
    """Every row before the global pool depends on real frames only: the rows of a window
    that starts s frames into a longer clip are the longer clip's rows s, s+1, ... (so a
    stream computes each row once and a hop only the rows of its new frames)."""
    window = build_model(architecture, ModelSettings(), training_dropout=False)
    longer_settings = ModelSettings(clip_duration_ms=1200.0)
    longer = build_model(architecture, longer_settings, training_dropout=False)
    from kws.train.models import randomize_weights

    randomize_weights(window, seed=3)
    longer.set_weights(window.get_weights())
    rng = np.random.default_rng(4)
    clip = rng.normal(size=(1, longer_settings.spectrogram_length, 40)).astype(np.float32)
    rows_long = np.asarray(_pre_pool(longer)(clip))
    rows = np.asarray(_pre_pool(window)(clip[:, :98]))
    assert rows.shape[1] == 98 - receptive_field(architecture) + 1
    for shift in (0, 3, 7, 20):
        rows = np.asarray(_pre_pool(window)(clip[:, shift:shift + 98]))
        np.testing.assert_allclose(rows, rows_long[:, shift:shift + rows.shape[1]],
                                   rtol=1e-4, atol=1e-4)
    # The SAME-padded model is not: its edge rows see the window's zero padding.
    same = build_model("bc_resnet_1", ModelSettings(), training_dropout=False)
    same_long = build_model("bc_resnet_1", longer_settings, training_dropout=False)
    randomize_weights(same, seed=3)
    same_long.set_weights(same.get_weights())
    a = np.asarray(_pre_pool(same)(clip[:, 7:105]))
    b = np.asarray(_pre_pool(same_long)(clip))[:, 7:105]
    assert np.abs(a - b).max() > 1e-2


def test_stream_variants_need_their_receptive_field():
    with pytest.raises(ValueError, match="bc_resnet_1_stream needs at least 69 feature frames"):
        build_model("bc_resnet_1_stream", ModelSettings(window_stride_ms=20.0))
    with pytest.raises(ValueError, match="tc_resnet_stream needs at least 51"):
        build_model("tc_resnet_stream", ModelSettings(window_stride_ms=20.0))


def test_bc_resnet_trains_sub_spectral_statistics():
    """A training step moves the sub-spectral norms' moving statistics per band."""
    settings = ModelSettings(label_count=4, feature_bin_count=20)
    model = build_model("bc_resnet_1", settings)
    x = np.random.default_rng(5).normal(size=(4, 98, 20)).astype(np.float32)
    x[:, :, :10] += 3.0  # low bins brighter
    model(x, training=True)
    ssn = model.get_layer("stage1_block1_ssn")
    mean = np.asarray(ssn.moving_mean)
    assert mean.shape == (5, 8)
    assert not np.allclose(mean[0], mean[-1])
    assert isinstance(model.get_layer("stage1_block1_time_silu"), keras.layers.Activation)
    assert tf.reduce_all(tf.math.is_finite(model(x, training=False)))


def _multiply_adds(model) -> int:
    """Multiply-adds of the convolutions and the dense layer, from the layer shapes."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            kernel = layer.kernel.shape
            depthwise = isinstance(layer, keras.layers.DepthwiseConv2D)
            taps = kernel[0] * kernel[1] * (1 if depthwise else kernel[2])
            total += int(np.prod(layer.output.shape[1:])) * int(taps)
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total


# Paper Table 2's multiplications on 40 x 101 log-mel, at the smallest and largest width.
PAPER_MULTIPLICATIONS = {1: 3.6e6, 8: 89.1e6}
# The reference front end's mel filterbank: 257 FFT bins x 40 mel bins per frame.
REFERENCE_FILTERBANK = 257 * 40


@pytest.mark.parametrize("width", sorted(PAPER_MULTIPLICATIONS))
def test_multiply_adds_match_the_paper(width):
    """The paper does not say what its multiplications count. Ours (convolutions and the
    dense layer, scaled from 98 to 101 frames) plus the reference front end's mel
    filterbank come within 3% of its figure at both widths (2.2% and 2.4% under);
    the convolutions alone are 31% under at width 1, where the filterbank weighs most."""
    macs = _multiply_adds(build_model(f"bc_resnet_{width}", ModelSettings(),
                                      training_dropout=False))
    counted = (macs / 98 + REFERENCE_FILTERBANK) * 101
    paper = PAPER_MULTIPLICATIONS[width]
    assert abs(counted - paper) / paper < 0.03, (width, macs, counted)


@pytest.mark.slow
def test_tflite_and_saved_model_of_a_log_mel_stream_variant(tmp_path):
    """The TensorFlow exports carry the log-mel front end and the new layers: TFLite float
    and the SavedModel agree with the Keras model on a clip."""
    from kws.train import export
    from kws.train.models import randomize_weights

    settings = ModelSettings(preprocess="log_mel")
    model = build_model("bc_resnet_1_stream", settings, training_dropout=False)
    randomize_weights(model, seed=7)
    rng = np.random.default_rng(8)
    t = np.arange(16000) / 16000
    clip = (0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.normal(size=16000)).astype(
        np.float32)
    reference = tf.nn.softmax(model(tf_features(clip[None], settings), training=False))
    reference = np.asarray(reference)[0]
    assert reference.max() < 0.99
    interpreter = tf.lite.Interpreter(model_content=export.tflite_bytes(model, settings))
    # The documented interface: signature serving_default, samples in, labels_softmax out.
    assert interpreter.get_signature_list() == {
        "serving_default": {"inputs": ["samples"], "outputs": ["labels_softmax"]}}
    runner = interpreter.get_signature_runner("serving_default")
    got = runner(samples=clip[None])["labels_softmax"][0]
    np.testing.assert_allclose(got, reference, atol=1e-4)
    saved = export.save_saved_model(tmp_path / "saved", model, settings)
    loaded = tf.saved_model.load(str(saved))
    out = loaded.signatures["serving_default"](samples=tf.constant(clip[None]))
    np.testing.assert_allclose(np.asarray(out["labels_softmax"])[0], reference, atol=1e-5)
