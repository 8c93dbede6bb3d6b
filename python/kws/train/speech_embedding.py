"""`speech_embedding`: a frozen pretrained speech embedding under a small trained head.

The embedding is the 20-convolution network whose weights the `pyopen-wakeword` package
(PyPI, Apache-2.0) ships as `models/embedding_model.tflite`, with its front end's mel
filterbank in `models/melspectrogram.tflite`. It was trained by its authors on a large
body of real speech; kws trains only the head on top of it, so a model learns what a real
voice saying another word sounds like from far more voices than kws's data holds.

Input: the power spectrogram (`--preprocess average`, one bin per group, 25 ms periodic
Hann frames every 10 ms, FFT 512: 257 bins). The model then computes, with frozen
layers: the 32-bin mel filterbank (a dense layer without bias), log10 of the mel energies
in 16-bit units plus 2, as the embedding expects (`LogFloor`), and the embedding, fully
convolutional in time: every 76 frames give one 96-dimensional vector, one per 8 frames
(80 ms); a 1 s clip's 98 frames give 3. The trained head: batch normalisation of the
vectors, dense 128 + ReLU, dropout, dense to the labels.

The file's first convolution carries the batch normalisation that follows its ReLU,
folded into its kernel and bias, and has lost the ReLU; kws puts the ReLU back
(convolution, ReLU, then the bias), which gives the network that the ONNX conversion of
the same weights (the openwakeword package) computes. Without it the head hears the
20-minute validation stream far worse (BENCHMARKS.md).

The front end the weights were published with also floors each mel value at 80 dB under
the loudest value of its whole input. That depends on the whole input, so it cannot be
streamed. kws floors at a fixed value instead (`MEL_FLOOR`: 80 dB under where a typical
clip of the sample peaks), which any window of a stream applies exactly as a clip. On a
20-minute stream it found more words than either the published floor or none
(BENCHMARKS.md "Thirteenth round").
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from kws.train.blocks import batch_norm
from kws.train.settings import ModelSettings

PACKAGE = "pyopen_wakeword"
PACKAGE_PIN = "pyopen-wakeword==1.1.0"
MEL_FILE, EMBEDDING_FILE = "melspectrogram.tflite", "embedding_model.tflite"
WINDOW_FRAMES, EMBEDDING_WIDTH, MEL_BINS = 76, 96, 32
# The embedding's convolutions; `--train_embedding_layers N` trains the last N of them.
CONVOLUTIONS = 20
HEAD_UNITS = 128
# The spectrogram the mel filterbank was made for: 25 ms frames (400 samples at 16 kHz)
# every 10 ms, FFT 512.
SAMPLE_RATE, WINDOW_SAMPLES, STRIDE_SAMPLES, BINS = 16000, 400, 160, 257
# log10 of the power of 16-bit samples: kws's samples are in [-1, 1].
_INT16_POWER = 32768.0 ** 2
LOG_SCALE = 1.0 / np.log(10.0)  # 10 log10(x) / 10 = ln(x) / ln(10)
LOG_SHIFT = 2.0 + np.log10(_INT16_POWER)
# The log-mel's floor: 4.0 in the embedding's units (8, i.e. 80 dB, under the 11.8 at
# which the sample's median clip peaks), a fixed value, so a stream applies it as a clip
# does. See the module's docstring.
MEL_FLOOR = 4.0
LOG_FLOOR = 10.0 ** (MEL_FLOOR - LOG_SHIFT)


class EmbeddingFileError(ValueError):
    """The embedding's weight files are missing or not what this module reads."""


def model_dir(directory: str | Path | None = None) -> Path:
    """The directory holding the two .tflite files: `directory`, else the installed
    pyopen-wakeword package's `models` (found without importing the package)."""
    if directory:
        path = Path(directory)
    else:
        spec = importlib.util.find_spec(PACKAGE)
        if spec is None or not spec.submodule_search_locations:
            raise EmbeddingFileError(
                f"speech_embedding needs the pretrained weights of the {PACKAGE_PIN} package "
                f"(PyPI, Apache-2.0): pip install {PACKAGE_PIN}")
        path = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (MEL_FILE, EMBEDDING_FILE):
        if not (path / name).is_file():
            raise EmbeddingFileError(f"{path / name}: missing (speech_embedding's weights)")
    return path


