"""`kws train`: the classic speech-commands training loop, resumable and observable.

Flow: flags (classic names and defaults, optionally a `--recipe` preset) -> validated
`TrainConfig` -> dataset index + tf.data pipeline -> model from `kws.models` -> custom
training loop (a `tf.function` step under a `tf.distribute` strategy) -> logs, TensorBoard
summaries, checkpoints, validation and test evaluation.

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
way. A crash mid-save therefore leaves the previous latest checkpoint intact.

`load_checkpoint(path)` rebuilds the Keras model from a checkpoint for export.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from kws.flags import Parser, str2bool
from kws.settings import DEFAULT_WANTED_WORDS, PREPROCESS_MODES, ModelSettings

LOG = logging.getLogger("kws.train")

MODEL_JSON_FORMAT = "kws-train"
MODEL_JSON_VERSION = 1
MAX_CHECKPOINTS_KEPT = 5
OPTIMIZERS = ("gradient_descent", "momentum", "adam")
LR_SCHEDULES = ("piecewise", "cosine")
CLASSIC_DATA_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
)


class TrainingError(RuntimeError):
    """Training stopped: a NaN/Inf was found (--check_nans) or a checkpoint is unusable."""


@dataclass
class TrainConfig:
    """Every `kws train` flag. Defaults are the classic tool's."""

    data_url: str = CLASSIC_DATA_URL
    data_dir: str = "/tmp/speech_dataset/"
    background_volume: float = 0.1
    background_frequency: float = 0.8
    silence_percentage: float = 10.0
    unknown_percentage: float = 10.0
    time_shift_ms: float = 100.0
    testing_percentage: float = 10.0
    validation_percentage: float = 10.0
    sample_rate: int = 16000
    clip_duration_ms: float = 1000.0
    window_size_ms: float = 30.0
    window_stride_ms: float = 10.0
    feature_bin_count: int = 40
    how_many_training_steps: str = "15000,3000"
    eval_step_interval: int = 400
    learning_rate: str = "0.001,0.0001"
    batch_size: int = 100
    summaries_dir: str = "/tmp/retrain_logs"
    wanted_words: str = DEFAULT_WANTED_WORDS
    train_dir: str = "/tmp/speech_commands_train"
    save_step_interval: int = 100
    start_checkpoint: str = ""
    model_architecture: str = "conv"
    check_nans: bool = False
    preprocess: str = "mfcc"
    verbosity: str = "INFO"
    optimizer: str = "gradient_descent"
    # kws additions
    recipe: str = ""
    resume: bool = False
    lr_schedule: str = "piecewise"
    distribute: bool = False
    seed: int = 0
    progress: bool = True
    augment: str = "none"  # kws.augment preset for training audio/features
    label_smoothing: float = 0.0
    init_checkpoint: str = ""  # fine-tune: model weights from here, fresh optimizer/step
    folder_balance: float = 0.0  # oversample small --data_dir folders (kws.data.DatasetIndex)
    peers: int = 1  # models trained together, each distilled from the others (1: off)
    peer_weight: float = 1.0  # weight of the distillation term of each peer's loss
    mixup: float = 0.0  # Beta(a, a) mixing of each batch with itself reversed (0: off)

    # derived, filled by validate()
    steps_list: list[int] = field(default_factory=list, repr=False)
    rates_list: list[float] = field(default_factory=list, repr=False)

    @property
    def total_steps(self) -> int:
        return sum(self.steps_list)

    def model_settings(self, label_count: int) -> ModelSettings:
        return ModelSettings(
            label_count=label_count,
            sample_rate=self.sample_rate,
            clip_duration_ms=self.clip_duration_ms,
            window_size_ms=self.window_size_ms,
            window_stride_ms=self.window_stride_ms,
            feature_bin_count=self.feature_bin_count,
            preprocess=self.preprocess,
        )

    def flags(self) -> dict:
        d = asdict(self)
        d.pop("steps_list")
        d.pop("rates_list")
        return d


