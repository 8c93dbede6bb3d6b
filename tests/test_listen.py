"""`kws listen`: WAV files played through the microphone's callback path (callback ->
queue -> Listener.process, in callback-sized blocks) give the detections of the Python
stream + decoder on the same audio; channels are averaged, other rates resampled; without
the audio library or PortAudio the command says what to install. No audio device is used."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

import kws
from kws.cli import main as kws_main
from kws.commands.listen import Listener, StreamResampler


@pytest.fixture(scope="module")
def words(sample_dir, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """30 s of real words over real noise (kws gen-stream): the file and its samples."""
    out = tmp_path_factory.mktemp("listen")
    wav = out / "words.wav"
    kws._core.generate_stream(str(sample_dir), str(wav), str(out / "words.txt"),
                              duration_seconds=30, seed=4)
    return wav, kws.read_wav(str(wav))[0]


def _listen(capsys, detections, *args: str) -> list[tuple[int, str, float]]:
    assert kws_main(["listen", *args]) == 0
    return detections.parse(capsys.readouterr().out)


def _wanted(found: list[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
    """What `kws listen` shows by default: the wanted words, not `_unknown_`."""
    return [d for d in found if d[1] != "_unknown_"]


def _write_pcm16(path: Path, channels: np.ndarray, rate: int) -> None:
    """(frames, channels) float samples as 16-bit PCM (exactly representable inputs)."""
    pcm = np.round(channels * 32768).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


@pytest.mark.parametrize("flags,hop_ms,decoder", [
    ([], 30, {}),  # classic decoder defaults, 100 ms blocks
    (["--block_ms", "23", "--clip_stride_ms", "20", "--average_window_ms", "500",
      "--detection_threshold", "0.3", "--suppression_ms", "1000", "--minimum_count", "4"], 20,
     dict(average_window_duration_ms=500, detection_threshold=0.3, suppression_ms=1000,
          minimum_count=4)),
    (["--average_window_ms", "500", "--detection_threshold", "0.3", "--decision_delay_ms",
      "750"], 30, dict(average_window_duration_ms=500, detection_threshold=0.3,
                       decision_delay_ms=750)),
])
def test_wav_through_callback_equals_python_stream(capsys, models, words, flags, hop_ms,
                                                   decoder, detections):
    wav, samples = words
    got = _listen(capsys, detections, "--model", str(models["fc"]), "--wav", str(wav), *flags)
    expected = _wanted(detections.python(models["fc"], samples, hop_ms, **decoder))
    detections.assert_same(got, expected)
    assert len(got) >= 5


def test_channels_are_averaged(capsys, models, words, tmp_path, detections):
    _, samples = words
    stereo = tmp_path / "stereo.wav"
    _write_pcm16(stereo, np.stack([samples, np.zeros_like(samples)], axis=1), 16000)
    got = _listen(capsys, detections, "--model", str(models["fc"]), "--wav", str(stereo))
    # The average of the voice and a silent channel is the voice at half volume.
    expected = _wanted(detections.python(models["fc"], samples / 2))
    detections.assert_same(got, expected)
    assert len(got) >= 5


def test_other_rates_are_resampled(capsys, models, words, tmp_path, detections):
    import soxr

    _, samples = words
    high = soxr.resample(samples, 16000, 48000).astype(np.float32)
    path48 = tmp_path / "48k.wav"
    kws.write_wav(str(path48), high, 48000, float32=True)
    high, _ = kws.read_wav(str(path48))  # as stored: clipped to [-1, 1]
    # soxr, streamed block by block, equals soxr on the whole signal.
    got = _listen(capsys, detections, "--model", str(models["fc"]), "--wav", str(path48), "--resample", "soxr")
    expected = _wanted(detections.python(models["fc"], soxr.resample(high, 48000, 16000)))
    detections.assert_same(got, expected)
    # ... and hears what the 16 kHz original says.
    original = _wanted(detections.python(models["fc"], samples))
    assert [label for _, label, _ in got] == [label for _, label, _ in original]
    assert all(abs(a[0] - b[0]) <= 60 for a, b in zip(got, original))
    # Linear interpolation from 48 kHz lands exactly on every third sample.
    got = _listen(capsys, detections, "--model", str(models["fc"]), "--wav", str(path48), "--resample",
                  "linear", "--block_ms", "17")
    detections.assert_same(got, _wanted(detections.python(models["fc"], high[::3].copy())))
    assert len(got) >= 5


def test_linear_resampler_is_exact_and_chunk_independent():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, 44100).astype(np.float32)
    for from_rate, to_rate in [(44100, 16000), (16000, 48000), (48000, 16000), (8000, 16000)]:
        whole = StreamResampler(from_rate, to_rate, "linear").process(x, last=True)
        assert len(whole) == -(-len(x) * to_rate // from_rate)
        pieces = StreamResampler(from_rate, to_rate, "linear")
        cuts = np.sort(rng.integers(0, len(x), 40))
        parts = [pieces.process(p) for p in np.split(x, cuts)] + [pieces.process(x[:0], True)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    up = StreamResampler(16000, 48000, "linear").process(x[:100], last=True)
    np.testing.assert_array_equal(up[::3], x[:100])
    np.testing.assert_allclose(up[1:-3:3], (2 * x[:99] + x[1:100]) / 3, atol=1e-6)
    # A 440 Hz tone from 44.1 kHz to 16 kHz is the same tone.
    tone = np.sin(2 * np.pi * 440 * np.arange(44100) / 44100).astype(np.float32)
    out = StreamResampler(44100, 16000, "linear").process(tone, last=True)
    np.testing.assert_allclose(out, np.sin(2 * np.pi * 440 * np.arange(16000) / 16000),
                               atol=2e-3)


def test_listener_takes_int16_blocks(models, words, detections):
    _, samples = words
    pcm = np.round(samples * 32768).astype(np.int16)
    listener = Listener(kws.Model.load(str(models["fc"])))
    got = []
    for start in range(0, len(pcm), 1024):
        got += listener.process(pcm[start:start + 1024].reshape(-1, 1))
    got += listener.finish()
    detections.assert_same([(d.time_ms, d.label, d.score) for d in got],
                            _wanted(detections.python(models["fc"], samples)))


def test_all_labels_shows_unknown_words_too(capsys, words, detections):
    """By default only the wanted words are shown (as the classic app did); --all_labels
    adds `_unknown_` (and `_silence_`) detections. The bundled model, a trained one, hears
    the stream's other words as `_unknown_`."""
    wav, samples = words
    model = str(kws.bundled.model_path("speech_commands"))
    everything = detections.python(model, samples)
    assert sum(label == "_unknown_" for _, label, _ in everything) >= 2, everything
    assert any(label != "_unknown_" for _, label, _ in everything), everything
    shown = _listen(capsys, detections, "--model", model, "--wav", str(wav))
    detections.assert_same(shown, _wanted(everything))
    all_labels = _listen(capsys, detections, "--model", model, "--wav", str(wav), "--all_labels")
    detections.assert_same([d for d in all_labels if d[1] != "_silence_"], everything)