def _read_tflite(path: Path) -> list[tuple[str, list, object]]:
    """The operators of a one-subgraph .tflite file in order: (builtin name, inputs,
    options), each input a float32 array (constants) or an int tensor index."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    try:
        model = flatbuffer_utils.read_model(str(path))
    except Exception as e:  # flatbuffers raises assorted errors on a damaged file
        raise EmbeddingFileError(f"{path}: not a readable .tflite file ({e})") from None
    if len(model.subgraphs) != 1:
        raise EmbeddingFileError(f"{path}: expected one subgraph, found {len(model.subgraphs)}")
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    graph = model.subgraphs[0]
    ops = []
    for op in graph.operators:
        code = model.operatorCodes[op.opcodeIndex]
        name = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "?")
        inputs = []
        for i in op.inputs:
            tensor = graph.tensors[i]
            data = model.buffers[tensor.buffer].data
            if data is None or tensor.type not in (schema.TensorType.FLOAT32,
                                                   schema.TensorType.INT32):
                inputs.append(int(i))
                continue
            dtype = np.float32 if tensor.type == schema.TensorType.FLOAT32 else np.int32
            shape = [int(d) for d in tensor.shape] if tensor.shape is not None else []
            inputs.append(np.frombuffer(bytes(data), dtype).reshape(shape))
        ops.append((name, inputs, op.builtinOptions))
    return ops


def mel_matrix(directory: Path) -> np.ndarray:
    """The (257, 32) mel filterbank of melspectrogram.tflite."""
    path = directory / MEL_FILE
    found = [a for name, inputs, _ in _read_tflite(path) if name == "BATCH_MATMUL"
             for a in inputs if isinstance(a, np.ndarray) and a.shape == (BINS, MEL_BINS)]
    if len(found) != 1:
        raise EmbeddingFileError(f"{path}: no single ({BINS}, {MEL_BINS}) mel filterbank")
    return found[0].astype(np.float32)


@keras.saving.register_keras_serializable(package="kws")
class LogFloor(layers.Layer):
    """scale * ln(max(x, floor)) + shift, element-wise (model.kws op `log`)."""

    def __init__(self, scale: float, shift: float, floor: float, **kwargs):
        super().__init__(**kwargs)
        if not floor > 0 or not np.isfinite([scale, shift, floor]).all():
            raise ValueError(f"LogFloor needs finite values and floor > 0, got {scale}, "
                             f"{shift}, {floor}")
        self.scale, self.shift, self.floor = float(scale), float(shift), float(floor)

    def call(self, x):
        return self.scale * tf.math.log(tf.maximum(x, self.floor)) + self.shift

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "shift": self.shift,
                "floor": self.floor}


@keras.saving.register_keras_serializable(package="kws")
class LeakyClamp(layers.Layer):
    """Leaky ReLU with slope `alpha` below zero, then max(y, floor) (model.kws op
    `leaky_relu`)."""

    def __init__(self, alpha: float, floor: float, **kwargs):
        super().__init__(**kwargs)
        if not (0.0 <= alpha <= 1.0 and floor <= 0.0 and np.isfinite(floor)):
            raise ValueError(f"LeakyClamp needs alpha in [0, 1] and a finite floor <= 0, "
                             f"got {alpha}, {floor}")
        self.alpha, self.floor = float(alpha), float(floor)

    def call(self, x):
        return tf.maximum(tf.where(x >= 0, x, self.alpha * x), self.floor)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "floor": self.floor}


@keras.saving.register_keras_serializable(package="kws")
class ChannelBias(layers.Layer):
    """x + bias on the last axis (model.kws op `scale_shift` with unit scale)."""

    def build(self, input_shape):
        # Trainable when the layer is (the layer's flag decides, as for a convolution's).
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros",
                                    name="bias")

    def call(self, x):
        return x + self.bias


def embedding_layers(directory: Path, *, first_relu: bool = True
                     ) -> list[tuple[layers.Layer, list | None]]:
    """The embedding network of embedding_model.tflite as frozen Keras layers, to apply in
    order to (batch, frames, 32, 1): PAD (width only), CONV_2D, LEAKY_RELU + MAXIMUM
    (one LeakyClamp), MAX_POOL_2D; each with its weights (convolutions) or None. The first
    convolution becomes convolution, ReLU and ChannelBias (see below; first_relu=False
    keeps the file's own arithmetic)."""
    path = directory / EMBEDDING_FILE
    ops = _read_tflite(path)
    from tensorflow.lite.python import schema_py_generated as schema

    out: list[tuple[layers.Layer, list | None]] = []
    i = 0
    while i < len(ops):
        name, inputs, options = ops[i]
        n = len(out)
        if name == "PAD":
            pads = inputs[1]
            if pads.shape != (4, 2) or pads[:2].any() or pads[3].any():
                raise EmbeddingFileError(f"{path}: op {i}: PAD other than width-only")
            out.append((layers.ZeroPadding2D(((0, 0), tuple(int(p) for p in pads[2])),
                                             name=f"embedding_pad{n}"), None))
        elif name == "CONV_2D":
            kernel = inputs[1]
            bias = inputs[2] if len(inputs) > 2 and isinstance(inputs[2], np.ndarray) else None
            if (options.strideH, options.strideW, options.dilationHFactor,
                    options.dilationWFactor) != (1, 1, 1, 1) or options.fusedActivationFunction:
                raise EmbeddingFileError(f"{path}: op {i}: CONV_2D with strides, dilation "
                                         "or a fused activation")
            padding = "same" if options.padding == schema.Padding.SAME else "valid"
            if padding == "same" and kernel.shape[1] != 1:
                raise EmbeddingFileError(f"{path}: op {i}: CONV_2D SAME over time")
            kernel = kernel.transpose(1, 2, 3, 0)
            first = not any(isinstance(layer, layers.Conv2D) for layer, _ in out)
            if first and bias is not None and first_relu:
                # The network as trained: ReLU, then batch norm. The file folds that batch
                # norm (all its scales are positive) into the convolution's kernel and bias
                # and has lost the ReLU; s * relu(w x) + t = relu(s w x) + t restores it.
                out.append((layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding=padding,
                                          use_bias=False, name=f"embedding_conv{n}",
                                          trainable=False), [kernel]))
                out.append((layers.ReLU(name=f"embedding_relu{n + 1}"), None))
                out.append((ChannelBias(name=f"embedding_bias{n + 2}", trainable=False), [bias]))
            else:
                out.append((layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding=padding,
                                          use_bias=bias is not None, name=f"embedding_conv{n}",
                                          trainable=False),
                            [kernel] + ([bias] if bias is not None else [])))
        elif name == "LEAKY_RELU":
            consts = ([a for a in ops[i + 1][1] if isinstance(a, np.ndarray)]
                      if i + 1 < len(ops) and ops[i + 1][0] == "MAXIMUM" else [])
            if len(consts) != 1 or consts[0].size != 1:
                raise EmbeddingFileError(f"{path}: op {i}: LEAKY_RELU not followed by a "
                                         "MAXIMUM with one constant")
            floor = float(consts[0].ravel()[0])
            i += 1
            out.append((LeakyClamp(float(options.alpha), floor, name=f"embedding_act{n}"), None))
        elif name == "MAX_POOL_2D":
            same = options.padding == schema.Padding.SAME
            if same and (options.filterHeight, options.strideH) != (1, 1):
                raise EmbeddingFileError(f"{path}: op {i}: MAX_POOL_2D SAME over time")
            out.append((layers.MaxPooling2D((options.filterHeight, options.filterWidth),
                                            (options.strideH, options.strideW),
                                            padding="same" if same else "valid",
                                            name=f"embedding_pool{n}"), None))
        else:
            raise EmbeddingFileError(f"{path}: op {i}: {name} is not one this module reads")
        i += 1
    convs = [layer for layer, _ in out if isinstance(layer, layers.Conv2D)]
    if len(convs) != CONVOLUTIONS or convs[-1].filters != EMBEDDING_WIDTH:
        raise EmbeddingFileError(f"{path}: not {CONVOLUTIONS} convolutions, the last "
                                 f"{EMBEDDING_WIDTH} wide")
    return out