# Named flag presets. Explicit flags override them.
RECIPES: dict[str, dict] = {
    # The classic long run (the defaults): conv on 98 x 40 MFCC, 18,000 SGD steps.
    "classic": {},
    # The classic tutorial's low-compute alternative.
    "classic_tiny_conv": {
        "model_architecture": "tiny_conv",
        "window_stride_ms": 20.0,
        "feature_bin_count": 40,
        "how_many_training_steps": "15000,3000",
        "learning_rate": "0.001,0.0001",
    },
    # A useful model in a few minutes on 2 cores from synthetic speech alone (what `kws
    # demo` uses; `kws make-dataset`'s default voices, half espeak-ng and half flite, are
    # what lift it on real voices): TC-ResNet8 on 98 x 40 MFCC, Adam with a
    # cosine-decaying rate, 1,200 steps with realistic-audio augmentation (kws.augment
    # ism_spec: room_spec whose reverberation comes from image-source rooms, +1.5
    # validation and +0.9 test over room_spec on 8 seeds; 1,200 steps over 600: +0.5 on
    # validation and +4.0 on the sample's [16, 20) speakers, a second held-out set, over
    # 8 seeds, at about 1.3x the CPU time). tc_resnet over ds_cnn: its
    # training step is about 7x faster on a CPU (TensorFlow's depthwise-convolution
    # gradients are slow there). Measured on real voices in BENCHMARKS.md "Accuracy on
    # real voices" (3 seeds); wider voice augmentation (voice_spec) and label smoothing with
    # more unknown words were tried there and did not beat it.
    "quick": {
        "model_architecture": "tc_resnet",
        "window_size_ms": 30.0,
        "window_stride_ms": 10.0,
        "feature_bin_count": 40,
        "optimizer": "adam",
        "learning_rate": "0.002",
        "how_many_training_steps": "1200",
        "lr_schedule": "cosine",
        "batch_size": 100,
        "augment": "ism_spec",
        "eval_step_interval": 300,
        "save_step_interval": 300,
    },
    # Synthetic speech plus the user's real clips, one command (--data_dir SYNTH,REAL):
    # the quick model with room_spec augmentation (ism_spec measured the same here: the
    # real clips dominate) trained from scratch with the smaller (real)
    # folder oversampled by --folder_balance 2.5 (the sample's 630 wanted-word training
    # clips are used 16 times beside the 3,980 synthetic ones), as 3 peers that also learn
    # each other's mean prediction (--peers 3: +0.9 on real test over one model at 6,000
    # steps, for about 1.3x the CPU time, since the augmented input pipeline dominates a
    # step), for 9,000 steps (+1.1 validation, +0.4 test over 6,000; about 30 minutes on
    # 2 cores). The first peer is the model exported. Fine-tuning a `quick` model instead
    # (--init_checkpoint QUICK_TRAIN_DIR --how_many_training_steps 1500) measured about
    # the same as 3,000 steps of one model. See BENCHMARKS.md "Accuracy on real voices".
    "best": {
        "model_architecture": "tc_resnet",
        "window_size_ms": 30.0,
        "window_stride_ms": 10.0,
        "feature_bin_count": 40,
        "optimizer": "adam",
        "learning_rate": "0.002",
        "how_many_training_steps": "9000",
        "lr_schedule": "cosine",
        "batch_size": 100,
        "augment": "room_spec",
        "folder_balance": 2.5,
        "peers": 3,
        "eval_step_interval": 500,
        "save_step_interval": 500,
    },
}

_FLAG_HELP = {
    "data_url": "where to download the dataset when --data_dir does not exist ('' never)",
    "data_dir": "dataset folder(s), comma-separated; merged by label",
    "background_volume": "how loud background noise is (0..1)",
    "background_frequency": "fraction of training clips mixed with background noise",
    "silence_percentage": "silence entries, percent of the wanted-word clips",
    "unknown_percentage": "unknown-word entries, percent of the wanted-word clips",
    "time_shift_ms": "random time shift range of training clips",
    "testing_percentage": "percent of clips (by hashed speaker) in the testing partition",
    "validation_percentage": "percent of clips in the validation partition",
    "sample_rate": "expected sample rate of the clips",
    "clip_duration_ms": "clip length",
    "window_size_ms": "feature window length",
    "window_stride_ms": "feature window stride",
    "feature_bin_count": "MFCC coefficients (or average bins) per frame",
    "how_many_training_steps": "comma list: steps of each learning-rate phase",
    "eval_step_interval": "evaluate on the validation partition every N steps",
    "learning_rate": "comma list: learning rate of each phase",
    "batch_size": "clips per training step",
    "summaries_dir": "TensorBoard summaries go here",
    "wanted_words": "comma list of words to recognise",
    "train_dir": "checkpoints, labels and model JSON go here",
    "save_step_interval": "write a checkpoint every N steps",
    "start_checkpoint": "resume from this checkpoint (prefix <arch>.ckpt-<step>)",
    "model_architecture": "architecture (see kws.models.ARCHITECTURES)",
    "check_nans": "stop at the first NaN/Inf, naming the layer or tensor",
    "preprocess": "front end: mfcc, log_mel (the mel bins the MFCC is computed from; "
                  "--feature_bin_count = the mel channels), average or micro",
    "verbosity": "log level: DEBUG, INFO, WARN, ERROR or FATAL",
    "optimizer": "gradient_descent, momentum (0.9, Nesterov) or adam",
    "recipe": f"named preset of flags ({', '.join(RECIPES)}); explicit flags override",
    "resume": "resume from the latest checkpoint in --train_dir if there is one",
    "lr_schedule": "piecewise (classic: constant per phase) or cosine (each phase decays "
                   "from its rate to 0)",
    "distribute": "multi-worker training (tf.distribute.MultiWorkerMirroredStrategy, "
                  "cluster from TF_CONFIG); implied when TF_CONFIG is set",
    "seed": "seed of weights and data order (0: random)",
    "progress": "show a progress bar",
    "init_checkpoint": "fine-tune: start from this checkpoint's model weights (a train_dir "
                       "or <arch>.ckpt-<step> prefix) with a fresh optimizer at step 0; "
                       "ignored when resuming",
    "label_smoothing": "cross-entropy target smoothing: the true label gets 1 - e, the "
                       "others share e (0: off)",
    "folder_balance": "oversample smaller --data_dir folders: each is used round(F x the "
                      "largest folder's wanted-word training clips / its own) times, the "
                      "largest once; validation/testing clips once (0: off, a folder listed "
                      "k times is used k times)",
    "augment": "realistic-audio augmentation preset (kws.augment.PRESETS: none, room, spec, "
               "room_spec, voice_spec, room_vtlp_spec, ism_spec)",
    "peers": "mutual distillation: train N models of the architecture together on the same "
             "batches, each also learning the mean prediction of the others; the first is "
             "the one saved for export (1: off)",
    "peer_weight": "weight of each peer's distillation term (KL divergence from the mean "
                   "softmax of the other peers) beside its cross entropy",
    "mixup": "mixup on the features: each training example is mixed with the batch's "
             "example at the mirrored position, weight max(l, 1 - l) for l ~ Beta(a, a), and "
             "learns the same mix of the two labels' cross entropies (0: off)",
}

