"""The classic speech_commands tools' flag names work on the matching kws commands
(train, freeze -> export, label_wav -> label-wav, generate_streaming_test_wav ->
gen-stream, test_streaming_accuracy -> stream-eval, wav_to_spectrogram -> spectrogram),
and the two that used to be refused do what the classic tools did."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import kws
from kws.cli import main as kws_main
from kws.commands import export as export_command
from kws.commands import gen_stream, label_wav, spectrogram, stream_eval
from kws.commands import train as train_command
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train import checkpoint, models
from kws.train.settings import ModelSettings

# Each classic tool's flags with a value it would take (None: a switch).
CLASSIC = {
    "train": {
        "data_url": "", "data_dir": "/tmp/d", "background_volume": "0.1",
        "background_frequency": "0.8", "silence_percentage": "10", "unknown_percentage": "10",
        "time_shift_ms": "100", "testing_percentage": "10", "validation_percentage": "10",
        "sample_rate": "16000", "clip_duration_ms": "1000", "window_size_ms": "30",
        "window_stride_ms": "10", "feature_bin_count": "40",
        "how_many_training_steps": "15000,3000", "eval_step_interval": "400",
        "learning_rate": "0.001,0.0001", "batch_size": "100", "summaries_dir": "/tmp/s",
        "wanted_words": "yes,no", "train_dir": "/tmp/t", "save_step_interval": "100",
        "start_checkpoint": "", "model_architecture": "conv", "check_nans": "false",
        "quantize": "false", "preprocess": "mfcc", "verbosity": "INFO",
        "optimizer": "gradient_descent"},
    "freeze": {
        "sample_rate": "16000", "clip_duration_ms": "1000", "clip_stride_ms": "30",
        "window_size_ms": "30", "window_stride_ms": "10", "feature_bin_count": "40",
        "start_checkpoint": "/tmp/c", "model_architecture": "conv", "wanted_words": "yes,no",
        "output_file": "/tmp/model.kws", "quantize": "false", "preprocess": "mfcc"},
    "label_wav": {
        "wav": "/tmp/a.wav", "graph": "/tmp/model.kws", "labels": "/tmp/l.txt",
        "input_name": "wav_data:0", "output_name": "labels_softmax:0", "how_many_labels": "3"},
    "generate_streaming_test_wav": {
        "data_url": "", "data_dir": "/tmp/d", "background_dir": "", "background_volume": "0.1",
        "background_frequency": "0.8", "silence_percentage": "10", "testing_percentage": "10",
        "validation_percentage": "10", "sample_rate": "16000", "clip_duration_ms": "1000",
        "window_size_ms": "30", "window_stride_ms": "10", "feature_bin_count": "40",
        "wanted_words": "yes,no", "output_audio_file": "/tmp/s.wav",
        "output_labels_file": "/tmp/s.txt", "test_duration_seconds": "600",
        "word_gap_ms": "2000", "unknown_percentage": "30"},
    "test_streaming_accuracy": {
        "wav": "/tmp/s.wav", "graph": "/tmp/model.kws", "labels": "/tmp/l.txt",
        "ground_truth": "/tmp/s.txt", "input_data_name": "decoded_sample_data:0",
        "input_rate_name": "decoded_sample_data:1", "output_name": "labels_softmax",
        "clip_duration_ms": "1000", "average_window_ms": "500", "time_tolerance_ms": "750",
        "suppression_ms": "1500", "sample_stride_ms": "30", "detection_threshold": "0.7",
        "verbose": None},
    "wav_to_spectrogram": {
        "input_wav": "/tmp/a.wav", "window_size": "256", "stride": "128",
        "brightness": "64", "output_image": "/tmp/a.png"},
}
PARSERS = {
    "train": train_command.build_parser,
    "freeze": export_command.build_parser,
    "label_wav": label_wav.build_parser,
    "generate_streaming_test_wav": gen_stream.build_parser,
    "test_streaming_accuracy": stream_eval.build_parser,
    "wav_to_spectrogram": spectrogram.build_parser,
}


@pytest.mark.parametrize("tool", sorted(CLASSIC))
def test_every_classic_flag_is_accepted(tool):
    argv = []
    for name, value in CLASSIC[tool].items():
        argv += [f"--{name}"] + ([] if value is None else [value])
    args, unknown = PARSERS[tool]().parse_known_args(argv)
    assert unknown == [], f"{tool}: refused {unknown}"


def test_classic_names_reach_the_same_settings():
    """The classic spellings set what the kws spellings set."""
    ev = stream_eval.build_parser().parse_args(
        ["--wav", "a.wav", "--ground_truth", "a.txt", "--graph", "m.kws",
         "--sample_stride_ms", "20"])
    assert ev.model == "m.kws" and ev.clip_stride_ms == 20
    gen = gen_stream.build_parser().parse_args(
        ["--data_dir", "d", "--output_audio_file", "s.wav", "--output_labels_file", "s.txt",
         "--test_duration_seconds", "60"])
    assert (gen.output_wav, gen.output_ground_truth, gen.duration_seconds) == (
        "s.wav", "s.txt", 60.0)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A train_dir as `kws train` leaves it: a checkpoint of a random conv model and the
    model JSON beside it."""
    train_dir = tmp_path_factory.mktemp("train")
    labels = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
    settings = ModelSettings(label_count=len(labels))
    model = models.build_model("conv", settings, training_dropout=True)
    models.randomize_weights(model, seed=3)
    tf.train.Checkpoint(model=model).save(str(train_dir / "conv.ckpt"))
    checkpoint.write_model_files(train_dir, "conv", settings, labels, {})
    return train_dir


