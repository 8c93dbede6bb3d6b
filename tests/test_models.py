"""Architectures: classic parameter counts, shapes for default and other inputs, the SVDF
layer's arithmetic, and a few training steps per architecture without NaN."""

from __future__ import annotations

import keras  # noqa: E402
import numpy as np
import pytest
import tensorflow as tf  # noqa: E402

from kws.train.config import EMBEDDING_INPUT  # noqa: E402
from kws.train.models import (  # noqa: E402
    ARCHITECTURES,
    TWO_BRANCH,
    Svdf,
    branch_model,
    build_model,
)
from kws.train.settings import ModelSettings  # noqa: E402

CLASSIC_PARAMS = {
    "single_fc": 47_052,
    "conv": 926_860,
    "low_latency_conv": 949_862,
    "low_latency_svdf": 751_372,
    "tiny_conv": 94_740,
    "tiny_embedding_conv": 7_804,
}
SMALL = ModelSettings(label_count=5, window_stride_ms=20.0, feature_bin_count=20)


BC_RESNET = {f"bc_resnet_{w}" for w in (1, 2, 3, 6, 8)}
STREAM = {f"{a}_stream" for a in BC_RESNET} | {"tc_resnet_stream"}
# Streaming-first variants need more frames than SMALL's 49 (their receptive field).
SMALL_98 = ModelSettings(label_count=5, feature_bin_count=20)
# One width per family for the training smoke test (the widths share their code);
# BC-ResNet's training steps are the slowest on a CPU.
TRAINED = [pytest.param(a, marks=pytest.mark.slow) if a.startswith("bc_resnet") else a
           for a in sorted(set(CLASSIC_PARAMS) | {"ds_cnn", "tc_resnet", "bc_resnet_1",
                                                  "bc_resnet_1_stream", "tc_resnet_stream",
                                                  "speech_embedding",
                                                  "speech_embedding_tc_resnet"})]


# speech_embedding reads the 257-bin power spectrogram of 25 ms frames (76 at least).
EMBEDDING = ModelSettings(label_count=5, **EMBEDDING_INPUT)


def _small(architecture: str) -> ModelSettings:
    if architecture.startswith("speech_embedding"):
        return EMBEDDING
    return SMALL_98 if architecture in STREAM else SMALL


def test_all_architectures_registered():
    assert (set(CLASSIC_PARAMS) | {"ds_cnn", "tc_resnet", "speech_embedding",
                                   "speech_embedding_tc_resnet"} | BC_RESNET
            | STREAM == set(ARCHITECTURES))


@pytest.mark.parametrize("architecture", sorted(CLASSIC_PARAMS))
def test_classic_parameter_counts(architecture):
    model = build_model(architecture, ModelSettings())
    assert model.count_params() == CLASSIC_PARAMS[architecture]
    # Dropout carries no weights: the inference build has the same weights by name.
    inference = build_model(architecture, ModelSettings(), training_dropout=False)
    assert [w.path for w in inference.weights] == [w.path for w in model.weights]
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in inference.layers)


# BC-ResNet's widths share one builder: the widths above 1 run with the slow tests.
@pytest.mark.parametrize("architecture", [
    pytest.param(a, marks=pytest.mark.slow)
    if a.startswith("bc_resnet_") and not a.startswith("bc_resnet_1") else a
    for a in sorted(ARCHITECTURES)])
@pytest.mark.parametrize("small", [False, True], ids=["98x40", "small"])
def test_forward_shapes_and_named_layers(architecture, small):
    settings = _small(architecture) if small else (
        EMBEDDING if architecture.startswith("speech_embedding") else ModelSettings())
    model = build_model(architecture, settings)
    frames, width = settings.spectrogram_length, settings.fingerprint_width
    assert model.input_shape == (None, frames, width)
    features = np.random.default_rng(0).normal(size=(3, frames, width)).astype(np.float32)
    logits = model(features, training=False)
    assert tuple(logits.shape) == (3, settings.label_count)
    names = [layer.name for layer in model.layers]
    assert len(set(names)) == len(names)
    assert model.layers[-1].name == "logits"
    # The architectures listed as two-branch are the ones built with branch logits.
    assert (branch_model(model) is not None) == (architecture in TWO_BRANCH)


def test_unknown_architecture_message():
    with pytest.raises(ValueError, match="'lstm' is not one of single_fc"):
        build_model("lstm", ModelSettings())


