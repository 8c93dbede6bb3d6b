"""Multi-worker training: two worker processes on 127.0.0.1 (CPU) with TF_CONFIG. Both
finish, only the chief writes checkpoints, and the model evaluates as well as a
single-worker run of the same configuration."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import kws
from kws.commands import train as train_command
from kws.train import loop

# Subprocesses import the same kws as this test process (installed or in-tree).
KWS_PATH = str(Path(kws.__file__).resolve().parents[1])
WORDS = "yes,no,up,down"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flags(data_dir: Path, train_dir: Path, logs: Path) -> list[str]:
    return ["--data_dir", str(data_dir), "--wanted_words", WORDS,
            "--model_architecture", "tiny_conv", "--window_stride_ms", "20",
            "--feature_bin_count", "20", "--optimizer", "adam", "--batch_size", "20",
            "--how_many_training_steps", "40", "--learning_rate", "0.01",
            "--eval_step_interval", "20", "--save_step_interval", "10", "--seed", "3",
            "--train_dir", str(train_dir), "--summaries_dir", str(logs),
            "--progress", "false", "--verbose"]


def _test_accuracy(checkpoint_dir: Path, data_dir: Path) -> float:
    return loop.evaluate_checkpoint(checkpoint_dir, str(data_dir))["accuracy"]


@pytest.mark.slow
def test_two_workers(tmp_path, tone_dataset):
    data = tone_dataset(tmp_path / "data", speakers=60)
    train_dir = tmp_path / "train"
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {**os.environ, "PYTHONPATH": KWS_PATH,
               "TF_CONFIG": json.dumps({"cluster": cluster,
                                        "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "kws.cli", "train",
             *_flags(data, train_dir, tmp_path / f"logs{i}")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env))
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=900)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, log) in enumerate(zip(procs, logs)):
        assert p.returncode == 0, f"worker {i}:\n{log[-3000:]}"
        assert re.search(r"Step #40: rate 0.010000", log), f"worker {i} did not finish"
    # Only the chief (worker 0) saves checkpoints and reports.
    assert "Saving to" in logs[0] and "Saving to" not in logs[1]
    assert "Final test accuracy" in logs[0] and "Final test accuracy" not in logs[1]
    saved = sorted(p.name for p in train_dir.glob("tiny_conv.ckpt-*.index"))
    assert saved == [f"tiny_conv.ckpt-{s}.index" for s in (10, 20, 30, 40)]
    # Both workers took the same synchronous steps: identical losses logged.
    losses = [re.findall(r"Step #\d+: .*cross entropy ([\d.]+)", log) for log in logs]
    assert losses[0] == losses[1] and len(losses[0]) == 40
    distributed = _test_accuracy(train_dir, data)

    single_dir = tmp_path / "single"
    assert train_command.main(_flags(data, single_dir, tmp_path / "logs_single")) == 0
    single = _test_accuracy(single_dir, data)
    assert distributed >= 0.8
    assert distributed >= single - 0.1
