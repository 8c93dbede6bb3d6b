"""The installed package: the runtime tier works with TensorFlow blocked, versions agree,
the CLI dispatches."""

import importlib.util
import re
import subprocess
import sys
import textwrap

import kws

# A meta-path finder that refuses TensorFlow (and Keras): code run after it behaves as on a
# machine with numpy and kws only.
BLOCK_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys
    class NoTensorFlow(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"{name} is blocked in this test")
            return None
    sys.meta_path.insert(0, NoTensorFlow())
""")


def _run_blocked(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TENSORFLOW + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=120)


def test_native_core_version_matches_package():
    assert kws._core.version() == kws.__version__


def test_runtime_tier_works_with_tensorflow_blocked(repo_root, tmp_path):
    """`import kws`, a model run, MFCC, WAV I/O, `kws --help` and the runtime commands work
    where TensorFlow cannot be imported; `kws train` says it needs it."""
    model = repo_root / "fuzz" / "regressions" / "model_loader" / "seed_single_fc.kws"
    out = _run_blocked("""
        import sys
        import numpy as np
        try:
            import tensorflow  # noqa: F401
            raise SystemExit("the block did not work")
        except ImportError:
            pass
        import kws
        from kws.cli import main
        model = kws.Model.load(sys.argv[1])
        rng = np.random.default_rng(0)
        clip = (0.1 * rng.standard_normal(model.clip_samples)).astype(np.float32)
        scores = model.predict(clip)
        assert scores.shape == (len(model.labels),) and abs(float(scores.sum()) - 1) < 1e-4
        assert kws.mfcc(clip).shape == (model.clip_samples // 160 - 2, 40)
        kws.write_wav(sys.argv[2], clip, model.sample_rate)
        assert np.array_equal(kws.read_wav(sys.argv[2])[0], np.round(clip * 32768) / 32768)
        assert main(["--help"]) == 0
        assert main(["label-wav", "--graph", sys.argv[1], "--wav", sys.argv[2]]) == 0
        assert main(["mfcc", sys.argv[2], "--frames", "1"]) == 0
        assert "tensorflow" not in sys.modules
        print("RUNTIME OK")
    """, str(model), str(tmp_path / "clip.wav"))
    assert out.returncode == 0, out.stderr[-3000:]
    assert "RUNTIME OK" in out.stdout and "commands:" in out.stdout
    assert "(score = " in out.stdout  # label-wav printed the model's labels

    train = _run_blocked("from kws.cli import main; raise SystemExit(main(['train', '--help']))")
    assert train.returncode == 1, train.stderr[-3000:]
    assert train.stderr.startswith("kws train: needs the train extra (pip install 'kws[train]')")


def test_cli_help_and_unknown_command():
    ok = subprocess.run([sys.executable, "-m", "kws.cli", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "commands:" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "kws.cli", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command 'nope'" in bad.stderr


def _api_outline(text: str) -> list[str]:
    """The names a Python API page documents, in order (module, class and function
    headings and each class's members), without their signatures, whose spelling follows
    the installed pybind11."""
    return re.findall(r"^(?:## |### (?:class )?|- )`([\w.]+)", text, re.M)


def test_python_api_page_documents_the_installed_package(repo_root):
    """docs/python_api.md names every public class, function and method of the modules it
    covers, as scripts/gen_api_docs.py generates it from the installed package now."""
    spec = importlib.util.spec_from_file_location("gen_api_docs",
                                                  repo_root / "scripts" / "gen_api_docs.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    generated = _api_outline(gen.python_api())
    assert "kws.StreamingEvaluator" in generated and "kws.train.checkpoint" in generated
    committed = (repo_root / "docs" / "python_api.md").read_text()
    assert _api_outline(committed) == generated, \
        "docs/python_api.md is out of date: run python scripts/gen_api_docs.py"
