"""`kws train`'s loop: the classic speech-commands training, resumable and observable.

Flow: a validated `TrainConfig` (kws.train.config) -> dataset index + tf.data pipeline ->
model from `kws.train.models` -> custom training loop (a `tf.function` step under a
`tf.distribute` strategy) -> checkpoints (kws.train.checkpoint), TensorBoard summaries,
validation and test evaluation.

The terminal stays calm: a progress bar, the validation accuracy every
--eval_step_interval steps, then the test confusion matrix and accuracy. The whole log
(every step, every confusion matrix) goes to `<train_dir>/train.log` and TensorBoard;
--verbose prints it on the terminal too.
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from kws.download import DownloadError, maybe_download_and_extract
from kws.train import speech_embedding
from kws.train.augment import make_hooks
from kws.train.checkpoint import (
    MAX_CHECKPOINTS_KEPT,
    TrainingError,
    checkpoint_variables,
    first_line,
    load_checkpoint,
    read_model_json_for,
    resolve_checkpoint,
    write_model_files,
)
from kws.train.config import (
    TrainConfig,
    check_checkpoint_model,
    folder_balance_at,
    learning_rate_at,
    phase_starts,
)
from kws.train.data import DatasetIndex
from kws.train.models import BRANCH_SUFFIX, branch_model, build_model
from kws.train.pipeline import DEFAULT_EVAL_SEED, make_dataset
from kws.train.report import confusion_matrix, confusion_matrix_png, format_confusion_matrix
from kws.train.settings import ModelSettings

LOG = logging.getLogger("kws.train")
LOG_FILE_NAME = "train.log"


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
    # Outputs first: an unwritable folder or a busy --train_dir is found before the
    # download, the indexing and the steps, not after them.
    for flag in ("train_dir", "summaries_dir"):
        check_writable_dir(getattr(config, flag), flag)
    # Several workers (--distribute or TF_CONFIG) share --train_dir: the chief takes the
    # lock once the strategy says which worker it is.
    distributed = config.distribute or bool(os.environ.get("TF_CONFIG"))
    lock = None if distributed else lock_train_dir(Path(config.train_dir))
    try:
        return _train(config, lock)
    finally:
        if lock is not None:
            lock.close()


def check_writable_dir(path: str, flag: str) -> None:
    """Creates `path` if needed and checks a file can be made in it (ValueError if not)."""
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise ValueError(f"--{flag} {path}: cannot write there: {e.strerror or e}") from None


def lock_train_dir(train_dir: Path):
    """An exclusive lock on `train_dir` held for the run (released when the process ends,
    even by SIGKILL). A second run on the same folder is refused with the holder's pid,
    host and start time."""
    import fcntl
    import socket

    path = train_dir / ".kws-train.lock"
    f = open(path, "a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "an unknown process"
        f.close()
        raise ValueError(f"--train_dir {train_dir} is in use by another kws train ({holder}); "
                         "wait for it to finish or choose another --train_dir") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()} since "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
    f.flush()
    return f


def _train(config: TrainConfig, lock) -> TrainResult:
    run = _Run(config)
    if run.chief and lock is None:  # --distribute: the chief holds the train_dir lock
        run.lock = lock_train_dir(Path(config.train_dir))
    try:
        run.prepare_data()
        run.build()
        run.restore()
        run.open_outputs()
        run.make_input()
        run.steps()
    finally:
        run.close()
    return run.final_test()


class _Run:
    """One training run, step by step; `train` calls the steps in order."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.train_dir = Path(config.train_dir)
        if config.seed:
            keras.utils.set_random_seed(config.seed)
        self.strategy = _make_strategy(config)
        self.chief = _is_chief(self.strategy)
        self.log_handlers = _setup_logging(config, log_file=self.chief)
        self.workers = self.strategy.num_replicas_in_sync
        if config.batch_size % self.workers:
            raise ValueError(f"--batch_size {config.batch_size} does not divide among the "
                             f"{self.workers} workers")
        self.base_seed = config.seed or int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        self.validation_accuracy: float | None = None
        self.last_saved: str | None = None
        self.writers: dict[str, object] = {}
        self.scratch: Path | None = None
        self.bar = None

    def prepare_data(self) -> None:
        """Download --data_url if needed, index the clips and derive the settings."""
        maybe_download(self.config)
        self.balance = folder_balance_at(1, self.config)
        self.index = make_index(self.config, self.balance)
        self.labels = list(self.index.labels)
        self.settings = self.config.model_settings(len(self.labels))
        LOG.info("dataset: %s", self.index.summary())

    def build(self) -> None:
        """The model, its --peers, the optimizer, and the checkpoint manager."""
        config, architecture = self.config, self.config.model_architecture
        with self.strategy.scope():
            self.model = build_model(architecture, self.settings, training_dropout=True)
            # --peers: the other models of mutual distillation (trained, checkpointed for
            # --resume, never exported).
            self.peers = [build_model(architecture, self.settings, training_dropout=True)
                          for _ in range(config.peers - 1)]
            scaled = []
            if config.train_embedding_layers:
                for m in (self.model, *self.peers):
                    speech_embedding.train_last_convolutions(m, config.train_embedding_layers)
                    scaled += speech_embedding.embedding_variables(m)
            self.optimizer = _make_optimizer(config, scaled)
            self.optimizer.build(_trainable(self.model, self.peers))
            # The training step, apart from the optimizer's own count (which
            # --restart_optimizer zeroes); -1 until a run or a checkpoint sets it.
            self.step_var = tf.Variable(-1, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = self.tracked(with_step=True)
        # Non-chief workers must also save (collective reads), into a private scratch folder.
        if not self.chief:
            self.scratch = Path(tempfile.mkdtemp(prefix="kws-worker-ckpt-"))
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, str(self.scratch or self.train_dir),
            max_to_keep=MAX_CHECKPOINTS_KEPT, checkpoint_name=f"{architecture}.ckpt")

    def tracked(self, with_step: bool) -> tf.train.Checkpoint:
        """What a checkpoint holds: the model, its peers, the optimizer and (`with_step`)
        the step."""
        return tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer,
            **({"step": self.step_var} if with_step else {}),
            **({"peers": self.peers} if self.peers else {}))

    def restore(self) -> None:
        """--start_checkpoint or --resume (whole state), else --init_checkpoint (weights)."""
        config, architecture = self.config, self.config.model_architecture
        start = config.start_checkpoint
        how = "--start_checkpoint" if start else "--resume"
        if not start and config.resume:
            start = tf.train.latest_checkpoint(str(self.train_dir)) or ""
            if not start:
                LOG.info("--resume: no checkpoint in %s, starting from scratch", self.train_dir)
        if config.init_checkpoint and not start:
            init = resolve_checkpoint(config.init_checkpoint, "--init_checkpoint")
            check_checkpoint_model(read_model_json_for(init), f"--init_checkpoint {init}",
                                   architecture, self.settings, self.labels)
            try:
                status = tf.train.Checkpoint(model=self.model).restore(init)
                status.expect_partial()
                status.assert_existing_objects_matched()
            except AssertionError as e:
                raise TrainingError(f"{init}: does not match this '{architecture}' model: "
                                    f"{e}") from None
            except (tf.errors.OpError, IndexError, ValueError) as e:
                raise TrainingError(f"{init}: cannot restore this checkpoint: "
                                    f"{first_line(e)}") from None
            LOG.info("fine-tuning from the weights of %s", init)
        if start:
            # The run that wrote it recorded its front end and labels beside it: a resumed
            # run must compute the same features (e.g. --preprocess) for the same labels.
            meta = read_model_json_for(start, required=False)
            if meta is not None:
                check_checkpoint_model(meta, start, architecture, self.settings, self.labels)
            # Checkpoints written before the step was kept hold the rest.
            holds_step = any(name.startswith("step/")
                             for name in checkpoint_variables(start, f"{how} {start}"))
            try:
                status = self.tracked(with_step=holds_step).restore(start)
                status.assert_existing_objects_matched()
            except AssertionError as e:
                raise TrainingError(f"{start}: does not match this '{architecture}' model: "
                                    f"{e}") from None
            except (tf.errors.OpError, IndexError, ValueError) as e:
                raise TrainingError(f"{start}: cannot restore this checkpoint: "
                                    f"{first_line(e)}") from None
        # Checkpoints written before the step was kept: the optimizer's count is the step.
        if _value(self.step_var) < 0:
            self.step_var.assign(_iterations(self.optimizer))
        self.start_step = _value(self.step_var)
        if start:
            LOG.info("restored %s at step %d", start, self.start_step)

    def open_outputs(self) -> None:
        """The model files beside the checkpoints, TensorBoard writers, the progress bar."""
        if not self.chief:
            return
        write_model_files(self.train_dir, self.config.model_architecture, self.settings,
                          self.labels, self.config.flags())
        summaries = Path(self.config.summaries_dir)
        for name in ("train", "validation"):
            self.writers[name] = tf.summary.create_file_writer(str(summaries / name))
        total = self.config.total_steps
        if self.start_step >= total:
            LOG.info("checkpoint step %d already reaches the %d training steps",
                     self.start_step, total)
        elif self.config.progress:
            self.bar = tqdm(total=total, initial=self.start_step, unit="step",
                            dynamic_ncols=True, file=sys.stderr, disable=None,
                            desc=self.config.model_architecture)

    def rebalance(self, step: int) -> bool:
        """Index the training clips again when step `step`'s phase has another
        --folder_balance than the index's; True when it did."""
        balance = folder_balance_at(step, self.config)
        if balance == self.balance:
            return False
        self.balance = balance
        self.index = make_index(self.config, balance)
        LOG.info("Step #%d: --folder_balance %g from here: %s", step, balance,
                 self.index.summary())
        return True

    def make_input(self, start_step: int | None = None) -> None:
        """The augmented training batches (one pipeline per worker, drawing on from
        `start_step`, the run's start by default) and the step function."""
        start_step = self.start_step if start_step is None else start_step
        self.rebalance(start_step + 1)
        config, settings, index = self.config, self.settings, self.index
        workers, base_seed = self.workers, self.base_seed

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
                unknown_time_shift_ms=(None if config.unknown_time_shift_ms == -1
                                       else config.unknown_time_shift_ms),
                seed=base_seed + 1000003 * input_context.input_pipeline_id + start_step,
                samples_hook=samples_hook, features_hook=features_hook,
            )

        self.train_iter = iter(self.strategy.distribute_datasets_from_function(dataset_fn))
        self.step_fn = _make_train_step(
            self.model, self.optimizer, self.strategy, config.batch_size, config.check_nans,
            config.label_smoothing, self.peers, config.peer_weight, config.mixup, base_seed)
        model = self.model
        self.predict = tf.function(lambda x: model(x, training=False))

    def steps(self) -> None:
        """The training steps, with validation and checkpoints at their intervals."""
        config, total = self.config, self.config.total_steps
        restarts = phase_starts(config) if config.restart_optimizer else set()
        for step in range(self.start_step + 1, total + 1):
            if step in restarts:
                for v in self.optimizer.variables:
                    v.assign(tf.zeros_like(v))
                LOG.info("Step #%d: a new phase starts with a fresh optimizer state", step)
            if self.rebalance(step):
                self.make_input(step - 1)
            rate = learning_rate_at(step, config)
            self.optimizer.learning_rate.assign(rate)
            feats, truth = next(self.train_iter)
            try:
                loss, correct = self.step_fn(feats, truth, tf.constant(step, tf.int64))
            except tf.errors.InvalidArgumentError as e:
                raise TrainingError(_nan_message(e, step)) from None
            loss = float(loss)
            if not math.isfinite(loss):
                raise TrainingError(
                    f"the loss is {loss} at step {step}: training stopped before another "
                    "checkpoint (the model diverged, or the data holds NaN/Inf); lower "
                    "--learning_rate, or use --check_nans to find the first bad tensor")
            self.step_var.assign(step)
            self.log_step(step, rate, float(correct) / config.batch_size, loss)
            if step % config.eval_step_interval == 0 or step == total:
                self.validate(step)
            if step % config.save_step_interval == 0 or step == total:
                bad = _non_finite_weights(self.model, self.peers)
                if bad:
                    raise TrainingError(
                        f"weights became NaN/Inf by step {step} ({bad}): training stopped "
                        "without saving them; lower --learning_rate, or use --check_nans")
                saved = self.manager.save(checkpoint_number=step)
                if self.chief:
                    self.last_saved = saved
                    LOG.info("Saving to \"%s\"", saved)

    def log_step(self, step: int, rate: float, accuracy: float, loss: float) -> None:
        LOG.info("Step #%d: rate %f, accuracy %.1f%%, cross entropy %f",
                 step, rate, accuracy * 100, loss)
        if self.bar is not None:
            self.bar.set_postfix(acc=f"{accuracy * 100:.1f}%", loss=f"{loss:.3f}",
                                 refresh=False)
            self.bar.update(1)
        if "train" in self.writers:
            with self.writers["train"].as_default(step=step):
                tf.summary.scalar("accuracy", accuracy)
                tf.summary.scalar("cross_entropy", loss)
                tf.summary.scalar("learning_rate", rate)

    def validate(self, step: int) -> None:
        accuracy, n, matrix = self.evaluate("validation")
        self.validation_accuracy = accuracy
        if matrix is None or not self.chief:
            return
        LOG.info("Confusion Matrix (rows truth, columns prediction):\n%s",
                 format_confusion_matrix(matrix, self.labels))
        show("Step %d: Validation accuracy = %.1f%% (N=%d)", step, accuracy * 100, n)
        writer = self.writers["validation"]
        with writer.as_default(step=step):
            tf.summary.scalar("accuracy", accuracy)
            png = confusion_matrix_png(matrix, self.labels, f"validation, step {step}")
            tf.summary.image("confusion_matrix", tf.image.decode_png(png, channels=3)[tf.newaxis])
        writer.flush()

    def evaluate(self, partition: str):
        return evaluate_model(self.predict, self.settings, self.index, partition,
                              self.config.batch_size)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        for writer in self.writers.values():
            writer.flush()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def final_test(self) -> TrainResult:
        """Accuracy and confusion matrix on the testing partition."""
        accuracy, n, matrix = self.evaluate("testing")
        if accuracy is None:
            LOG.warning("the testing partition is empty: no final test accuracy")
        elif self.chief:
            show("Confusion Matrix (rows truth, columns prediction):\n%s",
                 format_confusion_matrix(matrix, self.labels))
            show("Final test accuracy = %.1f%% (N=%d)", accuracy * 100, n)
        for handler in self.log_handlers:
            LOG.removeHandler(handler)
            handler.close()
        return TrainResult(
            final_step=_value(self.step_var),
            test_accuracy=accuracy,
            test_count=n,
            validation_accuracy=self.validation_accuracy,
            labels=self.labels,
            checkpoint=self.last_saved or (self.manager.latest_checkpoint if self.chief
                                           else None),
        )


