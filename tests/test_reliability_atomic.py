"""Atomic output files: a write that fails part-way (no permission, the file-size limit
hit mid-write as on a full disk) leaves no half-written file under the final name, keeps
the previous file intact and leaves no temporary file behind. Covers kws.write_wav, the
model.kws exporter and the training state files. Failing writes run in child processes
(RLIMIT_FSIZE makes write() fail with EFBIG part-way through)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import kws


def _child(code: str, limit_bytes: int) -> subprocess.CompletedProcess:
    """Runs `code` with the file-size limit set to `limit_bytes` (SIGXFSZ ignored, so the
    write returns EFBIG instead of killing the process)."""
    prelude = (
        "import resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))\n"
    )
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True,
                          text=True, timeout=300)


def _speech(speech_dir: Path) -> np.ndarray:
    samples, _ = kws.read_wav(str(sorted((speech_dir / "yes").glob("*.wav"))[0]))
    return samples


def test_write_wav_failing_mid_write_keeps_previous_file(tmp_path: Path, speech_dir: Path):
    target = tmp_path / "out.wav"
    old = _speech(speech_dir)[:4000]
    kws.write_wav(str(target), old, 16000)
    before = target.read_bytes()
    new = np.tile(_speech(speech_dir), 4)  # 128 KB: cannot fit under the 64 KB limit
    code = f"""
import numpy as np, kws
try:
    kws.write_wav({str(target)!r}, np.load({str(tmp_path / 'new.npy')!r}), 16000)
except Exception as e:
    print("error:", type(e).__name__, e)
else:
    print("no error")
"""
    np.save(tmp_path / "new.npy", new)
    result = _child(code, 64 * 1024)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("error:"), result.stdout
    assert "out.wav" in result.stdout  # the message names the file
    assert target.read_bytes() == before  # previous file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.npy", "out.wav"]  # no temp left
    # Without the limit the same write succeeds and replaces the file completely.
    kws.write_wav(str(target), new, 16000)
    back, rate = kws.read_wav(str(target))
    assert rate == 16000 and len(back) == len(new)


def test_write_wav_to_missing_folder_or_directory_fails_cleanly(tmp_path: Path, speech_dir: Path):
    with pytest.raises(OSError, match="missing"):
        kws.write_wav(str(tmp_path / "missing" / "out.wav"), _speech(speech_dir), 16000)
    (tmp_path / "adir").mkdir()
    with pytest.raises(OSError, match="adir"):
        kws.write_wav(str(tmp_path / "adir"), _speech(speech_dir), 16000)
    assert (tmp_path / "adir").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


@pytest.mark.slow
def test_model_export_failing_mid_write_keeps_previous_model(tmp_path: Path):
    """model.kws: the exporter writes a temporary file and renames it."""
    code_template = """
import numpy as np
from kws.train import export, models
from kws.train.settings import ModelSettings
settings = ModelSettings(label_count=3, clip_duration_ms=200, feature_bin_count=8)
model = models.build_model({arch!r}, settings, training_dropout=False)
try:
    export.write_model_kws({path!r}, model, settings, {arch!r}, ["_silence_", "_unknown_", "yes"])
except Exception as e:
    print("error:", type(e).__name__, e)
else:
    print("written")
"""
    target = tmp_path / "model.kws"
    # A small previous model, written without a limit.
    ok = _child(code_template.format(arch="single_fc", path=str(target)), 1 << 40)
    assert ok.stdout.strip().endswith("written"), ok.stderr[-2000:]
    before = target.read_bytes()
    assert len(before) < 32 * 1024
    loaded = kws.Model.load(str(target))
    assert loaded.architecture == "single_fc"
    # A larger model that cannot be written under a 48 KB limit.
    failed = _child(code_template.format(arch="conv", path=str(target)), 48 * 1024)
    assert "error:" in failed.stdout, (failed.stdout, failed.stderr[-2000:])
    assert target.read_bytes() == before
    assert kws.Model.load(str(target)).architecture == "single_fc"
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "model.kws")
    assert leftovers == [], leftovers


def test_training_state_files_failing_mid_write_keep_previous(tmp_path: Path):
    """The train command's text state files (labels, model JSON, `checkpoint`) go through
    one atomic writer; TensorFlow's checkpoint files are renamed into place by TF."""
    target = tmp_path / "tiny_conv_labels.txt"
    target.write_text("_silence_\n_unknown_\nyes\n")
    code = f"""
from pathlib import Path
from kws.files import atomic_write
try:
    atomic_write(Path({str(target)!r}), "x" * 200000)
except Exception as e:
    print("error:", type(e).__name__, e)
else:
    print("written")
"""
    result = _child(code, 64 * 1024)
    assert "error:" in result.stdout, (result.stdout, result.stderr[-2000:])
    assert target.read_text() == "_silence_\n_unknown_\nyes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny_conv_labels.txt"]


def test_export_bytes_writer_failing_mid_write_keeps_previous_file(tmp_path: Path):
    """TFLite files go through kws.files.atomic_write: a write that hits the file-size
    limit part-way leaves the previous file byte-identical and no temporary file."""
    target = tmp_path / "model_float.tflite"
    target.write_bytes(b"previous model bytes")
    code = f"""
from kws.files import atomic_write
try:
    atomic_write({str(target)!r}, b"x" * (256 * 1024))
except OSError as e:
    print("error:", e)
else:
    print("written")
"""
    failed = _child(code, 64 * 1024)
    assert "error:" in failed.stdout, (failed.stdout, failed.stderr[-2000:])
    assert target.read_bytes() == b"previous model bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_float.tflite"]
    ok = _child(code, 1 << 40)
    assert "written" in ok.stdout, ok.stderr[-2000:]
    assert target.read_bytes() == b"x" * (256 * 1024)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model_float.tflite"]
