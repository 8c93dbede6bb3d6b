"""Export a trained Keras model: `model.kws` for the native runtime, plus a TensorFlow
SavedModel and TFLite files (float and int8) whose input is audio samples and whose
output is `labels_softmax`.

`model.kws` is a safetensors file (see docs/model_format.md): float32 weights plus a
JSON description of the layer graph under `__metadata__["kws"]`. The graph is read
generically from the Keras functional model (layer types and inbound nodes), so any
architecture built from the supported layers exports without special cases.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf
from safetensors.numpy import save
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from kws import _core
from kws.files import atomic_dir, atomic_write
from kws.labels import DEFAULT_WANTED_WORDS, parse_wanted_words, prepare_words_list
from kws.model_ops import check_op
from kws.train.checkpoint import load_checkpoint, resolve_checkpoint, restore_model
from kws.train.data import DatasetIndex
from kws.train.features import tf_features
from kws.train.settings import ModelSettings
from kws.wav_io import read_wav_at

FORMAT_VERSION = 1
# The --preprocess front ends the native runtime (and the exported TensorFlow models) run.
NATIVE_FRONT_ENDS = ("mfcc", "log_mel", "average")

# Keras layers that are the identity at inference time.
_IDENTITY_LAYERS = ("InputLayer", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
                    "GaussianNoise", "GaussianDropout")


class ExportError(ValueError):
    """The Keras model uses something model.kws cannot express."""


def _activation_name(layer: Any) -> str:
    act = getattr(layer, "activation", None)
    name = getattr(act, "__name__", "linear") if act is not None else "linear"
    return name


def _check_activation(layer: Any, allow_softmax: bool) -> str:
    name = _activation_name(layer)
    if name in ("linear", "relu"):
        return name
    if name == "softmax" and allow_softmax:
        return "linear"  # the runtime applies softmax to the final output itself
    raise ExportError(f"layer '{layer.name}': activation '{name}' is not supported "
                      "(linear or relu only)")


def _pair(v: Any) -> list[int]:
    if isinstance(v, int):
        return [v, v]
    return [int(x) for x in v]


def keras_graph_to_ops(model: Any) -> tuple[list[dict], dict[str, np.ndarray]]:
    """Walk a Keras functional model with one (batch, frames, width) input.

    Returns (ops, tensors): ops as written to the metadata (value 0 is the input
    features, op i writes value i + 1) and the float32 tensors they name.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError("model.kws export needs a model with one input and one output")
    value_of: dict[int, int] = {id(model.inputs[0]): 0}
    ops: list[dict] = []
    tensors: dict[str, np.ndarray] = {}
    output_id = id(model.outputs[0])

    # Nodes of this model, in an order where inputs come first.
    pending = []
    for layer in model.layers:
        for node in layer._inbound_nodes:
            pending.append((layer, node))
    progress = True
    while pending and progress:
        progress = False
        rest = []
        for layer, node in pending:
            ins = [id(t) for t in node.input_tensors]
            if not ins or not all(i in value_of for i in ins):
                rest.append((layer, node))
                continue
            progress = True
            out_ids = [id(t) for t in node.output_tensors]
            if len(out_ids) != 1:
                raise ExportError(f"layer '{layer.name}' has {len(out_ids)} outputs")
            alias = _emit(layer, node, [value_of[i] for i in ins], ops, tensors,
                          is_last=out_ids[0] == output_id)
            value_of[out_ids[0]] = len(ops) if alias is None else alias
        pending = rest
    if output_id not in value_of:
        raise ExportError("could not trace the model's output back to its input")
    if value_of[output_id] != len(ops):
        raise ExportError("the model's output is not its last layer")
    return ops, tensors