# ----------------------------------------------------------------------- the log


def show(message: str, *args) -> None:
    """A log line that the terminal shows even without --verbose."""
    LOG.info(message, *args, extra={"show": True})


class _TerminalHandler(logging.Handler):
    """Writes above the progress bar; without --verbose only warnings and `show` lines."""

    def __init__(self, verbose: bool) -> None:
        super().__init__()
        self.verbose = verbose

    def filter(self, record: logging.LogRecord) -> bool:
        return (self.verbose or record.levelno >= logging.WARNING
                or getattr(record, "show", False))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001
            self.handleError(record)


def _setup_logging(config: TrainConfig, log_file: bool) -> list[logging.Handler]:
    """The terminal handler and (with `log_file`) the full log in train_dir."""
    verbosity = config.verbosity.upper()
    LOG.setLevel({"WARN": "WARNING", "FATAL": "CRITICAL"}.get(verbosity, verbosity))
    LOG.propagate = False
    for old in list(LOG.handlers):
        LOG.removeHandler(old)
        old.close()
    terminal = _TerminalHandler(config.verbose)
    terminal.setFormatter(logging.Formatter("%(message)s"))
    handlers: list[logging.Handler] = [terminal]
    if log_file:
        Path(config.train_dir).mkdir(parents=True, exist_ok=True)
        to_file = logging.FileHandler(Path(config.train_dir) / LOG_FILE_NAME)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        handlers.append(to_file)
    for handler in handlers:
        LOG.addHandler(handler)
    return handlers


