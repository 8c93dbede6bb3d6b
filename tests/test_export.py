"""`kws export` and `kws label-wav` end to end on a checkpoint, and model.kws files that
are truncated, corrupt or tampered with."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

import kws
from kws.cli import main as cli
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train import models
from kws.train.settings import ModelSettings

LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
SETTINGS = ModelSettings(label_count=len(LABELS))


@pytest.fixture(scope="module")
def exported(tmp_path_factory, sample_dir):
    """A random tiny_conv checkpoint (classic name, no training JSON: flags give the
    settings, as with the classic freeze) exported by `kws export`."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("export")
    trained = models.build_model("tiny_conv", SETTINGS, training_dropout=True)
    models.randomize_weights(trained, seed=11)
    prefix = tf.train.Checkpoint(model=trained).save(str(root / "train" / "tiny_conv.ckpt"))
    out = root / "out"
    code = cli(["export", "--start_checkpoint", prefix, "--model_architecture", "tiny_conv",
                "--output_dir", str(out), "--data_dir", str(sample_dir),
                "--representative_clips", "20"])
    assert code == 0
    return trained, out


@pytest.fixture(scope="module")
def clips(sample_dir) -> tuple[list[Path], np.ndarray]:
    paths = [sorted((sample_dir / w).glob("*.wav"))[3] for w in ("yes", "left", "stop", "go")]
    data = []
    for p in paths:
        x = kws.read_wav(p)[0][:16000]
        data.append(np.pad(x, (0, 16000 - len(x))))
    return paths, np.stack(data).astype(np.float32)


@pytest.fixture(scope="module")
def many_clips(sample_dir) -> np.ndarray:
    """Five clips of each of the ten words."""
    data = []
    for w in ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go"):
        for p in sorted((sample_dir / w).glob("*.wav"))[:5]:
            x = kws.read_wav(p)[0][:16000]
            data.append(np.pad(x, (0, 16000 - len(x))))
    return np.stack(data).astype(np.float32)


def test_export_writes_every_format(exported, clips, many_clips):
    import tensorflow as tf

    trained, out = exported
    _, audio = clips
    reference = tf_scores_for(trained, audio, SETTINGS)
    assert reference.max(axis=1).mean() < 0.99  # not saturated: comparisons mean something
    assert (out / "labels.txt").read_text().split() == LABELS

    native = kws.Model.load(str(out / "model.kws"))
    assert native.architecture == "tiny_conv" and native.labels == LABELS
    np.testing.assert_allclose(native.predict(audio), reference, atol=1e-4, rtol=0)

    # The SavedModel's signatures as TensorFlow reads them: audio in, labels_softmax out.
    saved = tf.saved_model.load(str(out / "saved_model"))
    assert set(saved.signatures) == {"serving_default", "single_clip"}
    for key, batch in (("serving_default", None), ("single_clip", 1)):
        fn = saved.signatures[key]
        spec = fn.structured_input_signature[1]
        assert list(spec) == ["samples"] and spec["samples"].shape.as_list() == [batch, 16000]
        assert list(fn.structured_outputs) == ["labels_softmax"]
        assert fn.structured_outputs["labels_softmax"].shape.as_list() == [batch, len(LABELS)]
    got = saved.signatures["serving_default"](samples=tf.constant(audio))["labels_softmax"]
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-5, rtol=0)
    got = saved.signatures["single_clip"](samples=tf.constant(audio[:1]))["labels_softmax"]
    np.testing.assert_allclose(got.numpy(), reference[:1], atol=1e-5, rtol=0)

    def tflite_scores(name: str, audio: np.ndarray = audio) -> np.ndarray:
        """Scores through the file's serving signature, read by name."""
        interpreter = tf.lite.Interpreter(model_path=str(out / name), num_threads=1)
        assert interpreter.get_signature_list() == {
            "serving_default": {"inputs": ["samples"], "outputs": ["labels_softmax"]}}
        runner = interpreter.get_signature_runner("serving_default")
        inp = runner.get_input_details()["samples"]
        outp = runner.get_output_details()["labels_softmax"]
        assert list(inp["shape"]) == [1, 16000] and inp["dtype"] == np.float32
        assert list(outp["shape"]) == [1, len(LABELS)] and outp["dtype"] == np.float32
        return np.stack([runner(samples=clip[None])["labels_softmax"][0] for clip in audio])

    np.testing.assert_allclose(tflite_scores("model_float.tflite"), reference, atol=1e-4,
                               rtol=0)
    # int8 (random weights, 20 calibration clips) is approximate: over 50 clips, the same
    # top label as float for most, and scores close to float (with the audio quantized to
    # 8 bits before the front end, these were 46%, 0.6 and 0.058).
    quantized = tflite_scores("model_int8.tflite", many_clips)
    np.testing.assert_allclose(quantized.sum(axis=1), 1.0, atol=0.02)
    reference = tf_scores_for(trained, many_clips, SETTINGS)
    assert (quantized.argmax(axis=1) == reference.argmax(axis=1)).mean() >= 0.8
    assert np.corrcoef(quantized.ravel(), reference.ravel())[0, 1] >= 0.95
    assert np.abs(quantized - reference).mean() < 0.025
    # int8 really is quantized: much smaller than the float file.
    assert (out / "model_int8.tflite").stat().st_size < 0.5 * (out / "model_float.tflite").stat().st_size


