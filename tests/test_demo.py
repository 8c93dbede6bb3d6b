"""`kws demo` end to end at a tiny size: every stage runs and leaves its outputs."""

import json
import re
import subprocess
import sys

import pytest

from kws.train.data import DatasetIndex


@pytest.mark.slow
def test_demo_runs_every_stage(tmp_path, sample_dir):
    out = tmp_path / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "demo", "--out", str(out), "--clips_per_word", "8",
         "--steps", "40", "--stream_seconds", "20", "--real_data", str(sample_dir)],
        capture_output=True, text=True, timeout=900,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ("model.kws", "report.txt", "confusion_synthetic.png", "confusion_real.png",
                 "spectrogram_yes.png", "streams/real_sweep.png", "streams/synthetic_sweep.png"):
        assert (out / name).is_file(), name
    report = (out / "report.txt").read_text()
    assert "Final test accuracy" in report
    assert "% matched" in report
    # The clip accuracy counts every testing entry, silence included.
    testing = DatasetIndex(str(sample_dir), "yes,no,up,down,left,right,on,off,stop,go")
    real = re.search(r"clips \(real voices, testing partition\): [\d.]+% of (\d+) correct",
                     report)
    assert real and int(real[1]) == len(testing.data["testing"])
    assert any(path is None or "_silence_" in path for path, _ in testing.data["testing"])
    figures = json.loads((out / "streams" / "real_eval.json").read_text())
    assert figures  # the evaluator wrote its figures for the real-voice stream
    assert "(score = " in r.stdout  # label-wav lines on real clips


def test_a_failed_step_ends_the_demo_with_one_clear_error(tmp_path, monkeypatch, capsys):
    from kws import cli
    from kws.commands import demo

    missing = tmp_path / "missing"

    def run(self):
        self.kws("gen-stream", "--data_dir", str(missing), "--output_wav",
                 str(tmp_path / "s.wav"), "--output_ground_truth", str(tmp_path / "s.txt"))
        return 0

    monkeypatch.setattr(demo.Demo, "run", run)
    assert cli.main(["demo", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr()
    assert f"dataset folder '{missing}' does not exist" in out.out  # the step's own error
    assert "kws demo: error: `kws gen-stream` failed with exit code 1" in out.err
    assert "Traceback" not in out.out + out.err
