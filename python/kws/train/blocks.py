"""Layer helpers the architectures share: batch normalisation with kws's settings, batch
normalisation followed by ReLU, and the front crop that aligns a residual with a path
that is VALID in time."""

from __future__ import annotations

from keras import layers

# FINDINGS.md: 0.99 made short runs collapse to one class in inference mode.
BATCH_NORM_MOMENTUM = 0.95
BATCH_NORM_EPSILON = 1e-3


def batch_norm(name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM, epsilon=BATCH_NORM_EPSILON,
                                     name=name)


def bn_relu(x, prefix: str):
    """Batch norm `<prefix>_bn`, then ReLU `<prefix>_relu`."""
    return layers.ReLU(name=f"{prefix}_relu")(batch_norm(f"{prefix}_bn")(x))


def crop_front(x, rows: int, name: str):
    """Drops the first `rows` time rows (aligns a residual with a VALID path)."""
    if rows == 0:
        return x
    return layers.Cropping2D(((rows, 0), (0, 0)), name=name)(x)
