"""Native runtime parity: every architecture, whole-clip and cached-state streaming,
against TensorFlow on real speech and on noise.

Models are randomly initialised with non-trivial weights (batch-norm statistics
included): parity needs no training. Each test exports to model.kws, loads it in the
native runtime and compares softmax scores:
- native whole clip vs TensorFlow (front end + Keras model): <= 1e-4
- native stream after each hop vs native whole clip on the same window: <= 1e-5
- native stream vs TensorFlow on the same window: <= 1e-4
each under every kernel set this CPU runs, and every set vs the scalar set: <= 1e-5.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from kernel_sets import kernel_sets

import kws
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train.config import EMBEDDING_INPUT
from kws.train.settings import ModelSettings

LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
SETTINGS = ModelSettings(label_count=len(LABELS))
ARCHITECTURES = ["single_fc", "conv", "low_latency_conv", "low_latency_svdf", "tiny_conv",
                 "tiny_embedding_conv", "ds_cnn", "tc_resnet", "bc_resnet_1",
                 "bc_resnet_1_stream", "tc_resnet_stream", "speech_embedding",
                 "speech_embedding_tc_resnet"]
# speech_embedding (and its pair with TC-ResNet8) reads the power spectrogram (the
# `average` front end, 25 ms frames).
EMBEDDING_SETTINGS = ModelSettings(label_count=len(LABELS), **EMBEDDING_INPUT)


def settings_for(architecture: str) -> ModelSettings:
    return EMBEDDING_SETTINGS if architecture.startswith("speech_embedding") else SETTINGS


def read_wav_16bit(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (data.astype(np.float32) / 32768.0).astype(np.float32)


from kws.train.models import randomize_weights  # noqa: E402


def build_exported(architecture: str, path: Path):
    """(keras model, native model) for a random `architecture` exported to `path`."""
    from kws.train import export, models

    settings = settings_for(architecture)
    keras_model = models.build_model(architecture, settings, training_dropout=True)
    randomize_weights(keras_model, seed=ARCHITECTURES.index(architecture))
    if architecture.startswith("speech_embedding"):
        # The pretrained embedding's values reach about 60: random head weights on them
        # saturate the softmax, and saturated scores would compare nothing.
        logits = keras_model.get_layer("logits" if architecture == "speech_embedding"
                                        else "embedding" + models.BRANCH_SUFFIX)
        logits.kernel.assign(logits.kernel * 0.02)
    export.write_model_kws(path, keras_model, settings, architecture, LABELS)
    return keras_model, kws.Model.load(str(path))


def tf_scores(keras_model, clips: np.ndarray, settings: ModelSettings = SETTINGS) -> np.ndarray:
    """TensorFlow's own softmax on (batch, samples) clips: TF front end + Keras model."""
    import tensorflow as tf

    from kws.train.features import tf_features

    feats = tf_features(tf.constant(clips), settings)
    return tf.nn.softmax(keras_model(feats, training=False)).numpy()


@pytest.fixture(scope="module")
def audio(sample_dir: Path) -> dict[str, np.ndarray]:
    """A speech stream (noise, a spoken word, noise) and a noise stream, 1.6 s each. The
    white noise is made here, at the level and 16-bit grid of the dataset's white_noise.wav
    (the Speech Commands test set has no noise folder)."""
    word = read_wav_16bit(sorted((sample_dir / "left").glob("*.wav"))[0])
    word = np.pad(word, (0, max(0, 16000 - len(word))))[:16000]
    noise = read_wav_16bit(sample_dir / "_background_noise_" / "doing_the_dishes.wav")
    white = np.round(np.random.default_rng(0).normal(0.0, 0.0033, 25600) * 32768) / 32768
    speech = np.concatenate([0.3 * noise[:4800], word, 0.3 * noise[4800:9600]])
    return {"speech": speech.astype(np.float32), "noise": white[:25600].astype(np.float32)}


