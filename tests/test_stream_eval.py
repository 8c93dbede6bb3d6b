"""`kws stream-eval` end to end on generated streams: the evaluator's scores equal the live
cached-state stream and whole-window inference, its figures equal the classic method
recomputed in Python (every window through the model, RecognizeCommands, SPEC scoring),
and single, many, sweep, json and verbose runs work."""

from __future__ import annotations

import csv
import itertools
import json
import re
from pathlib import Path

import numpy as np
import pytest

import kws
from kws import _core
from kws.cli import main as kws_main
from kws.commands.stream_eval import add_outcomes, best_quiet
from kws.labels import parse_wanted_words, prepare_words_list

LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))


def _clip(samples: np.ndarray) -> np.ndarray:
    return np.pad(samples, (0, max(0, 16000 - len(samples))))[:16000]


@pytest.fixture(scope="module")
def streams(sample_dir: Path, tmp_path_factory) -> list[tuple[Path, Path]]:
    """Two 90 s streams of real words over real noise (seeds 1 and 2)."""
    out = tmp_path_factory.mktemp("streams")
    pairs = []
    for seed in (1, 2):
        wav, gt = out / f"s{seed}.wav", out / f"s{seed}.txt"
        _core.generate_stream(str(sample_dir), str(wav), str(gt), duration_seconds=90,
                              seed=seed)
        pairs.append((wav, gt))
    return pairs


def _spec_score(truth: list[tuple[str, int]], detections: list[tuple[str, int]], tol: int):
    """SPEC.md scoring, plainly: returns (matched, correct, wrong, fp, verdicts, claims), a
    claim being the index of the ground-truth word a detection matched, or -1."""
    matched = [False] * len(truth)
    counts = {"Correct": 0, "Wrong": 0, "False Positive": 0}
    verdicts, claims = [], []
    for label, t in detections:
        window = [i for i, (_, gt) in enumerate(truth) if t - tol <= gt <= t + tol]
        same = [i for i in window if truth[i][0] == label and not matched[i]]
        if same:
            verdict, claim = "Correct", same[0]
        elif window:
            free = [i for i in window if not matched[i]]
            verdict, claim = "Wrong", (free[0] if free else None)
        else:
            verdict, claim = "False Positive", None
        if claim is not None:
            matched[claim] = True
        counts[verdict] += 1
        verdicts.append(verdict)
        claims.append(-1 if claim is None else claim)
    return (sum(matched), counts["Correct"], counts["Wrong"], counts["False Positive"],
            verdicts, claims)


