"""BC-ResNet (broadcasted residual learning, Kim et al., Interspeech 2021), its
streaming-first (time-VALID) variants, and the receptive fields of those and of
tc_resnet_stream (built by kws.train.models.build_tc_resnet).

Layout: features (batch, frames, bins) become (batch, T, F, C): time rows, frequency
columns, channels. BC-ResNet-w (w = the paper's width multiplier tau, base = 8 w):
  - head: conv 5x5, stride 2 over frequency, 2 base channels, BN, ReLU;
  - four stages of 2, 2, 4, 4 BC-ResBlocks with base, 1.5 base, 2 base, 2.5 base
    channels; the first block of stages 2 and 3 halves the frequency axis; stage i's
    temporal convolutions are dilated by 2^(i-1) (1, 2, 4, 8);
  - classifier: a depthwise 5-frame x all-bins filter, 1x1 conv to 4 base channels, BN,
    ReLU, global average pool, dense to the labels.
A BC-ResBlock: [1x1 conv + BN + ReLU when the channel count changes] -> frequency
depthwise conv (3 bins, 1 frame) -> sub-spectral norm (5 sub-bands) = f2; the mean of f2
over frequency (T, 1, C) -> temporal depthwise conv (3 frames, dilated) -> BN -> SiLU ->
1x1 conv -> spatial dropout 0.1 = f1; out = ReLU(f1 broadcast over frequency + f2
[+ the block input when the shape is unchanged]).

The classifier's depthwise filter spans all remaining frequency bins with no frequency
padding (5 bins at a 40-bin input); it is built as a per-(bin, channel) temporal filter
followed by a sum over bins (a mean, whose 1/F the BN after the 1x1 conv absorbs), which
has the same weights and outputs as the 2-D form and only needs SAME padding in time.

Streaming-first variants (`bc_resnet_<w>_stream`, `tc_resnet_stream`) use VALID padding
in time everywhere (frequency padding is explicit, per row), so an output row depends on
real frames only: whole-clip inference equals streaming inference exactly, and a hop
computes only the rows of its new frames. Residual inputs are cropped at the front so
that every sum adds rows ending at the same newest frame. bc_resnet_<w>_stream dilates
its stages by 1, 2, 2, 4 (receptive field 69 frames, 30 pooled rows at 98 frames: the
paper's 1, 2, 4, 8 would need 117 frames); tc_resnet_stream drops TC-ResNet8's time
strides (receptive field 51 frames, 48 pooled rows).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from kws.train.blocks import (
    BATCH_NORM_EPSILON,
    BATCH_NORM_MOMENTUM,
    batch_norm,
    bn_relu,
    crop_front,
    fused_batch_norm_train,
    update_moving,
)
from kws.train.settings import ModelSettings

SUB_BANDS = 5
# The paper's widths (tau) that kws ships; 1.5 is left out.
BC_RESNET_WIDTHS = (1, 2, 3, 6, 8)
PAPER_DILATIONS = (1, 2, 4, 8)
STREAM_DILATIONS = (1, 2, 2, 4)


@keras.saving.register_keras_serializable(package="kws")
def silu(x):
    """x * sigmoid(x), written out. Keras's own silu carries a custom gradient, which a
    SavedModel of the frozen export graph cannot hold; TFLite conversion then fell back
    to a path that drops the file's `serving_default` signature."""
    return x * tf.sigmoid(x)