def _emit(layer: Any, node: Any, inputs: list[int], ops: list[dict],
          tensors: dict[str, np.ndarray], is_last: bool) -> int | None:
    """Append the op(s) of one Keras layer call; returns the input value index instead
    when the layer is the identity at inference time."""
    kind = type(layer).__name__
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kind = "DepthwiseConv2D"  # subclasses differ only in how TensorFlow computes them
    elif isinstance(layer, keras.layers.BatchNormalization):
        kind = "BatchNormalization"  # likewise (kws.train.blocks.BatchNorm)
    out_shape = [int(d) for d in node.output_tensors[0].shape[1:]]
    index = len(ops)

    def tensor(role: str, value: Any) -> str:
        name = f"{index:03d}.{layer.name}.{role}"
        tensors[name] = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        return name

    def op(op_type: str, attrs: dict | None = None, named: dict | None = None) -> None:
        entry = {"name": layer.name, "type": op_type, "inputs": inputs,
                 "attrs": attrs or {}, "tensors": named or {}, "output_shape": out_shape}
        try:
            check_op(entry)  # the op table shared with the native runtime
        except ValueError as e:
            raise ExportError(str(e)) from None
        ops.append(entry)

    if kind in _IDENTITY_LAYERS:
        return inputs[0]
    if kind == "Activation":
        name = _activation_name(layer)
        if name == "linear" or (name == "softmax" and is_last):
            return inputs[0]
        if name == "relu":
            op("relu")
            return None
        if name in ("silu", "swish"):
            op("silu")
            return None
        raise ExportError(f"layer '{layer.name}': activation '{name}' is not supported")
    if kind == "ReLU":
        if (layer.max_value is not None or float(layer.negative_slope) != 0.0
                or float(layer.threshold) != 0.0):
            raise ExportError(f"layer '{layer.name}': only a plain ReLU is supported")
        op("relu")
        return None
    if kind in ("Conv2D", "DepthwiseConv2D"):
        if layer.data_format != "channels_last":
            raise ExportError(f"layer '{layer.name}': data_format must be channels_last")
        dilation = _pair(layer.dilation_rate)
        if dilation[1] != 1 or (kind == "Conv2D" and dilation[0] != 1):
            raise ExportError(f"layer '{layer.name}': only depthwise convolutions may be "
                              "dilated, and only in time (dilation_rate (d, 1))")
        if dilation[0] != 1 and _pair(layer.strides) != [1, 1]:
            raise ExportError(f"layer '{layer.name}': a dilated convolution must have "
                              "strides (1, 1)")
        if getattr(layer, "groups", 1) != 1:
            raise ExportError(f"layer '{layer.name}': grouped convolution is not supported")
        attrs = {"kernel_size": _pair(layer.kernel_size), "strides": _pair(layer.strides),
                 "padding": layer.padding.lower(),
                 "activation": _check_activation(layer, is_last)}
        if kind == "Conv2D":
            attrs["filters"] = int(layer.filters)
            named = {"kernel": tensor("kernel", layer.kernel.numpy())}
        else:
            attrs["depth_multiplier"] = int(layer.depth_multiplier)
            named = {"kernel": tensor("kernel", layer.kernel.numpy())}
            if dilation[0] != 1:
                attrs["dilation_rate"] = dilation
        if layer.use_bias:
            named["bias"] = tensor("bias", layer.bias.numpy())
        op("conv2d" if kind == "Conv2D" else "depthwise_conv2d", attrs, named)
        return None
    if kind == "Dense":
        named = {"kernel": tensor("kernel", layer.kernel.numpy())}
        if layer.use_bias:
            named["bias"] = tensor("bias", layer.bias.numpy())
        op("dense", {"units": int(layer.units),
                     "activation": _check_activation(layer, is_last)}, named)
        return None
    if kind == "BatchNormalization":
        axis = layer.axis if isinstance(layer.axis, int) else list(layer.axis)
        rank = len(node.input_tensors[0].shape)
        if axis not in (-1, rank - 1, [rank - 1], [-1]):
            raise ExportError(f"layer '{layer.name}': batch norm must be on the last axis")
        # Inference-mode batch norm as x * scale + shift, folded in float64.
        var = layer.moving_variance.numpy().astype(np.float64)
        mean = layer.moving_mean.numpy().astype(np.float64)
        gamma = layer.gamma.numpy().astype(np.float64) if layer.scale else np.ones_like(var)
        beta = layer.beta.numpy().astype(np.float64) if layer.center else np.zeros_like(var)
        scale = gamma / np.sqrt(var + float(layer.epsilon))
        op("scale_shift", {}, {"scale": tensor("scale", scale),
                               "shift": tensor("shift", beta - mean * scale)})
        return None
    if kind in ("MaxPooling2D", "AveragePooling2D"):
        if layer.data_format != "channels_last":
            raise ExportError(f"layer '{layer.name}': data_format must be channels_last")
        op("max_pool2d" if kind == "MaxPooling2D" else "avg_pool2d",
           {"pool_size": _pair(layer.pool_size), "strides": _pair(layer.strides),
            "padding": layer.padding.lower()})
        return None
    if kind == "GlobalAveragePooling2D":
        if layer.data_format != "channels_last" or layer.keepdims:
            raise ExportError(f"layer '{layer.name}': only channels_last without keepdims")
        op("global_avg_pool2d")
        return None
    if kind == "Flatten":
        op("flatten")
        return None
    if kind == "Reshape":
        op("reshape", {"target_shape": [int(d) for d in layer.target_shape]})
        return None
    if kind == "Add":
        if len(inputs) != 2:
            raise ExportError(f"layer '{layer.name}': Add of {len(inputs)} inputs (2 only)")
        shapes = [[int(d) for d in t.shape[1:]] for t in node.input_tensors]
        if shapes[0] != shapes[1]:
            # Broadcast over the frequency axis: (T, 1, C) + (T, W, C) in either order.
            a, b = shapes
            if not (len(a) == len(b) == 3 and a[0] == b[0] and a[2] == b[2]
                    and 1 in (a[1], b[1])):
                raise ExportError(f"layer '{layer.name}': Add of shapes {a} and {b} (equal "
                                  "shapes, or (T, 1, C) with (T, W, C))")
        op("add")
        return None
    if kind == "SubSpectralNorm":
        return _emit_sub_spectral_norm(layer, node, op, tensor)
    if kind == "Cropping2D":
        (top, bottom), (left, right) = (_pair(c) for c in layer.cropping)
        if left or right or layer.data_format != "channels_last":
            raise ExportError(f"layer '{layer.name}': only time rows can be cropped")
        op("crop", {"rows": [top, bottom]})
        return None
    if kind == "ZeroPadding2D":
        (top, bottom), (left, right) = (_pair(p) for p in layer.padding)
        if top or bottom or layer.data_format != "channels_last":
            raise ExportError(f"layer '{layer.name}': only the frequency axis can be padded "
                              "(time padding would make rows depend on the window)")
        op("pad", {"columns": [left, right]})
        return None
    if kind == "LogFloor":
        op("log", {"scale": layer.scale, "shift": layer.shift, "floor": layer.floor})
        return None
    if kind == "ChannelBias":
        bias = layer.bias.numpy()
        op("scale_shift", {}, {"scale": tensor("scale", np.ones_like(bias)),
                               "shift": tensor("shift", bias)})
        return None
    if kind == "LeakyClamp":
        op("leaky_relu", {"alpha": layer.alpha, "floor": layer.floor})
        return None
    if kind == "Svdf":
        named = {"feature_filter": tensor("feature_filter", layer.feature_filter.numpy()),
                 "time_filter": tensor("time_filter", layer.time_filter.numpy()),
                 "bias": tensor("bias", layer.bias.numpy())}
        op("svdf", {"units": int(layer.units), "rank": int(layer.rank),
                    "memory_size": int(layer.memory_size), "activation": "linear"}, named)
        return None
    raise ExportError(f"layer '{layer.name}' of type {kind} is not supported by model.kws")


