"""`kws train --recipe quick|quick_tc_resnet|best|best_tc_resnet`: each sets what it claims,
explicit flags override, and an augmented recipe trains a few steps end to end through
`kws train` on real speech."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import kws
from kws.commands import train as train_command
from kws.train import augment, loop
from kws.train import config as train_config

KWS_PATH = str(Path(kws.__file__).resolve().parents[1])


def test_quick_and_best_set_what_they_claim(tmp_path):
    quick = train_command.parse_config(["--recipe", "quick", "--data_dir", str(tmp_path)])
    assert (quick.model_architecture, quick.optimizer, quick.lr_schedule, quick.batch_size,
            quick.preprocess, quick.feature_bin_count, quick.window_size_ms,
            quick.window_stride_ms) == (
        "speech_embedding", "adam", "cosine", 100, "average", 257, 25.0, 10.0)
    assert quick.steps_list == [1200]
    assert quick.augment == "ism"
    # The previous quick, by name; and quick with another architecture takes the MFCC.
    for cfg in (train_command.parse_config(["--recipe", "quick_tc_resnet",
                                            "--data_dir", str(tmp_path)]),
                train_command.parse_config(["--recipe", "quick", "--data_dir", str(tmp_path),
                                            "--model_architecture", "tc_resnet"])):
        assert (cfg.model_architecture, cfg.preprocess, cfg.feature_bin_count,
                cfg.window_size_ms, cfg.steps_list) == ("tc_resnet", "mfcc", 40, 30.0, [1200])
    assert train_command.parse_config(["--recipe", "quick_tc_resnet",
                                       "--data_dir", str(tmp_path)]).augment == "ism_spec"
    best = train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path)])
    assert (best.model_architecture, best.optimizer, best.lr_schedule, best.augment,
            best.preprocess, best.feature_bin_count, best.window_size_ms) == (
        "speech_embedding_tc_resnet", "adam", "cosine", "ism", "average", 257, 25.0)
    assert best.steps_list == [4500, 1000] and best.rates_list == [0.002, 0.0005]
    assert best.restart_optimizer and not quick.restart_optimizer
    assert best.balances_list == [2.5, 5] and quick.balances_list == [0]
    assert best.peers == 1 and quick.peers == 1
    assert (best.train_embedding_layers, best.embedding_rate_scale) == (8, 0.25)
    assert (quick.train_embedding_layers, quick.embedding_rate_scale) == (0, 1.0)
    assert best.model_settings(12).spectrogram_length == 98
    # The previous best, by name.
    old = train_command.parse_config(["--recipe", "best_tc_resnet", "--data_dir", str(tmp_path)])
    assert (old.model_architecture, old.preprocess, old.feature_bin_count, old.window_size_ms,
            old.augment, old.steps_list, old.peers, old.balances_list) == (
        "tc_resnet", "mfcc", 40, 30.0, "room_spec", [9000], 3, [2.5])
    # Every recipe's augmentation preset exists and the default is none.
    for recipe in train_config.RECIPES.values():
        assert recipe.get("augment", "none") in augment.PRESETS
    assert train_command.parse_config(["--data_dir", str(tmp_path)]).augment == "none"


def test_explicit_flags_override_recipes(tmp_path):
    cfg = train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path),
                                  "--augment", "spec", "--how_many_training_steps", "300",
                                  "--model_architecture", "ds_cnn"])
    assert (cfg.augment, cfg.steps_list, cfg.model_architecture, cfg.optimizer) == (
        "spec", [300], "ds_cnn", "adam")
    # Fewer phases than the recipe's take its first rates and folder balances; rates alone
    # must match its phases.
    assert cfg.rates_list == [0.002] and cfg.balances_list == [2.5]
    one = train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path),
                                      "--how_many_training_steps", "300",
                                      "--learning_rate", "0.001", "--folder_balance", "3"])
    assert (one.rates_list, one.balances_list) == ([0.001], [3])
    with pytest.raises(ValueError, match=r"--recipe best trains 2 phases \(--how_many_training_"
                                         r"steps 4500,1000\): give --learning_rate a rate for"):
        train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path),
                                    "--learning_rate", "0.001"])
    # More phases than the recipe's need its per-phase flags given, each named.
    three = ["--recipe", "best", "--data_dir", str(tmp_path),
             "--how_many_training_steps", "3000,1500,1000"]
    with pytest.raises(ValueError, match=r"--recipe best gives --learning_rate 0.002,0.0005 "
                                         r"for 2 phases: with 3 --how_many_training_steps"):
        train_command.parse_config(three)
    with pytest.raises(ValueError, match=r"--recipe best gives --folder_balance 2.5,5 for 2 "
                                         r"phases: with 3 --how_many_training_steps phases"):
        train_command.parse_config([*three, "--learning_rate", "0.002,0.001,0.0005"])
    given = train_command.parse_config([*three, "--learning_rate", "0.002,0.001,0.0005",
                                        "--folder_balance", "2.5,2.5,5"])
    assert (given.rates_list, given.balances_list) == ([0.002, 0.001, 0.0005], [2.5, 2.5, 5])
    # The recipe's embedding training gives way to an architecture without the embedding;
    # asked for explicitly, it is refused.
    assert (cfg.train_embedding_layers, cfg.embedding_rate_scale) == (0, 1.0)
    with pytest.raises(ValueError, match="--model_architecture ds_cnn has none"):
        train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path),
                                    "--model_architecture", "ds_cnn",
                                    "--train_embedding_layers", "8"])
    frozen = train_command.parse_config(["--recipe", "best", "--data_dir", str(tmp_path),
                                         "--train_embedding_layers", "0"])
    assert (frozen.train_embedding_layers, frozen.embedding_rate_scale) == (0, 1.0)
    with pytest.raises(ValueError, match="--augment 'hall' is not one of"):
        train_command.parse_config(["--recipe", "quick", "--data_dir", str(tmp_path),
                                "--augment", "hall"])


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["best", "best_tc_resnet"])
def test_best_recipe_trains_on_real_speech(recipe, sample_dir, tmp_path):
    """A few steps of `--recipe best` (the pair of branches) and `best_tc_resnet` (3 peers),
    augmentation on, through the CLI on the real sample listed twice with --folder_balance 0
    (oversampling by repetition): finite loss, a checkpoint (with the peers), a test figure,
    and an exported model whose native scores are TensorFlow's."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([KWS_PATH, env.get("PYTHONPATH", "")])
    data = f"{sample_dir},{sample_dir}"
    r = subprocess.run(
        [sys.executable, "-m", "kws.cli", "train", "--recipe", recipe, "--data_dir", data,
         "--folder_balance", "0",
         "--data_url", "", "--wanted_words", "yes,no", "--how_many_training_steps", "6",
         "--batch_size", "16", "--eval_step_interval", "6", "--save_step_interval", "6",
         "--validation_percentage", "12", "--testing_percentage", "4", "--seed", "3",
         "--train_dir", str(tmp_path / "t"), "--summaries_dir", str(tmp_path / "s"),
         "--progress", "false", "--verbose"],
        capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    text = r.stdout + r.stderr
    losses = [float(m) for m in re.findall(r"cross entropy ([\d.e+-]+|nan|inf)", text)]
    assert len(losses) >= 6 and all(0 < v < 50 for v in losses), losses
    assert re.search(r"Final test accuracy = [\d.]+% \(N=\d+\)", text), text[-2000:]
    architecture = "tc_resnet" if recipe == "best_tc_resnet" else "speech_embedding_tc_resnet"
    assert list((tmp_path / "t").glob(f"{architecture}.ckpt-6*"))
    assert f"training clips repeated: {sample_dir} x2" in text
    # best_tc_resnet's --peers 3: the checkpoint holds the two other peers beside the model.
    import tensorflow as tf

    names = {name.split("/")[:2][-1] for name, _ in tf.train.list_variables(str(tmp_path / "t"))
             if name.startswith("peers/")}
    assert names == ({"0", "1"} if recipe == "best_tc_resnet" else set())
    # The model the recipe exports runs in the native runtime with TensorFlow's scores.
    import numpy as np

    import kws
    from kws.train import export
    from kws.train.features import tf_features

    model, settings, arch, labels = loop.load_checkpoint(tmp_path / "t")
    export.write_model_kws(str(tmp_path / "best.kws"), model, settings, arch, labels)
    clips = np.stack([_one_second(f) for f in sorted((sample_dir / "yes").glob("*.wav"))[:8]])
    ref = tf.nn.softmax(model(tf_features(tf.constant(clips), settings), training=False))
    native = kws.Model.load(str(tmp_path / "best.kws")).predict(clips)
    np.testing.assert_allclose(native, ref.numpy(), atol=1e-4)


def _one_second(path):
    import wave

    import numpy as np

    with wave.open(str(path)) as w:
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    return np.pad(x, (0, max(0, 16000 - len(x))))[:16000]


def test_label_smoothing_loss_is_the_smoothed_cross_entropy(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 12)).astype(np.float32)
    labels = rng.integers(0, 12, size=6)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    target = np.full((6, 12), 0.1 / 12)
    target[np.arange(6), labels] += 0.9
    got = np.asarray(loop.make_loss(0.1)(labels, logits))
    np.testing.assert_allclose(got, -(target * log_p).sum(axis=1), rtol=1e-5)
    plain = np.asarray(loop.make_loss(0.0)(labels, logits))
    np.testing.assert_allclose(plain, -log_p[np.arange(6), labels], rtol=1e-5)
    with pytest.raises(ValueError, match="--label_smoothing must be in"):
        train_command.parse_config(["--data_dir", str(tmp_path), "--label_smoothing", "1"])


