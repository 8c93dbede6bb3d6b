"""Model architectures: features (batch, frames, feature_width) -> logits (batch, labels).

Every architecture is one builder function registered in `ARCHITECTURES`. Builders use
the Keras 3 functional API with every layer explicitly named, and only layers the native
runtime implements: Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, MaxPooling2D,
AveragePooling2D, GlobalAveragePooling2D, Dense, Flatten, Reshape, Dropout, Add and the
custom `Svdf` layer defined here.

The classic architectures (single_fc, conv, low_latency_conv, low_latency_svdf,
tiny_conv, tiny_embedding_conv) follow the classic speech-commands models layer for
layer, with the same parameter counts for the default 98 x 40 input and 12 labels
(see SPEC.md). Their weights start small (truncated normal, stddev 0.01; 0.001 for
single_fc) and their biases at zero, as in the classic tool. Dropout (0.5 on hidden
layers) is present only when `training_dropout=True`; it is a no-op in inference, and
models built with and without it have identical weights under the same layer names.

Modern architectures:
- ds_cnn: "Hello Edge" depthwise-separable CNN (conv 64 @ 10x4 stride 2, four
  depthwise-separable blocks of 64, global average pool, dense). Convolutions followed
  by batch norm have no bias; batch norm momentum is 0.95 (FINDINGS.md: 0.99 made short
  runs collapse in inference mode).
- tc_resnet: TC-ResNet8 with width multiplier 1.5 (temporal convolutions: the
  coefficients are channels, time is the only convolved axis).
- bc_resnet_1, _2, _3, _6, _8: BC-ResNet at the paper's width multipliers (kws.train.bc_resnet:
  sub-spectral norm, frequency and dilated temporal depthwise convolutions, broadcast
  residuals). Their extra layers: SubSpectralNorm, Cropping2D, ZeroPadding2D, SiLU.
- bc_resnet_<w>_stream, tc_resnet_stream: streaming-first variants, VALID in time, whose
  whole-clip and streaming outputs are equal and whose hop computes only new frames.
- speech_embedding: a frozen pretrained speech embedding (kws.train.speech_embedding, the
  weights of the pyopen-wakeword package) under a trained head, on the power spectrogram.
  Its extra layers: LogFloor and LeakyClamp.
- speech_embedding_tc_resnet: speech_embedding and TC-ResNet8 on the embedding's log-mel,
  their logits summed; each branch trained on its own cross entropy.
"""

from __future__ import annotations

from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kws.train import bc_resnet, speech_embedding
from kws.train.blocks import batch_norm, bn_relu, crop_front
from kws.train.settings import ModelSettings

DROPOUT_RATE = 0.5


@keras.saving.register_keras_serializable(package="kws")
class Svdf(layers.Layer):
    """Singular value decomposition filter (the classic low_latency_svdf's first layer).

    Input (batch, T, input_features) with T >= memory_size; output (batch, units).
    For filter f = u * rank + r:
        y = x @ feature_filter                                     (batch, T, units*rank)
        z[:, f] = sum_k time_filter[k, f] * y[:, T - memory_size + k, f]
        out[:, u] = sum_r z[:, u * rank + r] + bias[u]
    Row k = memory_size - 1 of `time_filter` weights the newest frame. No activation:
    the builders apply a separate ReLU layer after it. A streaming runtime keeps the last
    memory_size rows of y and computes y only for new frames.
    """

    def __init__(self, units: int, rank: int, memory_size: int, **kwargs):
        super().__init__(**kwargs)
        if units <= 0 or rank <= 0 or memory_size <= 0:
            raise ValueError(
                f"Svdf needs positive units, rank and memory_size, got {units}, {rank}, "
                f"{memory_size}"
            )
        self.units = int(units)
        self.rank = int(rank)
        self.memory_size = int(memory_size)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"Svdf expects (batch, frames, features) input, got {input_shape}")
        frames, input_features = input_shape[1], input_shape[2]
        if frames is not None and frames < self.memory_size:
            raise ValueError(
                f"Svdf memory_size {self.memory_size} exceeds the {frames} input frames"
            )
        filters = self.units * self.rank
        init = keras.initializers.TruncatedNormal(stddev=0.01)
        self.feature_filter = self.add_weight(
            name="feature_filter", shape=(input_features, filters), initializer=init
        )
        self.time_filter = self.add_weight(
            name="time_filter", shape=(self.memory_size, filters), initializer=init
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        window = inputs[:, -self.memory_size :, :]
        activations = tf.einsum("btc,cf->btf", window, self.feature_filter)
        per_filter = tf.einsum("btf,tf->bf", activations, self.time_filter)
        per_unit = tf.reduce_sum(tf.reshape(per_filter, (-1, self.units, self.rank)), axis=-1)
        return per_unit + self.bias

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.units)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, rank=self.rank, memory_size=self.memory_size)
        return config