# ----------------------------------------------------------------------- data


def maybe_download(config: TrainConfig) -> None:
    """Fetch and unpack --data_url (kws.download) when the one --data_dir is missing.

    Unlike the classic tool, an existing --data_dir is used as it is (no download)."""
    dirs = [d.strip() for d in config.data_dir.split(",") if d.strip()]
    if len(dirs) != 1 or Path(dirs[0]).is_dir() or not config.data_url:
        return
    show("%s does not exist: downloading %s", dirs[0], config.data_url)
    try:
        maybe_download_and_extract(config.data_url, dirs[0], progress=config.progress)
    except (OSError, ValueError, DownloadError) as e:
        raise ValueError(
            f"--data_dir {dirs[0]} does not exist and downloading --data_url "
            f"{config.data_url} failed: {e}"
        ) from None


def make_index(config: TrainConfig, folder_balance: float | None = None) -> DatasetIndex:
    """The run's dataset index; `folder_balance` is a phase's (the first's by default)."""
    return DatasetIndex(
        config.data_dir,
        config.wanted_words,
        silence_percentage=config.silence_percentage,
        unknown_percentage=config.unknown_percentage,
        validation_percentage=config.validation_percentage,
        testing_percentage=config.testing_percentage,
        sample_rate=config.sample_rate,
        clip_duration_ms=config.clip_duration_ms,
        folder_balance=(folder_balance_at(1, config) if folder_balance is None
                        else folder_balance),
        resample=config.resample,
        skip_bad_clips=config.skip_bad_clips,
        negatives_dir=config.negatives_dir or None,
    )


