"""The bundled models (python/kws/models): each one is there, is in the installed package,
loads with numpy only (TensorFlow blocked), matches its model card's figures, labels the
committed real fixture clips as well as its card promises, and streams exactly as it scores
whole clips. The commands use `speech_commands` when no model is given.

A missing model file fails here on purpose: scripts/train_bundled_models.sh makes it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_package import BLOCK_TENSORFLOW

import kws
from kws import bundled

REPO = Path(__file__).resolve().parents[1]
REPO_MODELS = REPO / "python" / "kws" / "models"
FIXTURES = REPO / "tests" / "data" / "speech_commands"
MAX_TOTAL_BYTES = 3 * 1024 * 1024


def _repo_model(name: str) -> Path:
    path = REPO_MODELS / f"{name}.kws"
    assert path.is_file() and path.with_suffix(".json").is_file(), (
        f"no bundled model {path} (or its card figures {path.with_suffix('.json').name}): "
        "scripts/train_bundled_models.sh trains, exports and cards it (docs/models.md)")
    return path


@pytest.fixture(params=bundled.SHIPPED_MODELS)
def shipped(request) -> str:
    _repo_model(request.param)
    return request.param


def _blocked(code: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW + code, *args],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _keyword_fixtures(labels: list[str]) -> list[tuple[str, Path]]:
    return [(w, p) for w in labels[2:] for p in sorted((FIXTURES / w).glob("*.wav"))]


def test_every_shipped_model_is_in_the_package():
    names = []
    for name in bundled.SHIPPED_MODELS:
        path = _repo_model(name)
        names.append(name)
        # The installed package (the wheel's package data) holds the same files.
        installed = bundled.models_dir() / path.name
        assert installed.is_file(), f"{installed}: not in the installed package"
        assert installed.read_bytes() == path.read_bytes()
        assert installed.with_suffix(".json").read_bytes() == path.with_suffix(".json").read_bytes()
        # A model holding the pretrained speech embedding ships its weights' license.
        if "embedding" in kws.Model.load(str(path)).architecture:
            license_file = REPO_MODELS / "LICENSE.speech_embedding.txt"
            assert "Apache License" in license_file.read_text()
            assert (bundled.models_dir() / license_file.name).read_bytes() == \
                license_file.read_bytes()
    assert set(names) <= set(bundled.names())
    total = sum(p.stat().st_size for p in REPO_MODELS.glob("*.kws"))
    assert total < MAX_TOTAL_BYTES, f"bundled models take {total} bytes (at most 3 MB)"
    # Every model file has its card and every card its model.
    assert ({p.stem for p in REPO_MODELS.glob("*.kws")} ==
            {p.stem for p in REPO_MODELS.glob("*.json")})


def test_loads_with_numpy_only_and_matches_its_card(shipped):
    """With TensorFlow blocked: load by name, the file's own figures equal the card's, and
    the keyword fixture clips score as the card expects."""
    out = _blocked("""
import json, sys
import numpy as np
import kws
model = kws.Model.load(sys.argv[1])
info = kws.bundled.describe(sys.argv[1])
right = total = 0
for word in model.labels[2:]:
    for wav in sorted((__import__("pathlib").Path(sys.argv[2]) / word).glob("*.wav")):
        samples, _ = kws.read_wav(str(wav))
        clip = np.zeros(model.clip_samples, np.float32)
        clip[: min(len(samples), len(clip))] = samples[: len(clip)]
        total += 1
        right += model.labels[int(np.argmax(model.predict(clip)))] == word