@pytest.mark.slow
def test_init_checkpoint_fine_tunes_from_weights_with_a_fresh_step(sample_dir, tmp_path):
    """A model trained 2 steps, then fine-tuned with --init_checkpoint at a negligible
    rate: the new run starts at step 0 (its checkpoint is ckpt-1) from the old weights."""
    import numpy as np

    common = dict(recipe="quick_tc_resnet", data_dir=str(sample_dir), data_url="",
                  wanted_words="yes,no", batch_size=8, augment="none",
                  validation_percentage=12, testing_percentage=4, eval_step_interval=100,
                  save_step_interval=100, progress=False, seed=5,
                  summaries_dir=str(tmp_path / "s"))
    first = loop.train(train_config.make_config(
        **common, how_many_training_steps="2", train_dir=str(tmp_path / "a")))
    assert first.checkpoint.endswith("ckpt-2")
    second = loop.train(train_config.make_config(
        **common, how_many_training_steps="1", learning_rate="1e-9",
        init_checkpoint=str(tmp_path / "a"), train_dir=str(tmp_path / "b")))
    assert second.final_step == 1 and second.checkpoint.endswith("ckpt-1")
    a = loop.load_checkpoint(first.checkpoint, training_dropout=True)[0]
    b = loop.load_checkpoint(second.checkpoint, training_dropout=True)[0]
    for va, vb in zip(a.trainable_variables, b.trainable_variables):
        np.testing.assert_allclose(va.numpy(), vb.numpy(), atol=1e-6)
    with pytest.raises(ValueError, match="holds a 'tc_resnet' model"):
        train_config.make_config(**{**common, "model_architecture": "ds_cnn"},
                              init_checkpoint=str(tmp_path / "a"),
                              train_dir=str(tmp_path / "c"))
    # Another front end of the same shape is refused for both flags before any data is read,
    # naming the flag and the checkpoint.
    for flag, value in (("init_checkpoint", str(tmp_path / "a")),
                        ("start_checkpoint", first.checkpoint)):
        with pytest.raises(ValueError, match=f"--{flag} .*trained with the front end/settings"):
            train_config.make_config(**common, preprocess="average", **{flag: value},
                                     train_dir=str(tmp_path / "c"))


