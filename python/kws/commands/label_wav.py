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
    if not (g.is_file() or g.is_dir()):
        raise ValueError(f"{graph}: no such model file or SavedModel folder")
    scores = score_in_child(graph, samples)
    if len(scores) != len(labels):
        raise ValueError(f"{labels_path}: {len(labels)} labels, the model has {len(scores)} "
                         "outputs")
    return np.asarray(scores), labels


# TensorFlow's TFLite and SavedModel loaders trust their input: a truncated or bit-flipped
# file can crash the process or hang it. They run in a child process with a time limit, so
# a corrupt file is one line of error naming it.
CHILD_TIMEOUT_S = 120.0


def score_in_child(graph: str, samples: np.ndarray, timeout: float = CHILD_TIMEOUT_S
                   ) -> np.ndarray:
    """Scores of `samples` (cropped or padded to the graph's clip) under a .tflite file or
    SavedModel folder, computed in a child interpreter. A crash, a hang past `timeout`
    seconds or a loader error is a ValueError naming the graph."""
    import io
    import os
    import signal
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kws-label-wav-") as tmp:
        inp, out = os.path.join(tmp, "in.npy"), os.path.join(tmp, "out.npy")
        np.save(inp, np.asarray(samples, np.float32))
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        try:
            r = subprocess.run(
                [sys.executable, "-c", "from kws.commands.label_wav import _child_main; "
                 "_child_main()", os.fsdecode(graph), inp, out],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise ValueError(f"{graph}: TensorFlow did not finish loading and running this "
                             f"model in {timeout:.0f} s: the file is corrupt or not a model"
                             ) from None
        if r.returncode < 0:
            name = signal.Signals(-r.returncode).name
            raise ValueError(f"{graph}: TensorFlow crashed ({name}) loading or running this "
                             "model: the file is corrupt or not a model")
        if r.returncode != 0:
            lines = [x for x in r.stderr.decode(errors="replace").splitlines() if x.strip()]
            reason = lines[-1] if lines else f"exit status {r.returncode}"
            raise ValueError(f"{graph}: cannot load or run this model: {reason}")
        return np.load(io.BytesIO(open(out, "rb").read()))


def _child_main() -> None:
    """The child of score_in_child: argv is graph, input .npy, output .npy."""
    graph, inp, out = sys.argv[1:4]
    samples = np.load(inp)
    tf = _tensorflow()
    if Path(graph).is_file():
        interpreter = tf.lite.Interpreter(model_path=graph)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        clip = int(detail["shape"][-1])
        interpreter.set_tensor(detail["index"], _fit(samples, clip)[None])
        interpreter.invoke()
        scores = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
    else:
        loaded = tf.saved_model.load(graph)
        fn = loaded.signatures["serving_default"]
        clip = int(fn.structured_input_signature[1]["samples"].shape[-1])
        scores = fn(samples=tf.constant(_fit(samples, clip)[None]))["labels_softmax"].numpy()[0]
    np.save(out, np.asarray(scores, np.float32))


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
