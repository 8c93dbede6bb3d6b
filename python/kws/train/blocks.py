"""Layer helpers the architectures share: batch normalisation with kws's settings, batch
normalisation followed by ReLU, and the front crop that aligns a residual with a path
that is VALID in time."""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

# FINDINGS.md: 0.99 made short runs collapse to one class in inference mode.
BATCH_NORM_MOMENTUM = 0.95
BATCH_NORM_EPSILON = 1e-3


@keras.saving.register_keras_serializable(package="kws")
class BatchNorm(layers.BatchNormalization):
    """Keras's batch normalisation whose training step on (batch, H, W, C) tensors, normalised
    over the channels, runs TensorFlow's fused kernel: the same batch statistics, output and
    moving averages as the parent class (to float rounding), in fewer passes over memory.
    Inference, frozen layers and other shapes use the parent class's code."""

    def call(self, inputs, training=None, mask=None):
        fused = (training is True and self.trainable and len(inputs.shape) == 4
                 and self.axis in (-1, 3, [3], [-1]) and mask is None
                 and inputs.dtype == tf.float32)
        if not fused:
            return super().call(inputs, training=training, mask=mask)
        gamma = self.gamma if self.scale else tf.ones_like(self.moving_mean)
        beta = self.beta if self.center else tf.zeros_like(self.moving_mean)
        y, mean, variance = fused_batch_norm_train(inputs, gamma, beta, self.epsilon)
        update_moving(self.moving_mean, mean, self.momentum)
        update_moving(self.moving_variance, variance, self.momentum)
        return y


def fused_batch_norm_train(x, gamma, beta, epsilon: float):
    """Training-mode batch norm of x over its last axis with TensorFlow's fused kernel:
    (output, batch mean, batch variance). The kernel reports the unbiased variance; this
    returns the biased one, the variance it normalised with, which Keras's moving average
    takes."""
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=epsilon,
                                                         is_training=True)
    n = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
    return y, mean, variance * (n - 1.0) / tf.maximum(n, 1.0)


def update_moving(moving, value, momentum: float) -> None:
    """moving <- moving * momentum + value * (1 - momentum), as Keras's batch norm."""
    moving.assign(moving * momentum + value * (1.0 - momentum))


def batch_norm(name: str) -> BatchNorm:
    return BatchNorm(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON, name=name)


def bn_relu(x, prefix: str):
    """Batch norm `<prefix>_bn`, then ReLU `<prefix>_relu`."""
    return layers.ReLU(name=f"{prefix}_relu")(batch_norm(f"{prefix}_bn")(x))


def crop_front(x, rows: int, name: str):
    """Drops the first `rows` time rows (aligns a residual with a VALID path)."""
    if rows == 0:
        return x
    return layers.Cropping2D(((rows, 0), (0, 0)), name=name)(x)