def _restart_run(common, tmp_path, name, **flags):
    """A 2 + 2 step Adam run (rates 0.01 then 0.001) saving every step."""
    return loop.train(train_config.make_config(
        **common, how_many_training_steps="2,2", learning_rate="0.01,0.001",
        save_step_interval=1, train_dir=str(tmp_path / name), **flags))


def _optimizer_and_step(checkpoint):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(checkpoint)
    names = reader.get_variable_to_shape_map()
    count = next(n for n in names if n.startswith("optimizer/") and "iteration" in n)
    steps = [n for n in names if n.startswith("step/")]
    return (int(reader.get_tensor(count)),
            int(reader.get_tensor(steps[0])) if steps else None)


def _update_is_the_rate(before, after, rate):
    """The fraction of the trainable weights that moved from `before` to `after` by the
    rate itself (as a fresh Adam's first update does: rate x sign of the gradient)."""
    import numpy as np

    a = loop.load_checkpoint(before, training_dropout=True)[0]
    b = loop.load_checkpoint(after, training_dropout=True)[0]
    moved = np.concatenate([np.abs(vb.numpy() - va.numpy()).ravel()
                            for va, vb in zip(a.trainable_variables, b.trainable_variables)])
    moved = moved[moved > rate * 1e-3]
    return float(np.mean(np.abs(moved - rate) < rate * 0.02))