# ----------------------------------------------------------------------- evaluation


def evaluate_model(model, settings: ModelSettings, index, partition: str,
                   batch_size: int = 100) -> tuple[float | None, int, np.ndarray | None]:
    """(accuracy, count, confusion matrix) of `model` (features -> logits) on a partition
    of a `kws.train.data.DatasetIndex`; (None, 0, None) when the partition is empty."""
    if index.set_size(partition) == 0:
        return None, 0, None
    matrix = np.zeros((len(index.labels), len(index.labels)), dtype=np.int64)
    # One plain, deterministic pass whatever the partition: the training partition's
    # defaults (augmented, shuffled, repeated forever, fresh seed) would never end.
    for feats, truth in make_dataset(index, partition, settings, batch_size, augment=False,
                                     shuffle=False, repeat=False, drop_remainder=False,
                                     seed=DEFAULT_EVAL_SEED):
        logits = model(feats)
        matrix += confusion_matrix(truth.numpy(), np.argmax(np.asarray(logits), axis=1),
                                   len(index.labels))
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


# ----------------------------------------------------------------------- the step


class _RateScale:
    """Optimizer mixin: the variables in `scaled` step at `scale` times the learning rate
    (the others at the rate itself); no state of its own, so checkpoints are unchanged."""

    def __init__(self, *args, scaled=(), scale: float = 1.0, **kwargs):
        super().__init__(*args, **kwargs)
        self._scaled_keys = {self._var_key(v) for v in scaled}
        self._rate_scale = float(scale)

    def update_step(self, gradient, variable, learning_rate):
        if self._var_key(variable) in self._scaled_keys:
            learning_rate = learning_rate * self._rate_scale
        return super().update_step(gradient, variable, learning_rate)