# Bounds of the identity strings (the native loader enforces the same).
MAX_NAME_CHARS = 64
MAX_PROVENANCE_CHARS = 1000


def check_identity(name: str | None, version: str | None, provenance: str | None) -> dict:
    """The optional identity members of the metadata, checked: name (letters, digits, '_',
    '-', '.'; a bundled model's name), version (at most 64 characters) and a short
    provenance string (at most 1000 bytes of UTF-8)."""
    out = {}
    if name is not None:
        if (not name or len(name) > MAX_NAME_CHARS or name.startswith(".")
                or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in name)):
            raise ExportError(f"--model_name '{name}': use 1 to {MAX_NAME_CHARS} letters, "
                              "digits, '_', '-' or '.' (not starting with '.')")
        out["name"] = name
    if version is not None:
        if not version or len(version.encode()) > MAX_NAME_CHARS:
            raise ExportError(f"--model_version '{version}': 1 to {MAX_NAME_CHARS} bytes")
        out["version"] = version
    if provenance is not None:
        if len(provenance.encode()) > MAX_PROVENANCE_CHARS:
            raise ExportError(f"--provenance is {len(provenance.encode())} bytes long (at "
                              f"most {MAX_PROVENANCE_CHARS})")
        out["provenance"] = provenance
    return out


