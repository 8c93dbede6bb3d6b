"""`kws mine-negatives` on a stream of real words over real noise, and the training index's
--negatives_dir: the clips written are the windows of the false detections (the stream's
samples, exactly), none over a keyword, each in the folder its words call for, named into
the training partition; mining again adds; bad input is refused with the file named."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import kws
from kws import _core
from kws.cli import main as kws_main
from kws.labels import parse_wanted_words

KEYWORDS = set(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
SPLIT = ["--validation_percentage", "12", "--testing_percentage", "4"]
THRESHOLD = 0.3  # low, so the weak test model makes false detections of every kind


@pytest.fixture(scope="module")
def stream(sample_dir: Path, tmp_path_factory) -> tuple[Path, Path]:
    """120 s of real words (30% unknown) over the sample's real noise."""
    out = tmp_path_factory.mktemp("mine")
    wav, gt = out / "stream.wav", out / "stream.txt"
    _core.generate_stream(str(sample_dir), str(wav), str(gt), duration_seconds=120, seed=3)
    return wav, gt


def _mine(tmp_path: Path, model: Path, wav: Path, gt: Path | None, *extra: str) -> int:
    argv = ["mine-negatives", "--model", str(model), "--wav", str(wav), "--output_dir",
            str(tmp_path / "mined"), "--detection_threshold", str(THRESHOLD), *SPLIT, *extra]
    if gt is not None:
        argv += ["--ground_truth", str(gt)]
    return kws_main(argv)


def _rows(out: Path) -> list[dict]:
    with open(out / "mined.csv", newline="") as f:
        return list(csv.DictReader(f))


def _expected(model: Path, wav: Path, gt: Path) -> list[tuple[int, str]]:
    """(detection time, folder) of each false detection, from the evaluator's own verdicts
    and the ground truth's word spans, written plainly."""
    evaluator = kws.StreamingEvaluator(str(model), detection_threshold=THRESHOLD)
    detections = evaluator.evaluate(str(wav), str(gt)).detections
    truth = [(label, int(t)) for label, t in _core.read_ground_truth(str(gt))["entries"]]
    samples, rate = kws.read_wav(str(wav))
    times, scores = evaluator.compute_scores(samples)
    labels = list(evaluator.labels)
    out = []
    for d in detections:
        if d.verdict == "Correct" or (d.verdict == "Wrong" and d.word >= 0
                                         and truth[d.word][0] in KEYWORDS):
            continue
        average = evaluator.options.average_window_ms
        near = [i for i, t in enumerate(times) if d.time_ms - average <= t <= d.time_ms]
        start = times[max(near, key=lambda i: scores[i, labels.index(d.label)])]
        words = [label for label, t in truth if t < start + 1000 and t + 1000 > start]
        if any(w in KEYWORDS for w in words):
            continue
        if words and d.label == "_unknown_":
            continue
        out.append((int(d.time_ms), "_unknown_" if words else "_silence_"))
    return out


def test_mines_the_false_detections_windows(models, stream, tmp_path):
    wav, gt = stream
    assert _mine(tmp_path, models["fc"], wav, gt) == 0
    out = tmp_path / "mined"
    rows = _rows(out)
    expected = _expected(models["fc"], wav, gt)
    assert len(expected) >= 5, "the test model should err on this stream"
    assert sorted((int(r["detection_ms"]), r["clip"].split("/")[0]) for r in rows) == expected
    assert {r["clip"].split("/")[0] for r in rows} == {"_unknown_", "_silence_"}
    samples, rate = kws.read_wav(str(wav))
    truth = [(label, int(t)) for label, t in _core.read_ground_truth(str(gt))["entries"]]
    for r in rows:
        clip, clip_rate = kws.read_wav(str(out / r["clip"]))
        start = int(r["window_ms"]) * rate // 1000
        assert clip_rate == rate and clip.shape == (16000,)
        np.testing.assert_array_equal(clip, samples[start:start + 16000])
        assert r["verdict"] in ("Wrong", "False Positive") and float(r["score"]) >= THRESHOLD
        words = [w for w, t in truth if abs(t - int(r["window_ms"])) < 1000]
        assert not set(words) & KEYWORDS
        assert bool(words) == r["clip"].startswith("_unknown_")
        assert _core.which_set_native(r["clip"], 12, 4) == "training"


def test_mining_again_adds_and_the_index_trains_on_every_clip(models, stream, speech_dir,
                                                              tmp_path):
    from kws.train.data import DatasetIndex

    wav, gt = stream
    assert _mine(tmp_path, models["fc"], wav, gt) == 0
    out = tmp_path / "mined"
    first = {p: p.read_bytes() for p in out.rglob("*.wav")}
    assert _mine(tmp_path, models["fc"], wav, gt) == 0
    rows = _rows(out)
    files = sorted(out.rglob("*.wav"))
    assert len(files) == len(rows) == 2 * len(first)
    assert all(p.read_bytes() == data for p, data in first.items())

    words = "yes,no,up,down,left,right,on,off,stop,go"
    plain = DatasetIndex(str(speech_dir), words)
    index = DatasetIndex(str(speech_dir), words, negatives_dir=str(out))
    assert index.data["validation"] == plain.data["validation"]
    assert index.data["testing"] == plain.data["testing"]
    added = [e for e in index.data["training"] if e not in plain.data["training"]]
    assert sorted(added) == sorted((str(p), 0 if p.parent.name == "_silence_" else 1)
                                   for p in files)
    assert index.negatives == {"_silence_": sum(p.parent.name == "_silence_" for p in files),
                               "_unknown_": sum(p.parent.name == "_unknown_" for p in files)}
    assert "hard negatives" in index.summary()