def test_bundled_model_uses_its_cards_decoder(capsys, models, words, tmp_path, monkeypatch,
                                             detections):
    """A bundled model (by name or by default) listens with the threshold, decision delay
    and repeats rule its card recommends, and the averaging window they were chosen with,
    unless the flags are given; a model by path with the decoder defaults."""
    wav, samples = words
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "speech_commands.kws").write_bytes(Path(models["fc"]).read_bytes())
    (folder / "speech_commands.json").write_text(json.dumps({"name": "speech_commands", "stream": {
        "recommended_threshold": 0.3, "recommended_decision_delay_ms": 750,
        "recommended_average_window_ms": 250, "recommended_allow_repeats": True}}))
    monkeypatch.setenv("KWS_MODELS_DIR", str(folder))
    carded = _wanted(detections.python(models["fc"], samples, detection_threshold=0.3,
                                       decision_delay_ms=750, average_window_duration_ms=250,
                                       allow_repeats=True))
    classic = _wanted(detections.python(models["fc"], samples))
    assert carded and carded != classic
    # The window matters here: the same threshold and delay over the default window differ.
    assert carded != _wanted(detections.python(models["fc"], samples, detection_threshold=0.3,
                                               decision_delay_ms=750))
    for args in (["--wav", str(wav)], ["--model", "speech_commands", "--wav", str(wav)]):
        assert kws_main(["listen", *args]) == 0
        out, err = capsys.readouterr()
        detections.assert_same(detections.parse(out), carded)
        assert ("kws listen: --detection_threshold 0.3 --decision_delay_ms 750 "
                "--average_window_ms 250 --allow_repeats true, as the card of the bundled model "
                "'speech_commands' recommends (kws models)") in err, err
    # A flag given wins over the card; the others still come from it.
    assert kws_main(["listen", "--wav", str(wav), "--detection-threshold", "0.5"]) == 0
    out, err = capsys.readouterr()
    detections.assert_same(detections.parse(out), _wanted(detections.python(
        models["fc"], samples, detection_threshold=0.5, decision_delay_ms=750,
        average_window_duration_ms=250, allow_repeats=True)))
    assert ("kws listen: --decision_delay_ms 750 --average_window_ms 250 --allow_repeats true, "
            "as the card") in err, err
    assert kws_main(["listen", "--wav", str(wav), "--average_window_ms", "1000",
                     "--allow_repeats", "false"]) == 0
    out, err = capsys.readouterr()
    detections.assert_same(detections.parse(out), _wanted(detections.python(
        models["fc"], samples, detection_threshold=0.3, decision_delay_ms=750)))
    assert "kws listen: --detection_threshold 0.3 --decision_delay_ms 750, as the card" in err
    # A card that cannot be read: said, and the decoder defaults.
    for broken in ("{not json", json.dumps({"stream": {"recommended_threshold": "high"}}),
                   json.dumps({"stream": {"recommended_threshold": 2}}),
                   json.dumps({"stream": {"recommended_decision_delay_ms": 750.5}}),
                   json.dumps({"stream": {"recommended_decision_delay_ms": 10 ** 9}}),
                   json.dumps({"stream": {"recommended_average_window_ms": 0}}),
                   json.dumps({"stream": {"recommended_average_window_ms": 250.5}}),
                   json.dumps({"stream": {"recommended_allow_repeats": "yes"}})):
        (folder / "speech_commands.json").write_text(broken)
        assert kws_main(["listen", "--wav", str(wav)]) == 0
        out, err = capsys.readouterr()
        detections.assert_same(detections.parse(out), classic)
        assert ("kws listen: no decoder settings from the card of the bundled model "
                "'speech_commands' (") in err and "): the decoder defaults" in err, err
    # By path: the decoder defaults.
    assert kws_main(["listen", "--model", str(folder / "speech_commands.kws"),
                     "--wav", str(wav)]) == 0
    out, err = capsys.readouterr()
    detections.assert_same(detections.parse(out), classic)
    assert "recommends" not in err