_BOOL_FLAGS = {"check_nans", "resume", "distribute", "progress"}


def build_parser(prog: str = "kws train") -> argparse.ArgumentParser:
    """The flag parser; every default is SUPPRESS so explicit flags can override recipes."""
    p = Parser(prog=prog, description="Train a keyword-spotting model (classic flags).",
               argument_default=argparse.SUPPRESS)
    for f in fields(TrainConfig):
        if f.name in ("steps_list", "rates_list"):
            continue
        default = f.default
        help_text = f"{_FLAG_HELP.get(f.name, '')} (default: {default!r})"
        if f.name in _BOOL_FLAGS:
            p.add_argument(f"--{f.name}", type=str2bool, nargs="?", const=True, help=help_text)
        else:
            kind = {"int": int, "float": float}.get(str(f.type), str)
            p.add_argument(f"--{f.name}", type=kind, help=help_text)
    return p


def parse_config(argv: list[str]) -> TrainConfig:
    """Flags -> validated config: classic defaults, then the recipe, then explicit flags."""
    explicit = vars(build_parser().parse_args(argv))
    return make_config(**explicit)


def make_config(**flags) -> TrainConfig:
    """Config from keyword flags (recipe applied under them), validated."""
    recipe = flags.get("recipe", "") or ""
    if recipe and recipe not in RECIPES:
        raise ValueError(f"--recipe '{recipe}' is not one of {', '.join(RECIPES)}")
    unknown = set(flags) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown training flag(s): {', '.join(sorted(unknown))}")
    values = {**RECIPES.get(recipe, {}), **flags}
    config = TrainConfig(**values)
    validate(config)
    return config