def _emit_sub_spectral_norm(layer: Any, node: Any, op: Any, tensor: Any) -> None:
    """Inference-mode sub-spectral norm as x * scale + shift with a (bins, channels) scale
    and shift (each band's values repeated over its bins), folded in float64."""
    bins = int(node.input_tensors[0].shape[2])
    var = layer.moving_variance.numpy().astype(np.float64)
    mean = layer.moving_mean.numpy().astype(np.float64)
    scale = layer.gamma.numpy().astype(np.float64) / np.sqrt(var + float(layer.epsilon))
    shift = layer.beta.numpy().astype(np.float64) - mean * scale
    per_band = bins // layer.sub_bands
    op("scale_shift", {"per_column": 1},
       {"scale": tensor("scale", np.repeat(scale, per_band, axis=0)),
                           "shift": tensor("shift", np.repeat(shift, per_band, axis=0))})
    return None


def log_mel_ops(settings: ModelSettings) -> tuple[list[dict], dict[str, np.ndarray]]:
    """The ops in front of a `--preprocess log_mel` model: the runtime computes as many
    MFCC coefficients as mel channels and these turn them back into the log mel bins
    (kws.train.log_mel): reshape (T, 1, N), a fixed 1x1 convolution, reshape (T, N)."""
    from kws.train.log_mel import mfcc_to_log_mel_matrix

    frames, n = settings.spectrogram_length, settings.filterbank_channel_count
    matrix = mfcc_to_log_mel_matrix(n).astype(np.float32).reshape(1, 1, n, n)
    name = "log_mel.kernel"
    ops = [
        {"name": "log_mel_rows", "type": "reshape", "inputs": [0],
         "attrs": {"target_shape": [frames, 1, n]}, "tensors": {},
         "output_shape": [frames, 1, n]},
        {"name": "log_mel", "type": "conv2d", "inputs": [1],
         "attrs": {"kernel_size": [1, 1], "strides": [1, 1], "padding": "valid",
                   "activation": "linear", "filters": n},
         "tensors": {"kernel": name}, "output_shape": [frames, 1, n]},
        {"name": "log_mel_bins", "type": "reshape", "inputs": [2],
         "attrs": {"target_shape": [frames, n]}, "tensors": {},
         "output_shape": [frames, n]},
    ]
    return ops, {name: np.ascontiguousarray(matrix)}


def _after_log_mel(ops: list[dict], prefix: int) -> list[dict]:
    """`ops` with every input value moved past `prefix` ops placed in front."""
    return [dict(o, inputs=[v + prefix for v in o["inputs"]]) for o in ops]