def test_realtime_plays_at_the_speed_of_audio(capsys, models, words, tmp_path, detections):
    _, samples = words
    short = tmp_path / "short.wav"
    kws.write_wav(str(short), samples[: 3 * 16000], 16000)
    began = time.monotonic()
    got = _listen(capsys, detections, "--model", str(models["fc"]), "--wav", str(short), "--realtime")
    assert time.monotonic() - began >= 2.8  # 3 s of audio, blocks paced like a microphone
    detections.assert_same(got, _wanted(detections.python(models["fc"], samples[: 3 * 16000])))


def test_bad_input(capsys, models, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    assert kws_main(["listen", "--model", str(models["fc"]), "--wav", str(broken)]) == 1
    assert f"kws listen: error: {broken}" in capsys.readouterr().err
    bad_model = tmp_path / "bad.kws"
    bad_model.write_bytes(b"not a model")
    assert kws_main(["listen", "--model", str(bad_model), "--wav", str(broken)]) == 1
    assert str(bad_model) in capsys.readouterr().err
    # No --model: the bundled speech_commands, said in one line (then the broken WAV fails).
    assert kws_main(["listen", "--wav", str(broken)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("kws listen: no --model given: using the bundled model "
                          "'speech_commands'"), err
    # A name that is neither a file nor a bundled model lists the bundled ones.
    assert kws_main(["listen", "--model", "no_such_model", "--wav", str(broken)]) == 1
    assert ("no_such_model: neither a model file nor a bundled model's name (bundled "
            "models: ") in capsys.readouterr().err


def test_microphone_path_or_what_to_install(models, tmp_path):
    """Without the sounddevice package (or without PortAudio under it) the microphone
    path fails with one line naming what to install, never a traceback. With PortAudio
    (Linux), the real microphone path runs on ALSA's null capture device (silence)."""
    hidden = ("import sys; sys.modules['sounddevice'] = None; from kws.cli import main; "
              f"sys.exit(main(['listen', '--model', {str(models['fc'])!r}]))")
    out = subprocess.run([sys.executable, "-c", hidden], capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert out.stderr == ("kws listen: the microphone needs the listen extra: pip install "
                          "'kws[listen]' (--wav FILE works without it)\n")
    # This machine as it is: sounddevice with or without the PortAudio library.
    probe = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True,
                           text=True)
    out = subprocess.run([sys.executable, "-m", "kws.cli", "listen", "--list_devices"],
                         capture_output=True, text=True)
    if probe.returncode == 0:
        assert out.returncode == 0, out.stderr
        if sys.platform.startswith("linux"):
            conf = tmp_path / "asound.conf"
            conf.write_text("pcm.kwsnull {\n    type null\n}\n")
            env = dict(os.environ, ALSA_CONFIG_PATH=f"/usr/share/alsa/alsa.conf:{conf}")
            out = subprocess.run(
                [sys.executable, "-m", "kws.cli", "listen", "--model", str(models["fc"]),
                 "--device", "kwsnull", "--device_rate", "44100", "--duration", "1"],
                capture_output=True, text=True, env=env)
            assert out.returncode == 0, out.stderr
            assert "microphone 'kwsnull': 44100 Hz, 1 channel(s)" in out.stderr
            assert "resampled 44100 -> 16000 Hz" in out.stderr
            received = re.search(r"\(([0-9.]+) s of audio received", out.stderr)
            assert received and float(received[1]) > 0, out.stderr
    elif "PortAudio library not found" in probe.stderr:
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "apt-get install libportaudio2" in out.stderr, out.stderr
    else:
        assert "No module named 'sounddevice'" in probe.stderr, probe.stderr
        assert out.returncode == 1 and "pip install 'kws[listen]'" in out.stderr