info["fixtures"] = {"accuracy": right / total, "count": total}
info["summary"] = model.summary()
assert "tensorflow" not in sys.modules and "kws.train" not in sys.modules
print(json.dumps(info))
""", shipped, str(FIXTURES))
    info = json.loads(out.stdout)
    card = json.loads((REPO_MODELS / f"{shipped}.json").read_text())
    assert info["card"] == card
    for key in ("version", "provenance", "architecture", "labels", "file_bytes", "parameters",
                "flops_per_window", "flops_per_hop"):
        assert info[key] == card[key], key
    assert card["name"] == shipped and info["name"] == shipped
    assert info["summary"].startswith(f"{shipped} version {card['version']}: ")
    assert f"provenance: {card['provenance']}" in info["summary"]
    assert info["labels"][:2] == ["_silence_", "_unknown_"]
    # Real speech, labelled as well as the card says (and as it measured).
    assert info["fixtures"]["count"] == card["fixtures"]["count"] >= 20
    assert info["fixtures"]["accuracy"] == pytest.approx(card["fixtures"]["accuracy"])
    assert info["fixtures"]["accuracy"] >= card["expected"]["fixture_keyword_accuracy_min"]
    # The card's streaming figures are at the threshold it recommends, from its sweep.
    stream = card["stream"]
    assert stream["recommended_threshold"] in [p["threshold"] for p in stream["sweep"]]
    # ... and the decision delay, averaging window and repeats rule it recommends: all
    # chosen on the validation voices' stream (the best of the decoders swept there), the
    # figures the testing voices'.
    delay = stream["recommended_decision_delay_ms"]
    window = stream["recommended_average_window_ms"]
    repeats = stream["recommended_allow_repeats"]
    assert isinstance(repeats, bool)
    assert stream["options"]["decision_delay_ms"] == delay
    assert stream["options"]["average_window_ms"] == window
    assert stream["options"]["allow_repeats"] is repeats
    kws.RecognizeCommandsOptions(average_window_duration_ms=window, decision_delay_ms=delay,
                                 detection_threshold=stream["recommended_threshold"],
                                 allow_repeats=repeats).validate()

    def decoder(p):
        return p["average_window_ms"], p["decision_delay_ms"], p["allow_repeats"]

    decoders = [decoder(p) for p in stream["by_decoder"]]
    chosen = stream["chosen_on"]["by_decoder"]
    assert decoders == [decoder(p) for p in chosen]
    assert {r for _, _, r in decoders} == {False, True}
    assert len(set(decoders)) == len(decoders) > 1 and (window, delay, repeats) in decoders
    for p, there in zip(stream["by_decoder"], chosen):  # at the threshold chosen for each
        assert p["threshold"] == there["threshold"]
    here = stream["by_decoder"][decoders.index((window, delay, repeats))]
    assert here["threshold"] == stream["recommended_threshold"]
    assert here["correct_percent"] == stream["at_recommended"]["correct_percent"]
    # The rule: the most words correct with at most 1 false positive per hour, then the
    # fewest wrong (bench_accuracy's and the streaming goal's measure).
    rank = [(p["false_positives_per_hour"] <= 1, p["correct_percent"], -p["wrong_percent"])
            for p in chosen]
    assert rank[decoders.index((window, delay, repeats))] == max(rank)
    assert rank[decoders.index((window, delay, repeats))][0]
    assert stream["chosen_on"]["command"] != stream["commands"][0]
    for png in (card["sibling"]["confusion_png"], stream["sweep_png"]):
        assert (REPO / png).is_file(), png


def test_stream_scores_equal_whole_clip_scores(shipped):
    """Real words back to back, streamed in odd chunks at a 20 and a 30 ms hop: every
    window's scores are the whole-clip scores of the same samples."""
    model = kws.Model.load(shipped)
    clips = [kws.read_wav(str(p))[0] for _, p in _keyword_fixtures(list(model.labels))[:6]]
    audio = np.concatenate(clips).astype(np.float32)
    for hop_ms in (20, 30):
        stream = model.create_stream(hop_ms=hop_ms)
        got = []
        for start in range(0, len(audio), 1234):
            got.extend(stream.accept_waveform(audio[start:start + 1234]))
        n = model.clip_samples
        assert len(got) == (len(audio) - n) // stream.hop_samples + 1
        starts = [s for s, _ in got]
        whole = model.predict(np.stack([audio[s:s + n] for s in starts]))
        np.testing.assert_allclose(np.stack([g for _, g in got]), whole, atol=1e-6, rtol=0)


def test_commands_default_to_the_bundled_model(tmp_path):
    """label-wav, stream-eval and listen with no model: speech_commands, said in one line,
    TensorFlow blocked."""
    assert bundled.DEFAULT_MODEL == "speech_commands"
    _repo_model(bundled.DEFAULT_MODEL)
    card = bundled.card(bundled.DEFAULT_MODEL)
    yes = sorted((FIXTURES / "yes").glob("*.wav"))[0]
    stream_wav, truth = tmp_path / "stream.wav", tmp_path / "stream.txt"
    kws.generate_stream(str(FIXTURES), str(stream_wav), str(truth), duration_seconds=20, seed=1,
                        validation_percentage=0, testing_percentage=100)
    out = _blocked("""
import sys
from kws.cli import main
assert main(["label-wav", "--wav", sys.argv[1]]) == 0
assert main(["stream-eval", "--wav", sys.argv[2], "--ground_truth", sys.argv[3]]) == 0
assert main(["listen", "--wav", sys.argv[2]]) == 0
assert main(["models"]) == 0
assert "tensorflow" not in sys.modules
""", str(yes), str(stream_wav), str(truth))
    lines = out.stdout.splitlines()
    assert lines[0].startswith("yes (score = "), out.stdout
    note = "no {} given: using the bundled model 'speech_commands'"
    for prog, flag in (("kws label-wav", "--graph"), ("kws stream-eval", "--model"),
                       ("kws listen", "--model")):
        assert f"{prog}: {note.format(flag)}" in out.stderr
    for prog in ("kws stream-eval", "kws listen"):  # decoded as the shipped card recommends
        assert (f"{prog}: --detection_threshold {card['stream']['recommended_threshold']:g} "
                in out.stderr), out.stderr
        assert "as the card of the bundled model 'speech_commands' recommends" in out.stderr
    assert "% matched" in out.stdout  # stream-eval's summary
    assert "speech_commands version" in out.stdout  # kws models
    assert "real speakers it never heard" in out.stdout


# ---- the lookup machinery (any model; a fitted test model stands in) --------------------