def model_kws_metadata(architecture: str, labels: Sequence[str], settings: ModelSettings,
                       ops: list[dict], identity: dict | None = None) -> dict:
    """The JSON document stored under __metadata__["kws"]; `identity` holds the optional
    name, version and provenance (see `check_identity`)."""
    if settings.preprocess not in NATIVE_FRONT_ENDS:
        raise ExportError(f"the native runtime supports the {', '.join(NATIVE_FRONT_ENDS)} "
                          f"front ends only, not '{settings.preprocess}'")
    if settings.preprocess == "average":
        frontend = {"type": "average", "average_window_width": settings.average_window_width}
    else:
        frontend = {"type": "mfcc",
                    "filterbank_channel_count": settings.filterbank_channel_count,
                    "lower_frequency_limit": settings.lower_frequency_limit,
                    "upper_frequency_limit": settings.upper_frequency_limit,
                    "dct_coefficient_count": settings.feature_bin_count}
    return {
        "format_version": FORMAT_VERSION,
        "architecture": architecture,
        "labels": list(labels),
        "sample_rate": settings.sample_rate,
        "clip_duration_ms": settings.clip_duration_ms,
        "clip_samples": settings.desired_samples,
        "frontend": {**frontend, "window_size_ms": settings.window_size_ms,
                     "window_stride_ms": settings.window_stride_ms},
        "input_shape": [settings.spectrogram_length, settings.fingerprint_width],
        "ops": ops,
        **(identity or {}),
    }


def model_kws_bytes(tensors: dict[str, np.ndarray], meta: dict) -> bytes:
    """The model.kws file image: the safetensors serialization of `tensors` with the `kws`
    description and `kws_crc32c`, the CRC-32C (8 hex digits) of that description's text
    followed by the tensor data buffer, which the runtime verifies at load. The header is
    written with its keys in a fixed order, so the same model gives the same bytes."""
    text = json.dumps(meta, sort_keys=True)
    image = save(tensors, metadata={"kws": text})
    header_len = int.from_bytes(image[:8], "little")
    data = image[8 + header_len:]
    header = json.loads(image[8:8 + header_len])
    crc = _core.crc32c(data, _core.crc32c(text.encode("utf-8")))
    header["__metadata__"] = {"kws": text, "kws_crc32c": f"{crc:08x}"}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data buffer stays 8-byte aligned, as safetensors does
    return len(raw).to_bytes(8, "little") + raw + data


def write_model_kws(path: str | Path, model: Any, settings: ModelSettings, architecture: str,
                    labels: Sequence[str], *, name: str | None = None,
                    version: str | None = None, provenance: str | None = None) -> Path:
    """Write `model` as a model.kws file, with the optional name, version and provenance
    in its metadata; returns the path."""
    identity = check_identity(name, version, provenance)
    labels = list(labels)
    if len(labels) != settings.label_count:
        raise ExportError(f"{len(labels)} labels but the settings say {settings.label_count}")
    ops, tensors = keras_graph_to_ops(model)
    if settings.preprocess == "log_mel":
        prefix, prefix_tensors = log_mel_ops(settings)
        ops = prefix + _after_log_mel(ops, len(prefix))
        tensors.update(prefix_tensors)
    meta = model_kws_metadata(architecture, labels, settings, ops, identity)
    return atomic_write(path, model_kws_bytes(tensors, meta))


