"""speech_embedding: kws's layers compute the published embedding and its log-mel, the
exported model runs natively and in TensorFlow/TFLite, the pretrained vectors separate
real words, and missing or damaged weight files or wrong front-end flags are named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import kws
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train import speech_embedding as se
from kws.train.config import EMBEDDING_INPUT, make_config
from kws.train.features import tf_features
from kws.train.models import BRANCH_SUFFIX, branch_model, build_model, randomize_weights
from kws.train.settings import ModelSettings

SETTINGS = ModelSettings(label_count=12, **EMBEDDING_INPUT)
LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))


def _clips(sample_dir: Path, words, per_word: int, skip: int = 0) -> tuple[np.ndarray, list]:
    data, labels = [], []
    for k, word in enumerate(words):
        for path in sorted((sample_dir / word).glob("*.wav"))[skip:skip + per_word]:
            x = kws.read_wav(str(path))[0][:16000]
            data.append(np.pad(x, (0, 16000 - len(x))))
            labels.append(k)
    return np.stack(data).astype(np.float32), labels


@pytest.fixture(scope="module")
def speech(sample_dir) -> np.ndarray:
    return _clips(sample_dir, ("yes", "left", "stop", "go"), 2)[0]


@pytest.fixture(scope="module")
def published() -> Path:
    return se.model_dir()


def _interpreter(path: Path, input_shape=None):
    interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    if input_shape is not None:
        interpreter.resize_tensor_input(interpreter.get_input_details()[0]["index"],
                                        input_shape)
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter, x: np.ndarray) -> np.ndarray:
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def _log_mel(samples: np.ndarray, published: Path) -> np.ndarray:
    """speech_embedding's own log-mel layers on (n, 16000) samples: (n, 98, 32)."""
    power = tf_features(tf.constant(samples), SETTINGS)
    mel = tf.tensordot(power, se.mel_matrix(published), axes=1)
    return se.LogFloor(se.LOG_SCALE, se.LOG_SHIFT, se.LOG_FLOOR)(mel).numpy()


def test_log_mel_is_the_published_front_end(speech, published):
    """The published front end (16-bit samples, 512-sample frames whose Hann window covers
    samples 56..455) on the same frames, floored at kws's fixed MEL_FLOOR instead of the
    published loudest value - 80 dB."""
    ours = _log_mel(speech, published)
    interpreter = _interpreter(published / se.MEL_FILE, [1, 56 + 16000])
    assert (ours >= se.MEL_FLOOR - 1e-5).all()
    for clip, mine in zip(speech, ours):
        pcm = np.concatenate([np.zeros(56, np.float32), clip * 32768.0]).astype(np.float32)
        ref = _run(interpreter, pcm[None])[0, 0] / 10.0 + 2.0
        assert ref.shape == mine.shape == (98, 32)
        free = ref > ref.max() - 8.0 + 1e-3  # the published floor does not bind
        assert free.mean() > 0.5 and (ref[free] > se.MEL_FLOOR + 1.0).mean() > 0.25
        np.testing.assert_allclose(mine[free], np.maximum(ref[free], se.MEL_FLOOR),
                                   atol=2e-4, rtol=0)
        # Where the published floor binds, ours is lower or at its own floor.
        assert (mine[~free] <= np.maximum(ref[~free], se.MEL_FLOOR) + 2e-4).all()


def test_embedding_is_the_published_network(speech, published):
    """Fully convolutional over a clip's 98 frames, the network gives the published
    network's vector for every 76-frame window 8 frames apart (with the file's own
    arithmetic: first_relu=False), and with the ReLU put back the first layer computes
    relu(conv) + bias from the file's convolution output conv + bias."""
    mel = _log_mel(speech, published)
    ours = se.embedding_model(published, first_relu=False)(mel).numpy()
    assert ours.shape == (len(speech), 3, 96)
    interpreter = _interpreter(published / se.EMBEDDING_FILE)
    for n in range(len(speech)):
        for w in range(3):
            window = mel[n:n + 1, 8 * w:8 * w + 76, :, None]
            ref = _run(interpreter, window).ravel()
            np.testing.assert_allclose(ours[n, w], ref, atol=2e-5 * np.abs(ref).max(), rtol=0)

    # The first layer with its ReLU, against the file's first convolution.
    inputs = tf.keras.Input((None, 32, 1))
    first = se.embedding_layers(published)[:4]
    assert [type(layer).__name__ for layer, _ in first] == [
        "ZeroPadding2D", "Conv2D", "ReLU", "ChannelBias"]
    restored = tf.keras.Model(inputs, se.apply_layers(inputs, first))(mel[..., None]).numpy()
    file_conv = se.embedding_layers(published, first_relu=False)[:2]
    conv_plus_bias = tf.keras.Model(inputs, se.apply_layers(inputs, file_conv))(
        mel[..., None]).numpy()
    bias = first[3][1][0]
    np.testing.assert_allclose(restored, np.maximum(conv_plus_bias - bias, 0) + bias,
                               atol=1e-4, rtol=0)
    assert (conv_plus_bias < bias).mean() > 0.05  # the ReLU changes something


