"""Careless or hostile input to the runtime and the commands: files that are not regular
files, odd paths, corrupt model files, absurd sizes and long files. Each case must give
one clear error naming the problem, quickly, or work in bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_runtime import LABELS

import kws
from kws import _core
from kws.cli import main as cli
from kws.train.settings import ModelSettings

SETTINGS = ModelSettings(label_count=len(LABELS))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> Path:
    """A single_fc model.kws with random weights, written by the exporter."""
    from kws.train import export
    from kws.train import models as kws_models

    fc = kws_models.build_model("single_fc", SETTINGS, training_dropout=False)
    rng = np.random.default_rng(4)
    for weight in fc.weights:
        weight.assign(rng.normal(0, 0.05, tuple(weight.shape)).astype(np.float32))
    path = tmp_path_factory.mktemp("hostile") / "fc.kws"
    export.write_model_kws(path, fc, SETTINGS, "single_fc", LABELS)
    return path


@pytest.fixture(scope="module")
def stream(sample_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("hostile_stream")
    wav, truth = out / "s.wav", out / "s.txt"
    _core.generate_stream(str(sample_dir), str(wav), str(truth), duration_seconds=20, seed=2)
    return wav, truth


def _header(data: bytes) -> tuple[dict, int]:
    n = int.from_bytes(data[:8], "little")
    return json.loads(data[8:8 + n]), 8 + n


# ---- model.kws integrity -------------------------------------------------------------------

def test_export_writes_a_checksum_the_runtime_verifies(model_path):
    data = model_path.read_bytes()
    header, start = _header(data)
    meta = header["__metadata__"]
    crc = _core.crc32c(data[start:], _core.crc32c(meta["kws"].encode()))
    assert meta["kws_crc32c"] == f"{crc:08x}"
    assert kws.Model.load(model_path).labels == LABELS
    # Bit flips anywhere in the weights: each one is a clear error naming the file (before
    # the checksum, 2 in 200 changed the top label silently).
    rng = np.random.default_rng(0)
    for offset in rng.integers(start, len(data), 200):
        bad = bytearray(data)
        bad[offset] ^= 1 << int(rng.integers(8))
        with pytest.raises(ValueError, match=r"^flipped\.kws: checksum mismatch"):
            kws.Model.load_bytes(bytes(bad), "flipped.kws")
    # A model written before checksums (no field) still loads.
    del meta["kws_crc32c"]
    from safetensors.numpy import load, save

    old = save(load(data), metadata=meta)
    assert kws.Model.load_bytes(old, "old.kws").labels == LABELS


def test_truncated_model_files_are_one_line_errors(model_path, tmp_path):
    data = model_path.read_bytes()
    for cut in np.linspace(0, len(data) - 1, 25).astype(int):
        path = tmp_path / "cut.kws"
        path.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="cut.kws"):
            kws.Model.load(path)


# ---- files that are not regular files -----------------------------------------------------

def _in_child(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter: a hang fails the test instead of stalling it."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout)


def test_fifo_device_and_folder_are_refused_without_opening(tmp_path, model_path, stream):
    fifo = tmp_path / "x.wav"
    os.mkfifo(fifo)
    for call in (f"kws.read_wav({str(fifo)!r})", f"kws.Model.load({str(fifo)!r})",
                 f"kws._core.WavReader({str(fifo)!r})"):
        r = _in_child(f"import kws\ntry:\n    {call}\nexcept OSError as e:\n    print(e)")
        assert r.returncode == 0 and "it is a FIFO (named pipe), not a regular file" in r.stdout
    # The commands say the same in one line.
    wav, truth = stream
    r = subprocess.run([sys.executable, "-m", "kws.cli", "stream-eval", "--wav", str(fifo),
                        "--ground_truth", str(truth), "--model", str(model_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "it is a FIFO" in r.stderr and "Traceback" not in r.stderr
    with pytest.raises(OSError, match="'/dev/zero': it is a character device"):
        kws.Model.load("/dev/zero")
    with pytest.raises(OSError, match="it is a directory"):
        kws.Model.load(tmp_path)
    with pytest.raises(OSError, match="it is a directory"):
        kws.read_wav(tmp_path)
    with pytest.raises(OSError, match=r"cannot open model file '.*none\.kws': No such file or "
                                      r"directory"):
        kws.Model.load(tmp_path / "none.kws")


# ---- paths: str, bytes, os.PathLike, names that are not UTF-8 -----------------------------

def test_bytes_pathlike_and_non_utf8_paths_work_everywhere(tmp_path, model_path, stream):
    raw = os.fsencode(tmp_path) + b"/caf\xe9-\xff"  # not UTF-8
    os.mkdir(raw)
    wav_b = raw + b"/clip.wav"
    wav_s = os.fsdecode(wav_b)  # a str with surrogate escapes, as os.listdir gives it
    samples = (0.1 * np.sin(np.arange(16000) / 7)).astype(np.float32)
    kws.write_wav(wav_b, samples, 16000)
    for path in (wav_b, wav_s, Path(wav_s)):
        got, rate = kws.read_wav(path)
        assert rate == 16000 and np.array_equal(got, np.round(samples * 32768) / 32768)
    assert _core.WavReader(Path(wav_s)).frames == 16000
    model_b = raw + b"/m.kws"
    with open(model_b, "wb") as f:
        f.write(model_path.read_bytes())
    for path in (model_b, os.fsdecode(model_b), Path(os.fsdecode(model_b))):
        assert kws.Model.load(path).labels == LABELS
    # Errors name such files too (decoded as Python decodes file names).
    missing = raw + b"/none\xfe.wav"
    with pytest.raises(OSError) as e:
        kws.read_wav(missing)
    assert os.fsdecode(missing) in str(e.value)
    # The streaming evaluator and the commands take them.
    wav, truth = stream
    odd_wav, odd_truth = raw + b"/s.wav", raw + b"/s.txt"
    for src, dst in ((wav, odd_wav), (truth, odd_truth)):
        with open(dst, "wb") as f:
            f.write(src.read_bytes())
    ev = _core.StreamingEvaluator(model_b)
    result = ev.evaluate(odd_wav, os.fsdecode(odd_truth))
    assert result.wav == os.fsdecode(odd_wav) == result.to_dict()["wav"]
    report = ev.evaluate_many([Path(os.fsdecode(odd_wav))], [odd_truth], threads=1)
    assert report.files[0].accuracy.to_dict() == result.accuracy.to_dict()
    assert cli(["stream-eval", "--wav", os.fsdecode(odd_wav), "--ground_truth",
                os.fsdecode(odd_truth), "--model", os.fsdecode(model_b)]) == 0


# ---- sizes and values the user controls ---------------------------------------------------

def test_predict_and_streams_take_float_audio_and_bounded_hops(model_path):
    model = kws.Model.load(model_path)
    clip = np.zeros(16000, np.float32)
    assert model.predict(clip.astype(np.float64)).shape == (len(LABELS),)
    for bad, what in ((np.zeros(16000, np.int16), "dtype int16 (divide int16 data by 32768)"),
                      (np.zeros(16000, bool), "dtype bool"),
                      (np.zeros(16000, object), "dtype object")):
        with pytest.raises(ValueError, match=r"samples must be floating point in \[-1, 1\], got "
                                             + what.replace("(", r"\(").replace(")", r"\)")):
            model.predict(bad)
    stream = model.create_stream(hop_ms=30)
    with pytest.raises(ValueError, match="Stream.accept_waveform: samples must be floating"):
        stream.accept_waveform(np.zeros(480, np.int16))
    with pytest.raises(ValueError, match=r"hop_samples must be in \[1, 2147483647\] samples, "
                                         r"got 2147483648"):
        model.create_stream(hop_samples=2**31)
    with pytest.raises(ValueError, match="hop_samples must be an integer"):
        model.create_stream(hop_samples=480.0)
    for ms in (float("inf"), float("nan"), -30.0, 1e12):
        with pytest.raises(ValueError, match="hop_ms must be a finite number of milliseconds"):
            model.create_stream(hop_ms=ms)
    with pytest.raises(ValueError, match=r"hop of 30\.03 ms is 480\.48\d* samples at 16000 Hz"):
        model.create_stream(hop_ms=30.03)


def test_decoder_window_is_bounded_before_allocating():
    for window in (10**8, 2**31 - 1):
        with pytest.raises(ValueError, match=r"average_window_duration_ms must be in "
                                             r"\(0, 600000\] ms \(10 minutes\), got "
                                             + str(window)):
            kws.RecognizeCommands(LABELS, average_window_duration_ms=window)
    with pytest.raises(ValueError, match="suppression_ms must be in"):
        kws.RecognizeCommands(LABELS, suppression_ms=10**12)


def test_stream_eval_bounds_and_empty_ground_truth(model_path, stream, tmp_path, capsys):
    wav, truth = stream
    base = ["stream-eval", "--wav", str(wav), "--ground_truth", str(truth), "--model",
            str(model_path)]
    assert cli(base + ["--average_window_ms", "10000000"]) == 1
    assert "average_window_duration_ms must be in (0, 600000] ms" in capsys.readouterr().err
    assert cli(base + ["--sweep", "--sweep_thresholds", "0:1:1e-7"]) == 1
    assert ("asks for 10000001 thresholds, more than the maximum of 1000"
            in capsys.readouterr().err)
    assert cli(base + ["--sweep", "--sweep_thresholds", "0.5,nan"]) == 1
    assert "nan is not in [0, 1]" in capsys.readouterr().err
    assert cli(base + ["--clip_stride_ms", str(2**31)]) == 1
    assert "clip_stride_ms must be in (0, 60000] ms" in capsys.readouterr().err
    junk = tmp_path / "junk.txt"
    junk.write_text("this is not\na ground truth file\n")
    assert cli(["stream-eval", "--wav", str(wav), "--ground_truth", str(junk), "--model",
                str(model_path)]) == 1
    err = capsys.readouterr().err
    assert f"{junk}: no valid `word, time_ms` line (2 malformed lines" in err


# ---- long files in bounded memory ---------------------------------------------------------

# VmHWM, the peak of this process image (ru_maxrss would carry the pytest parent's peak
# across fork and exec).
_PEAK = ("import re, sys\nfrom kws.cli import main\nrc = main(sys.argv[1:])\n"
         "hwm = re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)\n"
         "print('peak', rc, hwm)")


def _peak_kib(args: list[str]) -> int:
    r = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True,
                       timeout=600)
    line = [x for x in r.stdout.splitlines() if x.startswith("peak ")]
    assert line and line[0].split()[1] == "0", r.stderr[-2000:]
    return int(line[0].split()[2])


def test_long_files_take_flat_memory(sample_dir, model_path, tmp_path):
    """gen-stream, stream-eval and listen --wav on 2 and 8 minutes: the peak resident set
    must not follow the length (a whole-file read of 8 minutes is 30 MB of float samples
    more than 2 minutes, plus its copies)."""
    peaks = {}
    for minutes in (2, 8):
        wav, truth = tmp_path / f"m{minutes}.wav", tmp_path / f"m{minutes}.txt"
        peaks["gen-stream", minutes] = _peak_kib(
            ["gen-stream", "--data_dir", str(sample_dir), "--output_wav", str(wav),
             "--duration_seconds", str(60 * minutes)])
        peaks["stream-eval", minutes] = _peak_kib(
            ["stream-eval", "--wav", str(wav), "--ground_truth", str(truth), "--model",
             str(model_path), "--threads", "1"])
        peaks["listen", minutes] = _peak_kib(
            ["listen", "--model", str(model_path), "--wav", str(wav), "--block_ms", "1000"])
    print({k: f"{v / 1024:.1f} MiB" for k, v in peaks.items()})
    for command in ("gen-stream", "stream-eval", "listen"):
        assert peaks[command, 8] - peaks[command, 2] < 12 * 1024, (command, peaks)


# ---- outputs: derived names, temporary files, checks before the work ----------------------

def test_gen_stream_derives_the_ground_truth_name_from_the_file_name(sample_dir, tmp_path):
    folder = tmp_path / "run.v1"
    folder.mkdir()
    precious = tmp_path / "run.txt"
    precious.write_text("not the ground truth\n")
    assert cli(["gen-stream", "--data_dir", str(sample_dir), "--output_wav",
                str(folder / "stream"), "--duration_seconds", "10"]) == 0
    assert (folder / "stream").is_file() and (folder / "stream.txt").is_file()
    assert precious.read_text() == "not the ground truth\n"
    assert cli(["gen-stream", "--data_dir", str(sample_dir), "--output_wav",
                str(tmp_path / "same.txt"), "--duration_seconds", "10"]) == 1


def test_spectrogram_failed_write_leaves_no_temporary_file(sample_dir, tmp_path, capsys):
    wav = sorted((sample_dir / "yes").glob("*.wav"))[0]
    target = tmp_path / "out.png"
    target.mkdir()  # the rename onto a folder fails after the PNG is written
    assert cli(["spectrogram", "--input_wav", str(wav), "--output_image", str(target)]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]
    assert list(target.iterdir()) == []
    ok = tmp_path / "ok.png"
    assert cli(["spectrogram", "--input_wav", str(wav), "--output_image", str(ok)]) == 0
    assert ok.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.png", "out.png"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_stream_eval_checks_its_outputs_before_evaluating(model_path, stream, tmp_path, capsys):
    wav, truth = stream
    blocker = tmp_path / "file"
    blocker.write_text("")
    base = ["stream-eval", "--wav", str(wav), "--ground_truth", str(truth), "--model",
            str(model_path)]
    assert cli(base + ["--json", str(blocker / "out.json")]) == 1
    captured = capsys.readouterr()
    assert "--json" in captured.err and "cannot write there" in captured.err
    assert "matched" not in captured.out  # nothing was evaluated
    assert cli(base + ["--json", str(tmp_path)]) == 1
    assert "is a folder" in capsys.readouterr().err
    assert cli(base + ["--sweep", "--sweep_output", str(blocker / "sweep")]) == 1
    assert "--sweep_output" in capsys.readouterr().err
