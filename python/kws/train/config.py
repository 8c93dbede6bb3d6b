"""`kws train`'s settings: every flag with its classic default, the named recipes, and the
checks that run before any work."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from kws import MfccOptions
from kws.labels import DEFAULT_WANTED_WORDS
from kws.train.augment import PRESETS as AUGMENT_PRESETS
from kws.train.checkpoint import checkpoint_variables, read_model_json_for, resolve_checkpoint
from kws.train.models import ARCHITECTURES, TWO_BRANCH
from kws.train.settings import PREPROCESS_MODES, ModelSettings
from kws.train.speech_embedding import CONVOLUTIONS as EMBEDDING_CONVOLUTIONS

_MFCC = MfccOptions()  # the front end's defaults, defined once in C++
OPTIMIZERS = ("gradient_descent", "momentum", "adam")
LR_SCHEDULES = ("piecewise", "cosine")
VERBOSITIES = ("DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL")
CLASSIC_DATA_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
)


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
    sample_rate: int = _MFCC.sample_rate
    clip_duration_ms: float = 1000.0
    window_size_ms: float = _MFCC.window_size_ms
    window_stride_ms: float = _MFCC.window_stride_ms
    feature_bin_count: int = _MFCC.dct_coefficient_count
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
    quantize: bool = False  # accepted; kws export calibrates int8 after training
    # kws additions
    recipe: str = ""
    resume: bool = False
    lr_schedule: str = "piecewise"
    distribute: bool = False
    seed: int = 0
    progress: bool = True
    augment: str = "none"  # kws.train.augment preset for training audio/features
    label_smoothing: float = 0.0
    init_checkpoint: str = ""  # fine-tune: model weights from here, fresh optimizer/step
    # oversample small --data_dir folders (kws.train.data.DatasetIndex): one value, or one
    # per learning-rate phase
    folder_balance: str = "0"
    peers: int = 1  # models trained together, each distilled from the others (1: off)
    train_embedding_layers: int = 0  # speech_embedding*: last N pretrained convolutions trained
    embedding_rate_scale: float = 1.0  # their learning rate, as a fraction of the run's
    peer_weight: float = 1.0  # weight of the distillation term of each peer's loss
    mixup: float = 0.0  # Beta(a, a) mixing of each batch with itself reversed (0: off)
    verbose: bool = False  # the per-step log on the terminal too
    resample: bool = False  # clips and noise at other rates or formats converted with soxr
    skip_bad_clips: bool = False  # warn about and leave out clips that fail validation
    unknown_time_shift_ms: float = -1.0  # time shift range of _unknown_ clips (-1: as others)
    negatives_dir: str = ""  # hard negatives (kws mine-negatives), all in training
    restart_optimizer: bool = False  # each phase after the first with a fresh optimizer

    # derived, filled by validate()
    steps_list: list[int] = field(default_factory=list, repr=False)
    rates_list: list[float] = field(default_factory=list, repr=False)
    balances_list: list[float] = field(default_factory=list, repr=False)

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
        d.pop("balances_list")
        return d



# What quick and quick_tc_resnet share.
_QUICK = {
    "window_size_ms": 30.0,
    "window_stride_ms": 10.0,
    "feature_bin_count": 40,
    "optimizer": "adam",
    "learning_rate": "0.002",
    "how_many_training_steps": "1200",
    "lr_schedule": "cosine",
    "batch_size": 100,
    "eval_step_interval": 300,
    "save_step_interval": 300,
}

# What best and best_tc_resnet share: synthetic plus real clips, the real folder
# oversampled.
_BEST = {
    "optimizer": "adam",
    "learning_rate": "0.002",
    "lr_schedule": "cosine",
    "batch_size": 100,
    "folder_balance": "2.5",
    "eval_step_interval": 500,
    "save_step_interval": 500,
}

# Named flag presets; explicit flags override them. BENCHMARKS.md ("How the recipes were
# chosen") has the measurements behind each choice.
RECIPES: dict[str, dict] = {
    "classic": {},
    "classic_tiny_conv": {
        "model_architecture": "tiny_conv",
        "window_stride_ms": 20.0,
        "feature_bin_count": 40,
        "how_many_training_steps": "15000,3000",
        "learning_rate": "0.001,0.0001",
    },
    "quick": {
        **_QUICK,
        # speech_embedding takes its own front end (EMBEDDING_INPUT) over _QUICK's MFCC
        # settings, which serve --model_architecture overrides.
        "model_architecture": "speech_embedding",
        "augment": "ism",
    },
    # quick before speech_embedding: TC-ResNet8 on MFCC, less training CPU, and a whole
    # window costs 18x less.
    "quick_tc_resnet": {**_QUICK, "model_architecture": "tc_resnet", "augment": "ism_spec"},
    "best": {
        **_BEST,
        # speech_embedding takes its own front end (EMBEDDING_INPUT).
        "model_architecture": "speech_embedding_tc_resnet",
        # Then 1,000 steps more at a quarter of the rate with a fresh Adam.
        "how_many_training_steps": "4500,1000",
        "learning_rate": "0.002,0.0005",
        "restart_optimizer": True,
        # The second phase hears the real speakers about twice as often.
        "folder_balance": "2.5,5",
        "augment": "ism",
        # The embedding's last 8 convolutions learn too, at a quarter of the rate.
        "train_embedding_layers": 8,
        "embedding_rate_scale": 0.25,
    },
    # best before the pair: 3 TC-ResNet8 peers on MFCC, 19x cheaper per window.
    "best_tc_resnet": {
        **_BEST,
        "model_architecture": "tc_resnet",
        "window_size_ms": 30.0,
        "window_stride_ms": 10.0,
        "feature_bin_count": 40,
        "how_many_training_steps": "9000",
        "augment": "room_spec",
        "peers": 3,
    },
}

# Flags that train the pretrained embedding (a recipe's give way to an architecture
# without it).
EMBEDDING_TRAINING = ("train_embedding_layers", "embedding_rate_scale")

# The front end speech_embedding needs (kws.train.speech_embedding.check_settings).
EMBEDDING_INPUT = {"preprocess": "average", "window_size_ms": 25.0, "window_stride_ms": 10.0,
                   "feature_bin_count": 257}


def architecture_input(architecture: str) -> dict:
    """Front-end flags an architecture implies: BC-ResNet's frequency convolutions want the
    paper's input, log-mel bins (on MFCC it learned far more slowly, BENCHMARKS.md
    "Parameters and FLOPs"); speech_embedding (and speech_embedding_tc_resnet) the power
    spectrogram its filterbank was made for. Others: none."""
    if str(architecture).startswith("bc_resnet"):
        return {"preprocess": "log_mel"}
    if str(architecture).startswith("speech_embedding"):
        return EMBEDDING_INPUT
    return {}

# One line on each recipe, for --help and the README.
RECIPE_SUMMARIES: dict[str, str] = {
    "classic": "the classic long run: conv on 98 x 40 MFCC, 18,000 SGD steps",
    "classic_tiny_conv": "the classic tutorial's low-compute tiny_conv",
    "quick": "a useful model in minutes from synthetic speech: a pretrained speech "
             "embedding under a trained head (speech_embedding), Adam with a cosine rate, "
             "1,200 steps, realistic-audio augmentation (ism)",
    "quick_tc_resnet": "quick with TC-ResNet8 on MFCC (ism_spec): 18x cheaper per window, "
                       "less accurate on real voices",
    "best": "synthetic plus real clips (--data_dir SYNTH,REAL), real folder oversampled: the "
            "pretrained speech embedding's head and TC-ResNet8 on its log-mel in one model "
            "(speech_embedding_tc_resnet), the embedding's last 8 convolutions trained at a "
            "quarter of the rate, 4,500 steps, then 1,000 at a quarter of the rate with a "
            "fresh optimizer (--restart_optimizer) and the real folder twice as often "
            "(--folder_balance 2.5,5), ism augmentation",
    "best_tc_resnet": "best with TC-ResNet8 on MFCC as 3 mutually distilled peers (room_spec), "
                      "9,000 steps: 19x cheaper per window, fewer real words found",
}

FLAG_HELP = {
    "data_url": "where to download the dataset when --data_dir does not exist ('' never)",
    "data_dir": "dataset folder(s), comma-separated; merged by label",
    "background_volume": "how loud background noise is (0..1)",
    "background_frequency": "fraction of training clips mixed with background noise",
    "silence_percentage": "silence entries, percent of the wanted-word clips",
    "unknown_percentage": "unknown-word entries, percent of the wanted-word clips",
    "time_shift_ms": "random time shift range of training clips (0 to --clip_duration_ms)",
    "unknown_time_shift_ms": "random time shift range of _unknown_ training clips (-1: "
                             "--time_shift_ms's); far past it the model may learn to call "
                             "noise and keyword onsets unknown (BENCHMARKS.md)",
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
    "model_architecture": f"architecture: {', '.join(ARCHITECTURES)}",
    "check_nans": "stop at the first NaN/Inf, naming the layer or tensor",
    "preprocess": "front end: mfcc, log_mel (the mel bins the MFCC is computed from; "
                  "--feature_bin_count = the mel channels), average or micro (default: "
                  "log_mel for bc_resnet_*, average for speech_embedding (with its 25 ms "
                  "window and 257 bins), mfcc otherwise)",
    "verbosity": "level of the training log (file, and terminal with --verbose): DEBUG, "
                 "INFO, WARN, ERROR or FATAL",
    "verbose": "also print the training log (every step) on the terminal",
    "optimizer": "gradient_descent, momentum (0.9, Nesterov) or adam",
    "quantize": "accepted for the classic flag: kws export writes an int8 TFLite model "
                "from any checkpoint (calibrated after training), so training needs no "
                "fake quantization",
    "recipe": f"named preset of flags ({', '.join(RECIPES)}); explicit flags override",
    "resume": "resume from the latest checkpoint in --train_dir if there is one",
    "lr_schedule": "piecewise (classic: constant per phase) or cosine (each phase decays "
                   "from its rate to 0)",
    "distribute": "multi-worker training (tf.distribute.MultiWorkerMirroredStrategy, "
                  "cluster from TF_CONFIG); implied when TF_CONFIG is set",
    "seed": "seed of weights and data order (0: random)",
    "progress": "show a progress bar (when stderr is a terminal)",
    "init_checkpoint": "fine-tune: start from this checkpoint's model weights (a train_dir "
                       "or <arch>.ckpt-<step> prefix) with a fresh optimizer at step 0; "
                       "ignored when resuming",
    "restart_optimizer": "each learning-rate phase after the first starts with a fresh "
                         "optimizer state (Adam's moments and step count, or the momentum, "
                         "zeroed), as a fine-tuning run (--init_checkpoint) from the previous "
                         "phase's last weights would; the data go on where they were (false: "
                         "one optimizer state throughout)",
    "label_smoothing": "cross-entropy target smoothing: the true label gets 1 - e, the "
                       "others share e (0: off)",
    "folder_balance": "oversample smaller --data_dir folders: each is used round(F x the "
                      "largest folder's wanted-word training clips / its own) times, the "
                      "largest once; validation/testing clips once (0: off, a folder listed "
                      "k times is used k times); a comma list gives each learning-rate "
                      "phase its own F",
    "negatives_dir": "folder(s), comma-separated, of hard negatives such as kws "
                     "mine-negatives writes: every clip trains, _silence_/ as silence, other "
                     "folders as unknown words, on top of the usual draw (default: none)",
    "augment": "realistic-audio augmentation preset (kws.train.augment.PRESETS: "
               f"{', '.join(AUGMENT_PRESETS)})",
    "peers": "mutual distillation: train N models of the architecture together on the same "
             "batches, each also learning the mean prediction of the others; the first is "
             "the one saved for export (1: off)",
    "train_embedding_layers": "speech_embedding architectures: also train the last N of the "
                              "pretrained embedding's 20 convolutions, from their published "
                              "weights (0: the embedding stays frozen)",
    "embedding_rate_scale": "learning rate of the embedding convolutions that "
                            "--train_embedding_layers trains, as a fraction (0, 1] of the "
                            "run's rate at every step (1: the same rate as the rest)",
    "peer_weight": "weight of each peer's distillation term (KL divergence from the mean "
                   "softmax of the other peers) beside its cross entropy",
    "resample": "convert clips and noise at other sample rates or formats (stereo, 24-bit, "
                "float) with soxr instead of refusing them",
    "skip_bad_clips": "leave out clips that fail validation (unreadable, truncated, NaN "
                      "samples, empty) with a warning each, instead of stopping; noise files "
                      "must always be valid",
    "mixup": "mixup on the features: each training example is mixed with the batch's "
             "example at the mirrored position, weight max(l, 1 - l) for l ~ Beta(a, a), and "
             "learns the same mix of the two labels' cross entropies (0: off)",
}

# Flags that take true/false (alone: true).
BOOL_FLAGS = {f.name for f in fields(TrainConfig) if f.type in (bool, "bool")}



def make_config(**flags) -> TrainConfig:
    """Config from keyword flags (recipe applied under them), validated."""
    recipe = flags.get("recipe", "") or ""
    if recipe and recipe not in RECIPES:
        raise ValueError(f"--recipe '{recipe}' is not one of {', '.join(RECIPES)}")
    unknown = set(flags) - {f.name for f in fields(TrainConfig)}
    if unknown:
        raise ValueError(f"unknown training flag(s): {', '.join(sorted(unknown))}")
    values = {**RECIPES.get(recipe, {}), **flags}
    # A recipe's rates follow the phases given: fewer --how_many_training_steps phases than
    # the recipe's (without --learning_rate) take the recipe's first rates; more phases
    # need the flag given. So do its per-phase folder balances (without --folder_balance).
    recipe_flags = RECIPES.get(recipe, {})
    given = {name: _parse_list(flags[name], str, name) for name in
             ("how_many_training_steps", "learning_rate") if name in flags}
    if "how_many_training_steps" in given:
        phases = len(given["how_many_training_steps"])
        for name in ("learning_rate", "folder_balance"):
            if name in recipe_flags and name not in flags:
                per_phase = _parse_list(recipe_flags[name], str, name)
                if phases < len(per_phase):
                    values[name] = ",".join(per_phase[:phases])
                elif 1 < len(per_phase) < phases:
                    raise ValueError(
                        f"--recipe {recipe} gives --{name} {recipe_flags[name]} for "
                        f"{len(per_phase)} phases: with {phases} --how_many_training_steps "
                        f"phases give --{name} too (one value, or one per phase)")
    if "how_many_training_steps" in recipe_flags and list(given) == ["learning_rate"]:
        steps = _parse_list(recipe_flags["how_many_training_steps"], str,
                            "how_many_training_steps")
        if len(steps) > 1 and len(given["learning_rate"]) != len(steps):
            raise ValueError(
                f"--recipe {recipe} trains {len(steps)} phases (--how_many_training_steps "
                f"{','.join(steps)}): give --learning_rate a rate for each, or "
                "--how_many_training_steps with it")
    # The input an architecture is made for: a recipe's MFCC settings give way to it,
    # explicit flags do not.
    values.update({k: v for k, v in architecture_input(values.get("model_architecture", ""))
                   .items() if k not in flags})
    # A recipe's embedding training applies to the architectures that have the embedding,
    # and its rate to convolutions that train.
    if not str(values.get("model_architecture", "")).startswith("speech_embedding"):
        for name in EMBEDDING_TRAINING:
            if name not in flags:
                values.pop(name, None)
    if not values.get("train_embedding_layers") and "embedding_rate_scale" not in flags:
        values.pop("embedding_rate_scale", None)
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
    _check_schedule(config)
    _check_choices(config)
    _check_ranges(config)
    config.model_settings(12)  # validates the front-end flags
    _check_data_dirs(config)
    _check_checkpoints(config)
    _check_tf_config()


def _check_schedule(config: TrainConfig) -> None:
    """--how_many_training_steps and --learning_rate: equal-length positive lists;
    --folder_balance: one value >= 0, or one per phase."""
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
    config.balances_list = _parse_list(config.folder_balance, float, "folder_balance")
    if len(config.balances_list) not in (1, len(config.steps_list)):
        raise ValueError(
            f"--folder_balance takes one value or one per phase ({len(config.steps_list)} "
            f"in --how_many_training_steps {config.how_many_training_steps}), got "
            f"{config.folder_balance}")
    if any(not (b >= 0 and math.isfinite(b)) for b in config.balances_list):
        raise ValueError(f"--folder_balance must be >= 0, got {config.folder_balance}")


def _check_choices(config: TrainConfig) -> None:
    """Flags that name one of a fixed set."""
    choices = {
        "model_architecture": ARCHITECTURES,
        "optimizer": OPTIMIZERS,
        "lr_schedule": LR_SCHEDULES,
        "augment": AUGMENT_PRESETS,
        "preprocess": PREPROCESS_MODES,
    }
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ValueError(f"--{name} '{value}' is not one of {', '.join(allowed)}")
    if config.preprocess == "micro":
        raise ValueError("--preprocess micro is not implemented by kws's TensorFlow front end "
                         "(kws.train.features): use mfcc, log_mel or average")
    if config.verbosity.upper() not in VERBOSITIES:
        raise ValueError(f"--verbosity '{config.verbosity}' is not one of DEBUG, INFO, WARN, "
                         "ERROR, FATAL")


def _check_ranges(config: TrainConfig) -> None:
    """Numbers that must be positive, percentages, fractions and weights."""
    for name in ("batch_size", "eval_step_interval", "save_step_interval"):
        if getattr(config, name) <= 0:
            raise ValueError(f"--{name} must be positive, got {getattr(config, name)}")
    if config.peers < 1:
        raise ValueError(f"--peers must be >= 1, got {config.peers}")
    if config.peers > 1 and config.model_architecture in TWO_BRANCH:
        raise ValueError(f"--model_architecture {config.model_architecture} trains its two "
                         f"branches side by side; --peers must be 1, got {config.peers}")
    if not 0 <= config.train_embedding_layers <= EMBEDDING_CONVOLUTIONS:
        raise ValueError(f"--train_embedding_layers must be in [0, {EMBEDDING_CONVOLUTIONS}] "
                         f"(the embedding's convolutions), got {config.train_embedding_layers}")
    if (config.train_embedding_layers
            and not str(config.model_architecture).startswith("speech_embedding")):
        raise ValueError(f"--train_embedding_layers trains the pretrained embedding of the "
                         f"speech_embedding architectures; --model_architecture "
                         f"{config.model_architecture} has none")
    if not 0 < config.embedding_rate_scale <= 1:
        raise ValueError(f"--embedding_rate_scale must be in (0, 1], got "
                         f"{config.embedding_rate_scale}")
    if config.embedding_rate_scale != 1 and not config.train_embedding_layers:
        raise ValueError("--embedding_rate_scale sets the rate of the embedding convolutions "
                         "--train_embedding_layers trains; with --train_embedding_layers 0 "
                         "none train")
    for name in ("silence_percentage", "unknown_percentage", "testing_percentage",
                 "validation_percentage"):
        if not 0 <= getattr(config, name) <= 100:
            raise ValueError(f"--{name} must be between 0 and 100, got {getattr(config, name)}")
    if not 0 <= config.background_frequency <= 1:
        raise ValueError(
            f"--background_frequency must be in [0, 1], got {config.background_frequency}")
    for name in ("peer_weight", "mixup", "background_volume"):
        value = getattr(config, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"--{name} must be >= 0, got {value}")
    for name in ("time_shift_ms", "unknown_time_shift_ms"):
        value = getattr(config, name)
        if name == "unknown_time_shift_ms" and value == -1:
            continue
        if not 0 <= value <= config.clip_duration_ms:
            raise ValueError(f"--{name} must be in [0, {config.clip_duration_ms:g}] (the "
                             f"clip's length, --clip_duration_ms), got {value}")
    if not 0 <= config.label_smoothing < 1:
        raise ValueError(f"--label_smoothing must be in [0, 1), got {config.label_smoothing}")


def _check_data_dirs(config: TrainConfig) -> None:
    """Every --data_dir folder exists, unless the one folder is to be downloaded."""
    dirs = [d.strip() for d in config.data_dir.split(",") if d.strip()]
    if not dirs:
        raise ValueError("--data_dir is empty: give at least one dataset folder")
    missing = [d for d in dirs if not Path(d).is_dir()]
    if missing and not (len(dirs) == 1 and config.data_url):
        raise ValueError(f"--data_dir folder {', '.join(missing)} does not exist")


def check_checkpoint_model(meta: dict, what: str, architecture: str,
                           settings: ModelSettings | None,
                           labels: list[str] | None = None) -> None:
    """A checkpoint's recorded model (the model json beside it) against this run's:
    architecture, and front end and settings and labels when this run knows them. `what`
    names the checkpoint in the error."""
    if meta.get("architecture", architecture) != architecture:
        raise ValueError(f"{what} holds a '{meta['architecture']}' model, not "
                         f"--model_architecture '{architecture}'")
    if labels is not None and list(meta.get("labels", labels)) != list(labels):
        raise ValueError(f"{what}: labels {meta['labels']} differ from this dataset's "
                         f"{list(labels)}")
    if (settings is not None and "settings" in meta
            and ModelSettings.from_dict(meta["settings"]) != settings):
        raise ValueError(
            f"{what}: it was trained with the front end/settings {meta['settings']}, this "
            f"run asks for {settings.to_dict()}; pass that run's flags (e.g. --preprocess) "
            "or start a new --train_dir")


def _check_checkpoints(config: TrainConfig) -> None:
    """--start_checkpoint and --init_checkpoint exist and hold this run's model."""
    checks = []
    if config.start_checkpoint:
        if not Path(config.start_checkpoint + ".index").is_file():
            raise ValueError(
                f"--start_checkpoint {config.start_checkpoint}: no such checkpoint "
                f"({config.start_checkpoint}.index not found)"
            )
        checkpoint_variables(config.start_checkpoint,
                             f"--start_checkpoint {config.start_checkpoint}")
        meta = read_model_json_for(config.start_checkpoint, required=False)
        if meta:
            checks.append((meta, f"--start_checkpoint {config.start_checkpoint}"))
    if config.init_checkpoint:
        init = resolve_checkpoint(config.init_checkpoint, "--init_checkpoint")
        checkpoint_variables(init, f"--init_checkpoint {init}")
        checks.append((read_model_json_for(init), f"--init_checkpoint {config.init_checkpoint}"))
    for meta, what in checks:
        # The label count is part of the settings; without the checkpoint's labels only
        # the architecture can be checked here (restore() checks the rest).
        settings = config.model_settings(len(meta["labels"])) if "labels" in meta else None
        check_checkpoint_model(meta, what, config.model_architecture, settings)