@keras.saving.register_keras_serializable(package="kws")
class SubSpectralNorm(layers.Layer):
    """Batch normalisation per (frequency sub-band, channel).

    Input (batch, T, F, C); the F bins split into `sub_bands` contiguous bands of F /
    sub_bands bins, and each (band, channel) pair has its own mean, variance, gamma and
    beta (shape (sub_bands, C)). In inference it is x * scale + shift with a scale and a
    shift per (bin, channel), equal across the bins of a band.
    """

    def __init__(self, sub_bands: int, momentum: float = BATCH_NORM_MOMENTUM,
                 epsilon: float = BATCH_NORM_EPSILON, **kwargs):
        super().__init__(**kwargs)
        if sub_bands <= 0:
            raise ValueError(f"SubSpectralNorm needs a positive sub_bands, got {sub_bands}")
        self.sub_bands = int(sub_bands)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(f"SubSpectralNorm expects (batch, T, F, C) input, got {input_shape}")
        bins, channels = int(input_shape[2]), int(input_shape[3])
        if bins % self.sub_bands:
            raise ValueError(f"SubSpectralNorm: {bins} frequency bins do not split into "
                             f"{self.sub_bands} equal sub-bands")
        shape = (self.sub_bands, channels)
        self.gamma = self.add_weight(name="gamma", shape=shape, initializer="ones")
        self.beta = self.add_weight(name="beta", shape=shape, initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=shape,
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=shape,
                                               initializer="ones", trainable=False)

    def call(self, inputs, training=None):
        if training:
            if inputs.dtype == tf.float32:
                return self._train_fused(inputs)
            return self._train_moments(inputs)
        return self._normalise(inputs, self.moving_mean, self.moving_variance)

    def _bands(self, inputs):
        """(batch, T, sub_bands, bins per band, C) view of the input."""
        frames, bins, channels = inputs.shape[1], int(inputs.shape[2]), int(inputs.shape[3])
        return tf.reshape(inputs, (-1, frames if frames is not None else tf.shape(inputs)[1],
                                   self.sub_bands, bins // self.sub_bands, channels))

    def _normalise(self, inputs, mean, variance):
        scale = self.gamma * tf.math.rsqrt(variance + self.epsilon)
        shift = self.beta - mean * scale
        y = self._bands(inputs) * scale[:, None, :] + shift[:, None, :]
        return tf.reshape(y, tf.shape(inputs))

    def _train_moments(self, inputs):
        """The training step from tf.nn.moments per (band, channel)."""
        mean, variance = tf.nn.moments(self._bands(inputs), axes=[0, 1, 3])
        self._update_moving(mean, variance)
        return self._normalise(inputs, mean, variance)

    def _update_moving(self, mean, variance):
        update_moving(self.moving_mean, mean, self.momentum)
        update_moving(self.moving_variance, variance, self.momentum)

    def _train_fused(self, inputs):
        """The training step as one fused batch norm whose channels are the (band, channel)
        pairs: the statistics and output of _train_moments (to float rounding), in fewer
        passes over memory."""
        shape = tf.shape(inputs)
        bins, channels = int(inputs.shape[2]), int(inputs.shape[3])
        bands, per_band = self.sub_bands, bins // self.sub_bands
        x = tf.reshape(inputs, (shape[0], shape[1], bands, per_band, channels))
        x = tf.reshape(tf.transpose(x, (0, 1, 3, 2, 4)),
                       (shape[0], shape[1], per_band, bands * channels))
        y, mean, variance = fused_batch_norm_train(
            x, tf.reshape(self.gamma, (-1,)), tf.reshape(self.beta, (-1,)), self.epsilon)
        self._update_moving(tf.reshape(mean, (bands, channels)),
                            tf.reshape(variance, (bands, channels)))
        y = tf.reshape(y, (shape[0], shape[1], per_band, bands, channels))
        return tf.reshape(tf.transpose(y, (0, 1, 3, 2, 4)), shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(sub_bands=self.sub_bands, momentum=self.momentum, epsilon=self.epsilon)
        return config


@keras.saving.register_keras_serializable(package="kws")
class ColumnStridedDepthwise(layers.DepthwiseConv2D):
    """A SAME-padded DepthwiseConv2D with strides (1, s): the same layer (weights, config,
    export), computed as the stride-1 convolution followed by every s-th column.

    TensorFlow's own CPU kernel for depthwise convolution accepts only equal row and
    column strides (without oneDNN, which it enables only on some CPUs).
    """

    def build(self, input_shape):
        if self.padding != "same" or self.strides[0] != 1 or tuple(self.dilation_rate) != (1, 1):
            raise ValueError(f"{self.name}: ColumnStridedDepthwise needs padding 'same', "
                             f"row stride 1 and no dilation, got padding '{self.padding}', "
                             f"strides {self.strides}, dilation {self.dilation_rate}")
        super().build(input_shape)

    def call(self, inputs):
        stride, k = self.strides[1], self.kernel_size[1]
        columns = int(inputs.shape[2])
        out = -(-columns // stride)
        # The strided SAME window j starts at column j * s - left; the stride-1 one at
        # i - (k - 1) // 2: window j is stride-1 column j * s + offset.
        left = max((out - 1) * stride + k - columns, 0) // 2
        offset = (k - 1) // 2 - left
        y = tf.nn.depthwise_conv2d(inputs, self.kernel, (1, 1, 1, 1), "SAME")
        y = y[:, :, offset:offset + (out - 1) * stride + 1:stride, :]
        if self.use_bias:
            y = y + self.bias
        return self.activation(y)


def sub_bands_for(bins: int) -> int:
    """The paper's 5 sub-bands when they divide `bins`, else the largest count below 5
    that does (a smaller input than 40 bins)."""
    return max(d for d in range(1, SUB_BANDS + 1) if bins % d == 0)


def _bc_res_block(x, channels: int, freq_stride: int, dilation: int, name: str,
                  training_dropout: bool, stream: bool):
    transition = int(x.shape[-1]) != channels
    shortcut = x
    y = x
    if transition:
        y = layers.Conv2D(channels, (1, 1), use_bias=False, name=f"{name}_expand")(y)
        y = bn_relu(y, f"{name}_expand")
    freq_conv = ColumnStridedDepthwise if freq_stride != 1 else layers.DepthwiseConv2D
    y = freq_conv((1, 3), strides=(1, freq_stride), padding="same", use_bias=False,
                  name=f"{name}_freq")(y)
    f2 = SubSpectralNorm(sub_bands_for(int(y.shape[2])), name=f"{name}_ssn")(y)
    z = layers.AveragePooling2D((1, int(f2.shape[2])), name=f"{name}_freq_mean")(f2)
    z = layers.DepthwiseConv2D((3, 1), dilation_rate=(dilation, 1),
                               padding="valid" if stream else "same", use_bias=False,
                               name=f"{name}_time")(z)
    z = batch_norm(f"{name}_time_bn")(z)
    z = layers.Activation(silu, name=f"{name}_time_silu")(z)
    z = layers.Conv2D(channels, (1, 1), use_bias=False, name=f"{name}_pointwise")(z)
    if training_dropout:
        z = layers.SpatialDropout2D(0.1, name=f"{name}_dropout")(z)
    lost = 2 * dilation if stream else 0
    out = layers.Add(name=f"{name}_broadcast_add")(
        [z, crop_front(f2, lost, f"{name}_f2_crop")])
    if not transition:
        out = layers.Add(name=f"{name}_add")(
            [out, crop_front(shortcut, lost, f"{name}_shortcut_crop")])
    return layers.ReLU(name=f"{name}_relu")(out)


def build_bc_resnet(settings: ModelSettings, training_dropout: bool, width: int,
                    stream: bool = False) -> keras.Model:
    if stream:
        check_frames(settings, f"bc_resnet_{width}_stream")
    base = 8 * width
    stage_channels = (base, int(base * 1.5), base * 2, int(base * 2.5))
    stage_blocks = (2, 2, 4, 4)
    dilations = STREAM_DILATIONS if stream else PAPER_DILATIONS
    frames, bins = settings.spectrogram_length, settings.fingerprint_width
    inputs = keras.Input(shape=(frames, bins), dtype="float32", name="features")
    x = layers.Reshape((frames, bins, 1), name="reshape")(inputs)
    if stream:
        # VALID in time, SAME-sized (2 + 2 bins) in frequency.
        x = layers.ZeroPadding2D(((0, 0), (2, 2)), name="head_pad")(x)
    x = layers.Conv2D(base * 2, (5, 5), strides=(1, 2), padding="valid" if stream else "same",
                      use_bias=False, name="head")(x)
    x = bn_relu(x, "head")
    for stage, (channels, blocks, dilation) in enumerate(
            zip(stage_channels, stage_blocks, dilations), start=1):
        for block in range(blocks):
            freq_stride = 2 if stage in (2, 3) and block == 0 else 1
            x = _bc_res_block(x, channels, freq_stride, dilation, f"stage{stage}_block{block + 1}",
                              training_dropout, stream)
    # Classifier: depthwise (5 frames x all bins), as per-(bin, channel) temporal filters
    # summed over bins.
    t, f, c = (int(d) if d is not None else None for d in x.shape[1:])
    x = layers.Reshape((t, 1, f * c), name="classifier_flatten_bins")(x)
    x = layers.DepthwiseConv2D((5, 1), padding="valid" if stream else "same", use_bias=False,
                               name="classifier_depthwise")(x)
    t = int(x.shape[1])
    x = layers.Reshape((t, f, c), name="classifier_bins")(x)
    x = layers.AveragePooling2D((1, f), name="classifier_bin_mean")(x)
    x = layers.Conv2D(base * 4, (1, 1), use_bias=False, name="classifier_pointwise")(x)
    x = batch_norm("classifier_pointwise_bn")(x)
    x = layers.ReLU(name="classifier_relu")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    logits = layers.Dense(settings.label_count, name="logits")(x)
    suffix = "_stream" if stream else ""
    return keras.Model(inputs, logits, name=f"bc_resnet_{width}{suffix}")


def receptive_field(architecture: str) -> int:
    """Frames one output row of a streaming-first variant depends on."""
    if architecture == "tc_resnet_stream":
        return 1 + 2 + 3 * 16
    if architecture.startswith("bc_resnet_") and architecture.endswith("_stream"):
        return 1 + 4 + sum(2 * d * n for d, n in zip(STREAM_DILATIONS, (2, 2, 4, 4))) + 4
    raise ValueError(f"'{architecture}' is not a streaming-first architecture")


def check_frames(settings: ModelSettings, architecture: str) -> None:
    needed = receptive_field(architecture)
    if settings.spectrogram_length < needed:
        raise ValueError(
            f"{architecture} needs at least {needed} feature frames per clip (its receptive "
            f"field), got {settings.spectrogram_length}: use a longer --clip_duration_ms or a "
            f"shorter --window_stride_ms")


def _bc_builder(width: int, stream: bool):
    def build(settings: ModelSettings, training_dropout: bool) -> keras.Model:
        return build_bc_resnet(settings, training_dropout, width, stream)
    return build


def architectures() -> dict:
    """Name -> builder for every architecture this module defines."""
    out = {}
    for width in BC_RESNET_WIDTHS:
        out[f"bc_resnet_{width}"] = _bc_builder(width, False)
    for width in BC_RESNET_WIDTHS:
        out[f"bc_resnet_{width}_stream"] = _bc_builder(width, True)
    return out