@pytest.mark.parametrize("name,stride_ms", [("svdf", 30), ("fc", 20)])
def test_scores_equal_the_live_stream_and_each_window(models, streams, name, stride_ms):
    samples, rate = kws.read_wav(str(streams[0][0]))
    samples = samples[: 16000 * 12]
    ev = _core.StreamingEvaluator(str(models[name]), clip_stride_ms=stride_ms)
    times, scores = ev.compute_scores(samples)
    hop = stride_ms * 16
    starts = list(range(0, len(samples) - 16000 + 1, hop))
    assert list(times) == [s * 1000 // 16000 for s in starts]
    model = kws.Model.load(str(models[name]))
    assert (ev.sample_rate, ev.clip_samples, ev.hop_samples) == (model.sample_rate,
                                                                 model.clip_samples, hop)
    live = model.create_stream(hop_samples=hop)
    got = []
    for i in range(0, len(samples), 4000):  # live audio arrives in 250 ms chunks
        got += live.accept_waveform(samples[i:i + 4000])
    assert [s for s, _ in got] == starts
    np.testing.assert_array_equal(np.stack([g for _, g in got]), scores)
    whole = model.predict(np.stack([samples[s:s + 16000] for s in starts]))
    np.testing.assert_allclose(scores, whole, atol=1e-5, rtol=0)


def test_windows_split_across_threads_give_identical_scores(models, streams):
    samples, _ = kws.read_wav(str(streams[0][0]))  # 90 s: long enough to be split
    ev = _core.StreamingEvaluator(str(models["svdf"]))
    times1, scores1 = ev.compute_scores(samples)
    for threads in (2, 3):
        times, scores = ev.compute_scores(samples, threads=threads)
        np.testing.assert_array_equal(times, times1)
        np.testing.assert_array_equal(scores, scores1)
    one = ev.evaluate(str(streams[0][0]), str(streams[0][1]))
    two = ev.evaluate(str(streams[0][0]), str(streams[0][1]), threads=2)
    assert [d.to_dict() for d in one.detections] == [d.to_dict() for d in two.detections]


@pytest.mark.parametrize("delay_ms,repeats", [(0, False), (750, False), (750, True)])
def test_figures_equal_the_classic_method_recomputed(models, streams, delay_ms, repeats):
    """Every window through Model.predict, kws.RecognizeCommands at the window's start
    time (and its finish()), SPEC scoring in Python: the same detections, verdicts and
    figures; with a decision delay, and with repeats allowed, too."""
    wav, gt = streams[0]
    samples, _ = kws.read_wav(str(wav))
    model = kws.Model.load(str(models["fc"]))
    starts = list(range(0, len(samples) - 16000 + 1, 480))
    scores = model.predict(np.stack([samples[s:s + 16000] for s in starts]))
    rc = kws.RecognizeCommands(LABELS, kws.RecognizeCommandsOptions(
        500, 0.7, 1500, 3, delay_ms, allow_repeats=repeats))
    results = [rc.process(row, s * 1000 // 16000) for s, row in zip(starts, scores)]
    results.append(rc.finish())
    detections = [(r.label, r.time_ms) for r in results if r.is_new and r.label != "_silence_"]
    truth = _core.read_ground_truth(str(gt))["entries"]
    matched, correct, wrong, fp, verdicts, claims = _spec_score(truth, detections, 750)

    ev = _core.StreamingEvaluator(str(models["fc"]), decision_delay_ms=delay_ms,
                                  allow_repeats=repeats)
    result = ev.evaluate(str(wav), str(gt), sweep=[0.7])
    assert result.sweep[0].to_dict() == result.accuracy.to_dict()
    assert isinstance(result, kws.StreamEvaluation)
    assert [(d.label, d.time_ms) for d in result.detections] == detections
    assert [d.verdict for d in result.detections] == verdicts
    assert [d.word for d in result.detections] == claims
    acc = result.accuracy
    assert (acc.matched, acc.correct, acc.wrong, acc.false_positives) == (
        matched, correct, wrong, fp)
    assert acc.ground_truth_words == len(truth) == 30
    assert acc.false_positives_per_hour == pytest.approx(fp * 3600 / 90)
    assert acc.miss_rate == pytest.approx(1 - correct / len(truth))
    assert len(detections) >= 5
    # to_dict() carries the same figures for JSON.
    as_dict = result.to_dict()
    assert as_dict["accuracy"] == acc.to_dict()
    assert as_dict["accuracy"]["summary"] == acc.summary
    assert as_dict["detections"][0] == result.detections[0].to_dict()
    # The same scores decoded apart from the model (kws.evaluate_window_scores, as for
    # trying decoder settings on scores computed once): the same figures and sweep.
    times, window_scores = ev.compute_scores(samples)
    apart = kws.evaluate_window_scores(times, window_scores, LABELS, Path(gt).read_text(),
                                       1000.0 * len(samples) / 16000,
                                       kws.StreamingOptions(decision_delay_ms=delay_ms,
                                                            allow_repeats=repeats),
                                       sweep=[0.5, 0.7])
    assert apart.accuracy.to_dict() == acc.to_dict()
    assert [d.to_dict() for d in apart.detections] == [d.to_dict() for d in result.detections]
    assert apart.sweep[1].to_dict() == acc.to_dict()
    assert apart.sweep[0].matched >= apart.sweep[1].matched


def test_detections_line_up_with_the_spoken_words(streams, tmp_path):
    """The bundled model, a trained one, finds the real words: most of its detections
    are correct against the true ground truth, and few against one shifted by 1.5 s."""
    wav, gt = streams[0]
    shifted = tmp_path / "shifted.txt"
    shifted.write_text("".join(f"{w}, {t + 1500}\n" for w, t in
                               _core.read_ground_truth(str(gt))["entries"]))
    ev = _core.StreamingEvaluator(str(kws.bundled.model_path("speech_commands")),
                                  detection_threshold=0.4)
    true_fig = ev.evaluate(str(wav), str(gt)).accuracy.to_dict()
    shifted_fig = ev.evaluate(str(wav), str(shifted)).accuracy.to_dict()
    assert true_fig["matched_percent"] >= 80
    assert true_fig["correct"] >= 20
    assert true_fig["correct"] >= 5 * max(1, shifted_fig["correct"])


def test_cli_single_verbose_and_json(models, streams, tmp_path, capsys):
    wav, gt = streams[0]
    out_json = tmp_path / "r.json"
    assert kws_main(["stream-eval", "--wav", str(wav), "--ground_truth", str(gt),
                     "--model", str(models["fc"]), "--verbose", "--json", str(out_json)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "scoring: batched" in captured.err  # --verbose says how windows are scored
    data = json.loads(out_json.read_text())
    dets = data["files"][0]["detections"]
    verbose = [ln for ln in lines if re.fullmatch(
        r"\d+ms: \S+: [0-9.e-]+ \((Correct|Wrong|False Positive)\)", ln)]
    assert len(verbose) == len(dets) > 0
    for ln, d in zip(verbose, dets):
        assert ln.startswith(f"{d['time_ms']}ms: {d['label']}: ")
        assert ln.endswith(f"({d['verdict']})")
    summary = re.compile(r"[0-9.]+% matched, [0-9.]+% correctly, [0-9.]+% wrongly, "
                         r"[0-9.]+% false positives")
    assert any(summary.fullmatch(ln) for ln in lines)
    assert data["summary"] in lines
    for key in ("matched_percent", "correct_percent", "wrong_percent",
                "false_positive_percent", "false_positives_per_hour", "miss_rate"):
        assert isinstance(data[key], float)
    assert data["options"]["clip_stride_ms"] == 30 and data["labels"] == LABELS
    # What became of each word, by label, against SPEC scoring of the detections.
    truth = _core.read_ground_truth(str(gt))["entries"]
    *_, verdicts, claims = _spec_score(truth, [(d["label"], d["time_ms"]) for d in dets], 750)
    assert [d["word"] for d in dets] == claims
    expected = {}
    for i, (label, _) in enumerate(truth):
        row = expected.setdefault(label, {"words": 0, "correct": 0, "heard_as": {}, "missed": 0})
        row["words"] += 1
        k = claims.index(i) if i in claims else None
        if k is None:
            row["missed"] += 1
        elif verdicts[k] == "Correct":
            row["correct"] += 1
        else:
            row["heard_as"][dets[k]["label"]] = row["heard_as"].get(dets[k]["label"], 0) + 1
    assert data["by_word"] == expected
    assert sum(r["correct"] for r in expected.values()) == data["correct"] > 0
    assert sum(r["missed"] for r in expected.values()) == len(truth) - data["matched"]
    by_word = list(itertools.takewhile(lambda ln: ln.startswith("  "),
                                       lines[lines.index("by word:") + 1:]))
    assert len(by_word) == len(expected)
    for ln, (label, row) in zip(by_word, sorted(expected.items())):
        assert ln.startswith(f"  {label}: {row['words']} words, {row['correct']} correct, ")
        assert ln.endswith(f", {row['missed']} missed")


def test_cli_many_files_sum_and_threads_agree(models, streams, tmp_path, capsys):
    wavs = [str(w) for w, _ in streams]
    gts = [str(g) for _, g in streams]
    singles = [_core.StreamingEvaluator(str(models["fc"])).evaluate(w, g).accuracy.to_dict()
               for w, g in zip(wavs, gts)]
    # Each file's words by label (from its own JSON), summed label by label.
    by_word = {}
    for i, (w, g) in enumerate(zip(wavs, gts)):
        one = tmp_path / f"one{i}.json"
        assert kws_main(["stream-eval", "--wav", w, "--ground_truth", g, "--model",
                         str(models["fc"]), "--json", str(one)]) == 0
        add_outcomes(by_word, json.loads(one.read_text())["by_word"])
    assert sum(r["words"] for r in by_word.values()) == sum(
        s["ground_truth_words"] for s in singles)
    for threads in ("1", "2"):
        out = tmp_path / f"t{threads}.json"
        assert kws_main(["stream-eval", "--wav", *wavs, "--ground_truth", *gts, "--model",
                         str(models["fc"]), "--threads", threads, "--json", str(out)]) == 0
        data = json.loads(out.read_text())
        for key in ("ground_truth_words", "matched", "correct", "wrong", "false_positives"):
            assert data[key] == sum(s[key] for s in singles), key
        assert data["audio_duration_s"] == pytest.approx(180)
        assert [f["wav"] for f in data["files"]] == wavs
        assert data["by_word"] == by_word
    printed = capsys.readouterr().out
    assert f"{wavs[1]}: " in printed
    assert kws_main(["stream-eval", "--wav", *wavs, "--ground_truth", gts[0],
                     "--model", str(models["fc"])]) == 2


def test_cli_labels_file_renames_the_outputs(models, streams, tmp_path):
    wav, gt = streams[0]
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(["_silence_", "_unknown_"] + [f"w{i}" for i in range(10)]) + "\n")
    out = tmp_path / "l.json"
    assert kws_main(["stream-eval", "--wav", str(wav), "--ground_truth", str(gt), "--model",
                     str(models["fc"]), "--labels", str(labels), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["labels"][2:] == [f"w{i}" for i in range(10)]
    assert all(d["label"] in data["labels"] for d in data["files"][0]["detections"])
    # The ground truth's command words are not these labels: reported, never correct.
    assert set(data["files"][0]["unknown_words"]) >= {"yes", "no"} & {
        w for w, _ in _core.read_ground_truth(str(gt))["entries"]}
    assert data["correct"] == 0


def test_cli_sweep_writes_csv_and_png(models, streams, tmp_path):
    wav, gt = streams[0]
    prefix = tmp_path / "sweep" / "fc"
    out = tmp_path / "s.json"
    assert kws_main(["stream-eval", "--wav", str(wav), "--ground_truth", str(gt), "--model",
                     str(models["fc"]), "--sweep", "--sweep_thresholds", "0.1:0.9:0.2",
                     "--sweep_output", str(prefix), "--json", str(out)]) == 0
    rows = list(csv.DictReader(open(f"{prefix}.csv")))
    assert [float(r["threshold"]) for r in rows] == [0.1, 0.3, 0.5, 0.7, 0.9]
    detected = [float(r["correct_percent"]) + float(r["wrong_percent"]) for r in rows]
    assert detected == sorted(detected, reverse=True)  # higher threshold, fewer detections
    assert float(rows[0]["matched_percent"]) > float(rows[-1]["matched_percent"])
    data = json.loads(out.read_text())
    # Thresholds read as written (0.7, not the float32's 0.699999988079071).
    assert [p["threshold"] for p in data["sweep"]] == [0.1, 0.3, 0.5, 0.7, 0.9]
    at_07 = next(p for p in data["sweep"] if p["threshold"] == 0.7)
    assert at_07["correct"] == data["correct"] and at_07["false_positives"] == data["false_positives"]
    png = Path(f"{prefix}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # The best threshold at the default bound (1 false positive per hour): the most words
    # correct among the sweep's points that quiet, named in the JSON and printed.
    quiet = [p for p in data["sweep"] if p["false_positives_per_hour"] <= 1]
    assert data["quiet_per_hour"] == 1
    if quiet:
        assert data["best_quiet"]["correct_percent"] == max(p["correct_percent"] for p in quiet)
        assert data["best_quiet"] in quiet
    else:
        assert data["best_quiet"] is None


def test_best_quiet_threshold_rule(models, streams, tmp_path, capsys):
    """--quiet_per_hour bounds the false positives per hour of the threshold stream-eval
    names; ties on words correct go to the fewest wrong, then the higher threshold."""
    points = [
        {"threshold": 0.3, "correct_percent": 90.0, "wrong_percent": 5.0,
         "false_positives_per_hour": 6.0},
        {"threshold": 0.5, "correct_percent": 88.0, "wrong_percent": 4.0,
         "false_positives_per_hour": 1.0},
        {"threshold": 0.6, "correct_percent": 88.0, "wrong_percent": 2.0,
         "false_positives_per_hour": 0.0},
        {"threshold": 0.7, "correct_percent": 88.0, "wrong_percent": 2.0,
         "false_positives_per_hour": 0.0},
    ]
    assert best_quiet(points)["threshold"] == 0.7
    assert best_quiet(points, 6.0)["threshold"] == 0.3
    assert best_quiet(points[:1]) is None
    assert best_quiet([]) is None

    wav, gt = streams[0]
    args = ["stream-eval", "--wav", str(wav), "--ground_truth", str(gt), "--model",
            str(models["fc"]), "--sweep", "--sweep_output", str(tmp_path / "s")]
    figures = {}
    for bound in ("0", "3600"):
        out = tmp_path / f"q{bound}.json"
        assert kws_main([*args, "--quiet_per_hour", bound, "--json", str(out)]) == 0
        figures[bound] = json.loads(out.read_text())
        printed = capsys.readouterr().out
        best = figures[bound]["best_quiet"]
        if best is None:
            assert f"no swept threshold keeps to at most {bound} false" in printed
        else:
            assert best["false_positives_per_hour"] <= float(bound)
            assert f"best threshold with at most {bound} false positives per hour: " \
                   f"{best['threshold']:g} ({best['correct_percent']:.1f}% correct" in printed
    # A looser bound never gets fewer words right.
    loose = figures["3600"]["best_quiet"]
    strict = figures["0"]["best_quiet"]
    assert loose is not None
    assert strict is None or loose["correct_percent"] >= strict["correct_percent"]
    for bad in ("-1", "nan", "1e9"):
        assert kws_main([*args, "--quiet_per_hour", bad]) == 1
        assert f"--quiet_per_hour {float(bad):g}: expected 0 to 3600" in capsys.readouterr().err


def test_bundled_model_is_decoded_as_its_card_recommends(models, streams, tmp_path,
                                                         monkeypatch, capsys):
    """A bundled model (by name or by default) is evaluated with the threshold and decision
    delay its card recommends, and the averaging window they were chosen with, unless the
    flags are given: its figures equal those of the same file by path with those flags. A
    model by path keeps the decoder defaults."""
    wav, gt = streams[0]
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "speech_commands.kws"
    path.write_bytes(Path(models["fc"]).read_bytes())
    (folder / "speech_commands.json").write_text(json.dumps({"name": "speech_commands", "stream": {
        "recommended_threshold": 0.3, "recommended_decision_delay_ms": 750,
        "recommended_average_window_ms": 250, "recommended_allow_repeats": True}}))
    monkeypatch.setenv("KWS_MODELS_DIR", str(folder))

    def figures(*args: str) -> tuple[dict, str]:
        out = tmp_path / "f.json"
        assert kws_main(["stream-eval", "--wav", str(wav), "--ground_truth", str(gt),
                         "--json", str(out), *args]) == 0
        data = json.loads(out.read_text())
        return ({k: data[k] for k in ("options", "correct", "wrong", "false_positives")},
                capsys.readouterr().err)

    by_path, err = figures("--model", str(path), "--detection_threshold", "0.3",
                           "--decision_delay_ms", "750", "--average_window_ms", "250",
                           "--allow_repeats")
    assert "recommends" not in err
    classic, _ = figures("--model", str(path))
    assert classic["options"]["detection_threshold"] != 0.3
    assert classic["options"]["decision_delay_ms"] == 0
    assert classic["options"]["average_window_ms"] == 500
    assert classic["options"]["allow_repeats"] is False
    assert by_path["options"]["decision_delay_ms"] == 750
    assert by_path["options"]["allow_repeats"] is True
    assert by_path["options"]["average_window_ms"] == 250
    assert by_path != classic
    for args in ((), ("--model", "speech_commands")):
        carded, err = figures(*args)
        assert {**carded, "options": None} == {**by_path, "options": None}
        assert carded["options"] == {**by_path["options"]}
        assert ("kws stream-eval: --detection_threshold 0.3 --decision_delay_ms 750 "
                "--average_window_ms 250 --allow_repeats true, as the card of the bundled model "
                "'speech_commands' recommends (kws models)") in err
    # A flag given wins over the card; the others still come from it.
    given, err = figures("--model", "speech_commands", "--detection-threshold", "0.5")
    assert given["options"]["detection_threshold"] == 0.5
    assert given["options"]["decision_delay_ms"] == 750
    assert given["options"]["average_window_ms"] == 250
    assert ("kws stream-eval: --decision_delay_ms 750 --average_window_ms 250 --allow_repeats "
            "true, as the card") in err
    given, err = figures("--model", "speech_commands", "--average_window_ms", "400",
                         "--allow_repeats", "false")
    assert given["options"]["average_window_ms"] == 400
    assert given["options"]["allow_repeats"] is False
    assert given["options"]["detection_threshold"] == 0.3
    assert "kws stream-eval: --detection_threshold 0.3 --decision_delay_ms 750, as the" in err


def test_bad_input_is_reported(models, streams, tmp_path):
    wav, gt = streams[0]
    with pytest.raises(ValueError, match="whole number of feature frames"):
        _core.StreamingEvaluator(str(models["fc"]), clip_stride_ms=25)
    with pytest.raises(ValueError, match="clip_duration_ms"):
        _core.StreamingEvaluator(str(models["fc"]), clip_duration_ms=500)
    with pytest.raises(ValueError, match="labels given"):
        _core.StreamingEvaluator(str(models["fc"]), labels=["a", "b"])
    other_rate = tmp_path / "8k.wav"
    kws.write_wav(str(other_rate), np.zeros(8000 * 3, np.float32), 8000)
    with pytest.raises(ValueError, match="8000"):
        _core.StreamingEvaluator(str(models["fc"])).evaluate(str(other_rate), str(gt))
    messy = tmp_path / "messy.txt"
    messy.write_text(Path(gt).read_text() + "garbage line\nmaybe, 1000\n")
    result = _core.StreamingEvaluator(str(models["fc"])).evaluate(str(wav), str(messy))
    assert result.malformed_lines == 1 and result.unknown_words == ["maybe"]
    with pytest.raises(ValueError, match="unknown option 'no_such_option'"):
        _core.StreamingEvaluator(str(models["fc"]), no_such_option=1)


def test_options_are_bound_with_their_cpp_defaults():
    """StreamingOptions, RecognizeCommandsOptions and MfccOptions: the C++ defaults, a
    readable repr, validate(), and keyword overrides where an evaluator is made."""
    o = kws.StreamingOptions()
    assert (o.clip_duration_ms, o.clip_stride_ms, o.average_window_ms, o.suppression_ms,
            o.time_tolerance_ms, o.minimum_count) == (1000, 30, 500, 1500, 750, 3)
    assert o.detection_threshold == 0.7
    assert repr(o).startswith("StreamingOptions(") and "clip_stride_ms=30" in repr(o)
    o.validate()
    o.minimum_count = 0
    with pytest.raises(ValueError, match="minimum_count"):
        o.validate()
    d = kws.RecognizeCommandsOptions()
    assert (d.average_window_duration_ms, d.suppression_ms, d.minimum_count) == (1000, 1500, 3)
    assert d.detection_threshold == 0.2
    assert "RecognizeCommandsOptions(" in repr(d)
    decoder = kws.StreamingOptions(average_window_ms=300).decoder_options()
    assert decoder.average_window_duration_ms == 300
    assert decoder.detection_threshold == 0.7
    rc = kws.RecognizeCommands(LABELS, detection_threshold=0.5)
    assert rc.options.detection_threshold == rc.detection_threshold == 0.5
    # Thresholds are float32 inside, read back as the shortest decimal that is the same
    # float32: what was written, not 0.8500000238418579.
    for t in (0.85, 0.95, 0.05, 1e-7, 1.0):
        o.detection_threshold = t
        assert o.detection_threshold == t
        assert np.float32(kws.StreamingOptions(detection_threshold=t).decoder_options()
                          .detection_threshold) == np.float32(t)
    o.detection_threshold = 1 / 3
    assert repr(o.detection_threshold) == "0.33333334"
    assert np.float32(o.detection_threshold) == np.float32(1 / 3)
    assert rc.options.average_window_duration_ms == 1000
    m = kws.MfccOptions()
    assert (m.sample_rate, m.window_size_ms, m.window_stride_ms, m.dct_coefficient_count) == (
        16000, 30.0, 10.0, 40)
    assert "MfccOptions(" in repr(m)


def test_cli_defaults_and_help_come_from_the_options():
    from kws.commands import listen, stream_eval

    ev = stream_eval.build_parser().parse_args(["--wav", "a", "--ground_truth", "b",
                                                "--model", "m"])
    o = kws.StreamingOptions()
    for field in stream_eval.OPTION_FIELDS:
        assert getattr(ev, field) == pytest.approx(getattr(o, field)), field
    help_text = stream_eval.build_parser().format_help()
    assert kws.StreamingOptions.time_tolerance_ms.__doc__.split()[0] in help_text
    assert ev.allow_repeats is False
    for argv, want in ((["--allow_repeats"], True), (["--allow-repeats", "false"], False),
                       (["--allow_repeats", "1"], True)):
        assert stream_eval.build_parser().parse_args(
            ["--wav", "a", "--ground_truth", "b", *argv]).allow_repeats is want
        assert listen.build_parser().parse_args(argv).allow_repeats is want
    with pytest.raises(SystemExit):
        stream_eval.build_parser().parse_args(["--wav", "a", "--ground_truth", "b",
                                               "--allow_repeats", "maybe"])
    li = listen.build_parser().parse_args([])
    d = kws.RecognizeCommandsOptions()
    assert li.average_window_ms == d.average_window_duration_ms
    assert li.detection_threshold == pytest.approx(d.detection_threshold)