def _label_lines(capsys) -> list[str]:
    return capsys.readouterr().out.strip().splitlines()


def test_label_wav_prints_top_labels(exported, clips, capsys):
    trained, out = exported
    paths, audio = clips
    reference = tf_scores_for(trained, audio[:1], SETTINGS)[0]
    top = np.argsort(-reference)[:3]
    expected = [f"{LABELS[i]} (score = {reference[i]:.5f})" for i in top]

    assert cli(["label-wav", "--graph", str(out / "model.kws"), "--wav", str(paths[0])]) == 0
    lines = _label_lines(capsys)
    assert len(lines) == 3
    assert [line.split(" (")[0] for line in lines] == [e.split(" (")[0] for e in expected]
    for line, want in zip(lines, expected):
        assert abs(float(line.split("= ")[1][:-1]) - float(want.split("= ")[1][:-1])) <= 2e-5

    assert cli(["label-wav", "--graph", str(out / "model_float.tflite"), "--labels",
                str(out / "labels.txt"), "--wav", str(paths[0]), "--how_many_labels", "2"]) == 0
    lines = _label_lines(capsys)
    assert [line.split(" (")[0] for line in lines] == [e.split(" (")[0] for e in expected[:2]]

    assert cli(["label-wav", "--graph", str(out / "saved_model"), "--labels",
                str(out / "labels.txt"), "--wav", str(paths[0])]) == 0
    assert [line.split(" (")[0] for line in _label_lines(capsys)] == [e.split(" (")[0] for e in expected]


def test_label_wav_errors(exported, tmp_path, capsys, clips):
    _, out = exported
    paths, _ = clips
    bad_wav = tmp_path / "bad.wav"
    bad_wav.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    assert cli(["label-wav", "--graph", str(out / "model.kws"), "--wav", str(bad_wav)]) == 1
    assert "bad.wav" in capsys.readouterr().err
    bad_model = tmp_path / "bad.kws"
    bad_model.write_bytes((out / "model.kws").read_bytes()[:1000])
    assert cli(["label-wav", "--graph", str(bad_model), "--wav", str(paths[0])]) == 1
    assert "bad.kws" in capsys.readouterr().err
    assert cli(["label-wav", "--graph", str(out / "model_float.tflite"), "--wav",
                str(paths[0])]) == 1
    assert "--labels" in capsys.readouterr().err
    short = tmp_path / "labels.txt"
    short.write_text("a\nb\n")
    assert cli(["label-wav", "--graph", str(out / "model.kws"), "--labels", str(short),
                "--wav", str(paths[0])]) == 1
    assert "2 labels" in capsys.readouterr().err