def train_last_convolutions(model: keras.Model, count: int) -> None:
    """Makes the last `count` of the embedding's convolutions in `model` trainable (kernel
    and bias; from the pretrained weights), the others staying frozen. The first
    convolution's bias is its own layer (ChannelBias, after the ReLU) and trains with it."""
    convs = [layer for layer in model.layers
             if isinstance(layer, layers.Conv2D) and layer.name.startswith("embedding_conv")]
    if len(convs) != CONVOLUTIONS:
        raise ValueError(f"model '{model.name}' has {len(convs)} embedding convolutions, "
                         f"not {CONVOLUTIONS}")
    if not 0 <= count <= CONVOLUTIONS:
        raise ValueError(f"--train_embedding_layers must be in [0, {CONVOLUTIONS}], got {count}")
    for layer in convs[CONVOLUTIONS - count:]:
        layer.trainable = True
    if count == CONVOLUTIONS:
        for layer in model.layers:
            if isinstance(layer, ChannelBias) and layer.name.startswith("embedding_bias"):
                layer.trainable = True


def embedding_variables(model: keras.Model) -> list:
    """The trainable variables of the embedding's layers in `model` (those
    train_last_convolutions made trainable)."""
    return [v for layer in model.layers
            if layer.name.startswith(("embedding_conv", "embedding_bias"))
            for v in layer.trainable_weights]