def windows(signal: np.ndarray, hop: int) -> tuple[list[int], np.ndarray]:
    starts = list(range(0, len(signal) - 16000 + 1, hop))
    return starts, np.stack([signal[s:s + 16000] for s in starts])


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_whole_clip_and_stream_match_tensorflow(architecture, audio, tmp_path):
    keras_model, model = build_exported(architecture, tmp_path / "model.kws")
    assert model.labels == LABELS and model.architecture == architecture
    assert model.clip_samples == 16000 and model.sample_rate == 16000

    for name, signal in audio.items():
        for hop_ms in (30, 20):  # 30 ms: 3 frames, out of phase with stride-2 layers
            hop = hop_ms * 16
            starts, clips = windows(signal, hop)
            reference = tf_scores(keras_model, clips, settings_for(architecture))
            # The comparison means something only if the scores are not all saturated.
            assert reference.max(axis=1).mean() < 0.99, (architecture, name)

            # Under every kernel set this CPU runs (the scalar set is the reference).
            scalar_whole = None
            for kset in kernel_sets():
                whole = model.predict(clips)
                assert whole.shape == reference.shape
                np.testing.assert_allclose(
                    whole, reference, atol=1e-4, rtol=0,
                    err_msg=f"{architecture} whole clip vs TF on {name} ({kset} kernels)")
                if scalar_whole is None:
                    scalar_whole = whole
                np.testing.assert_allclose(
                    whole, scalar_whole, atol=1e-5, rtol=0,
                    err_msg=f"{architecture} {kset} kernels vs scalar on {name}")

                stream = model.create_stream(hop_ms=hop_ms)
                results = []
                for i in range(0, len(signal), 1000):  # chunks unrelated to the hop
                    results += stream.accept_waveform(signal[i:i + 1000])
                assert [s for s, _ in results] == starts
                streamed = np.stack([scores for _, scores in results])
                np.testing.assert_allclose(
                    streamed, whole, atol=1e-5, rtol=0,
                    err_msg=f"{architecture} stream vs whole clip on {name}, {hop_ms} ms hop "
                            f"({kset} kernels)")
                np.testing.assert_allclose(
                    streamed, reference, atol=1e-4, rtol=0,
                    err_msg=f"{architecture} stream vs TF on {name}, {hop_ms} ms hop "
                            f"({kset} kernels)")


def value_floats(model) -> list[int]:
    """Floats of each value, from the summary: the features, then each op's output."""
    import re

    sizes = [model.num_frames * model.num_coefficients]
    for shape in re.findall(r"\] -> \(([0-9, ]+)\)", model.summary()):
        sizes.append(int(np.prod([int(d) for d in shape.split(",")])))
    return sizes


@pytest.mark.parametrize("architecture", ["single_fc", "conv", "tiny_conv", "ds_cnn",
                                          "tc_resnet", "bc_resnet_1"])