def _parse_list(text: str, kind, flag: str) -> list:
    items = [t.strip() for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError(f"--{flag} is empty")
    try:
        return [kind(t) for t in items]
    except ValueError:
        raise ValueError(f"--{flag} '{text}' is not a comma list of numbers") from None


def validate(config: TrainConfig) -> None:
    """Check every flag before any work; raise ValueError with a clear message."""
    from kws.models import ARCHITECTURES

    config.steps_list = _parse_list(config.how_many_training_steps, int,
                                    "how_many_training_steps")
    config.rates_list = _parse_list(config.learning_rate, float, "learning_rate")
    if len(config.steps_list) != len(config.rates_list):
        raise ValueError(
            "--how_many_training_steps and --learning_rate must be equal-length lists, got "
            f"{len(config.steps_list)} steps ({config.how_many_training_steps}) and "
            f"{len(config.rates_list)} rates ({config.learning_rate})"
        )
    if any(s <= 0 for s in config.steps_list):
        raise ValueError(f"--how_many_training_steps must be positive: "
                         f"{config.how_many_training_steps}")
    if any(not (r > 0 and math.isfinite(r)) for r in config.rates_list):
        raise ValueError(f"--learning_rate must be positive: {config.learning_rate}")
    if config.model_architecture not in ARCHITECTURES:
        raise ValueError(
            f"--model_architecture '{config.model_architecture}' is not one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer '{config.optimizer}' is not one of {', '.join(OPTIMIZERS)}")
    if config.lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"--lr_schedule '{config.lr_schedule}' is not one of {', '.join(LR_SCHEDULES)}")
    from kws.augment import PRESETS as AUGMENT_PRESETS

    if config.augment not in AUGMENT_PRESETS:
        raise ValueError(
            f"--augment '{config.augment}' is not one of {', '.join(AUGMENT_PRESETS)}")
    if config.preprocess not in PREPROCESS_MODES:
        raise ValueError(
            f"--preprocess '{config.preprocess}' is not one of {', '.join(PREPROCESS_MODES)}")
    if config.preprocess == "micro":
        raise ValueError("--preprocess micro is not implemented by kws's TensorFlow front end "
                         "(kws.features): use mfcc, log_mel or average")
    if config.verbosity.upper() not in ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL"):
        raise ValueError(f"--verbosity '{config.verbosity}' is not one of DEBUG, INFO, WARN, "
                         "ERROR, FATAL")
    for name in ("batch_size", "eval_step_interval", "save_step_interval"):
        if getattr(config, name) <= 0:
            raise ValueError(f"--{name} must be positive, got {getattr(config, name)}")
    for name in ("silence_percentage", "unknown_percentage", "testing_percentage",
                 "validation_percentage"):
        if not 0 <= getattr(config, name) <= 100:
            raise ValueError(f"--{name} must be between 0 and 100, got {getattr(config, name)}")
    if not 0 <= config.background_frequency <= 1:
        raise ValueError(
            f"--background_frequency must be in [0, 1], got {config.background_frequency}")
    if not (config.folder_balance >= 0 and math.isfinite(config.folder_balance)):
        raise ValueError(f"--folder_balance must be >= 0, got {config.folder_balance}")
    if config.peers < 1:
        raise ValueError(f"--peers must be >= 1, got {config.peers}")
    if not (config.peer_weight >= 0 and math.isfinite(config.peer_weight)):
        raise ValueError(f"--peer_weight must be >= 0, got {config.peer_weight}")
    if not (config.mixup >= 0 and math.isfinite(config.mixup)):
        raise ValueError(f"--mixup must be >= 0, got {config.mixup}")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError(f"--label_smoothing must be in [0, 1), got {config.label_smoothing}")
    if config.background_volume < 0 or config.time_shift_ms < 0:
        raise ValueError("--background_volume and --time_shift_ms must be >= 0")
    config.model_settings(12)  # validates the front-end flags
    dirs = [d.strip() for d in config.data_dir.split(",") if d.strip()]
    if not dirs:
        raise ValueError("--data_dir is empty: give at least one dataset folder")
    missing = [d for d in dirs if not Path(d).is_dir()]
    if missing and not (len(dirs) == 1 and config.data_url):
        raise ValueError(f"--data_dir folder {', '.join(missing)} does not exist")
    if config.start_checkpoint:
        if not Path(config.start_checkpoint + ".index").is_file():
            raise ValueError(
                f"--start_checkpoint {config.start_checkpoint}: no such checkpoint "
                f"({config.start_checkpoint}.index not found)"
            )
        meta = _read_model_json_for(config.start_checkpoint, required=False)
        if meta and meta["architecture"] != config.model_architecture:
            raise ValueError(
                f"--start_checkpoint {config.start_checkpoint} holds a "
                f"'{meta['architecture']}' model, not --model_architecture "
                f"'{config.model_architecture}'"
            )
    if config.init_checkpoint:
        init = _resolve_checkpoint(config.init_checkpoint, "--init_checkpoint")
        meta = _read_model_json_for(init)
        if meta["architecture"] != config.model_architecture:
            raise ValueError(
                f"--init_checkpoint {config.init_checkpoint} holds a '{meta['architecture']}' "
                f"model, not --model_architecture '{config.model_architecture}'")
        settings = config.model_settings(len(meta["labels"]))
        if ModelSettings.from_dict(meta["settings"]) != settings:
            raise ValueError(
                f"--init_checkpoint {config.init_checkpoint}: its front end/settings "
                f"{meta['settings']} differ from this run's {settings.to_dict()}")
    if os.environ.get("TF_CONFIG"):
        try:
            tf_config = json.loads(os.environ["TF_CONFIG"])
            tf_config["cluster"], tf_config["task"]["type"]  # noqa: B018
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"TF_CONFIG is not a valid cluster description: {e}") from None