def test_export_output_file_and_stream_eval_graph(trained, speech_dir, tmp_path, capsys):
    """`kws export --output_file X.kws` writes the same model as --output_dir; label-wav and
    `kws stream-eval --graph` run it as they run --model."""
    single = tmp_path / "frozen.kws"
    assert kws_main(["export", "--start_checkpoint", str(trained),
                     "--output_file", str(single)]) == 0
    assert kws_main(["export", "--start_checkpoint", str(trained), "--output_dir",
                     str(tmp_path / "all"), "--native_only"]) == 0
    assert single.read_bytes() == (tmp_path / "all" / "model.kws").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all", "frozen.kws"]
    clip = sorted((speech_dir / "yes").glob("*.wav"))[0]
    model = kws.Model.load(str(single))
    expected = model.predict(np.pad(kws.read_wav(clip)[0], (0, 16000))[:16000])
    capsys.readouterr()
    assert kws_main(["label-wav", "--graph", str(single), "--wav", str(clip),
                     "--how_many_labels", "1"]) == 0
    top = capsys.readouterr().out.strip()
    assert top == f"{model.labels[int(np.argmax(expected))]} (score = {expected.max():.5f})"

    wav, truth = tmp_path / "s.wav", tmp_path / "s.txt"
    assert kws_main(["gen-stream", "--data_dir", str(speech_dir), "--output_audio_file",
                     str(wav), "--output_labels_file", str(truth),
                     "--test_duration_seconds", "20"]) == 0
    results = []
    for flag in ("--model", "--graph"):
        out = tmp_path / f"{flag[2:]}.json"
        assert kws_main(["stream-eval", "--wav", str(wav), "--ground_truth", str(truth), flag,
                         str(single), "--json", str(out)]) == 0
        results.append({k: v for k, v in json.loads(out.read_text()).items() if k != "model"})
    assert results[0] == results[1] and results[0]["ground_truth_words"] > 0


def test_export_output_file_names_what_it_writes(trained, tmp_path, capsys):
    assert kws_main(["export", "--start_checkpoint", str(trained), "--output_file",
                     str(tmp_path / "m.tflite")]) == 0
    assert (tmp_path / "m.tflite").read_bytes()[4:8] == b"TFL3"
    assert kws_main(["export", "--start_checkpoint", str(trained), "--output_file",
                     str(tmp_path / "m.pb")]) == 1
    assert "give a .kws (native model) or .tflite file" in capsys.readouterr().err
