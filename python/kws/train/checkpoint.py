"""Checkpoints of `kws train` and the files beside them.

Files written to `train_dir` (only by the chief when training on several workers):
  <arch>.ckpt-<step>.index / .data-*   TensorFlow checkpoints (`tf.train.Checkpoint`
                                        with `model` and `optimizer`; the step is the
                                        optimizer's iteration count), the last
                                        `MAX_CHECKPOINTS_KEPT` kept; `checkpoint` is the
                                        state file naming the latest one.
  <arch>_labels.txt                     one label per line, in model output order.
  <arch>_model.json                     what is needed to rebuild the model (see
                                        `MODEL_JSON_FORMAT`): {"format": "kws-train",
                                        "version": 1, "architecture", "labels",
                                        "settings": ModelSettings fields, "flags"}.
Checkpoints are atomic: TensorFlow writes each checkpoint's files under temporary names
and renames them when complete, and only then rewrites the `checkpoint` state file (itself
written to a temporary file and renamed); the JSON and labels files are written the same
way (kws.files). A crash mid-save therefore leaves the previous latest checkpoint intact.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import tensorflow as tf

from kws.files import atomic_write
from kws.train.models import build_model
from kws.train.settings import ModelSettings

MODEL_JSON_FORMAT = "kws-train"
MODEL_JSON_VERSION = 1
MAX_CHECKPOINTS_KEPT = 5


class TrainingError(RuntimeError):
    """Training stopped: a NaN/Inf was found (--check_nans) or a checkpoint is unusable."""


def resolve_checkpoint(path: str | os.PathLike, flag: str = "") -> str:
    """A checkpoint prefix from a prefix or a train_dir (its latest checkpoint); ValueError
    naming `flag` and the path when there is none."""
    path = os.fspath(path)
    where = f"{flag} {path}" if flag else path
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"{where}: no checkpoint in this folder")
        return latest
    if not os.path.isfile(path + ".index"):
        raise ValueError(f"{where}: no such checkpoint ({path}.index not found)")
    return path


def checkpoint_variables(checkpoint: str, what: str) -> list[str]:
    """The names of the variables `checkpoint` holds; ValueError naming `what` (the flag and
    the path) when its index cannot be read."""
    try:
        return [name for name, _ in tf.train.list_variables(checkpoint)]
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"{what}: not a readable checkpoint ({first_line(e)})") from None


def first_line(error: Exception) -> str:
    """The first line of an error's message (TensorFlow's run on)."""
    lines = (getattr(error, "message", "") or str(error)).strip().splitlines()
    return lines[0] if lines else repr(error)


def latest_step(train_dir: str | os.PathLike) -> int | None:
    """The training step of train_dir's latest checkpoint (None when it has none)."""
    latest = tf.train.latest_checkpoint(os.fspath(train_dir))
    m = re.search(r"\.ckpt-(\d+)$", latest or "")
    return int(m.group(1)) if m else None


def _checkpoint_architecture(checkpoint: str) -> str | None:
    m = re.match(r"^(.*)\.ckpt-\d+$", os.path.basename(checkpoint))
    return m.group(1) if m else None


def read_model_json_for(checkpoint: str, required: bool = True) -> dict | None:
    folder = Path(checkpoint).parent
    arch = _checkpoint_architecture(checkpoint)
    candidates = [folder / f"{arch}_model.json"] if arch else []
    if not candidates or not candidates[0].is_file():
        candidates = sorted(folder.glob("*_model.json"))
    if not candidates or not candidates[0].is_file():
        if required:
            raise ValueError(
                f"{checkpoint}: no <arch>_model.json beside the checkpoint (written by "
                "`kws train`); cannot tell the architecture and settings"
            )
        return None
    path = candidates[0]
    try:
        meta = json.loads(path.read_text())
    except ValueError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if meta.get("format") != MODEL_JSON_FORMAT or meta.get("version") != MODEL_JSON_VERSION:
        raise ValueError(
            f"{path}: format {meta.get('format')!r} version {meta.get('version')!r}, expected "
            f"{MODEL_JSON_FORMAT!r} version {MODEL_JSON_VERSION}"
        )
    for key in ("architecture", "labels", "settings"):
        if key not in meta:
            raise ValueError(f"{path}: missing '{key}'")
    return meta


def write_model_files(train_dir: Path, architecture: str, settings: ModelSettings,
                      labels: list[str], flags: dict) -> None:
    """`<arch>_labels.txt` and `<arch>_model.json` in train_dir, atomically."""
    atomic_write(train_dir / f"{architecture}_labels.txt", "\n".join(labels) + "\n")
    meta = {
        "format": MODEL_JSON_FORMAT,
        "version": MODEL_JSON_VERSION,
        "architecture": architecture,
        "labels": labels,
        "settings": settings.to_dict(),
        "flags": flags,
    }
    atomic_write(train_dir / f"{architecture}_model.json", json.dumps(meta, indent=2))


def load_checkpoint(path: str | os.PathLike, *, training_dropout: bool = False):
    """Rebuild a trained model: `(keras_model, settings, architecture, labels)`.

    `path` is a checkpoint prefix (`<train_dir>/<arch>.ckpt-<step>`) or a train_dir (its
    latest checkpoint). Reads `<arch>_model.json` beside it. The model is built without
    dropout layers unless `training_dropout`.
    """
    path = resolve_checkpoint(path)
    meta = read_model_json_for(path)
    settings = ModelSettings.from_dict(meta["settings"])
    architecture = meta["architecture"]
    model = restore_model(path, architecture, settings, training_dropout=training_dropout)
    return model, settings, architecture, list(meta["labels"])


def restore_model(prefix: str, architecture: str, settings: ModelSettings, *,
                  training_dropout: bool = False):
    """The `architecture` model with the weights of checkpoint `prefix`, built without
    dropout layers unless `training_dropout`; ValueError when they do not match."""
    trained = build_model(architecture, settings, training_dropout=True)
    status = tf.train.Checkpoint(model=trained).restore(prefix)
    try:
        status.expect_partial()
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{prefix}: does not match a '{architecture}' model with these "
                         f"settings: {e}") from None
    if training_dropout:
        return trained
    model = build_model(architecture, settings, training_dropout=False)
    trained_layers = {layer.name: layer for layer in trained.layers}
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(trained_layers[layer.name].get_weights())
    return model
