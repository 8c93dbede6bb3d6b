"""`kws gen-stream` and the native hash split it uses: agreement with kws.train.data.which_set and
hashlib, output duration, ground truth at the words' energy, seed reproducibility, testing
partition only, on the real sample and on a small synthetic dataset."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

import kws
import kws.labels
from kws import _core
from kws.cli import main as kws_main
from kws.train import data


def test_sha1_matches_hashlib():
    rng = random.Random(3)
    for n in list(range(0, 130)) + [1000, 4095, 4096, 100001]:
        s = "".join(rng.choice("abcdef0123456789_-é") for _ in range(n))
        assert _core.sha1_hex(s) == hashlib.sha1(s.encode("utf-8")).hexdigest()


def test_native_split_equals_python_split(sample_dir: Path):
    names = [str(p) for p in sample_dir.glob("*/*.wav") if not p.parent.name.startswith("_")]
    assert len(names) > 2000
    # The sample is all testing partition: add many speaker-like names to hit every branch.
    rng = random.Random(11)
    names += [f"/d/w/{rng.getrandbits(32):08x}_nohash_{rng.randrange(5)}.wav" for _ in range(6000)]
    for validation, testing in [(10, 10), (5, 30), (0, 50), (12.5, 7.25)]:
        seen = set()
        for name in names:
            expected = data.which_set(name, validation, testing)
            assert _core.which_set_native(name, validation, testing) == expected, name
            seen.add(expected)
        assert seen == ({"training", "validation", "testing"} if validation else
                        {"training", "testing"})


def _make_dataset(root: Path, rng: np.random.Generator) -> dict[str, list[str]]:
    """Tone 'words' of 0.5 s inside 1 s clips, 40 speakers per word, plus a noise file."""
    files: dict[str, list[str]] = {}
    for k, word in enumerate(["yes", "no", "cat", "dog"]):
        (root / word).mkdir(parents=True)
        for s in range(40):
            clip = np.zeros(16000, np.float32)
            t = np.arange(8000) / 16000
            clip[4000:12000] = 0.5 * np.sin(2 * np.pi * (300 + 150 * k) * t)
            name = str(root / word / f"{s * 7919 + 12345:08x}_nohash_0.wav")
            kws.write_wav(name, clip, 16000)
            files.setdefault(word, []).append(name)
    (root / "_background_noise_").mkdir()
    kws.write_wav(str(root / "_background_noise_" / "noise.wav"),
                  rng.uniform(-1, 1, 16000 * 20).astype(np.float32), 16000)
    return files


def test_synthetic_dataset_uses_only_the_testing_partition(tmp_path: Path):
    files = _make_dataset(tmp_path / "ds", np.random.default_rng(0))
    testing = {f for fs in files.values() for f in fs if data.which_set(f, 10, 10) == "testing"}
    training = {f for fs in files.values() for f in fs if data.which_set(f, 10, 10) == "training"}
    assert testing and training
    out = _core.generate_stream(str(tmp_path / "ds"), wanted_words=["yes", "no"],
                                duration_seconds=300, background_volume=0.0, seed=5)
    assert out["testing_clips"] == len(testing)
    used = set(out["word_files"])
    assert used <= testing
    assert len(used) > 5
    labels = [w for w, _ in out["ground_truth"]]
    assert set(labels) == {"yes", "no", "_unknown_"}
    share = labels.count("_unknown_") / len(labels)
    assert 0.15 < share < 0.45  # 30% by default
    # Each word's tone sits exactly at its ground-truth time (+ 250 ms inside its clip).
    samples = out["samples"]
    for (word, ms), offset in zip(out["ground_truth"], out["word_offsets"]):
        assert ms == offset * 1000 // 16000
        assert np.abs(samples[offset + 4100: offset + 11900]).max() > 0.4
        assert np.abs(samples[offset: offset + 3990]).max() == 0.0


def test_cli_writes_a_reproducible_stream_from_the_real_sample(tmp_path: Path, sample_dir: Path):
    args = ["gen-stream", "--data_dir", str(sample_dir), "--duration_seconds", "60",
            "--seed", "42"]
    assert kws_main([*args, "--output_wav", str(tmp_path / "a.wav")]) == 0
    assert kws_main([*args, "--output_wav", str(tmp_path / "b.wav")]) == 0
    assert kws_main([*args[:-1], "43", "--output_wav", str(tmp_path / "c.wav")]) == 0
    a = (tmp_path / "a.wav").read_bytes()
    assert a == (tmp_path / "b.wav").read_bytes()
    assert a != (tmp_path / "c.wav").read_bytes()
    assert (tmp_path / "a.txt").read_text() == (tmp_path / "b.txt").read_text()

    samples, rate = kws.read_wav(str(tmp_path / "a.wav"))
    assert rate == 16000 and len(samples) == 60 * 16000
    truth = _core.read_ground_truth(str(tmp_path / "a.txt"))
    assert truth["malformed_lines"] == 0
    entries = truth["entries"]
    assert len(entries) == 20
    wanted = set(kws.labels.DEFAULT_WANTED_WORDS.split(",")) | {"_unknown_"}
    louder = 0
    for i, (word, ms) in enumerate(entries):
        assert word in wanted
        assert i * 3000 <= ms < i * 3000 + 2000
        start = ms * 16
        word_rms = np.sqrt(np.mean(samples[start: start + 16000] ** 2))
        before = samples[max(0, start - 8000): start]
        louder += before.size == 0 or word_rms > np.sqrt(np.mean(before ** 2))
    assert louder >= 18  # real speech stands out from the noise around it


def test_cli_makes_a_stream_of_other_words_only(tmp_path: Path, sample_dir: Path, capsys):
    """At --unknown_percentage 100 a folder without any wanted word makes a stream, every
    word of it `_unknown_`; below 100 the missing wanted word is an error."""
    data_dir = tmp_path / "other_words"
    for word in ("bed", "cat", "dog"):
        (data_dir / word).mkdir(parents=True)
        for wav in (sample_dir / word).glob("*.wav"):
            (data_dir / word / wav.name).symlink_to(wav)
    wav = tmp_path / "other.wav"
    args = ["gen-stream", "--data_dir", str(data_dir), "--output_wav", str(wav),
            "--validation_percentage", "0", "--testing_percentage", "100",
            "--background_volume", "0", "--duration_seconds", "30"]
    assert kws_main([*args, "--unknown_percentage", "100"]) == 0
    entries = _core.read_ground_truth(str(tmp_path / "other.txt"))["entries"]
    assert len(entries) == 10 and {word for word, _ in entries} == {"_unknown_"}
    samples, _ = kws.read_wav(str(wav))
    assert np.count_nonzero(samples) > 0
    capsys.readouterr()
    assert kws_main([*args, "--unknown_percentage", "99"]) == 1
    assert "no clips of wanted word 'down'" in capsys.readouterr().err


def test_errors_are_value_errors(tmp_path: Path, sample_dir: Path):
    with pytest.raises(ValueError, match="'maybe'"):
        _core.generate_stream(str(sample_dir), wanted_words=["yes", "maybe"], duration_seconds=5)
    with pytest.raises(ValueError, match="does not exist"):
        _core.generate_stream(str(tmp_path / "none"), duration_seconds=5)