def _head_features(model, samples: np.ndarray) -> np.ndarray:
    embed = tf.keras.Model(model.input, model.get_layer("flatten").output)
    return embed(tf_features(tf.constant(samples), SETTINGS)).numpy()


def test_pretrained_vectors_separate_real_words(sample_dir):
    """A linear classifier on the frozen vectors of 15 real clips per word tells 4 words
    apart on other speakers' clips: the weights are the trained ones, not noise."""
    words = ("yes", "no", "left", "right")
    model = build_model("speech_embedding", SETTINGS, training_dropout=False)
    train_x, train_y = _clips(sample_dir, words, 15)
    test_x, test_y = _clips(sample_dir, words, 10, skip=15)
    a, b = _head_features(model, train_x), _head_features(model, test_x)
    mean, std = a.mean(0), a.std(0) + 1e-6
    tf.keras.utils.set_random_seed(0)
    clf = tf.keras.Sequential([tf.keras.Input((a.shape[1],)), tf.keras.layers.Dense(4)])
    clf.compile(tf.keras.optimizers.Adam(0.01),
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    clf.fit((a - mean) / std, np.array(train_y), epochs=60, batch_size=20, verbose=0)
    accuracy = (clf.predict((b - mean) / std, verbose=0).argmax(1) == np.array(test_y)).mean()
    assert accuracy >= 0.7, accuracy  # chance is 0.25


@pytest.fixture(scope="module")
def model():
    keras_model = build_model("speech_embedding", SETTINGS, training_dropout=False)
    randomize_weights(keras_model, seed=3)
    logits = keras_model.get_layer("logits")
    logits.kernel.assign(logits.kernel * 0.02)  # random heads on vectors near 60 saturate
    return keras_model


def test_frozen_layers_keep_their_weights(model):
    trainable = {w.path.split("/")[0] for w in model.trainable_weights}
    assert trainable == {"head_bn", "head", "logits"}
    fresh = build_model("speech_embedding", SETTINGS, training_dropout=False)
    for name in ("mel", "embedding_conv1", "embedding_conv46"):
        for got, want in zip(model.get_layer(name).get_weights(),
                             fresh.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)


def test_export_runs_natively_and_in_tensorflow(model, speech, tmp_path):
    from kws.train.export import save_saved_model, tflite_bytes, write_model_kws

    reference = tf.nn.softmax(model(tf_features(tf.constant(speech), SETTINGS))).numpy()
    assert reference.max(axis=1).mean() < 0.99  # not saturated: comparisons mean something
    native = kws.Model.load(str(write_model_kws(tmp_path / "m.kws", model, SETTINGS,
                                                "speech_embedding", LABELS)))
    assert (native.num_frames, native.num_coefficients) == (98, 257)
    np.testing.assert_allclose(native.predict(speech), reference, atol=1e-5, rtol=0)

    saved = tf.saved_model.load(str(save_saved_model(tmp_path / "saved", model, SETTINGS)))
    got = saved.signatures["serving_default"](samples=tf.constant(speech))["labels_softmax"]
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-5, rtol=0)
    got = saved.signatures["single_clip"](samples=tf.constant(speech[:1]))["labels_softmax"]
    np.testing.assert_allclose(got.numpy(), reference[:1], atol=1e-5, rtol=0)

    (tmp_path / "m.tflite").write_bytes(tflite_bytes(model, SETTINGS))
    runner = tf.lite.Interpreter(model_path=str(tmp_path / "m.tflite")).get_signature_runner()
    got = np.stack([runner(samples=clip[None])["labels_softmax"][0] for clip in speech])
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)