@pytest.mark.slow
def test_restart_optimizer_starts_each_later_phase_with_a_fresh_optimizer(sample_dir, tmp_path):
    """--restart_optimizer: the second phase's first step is a fresh Adam's (each weight
    moves by the rate; without the flag few do), the optimizer's count restarts while the
    step goes on, and resuming within or at the start of the phase restarts it only where a
    phase starts; checkpoints from before the step was kept resume at the optimizer's count."""
    common = dict(recipe="quick_tc_resnet", data_dir=str(sample_dir), data_url="",
                  wanted_words="yes,no", batch_size=8, augment="none", lr_schedule="piecewise",
                  validation_percentage=12, testing_percentage=4, eval_step_interval=100,
                  progress=False, seed=5, summaries_dir=str(tmp_path / "s"))
    fresh = _restart_run(common, tmp_path, "fresh", restart_optimizer=True)
    kept = _restart_run(common, tmp_path, "kept")
    assert fresh.final_step == kept.final_step == 4
    ckpt = {name: str(tmp_path / name / "tc_resnet.ckpt-{}") for name in ("fresh", "kept")}
    assert [_optimizer_and_step(ckpt["fresh"].format(s)) for s in (2, 3, 4)] == [
        (2, 2), (1, 3), (2, 4)]
    assert [_optimizer_and_step(ckpt["kept"].format(s)) for s in (2, 3, 4)] == [
        (2, 2), (3, 3), (4, 4)]
    assert _update_is_the_rate(ckpt["fresh"].format(2), ckpt["fresh"].format(3), 0.001) > 0.95
    assert _update_is_the_rate(ckpt["kept"].format(2), ckpt["kept"].format(3), 0.001) < 0.5
    log = (tmp_path / "fresh" / "train.log").read_text()
    assert "Step #3: a new phase starts with a fresh optimizer state" in log
    assert log.count("fresh optimizer state") == 1
    assert "fresh optimizer state" not in (tmp_path / "kept" / "train.log").read_text()

    # Resumed at the phase's start: restarted there; resumed within it: not again.
    for start, restarted in ((2, True), (3, False)):
        resumed = _restart_run(common, tmp_path, f"from{start}", restart_optimizer=True,
                               start_checkpoint=ckpt["fresh"].format(start))
        assert resumed.final_step == 4
        log = (tmp_path / f"from{start}" / "train.log").read_text()
        assert f"restored {ckpt['fresh'].format(start)} at step {start}" in log
        assert ("Step #3: a new phase starts" in log) == restarted
        assert _optimizer_and_step(str(tmp_path / f"from{start}" / "tc_resnet.ckpt-4")) == (2, 4)

    # A checkpoint without the step (as kws wrote before keeping it) resumes at the
    # optimizer's count.
    run = loop._Run(train_config.make_config(**common, how_many_training_steps="2,2",
                                             learning_rate="0.01,0.001",
                                             train_dir=str(tmp_path / "old")))
    run.prepare_data()
    run.build()
    run.tracked(with_step=False).restore(ckpt["kept"].format(3)).assert_existing_objects_matched()
    old = run.tracked(with_step=False).save(str(tmp_path / "old" / "tc_resnet.ckpt"))
    assert _optimizer_and_step(old) == (3, None)
    resumed = _restart_run(common, tmp_path, "from_old", start_checkpoint=old)
    assert resumed.final_step == 4
    assert f"restored {old} at step 3" in (tmp_path / "from_old" / "train.log").read_text()


