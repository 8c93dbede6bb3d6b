"""`kws label-wav`: the top scores of a WAV clip under an exported model, printed as the
classic label_wav does (`left (score = 0.81477)`). The graph is a model.kws (native
runtime), or a .tflite file or SavedModel folder (through TensorFlow)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np

import kws
from kws.commands.flags import Parser


def build_parser() -> Parser:
    p = Parser(prog="kws label-wav", description=__doc__)
    p.add_argument("--graph", required=True, help="model.kws, a .tflite file or a SavedModel")
    p.add_argument("--labels", default=None,
                   help="labels file, one per line (optional for model.kws)")
    p.add_argument("--wav", required=True, help="the WAV clip to label")
    p.add_argument("--how_many_labels", type=int, default=3, help="how many results to show")
    for name, default in (("input_name", "wav_data:0"), ("output_name", "labels_softmax:0")):
        p.add_argument(f"--{name}", default=default,
                       help="accepted for the classic flags: every graph kws reads has one "
                            "input (samples) and one output (the softmax)")
    return p


def _read_labels(path: str) -> list[str]:
    try:
        labels = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    except OSError as e:
        raise ValueError(f"{path}: cannot read labels ({e.strerror})") from None
    if not labels:
        raise ValueError(f"{path}: no labels in this file")
    return labels


def _fit(samples: np.ndarray, n: int) -> np.ndarray:
    """Pad with zeros or crop to n samples (the classic decode_wav desired_samples)."""
    samples = samples[:n]
    return np.pad(samples, (0, n - len(samples))).astype(np.float32)


def _tensorflow():
    """TensorFlow (for .tflite and SavedModel graphs), imported through kws.train so that
    its start-up log lines stay off the terminal."""
    importlib.import_module("kws.train")
    import tensorflow as tf

    return tf


def scores_for(graph: str, wav: str, labels_path: str | None) -> tuple[np.ndarray, list[str]]:
    samples, rate = kws.read_wav(wav)
    g = Path(graph)
    if g.is_file() and g.suffix != ".tflite":
        model = kws.Model.load(str(g))
        if rate != model.sample_rate:
            raise ValueError(f"{wav}: sample rate {rate} Hz, the model expects "
                             f"{model.sample_rate} Hz")
        labels = _read_labels(labels_path) if labels_path else list(model.labels)
        if len(labels) != len(model.labels):
            raise ValueError(f"{labels_path}: {len(labels)} labels, the model has "
                             f"{len(model.labels)}")
        return model.predict(_fit(samples, model.clip_samples)), labels
    if labels_path is None:
        raise ValueError(f"{graph}: TFLite and SavedModel graphs need --labels")
    labels = _read_labels(labels_path)
    tf = _tensorflow()
    if g.is_file():
        interpreter = tf.lite.Interpreter(model_path=str(g))
        interpreter.allocate_tensors()
        inp = interpreter.get_input_details()[0]
        clip = int(inp["shape"][-1])
        interpreter.set_tensor(inp["index"], _fit(samples, clip)[None])
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    elif g.is_dir():
        loaded = tf.saved_model.load(str(g))
        fn = loaded.signatures["serving_default"]
        clip = int(fn.structured_input_signature[1]["samples"].shape[-1])
        scores = fn(samples=tf.constant(_fit(samples, clip)[None]))["labels_softmax"].numpy()[0]
    else:
        raise ValueError(f"{graph}: no such model file or SavedModel folder")
    if len(scores) != len(labels):
        raise ValueError(f"{labels_path}: {len(labels)} labels, the model has {len(scores)} "
                         "outputs")
    return np.asarray(scores), labels


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.how_many_labels <= 0:
        print("kws label-wav: --how_many_labels must be positive", file=sys.stderr)
        return 2
    try:
        scores, labels = scores_for(args.graph, args.wav, args.labels)
    except (ValueError, OSError) as e:
        print(f"kws label-wav: {e}", file=sys.stderr)
        return 1
    for i in np.argsort(-scores, kind="stable")[: args.how_many_labels]:
        print(f"{labels[i]} (score = {scores[i]:.5f})")
    return 0
