"""The streaming evaluator's batched scoring (MFCC of the whole file, row layers once per
frame with each window's edge rows recomputed, dense layers over many windows at once)
against the live cached-state Stream fed the same audio: every architecture (batching
forced with KWS_EVAL_SCORING=batched), real speech over real noise, 30 and 20 ms strides,
several chunks and thread splits: identical scores. The automatic choice batches only the
architectures where batching beats live streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kernel_sets import kernel_sets

import kws
from kws import _core
from kws.labels import parse_wanted_words, prepare_words_list
from kws.train import models as kws_models
from kws.train.config import EMBEDDING_INPUT
from kws.train.settings import ModelSettings

LABELS = prepare_words_list(parse_wanted_words("yes,no,up,down,left,right,on,off,stop,go"))
# BC-ResNet's widths share one graph: width 1 stands for them here.
ARCHITECTURES = [a for a in kws_models.ARCHITECTURES
                 if not (a.startswith("bc_resnet_") and not a.startswith("bc_resnet_1"))]


@pytest.fixture(scope="module")
def arch_models(tmp_path_factory) -> dict[str, Path]:
    """Every architecture with random (non-flat) weights, exported as model.kws."""
    from kws.train import export

    out = tmp_path_factory.mktemp("arch_models")
    paths = {}
    for k, arch in enumerate(ARCHITECTURES):
        settings = ModelSettings(label_count=len(LABELS))
        if arch.startswith("speech_embedding"):  # the power spectrogram of 25 ms frames
            settings = ModelSettings(label_count=len(LABELS), **EMBEDDING_INPUT)
        model = kws_models.build_model(arch, settings, training_dropout=False)
        kws_models.randomize_weights(model, seed=100 + k)
        paths[arch] = export.write_model_kws(out / f"{arch}.kws", model, settings, arch, LABELS)
    return paths


@pytest.fixture(scope="module")
def speech(sample_dir: Path, tmp_path_factory) -> np.ndarray:
    """12 s of real words over real background noise (two chunks of windows)."""
    out = tmp_path_factory.mktemp("batched_stream")
    wav, gt = out / "s.wav", out / "s.txt"
    _core.generate_stream(str(sample_dir), str(wav), str(gt), duration_seconds=12, seed=3)
    samples, rate = kws.read_wav(str(wav))
    assert rate == 16000 and len(samples) == 12 * 16000
    return samples


def _live_scores(model_path: Path, samples: np.ndarray, hop: int) -> np.ndarray:
    """What a live application gets: a cached-state Stream fed 200 ms at a time."""
    stream = kws.Model.load(str(model_path)).create_stream(hop_samples=hop)
    got = []
    for i in range(0, len(samples), 3200):
        got += stream.accept_waveform(samples[i:i + 3200])
    assert [s for s, _ in got] == list(range(0, len(samples) - 16000 + 1, hop))
    return np.stack([g for _, g in got])


# Where batching beats live streams (measured per architecture; see BENCHMARKS.md): the
# layers after the time rows carry a large share of the work, or the convolutions'
# shared kernel-row partial sums halve the row work.
BATCHED_ARCHITECTURES = {"single_fc", "tiny_conv", "low_latency_svdf", "conv"}


# conv (403 MFLOPs a window, under every kernel set, scalar included) is the slowest.
@pytest.mark.parametrize("arch", [pytest.param(a, marks=pytest.mark.slow) if a == "conv" else a
                                  for a in ARCHITECTURES])
def test_batched_scores_equal_the_live_stream(arch_models, speech, arch, monkeypatch):
    # Under every kernel set this CPU runs: bit-identical within a set, and every set
    # within 1e-5 of the scalar set.
    scalar = {}
    for kset in kernel_sets():
        for stride_ms in (30, 20):
            monkeypatch.setenv("KWS_EVAL_SCORING", "batched")
            ev = _core.StreamingEvaluator(str(arch_models[arch]), clip_stride_ms=stride_ms)
            monkeypatch.delenv("KWS_EVAL_SCORING")
            assert ev.batched, ev.scoring_method
            assert ev.scoring_method.startswith("batched")
            times, scores = ev.compute_scores(speech)
            hop = stride_ms * 16
            assert list(times) == [s * 1000 // 16000
                                   for s in range(0, len(speech) - 16000 + 1, hop)]
            live = _live_scores(arch_models[arch], speech, hop)
            # Not flat: the windows' scores differ, so equality means something (random
            # ds_cnn weights give the flattest outputs, std about 1e-6).
            assert live.std(axis=0).max() > 1e-7
            np.testing.assert_array_equal(scores, live, err_msg=f"{kset} kernels")
            # Runs of windows on three threads: the same.
            np.testing.assert_array_equal(ev.compute_scores(speech, threads=3)[1], live,
                                          err_msg=f"{kset} kernels")
            scalar.setdefault(stride_ms, live)
            np.testing.assert_allclose(live, scalar[stride_ms], atol=1e-5, rtol=0,
                                       err_msg=f"{kset} kernels vs scalar")
        # The evaluator's own stream path is the live one.
        np.testing.assert_array_equal(ev.compute_scores(speech, method="stream")[1], live,
                                      err_msg=f"{kset} kernels")
        # The automatic choice: batched where it pays, live streams elsewhere; same scores.
        auto = _core.StreamingEvaluator(str(arch_models[arch]), clip_stride_ms=20)
        assert auto.batched == (arch in BATCHED_ARCHITECTURES), auto.scoring_method
        if not auto.batched:
            assert "live streams are expected to be faster" in auto.scoring_method
        np.testing.assert_array_equal(auto.compute_scores(speech, threads=2)[1], live,
                                      err_msg=f"{kset} kernels")


def test_batched_scores_of_a_window_range_start_anywhere(arch_models, speech):
    """A file shorter than a chunk, a single window, and no window at all."""
    ev = _core.StreamingEvaluator(str(arch_models["conv"]))
    live = _live_scores(arch_models["conv"], speech[:16000 + 480 * 7], 480)
    times, scores = ev.compute_scores(speech[:16000 + 480 * 7 + 100])
    assert len(times) == 8
    np.testing.assert_array_equal(scores, live)
    times, scores = ev.compute_scores(speech[:16000])
    assert list(times) == [0] and scores.shape == (1, len(LABELS))
    np.testing.assert_array_equal(scores, live[:1])
    times, scores = ev.compute_scores(speech[:15999])
    assert len(times) == 0 and scores.shape == (0, len(LABELS))
    with pytest.raises(ValueError, match="method"):
        ev.compute_scores(speech, method="fast")
