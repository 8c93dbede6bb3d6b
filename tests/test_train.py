"""`kws train` end to end on a tiny synthetic dataset: logs, files, TensorBoard,
checkpoints and `load_checkpoint`, kill-and-resume, --check_nans, bad flags, recipes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import kws
from kws.commands import train as train_command
from kws.train import config as train_config
from kws.train import loop

# Subprocesses import the same kws as this test process (installed or in-tree).
KWS_PATH = str(Path(kws.__file__).resolve().parents[1])
WORDS = "yes,no,up,down"
COMMON = [
    "--wanted_words", WORDS,
    "--model_architecture", "tiny_conv",
    "--window_stride_ms", "20",
    "--feature_bin_count", "20",
    "--optimizer", "adam",
    "--batch_size", "20",
]


def run_kws(args: list[str], timeout: float = 240, env: dict | None = None):
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(
        [KWS_PATH, full_env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "kws.cli", "train", *args],
                          capture_output=True, text=True, timeout=timeout, env=full_env)


@pytest.fixture(scope="module")
def tones(tmp_path_factory, tone_dataset) -> Path:
    return tone_dataset(tmp_path_factory.mktemp("tones"), speakers=60)


def _step_lines(text: str) -> list[tuple[int, float, float, float]]:
    return [(int(m[1]), float(m[2]), float(m[3]), float(m[4])) for m in re.finditer(
        r"Step #(\d+): rate ([\d.e+-]+), accuracy ([\d.]+)%, cross entropy ([\d.e+-]+)",
        text)]


def _final_accuracy(text: str) -> tuple[float, int]:
    m = re.search(r"Final test accuracy = ([\d.]+)% \(N=(\d+)\)", text)
    assert m, text[-2000:]
    return float(m[1]) / 100, int(m[2])


@pytest.mark.slow
def test_cli_training_run(tones, tmp_path):
    train_dir, summaries = tmp_path / "train", tmp_path / "logs"
    out = run_kws([*COMMON, "--data-dir", str(tones), "--how_many_training_steps", "40,20",
                   "--learning_rate", "0.01,0.002", "--eval_step_interval", "25",
                   "--save-step-interval", "10", "--train_dir", str(train_dir),
                   "--summaries_dir", str(summaries), "--progress", "false"])
    assert out.returncode == 0, out.stderr[-3000:]
    # The full log (every step, every confusion matrix) is in train_dir/train.log.
    log = (train_dir / "train.log").read_text()
    steps = _step_lines(log)
    assert [s[0] for s in steps] == list(range(1, 61))
    assert all(s[1] == 0.01 for s in steps[:40]) and all(s[1] == 0.002 for s in steps[40:])
    assert np.mean([s[2] for s in steps[-10:]]) > 80  # the tones are easy
    # Validation at 25, 50 and the end (60), each with a confusion matrix.
    assert re.findall(r"Step (\d+): Validation accuracy = [\d.]+% \(N=\d+\)", log) == [
        "25", "50", "60"]
    assert log.count("Confusion Matrix (rows truth, columns prediction)") == 4
    # The terminal: the validation lines and the final test matrix, no per-step lines.
    terminal = out.stderr
    assert _step_lines(terminal) == []
    assert re.findall(r"Step (\d+): Validation accuracy", terminal) == ["25", "50", "60"]
    assert terminal.count("Confusion Matrix (rows truth, columns prediction)") == 1
    accuracy, n = _final_accuracy(terminal)
    assert accuracy >= 0.8 and n > 0
    # Files: labels, model JSON, the last 5 checkpoints (+ state file).
    assert (train_dir / "tiny_conv_labels.txt").read_text().split() == [
        "_silence_", "_unknown_", *WORDS.split(",")]
    meta = json.loads((train_dir / "tiny_conv_model.json").read_text())
    assert meta["format"] == "kws-train" and meta["architecture"] == "tiny_conv"
    assert meta["settings"]["feature_bin_count"] == 20
    kept = sorted(int(p.name.split("-")[-1].split(".")[0])
                  for p in train_dir.glob("tiny_conv.ckpt-*.index"))
    assert kept == [20, 30, 40, 50, 60]
    assert "tiny_conv.ckpt-60" in (train_dir / "checkpoint").read_text()
    assert not list(train_dir.glob("*.tmp"))
    # load_checkpoint rebuilds the model that scored the final test accuracy.
    model, settings, architecture, labels = loop.load_checkpoint(train_dir)
    assert architecture == "tiny_conv" and labels == meta["labels"]
    assert model.input_shape == (None, 49, 20)
    assert settings.feature_bin_count == 20 and settings.label_count == 6
    reloaded = loop.evaluate_checkpoint(train_dir / "tiny_conv.ckpt-60", str(tones))
    assert reloaded["count"] == n and reloaded["accuracy"] == pytest.approx(accuracy, abs=0.0015)
    assert reloaded["confusion_matrix"].sum() == n
    # The training partition too: one plain pass over its entries (not the endless,
    # augmented stream training reads), the same figures twice.
    from kws.train.data import DatasetIndex

    on_train = [loop.evaluate_checkpoint(train_dir, str(tones), "training")
                for _ in range(2)]
    index = DatasetIndex(str(tones), labels[2:], sample_rate=settings.sample_rate,
                         clip_duration_ms=settings.clip_duration_ms)
    assert on_train[0]["count"] == index.set_size("training") > n
    assert on_train[0]["accuracy"] == on_train[1]["accuracy"] >= 0.8
    # TensorBoard: train scalars incl. learning rate, validation accuracy and the matrix.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train_events = EventAccumulator(str(summaries / "train"), size_guidance={"tensors": 0})
    train_events.Reload()
    assert {"accuracy", "cross_entropy", "learning_rate"} <= set(
        train_events.Tags()["tensors"])
    rates = [float(e.tensor_proto.float_val[0]) if e.tensor_proto.float_val else
             float(np.frombuffer(e.tensor_proto.tensor_content, np.float32)[0])
             for e in train_events.Tensors("learning_rate")]
    assert len(rates) == 60 and rates[0] == pytest.approx(0.01) and rates[-1] == pytest.approx(
        0.002)
    val_events = EventAccumulator(str(summaries / "validation"), size_guidance={"tensors": 0})
    val_events.Reload()
    assert {"accuracy", "confusion_matrix"} <= set(val_events.Tags()["tensors"])
    assert len(val_events.Tensors("confusion_matrix")) == 3


@pytest.mark.slow
def test_kill_and_resume(tones, tmp_path):
    train_dir = tmp_path / "train"
    flags = [*COMMON, "--data_dir", str(tones), "--how_many_training_steps", "60,20",
             "--learning_rate", "0.01,0.002", "--eval_step_interval", "1000",
             "--save_step_interval", "10", "--train_dir", str(train_dir),
             "--summaries_dir", str(tmp_path / "logs"), "--progress", "false", "--verbose"]
    env = {**os.environ, "PYTHONPATH": KWS_PATH}
    first_log = tmp_path / "first_run.log"
    with open(first_log, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "kws.cli", "train", *flags],
                                stdout=subprocess.DEVNULL, stderr=log, env=env)
    state = train_dir / "checkpoint"
    deadline = time.time() + 120
    try:
        while not state.exists() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    assert state.exists(), "no checkpoint appeared before the deadline"
    import tensorflow as tf

    from kws.train.checkpoint import latest_step, resolve_checkpoint

    latest = tf.train.latest_checkpoint(str(train_dir))
    saved_step = int(latest.rsplit("-", 1)[1])
    assert 10 <= saved_step < 80, "the first run was not interrupted"
    assert latest_step(train_dir) == saved_step and latest_step(tmp_path) is None
    assert resolve_checkpoint(train_dir) == resolve_checkpoint(latest, "--flag") == latest
    with pytest.raises(ValueError, match=f"--flag {tmp_path}: no checkpoint in this folder"):
        resolve_checkpoint(tmp_path, "--flag")
    # The checkpoint carries the optimizer: its step count and Adam's moments.
    reader = tf.train.load_checkpoint(latest)
    names = reader.get_variable_to_shape_map()
    iteration = [n for n in names if n.startswith("optimizer/") and "iteration" in n]
    assert iteration and int(reader.get_tensor(iteration[0])) == saved_step
    assert sum("optimizer/" in n and "/.ATTRIBUTES" in n for n in names) >= 9

    # A save cut short leaves only partial files under temporary or unreferenced names;
    # the state file still names the last complete checkpoint, which resume uses.
    (train_dir / "tiny_conv.ckpt-75.index").write_bytes(b"\x00" * 7)
    (train_dir / "tiny_conv.ckpt-75_temp").mkdir()
    # Resuming with another front end (same input shape) is refused, naming the checkpoint.
    other = run_kws([*flags, "--resume", "--preprocess", "average"])
    assert other.returncode != 0
    assert f"{latest}: it was trained with the front end/settings" in other.stderr, \
        other.stderr[-2000:]
    out = run_kws([*flags, "--resume"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"restored {latest} at step {saved_step}" in out.stderr
    steps = _step_lines(out.stderr)
    assert steps[0][0] == saved_step + 1 and steps[-1][0] == 80
    # The learning-rate phase follows the step, not the restart.
    for step, rate, _, _ in steps:
        assert rate == (0.01 if step <= 60 else 0.002)
    # Continues from trained weights, not from scratch: its first loss is well below the
    # interrupted run's loss at step 1 (compared with that run rather than a fixed number,
    # since how far it got before the kill depends on the machine's load).
    first_steps = _step_lines(first_log.read_text(errors="replace"))
    assert first_steps and first_steps[0][0] == 1
    assert steps[0][3] < 0.8 * first_steps[0][3], (steps[0], first_steps[0])
    accuracy, _ = _final_accuracy(out.stderr)
    assert accuracy >= 0.8
    assert tf.train.latest_checkpoint(str(train_dir)).endswith("tiny_conv.ckpt-80")
    assert latest_step(train_dir) == 80


def test_check_nans_names_the_layer(tones, tmp_path, capsys):
    code = train_command.main([*COMMON, "--optimizer", "gradient_descent", "--data_dir", str(tones),
                           "--how_many_training_steps", "20", "--learning_rate", "1e30",
                           "--check_nans", "--train_dir", str(tmp_path / "t"),
                           "--summaries_dir", str(tmp_path / "s"), "--progress", "false"])
    err = capsys.readouterr().err
    assert code == 1
    m = re.search(r"kws train: error: --check_nans: NaN or Inf at step (\d+) in layer "
                  r"'(\w+)' output", err)
    assert m, err[-2000:]
    assert m[2] in {"conv1", "relu1", "flatten", "logits"}
    assert "Final test accuracy" not in err


def test_check_nans_names_input_and_gradient():
    import keras
    import tensorflow as tf

    from kws.train.models import build_model
    from kws.train.settings import ModelSettings

    settings = ModelSettings(label_count=3, window_stride_ms=20.0, feature_bin_count=20)
    model = build_model("tiny_conv", settings)
    optimizer = keras.optimizers.SGD(0.1)
    step = loop._make_train_step(model, optimizer, tf.distribute.get_strategy(), 2, True)
    feats = np.zeros((2, 49, 20), np.float32)
    feats[1, 3, 4] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError) as err:
        step(tf.constant(feats), tf.constant([0, 1]))
    assert loop._nan_message(err.value, 7) == (
        "--check_nans: NaN or Inf at step 7 in input features")
    # Finite data and weights: no error, finite loss.
    loss, _ = step(tf.zeros((2, 49, 20)), tf.constant([0, 1]))
    assert np.isfinite(float(loss))


def test_bad_flags_fail_before_work(tones, tmp_path, capsys):
    cases = [
        (["--how_many_training_steps", "100,10", "--learning_rate", "0.01"],
         "must be equal-length lists, got 2 steps"),
        (["--model_architecture", "lstm"], "--model_architecture 'lstm' is not one of"),
        (["--data_dir", str(tmp_path / "nowhere"), "--data_url", ""],
         f"--data_dir folder {tmp_path / 'nowhere'} does not exist"),
        (["--data_dir", f"{tones},{tmp_path / 'nowhere'}"], "does not exist"),
        (["--optimizer", "rmsprop"], "--optimizer 'rmsprop' is not one of"),
        (["--preprocess", "micro"], "--preprocess micro is not implemented"),
        (["--batch_size", "0"], "--batch_size must be positive"),
        (["--recipe", "slow"], "--recipe 'slow' is not one of"),
        (["--learning_rate", "0.01,abc", "--how_many_training_steps", "1,2"],
         "is not a comma list of numbers"),
        (["--start_checkpoint", str(tmp_path / "conv.ckpt-5")], "no such checkpoint"),
    ]
    base = {"data_dir": str(tones), "train_dir": str(tmp_path / "t"),
            "summaries_dir": str(tmp_path / "s")}
    for extra, message in cases:
        argv = [f"--{k}={v}" for k, v in base.items()] + extra
        with pytest.raises(ValueError, match=re.escape(message)):
            train_command.parse_config(argv)
    # The CLI reports it and exits 2 without creating anything.
    from kws.cli import main as cli_main

    code = cli_main(["train", "--data_dir", str(tones), "--train_dir", str(tmp_path / "t"),
                     "--model_architecture", "lstm"])
    assert code == 2
    assert "kws train: error: --model_architecture 'lstm' is not one of" in (
        capsys.readouterr().err)
    assert not (tmp_path / "t").exists()


def test_recipes_defaults_and_schedule(tones):
    classic = train_command.parse_config(["--data_dir", str(tones)])
    assert (classic.model_architecture, classic.steps_list, classic.rates_list,
            classic.batch_size, classic.eval_step_interval, classic.save_step_interval,
            classic.optimizer) == ("conv", [15000, 3000], [0.001, 0.0001], 100, 400, 100,
                                   "gradient_descent")
    quick = train_command.parse_config(["--recipe", "quick", "--data_dir", str(tones)])
    assert (quick.model_architecture, quick.optimizer, quick.lr_schedule) == (
        "speech_embedding", "adam", "cosine")
    assert quick.model_settings(12).spectrogram_length == 98
    # Explicit flags (dashes or underscores) override the recipe.
    mixed = train_command.parse_config(["--recipe=quick", "--data-dir", str(tones),
                                    "--model-architecture", "ds_cnn",
                                    "--how_many_training_steps", "10"])
    assert (mixed.model_architecture, mixed.steps_list, mixed.optimizer) == (
        "ds_cnn", [10], "adam")
    # Piecewise: constant per phase; cosine: each phase decays from its rate toward 0.
    assert [train_config.learning_rate_at(s, classic) for s in (1, 15000, 15001, 18000)] == [
        0.001, 0.001, 0.0001, 0.0001]
    total = quick.total_steps
    rates = [train_config.learning_rate_at(s, quick) for s in range(1, total + 1)]
    assert rates[0] == pytest.approx(0.002)
    assert rates[total // 2] == pytest.approx(0.001, rel=0.01)
    assert rates[-1] < 1e-7 and all(a >= b for a, b in zip(rates, rates[1:]))


def test_missing_data_dir_is_downloaded_from_data_url(tones, tmp_path):
    import tarfile

    archive = tmp_path / "tones.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for sub in sorted(tones.iterdir()):
            tar.add(sub, arcname=sub.name)
    target = tmp_path / "downloaded"
    config = train_command.parse_config(["--data_dir", str(target), "--data_url",
                                     archive.as_uri(), "--wanted_words", WORDS,
                                     "--progress", "false"])
    loop.maybe_download(config)
    assert sorted(p.name for p in (target / "yes").iterdir()) == sorted(
        p.name for p in (tones / "yes").iterdir())
    # A URL that cannot be fetched: a clear error naming the folder and the URL.
    config = train_command.parse_config(["--data_dir", str(tmp_path / "other"), "--data_url",
                                     (tmp_path / "missing.tar.gz").as_uri(),
                                     "--progress", "false"])
    with pytest.raises(ValueError, match="does not exist and downloading --data_url"):
        loop.maybe_download(config)


def test_peer_distillation_loss_is_cross_entropy_plus_kl_to_the_other_peers():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    logits = [tf.constant(rng.normal(0, 2, (4, 5)), tf.float32) for _ in range(3)]
    labels = tf.constant([0, 3, 1, 4])
    loss_fn = loop.make_loss()

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    probs = [softmax(x.numpy().astype(np.float64)) for x in logits]
    expected = np.zeros(4)
    for i, p in enumerate(probs):
        target = (sum(probs) - p) / 2
        cross_entropy = -np.log(p[np.arange(4), labels.numpy()])
        expected += cross_entropy + 0.5 * np.sum(target * np.log(target / p), axis=1)
    got = loop.peer_distillation_loss(logits, labels, loss_fn, 0.5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # Identical peers: every KL term is 0, so the loss is the peers' cross entropies.
    same = loop.peer_distillation_loss([logits[0]] * 3, labels, loss_fn, 1.0)
    np.testing.assert_allclose(same.numpy(), 3 * loss_fn(labels, logits[0]).numpy(), rtol=1e-6)
    # The targets are constants: a peer's gradient comes only from its own two terms.
    variables = [tf.Variable(x) for x in logits]
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(loop.peer_distillation_loss(variables, labels, loss_fn, 0.5))
    grads = tape.gradient(total, variables)
    target0 = tf.constant(((probs[1] + probs[2]) / 2).astype(np.float32))
    onehot = tf.one_hot(labels, 5)
    own = (probs[0] - onehot.numpy()) + 0.5 * (probs[0] - target0.numpy())
    np.testing.assert_allclose(grads[0].numpy(), own, atol=1e-5)


def test_mixup_mixes_each_example_with_its_mirror_and_its_own_label_dominates():
    import tensorflow as tf

    rng = np.random.default_rng(5)
    features = tf.constant(rng.normal(size=(7, 4, 3)), tf.float32)
    labels = tf.constant([0, 1, 2, 3, 4, 5, 6])
    mixed, partner, lam = loop.mixup_batch(features, labels, 0.4, tf.constant([9, 2]))
    lam, f = lam.numpy(), features.numpy()
    assert np.all((lam >= 0.5) & (lam <= 1)) and np.ptp(lam) > 0.01
    np.testing.assert_array_equal(partner.numpy(), [6, 5, 4, 3, 2, 1, 0])
    expected = lam[:, None, None] * f + (1 - lam[:, None, None]) * f[::-1]
    np.testing.assert_allclose(mixed.numpy(), expected, rtol=1e-6, atol=1e-6)
    # The same seed draws the same weights; another seed others.
    again = loop.mixup_batch(features, labels, 0.4, tf.constant([9, 2]))[2].numpy()
    other = loop.mixup_batch(features, labels, 0.4, tf.constant([9, 4]))[2].numpy()
    np.testing.assert_array_equal(again, lam)
    assert not np.allclose(other, lam)
    # A small alpha draws weights near 0 or 1, so examples stay near themselves.
    sharp = loop.mixup_batch(features, labels, 0.05, tf.constant([1, 0]))[2].numpy()
    assert np.median(sharp) > 0.95


def test_the_train_step_learns_the_mixed_batch_with_the_mixed_labels():
    import keras
    import tensorflow as tf

    from kws.train.models import build_model, randomize_weights
    from kws.train.settings import ModelSettings

    settings = ModelSettings(label_count=4, window_stride_ms=20.0, feature_bin_count=20)
    model = build_model("single_fc", settings)
    randomize_weights(model, 1)  # outputs far from uniform, so mixing shows in the loss
    rng = np.random.default_rng(2)
    features = tf.constant(rng.normal(size=(6, settings.spectrogram_length, 20)), tf.float32)
    labels = tf.constant([0, 1, 2, 3, 0, 1])
    step = loop._make_train_step(model, keras.optimizers.SGD(0.0),
                                      tf.distribute.get_strategy(), 6, False, mixup=0.5, seed=3)
    loss, _ = step(features, labels)
    # The step's draw: seed 3, step 0 (the optimizer's iterations), replica 0.
    mixed, partner, lam = loop.mixup_batch(features, labels, 0.5, tf.constant([3, 0]))
    ce = loop.make_loss()
    logits = model(mixed, training=True)
    expected = tf.reduce_mean(lam * ce(labels, logits) + (1 - lam) * ce(partner, logits))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    plain = float(tf.reduce_mean(ce(labels, model(features, training=True))))
    assert abs(float(loss) - plain) > 0.1 * plain


@pytest.mark.slow
def test_mixup_trains_and_bad_values_are_refused(tones, tmp_path):
    flags = [*COMMON, "--data_dir", str(tones), "--how_many_training_steps", "40",
             "--learning_rate", "0.01", "--eval_step_interval", "1000", "--mixup", "0.3",
             "--peers", "2", "--train_dir", str(tmp_path / "train"),
             "--summaries_dir", str(tmp_path / "logs"), "--progress", "false", "--seed", "4"]
    out = run_kws(flags)
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy, _ = _final_accuracy(out.stderr)
    assert accuracy >= 0.8
    for value in ("-0.1", "nan"):
        with pytest.raises(ValueError, match="--mixup must be >= 0"):
            train_command.parse_config(["--data_dir", str(tones), "--mixup", value])


def test_time_shift_ranges_are_bounded_by_the_clip(tmp_path):
    for flag in ("--time_shift_ms", "--unknown_time_shift_ms"):
        for value in ("-5", "1001", "nan"):
            with pytest.raises(ValueError, match=re.escape(f"{flag} must be in [0, 1000]")):
                train_command.parse_config(["--data_dir", str(tmp_path), flag, value])
    config = train_command.parse_config(["--data_dir", str(tmp_path),
                                         "--unknown_time_shift_ms", "500"])
    assert config.unknown_time_shift_ms == 500 and config.time_shift_ms == 100
    assert train_command.parse_config(["--data_dir", str(tmp_path)]).unknown_time_shift_ms == -1
    # Bounded by the clip the run asks for.
    assert train_command.parse_config(["--data_dir", str(tmp_path), "--clip_duration_ms",
                                       "1500", "--time_shift_ms", "1200"]).time_shift_ms == 1200


def test_negatives_dir_reaches_the_training_index(tones, tmp_path):
    import shutil

    clips = sorted((tones / "yes").glob("*.wav"))[:5]
    for folder, chosen in (("_unknown_", clips[:3]), ("_silence_", clips[3:])):
        (tmp_path / "neg" / folder).mkdir(parents=True)
        for i, clip in enumerate(chosen):
            shutil.copy(clip, tmp_path / "neg" / folder / f"n_nohash_{i}.wav")
    base = ["--data_dir", str(tones), "--wanted_words", WORDS]
    plain = loop.make_index(train_command.parse_config(base))
    index = loop.make_index(train_command.parse_config(
        [*base, "--negatives_dir", str(tmp_path / "neg")]))
    assert index.negatives == {"_unknown_": 3, "_silence_": 2}
    added = [e for e in index.data["training"] if e not in plain.data["training"]]
    assert sorted(added) == sorted(
        [(str(tmp_path / "neg" / "_silence_" / f"n_nohash_{i}.wav"), 0) for i in range(2)]
        + [(str(tmp_path / "neg" / "_unknown_" / f"n_nohash_{i}.wav"), 1) for i in range(3)])
    assert len(index.data["training"]) == len(plain.data["training"]) + 5


@pytest.mark.slow
def test_peers_train_together_and_the_first_is_exported(tones, tmp_path):
    import tensorflow as tf

    train_dir = tmp_path / "train"
    flags = [*COMMON, "--data_dir", str(tones), "--how_many_training_steps", "40",
             "--learning_rate", "0.01", "--eval_step_interval", "1000",
             "--save_step_interval", "20", "--peers", "2", "--train_dir", str(train_dir),
             "--summaries_dir", str(tmp_path / "logs"), "--progress", "false", "--seed", "4"]
    out = run_kws(flags)
    assert out.returncode == 0, out.stderr[-3000:]
    accuracy, n = _final_accuracy(out.stderr)
    assert accuracy >= 0.8
    # The checkpoint holds both peers (different weights, both trained) and both Adam
    # states; load_checkpoint, and so export, takes the first.
    from kws.train.models import build_model

    model, settings, _, _ = loop.load_checkpoint(train_dir)
    first, second = (build_model("tiny_conv", settings, training_dropout=True) for _ in "12")
    status = tf.train.Checkpoint(model=first, peers=[second]).restore(
        str(train_dir / "tiny_conv.ckpt-40"))
    status.assert_existing_objects_matched()
    assert len(model.get_weights()) == len(second.get_weights()) > 0
    for exported, a, b in zip(model.get_weights(), first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(exported, a)
        assert not np.allclose(a, b)
    reloaded = loop.evaluate_checkpoint(train_dir / "tiny_conv.ckpt-40", str(tones))
    assert reloaded["count"] == n and reloaded["accuracy"] == pytest.approx(accuracy, abs=0.0015)
    # --resume restores the peers too and carries on.
    out = run_kws([*flags[:flags.index("40")], "60", *flags[flags.index("40") + 1:],
                   "--resume", "--verbose"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "restored" in out.stderr and _step_lines(out.stderr)[0][0] == 41
    # Bad values are refused before any work.
    for extra, message in [(["--peers", "0"], "--peers must be >= 1"),
                           (["--peer_weight", "-1"], "--peer_weight must be >= 0")]:
        with pytest.raises(ValueError, match=re.escape(message)):
            train_command.parse_config(["--data_dir", str(tones), *extra])


def _terminal_lines(text: str) -> list[str]:
    """The lines a terminal would keep: a carriage return (progress bar) overwrites."""
    lines = [line.rsplit("\r", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    return [line for line in lines if line.strip()]


@pytest.mark.slow
def test_default_run_keeps_the_terminal_calm(tones, tmp_path):
    """1,000 steps with the default intervals and the progress bar: fewer than 30 lines on
    the terminal (no per-step lines, no TensorFlow start-up lines); every step is in the
    log file, and --verbose brings the per-step lines back."""
    train_dir = tmp_path / "train"
    flags = ["--data_dir", str(tones), "--wanted_words", WORDS, "--model_architecture",
             "single_fc", "--batch_size", "20", "--how_many_training_steps", "1000",
             "--learning_rate", "0.01", "--train_dir", str(train_dir), "--summaries_dir",
             str(tmp_path / "logs")]
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = run_kws(flags, timeout=900, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = _terminal_lines(out.stdout + out.stderr)
    assert len(lines) < 30, "\n".join(lines)
    assert not any("oneDNN" in line or "absl" in line or "cpu_feature_guard" in line
                   for line in lines), "\n".join(lines)
    assert re.findall(r"Step (\d+): Validation accuracy", "\n".join(lines)) == [
        "400", "800", "1000"]
    assert _final_accuracy(out.stderr)[1] > 0
    assert [s[0] for s in _step_lines((train_dir / "train.log").read_text())] == list(
        range(1, 1001))
    verbose = run_kws([*flags, "--how_many_training_steps", "1010", "--resume", "--verbose",
                       "--progress", "false"], timeout=600, env=env)
    assert verbose.returncode == 0, verbose.stderr[-3000:]
    assert [s[0] for s in _step_lines(verbose.stderr)] == list(range(1001, 1011))