def test_train_flags_give_the_embedding_its_front_end():
    config = make_config(recipe="quick", model_architecture="speech_embedding")
    settings = config.model_settings(12)
    assert (settings.preprocess, settings.window_size_samples, settings.fingerprint_width,
            settings.spectrogram_length) == ("average", 400, 257, 98)
    # An explicit flag is kept, and the model says which flags it needs.
    config = make_config(model_architecture="speech_embedding", window_size_ms=30.0)
    with pytest.raises(ValueError, match="--preprocess average --window_size_ms 25"):
        build_model("speech_embedding", config.model_settings(12))
    with pytest.raises(ValueError, match="at least 76 frames"):
        build_model("speech_embedding", ModelSettings(
            preprocess="average", window_size_ms=25.0, feature_bin_count=257,
            clip_duration_ms=500.0))


def test_missing_or_damaged_weights_are_named(tmp_path, published, monkeypatch):
    with pytest.raises(se.EmbeddingFileError, match=f"{tmp_path}.*melspectrogram.tflite: missing"):
        se.model_dir(tmp_path)
    for name in (se.MEL_FILE, se.EMBEDDING_FILE):
        (tmp_path / name).write_bytes((published / name).read_bytes())
    assert se.model_dir(tmp_path) == tmp_path
    (tmp_path / se.EMBEDDING_FILE).write_bytes(b"\x00" * 64)
    with pytest.raises(se.EmbeddingFileError, match="embedding_model.tflite"):
        se.embedding_layers(tmp_path)
    # The filterbank file holds no mel matrix where the embedding's file stands in for it.
    (tmp_path / se.MEL_FILE).write_bytes((published / se.EMBEDDING_FILE).read_bytes())
    with pytest.raises(se.EmbeddingFileError, match=r"no single \(257, 32\) mel filterbank"):
        se.mel_matrix(tmp_path)
    # Without the package: how to get it.
    monkeypatch.setattr(se.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(se.EmbeddingFileError, match="pip install pyopen-wakeword==1.1.0"):
        se.model_dir()


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="floor > 0"):
        se.LogFloor(1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="alpha in"):
        se.LeakyClamp(1.5, -0.4)
    layer = se.LeakyClamp(0.2, -0.4)
    np.testing.assert_allclose(layer(np.array([-5.0, -1.0, 0.0, 2.0], np.float32)).numpy(),
                               [-0.4, -0.2, 0.0, 2.0], rtol=1e-6)
    clone = se.LeakyClamp.from_config(layer.get_config())
    assert (clone.alpha, clone.floor) == (0.2, -0.4)


# speech_embedding_tc_resnet: the embedding and TC-ResNet8 side by side.

@pytest.fixture(scope="module")
def pair():
    keras_model = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=False)
    randomize_weights(keras_model, seed=4)
    logits = keras_model.get_layer("embedding" + BRANCH_SUFFIX)
    logits.kernel.assign(logits.kernel * 0.02)
    return keras_model