@pytest.mark.slow
def test_corrupt_tflite_is_one_line_never_a_crash(exported, tmp_path, capsys, clips):
    """TensorFlow's TFLite loader segfaults or hangs on some truncated or bit-flipped
    files: label-wav runs it in a child process, so each is a one-line error naming the
    file (or, for a harmless flip, normal output), and this process survives."""
    _, out = exported
    paths, _ = clips
    data = (out / "model_float.tflite").read_bytes()
    rng = np.random.default_rng(5)
    cases = {f"cut{k}.tflite": data[: len(data) * k // 10] for k in (1, 4, 7, 9)}
    for i in range(3):
        flipped = bytearray(data)
        for offset in rng.integers(0, len(data), 8):
            flipped[offset] ^= 0xFF
        cases[f"flip{i}.tflite"] = bytes(flipped)
    outcomes = {}
    for name, content in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        code = cli(["label-wav", "--graph", str(bad), "--labels", str(out / "labels.txt"),
                    "--wav", str(paths[0])])
        captured = capsys.readouterr()
        outcomes[name] = code
        if code == 1:
            lines = [x for x in captured.err.splitlines() if x.strip()]
            assert len(lines) == 1 and lines[0].startswith(f"kws label-wav: {bad}: "), lines
        else:
            assert code == 0 and len(_label_lines_from(captured.out)) == 3
    assert all(outcomes[f"cut{k}.tflite"] == 1 for k in (1, 4, 7, 9)), outcomes


def _label_lines_from(text: str) -> list[str]:
    return [x for x in text.splitlines() if "(score = " in x]


# ---- tampered model.kws files ---------------------------------------------------------

def _split(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def _join(header: dict, body: bytes) -> bytes:
    """The file image; a tampered description gets a matching kws_crc32c, so that the
    check behind the checksum is the one tested."""
    metadata = header.get("__metadata__", {})
    if "kws_crc32c" in metadata and isinstance(metadata.get("kws"), str):
        crc = kws._core.crc32c(body, kws._core.crc32c(metadata["kws"].encode()))
        metadata["kws_crc32c"] = f"{crc:08x}"
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + body


def _load(data: bytes, tmp_path: Path):
    path = tmp_path / "tampered.kws"
    path.write_bytes(data)
    return kws.Model.load(str(path))


def _with_meta(data: bytes, edit) -> bytes:
    header, body = _split(data)
    meta = json.loads(header["__metadata__"]["kws"])
    edit(meta)
    header["__metadata__"]["kws"] = json.dumps(meta)
    return _join(header, body)


def test_bad_model_files(exported, tmp_path):
    _, out = exported
    good = (out / "model.kws").read_bytes()
    _load(good, tmp_path)  # the untouched file loads

    cases = {
        "truncated": (good[: len(good) // 2], "truncated"),
        "header only": (good[:100], "past the end"),
        "header length past the end": (struct.pack("<Q", len(good)) + good[8:],
                                       "past the end"),
        "not JSON": (good[:8] + b"[" + good[9:], "header"),
    }

    def version(meta):
        meta["format_version"] = 99
    cases["wrong version"] = (_with_meta(good, version), "format_version 99")

    def fewer_labels(meta):
        meta["labels"] = meta["labels"][:-1]
    cases["labels"] = (_with_meta(good, fewer_labels), "11 labels but the last layer has 12")

    def unknown_op(meta):
        meta["ops"][-1]["type"] = "lstm"
    cases["unknown op"] = (_with_meta(good, unknown_op), "unknown op type 'lstm'")

    def bad_frontend(meta):
        meta["frontend"]["window_stride_ms"] = -10
    cases["front end"] = (_with_meta(good, bad_frontend), "front-end")

    header, body = _split(good)
    kernel = next(k for k in header if k.endswith("conv1.kernel"))
    h = json.loads(json.dumps(header))
    h[kernel]["shape"] = list(reversed(h[kernel]["shape"]))
    cases["wrong shape"] = (_join(h, body), r"expected \[10, 8, 1, 8\]")
    h = json.loads(json.dumps(header))
    h[kernel]["dtype"] = "F64"
    cases["wrong dtype size"] = (_join(h, body), "bytes but its shape and dtype need")
    h = json.loads(json.dumps(header))
    h[kernel]["data_offsets"] = [0, len(body) + 4]
    cases["offsets out of range"] = (_join(h, body), "past the end of the data buffer")
    h = json.loads(json.dumps(header))
    by_offset = sorted((v["data_offsets"], k) for k, v in h.items() if k != "__metadata__")
    second = by_offset[1][1]
    begin, end = h[second]["data_offsets"]
    h[second]["data_offsets"] = [begin - 4, end - 4]  # now overlaps the first tensor
    cases["overlapping offsets"] = (_join(h, body), "overlaps")

    for name, (data, message) in cases.items():
        with pytest.raises(ValueError, match=message) as info:
            _load(data, tmp_path)
        assert "tampered.kws" in str(info.value), name

    # Random single-bit flips anywhere: an error or a loadable model, never a crash.
    rng = np.random.default_rng(0)
    for _ in range(200):
        data = bytearray(good)
        pos = int(rng.integers(0, min(len(data), 8 + len(_split(good)[0]) * 0 + 4096)))
        data[pos] ^= 1 << int(rng.integers(0, 8))
        try:
            model = _load(bytes(data), tmp_path)
            model.predict(np.zeros(16000, np.float32))
        except ValueError as e:
            assert "tampered.kws" in str(e)


def test_export_reads_training_settings(tmp_path, clips, capsys):
    """With the <arch>_model.json that `kws train` writes beside its checkpoints, the
    settings (here a 20 ms stride and 20 coefficients) come from the training run, and
    contradicting flags are refused."""
    import tensorflow as tf

    from kws.train import checkpoint, models

    settings = ModelSettings(label_count=len(LABELS), window_stride_ms=20.0,
                             feature_bin_count=20)
    trained = models.build_model("ds_cnn", settings, training_dropout=True)
    models.randomize_weights(trained, seed=5)
    train_dir = tmp_path / "train"
    prefix = tf.train.Checkpoint(model=trained).save(str(train_dir / "ds_cnn.ckpt"))
    (train_dir / "ds_cnn_model.json").write_text(json.dumps({
        "format": checkpoint.MODEL_JSON_FORMAT, "version": checkpoint.MODEL_JSON_VERSION,
        "architecture": "ds_cnn", "labels": LABELS, "settings": settings.to_dict(),
        "flags": {}}))
    out = tmp_path / "out"
    assert cli(["export", "--start_checkpoint", prefix, "--output_dir", str(out),
                "--native_only"]) == 0
    model = kws.Model.load(str(out / "model.kws"))
    assert model.architecture == "ds_cnn"
    assert (model.num_frames, model.num_coefficients) == (49, 20)
    _, audio = clips
    np.testing.assert_allclose(model.predict(audio), tf_scores_for(trained, audio, settings),
                               atol=1e-4, rtol=0)
    assert cli(["export", "--start_checkpoint", prefix, "--output_dir", str(out),
                "--native_only", "--feature_bin_count", "40"]) == 1
    assert "disagrees" in capsys.readouterr().err


def tf_scores_for(keras_model, clips: np.ndarray, settings: ModelSettings) -> np.ndarray:
    import tensorflow as tf

    from kws.train.features import tf_features

    feats = tf_features(tf.constant(clips), settings)
    return tf.nn.softmax(keras_model(feats, training=False)).numpy()


# ---- name, version and provenance in the metadata ---------------------------------------

def test_export_writes_name_version_provenance(tmp_path, capsys):
    import tensorflow as tf

    trained = models.build_model("tiny_conv", SETTINGS, training_dropout=True)
    models.randomize_weights(trained, seed=5)
    prefix = tf.train.Checkpoint(model=trained).save(str(tmp_path / "train" / "tiny_conv.ckpt"))
    out = tmp_path / "named.kws"
    provenance = "recipe x, seed 3; data: the fixture clips (CC BY 4.0)"
    assert cli(["export", "--start_checkpoint", prefix, "--model_architecture", "tiny_conv",
                "--output_file", str(out), "--model_name", "tiny_words", "--model_version",
                "2.1", "--provenance", provenance]) == 0
    model = kws.Model.load(str(out))
    assert (model.name, model.version, model.provenance) == ("tiny_words", "2.1", provenance)
    assert model.summary().startswith("tiny_words version 2.1: kws model 'tiny_conv'")
    assert model.summary().endswith(f"\n  provenance: {provenance}")
    assert model.num_parameters == sum(int(np.prod(w.shape)) for w in trained.weights
                                       if "dropout" not in w.name)
    assert repr(model) == "<kws.Model tiny_words 'tiny_conv' 12 labels>"
    # Without the flags the file has none of them.
    plain = tmp_path / "plain.kws"
    assert cli(["export", "--start_checkpoint", prefix, "--model_architecture", "tiny_conv",
                "--output_file", str(plain)]) == 0
    assert kws.Model.load(str(plain)).name == ""
    capsys.readouterr()
    # Bad values are refused before the checkpoint is read, naming the flag and the bound.
    for flags, message in ((["--model_name", "../x"], "--model_name '../x': use 1 to 64"),
                           (["--model_name", "a" * 65], "use 1 to 64 letters"),
                           (["--model_version", "v" * 65], "--model_version"),
                           (["--provenance", "p" * 1001], "--provenance is 1001 bytes long "
                                                          "(at most 1000)")):
        assert cli(["export", "--start_checkpoint", str(tmp_path / "nothing"),
                    "--output_file", str(tmp_path / "bad.kws"), *flags]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "bad.kws").exists()


def test_failed_export_leaves_the_previous_one_whole(exported, tmp_path, monkeypatch, capsys):
    """The new set is built beside --output_dir and moved in only when complete; files the
    export does not write (a user's saved_model.old/, notes) are never touched."""
    import shutil

    from kws.train import export as export_module

    _, out = exported
    prefix = str(next((out.parent / "train").glob("tiny_conv.ckpt-*.index"))).removesuffix(
        ".index")
    target = tmp_path / "exp"
    shutil.copytree(out, target)
    (target / "saved_model.old").mkdir()
    (target / "saved_model.old" / "keep.txt").write_text("mine")
    (target / "notes.txt").write_text("mine too")
    before = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    args = ["export", "--start_checkpoint", prefix, "--model_architecture", "tiny_conv",
            "--output_dir", str(target)]

    def disk_full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module, "tflite_bytes", disk_full)
    assert cli(args) == 1
    assert "No space left on device" in capsys.readouterr().err
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before  # the previous export, whole: no new model.kws beside old TFLite
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no staging left behind
    monkeypatch.undo()
    assert cli(args + ["--native_only"]) == 0
    assert (target / "saved_model.old" / "keep.txt").read_text() == "mine"
    assert (target / "notes.txt").read_text() == "mine too"
    assert kws.Model.load(target / "model.kws").labels == LABELS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]