def check_settings(settings: ModelSettings) -> None:
    """The input the embedding's filterbank was made for, or a ValueError saying which
    flags give it."""
    need = "--preprocess average --window_size_ms 25 --window_stride_ms 10 --feature_bin_count 257"
    if (settings.preprocess != "average" or settings.sample_rate != SAMPLE_RATE
            or settings.window_size_samples != WINDOW_SAMPLES
            or settings.window_stride_samples != STRIDE_SAMPLES
            or settings.fingerprint_width != BINS):
        raise ValueError(f"speech_embedding reads the 16 kHz power spectrogram: {need} "
                         f"(got preprocess {settings.preprocess}, "
                         f"{settings.window_size_samples}/{settings.window_stride_samples} "
                         f"samples, {settings.fingerprint_width} bins)")
    if settings.spectrogram_length < WINDOW_FRAMES:
        raise ValueError(f"speech_embedding needs at least {WINDOW_FRAMES} frames per clip "
                         f"({WINDOW_FRAMES * 10 + 15} ms), got {settings.spectrogram_length}")


def apply_layers(x, layers_and_weights: list[tuple[layers.Layer, list | None]]):
    """x through each layer in turn, each given its weights once built."""
    for layer, weights in layers_and_weights:
        x = layer(x)
        if weights is not None:
            layer.set_weights(weights)
    return x


def apply_embedding(x, directory: Path, first_relu: bool = True):
    """The frozen embedding applied to x (batch, frames, 32, 1) -> (batch, windows, 1, 96),
    its weights read from `directory`."""
    return apply_layers(x, embedding_layers(directory, first_relu=first_relu))


def embedding_model(directory: str | Path | None = None, first_relu: bool = True
                    ) -> keras.Model:
    """The embedding alone: log-mel (batch, frames, 32) -> (batch, windows, 96)."""
    inputs = keras.Input((None, MEL_BINS), name="log_mel")
    x = layers.Reshape((-1, MEL_BINS, 1), name="reshape")(inputs)
    x = apply_embedding(x, model_dir(directory), first_relu)
    x = layers.Reshape((-1, EMBEDDING_WIDTH), name="windows")(x)
    return keras.Model(inputs, x, name="embedding")


def log_mel(inputs, settings: ModelSettings, path: Path):
    """The frozen front half: power spectrogram (batch, frames, 257) -> the embedding's
    log-mel (batch, frames, 32)."""
    check_settings(settings)
    mel_layer = layers.Dense(MEL_BINS, use_bias=False, name="mel", trainable=False)
    x = mel_layer(inputs)
    mel_layer.set_weights([mel_matrix(path)])
    return LogFloor(LOG_SCALE, LOG_SHIFT, LOG_FLOOR, name="log_mel")(x)


def head_logits(mel, settings: ModelSettings, path: Path, training_dropout: bool,
                name: str = "logits"):
    """The frozen embedding of the log-mel (batch, frames, 32) under the trained head:
    logits (batch, labels), the last layer named `name`."""
    x = layers.Reshape((settings.spectrogram_length, MEL_BINS, 1), name="reshape")(mel)
    x = apply_embedding(x, path)
    x = layers.Flatten(name="flatten")(x)
    # The embedding's values reach about 60: normalised, the head learns in a few hundred
    # steps instead of thousands.
    x = batch_norm("head_bn")(x)
    x = layers.Dense(HEAD_UNITS, activation="relu", name="head")(x)
    if training_dropout:
        x = layers.Dropout(0.5, name="head_dropout")(x)
    return layers.Dense(settings.label_count, name=name)(x)


def build_speech_embedding(settings: ModelSettings, training_dropout: bool,
                           directory: str | Path | None = None) -> keras.Model:
    check_settings(settings)
    path = model_dir(directory)
    inputs = keras.Input((settings.spectrogram_length, BINS), name="fingerprint")
    logits = head_logits(log_mel(inputs, settings, path), settings, path, training_dropout)
    return keras.Model(inputs, logits, name="speech_embedding")