def test_pair_sums_its_branches_and_exports(pair, speech, tmp_path):
    from kws.train.export import save_saved_model, tflite_bytes, write_model_kws

    feats = tf_features(tf.constant(speech), SETTINGS)
    embedding, tc, logits = (t.numpy() for t in branch_model(pair)(feats))
    np.testing.assert_allclose(logits, embedding + tc, atol=1e-5, rtol=0)
    # Both branches matter: neither's logits are near constant.
    assert embedding.std(axis=0).mean() > 0.1 and tc.std(axis=0).mean() > 0.1
    # TC-ResNet8 reads the embedding's log-mel: 32 channels in.
    assert pair.get_layer("tc_stem").kernel.shape == (3, 1, se.MEL_BINS, 24)
    reference = tf.nn.softmax(logits).numpy()
    assert reference.max(axis=1).mean() < 0.99
    native = kws.Model.load(str(write_model_kws(tmp_path / "m.kws", pair, SETTINGS,
                                                "speech_embedding_tc_resnet", LABELS)))
    np.testing.assert_allclose(native.predict(speech), reference, atol=1e-5, rtol=0)
    saved = tf.saved_model.load(str(save_saved_model(tmp_path / "saved", pair, SETTINGS)))
    got = saved.signatures["serving_default"](samples=tf.constant(speech))["labels_softmax"]
    np.testing.assert_allclose(got.numpy(), reference, atol=1e-5, rtol=0)
    (tmp_path / "m.tflite").write_bytes(tflite_bytes(pair, SETTINGS))
    runner = tf.lite.Interpreter(model_path=str(tmp_path / "m.tflite")).get_signature_runner()
    got = np.stack([runner(samples=clip[None])["labels_softmax"][0] for clip in speech])
    np.testing.assert_allclose(got, reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize("check_nans", [False, True])
def test_pair_trains_each_branch_on_its_own_cross_entropy(speech, check_nans):
    """One step of kws train's loop on the pair equals plain SGD on the sum of the two
    branches' cross entropies (not on the cross entropy of their summed logits), and
    reports the summed logits' loss."""
    from kws.train.loop import _make_train_step

    feats = tf_features(tf.constant(speech), SETTINGS)
    labels = tf.constant([0, 1, 2, 3, 4, 5, 6, 7][:len(speech)], tf.int32)
    models = []
    for _ in range(2):
        m = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=False)
        randomize_weights(m, seed=5)
        models.append(m)
    looped, manual = models
    ce = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        embedding, tc, logits = branch_model(manual)(feats, training=True)
        objective = ce(labels, embedding) + ce(labels, tc)
    want_loss = float(ce(labels, logits))
    grads = tape.gradient(objective, manual.trainable_variables)
    for v, g in zip(manual.trainable_variables, grads):
        v.assign_sub(0.1 * g)

    step = _make_train_step(looped, tf.keras.optimizers.SGD(0.1), tf.distribute.get_strategy(),
                            len(speech), check_nans)
    loss, _ = step(feats, labels)
    assert float(loss) == pytest.approx(want_loss, rel=1e-4)
    for a, b in zip(looped.weights, manual.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-4, err_msg=a.path)
    # The step moved both branches.
    fresh = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=False)
    randomize_weights(fresh, seed=5)
    for name in ("head", "tc_stem"):
        assert not np.allclose(looped.get_layer(name).get_weights()[0],
                               fresh.get_layer(name).get_weights()[0])


def test_pair_refuses_peers():
    with pytest.raises(ValueError, match="--peers must be 1, got 3"):
        make_config(recipe="best_tc_resnet", model_architecture="speech_embedding_tc_resnet")
    config = make_config(recipe="best_tc_resnet", peers=1,
                         model_architecture="speech_embedding_tc_resnet")
    assert config.model_settings(12).preprocess == "average"


# --train_embedding_layers: the last convolutions of the embedding trained too.

def test_train_embedding_layers_moves_only_the_last_convolutions(speech, tmp_path):
    """kws train's setup makes exactly the last N convolutions trainable; a step of its
    loop moves them (from the published weights) and nothing before them, and the moved
    weights are what a restored checkpoint and the exported model compute with."""
    from kws.train.checkpoint import restore_model
    from kws.train.export import write_model_kws
    from kws.train.loop import _make_train_step

    m = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=True)
    se.train_last_convolutions(m, 2)
    trained = {w.path.split("/")[0] for w in m.trainable_weights if "embedding_conv" in w.path}
    assert trained == {"embedding_conv43", "embedding_conv46"}
    published = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=False)
    feats = tf_features(tf.constant(speech), SETTINGS)
    labels = tf.constant([0, 1, 2, 3, 4, 5, 6, 7][:len(speech)], tf.int32)
    step = _make_train_step(m, tf.keras.optimizers.SGD(0.01), tf.distribute.get_strategy(),
                            len(speech), False)
    step(feats, labels)
    for name, moved in (("embedding_conv41", False), ("embedding_conv43", True),
                        ("embedding_conv46", True), ("embedding_conv1", False), ("mel", False)):
        same = all(np.array_equal(a, b) for a, b in zip(
            m.get_layer(name).get_weights(), published.get_layer(name).get_weights()))
        assert same != moved, name

    prefix = tf.train.Checkpoint(model=m).save(str(tmp_path / "ckpt"))
    restored = restore_model(prefix, "speech_embedding_tc_resnet", SETTINGS)
    for got, want in zip(restored.get_layer("embedding_conv46").get_weights(),
                         m.get_layer("embedding_conv46").get_weights()):
        np.testing.assert_array_equal(got, want)
    reference = tf.nn.softmax(m(feats, training=False)).numpy()
    native = kws.Model.load(str(write_model_kws(tmp_path / "m.kws", restored, SETTINGS,
                                                "speech_embedding_tc_resnet", LABELS)))
    np.testing.assert_allclose(native.predict(speech), reference, atol=1e-5, rtol=0)