def test_whole_clip_layer_outputs_share_memory(architecture, tmp_path):
    """Whole-clip inference keeps layer outputs in one arena where outputs never needed
    at the same time share memory. For a chain of layers (each op reads the one before)
    that is at least an op's input and output together and at most two of the largest;
    with residual blocks, between the largest output and all of them. The parity test
    above checks that sharing changes no score (every clip of a batch reuses the arena)."""
    _, model = build_exported(architecture, tmp_path / "model.kws")
    sizes = value_floats(model)
    assert len(sizes) >= 3
    used = model.whole_clip_memory_bytes
    padded = [4 * ((n + 15) // 16 * 16) for n in sizes]
    assert max(padded) <= used < sum(padded), (architecture, used, sizes)
    if architecture in ("single_fc", "conv", "tiny_conv", "ds_cnn"):  # chains
        pairs = max(a + b for a, b in zip(padded, padded[1:]))
        assert pairs <= used <= 2 * max(padded), (architecture, used, sizes)
    assert f"whole-clip layer outputs {(used + 1023) // 1024} KiB" in model.summary()


@pytest.mark.parametrize("architecture", ["conv", "low_latency_svdf", "tc_resnet", "ds_cnn"])
def test_stream_hops_and_chunking(architecture, audio, tmp_path):
    """Any hop that is a whole number of frames, any chunking, and reset: the same scores
    as whole-clip inference on every window."""
    _, model = build_exported(architecture, tmp_path / "model.kws")
    signal = audio["speech"]
    for hop in (160, 320, 640, 4800):
        starts, clips = windows(signal, hop)
        whole = model.predict(clips)
        stream = model.create_stream(hop_samples=hop)
        for chunk in (1, 160, 7777):
            if chunk == 1 and hop != 320:
                continue  # one sample at a time is slow in Python: one hop size is enough
            stream.reset()
            got = []
            for i in range(0, len(signal), chunk):
                got += stream.accept_waveform(signal[i:i + chunk])
            assert [s for s, _ in got] == starts
            np.testing.assert_allclose(np.stack([g for _, g in got]), whole, atol=1e-5, rtol=0,
                                       err_msg=f"{architecture} hop {hop} chunk {chunk}")


def test_stream_caches_save_work(tmp_path):
    """The cached state really skips work: the SVDF hop costs a fraction of the window."""
    _, model = build_exported("low_latency_svdf", tmp_path / "svdf.kws")
    stream = model.create_stream(hop_ms=30)
    rng = np.random.default_rng(3)
    stream.accept_waveform(rng.normal(0, 0.1, 16000).astype(np.float32))
    assert stream.last_decode_flops == model.flops_per_window  # first window: everything
    stream.accept_waveform(rng.normal(0, 0.1, 480).astype(np.float32))
    assert stream.last_decode_flops < model.flops_per_window / 8


@pytest.mark.parametrize("architecture", ["conv", "tiny_conv", "ds_cnn"])
def test_stream_caches_out_of_phase_hops(architecture, tmp_path):
    """A 30 ms hop (3 frames) against a stride-2 layer reuses the rows of the window two
    hops back (same phase): from the third window on, a hop costs a fraction of the
    window, about as little as an in-phase 20 ms hop per frame of audio."""
    _, model = build_exported(architecture, tmp_path / "model.kws")
    rng = np.random.default_rng(4)
    signal = rng.normal(0, 0.1, 16000 + 6 * 480).astype(np.float32)
    per_hop = {}
    for hop_ms in (20, 30):
        stream = model.create_stream(hop_ms=hop_ms)
        stream.accept_waveform(signal[:16000])
        flops = []
        for i in range(16000, len(signal) - hop_ms * 16 + 1, hop_ms * 16):
            assert len(stream.accept_waveform(signal[i:i + hop_ms * 16])) == 1
            flops.append(stream.last_decode_flops)
        per_hop[hop_ms] = flops
    window = model.flops_per_window
    # Window 1 has no same-phase window yet for the strided layer's outputs.
    assert per_hop[30][0] > per_hop[30][1]
    assert max(per_hop[30][1:]) < 0.9 * window, per_hop
    assert max(per_hop[30][1:]) < 1.6 * max(per_hop[20][1:]), per_hop


def test_bad_arguments(tmp_path):
    _, model = build_exported("tiny_conv", tmp_path / "tiny.kws")
    with pytest.raises(ValueError, match="whole number of feature frames"):
        model.create_stream(hop_samples=100)
    with pytest.raises(ValueError, match="whole number of feature frames"):
        model.create_stream(hop_ms=25)
    with pytest.raises(ValueError, match="16000"):
        model.predict(np.zeros(15999, np.float32))
    with pytest.raises(ValueError, match="98, 40"):
        model.predict_features(np.zeros((97, 40), np.float32))


def test_log_mel_model_matches_tensorflow(audio, tmp_path):
    """A --preprocess log_mel model: the runtime's MFCC turned back into log-mel bins by
    the model's first ops, whole clip and stream, against TensorFlow's log-mel features."""
    from kws.train import export, models
    from kws.train.features import tf_features

    settings = ModelSettings(label_count=len(LABELS), preprocess="log_mel")
    keras_model = models.build_model("bc_resnet_1", settings, training_dropout=False)
    randomize_weights(keras_model, seed=21)
    export.write_model_kws(tmp_path / "mel.kws", keras_model, settings, "bc_resnet_1", LABELS)
    model = kws.Model.load(str(tmp_path / "mel.kws"))
    assert "log_mel" in model.summary()
    starts, clips = windows(audio["speech"], 480)
    import tensorflow as tf

    reference = tf.nn.softmax(keras_model(tf_features(tf.constant(clips), settings),
                                          training=False)).numpy()
    assert reference.max(axis=1).mean() < 0.99
    whole = model.predict(clips)
    np.testing.assert_allclose(whole, reference, atol=1e-4, rtol=0)
    stream = model.create_stream(hop_ms=30)
    got = stream.accept_waveform(audio["speech"])
    assert [s for s, _ in got] == starts
    np.testing.assert_allclose(np.stack([g for _, g in got]), whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("architecture", ["bc_resnet_1_stream", "tc_resnet_stream"])
def test_streaming_first_hop_costs_only_new_frames(architecture, audio, tmp_path):
    """A time-VALID model's hop computes the rows of its new frames and nothing else: the
    cost of a 30 ms hop is 3 rows of every layer plus the pooling and the classifier, and
    a 20 ms hop costs two thirds of its row part; the stream's scores equal whole-clip inference exactly."""
    _, model = build_exported(architecture, tmp_path / "m.kws")
    signal = audio["speech"]
    costs = {}
    for hop_ms in (30, 20):
        stream = model.create_stream(hop_ms=hop_ms)
        got = stream.accept_waveform(signal[:16000])
        assert stream.last_decode_flops == model.flops_per_window
        per_hop = []
        for i in range(16000, len(signal) - hop_ms * 16 + 1, hop_ms * 16):
            got += stream.accept_waveform(signal[i:i + hop_ms * 16])
            per_hop.append(stream.last_decode_flops)
        assert len(set(per_hop)) == 1, per_hop  # every hop costs the same
        costs[hop_ms] = per_hop[0]
        starts, clips = windows(signal, hop_ms * 16)
        assert [s for s, _ in got] == starts
        np.testing.assert_array_equal(np.stack([g for _, g in got]), model.predict(clips))
    from kws.train.bc_resnet import receptive_field

    # Every layer computes 3 of its rows (it has at least `pooled` rows in a window),
    # plus the pooling and the classifier.
    pooled = 98 - receptive_field(architecture) + 1
    assert costs[30] < model.flops_per_window * 4 / pooled, costs
    assert costs[20] < costs[30]
    head = 3 * costs[20] - 2 * costs[30]  # the part that does not scale with the hop
    assert 0 <= head < costs[20] / 2, (costs, head)