def _input(settings: ModelSettings) -> keras.KerasTensor:
    return keras.Input(
        shape=(settings.spectrogram_length, settings.fingerprint_width),
        dtype="float32",
        name="features",
    )


def _as_image(x, settings: ModelSettings):
    """(frames, width) -> (frames, width, 1) for 2-D convolutions."""
    return layers.Reshape(
        (settings.spectrogram_length, settings.fingerprint_width, 1), name="reshape"
    )(x)


def _dropout(x, name: str, training_dropout: bool, rate: float = DROPOUT_RATE):
    return layers.Dropout(rate, name=name)(x) if training_dropout else x


def _small(stddev: float = 0.01):
    return keras.initializers.TruncatedNormal(stddev=stddev)


def _classic_conv(filters, kernel, strides, padding, name):
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        kernel_initializer=_small(),
        bias_initializer="zeros",
        name=name,
    )


def _classic_dense(units, name, stddev=0.01):
    return layers.Dense(
        units, kernel_initializer=_small(stddev), bias_initializer="zeros", name=name
    )


def build_single_fc(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    inputs = _input(settings)
    x = layers.Flatten(name="flatten")(inputs)
    logits = _classic_dense(settings.label_count, "logits", stddev=0.001)(x)
    return keras.Model(inputs, logits, name="single_fc")


def build_conv(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    inputs = _input(settings)
    x = _as_image(inputs, settings)
    x = _classic_conv(64, (20, 8), (1, 1), "same", "conv1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = _dropout(x, "dropout1", training_dropout)
    x = layers.MaxPooling2D((2, 2), strides=(2, 2), padding="same", name="maxpool1")(x)
    x = _classic_conv(64, (10, 4), (1, 1), "same", "conv2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = _dropout(x, "dropout2", training_dropout)
    x = layers.Flatten(name="flatten")(x)
    logits = _classic_dense(settings.label_count, "logits")(x)
    return keras.Model(inputs, logits, name="conv")


def build_low_latency_conv(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    # One conv spanning all frames (VALID), then two linear hidden layers (no ReLU,
    # as in the classic model).
    inputs = _input(settings)
    x = _as_image(inputs, settings)
    x = _classic_conv(186, (settings.spectrogram_length, 8), (1, 1), "valid", "conv1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = _dropout(x, "dropout1", training_dropout)
    x = layers.Flatten(name="flatten")(x)
    x = _classic_dense(128, "fc1")(x)
    x = _dropout(x, "dropout2", training_dropout)
    x = _classic_dense(128, "fc2")(x)
    x = _dropout(x, "dropout3", training_dropout)
    logits = _classic_dense(settings.label_count, "logits")(x)
    return keras.Model(inputs, logits, name="low_latency_conv")


def build_low_latency_svdf(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    # SVDF rank 2, 1280 units, memory over all input frames, ReLU; then two linear
    # hidden layers (no ReLU, as in the classic model).
    inputs = _input(settings)
    x = Svdf(units=1280, rank=2, memory_size=settings.spectrogram_length, name="svdf")(inputs)
    x = layers.ReLU(name="relu1")(x)
    x = _dropout(x, "dropout1", training_dropout)
    x = _classic_dense(256, "fc1")(x)
    x = _dropout(x, "dropout2", training_dropout)
    x = _classic_dense(256, "fc2")(x)
    x = _dropout(x, "dropout3", training_dropout)
    logits = _classic_dense(settings.label_count, "logits")(x)
    return keras.Model(inputs, logits, name="low_latency_svdf")


def build_tiny_conv(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    inputs = _input(settings)
    x = _as_image(inputs, settings)
    x = _classic_conv(8, (10, 8), (2, 2), "same", "conv1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = _dropout(x, "dropout1", training_dropout)
    x = layers.Flatten(name="flatten")(x)
    logits = _classic_dense(settings.label_count, "logits")(x)
    return keras.Model(inputs, logits, name="tiny_conv")


def build_tiny_embedding_conv(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    inputs = _input(settings)
    x = _as_image(inputs, settings)
    x = _classic_conv(8, (10, 8), (2, 2), "same", "conv1")(x)
    x = layers.ReLU(name="relu1")(x)
    x = _dropout(x, "dropout1", training_dropout)
    x = _classic_conv(8, (10, 8), (8, 8), "same", "conv2")(x)
    x = layers.ReLU(name="relu2")(x)
    x = _dropout(x, "dropout2", training_dropout)
    x = layers.Flatten(name="flatten")(x)
    logits = _classic_dense(settings.label_count, "logits")(x)
    return keras.Model(inputs, logits, name="tiny_embedding_conv")


def build_ds_cnn(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    filters = 64
    inputs = _input(settings)
    x = _as_image(inputs, settings)
    x = layers.Conv2D(filters, (10, 4), strides=(2, 2), padding="same", use_bias=False,
                      name="conv1")(x)
    x = bn_relu(x, "conv1")
    x = _dropout(x, "conv1_dropout", training_dropout, rate=0.2)
    for i in range(1, 5):
        x = layers.DepthwiseConv2D((3, 3), padding="same", use_bias=False,
                                   name=f"block{i}_depthwise")(x)
        x = bn_relu(x, f"block{i}_depthwise")
        x = layers.Conv2D(filters, (1, 1), padding="same", use_bias=False,
                          name=f"block{i}_pointwise")(x)
        x = bn_relu(x, f"block{i}_pointwise")
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    x = _dropout(x, "dropout", training_dropout, rate=0.2)
    logits = layers.Dense(settings.label_count, name="logits")(x)
    return keras.Model(inputs, logits, name="ds_cnn")


TC_RESNET_WIDTH = 1.5


def build_tc_resnet(settings: ModelSettings, training_dropout: bool,
                    stream: bool = False) -> keras.Model:
    """TC-ResNet8 (width 1.5): 1-D convolutions over time, coefficients as channels.

    Layout (frames, 1, coefficients); stem conv (3, 1); three residual blocks, each
    conv (9, 1) stride 2 + BN + ReLU, conv (9, 1) + BN, shortcut conv (1, 1) stride 2 +
    BN + ReLU, Add, ReLU; global average pool; dense.

    stream=True (tc_resnet_stream): VALID in time and no time strides, the shortcut
    cropped by the 16 rows its block's two convolutions lose at the front, so one output
    row depends on real frames only (receptive field 51 frames, 48 pooled rows at 98).
    """
    name = "tc_resnet_stream" if stream else "tc_resnet"
    if stream:
        bc_resnet.check_frames(settings, name)
    inputs = _input(settings)
    logits = tc_resnet_logits(inputs, settings.spectrogram_length, settings.fingerprint_width,
                              settings.label_count, training_dropout, stream)
    return keras.Model(inputs, logits, name=name)


def tc_resnet_logits(x, frames: int, width: int, label_count: int, training_dropout: bool,
                     stream: bool = False, prefix: str = "", name: str = "logits"):
    """TC-ResNet8's layers (build_tc_resnet) on x (batch, frames, width): logits, the
    last layer named `name`, every other layer's name starting with `prefix`."""
    padding = "valid" if stream else "same"
    stride = (1, 1) if stream else (2, 1)
    widths = [int(round(c * TC_RESNET_WIDTH)) for c in (16, 24, 32, 48)]
    x = layers.Reshape((frames, 1, width), name=f"{prefix}reshape")(x)
    x = layers.Conv2D(widths[0], (3, 1), padding=padding, use_bias=False,
                      name=f"{prefix}stem")(x)
    for i, channels in enumerate(widths[1:], start=1):
        block = f"{prefix}block{i}"
        y = layers.Conv2D(channels, (9, 1), strides=stride, padding=padding, use_bias=False,
                          name=f"{block}_conv1")(x)
        y = bn_relu(y, f"{block}_conv1")
        y = layers.Conv2D(channels, (9, 1), padding=padding, use_bias=False,
                          name=f"{block}_conv2")(y)
        y = batch_norm(f"{block}_conv2_bn")(y)
        shortcut = crop_front(x, 16, f"{block}_shortcut_crop") if stream else x
        shortcut = layers.Conv2D(channels, (1, 1), strides=stride, padding=padding,
                                 use_bias=False, name=f"{block}_shortcut")(shortcut)
        shortcut = bn_relu(shortcut, f"{block}_shortcut")
        x = layers.Add(name=f"{block}_add")([y, shortcut])
        x = layers.ReLU(name=f"{block}_relu")(x)
    x = layers.GlobalAveragePooling2D(name=f"{prefix}global_pool")(x)
    x = _dropout(x, f"{prefix}dropout", training_dropout, rate=0.2)
    return layers.Dense(label_count, name=name)(x)


# Layers whose outputs are a two-branch model's branch logits (BRANCH_SUFFIX ends their
# names): each branch is trained on its own cross entropy (kws.train.loop), and the
# model's output is their sum. TWO_BRANCH: the architectures built so (not with --peers).
BRANCH_SUFFIX = "_branch_logits"
TWO_BRANCH = ("speech_embedding_tc_resnet",)


def build_speech_embedding_tc_resnet(settings: ModelSettings, training_dropout: bool,
                                     directory=None) -> keras.Model:
    """speech_embedding and TC-ResNet8 side by side on the embedding's 32-bin log-mel:
    the logits are the sum of the two branches' logits (softmax of the sum: the
    normalised product of the two branches' probabilities). Each branch learns from its
    own cross entropy, as two models trained apart on the same batches would, and they
    err on different clips (BENCHMARKS.md "Eleventh round")."""
    path = speech_embedding.model_dir(directory)
    inputs = keras.Input((settings.spectrogram_length, speech_embedding.BINS),
                         name="fingerprint")
    mel = speech_embedding.log_mel(inputs, settings, path)
    embedding = speech_embedding.head_logits(mel, settings, path, training_dropout,
                                             name="embedding" + BRANCH_SUFFIX)
    tc = tc_resnet_logits(mel, settings.spectrogram_length, speech_embedding.MEL_BINS,
                          settings.label_count, training_dropout, prefix="tc_",
                          name="tc_resnet" + BRANCH_SUFFIX)
    logits = layers.Add(name="logits")([embedding, tc])
    return keras.Model(inputs, logits, name="speech_embedding_tc_resnet")


def branch_model(model: keras.Model) -> keras.Model | None:
    """For a two-branch model, the same layers giving [branch logits..., logits]; None
    for a model of one branch."""
    names = [layer.name for layer in model.layers if layer.name.endswith(BRANCH_SUFFIX)]
    if not names:
        return None
    return keras.Model(model.inputs, [model.get_layer(n).output for n in names]
                       + list(model.outputs))


def build_tc_resnet_stream(settings: ModelSettings, training_dropout: bool) -> keras.Model:
    return build_tc_resnet(settings, training_dropout, stream=True)


ARCHITECTURES: dict[str, Callable[[ModelSettings, bool], keras.Model]] = {
    "single_fc": build_single_fc,
    "conv": build_conv,
    "low_latency_conv": build_low_latency_conv,
    "low_latency_svdf": build_low_latency_svdf,
    "tiny_conv": build_tiny_conv,
    "tiny_embedding_conv": build_tiny_embedding_conv,
    "ds_cnn": build_ds_cnn,
    "tc_resnet": build_tc_resnet,
    **bc_resnet.architectures(),
    "tc_resnet_stream": build_tc_resnet_stream,
    "speech_embedding": speech_embedding.build_speech_embedding,
    "speech_embedding_tc_resnet": build_speech_embedding_tc_resnet,
}


def check_architecture(architecture: str) -> None:
    """Raise ValueError naming the known architectures if `architecture` is not one."""
    if architecture not in ARCHITECTURES:
        raise ValueError(
            f"--model_architecture '{architecture}' is not one of {', '.join(ARCHITECTURES)}"
        )


def build_model(
    architecture: str, settings: ModelSettings, *, training_dropout: bool = True
) -> keras.Model:
    """Build `architecture` for `settings`: features (batch, frames, width) -> logits."""
    check_architecture(architecture)
    if settings.spectrogram_length <= 0:
        raise ValueError("the clip is shorter than one feature window: no frames to model")
    return ARCHITECTURES[architecture](settings, training_dropout)


def randomize_weights(model, seed: int) -> None:
    """Gives `model` non-trivial random weights (scaled normals, batch-norm statistics away
    from identity): parity checks and benchmarks need models whose outputs are not flat.
    Frozen layers (speech_embedding's pretrained ones) keep their weights."""
    rng = np.random.default_rng(seed)
    frozen = {id(w) for layer in model.layers if not layer.trainable for w in layer.weights}
    for w in model.weights:
        if id(w) in frozen:
            continue
        shape = tuple(w.shape)
        if "moving_variance" in w.path:
            value = rng.uniform(0.5, 2.0, shape)
        elif "moving_mean" in w.path or "beta" in w.path:
            value = rng.normal(0.0, 0.3, shape)
        elif "gamma" in w.path:
            value = rng.uniform(0.5, 1.5, shape)
        else:
            fan_in = max(1, int(np.prod(shape[:-1])))
            value = rng.normal(0.0, 1.0, shape) / np.sqrt(fan_in)
        w.assign(value.astype(np.float32))