def test_svdf_matches_its_definition():
    rng = np.random.default_rng(1)
    units, rank, memory, frames, feats = 3, 2, 4, 6, 5
    layer = Svdf(units=units, rank=rank, memory_size=memory, name="svdf")
    x = rng.normal(size=(2, frames, feats)).astype(np.float32)
    layer.build((None, frames, feats))
    ff = rng.normal(size=(feats, units * rank)).astype(np.float32)
    tfilt = rng.normal(size=(memory, units * rank)).astype(np.float32)
    bias = rng.normal(size=(units,)).astype(np.float32)
    layer.set_weights([ff, tfilt, bias])
    assert [w.path.split("/")[-1] for w in layer.weights] == ["feature_filter", "time_filter",
                                                              "bias"]
    y = x @ ff  # (batch, frames, filters)
    expected = np.zeros((2, units), np.float32)
    for b in range(2):
        for u in range(units):
            total = bias[u]
            for r in range(rank):
                f = u * rank + r
                for k in range(memory):
                    total += tfilt[k, f] * y[b, frames - memory + k, f]
            expected[b, u] = total
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-5)
    # Serializable with its configuration.
    clone = Svdf.from_config(layer.get_config())
    assert (clone.units, clone.rank, clone.memory_size) == (units, rank, memory)
    with pytest.raises(ValueError, match="memory_size 7 exceeds the 6 input frames"):
        Svdf(units=1, rank=1, memory_size=7).build((None, 6, 5))


@pytest.mark.parametrize("architecture", TRAINED)
def test_trains_without_nan(architecture):
    """A few optimizer steps on a learnable random task: finite, and the loss falls."""
    settings = _small(architecture)
    rng = np.random.default_rng(2)
    labels = rng.integers(0, settings.label_count, size=16)
    centres = rng.normal(size=(settings.label_count, settings.spectrogram_length,
                               settings.fingerprint_width)).astype(np.float32)
    features = centres[labels] + 0.1 * rng.normal(size=(16,) + centres.shape[1:]).astype(
        np.float32)
    if settings.preprocess == "average":  # a power spectrogram is not negative
        features = features ** 2
    model = build_model(architecture, settings)
    optimizer = keras.optimizers.Adam(1e-3)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    losses = []
    for _ in range(8):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(features, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        losses.append(float(loss))
    assert all(np.isfinite(losses))
    assert all(np.all(np.isfinite(w)) for w in model.get_weights())
    eval_loss = float(loss_fn(labels, model(features, training=False)))
    assert np.isfinite(eval_loss)
    assert min(losses[-3:]) < losses[0]


def test_batch_norm_training_step_matches_keras():
    """kws's BatchNorm trains with TensorFlow's fused kernel: its output, gradients and
    moving statistics after training steps equal Keras's own layer's (float rounding
    apart), and inference is the parent's code."""
    from keras import layers

    from kws.train.blocks import BATCH_NORM_EPSILON, BATCH_NORM_MOMENTUM, BatchNorm

    rng = np.random.default_rng(0)
    ours = BatchNorm(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON)
    ref = layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON)
    shape = (8, 13, 5, 6)
    for layer in (ours, ref):
        layer.build(shape)
    gamma = rng.normal(1.0, 0.3, 6).astype(np.float32)
    beta = rng.normal(0.0, 0.3, 6).astype(np.float32)
    for layer in (ours, ref):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    for step in range(3):
        x = tf.constant(rng.normal(2.0 + step, 3.0, shape).astype(np.float32))
        g = tf.constant(rng.normal(0.0, 1.0, shape).astype(np.float32))
        out = {}
        for name, layer in (("ours", ours), ("ref", ref)):
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(y * g)
            grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
            out[name] = [y.numpy()] + [v.numpy() for v in grads]
        for a, b in zip(out["ours"], out["ref"]):
            np.testing.assert_allclose(a, b, rtol=0, atol=2e-5 * np.abs(b).max())
        np.testing.assert_allclose(ours.moving_mean.numpy(), ref.moving_mean.numpy(),
                                   rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ours.moving_variance.numpy(), ref.moving_variance.numpy(),
                                   rtol=1e-5, atol=1e-6)
    assert abs(float(ours.moving_mean.numpy().mean())) > 0.1  # the statistics moved
    x = tf.constant(rng.normal(0.0, 1.0, shape).astype(np.float32))
    np.testing.assert_allclose(ours(x, training=False).numpy(), ref(x, training=False).numpy(),
                               rtol=0, atol=1e-5)