@pytest.mark.slow
def test_an_unreadable_checkpoint_is_one_line_naming_it(sample_dir, tmp_path, capsys):
    """A checkpoint whose index or data is damaged, given to --start_checkpoint,
    --init_checkpoint or found by --resume: an error naming the flag or the file, no
    traceback, the other checkpoints left alone."""
    import shutil

    common = ["--recipe", "quick_tc_resnet", "--data_dir", str(sample_dir), "--data_url", "",
              "--wanted_words", "yes,no", "--batch_size", "8", "--augment", "none",
              "--validation_percentage", "12", "--testing_percentage", "4",
              "--save_step_interval", "1", "--progress", "false", "--seed", "5",
              "--summaries_dir", str(tmp_path / "s")]
    good = tmp_path / "good"
    assert train_command.main([*common, "--how_many_training_steps", "2",
                               "--train_dir", str(good)]) == 0
    bad_index, bad_data = tmp_path / "bad_index", tmp_path / "bad_data"
    for folder in (bad_index, bad_data):
        shutil.copytree(good, folder)
    index = bad_index / "tc_resnet.ckpt-2.index"
    index.write_bytes(index.read_bytes()[:100])
    (bad_data / "tc_resnet.ckpt-2.data-00000-of-00001").write_bytes(b"garbage")
    capsys.readouterr()
    cases = [
        (["--start_checkpoint", f"{bad_index}/tc_resnet.ckpt-2"],
         f"--start_checkpoint {bad_index}/tc_resnet.ckpt-2: not a readable checkpoint"),
        (["--init_checkpoint", str(bad_index)],
         f"--init_checkpoint {bad_index}/tc_resnet.ckpt-2: not a readable checkpoint"),
        (["--resume", "--train_dir", str(bad_index)],
         f"--resume {bad_index}/tc_resnet.ckpt-2: not a readable checkpoint"),
        (["--start_checkpoint", f"{bad_data}/tc_resnet.ckpt-2"],
         f"{bad_data}/tc_resnet.ckpt-2: cannot restore this checkpoint"),
        (["--init_checkpoint", str(bad_data)],
         f"{bad_data}/tc_resnet.ckpt-2: cannot restore this checkpoint"),
    ]
    for flags, message in cases:
        out = tmp_path / "out"
        train_dir = [] if "--train_dir" in flags else ["--train_dir", str(out)]
        assert train_command.main([*common, "--how_many_training_steps", "3", *flags,
                                   *train_dir]) != 0, flags
        err = capsys.readouterr().err
        assert f"kws train: error: {message}" in err, (flags, err[-2000:])
        assert "Traceback" not in err
        shutil.rmtree(out, ignore_errors=True)
    assert (bad_index / "tc_resnet.ckpt-1.index").is_file()
    assert loop.load_checkpoint(str(bad_index / "tc_resnet.ckpt-1"))[3] == loop.load_checkpoint(
        str(good / "tc_resnet.ckpt-1"))[3]