def test_without_ground_truth_keyword_detections_are_negatives(models, stream, tmp_path):
    wav, _ = stream
    assert _mine(tmp_path, models["fc"], wav, None, "--unlabelled_as", "_silence_",
                 "--max_clips", "7") == 0
    rows = _rows(tmp_path / "mined")
    evaluator = kws.StreamingEvaluator(str(models["fc"]), detection_threshold=THRESHOLD)
    empty = tmp_path / "none.txt"
    empty.write_text("")
    detections = [d for d in evaluator.evaluate(str(wav), str(empty)).detections
                  if d.label in KEYWORDS]
    assert len(detections) > 7
    top = sorted(detections, key=lambda d: -d.score)[:7]
    assert sorted(int(r["detection_ms"]) for r in rows) == sorted(int(d.time_ms) for d in top)
    assert all(r["clip"].startswith("_silence_/") and r["label"] in KEYWORDS for r in rows)


def test_bad_input_is_refused_with_the_file_named(models, stream, tmp_path, capsys):
    wav, gt = stream
    assert kws_main(["mine-negatives", "--model", str(models["fc"]), "--wav", str(wav), str(wav),
                     "--ground_truth", str(gt), "--output_dir", str(tmp_path / "o")]) == 2
    assert "one ground truth per WAV" in capsys.readouterr().err
    assert _mine(tmp_path, models["fc"], wav, gt, "--max_clips", "0") == 1
    assert "--max_clips 0: expected 1 to 1,000,000" in capsys.readouterr().err
    slow = tmp_path / "8k.wav"
    kws.write_wav(slow, np.zeros(16000, np.float32), 8000)
    assert _mine(tmp_path, models["fc"], slow, None) == 1
    assert f"{slow}: sample rate 8000 Hz, the model expects 16000 Hz" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert kws_main(["mine-negatives", "--model", str(models["fc"]), "--wav", str(wav),
                     "--output_dir", str(tmp_path / "file")]) == 1
    assert "exists and is not a folder" in capsys.readouterr().err
    under = tmp_path / "file" / "under"
    assert kws_main(["mine-negatives", "--model", str(models["fc"]), "--wav", str(wav),
                     "--output_dir", str(under)]) == 1
    out, err = capsys.readouterr()
    assert f"--output_dir {under}: cannot make the folder: {under.parent} is not a " in err
    assert "false detection" not in out  # named before the model ran
    # A folder no one can make a folder in (named early, or as the first clip's is made).
    assert kws_main(["mine-negatives", "--model", str(models["fc"]), "--wav", str(wav),
                     "--output_dir", "/proc/kws_mined"]) == 1
    assert "--output_dir /proc/kws_mined: cannot make " in capsys.readouterr().err
    assert not (tmp_path / "mined").exists()


def test_the_index_refuses_keywords_and_missing_negatives(speech_dir, tmp_path):
    from kws.train.data import DatasetIndex

    (tmp_path / "neg" / "yes").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds a keyword folder 'yes'"):
        DatasetIndex(str(speech_dir), "yes,no", negatives_dir=str(tmp_path / "neg"))
    with pytest.raises(ValueError, match=f"negatives folder {tmp_path / 'none'} does not exist"):
        DatasetIndex(str(speech_dir), "yes,no", negatives_dir=str(tmp_path / "none"))


def test_the_rule_for_each_kind_of_false_detection():
    from types import SimpleNamespace

    from kws.commands.mine_negatives import mine

    labels = ["_silence_", "_unknown_", "yes", "no"]
    times = np.arange(0, 20000, 30)
    scores = np.full((times.size, 4), 0.1, np.float32)
    scores[times == 5010, 2] = 0.9  # the peak of the detection at 5400 ms
    truth = [("yes", 1000), ("_unknown_", 5000), ("_unknown_", 9000)]

    def det(label, time_ms, verdict, word=-1):
        return SimpleNamespace(label=label, time_ms=time_ms, score=0.8, verdict=verdict,
                               word=word)

    detections = [
        det("yes", 1000, "Correct", 0),
        det("no", 1100, "Wrong", 0),  # a keyword heard as another: not a negative
        det("yes", 5400, "Wrong", 1),  # a keyword on an unknown word: _unknown_
        det("_unknown_", 9100, "Correct", 2),
        det("_unknown_", 8900, "Wrong", -1),  # every near word taken; on an unknown word
        det("yes", 8950, "Wrong", -1),  # the same, as a keyword: _unknown_
        det("no", 1800, "False Positive"),  # window over the keyword at 1000: skipped
        det("no", 14000, "False Positive"),  # no word under it: _silence_
        det("_unknown_", 16000, "False Positive"),  # _unknown_ in a gap: _silence_
    ]
    found = mine(times, scores, labels, detections, truth, 1000, 500)
    assert [(f["detection_ms"], f["folder"]) for f in found] == [
        (5400, "_unknown_"), (8950, "_unknown_"), (14000, "_silence_"),
        (16000, "_silence_")]
    assert times[found[0]["window"]] == 5010
    # Without ground truth only keyword detections count, in the folder asked for.
    found = mine(times, scores, labels, detections, None, 1000, 500, "_silence_")
    assert {f["folder"] for f in found} == {"_silence_"}
    assert [f["detection_ms"] for f in found] == [1100, 5400, 8950, 1800, 14000]