class _ScaledSGD(_RateScale, keras.optimizers.SGD):
    pass


class _ScaledAdam(_RateScale, keras.optimizers.Adam):
    pass


def _make_optimizer(config: TrainConfig, scaled=()):
    """The run's optimizer; the variables in `scaled` learn at --embedding_rate_scale times
    its rate."""
    rate, scale = config.rates_list[0], {"scaled": scaled, "scale": config.embedding_rate_scale}
    if config.optimizer == "gradient_descent":
        return _ScaledSGD(rate, name="sgd", **scale)
    if config.optimizer == "momentum":
        return _ScaledSGD(rate, momentum=0.9, nesterov=True, name="sgd", **scale)
    return _ScaledAdam(rate, name="adam", **scale)


def _make_strategy(config: TrainConfig):
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


def _non_finite_weights(model, peer_models) -> str:
    """Names of the first weights holding NaN/Inf ('' when every weight is finite)."""
    bad = [w.name for w in _trainable(model, peer_models)
           if not bool(tf.reduce_all(tf.math.is_finite(w)))]
    return ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")


def _iterations(optimizer) -> int:
    """The optimizer's step count (works for distributed variables too)."""
    value = optimizer.iterations.value
    return int(value.numpy() if hasattr(value, "numpy") else value.read_value().numpy())


