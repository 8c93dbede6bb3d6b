"""Dataset index for the Speech Commands layout: labels, the classic hash split, checks.

A dataset is a folder with one sub-folder per word holding 16-bit PCM mono WAV clips.
`_background_noise_/` holds long noise recordings (never a label) and `_silence_/` holds
recorded silence clips (used as real examples of `_silence_`). Several folders can be
merged by label, e.g. a synthetic dataset made by `kws make-dataset` plus real speech.

`kws.train.pipeline` turns an index into a `tf.data` pipeline.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import random
import re
from pathlib import Path

import numpy as np

from kws.labels import (
    BACKGROUND_NOISE_DIR_NAME,
    SILENCE_LABEL,
    UNKNOWN_WORD_LABEL,
    parse_wanted_words,
    prepare_words_list,
)
from kws.wav_io import read_wav_at, wav_info

PARTITIONS = ("training", "validation", "testing")
SILENCE_DIR_NAME = SILENCE_LABEL  # a `_silence_/` folder holds recorded silence clips
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # ~134M: the classic split's hash modulus minus one
RANDOM_SEED = 59185  # the classic tool's fixed seed for the unknown/silence draw
_NOHASH_RE = re.compile(r"_nohash_.*$")
LOG = logging.getLogger("kws.data")


def which_set(filename: str, validation_percentage: float, testing_percentage: float) -> str:
    """Partition of a clip by its file name: 'training', 'validation' or 'testing'.

    Bit-exact with the classic speech-commands split: the base name up to `_nohash_` is
    SHA-1 hashed, so all clips of one speaker share a partition.
    """
    base_name = os.path.basename(filename)
    hash_name = _NOHASH_RE.sub("", base_name)
    hashed = hashlib.sha1(hash_name.encode("utf-8")).hexdigest()
    percentage_hash = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (
        100.0 / MAX_NUM_WAVS_PER_CLASS
    )
    if percentage_hash < validation_percentage:
        return "validation"
    if percentage_hash < testing_percentage + validation_percentage:
        return "testing"
    return "training"


# --------------------------------------------------------------------------- the index


def _split_dirs(data_dir: str | os.PathLike | list) -> list[Path]:
    if isinstance(data_dir, (list, tuple)):
        parts = [os.fspath(d) for d in data_dir]
    else:
        parts = os.fspath(data_dir).split(",")
    dirs = [Path(p.strip()) for p in parts if p.strip()]
    if not dirs:
        raise ValueError("--data_dir is empty: give at least one dataset folder")
    return dirs


class DatasetIndex:
    """The clips of one or several Speech Commands folders, labelled and split.

    Attributes:
      labels: ['_silence_', '_unknown_', *wanted_words] (model output order).
      data: {'training'|'validation'|'testing': [(path or None, label_index), ...]};
        None is a silence entry made from background noise by the pipeline.
      background_noise: list of float32 arrays (mono, at `sample_rate`).
      background_noise_files: their paths, in the same order.
      converted: paths of clips that are not 16-bit mono at `sample_rate` and need the
        Python reader (only with resample=True).
      words: every word folder found, {word: clip count}.

    The draw is the classic one: per partition, ceil(n_wanted * silence% / 100) silence
    entries and ceil(n_wanted * unknown% / 100) unknown clips taken from a shuffled list
    (fixed `seed`), then the partition is shuffled. Recorded `_silence_/` clips (real
    examples of `_silence_`, augmented like word clips) fill up to half of the silence
    entries; the others (path None) are made from background noise.
    Folders are merged by label; `data_dir` is a list or a comma-separated string. A folder
    listed k times gives its training clips k times (oversampling scarce data) but its
    validation and testing clips once.

    `folder_balance` F > 0 oversamples small folders automatically instead: with n_max the
    most wanted-word training clips of any one folder and n its own, every other folder
    is used round(F * n_max / n) times (at least once) and the largest once; each
    distinct folder counts once, however often it is listed. `folder_repeats` says how
    often each distinct folder was used.

    `negatives_dir` (a folder, a list or a comma-separated string) holds hard negatives, such
    as `kws mine-negatives` writes: its `_silence_/` clips are silence entries and the clips
    of its other folders unknown-word entries, every one of them in the training partition
    on top of the draw above (the draw itself is unchanged); a keyword folder there is an
    error. `negatives` counts them by label.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike | list,
        wanted_words: str | list[str],
        silence_percentage: float = 10.0,
        unknown_percentage: float = 10.0,
        validation_percentage: float = 10.0,
        testing_percentage: float = 10.0,
        sample_rate: int = 16000,
        clip_duration_ms: float = 1000.0,
        resample: bool = False,
        seed: int = RANDOM_SEED,
        folder_balance: float = 0.0,
        skip_bad_clips: bool = False,
        negatives_dir: str | os.PathLike | list | None = None,
    ) -> None:
        for name, value in (
            ("silence_percentage", silence_percentage),
            ("unknown_percentage", unknown_percentage),
            ("validation_percentage", validation_percentage),
            ("testing_percentage", testing_percentage),
        ):
            if not 0 <= value <= 100:
                raise ValueError(f"--{name} must be between 0 and 100, got {value}")
        if validation_percentage + testing_percentage > 100:
            raise ValueError(
                "--validation_percentage + --testing_percentage exceed 100: "
                f"{validation_percentage} + {testing_percentage}"
            )
        self.data_dirs = _split_dirs(data_dir)
        self.wanted_words = parse_wanted_words(wanted_words)
        for w in self.wanted_words:
            if w in (SILENCE_LABEL, UNKNOWN_WORD_LABEL, BACKGROUND_NOISE_DIR_NAME):
                raise ValueError(f"--wanted_words cannot contain the reserved label '{w}'")
        self.labels = prepare_words_list(self.wanted_words)
        self.sample_rate = int(sample_rate)
        self.clip_duration_ms = float(clip_duration_ms)
        self.desired_samples = int(self.sample_rate * self.clip_duration_ms / 1000)
        self.resample = bool(resample)
        self.skip_bad_clips = bool(skip_bad_clips)
        self.skipped: list[tuple[str, str]] = []  # (path, problem) with skip_bad_clips
        self.seed = seed
        self.silence_percentage = silence_percentage
        self.unknown_percentage = unknown_percentage
        self.validation_percentage = validation_percentage
        self.testing_percentage = testing_percentage
        self.converted: set[str] = set()
        if not (folder_balance >= 0 and math.isfinite(folder_balance)):
            raise ValueError(f"--folder_balance must be >= 0, got {folder_balance}")
        if folder_balance > 0:
            self.data_dirs = self._balanced_dirs(folder_balance)
        self.folder_repeats = {str(d): self.data_dirs.count(d)
                               for d in dict.fromkeys(self.data_dirs)}
        self.negatives_dirs = _split_dirs(negatives_dir) if negatives_dir else []
        self.negatives = {SILENCE_LABEL: 0, UNKNOWN_WORD_LABEL: 0}
        self._index_clips()
        self._load_background_noise()

    # -- clips

    @staticmethod
    def _word_folders(d: Path, what: str) -> list[tuple[str, Path]]:
        """(word, sub-folder) for the word folders of `d` (not the noise), sorted; `what`
        names `d` in the error when it is not a folder."""
        if not d.is_dir():
            raise ValueError(f"{what} {d} does not exist or is not a folder")
        return [(sub.name.lower(), sub) for sub in sorted(d.iterdir())
                if sub.is_dir() and sub.name.lower() != BACKGROUND_NOISE_DIR_NAME]

    def _find_wavs(self) -> list[tuple[str, str]]:
        """(word, path) for every clip in every data folder, sorted for determinism."""
        found: list[tuple[str, str]] = []
        for d in self.data_dirs:
            for word, sub in self._word_folders(d, "dataset folder"):
                for name in sorted(os.listdir(sub)):
                    if name.lower().endswith(".wav"):
                        found.append((word, str(sub / name)))
        return found

    def _balanced_dirs(self, balance: float) -> list[Path]:
        """The distinct data folders, each repeated as `folder_balance` asks."""
        counts: dict[Path, int] = {}
        for d in dict.fromkeys(self.data_dirs):
            if not d.is_dir():
                raise ValueError(f"dataset folder {d} does not exist or is not a folder")
            n = 0
            for sub in d.iterdir():
                if sub.is_dir() and sub.name.lower() in self.wanted_words:
                    n += sum(1 for name in os.listdir(sub) if name.lower().endswith(".wav")
                             and which_set(str(sub / name), self.validation_percentage,
                                           self.testing_percentage) == "training")
            counts[d] = n
        largest = max(counts, key=lambda d: counts[d])
        dirs: list[Path] = []
        for d, n in counts.items():
            repeats = 1
            if d != largest and n > 0:
                repeats = max(1, round(balance * counts[largest] / n))
            dirs.extend([d] * repeats)
        return dirs

    def _check_clip(self, path: str) -> bool:
        """Validates a clip before any training step: read through the core as read_wav
        reads it (regular file, all declared data present in whole frames, finite
        samples), not empty, at the rate and format (or --resample). Returns False for a
        bad clip with skip_bad_clips (after a warning); raises ValueError naming the file
        otherwise."""
        try:
            try:
                info = wav_info(path)
            except OSError as e:
                raise ValueError(str(e)) from None
            if info.frames == 0:
                raise ValueError(f"{path}: the WAV file holds no samples")
            if not (info.is_pcm16_mono and info.sample_rate == self.sample_rate):
                if not self.resample:
                    if info.sample_rate != self.sample_rate:
                        raise ValueError(
                            f"{path}: sample rate {info.sample_rate} Hz, expected "
                            f"{self.sample_rate} Hz (pass --resample to convert clips at other "
                            "rates)"
                        )
                    raise ValueError(
                        f"{path}: {info.channels} channel(s), {info.bits_per_sample}-bit; "
                        "expected 16-bit PCM mono (pass --resample to convert)"
                    )
                self.converted.add(path)
        except ValueError as e:
            if not self.skip_bad_clips:
                raise
            self.skipped.append((path, str(e)))
            LOG.warning("skipping a bad clip (--skip_bad_clips): %s", e)
            return False
        return True

    def _index_clips(self) -> None:
        wanted_index = {w: i + 2 for i, w in enumerate(self.wanted_words)}
        wanted: dict[str, list] = {p: [] for p in PARTITIONS}
        unknown: dict[str, list] = {p: [] for p in PARTITIONS}
        recorded_silence: dict[str, list] = {p: [] for p in PARTITIONS}
        words: dict[str, int] = {}
        seen: set[str] = set()
        bad: set[str] = set()
        for word, path in self._find_wavs():
            part = which_set(path, self.validation_percentage, self.testing_percentage)
            if path in seen and part != "training":
                continue  # a repeated folder oversamples training only
            if path in bad:
                continue
            if path not in seen:
                if not self._check_clip(path):
                    bad.add(path)
                    continue
                words[word] = words.get(word, 0) + 1
            seen.add(path)
            if word in wanted_index:
                wanted[part].append((path, wanted_index[word]))
            elif word == SILENCE_DIR_NAME:
                recorded_silence[part].append((path, 0))
            else:
                unknown[part].append((path, 1))
        if not words:
            dirs = ", ".join(str(d) for d in self.data_dirs)
            raise ValueError(f"no .wav clips found in the word folders of {dirs}")
        missing = [w for w in self.wanted_words if w not in words]
        if missing:
            dirs = ", ".join(str(d) for d in self.data_dirs)
            raise ValueError(
                f"wanted word(s) {', '.join(missing)} have no clips in {dirs}; "
                f"found: {', '.join(sorted(words))}"
            )
        self.words = words
        rng = random.Random(self.seed)
        self.data: dict[str, list[tuple[str | None, int]]] = {}
        for part in ("validation", "testing", "training"):  # classic order (same draws)
            entries = list(wanted[part])
            set_size = len(entries)
            silence_size = int(math.ceil(set_size * self.silence_percentage / 100))
            # Up to half of the silence entries are recorded `_silence_/` clips (a seeded
            # draw), the rest is made from background noise by the pipeline.
            recorded = recorded_silence[part]
            rng_recorded = random.Random(f"{self.seed}:{part}")
            rng_recorded.shuffle(recorded)
            recorded = recorded[: (silence_size + 1) // 2]
            entries.extend([(None, 0)] * (silence_size - len(recorded)))
            entries.extend(recorded)
            rng.shuffle(unknown[part])
            unknown_size = int(math.ceil(set_size * self.unknown_percentage / 100))
            entries.extend(unknown[part][:unknown_size])
            self.data[part] = entries
        self.data["training"].extend(self._negative_entries())
        for part in ("validation", "testing", "training"):
            rng.shuffle(self.data[part])

    def _negative_entries(self) -> list[tuple[str, int]]:
        """Training entries of the clips in the negatives folders: `_silence_/` as silence,
        other folders as unknown words."""
        entries = []
        for d in dict.fromkeys(self.negatives_dirs):
            for word, sub in self._word_folders(d, "negatives folder"):
                if word in self.wanted_words:
                    raise ValueError(f"negatives folder {d} holds a keyword folder '{sub.name}': "
                                     "hard negatives are clips of no keyword")
                label = 0 if word == SILENCE_DIR_NAME else 1
                for name in sorted(os.listdir(sub)):
                    path = str(sub / name)
                    if name.lower().endswith(".wav") and self._check_clip(path):
                        entries.append((path, label))
                        self.negatives[self.labels[label]] += 1
        return entries

    # -- noise

    def _load_background_noise(self) -> None:
        self.background_noise: list[np.ndarray] = []
        self.background_noise_files: list[str] = []
        for d in dict.fromkeys(self.data_dirs):  # a repeated folder's noise once
            noise_dir = d / BACKGROUND_NOISE_DIR_NAME
            if not noise_dir.is_dir():
                continue
            files = sorted(
                str(noise_dir / n) for n in os.listdir(noise_dir) if n.lower().endswith(".wav")
            )
            if not files:
                raise ValueError(f"{noise_dir} holds no .wav noise files")
            for path in files:  # noise is never skipped: each file is needed
                info = wav_info(path)
                if info.sample_rate != self.sample_rate and not self.resample:
                    raise ValueError(
                        f"{path}: sample rate {info.sample_rate} Hz, expected "
                        f"{self.sample_rate} Hz (pass --resample to convert)"
                    )
                noise = read_wav_at(path, self.sample_rate)
                if len(noise) < self.desired_samples:
                    raise ValueError(
                        f"{path}: noise file is shorter ({len(noise)} samples) than one clip "
                        f"({self.desired_samples} samples)"
                    )
                self.background_noise.append(noise)
                self.background_noise_files.append(path)

    # -- queries

    def set_size(self, partition: str) -> int:
        """Number of entries (clips and silence entries) in a partition."""
        if partition not in self.data:
            raise ValueError(f"unknown partition '{partition}': one of {', '.join(PARTITIONS)}")
        return len(self.data[partition])

    def label_counts(self, partition: str) -> list[int]:
        """Entries per label in a partition, in label order."""
        counts = [0] * len(self.labels)
        for _, label in self.data[partition]:
            counts[label] += 1
        return counts

    def load_clip(self, path: str | None) -> np.ndarray:
        """One clip's samples at the index's rate, zero-padded or cropped to clip length.

        None (a silence entry) gives zeros.
        """
        out = np.zeros(self.desired_samples, dtype=np.float32)
        if path is None:
            return out
        x = read_wav_at(path, self.sample_rate)[: self.desired_samples]
        out[: len(x)] = x
        return out

    def summary(self) -> str:
        parts = ", ".join(f"{p} {self.set_size(p)}" for p in PARTITIONS)
        repeated = ", ".join(f"{d} x{k}" for d, k in self.folder_repeats.items() if k > 1)
        return (
            f"{len(self.labels)} labels ({', '.join(self.labels)}); {parts}; "
            f"{len(self.background_noise)} noise files"
            + (f"; training clips repeated: {repeated}" if repeated else "")
            + (f"; hard negatives: {self.negatives[UNKNOWN_WORD_LABEL]} unknown, "
               f"{self.negatives[SILENCE_LABEL]} silence" if self.negatives_dirs else "")
        )