def audio_model(model: Any, settings: ModelSettings):
    """A tf.Module wrapping the front end and `model`, with two functions:
    `serve`: samples (batch, clip) -> {"labels_softmax": (batch, labels)} (batch via
    tf.map_fn), and `serve_clip`: one clip (1, clip) -> the same for TFLite, written without
    tf.map_fn so that AudioSpectrogram and Mfcc become TFLite's own custom kernels
    (registered in the standard op resolver) instead of TensorFlow select ops."""
    if settings.preprocess not in NATIVE_FRONT_ENDS:
        raise ExportError(f"TensorFlow export with the front end inside supports the "
                          f"{', '.join(NATIVE_FRONT_ENDS)} front ends only, not "
                          f"'{settings.preprocess}'")
    from kws.train.features import average_bins, mfcc_to_log_mel

    class AudioModel(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        @tf.function(input_signature=[tf.TensorSpec([None, settings.desired_samples],
                                                    tf.float32, name="samples")])
        def serve(self, samples):
            feats = tf_features(samples, settings)
            logits = self.model(feats, training=False)
            return {"labels_softmax": tf.nn.softmax(logits, name="labels_softmax")}

        @tf.function(input_signature=[tf.TensorSpec([1, settings.desired_samples],
                                                    tf.float32, name="samples")])
        def serve_clip(self, samples):
            spectrogram = tf.raw_ops.AudioSpectrogram(
                input=tf.transpose(samples), window_size=settings.window_size_samples,
                stride=settings.window_stride_samples, magnitude_squared=True)
            if settings.preprocess == "average":
                return self.logits_softmax(average_bins(spectrogram,
                                                        settings.average_window_width))
            feats = tf.raw_ops.Mfcc(
                spectrogram=spectrogram, sample_rate=settings.sample_rate,
                upper_frequency_limit=settings.upper_frequency_limit,
                lower_frequency_limit=settings.lower_frequency_limit,
                filterbank_channel_count=settings.filterbank_channel_count,
                dct_coefficient_count=settings.feature_bin_count)
            if settings.preprocess == "log_mel":
                feats = mfcc_to_log_mel(feats, settings)
            return self.logits_softmax(feats)

        def logits_softmax(self, feats):
            logits = self.model(feats, training=False)
            return {"labels_softmax": tf.nn.softmax(logits, name="labels_softmax")}

    return AudioModel()


def save_saved_model(path: str | Path, model: Any, settings: ModelSettings) -> Path:
    """A SavedModel with signatures `serving_default` (a batch of clips) and
    `single_clip` (one clip, TFLite-friendly), both -> `labels_softmax`."""
    module = audio_model(model, settings)
    # Saved into a temporary folder beside `path`, then swapped in: an interrupted export
    # never leaves a half-written SavedModel under the final name.
    with atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures={
            "serving_default": module.serve.get_concrete_function(),
            "single_clip": module.serve_clip.get_concrete_function()})
    return Path(path)


def tflite_bytes(model: Any, settings: ModelSettings,
                 representative: Sequence[np.ndarray] | None = None) -> bytes:
    """A TFLite flatbuffer of front end + model (audio_model's `serve_clip`): float, or
    with int8 weights and activations calibrated on `representative` clips (the front
    end's custom kernels stay float, so input samples and output scores are float in
    both). Signature `serving_default`: input `samples` (1, clip) -> output
    `labels_softmax` (1, labels)."""
    module = audio_model(model, settings)
    # Weights as constants: TFLite's calibrator cannot read resource variables. Freezing
    # drops the structured (named) outputs, so a thin function around the frozen graph
    # names its output again; the converter takes signature names from that function.
    frozen = convert_variables_to_constants_v2(module.serve_clip.get_concrete_function())

    class FrozenAudioModel(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, settings.desired_samples],
                                                    tf.float32, name="samples")])
        def serve(self, samples):
            return {"labels_softmax": frozen(samples)[0]}

    holder = FrozenAudioModel()
    conv = tf.lite.TFLiteConverter.from_concrete_functions(
        [holder.serve.get_concrete_function()], holder)
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    conv.allow_custom_ops = True  # AudioSpectrogram, Mfcc: TFLite custom kernels
    if representative is not None:
        clips = [np.asarray(c, np.float32).reshape(1, settings.desired_samples)
                 for c in representative]
        if not clips:
            raise ExportError("the representative dataset for int8 conversion is empty")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([c] for c in clips)
        # Reshapes stay float. Quantized, the reshape between the audio input and the
        # front end turns the samples themselves into 8-bit audio before the spectrogram:
        # a trained tc_resnet_stream fell from 89% (float) to 68% top-1 on real clips;
        # with float reshapes its int8 file reaches 92.5%.
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=conv, debug_dataset=lambda: ([c] for c in clips),
            debug_options=tf.lite.experimental.QuantizationDebugOptions(
                denylisted_ops=["RESHAPE"]))
        return debugger.get_nondebug_quantized_model()
    return conv.convert()