# ----------------------------------------------------------------------- learning rate


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Rate used for training step `step` (1-based), from the phases and the schedule."""
    start = 0
    for steps, rate in zip(config.steps_list, config.rates_list):
        if step <= start + steps:
            if config.lr_schedule == "cosine":
                progress = (step - 1 - start) / steps
                return rate * 0.5 * (1.0 + math.cos(math.pi * progress))
            return rate
        start += steps
    return config.rates_list[-1]


# ----------------------------------------------------------------------- files


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _resolve_checkpoint(path: str, flag: str) -> str:
    """A checkpoint prefix from a prefix or a train_dir (its latest checkpoint)."""
    if os.path.isdir(path):
        import tensorflow as tf

        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"{flag} {path}: no checkpoint in this folder")
        return latest
    if not os.path.isfile(path + ".index"):
        raise ValueError(f"{flag} {path}: no such checkpoint ({path}.index not found)")
    return path


def _checkpoint_architecture(checkpoint: str) -> str | None:
    m = re.match(r"^(.*)\.ckpt-\d+$", os.path.basename(checkpoint))
    return m.group(1) if m else None


def _read_model_json_for(checkpoint: str, required: bool = True) -> dict | None:
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
                      labels: list[str], config: TrainConfig) -> None:
    """`<arch>_labels.txt` and `<arch>_model.json` in train_dir, atomically."""
    _atomic_write_text(train_dir / f"{architecture}_labels.txt", "\n".join(labels) + "\n")
    meta = {
        "format": MODEL_JSON_FORMAT,
        "version": MODEL_JSON_VERSION,
        "architecture": architecture,
        "labels": labels,
        "settings": settings.to_dict(),
        "flags": config.flags(),
    }
    _atomic_write_text(train_dir / f"{architecture}_model.json", json.dumps(meta, indent=2))


def load_checkpoint(path: str | os.PathLike, *, training_dropout: bool = False):
    """Rebuild a trained model: `(keras_model, settings, architecture, labels)`.

    `path` is a checkpoint prefix (`<train_dir>/<arch>.ckpt-<step>`) or a train_dir (its
    latest checkpoint). Reads `<arch>_model.json` beside it. The model is built without
    dropout layers unless `training_dropout`.
    """
    import tensorflow as tf

    from kws.models import build_model

    path = os.fspath(path)
    if os.path.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise ValueError(f"{path}: no checkpoint in this folder")
        path = latest
    if not os.path.isfile(path + ".index"):
        raise ValueError(f"{path}: no such checkpoint ({path}.index not found)")
    meta = _read_model_json_for(path)
    settings = ModelSettings.from_dict(meta["settings"])
    architecture = meta["architecture"]
    labels = list(meta["labels"])
    trained = build_model(architecture, settings, training_dropout=True)
    status = tf.train.Checkpoint(model=trained).restore(path)
    try:
        status.expect_partial()
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{path}: does not match a '{architecture}' model: {e}") from None
    if training_dropout:
        return trained, settings, architecture, labels
    model = build_model(architecture, settings, training_dropout=False)
    trained_layers = {layer.name: layer for layer in trained.layers}
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(trained_layers[layer.name].get_weights())
    return model, settings, architecture, labels


# ----------------------------------------------------------------------- evaluation


def evaluate_model(model, settings: ModelSettings, index, partition: str,
                   batch_size: int = 100) -> tuple[float | None, int, np.ndarray | None]:
    """(accuracy, count, confusion matrix) of `model` (features -> logits) on a partition
    of a `kws.data.DatasetIndex`; (None, 0, None) when the partition is empty."""
    from kws.pipeline import DEFAULT_EVAL_SEED, make_dataset

    if index.set_size(partition) == 0:
        return None, 0, None
    labels = index.labels
    matrix = np.zeros((len(labels), len(labels)), dtype=np.int64)
    # One plain, deterministic pass whatever the partition: the training partition's
    # defaults (augmented, shuffled, repeated forever, fresh seed) would never end.
    for feats, truth in make_dataset(index, partition, settings, batch_size, augment=False,
                                     shuffle=False, repeat=False, drop_remainder=False,
                                     seed=DEFAULT_EVAL_SEED):
        logits = model(feats)
        pred = np.argmax(np.asarray(logits), axis=1)
        np.add.at(matrix, (truth.numpy(), pred), 1)
    n = int(matrix.sum())
    return float(np.trace(matrix)) / max(n, 1), n, matrix


def evaluate_checkpoint(checkpoint: str | os.PathLike, data_dir: str, partition: str = "testing",
                        *, validation_percentage: float = 10.0,
                        testing_percentage: float = 10.0, silence_percentage: float = 10.0,
                        unknown_percentage: float = 10.0, batch_size: int = 100) -> dict:
    """Accuracy of a trained checkpoint on a partition of (possibly other) dataset folders.

    The wanted words come from the checkpoint's labels. Returns {"accuracy", "count",
    "confusion_matrix" (rows truth), "labels"}.
    """
    from kws.data import DatasetIndex

    model, settings, _, labels = load_checkpoint(checkpoint)
    index = DatasetIndex(data_dir, labels[2:], silence_percentage=silence_percentage,
                         unknown_percentage=unknown_percentage,
                         validation_percentage=validation_percentage,
                         testing_percentage=testing_percentage,
                         sample_rate=settings.sample_rate,
                         clip_duration_ms=settings.clip_duration_ms)
    accuracy, count, matrix = evaluate_model(lambda x: model(x, training=False), settings,
                                             index, partition, batch_size)
    return {"accuracy": accuracy, "count": count, "confusion_matrix": matrix,
            "labels": labels}


# ----------------------------------------------------------------------- reporting


def format_confusion_matrix(matrix: np.ndarray, labels: list[str]) -> str:
    """Rows truth, columns prediction, with a header of label indices."""
    width = max(5, len(str(int(matrix.max()) if matrix.size else 0)) + 1)
    head = " " * 12 + "".join(f"{i:>{width}}" for i in range(len(labels)))
    rows = [head]
    for i, label in enumerate(labels):
        rows.append(f"{i:>2} {label[:9]:<9}" + "".join(f"{v:>{width}}" for v in matrix[i]))
    return "\n".join(rows)


def confusion_matrix_png(matrix: np.ndarray, labels: list[str], title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6), dpi=80)
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=90)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    ax.set_title(title)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------- data


def maybe_download(config: TrainConfig) -> None:
    """Fetch and unpack --data_url (kws.download) when the one --data_dir is missing.

    Unlike the classic tool, an existing --data_dir is used as it is (no download)."""
    dirs = [d.strip() for d in config.data_dir.split(",") if d.strip()]
    if len(dirs) != 1 or Path(dirs[0]).is_dir() or not config.data_url:
        return
    from kws.download import maybe_download_and_extract

    LOG.info("%s does not exist: downloading %s", dirs[0], config.data_url)
    try:
        maybe_download_and_extract(config.data_url, dirs[0], progress=config.progress)
    except (OSError, ValueError, RuntimeError) as e:  # DownloadError is a RuntimeError
        raise ValueError(
            f"--data_dir {dirs[0]} does not exist and downloading --data_url "
            f"{config.data_url} failed: {e}"
        ) from None


def _make_index(config: TrainConfig):
    from kws.data import DatasetIndex

    return DatasetIndex(
        config.data_dir,
        config.wanted_words,
        silence_percentage=config.silence_percentage,
        unknown_percentage=config.unknown_percentage,
        validation_percentage=config.validation_percentage,
        testing_percentage=config.testing_percentage,
        sample_rate=config.sample_rate,
        clip_duration_ms=config.clip_duration_ms,
        folder_balance=config.folder_balance,
    )


# ----------------------------------------------------------------------- the loop


def _make_optimizer(config: TrainConfig):
    import keras

    rate = config.rates_list[0]
    if config.optimizer == "gradient_descent":
        return keras.optimizers.SGD(rate)
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True)
    return keras.optimizers.Adam(rate)


def _make_strategy(config: TrainConfig):
    import tensorflow as tf

    if config.distribute or os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()  # one GPU if TensorFlow sees one, else the CPU


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and (
        "chief" not in resolver.cluster_spec().as_dict()
    )


class _TqdmHandler(logging.Handler):
    def emit(self, record):
        try:
            from tqdm import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001
            self.handleError(record)


def _setup_logging(verbosity: str) -> None:
    level = {"WARN": "WARNING", "FATAL": "CRITICAL"}.get(verbosity.upper(), verbosity.upper())
    LOG.setLevel(level)
    if not any(isinstance(h, _TqdmHandler) for h in LOG.handlers):
        handler = _TqdmHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        LOG.addHandler(handler)
        LOG.propagate = False


@dataclass
class TrainResult:
    final_step: int
    test_accuracy: float | None
    test_count: int
    validation_accuracy: float | None
    labels: list[str]
    checkpoint: str | None


def train(config: TrainConfig) -> TrainResult:
    """Run training as configured (already validated); returns the final figures."""
    _setup_logging(config.verbosity)
    maybe_download(config)
    index = _make_index(config)
    labels = list(index.labels)
    settings = config.model_settings(len(labels))
    LOG.info("dataset: %s", index.summary() if hasattr(index, "summary") else labels)

    import tensorflow as tf

    from kws.models import build_model
    from kws.pipeline import make_dataset

    if config.seed:
        tf.keras.utils.set_random_seed(config.seed)
    strategy = _make_strategy(config)
    chief = _is_chief(strategy)
    workers = strategy.num_replicas_in_sync
    architecture = config.model_architecture
    train_dir = Path(config.train_dir)

    with strategy.scope():
        model = build_model(architecture, settings, training_dropout=True)
        # --peers: the other models of mutual distillation (trained, checkpointed for
        # --resume, never exported).
        peer_models = [build_model(architecture, settings, training_dropout=True)
                       for _ in range(config.peers - 1)]
        optimizer = _make_optimizer(config)
        optimizer.build(_trainable(model, peer_models))
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer,
                                     **({"peers": peer_models} if peer_models else {}))

    # Non-chief workers must also save (collective reads), into a private scratch folder.
    save_dir = train_dir if chief else Path(tempfile.mkdtemp(prefix="kws-worker-ckpt-"))
    manager = tf.train.CheckpointManager(
        checkpoint, str(save_dir), max_to_keep=MAX_CHECKPOINTS_KEPT,
        checkpoint_name=f"{architecture}.ckpt",
    )
    start = config.start_checkpoint
    if not start and config.resume:
        start = tf.train.latest_checkpoint(str(train_dir)) or ""
        if not start:
            LOG.info("--resume: no checkpoint in %s, starting from scratch", train_dir)
    if config.init_checkpoint and not start:
        init = _resolve_checkpoint(config.init_checkpoint, "--init_checkpoint")
        meta = _read_model_json_for(init)
        if list(meta["labels"]) != labels:
            raise ValueError(f"--init_checkpoint {init}: labels {meta['labels']} differ from "
                             f"this dataset's {labels}")
        status = tf.train.Checkpoint(model=model).restore(init)
        status.expect_partial()
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            raise TrainingError(f"{init}: does not match this '{architecture}' model: {e}") \
                from None
        LOG.info("fine-tuning from the weights of %s", init)
    if start:
        status = checkpoint.restore(start)
        try:
            status.assert_existing_objects_matched()
        except AssertionError as e:
            raise TrainingError(f"{start}: does not match this '{architecture}' model: {e}") \
                from None
        LOG.info("restored %s at step %d", start, _iterations(optimizer))
    start_step = _iterations(optimizer)

    if chief:
        write_model_files(train_dir, architecture, settings, labels, config)
    summaries = Path(config.summaries_dir)
    train_writer = tf.summary.create_file_writer(str(summaries / "train")) if chief else None
    val_writer = tf.summary.create_file_writer(str(summaries / "validation")) if chief else None

    if config.batch_size % workers:
        raise ValueError(f"--batch_size {config.batch_size} does not divide among the "
                         f"{workers} workers")
    base_seed = config.seed or int(np.random.SeedSequence().generate_state(1)[0] >> 1)

    from kws.augment import make_hooks

    def dataset_fn(input_context):
        samples_hook, features_hook = make_hooks(
            config.augment, base_seed + 7919 * input_context.input_pipeline_id + start_step)
        return make_dataset(
            index, "training", settings,
            input_context.get_per_replica_batch_size(config.batch_size) if workers > 1
            else config.batch_size,
            background_frequency=config.background_frequency,
            background_volume=config.background_volume,
            time_shift_ms=config.time_shift_ms,
            seed=base_seed + 1000003 * input_context.input_pipeline_id + start_step,
            samples_hook=samples_hook, features_hook=features_hook,
        )

    train_data = strategy.distribute_datasets_from_function(dataset_fn)
    train_iter = iter(train_data)

    step_fn = _make_train_step(model, optimizer, strategy, config.batch_size, config.check_nans,
                               config.label_smoothing, peer_models, config.peer_weight,
                               config.mixup, base_seed)
    predict = tf.function(lambda x: model(x, training=False))

    def evaluate(partition: str):
        return evaluate_model(predict, settings, index, partition, config.batch_size)

    total = config.total_steps
    if start_step >= total:
        LOG.info("checkpoint step %d already reaches the %d training steps", start_step, total)
    bar = None
    if config.progress and chief and start_step < total:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=start_step, unit="step", dynamic_ncols=True,
                   file=sys.stderr, desc=architecture)
    validation_accuracy = None
    last_saved = None
    try:
        for step in range(start_step + 1, total + 1):
            rate = learning_rate_at(step, config)
            optimizer.learning_rate.assign(rate)
            feats, truth = next(train_iter)
            try:
                loss, correct = step_fn(feats, truth)
            except tf.errors.InvalidArgumentError as e:
                raise TrainingError(_nan_message(e, step)) from None
            accuracy = float(correct) / config.batch_size
            loss = float(loss)
            LOG.info("Step #%d: rate %f, accuracy %.1f%%, cross entropy %f",
                     step, rate, accuracy * 100, loss)
            if bar is not None:
                bar.set_postfix(acc=f"{accuracy * 100:.1f}%", loss=f"{loss:.3f}",
                                refresh=False)
                bar.update(1)
            if train_writer is not None:
                with train_writer.as_default(step=step):
                    tf.summary.scalar("accuracy", accuracy)
                    tf.summary.scalar("cross_entropy", loss)
                    tf.summary.scalar("learning_rate", rate)
            if step % config.eval_step_interval == 0 or step == total:
                validation_accuracy, n, matrix = evaluate("validation")
                if matrix is not None and chief:
                    LOG.info("Confusion Matrix (rows truth, columns prediction):\n%s",
                             format_confusion_matrix(matrix, labels))
                    LOG.info("Step %d: Validation accuracy = %.1f%% (N=%d)",
                             step, validation_accuracy * 100, n)
                    with val_writer.as_default(step=step):
                        tf.summary.scalar("accuracy", validation_accuracy)
                        png = confusion_matrix_png(matrix, labels, f"validation, step {step}")
                        tf.summary.image("confusion_matrix",
                                         tf.image.decode_png(png, channels=3)[tf.newaxis])
                    val_writer.flush()
            if step % config.save_step_interval == 0 or step == total:
                saved = manager.save(checkpoint_number=step)
                if chief:
                    last_saved = saved
                    LOG.info("Saving to \"%s\"", saved)
    finally:
        if bar is not None:
            bar.close()
        if train_writer is not None:
            train_writer.flush()
        if not chief:
            import shutil

            shutil.rmtree(save_dir, ignore_errors=True)

    test_accuracy, test_n, matrix = evaluate("testing")
    if test_accuracy is None:
        LOG.warning("the testing partition is empty: no final test accuracy")
    elif chief:
        LOG.info("Confusion Matrix (rows truth, columns prediction):\n%s",
                 format_confusion_matrix(matrix, labels))
        LOG.info("Final test accuracy = %.1f%% (N=%d)", test_accuracy * 100, test_n)
    return TrainResult(
        final_step=_iterations(optimizer),
        test_accuracy=test_accuracy,
        test_count=test_n,
        validation_accuracy=validation_accuracy,
        labels=labels,
        checkpoint=last_saved or (manager.latest_checkpoint if chief else None),
    )


def _iterations(optimizer) -> int:
    """The optimizer's step count (works for distributed variables too)."""
    value = optimizer.iterations.value
    return int(value.numpy() if hasattr(value, "numpy") else value.read_value().numpy())