@pytest.fixture
def models_dir(models, tmp_path, monkeypatch) -> Path:
    """A models folder (KWS_MODELS_DIR) with the fitted single_fc as 'speech_commands' and
    a card without figures."""
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(models["fc"], folder / "speech_commands.kws")
    (folder / "speech_commands.json").write_text(json.dumps({"name": "speech_commands"}))
    monkeypatch.setenv("KWS_MODELS_DIR", str(folder))
    return folder


def test_load_by_name_or_path(models_dir, models, tmp_path):
    assert bundled.models_dir() == models_dir
    assert bundled.names() == ["speech_commands"]
    by_name = kws.Model.load("speech_commands")
    by_path = kws.Model.load(str(models["fc"]))
    clip = kws.read_wav(str(sorted((FIXTURES / "yes").glob("*.wav"))[0]))[0][:16000]
    clip = np.pad(clip, (0, 16000 - len(clip))).astype(np.float32)
    assert np.array_equal(by_name.predict(clip), by_path.predict(clip))
    with pytest.raises(ValueError, match=r"nope: neither a model file nor a bundled model's "
                                         r"name \(bundled models: speech_commands\)"):
        kws.Model.load("nope")
    # What names a bundled model: its name, not a path, nor a file of that name here.
    assert bundled.bundled_name("speech_commands") == "speech_commands"
    for other in ("nope", "speech_commands.kws", "./speech_commands", b"speech_commands",
                  str(models_dir / "speech_commands.kws")):
        assert bundled.bundled_name(other) is None, other
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        (tmp_path / "speech_commands").write_bytes(b"")
        assert bundled.bundled_name("speech_commands") is None
    # A path is a path: the loader's own error.
    with pytest.raises(OSError, match="missing.kws': No such file"):
        kws.Model.load(str(tmp_path / "missing.kws"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KWS_MODELS_DIR", str(empty))
        with pytest.raises(ValueError, match=r"bundled models: none \(no \*.kws in "):
            kws.Model.load("speech_commands")
    # The native lookup refuses names that could leave the folder.
    with pytest.raises(ValueError, match="not a bundled model name"):
        kws.Model.load_bundled("../speech_commands", str(models_dir))


def test_kws_models_lists_figures(models_dir, capsys):
    from kws.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    model = kws.Model.load("speech_commands")
    assert out.startswith("speech_commands: single_fc, 12 labels\n")
    assert f"labels: {', '.join(model.labels)}" in out
    assert f"{model.num_parameters:,} parameters" in out
    assert f"{model.flops_per_window / 1e6:.2f} MFLOPs per window" in out
    assert "per 20 ms hop" in out and "per 30 ms hop" in out
    assert main(["models", "--json"]) == 0
    (info,) = json.loads(capsys.readouterr().out)
    assert info["card"] == {"name": "speech_commands"}
    assert info["file_bytes"] == (models_dir / "speech_commands.kws").stat().st_size
    # single_fc recomputes its one dense layer every hop.
    assert info["flops_per_hop"] == {"20": model.flops_per_window, "30": model.flops_per_window}
    # A card's figures: the sibling's accuracy and the stream's recommended decoder.
    stream = {"recommended_threshold": 0.7, "recommended_decision_delay_ms": 750,
              "duration_s": 1200.0, "at_recommended": {
                  "correct_percent": 91.25, "wrong_percent": 2.5, "false_positives_per_hour": 0.0}}
    (models_dir / "speech_commands.json").write_text(json.dumps(
        {"name": "speech_commands", "sibling": {"accuracy": 0.9375, "count": 1253},
         "stream": stream}))
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "accuracy: 93.8% on 1253 clips of real speakers it never heard" in out
    assert ("streaming at threshold 0.7, decision delay 750 ms: 91.2% correct, 2.5% wrong, "
            "0.0 false alarms per hour (20 min of real speech over real noise)") in out
    stream["recommended_average_window_ms"] = 250
    (models_dir / "speech_commands.json").write_text(json.dumps(
        {"name": "speech_commands", "stream": stream}))
    assert main(["models"]) == 0
    assert ("streaming at threshold 0.7, decision delay 750 ms, average window 250 ms: 91.2% "
            "correct") in capsys.readouterr().out
    stream["recommended_allow_repeats"] = True
    (models_dir / "speech_commands.json").write_text(json.dumps(
        {"name": "speech_commands", "stream": stream}))
    assert main(["models"]) == 0
    assert ("streaming at threshold 0.7, decision delay 750 ms, average window 250 ms, words "
            "said again reported again: 91.2% correct") in capsys.readouterr().out
    del stream["recommended_allow_repeats"]
    stream["recommended_decision_delay_ms"] = 0
    del stream["recommended_average_window_ms"]
    (models_dir / "speech_commands.json").write_text(json.dumps(
        {"name": "speech_commands", "stream": stream}))
    assert main(["models"]) == 0
    assert "streaming at threshold 0.7: 91.2% correct" in capsys.readouterr().out
    (models_dir / "speech_commands.json").unlink()
    assert main(["models"]) == 0
    assert "accuracy: unknown (" in capsys.readouterr().out
    assert main(["models", "nope"]) == 1
    assert "no bundled model 'nope'" in capsys.readouterr().err
