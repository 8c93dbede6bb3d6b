"""Bad audio and unusable outputs given to `kws train`: every clip, noise and silence file
is validated while indexing (before any step) with an error naming it, or left out with
--skip_bad_clips; a run whose loss or weights become non-finite stops with an error; the
output folders are checked and --train_dir is locked before the long work."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import make_tone_dataset
from test_train import COMMON

from kws.commands import train as train_command
from kws.train import loop
from kws.train.data import DatasetIndex, which_set

WORDS = "yes,no,up,down"


@pytest.fixture(scope="module")
def tones(tmp_path_factory) -> Path:
    return make_tone_dataset(tmp_path_factory.mktemp("tones_inputs"), speakers=24)


def _copy_dataset(src: Path, dst: Path) -> Path:
    for p in src.rglob("*.wav"):
        target = dst / p.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(p.read_bytes())
    return dst


def _pcm16(samples: np.ndarray, rate: int = 16000) -> bytes:
    data = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    return (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, rate, 2 * rate, 2, 16)
            + b"data" + struct.pack("<I", len(data)) + data)


def _training_name(stem: str) -> str:
    """A clip name that the hash split puts in the training partition."""
    for i in range(1000):
        name = f"{stem}{i}_nohash_0.wav"
        if which_set(name, 10, 10) == "training":
            return name
    raise AssertionError("no training name")


def _bad_clips() -> dict[str, tuple[bytes, str]]:
    """name -> (bytes, the problem the error must name)."""
    good = _pcm16(0.1 * np.sin(np.arange(16000) / 5))
    nan = np.full(16000, 0.1, "<f4")
    nan[1234] = np.nan
    data = nan.tobytes()
    float_nan = (b"RIFF" + struct.pack("<I", 50 + len(data)) + b"WAVE" + b"fmt "
                 + struct.pack("<IHHIIHHH", 18, 3, 1, 16000, 64000, 4, 32, 0)
                 + b"fact" + struct.pack("<II", 4, 16000)
                 + b"data" + struct.pack("<I", len(data)) + data)
    truncated = good[:-1000]  # the header still declares the full data
    odd = bytearray(good[:-1])  # 31999 data bytes: not whole 16-bit frames
    odd[40:44] = struct.pack("<I", 31999)
    odd[4:8] = struct.pack("<I", len(odd) - 8)
    huge = bytearray(good)
    huge[40:44] = struct.pack("<I", 0xFFFFFFF0)  # declares 4 GB
    empty = _pcm16(np.zeros(0))
    return {
        _training_name("nan"): (float_nan, "sample 1234 of channel 0 is NaN"),
        _training_name("cut"): (truncated, "truncated: data chunk declares 32000 bytes"),
        _training_name("odd"): (bytes(odd), "not a whole number of 2-byte frames"),
        _training_name("huge"): (bytes(huge), "data chunk declares 4294967280 bytes"),
        _training_name("empty"): (empty, "holds no samples"),
    }


def test_each_bad_clip_is_an_error_naming_it_while_indexing(tones, tmp_path):
    for name, (data, problem) in _bad_clips().items():
        root = _copy_dataset(tones, tmp_path / name)
        bad = root / "yes" / name
        bad.write_bytes(data)
        with pytest.raises(ValueError) as e:
            DatasetIndex(str(root), WORDS)
        assert str(bad) in str(e.value) and problem in str(e.value), str(e.value)


def test_skip_bad_clips_warns_and_leaves_them_out(tones, tmp_path, caplog):
    root = _copy_dataset(tones, tmp_path / "ds")
    bad = _bad_clips()
    for name, (data, _) in bad.items():
        (root / "no" / name).write_bytes(data)
    index = DatasetIndex(str(root), WORDS, skip_bad_clips=True)
    clean = DatasetIndex(str(tones), WORDS)
    assert sorted(Path(p).name for p, _ in index.skipped) == sorted(bad)
    # The same draw as the dataset without them.
    assert {part: [(p.replace(str(root), str(tones)) if p else p, label) for p, label in e]
            for part, e in index.data.items()} == clean.data
    assert sum("skipping a bad clip" in r.message for r in caplog.records) == len(bad)


def test_bad_noise_file_is_an_error(tones, tmp_path):
    root = _copy_dataset(tones, tmp_path / "noisy")
    noise = np.full(48000, 0.05, "<f4")
    noise[40000] = np.inf
    data = noise.tobytes()
    (root / "_background_noise_" / "inf.wav").write_bytes(
        b"RIFF" + struct.pack("<I", 50 + len(data)) + b"WAVE" + b"fmt "
        + struct.pack("<IHHIIHHH", 18, 3, 1, 16000, 64000, 4, 32, 0)
        + b"fact" + struct.pack("<II", 4, 48000) + b"data" + struct.pack("<I", len(data)) + data)
    with pytest.raises(ValueError, match=r"inf\.wav: sample 40000 of channel 0 is infinite"):
        DatasetIndex(str(root), WORDS, skip_bad_clips=True)


def test_resample_is_a_train_flag():
    assert train_command.parse_config(["--resample", "--skip_bad_clips"]).resample is True
    assert train_command.parse_config([]).resample is False


def _train(args: list[str]) -> int:
    return train_command.main([*COMMON, "--progress", "false", *args])


def test_outputs_are_checked_before_the_work(tones, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    base = ["--data_dir", str(tones), "--train_dir", str(tmp_path / "t")]
    assert _train([*base, "--summaries_dir", str(blocker / "logs")]) == 1
    err = capsys.readouterr().err
    assert f"--summaries_dir {blocker / 'logs'}: cannot write there" in err
    assert "Step #" not in err and "dataset:" not in err  # before indexing and training
    assert _train(["--data_dir", str(tones), "--train_dir", str(blocker / "t"),
                   "--summaries_dir", str(tmp_path / "s")]) == 1
    assert "--train_dir" in capsys.readouterr().err


def test_a_busy_train_dir_is_refused_naming_its_holder(tones, tmp_path, capsys):
    train_dir = tmp_path / "t"
    train_dir.mkdir()
    held = loop.lock_train_dir(train_dir)
    try:
        assert _train(["--data_dir", str(tones), "--train_dir", str(train_dir),
                       "--summaries_dir", str(tmp_path / "s"),
                       "--how_many_training_steps", "1", "--learning_rate", "0.001"]) == 1
        err = capsys.readouterr().err
        assert re.search(rf"--train_dir {re.escape(str(train_dir))} is in use by another kws "
                         rf"train \(pid {os.getpid()} on .+ since .+\)", err), err
    finally:
        held.close()


def test_non_finite_loss_stops_training_without_check_nans(tones, tmp_path, capsys):
    train_dir = tmp_path / "t"
    code = _train(["--optimizer", "gradient_descent", "--data_dir", str(tones),
                   "--how_many_training_steps", "30", "--learning_rate", "1e30",
                   "--save_step_interval", "1", "--train_dir", str(train_dir),
                   "--summaries_dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 1
    assert re.search(r"kws train: error: (the loss is (nan|inf) at step \d+|weights became "
                     r"NaN/Inf by step \d+)", err), err[-2000:]
    assert "Final test accuracy" not in err
    # Every checkpoint that was written holds finite weights.
    import tensorflow as tf

    for prefix in tf.train.get_checkpoint_state(str(train_dir)).all_model_checkpoint_paths \
            if tf.train.get_checkpoint_state(str(train_dir)) else []:
        reader = tf.train.load_checkpoint(prefix)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.isfinite(value).all(), (prefix, name)
