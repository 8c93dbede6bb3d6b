"""kws.RecognizeCommands from Python: defaults, errors, and agreement with a plain-Python
transcription of the SPEC.md decoder on long random score sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest

import kws

LABELS = ["_silence_", "_unknown_", "yes", "no", "up"]


def reference_decoder(labels, window, threshold, suppression, minimum_count,
                      allow_repeats=False):
    """SPEC.md's six steps, written as directly as possible; `allow_repeats` lets the
    previous label (not silence) fire again once the suppression has passed."""
    queue: list[tuple[int, np.ndarray]] = []
    state = {"label": "_silence_", "time": -math.inf}

    def process(scores: np.ndarray, t: int):
        assert len(scores) == len(labels)
        assert not queue or t >= queue[-1][0]
        queue.append((t, scores.astype(np.float32)))
        while queue[0][0] < t - window:
            queue.pop(0)
        if len(queue) < minimum_count or t - queue[0][0] < window // 4:
            return state["label"], 0.0, False
        avg = np.zeros(len(labels), dtype=np.float32)
        for _, s in queue:
            avg += s / np.float32(len(queue))
        best = int(np.argmax(avg))
        since = math.inf if state["label"] == "_silence_" else t - state["time"]
        repeat = allow_repeats and state["label"] != "_silence_"
        new = bool(avg[best] > threshold and (labels[best] != state["label"] or repeat)
                   and since > suppression)
        if new:
            state["label"], state["time"] = labels[best], t
        return labels[best], float(avg[best]), new

    return process


def test_defaults_are_the_classic_class_ones():
    rc = kws.RecognizeCommands(LABELS)
    assert rc.average_window_duration_ms == 1000
    assert rc.detection_threshold == pytest.approx(0.2)
    assert rc.suppression_ms == 1500
    assert rc.minimum_count == 3
    assert rc.labels == LABELS


@pytest.mark.parametrize("window,threshold,suppression,minimum", [
    (500, 0.7, 1500, 3), (1000, 0.2, 1500, 3), (100, 0.5, 300, 1), (250, 0.4, 0, 5)])
def test_matches_the_spec_on_random_sequences(window, threshold, suppression, minimum):
    rng = np.random.default_rng(window + minimum)
    rc = kws.RecognizeCommands(
        LABELS, kws.RecognizeCommandsOptions(window, threshold, suppression, minimum))
    ref = reference_decoder(LABELS, window, threshold, suppression, minimum)
    t = 0
    fired = 0
    for step in range(6000):
        # Bursts of one dominant label, like words in a stream; sometimes equal times.
        dominant = (step // 40) % len(LABELS)
        logits = rng.normal(0, 1, len(LABELS)).astype(np.float32)
        logits[dominant] += 3.0
        scores = np.exp(logits) / np.exp(logits).sum()
        t += int(rng.choice([0, 10, 30, 30, 30, 60]))
        got = rc.process(scores, t)
        label, score, new = ref(scores, t)
        assert (got.label, got.is_new, got.time_ms) == (label, new, t), step
        assert got.score == pytest.approx(score, abs=1e-6)
        fired += new
    assert fired > 10  # the sequence exercised detections, not only silence


@pytest.mark.parametrize("allow_repeats", [False, True])
def test_repeats_follow_the_spec_with_the_same_word_said_again(allow_repeats):
    # Bursts of a label drawn anew each time (often the same one again) with quiet gaps
    # that never reach the threshold, so only allow_repeats reports a word said again.
    rng = np.random.default_rng(7)
    options = kws.RecognizeCommandsOptions(300, 0.6, 1000, 3, allow_repeats=allow_repeats)
    assert options.allow_repeats is allow_repeats
    rc = kws.RecognizeCommands(LABELS, options)
    assert rc.allow_repeats is allow_repeats
    ref = reference_decoder(LABELS, 300, 0.6, 1000, 3, allow_repeats)
    t = 0
    repeats = 0
    previous = None
    for burst in range(120):
        word = int(rng.choice([2, 2, 3]))
        for step in range(50):
            logits = rng.normal(0, 0.3, len(LABELS)).astype(np.float32)
            logits[word if step < 25 else 1] += 3.0 if step < 25 else 0.5
            scores = np.exp(logits) / np.exp(logits).sum()
            t += 30
            got = rc.process(scores, t)
            label, score, new = ref(scores, t)
            assert (got.label, got.is_new) == (label, new), (burst, step)
            if new:
                repeats += label == previous
                previous = label
    assert (repeats > 10) if allow_repeats else (repeats == 0)


def test_errors_are_value_errors():
    rc = kws.RecognizeCommands(LABELS, kws.RecognizeCommandsOptions(500, 0.7, 1500, 3))
    with pytest.raises(ValueError, match="expected 5 scores"):
        rc.process(np.zeros(3, np.float32), 0)
    rc.process(np.full(5, 0.2, np.float32), 100)
    rc.process(np.full(5, 0.2, np.float32), 200)
    with pytest.raises(ValueError, match="earlier than the newest"):
        rc.process(np.full(5, 0.2, np.float32), 150)
    with pytest.raises(ValueError, match="minimum_count"):
        kws.RecognizeCommands(LABELS, minimum_count=0)
    with pytest.raises(ValueError, match=r"decision_delay_ms must be in \[0, 10000\]"):
        kws.RecognizeCommands(LABELS, decision_delay_ms=10**9)
    with pytest.raises(ValueError, match=r"decision_delay_ms must be in \[0, 10000\]"):
        kws.StreamingOptions(decision_delay_ms=-1).validate()


def test_result_fields_and_reset():
    rc = kws.RecognizeCommands(["_silence_", "yes"], kws.RecognizeCommandsOptions(3, 0.5, 1500, 1))
    r = rc.process([0.1, 0.9], 7)
    assert isinstance(r, kws.RecognizeResult)
    assert (r.label, r.is_new, r.time_ms) == ("yes", True, 7)
    assert r.score == pytest.approx(0.9)
    assert not rc.process([0.1, 0.9], 5000).is_new  # same label never fires twice in a row
    rc.reset()
    assert rc.queued == 0
    assert rc.process([0.1, 0.9], 0).is_new