def _nan_message(error, step: int) -> str:
    text = getattr(error, "message", str(error))
    m = re.search(r"NaN/Inf in ([^:]+?)( : Tensor had| Tensor had|:|$)", text)
    where = m.group(1).strip() if m else text.splitlines()[0]
    return f"--check_nans: NaN or Inf at step {step} in {where}"


def make_loss(label_smoothing: float = 0.0):
    """Per-example cross entropy `loss(labels [batch] int, logits [batch, K])`; with
    smoothing e the target is 1 - e + e/K for the true label and e/K for the others."""
    import keras
    import tensorflow as tf

    if label_smoothing <= 0:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")
    smoothed = keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=label_smoothing, reduction="none")

    def loss(labels, logits):
        return smoothed(tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1]), logits)

    return loss


def _trainable(model, peer_models=()) -> list:
    return [v for m in (model, *peer_models) for v in m.trainable_variables]


def peer_distillation_loss(logits: list, labels, loss_fn, weight: float):
    """Per-example mutual-distillation loss of peers' `logits` (a list of [batch, K]):
    the sum over peers of cross entropy plus `weight` x KL(mean softmax of the other
    peers || this peer's softmax), the targets held constant (no gradient)."""
    import tensorflow as tf

    probs = [tf.nn.softmax(x) for x in logits]
    total = 0.0
    for i, x in enumerate(logits):
        others = [p for j, p in enumerate(probs) if j != i]
        target = tf.stop_gradient(tf.add_n(others) / len(others))
        log_target = tf.math.log(tf.maximum(target, 1e-12))
        kl = tf.reduce_sum(target * (log_target - tf.nn.log_softmax(x)), axis=-1)
        total = total + loss_fn(labels, x) + weight * kl
    return total