def test_train_embedding_layers_bounds():
    assert make_config(recipe="best", train_embedding_layers=4).train_embedding_layers == 4
    with pytest.raises(ValueError, match=r"--train_embedding_layers must be in \[0, 20\]"):
        make_config(recipe="best", train_embedding_layers=21)
    with pytest.raises(ValueError, match=r"--train_embedding_layers must be in \[0, 20\]"):
        make_config(recipe="best", train_embedding_layers=-1)
    with pytest.raises(ValueError, match="--model_architecture tc_resnet has none"):
        make_config(recipe="best_tc_resnet", train_embedding_layers=2)
    with pytest.raises(ValueError, match="not 20"):
        se.train_last_convolutions(build_model("tc_resnet", ModelSettings()), 1)


def test_train_embedding_layers_all_of_them():
    """N = 20 trains every convolution and the first one's separate bias; the mel
    filterbank stays fixed."""
    m = build_model("speech_embedding", SETTINGS, training_dropout=True)
    frozen = {w.path.split("/")[0] for w in m.trainable_weights}
    se.train_last_convolutions(m, 20)
    trained = {w.path.split("/")[0] for w in m.trainable_weights} - frozen
    assert trained == {layer.name for layer in m.layers
                       if layer.name.startswith(("embedding_conv", "embedding_bias"))}
    assert len(trained) == 21 and "mel" not in trained


def test_embedding_rate_scale_slows_only_the_embedding(speech):
    """--embedding_rate_scale: Adam's first step moves each weight by about the rate (the
    update is m / sqrt(v) = sign(g)); the embedding's trained convolutions by the rate
    times the scale, every other trained weight by the rate itself."""
    from kws.train.loop import _make_optimizer, _make_train_step

    config = make_config(recipe="best", train_embedding_layers=2, embedding_rate_scale=0.1,
                         how_many_training_steps="10", learning_rate="0.01")
    m = build_model("speech_embedding_tc_resnet", SETTINGS, training_dropout=True)
    se.train_last_convolutions(m, 2)
    scaled = se.embedding_variables(m)
    assert {v.path.split("/")[0] for v in scaled} == {"embedding_conv43", "embedding_conv46"}
    before = [v.numpy().copy() for v in m.trainable_weights]
    optimizer = _make_optimizer(config, scaled)
    step = _make_train_step(m, optimizer, tf.distribute.get_strategy(), len(speech), False)
    step(tf_features(tf.constant(speech), SETTINGS),
         tf.constant([0, 1, 2, 3, 4, 5, 6, 7][:len(speech)], tf.int32))
    moved = {}
    for v, b in zip(m.trainable_weights, before):
        moved.setdefault(any(v is s for s in scaled), []).append(np.abs(v.numpy() - b).max())
    np.testing.assert_allclose(max(moved[True]), 0.001, rtol=0.01)
    np.testing.assert_allclose(max(moved[False]), 0.01, rtol=0.01)


def test_embedding_rate_scale_bounds():
    with pytest.raises(ValueError, match=r"--embedding_rate_scale must be in \(0, 1\]"):
        make_config(recipe="best", train_embedding_layers=2, embedding_rate_scale=0)
    with pytest.raises(ValueError, match=r"--embedding_rate_scale must be in \(0, 1\]"):
        make_config(recipe="best", train_embedding_layers=2, embedding_rate_scale=1.5)
    with pytest.raises(ValueError, match=r"--embedding_rate_scale must be in \(0, 1\]"):
        make_config(recipe="best", train_embedding_layers=2, embedding_rate_scale=float("nan"))
    with pytest.raises(ValueError, match="with --train_embedding_layers 0 none train"):
        make_config(recipe="best", train_embedding_layers=0, embedding_rate_scale=0.5)