def _value(variable: tf.Variable) -> int:
    """An integer tf.Variable's value (a distributed one's too)."""
    return int(variable.read_value().numpy())


def _nan_message(error, step: int) -> str:
    m = re.search(r"NaN/Inf in ([^:]+?)( : Tensor had| Tensor had|:|$)",
                  getattr(error, "message", "") or str(error))
    where = m.group(1).strip() if m else first_line(error)
    return f"--check_nans: NaN or Inf at step {step} in {where}"


def make_loss(label_smoothing: float = 0.0):
    """Per-example cross entropy `loss(labels [batch] int, logits [batch, K])`; with
    smoothing e the target is 1 - e + e/K for the true label and e/K for the others."""
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
    """One training step `step(features, labels, number=1)` (number: the 1-based step);
    returns (cross entropy of `model`, correct count of `model`). With `peer_models` all are
    trained on the batch with `peer_distillation_loss`; with `mixup` > 0 on `mixup_batch` of
    it (seeded by `seed`, the step number and the replica). A two-branch model
    (kws.train.models.branch_model) trains each branch on its own cross entropy; the reported
    loss and count are its summed logits'."""
    loss_fn = make_loss(label_smoothing)
    peer_models = list(peer_models)
    branches = branch_model(model)
    if check_nans:
        # The same layers (same weights), exposing every layer's output to check it.
        probe = keras.Model(model.inputs, [layer.output for layer in model.layers[1:]])
        probe_names = [layer.name for layer in model.layers[1:]]

    def replica_step(features, labels, number):
        ce = loss_fn
        if mixup > 0:
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            draw = tf.stack([tf.cast(seed % 2**31, tf.int64),
                             (tf.cast(number, tf.int64) - 1) * 64
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
            elif branches is not None:
                *parts, logits = branches(features, training=True)
            else:
                logits = model(features, training=True)
            per_example = ce(labels, logits)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            objective = loss
            if branches is not None:
                if check_nans:
                    parts = [out for name, out in zip(probe_names, outputs)
                             if name.endswith(BRANCH_SUFFIX)]
                objective = tf.nn.compute_average_loss(
                    tf.add_n([ce(labels, part) for part in parts]),
                    global_batch_size=global_batch)
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
    def step(features, labels, number=1):
        loss, correct = strategy.run(replica_step, args=(features, labels, number))
        return (strategy.reduce("SUM", loss, axis=None),
                strategy.reduce("SUM", correct, axis=None))

    return step