def mixup_batch(features, labels, alpha: float, seed):
    """Mixup of a batch with itself reversed: example i becomes l_i x features[i] +
    (1 - l_i) x features[n - 1 - i], l_i = max(g, 1 - g) for g ~ Beta(alpha, alpha) (so its
    own label dominates), drawn from the stateless `seed` (2 ints). Returns (mixed
    features, partner labels, l)."""
    import tensorflow as tf

    n = tf.shape(features)[0]
    a = tf.random.stateless_gamma([n], seed=seed, alpha=alpha)
    b = tf.random.stateless_gamma([n], seed=tf.stack([seed[0], seed[1] + 1]), alpha=alpha)
    g = a / tf.maximum(a + b, 1e-12)
    lam = tf.maximum(g, 1.0 - g)
    shape = tf.concat([[n], tf.ones([tf.rank(features) - 1], tf.int32)], 0)
    w = tf.cast(tf.reshape(lam, shape), features.dtype)
    mixed = w * features + (1.0 - w) * tf.reverse(features, [0])
    return mixed, tf.reverse(labels, [0]), lam


def _make_train_step(model, optimizer, strategy, global_batch: int, check_nans: bool,
                     label_smoothing: float = 0.0, peer_models=(), peer_weight: float = 1.0,
                     mixup: float = 0.0, seed: int = 0):
    """One training step; returns (cross entropy of `model`, correct count of `model`).
    With `peer_models` all are trained on the batch with `peer_distillation_loss`; with
    `mixup` > 0 on `mixup_batch` of it (seeded by `seed`, the step and the replica)."""
    import keras
    import tensorflow as tf

    loss_fn = make_loss(label_smoothing)
    peer_models = list(peer_models)
    if check_nans:
        # The same layers (same weights), exposing every layer's output to check it.
        probe = keras.Model(model.inputs, [layer.output for layer in model.layers[1:]])
        probe_names = [layer.name for layer in model.layers[1:]]

    def replica_step(features, labels):
        ce = loss_fn
        if mixup > 0:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            draw = tf.stack([tf.cast(seed % 2**31, tf.int64),
                             tf.cast(optimizer.iterations, tf.int64) * 64
                             + tf.cast(replica, tf.int64) * 2])
            features, partner, lam = mixup_batch(features, labels, mixup, draw)

            def ce(y, logits):
                return lam * loss_fn(y, logits) + (1.0 - lam) * loss_fn(partner, logits)
        with tf.GradientTape() as tape:
            if check_nans:
                features = tf.debugging.check_numerics(
                    features, "NaN/Inf in input features")
                outputs = probe(features, training=True)
                # Checked in layer order (chained), so the first bad layer is named.
                checked = features
                for name, out in zip(probe_names, outputs):
                    with tf.control_dependencies([checked]):
                        checked = tf.debugging.check_numerics(
                            out, f"NaN/Inf in layer '{name}' output")
                logits = checked
            else:
                logits = model(features, training=True)
            per_example = ce(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            objective = loss
            if peer_models:
                all_logits = [logits] + [p(features, training=True) for p in peer_models]
                objective = tf.nn.compute_average_loss(
                    peer_distillation_loss(all_logits, labels, ce, peer_weight),
                    global_batch_size=global_batch)
        variables = _trainable(model, peer_models)
        grads = tape.gradient(objective, variables)
        if check_nans:
            tf.debugging.check_numerics(objective, "NaN/Inf in cross entropy")
            grads = [tf.debugging.check_numerics(g, f"NaN/Inf in gradient of '{v.path}'")
                     for g, v in zip(grads, variables)]
        optimizer.apply_gradients(zip(grads, variables))
        correct = tf.reduce_sum(tf.cast(
            tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32),
                     tf.cast(labels, tf.int32)), tf.float32))
        return loss, correct

    @tf.function
    def step(features, labels):
        loss, correct = strategy.run(replica_step, args=(features, labels))
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", correct, axis=None))

    return step


def main(argv: list[str]) -> int:
    """CLI entry point: parse, validate (before any work), train."""
    try:
        config = parse_config(argv)
    except ValueError as e:
        print(f"kws train: error: {e}", file=sys.stderr)
        return 2
    try:
        result = train(config)
    except (ValueError, TrainingError) as e:
        print(f"kws train: error: {e}", file=sys.stderr)
        return 1
    return 0 if result is not None else 1