def _check_tf_config() -> None:
    """TF_CONFIG, when set, describes a cluster."""
    if not os.environ.get("TF_CONFIG"):
        return
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        tf_config["cluster"], tf_config["task"]["type"]  # noqa: B018
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"TF_CONFIG is not a valid cluster description: {e}") from None


def phase_starts(config: TrainConfig) -> set[int]:
    """The first steps (1-based) of the learning-rate phases after the first."""
    starts, start = set(), 0
    for steps in config.steps_list[:-1]:
        start += steps
        starts.add(start + 1)
    return starts


def _phase(step: int, config: TrainConfig) -> tuple[int, int] | None:
    """(index, steps before it) of the phase holding training step `step` (1-based); None
    past the last phase."""
    start = 0
    for i, steps in enumerate(config.steps_list):
        if step <= start + steps:
            return i, start
        start += steps
    return None


def folder_balance_at(step: int, config: TrainConfig) -> float:
    """--folder_balance of the phase holding training step `step` (1-based)."""
    if len(config.balances_list) == 1:
        return config.balances_list[0]
    phase = _phase(step, config)
    return config.balances_list[-1 if phase is None else phase[0]]


def learning_rate_at(step: int, config: TrainConfig) -> float:
    """Rate used for training step `step` (1-based), from the phases and the schedule."""
    phase = _phase(step, config)
    if phase is None:
        return config.rates_list[-1]
    i, start = phase
    rate = config.rates_list[i]
    if config.lr_schedule == "cosine":
        progress = (step - 1 - start) / config.steps_list[i]
        return rate * 0.5 * (1.0 + math.cos(math.pi * progress))
    return rate