def test_folder_balance_flag_reaches_the_training_index(sample_dir, tmp_path):
    """--folder_balance (set by `best`) oversamples the smaller of two distinct folders in
    the index `kws train` builds; 0 keeps each listed folder once; bad values are refused."""
    other = tmp_path / "yes_only"
    (other / "yes").mkdir(parents=True)
    for p in sorted((sample_dir / "yes").glob("*.wav"))[:6]:
        (other / "yes" / p.name).symlink_to(p)
    common = ["--data_dir", f"{sample_dir},{other}", "--wanted_words", "yes,no",
              "--validation_percentage", "12", "--testing_percentage", "4"]
    cfg = train_command.parse_config(["--recipe", "best", *common])
    index = loop.make_index(cfg)
    repeats = index.folder_repeats[str(other)]
    assert index.folder_repeats[str(sample_dir)] == 1 and repeats > 10
    own = [p for p, lab in index.data["training"] if p and p.startswith(str(other))]
    assert len(own) == repeats * len(set(own)) and len(set(own)) > 0
    off = loop.make_index(train_command.parse_config(
        ["--recipe", "best", "--folder_balance", "0", *common]))
    assert set(off.folder_repeats.values()) == {1}
    with pytest.raises(ValueError, match="--folder_balance must be >= 0"):
        train_command.parse_config(["--folder_balance", "-0.5", *common])


@pytest.mark.slow
def test_folder_balance_per_phase_reindexes_at_the_phase_start(sample_dir, tmp_path):
    """--folder_balance 0,3: the first phase draws on each folder once, the second on the
    smaller folder oversampled, from its first step and when started within it; a list
    whose length is neither 1 nor the number of phases is refused."""
    other = tmp_path / "yes_only"
    (other / "yes").mkdir(parents=True)
    for p in sorted((sample_dir / "yes").glob("*.wav"))[:6]:
        (other / "yes" / p.name).symlink_to(p)
    common = dict(recipe="quick_tc_resnet", data_dir=f"{sample_dir},{other}", data_url="",
                  wanted_words="yes,no", batch_size=8, augment="none",
                  validation_percentage=12, testing_percentage=4, eval_step_interval=100,
                  save_step_interval=1, progress=False, seed=5, how_many_training_steps="2,2",
                  learning_rate="0.001,0.001", folder_balance="0,3",
                  summaries_dir=str(tmp_path / "s"))
    balanced = loop.make_index(train_config.make_config(**{**common, "folder_balance": "3"}))
    repeats = balanced.folder_repeats[str(other)]
    assert repeats > 1
    expected = f"training clips repeated: {other} x{repeats}"
    assert loop.train(train_config.make_config(
        **common, train_dir=str(tmp_path / "two"))).final_step == 4
    log = (tmp_path / "two" / "train.log").read_text()
    first, _, second = log.partition("Step #3: --folder_balance 3 from here: ")
    assert "dataset: " in first and "training clips repeated" not in first
    assert second.splitlines()[0].endswith(expected)
    assert "--folder_balance 3 from here" not in second
    # Started within the second phase: its index from the first step run.
    assert loop.train(train_config.make_config(
        **common, start_checkpoint=str(tmp_path / "two" / "tc_resnet.ckpt-3"),
        train_dir=str(tmp_path / "within"))).final_step == 4
    log = (tmp_path / "within" / "train.log").read_text()
    assert "Step #4: --folder_balance 3 from here: " in log
    assert log.split("Step #4: --folder_balance 3 from here: ")[1].splitlines()[0].endswith(
        expected)
    with pytest.raises(ValueError, match="--folder_balance takes one value or one per phase"):
        train_config.make_config(**{**common, "folder_balance": "0,3,1"})
    with pytest.raises(ValueError, match="--folder_balance must be >= 0"):
        train_config.make_config(**{**common, "folder_balance": "0,-1"})


def test_bc_resnet_defaults_to_log_mel():
    """BC-ResNet trains on log-mel bins unless --preprocess says otherwise; the other
    architectures keep MFCC."""
    from kws.train.config import make_config

    assert make_config(model_architecture="bc_resnet_1").preprocess == "log_mel"
    assert make_config(model_architecture="bc_resnet_3_stream").preprocess == "log_mel"
    assert make_config(model_architecture="bc_resnet_1", preprocess="mfcc").preprocess == "mfcc"
    assert make_config(recipe="quick_tc_resnet").preprocess == "mfcc"
    assert make_config(recipe="quick", model_architecture="bc_resnet_1").preprocess == "log_mel"
    assert make_config(model_architecture="tc_resnet").preprocess == "mfcc"