def write_tensorflow(out_dir: str | Path, model: Any, settings: ModelSettings,
                     representative: Sequence[np.ndarray] | None) -> dict[str, Path]:
    """Write `saved_model/`, `model_float.tflite` and (with representative clips)
    `model_int8.tflite` under out_dir. Returns the written paths by kind."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = save_saved_model(out_dir / "saved_model", model, settings)
    written: dict[str, Path] = {"saved_model": saved}
    tflite_float = out_dir / "model_float.tflite"
    atomic_write(tflite_float, tflite_bytes(model, settings))
    written["tflite_float"] = tflite_float
    if representative is not None:
        tflite_int8 = out_dir / "model_int8.tflite"
        atomic_write(tflite_int8, tflite_bytes(model, settings, representative))
        written["tflite_int8"] = tflite_int8
    return written


# Front-end settings that an export may state (the classic freeze flags); None means "from
# the checkpoint's model JSON, else the classic default".
FEATURE_FLAGS = ("sample_rate", "clip_duration_ms", "window_size_ms", "window_stride_ms",
                 "feature_bin_count", "preprocess")


def _read_model_json(checkpoint: Path) -> dict | None:
    folder = checkpoint if checkpoint.is_dir() else checkpoint.parent
    found = sorted(folder.glob("*_model.json"))
    if not found:
        return None
    try:
        return json.loads(found[0].read_text())
    except ValueError as e:
        raise ValueError(f"{found[0]}: not valid JSON ({e})") from None


def load_for_export(start_checkpoint: str, *, model_architecture: str | None = None,
                    wanted_words: str | None = None, **features
                    ) -> tuple[Any, ModelSettings, str, list[str], dict | None]:
    """(keras model without dropout, settings, architecture, labels, training JSON) of a
    checkpoint prefix or train_dir. With the model JSON `kws train` writes beside it, the
    given flags must agree with it; without, they describe the model (classic freeze)."""
    ckpt = Path(start_checkpoint)
    given = {k: v for k, v in features.items() if v is not None}
    unknown = set(given) - set(FEATURE_FLAGS)
    if unknown:
        raise ValueError(f"unknown front-end setting(s): {', '.join(sorted(unknown))}")
    meta = _read_model_json(ckpt)
    if meta is not None:
        model, settings, architecture, labels = load_checkpoint(ckpt)
        for name, value in given.items():
            if value != getattr(settings, name):
                raise ValueError(f"--{name} {value} disagrees with the checkpoint's setting "
                                 f"{getattr(settings, name)}")
        if model_architecture and model_architecture != architecture:
            raise ValueError(f"--model_architecture {model_architecture} disagrees with "
                             f"the checkpoint's architecture {architecture}")
        if wanted_words and prepare_words_list(parse_wanted_words(wanted_words)) != labels:
            raise ValueError(f"--wanted_words {wanted_words} disagrees with the "
                             f"checkpoint's labels {','.join(labels)}")
        return model, settings, architecture, labels, meta

    # No training JSON: everything comes from the flags, as in the classic freeze step.
    architecture = model_architecture or "conv"
    labels = prepare_words_list(parse_wanted_words(wanted_words or DEFAULT_WANTED_WORDS))
    settings = ModelSettings(label_count=len(labels), **given)
    model = restore_model(resolve_checkpoint(ckpt), architecture, settings)
    return model, settings, architecture, labels, None


def representative_clips(data_dir: str, labels: list[str], settings: ModelSettings,
                         count: int) -> list[np.ndarray]:
    """Up to `count` clips of the training partition (falling back to the other
    partitions when it is empty), padded or cropped to the clip length."""
    index = DatasetIndex(data_dir, labels[2:], sample_rate=settings.sample_rate,
                         clip_duration_ms=settings.clip_duration_ms)
    paths = [p for p, _ in index.data["training"] if p is not None][:count]
    if not paths:
        print(f"{data_dir}: no training clips; calibrating int8 on the validation and "
              "testing clips", file=sys.stderr)
        paths = [p for part in ("validation", "testing") for p, _ in index.data[part]
                 if p is not None][:count]
    clips = []
    for path in paths:
        x = read_wav_at(path, settings.sample_rate)[: settings.desired_samples]
        clips.append(np.pad(x, (0, settings.desired_samples - len(x))).astype(np.float32))
    if not clips:
        raise ValueError(f"{data_dir}: no training clips for the int8 representative dataset")
    return clips
