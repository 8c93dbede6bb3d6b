"""Kernel sets chosen at run time: what build_info() reports, KWS_ISA forcing a set (in a
fresh process, as a user would), the fallback when the forced set cannot run, the CLI's
version line, and every set against the scalar reference on every architecture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kernel_sets import kernel_sets

import kws
from kws import _core
from kws.train import models as kws_models
from kws.train.settings import ModelSettings

ALL_SETS = ["scalar", "avx2", "avx512", "neon", "wasm_simd128"]


def test_build_info_describes_the_build():
    info = kws.build_info()
    assert info["version"] == kws.__version__
    assert info["compiled_sets"][0] == "scalar" and info["supported_sets"][0] == "scalar"
    assert set(info["supported_sets"]) <= set(info["compiled_sets"]) <= set(ALL_SETS)
    assert info["kernel_set"] in info["supported_sets"]
    assert info["architecture"] in ("x86_64", "aarch64", "arm", "other")
    if info["architecture"] == "x86_64":
        assert "avx2" in info["compiled_sets"] and "avx512" in info["compiled_sets"]
    # Unforced, the library runs the best set this CPU supports.
    if not os.environ.get("KWS_ISA"):
        assert info["kernel_set"] == info["supported_sets"][-1]
    assert _core._use_kernel_set("no_such_set") is False
    assert kws.build_info()["kernel_set"] == info["kernel_set"]


def _in_fresh_process(code: str, isa: str | None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("KWS_ISA", None)
    if isa is not None:
        env["KWS_ISA"] = isa
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=True)


@pytest.fixture(scope="module")
def conv_model(tmp_path_factory) -> Path:
    from kws.train import export

    settings = ModelSettings(label_count=4)
    model = kws_models.build_model("conv", settings, training_dropout=False)
    kws_models.randomize_weights(model, seed=7)
    out = tmp_path_factory.mktemp("kernel_sets") / "conv.kws"
    return export.write_model_kws(out, model, settings, "conv", ["a", "b", "c", "d"])


def test_kws_isa_forces_each_supported_set(conv_model):
    rng = np.random.default_rng(0)
    clip = (0.1 * rng.standard_normal(16000)).astype(np.float32)
    clip_file = conv_model.with_suffix(".npy")
    np.save(clip_file, clip)
    code = ("import json, numpy as np, kws; "
            f"m = kws.Model.load({str(conv_model)!r}); "
            f"s = m.predict(np.load({str(clip_file)!r})); "
            "print(json.dumps([kws.build_info(), s.tolist()]))")
    model = kws.Model.load(str(conv_model))
    for kset in kernel_sets():
        expected = model.predict(clip)
        run = _in_fresh_process(code, kset)
        info, scores = json.loads(run.stdout)
        assert info["kernel_set"] == kset and info["requested_set"] == kset
        assert run.stderr == ""
        # The set forced at load computes exactly what switching to it in process does.
        np.testing.assert_array_equal(np.asarray(scores, np.float32), expected)


def test_a_set_that_cannot_run_falls_back_with_a_warning():
    info = kws.build_info()
    code = "import json, kws; print(json.dumps(kws.build_info()))"
    missing = [s for s in ALL_SETS if s not in info["supported_sets"]] + ["sse9"]
    for isa in missing:
        run = _in_fresh_process(code, isa)
        got = json.loads(run.stdout)
        assert got["requested_set"] == isa
        assert got["kernel_set"] == info["supported_sets"][-1]
        assert f"KWS_ISA={isa} is not a kernel set" in run.stderr
        assert "using " + got["kernel_set"] in run.stderr


def test_version_line_names_the_kernel_set():
    code = "import sys; from kws.cli import main; sys.exit(main(['--version']))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    info = kws.build_info()
    assert run.stdout.startswith(f"kws {kws.__version__} ")
    assert f"kernels {info['kernel_set']}" in run.stdout
    assert ", ".join(info["compiled_sets"]) in run.stdout
