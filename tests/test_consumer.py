"""The installed C++ package works for a native app: cpp/examples is configured with
find_package(kws) against the install prefix, built, and its programs run: wav_info reads
real WAV files exactly as kws.read_wav does; stream_wav (C++) and stream_wav_c (C99, through
kws/c_api.h only) stream a WAV through a model in microphone-sized chunks and print the same
detections as kws.Model + kws.RecognizeCommands.

scripts/test.sh installs the library into KWS_INSTALL_PREFIX; without it, this test builds
and installs the root project into build/pytest/prefix itself. Both builds stay in
build/pytest, so a later run rebuilds only what changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

import kws


def _cmake() -> str:
    cmake = shutil.which("cmake")
    if cmake is None or shutil.which("ninja") is None:
        raise RuntimeError("cmake and ninja must be on PATH (activate the kws environment)")
    return cmake


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(
            f"command failed ({result.returncode}): {' '.join(cmd)}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


@pytest.fixture(scope="session")
def install_prefix(repo_root) -> Path:
    env = os.environ.get("KWS_INSTALL_PREFIX")
    if env:
        return Path(env)
    cmake = _cmake()
    build = repo_root / "build" / "pytest" / "core"
    prefix = repo_root / "build" / "pytest" / "prefix"
    _run([cmake, "-S", str(repo_root), "-B", str(build), "-G", "Ninja",
          "-DCMAKE_BUILD_TYPE=Release", "-DKWS_BUILD_TESTS=OFF", "-DKWS_BUILD_EXAMPLES=OFF",
          "-DKWS_BUILD_PYTHON=OFF"])
    _run([cmake, "--build", str(build), "-j", "2"])
    _run([cmake, "--install", str(build), "--prefix", str(prefix)])
    return prefix


@pytest.fixture(scope="session")
def examples(repo_root, install_prefix) -> Path:
    """The consumer project built against the installed package; returns its build folder."""
    cmake = _cmake()
    assert (install_prefix / "include" / "kws" / "wav_io.h").is_file()
    # One build folder per prefix: CMake's cache keeps the kws_DIR it found first.
    digest = hashlib.sha256(str(install_prefix.resolve()).encode()).hexdigest()[:12]
    build = repo_root / "build" / "pytest" / f"examples-{digest}"
    _run([cmake, "-S", str(repo_root / "cpp" / "examples"), "-B", str(build), "-G", "Ninja",
          "-DCMAKE_BUILD_TYPE=Release", f"-DCMAKE_PREFIX_PATH={install_prefix}",
          "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"])
    # find_package(kws) resolved to the installed package, not to a build tree.
    cache = (build / "CMakeCache.txt").read_text()
    kws_dir = next(line.split("=", 1)[1] for line in cache.splitlines()
                   if line.startswith("kws_DIR:"))
    assert Path(kws_dir).resolve().is_relative_to(install_prefix.resolve()), kws_dir
    _run([cmake, "--build", str(build), "-j", "2"])
    return build


@pytest.fixture(scope="session")
def wav_info(examples) -> Path:
    program = examples / "wav_info"
    assert program.is_file()
    return program


def _parse(stdout: str) -> list[dict[str, str]]:
    records: list[dict[str, str]] = []
    for line in stdout.splitlines():
        key, _, value = line.partition(": ")
        if key == "file":
            records.append({})
        records[-1][key] = value
    return records


def _expected(path: Path) -> dict[str, object]:
    samples, rate = kws.read_wav(path, mono=False)
    return {
        "sample_rate": rate,
        "channels": samples.shape[1],
        "frames": samples.shape[0],
        "duration_s": samples.shape[0] / rate,
        "peak": float(np.abs(samples).max()),
    }


def test_consumer_reads_real_sample_like_python(wav_info, sample_dir):
    files = [sorted((sample_dir / "yes").glob("*.wav"))[0],
             sorted((sample_dir / "stop").glob("*.wav"))[-1],
             sample_dir / "_background_noise_" / "doing_the_dishes.wav"]
    out = subprocess.run([str(wav_info), *map(str, files)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    records = _parse(out.stdout)
    assert [r["file"] for r in records] == list(map(str, files))
    for path, record in zip(files, records):
        expected = _expected(path)
        assert int(record["sample_rate"]) == expected["sample_rate"] == 16000
        assert int(record["channels"]) == expected["channels"] == 1
        assert int(record["bits_per_sample"]) == 16
        assert int(record["frames"]) == expected["frames"]
        assert float(record["duration_s"]) == pytest.approx(expected["duration_s"], abs=1e-6)
        # %.9g round-trips a float32 exactly.
        assert np.float32(record["peak"]) == np.float32(expected["peak"]) > 0
        assert float(record["peak_dbfs"]) == pytest.approx(
            20 * np.log10(expected["peak"]), abs=0.006)


def test_consumer_multichannel_and_bad_file(wav_info, tmp_path):
    stereo = tmp_path / "stereo24.wav"
    ints = np.array([[100000, -4000000], [8000000, 0], [-8388608, 5]])
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(3)
        w.setframerate(48000)
        w.writeframes(b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel()))
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    out = subprocess.run([str(wav_info), str(stereo), str(bad)], capture_output=True, text=True)
    assert out.returncode == 1
    (record,) = _parse(out.stdout)
    assert record["channels"] == "2" and record["frames"] == "3"
    assert record["sample_rate"] == "48000" and record["bits_per_sample"] == "24"
    assert float(record["peak"]) == 1.0
    assert f"wav_info: {bad}: missing fmt chunk" in out.stderr


# ---- stream_wav: a live-style native app --------------------------------------------------

@pytest.fixture(scope="module")
def word_stream(sample_dir, tmp_path_factory) -> tuple[Path, list[tuple[str, int]]]:
    """30 s of real words over real noise (kws gen-stream) and its ground truth."""
    out = tmp_path_factory.mktemp("stream_wav")
    wav, truth = out / "words.wav", out / "words.txt"
    kws._core.generate_stream(str(sample_dir), str(wav), str(truth), duration_seconds=30, seed=3)
    words = []
    for line in truth.read_text().splitlines():
        word, time_ms = line.split(",")
        words.append((word.strip(), int(float(time_ms))))
    return wav, words


@pytest.mark.parametrize("flags,hop_ms,decoder", [
    ([], 30, {}),  # the classic RecognizeCommands defaults, 100 ms chunks
    (["--clip_stride_ms", "20", "--chunk_ms", "37", "--average_window_ms", "500",
      "--detection_threshold", "0.3", "--suppression_ms", "1000", "--minimum_count", "4"], 20,
     dict(average_window_duration_ms=500, detection_threshold=0.3, suppression_ms=1000,
          minimum_count=4)),
    (["--average_window_ms", "500", "--detection_threshold", "0.3", "--decision_delay_ms",
      "750"], 30, dict(average_window_duration_ms=500, detection_threshold=0.3,
                       decision_delay_ms=750)),
])
@pytest.mark.parametrize("program", ["stream_wav", "stream_wav_c"])
def test_stream_wav_detections_equal_python(examples, models, word_stream, flags, hop_ms,
                                            decoder, detections, program):
    wav, words = word_stream
    out = subprocess.run([str(examples / program), *flags, str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    got = detections.parse(out.stdout)
    samples, rate = kws.read_wav(str(wav))
    expected = detections.python(models["fc"], samples, hop_ms, **decoder)
    detections.assert_same(got, expected)
    # The model hears real words: detections happen, and several near a spoken word.
    assert len(got) >= 5
    near = [t for t, label, _ in got if any(abs(t - w) <= 750 for _, w in words)]
    assert len(near) >= 3, (got, words)
    assert f"{program}: {len(got)} commands" in out.stderr


def _assert_bad_files_refused(program: Path, model: Path, wav: Path, tmp_path: Path,
                              wav_error: str, model_error: str) -> None:
    """A broken WAV, a missing WAV, a truncated model and a WAV at the wrong rate: exit
    code 1, nothing on stdout, and a message on stderr that starts with the program's name
    and names the file (wav_error / model_error: what follows "<program>: ", with {file})."""
    name = program.name

    def run(*args: Path) -> subprocess.CompletedProcess:
        return subprocess.run([str(program), *map(str, args)], capture_output=True, text=True)

    bad_wav = tmp_path / "broken.wav"
    bad_wav.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    out = run(model, bad_wav)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith(f"{name}: " + wav_error.format(file=bad_wav)), out.stderr

    missing = tmp_path / "missing.wav"
    out = run(model, missing)
    assert out.returncode == 1 and str(missing) in out.stderr

    bad_model = tmp_path / "model.kws"
    bad_model.write_bytes(model.read_bytes()[:100])
    out = run(bad_model, wav)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.startswith(f"{name}: " + model_error.format(file=bad_model)), out.stderr
    assert str(bad_model) in out.stderr

    slow = tmp_path / "8k.wav"
    kws.write_wav(str(slow), np.zeros(8000, np.float32), 8000)
    out = run(model, slow)
    assert out.returncode == 1
    assert f"{name}: {slow}: sample rate 8000 Hz, the model takes 16000 Hz" in out.stderr


def test_stream_wav_bad_files(examples, models, word_stream, tmp_path):
    program = str(examples / "stream_wav")
    wav, _ = word_stream
    _assert_bad_files_refused(examples / "stream_wav", models["fc"], wav, tmp_path,
                              wav_error="{file}", model_error="")

    # Bad flags: a hop that is not whole feature frames is the model's InvalidArgument.
    out = subprocess.run([program, "--clip_stride_ms", "25", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "whole number" in out.stderr, out.stderr
    out = subprocess.run([program, "--chunk_ms", "x", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--chunk_ms: 'x' is not a valid value" in out.stderr
    out = subprocess.run([program, "--allow_repeats", "maybe", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--allow_repeats: 'maybe' is not a valid value" in out.stderr


def test_stream_wav_c_is_c_and_reports_bad_input(examples, models, word_stream, tmp_path):
    """stream_wav_c is compiled by the C compiler (C99) and linked against the installed
    kws::core; every failure is kws_last_error()'s message naming the file."""
    ninja = (examples / "build.ninja").read_text()
    block = ninja[ninja.index("build CMakeFiles/stream_wav_c.dir/"):]
    block = block[:block.index("\n\n")]
    assert "C_COMPILER__stream_wav_c" in block.splitlines()[0], block
    assert "-std=c99" in block, block

    program = str(examples / "stream_wav_c")
    wav, _ = word_stream
    _assert_bad_files_refused(examples / "stream_wav_c", models["fc"], wav, tmp_path,
                              wav_error="kws_wav_read: {file}: ",
                              model_error="kws_model_load: {file}: ")

    out = subprocess.run([program, "--clip_stride_ms", "25", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "kws_stream_create: hop of 400 samples" in out.stderr
    out = subprocess.run([program, "--detection_threshold", "1.5", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "detection_threshold must be in [0, 1]" in out.stderr
    out = subprocess.run([program, "--chunk_ms", "x", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--chunk_ms: 'x' is not a valid value" in out.stderr
    out = subprocess.run([program, "--allow_repeats", "maybe", str(models["fc"]), str(wav)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--allow_repeats: 'maybe' is not a valid value" in out.stderr


# ---- the bundled models, installed with the library ------------------------------------------

def test_installed_package_ships_the_bundled_models(install_prefix, repo_root):
    shipped = sorted((repo_root / "python" / "kws" / "models").glob("*.kws"))
    assert shipped, ("no bundled model in python/kws/models: run scripts/train_bundled_models.sh "
                     "(docs/models.md)")
    installed = install_prefix / "share" / "kws" / "models"
    for path in shipped:
        for f in (path, path.with_suffix(".json")):
            assert (installed / f.name).read_bytes() == f.read_bytes(), f.name
    for f in (repo_root / "python" / "kws" / "models").glob("LICENSE.*"):
        assert (installed / f.name).read_bytes() == f.read_bytes(), f.name


@pytest.mark.parametrize("program", ["stream_wav", "stream_wav_c"])
def test_stream_wav_uses_the_bundled_model_by_default(examples, install_prefix, word_stream,
                                                      detections, program):
    """No model argument: the installed speech_commands, found through the package's
    KWS_MODELS_DIR compile definition (the environment variable is not set), decoded with
    the threshold, decision delay, averaging window and repeats rule its installed card
    recommends; in C++ and through the C API."""
    wav, words = word_stream
    env = {k: v for k, v in os.environ.items() if k != "KWS_MODELS_DIR"}
    out = subprocess.run([str(examples / program), str(wav)], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stderr.startswith(
        f"{program}: no model given: using the bundled model 'speech_commands'\n"), out.stderr
    installed = install_prefix / "share" / "kws" / "models" / "speech_commands.kws"
    card = json.loads(installed.with_suffix(".json").read_text())["stream"]
    threshold, delay = card["recommended_threshold"], card["recommended_decision_delay_ms"]
    decoder = {"detection_threshold": threshold, "decision_delay_ms": delay}
    said = f"--detection_threshold {threshold:g} --decision_delay_ms {delay}"
    if "recommended_average_window_ms" in card:
        decoder["average_window_duration_ms"] = card["recommended_average_window_ms"]
        said += f" --average_window_ms {card['recommended_average_window_ms']}"
    if "recommended_allow_repeats" in card:
        decoder["allow_repeats"] = card["recommended_allow_repeats"]
        said += f" --allow_repeats {str(card['recommended_allow_repeats']).lower()}"
    assert (f"{program}: {said}, as the card of the bundled model 'speech_commands' "
            "recommends\n") in out.stderr
    got = detections.parse(out.stdout)
    samples, _ = kws.read_wav(str(wav))
    detections.assert_same(got, detections.python(installed, samples, 30, **decoder))
    # By name, and a name that is no bundled model lists the bundled ones.
    by_name = subprocess.run([str(examples / program), "speech_commands", str(wav)],
                             capture_output=True, text=True, env=env)
    assert by_name.returncode == 0 and by_name.stdout == out.stdout
    bad = subprocess.run([str(examples / program), "no_such_model", str(wav)],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1
    assert "no bundled model 'no_such_model'" in bad.stderr and "speech_commands" in bad.stderr


@pytest.mark.parametrize("program", ["stream_wav", "stream_wav_c"])
def test_stream_wav_decodes_a_bundled_model_as_its_card_says(examples, models, word_stream,
                                                             tmp_path, detections, program):
    """A bundled model (KWS_MODELS_DIR) is decoded with its card's threshold, decision
    delay, averaging window and repeats rule for the flags not given; a given flag wins; a
    model by
    path, or a card that cannot be read (said on stderr), keeps the decoder defaults. In
    C++ and through the C API (whose messages name the call that failed)."""
    called = "kws_bundled_card_decoder: " if program == "stream_wav_c" else ""
    wav, _ = word_stream
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copyfile(models["fc"], folder / "words.kws")
    card = folder / "words.json"
    card.write_text(json.dumps({"stream": {"recommended_threshold": 0.3,
                                           "recommended_decision_delay_ms": 750,
                                           "recommended_average_window_ms": 250,
                                           "recommended_allow_repeats": True}}))
    env = {**os.environ, "KWS_MODELS_DIR": str(folder)}
    samples, _ = kws.read_wav(str(wav))

    def run(*args: str) -> tuple[list, str]:
        out = subprocess.run([str(examples / program), *args, str(wav)],
                             capture_output=True, text=True, env=env)
        assert out.returncode == 0, out.stderr
        return detections.parse(out.stdout), out.stderr

    classic = detections.python(models["fc"], samples, 30)
    carded = detections.python(models["fc"], samples, 30, detection_threshold=0.3,
                               decision_delay_ms=750, average_window_duration_ms=250,
                               allow_repeats=True)
    assert carded != classic
    assert carded != detections.python(models["fc"], samples, 30, detection_threshold=0.3,
                                       decision_delay_ms=750)
    got, err = run("words")
    detections.assert_same(got, carded)
    assert (f"{program}: --detection_threshold 0.3 --decision_delay_ms 750 --average_window_ms "
            "250 --allow_repeats true, as the card of the bundled model 'words' recommends") \
        in err, err
    got, err = run("--detection_threshold", "0.5", "words")
    detections.assert_same(got, detections.python(models["fc"], samples, 30,
                                                  detection_threshold=0.5,
                                                  decision_delay_ms=750,
                                                  average_window_duration_ms=250,
                                                  allow_repeats=True))
    assert (f"{program}: --decision_delay_ms 750 --average_window_ms 250 --allow_repeats true, "
            "as the card") in err, err
    got, err = run("--average_window_ms", "1000", "--allow_repeats", "false", "words")
    detections.assert_same(got, detections.python(models["fc"], samples, 30,
                                                  detection_threshold=0.3,
                                                  decision_delay_ms=750))
    assert f"{program}: --detection_threshold 0.3 --decision_delay_ms 750, as the card" in err
    got, err = run(str(folder / "words.kws"))
    detections.assert_same(got, classic)
    assert "recommends" not in err
    for broken, problem in (("{not json", ""),
                            (json.dumps({"stream": {"recommended_threshold": 2}}),
                             "stream.recommended_threshold must be in [0, 1], got 2)"),
                            (json.dumps({"stream": {"recommended_average_window_ms": 0}}),
                             "stream.recommended_average_window_ms must be an integer in "
                             "[1, 600000]"),
                            (json.dumps({"stream": {"recommended_allow_repeats": "yes"}}),
                             "stream.recommended_allow_repeats")):
        card.write_text(broken)
        got, err = run("words")
        detections.assert_same(got, classic)
        assert (f"{program}: no decoder settings from the card of the bundled model 'words' "
                f"({called}{card}: {problem}") in err and "): the decoder defaults" in err, err
