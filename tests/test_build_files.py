"""CMake lists its sources by name (no globbing): every C/C++ source on disk must be in
the lists of CMakeLists.txt, so a forgotten file fails here instead of silently being
left out of the library, the bindings, the tests, the examples or the fuzz targets."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Source folders and the files CMake must name in each.
SOURCE_PATTERNS = [
    "cpp/src/*.cc",
    "cpp/src/kernels/*.cc",
    "cpp/src/ops/*.cc",
    "bindings/*.cc",
    "cpp/tests/*.cc",
    "cpp/tests/*.c",
    "cpp/examples/*.cc",
    "cpp/examples/*.c",
    "fuzz/*.cc",
]


def _strip_comments(cmake: str) -> str:
    return "\n".join(line.split("#", 1)[0] for line in cmake.splitlines())


def _set_list(cmake: str, name: str) -> list[str]:
    m = re.search(r"set\(\s*" + name + r"\s+([^)]*)\)", cmake)
    assert m, f"CMakeLists.txt has no set({name} ...)"
    return m.group(1).split()


def listed_sources(cmake: str) -> set[str]:
    """Every source file CMakeLists.txt names, as a path relative to the repository."""
    text = _strip_comments(cmake)
    text = text.replace("${KWS_KERNEL_DIR}", "cpp/src/kernels")
    text = text.replace("${CMAKE_CURRENT_SOURCE_DIR}/", "")
    listed = set(re.findall(r"(?<![\w*./-])\w[\w./-]*\.(?:cc|c)\b", text))
    # Test programs are listed by name: cpp/tests/<name>.cc and cpp/tests/<name>.c.
    listed |= {f"cpp/tests/{n}.cc" for n in _set_list(text, "KWS_CXX_TESTS")}
    listed |= {f"cpp/tests/{n}.c" for n in _set_list(text, "KWS_C_TESTS")}
    return listed


def unlisted_sources(cmake: str, root: Path = ROOT) -> list[str]:
    listed = listed_sources(cmake)
    on_disk = sorted(
        p.relative_to(root).as_posix() for pattern in SOURCE_PATTERNS for p in root.glob(pattern)
    )
    return [f for f in on_disk if f not in listed]


def test_every_source_file_is_listed_in_cmake():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    assert "GLOB" not in _strip_comments(cmake), "CMakeLists.txt lists sources by name"
    missing = unlisted_sources(cmake)
    assert not missing, f"CMakeLists.txt does not list {missing}: add them to its source lists"


def test_every_listed_source_exists():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    absent = sorted(f for f in listed_sources(cmake) if not (ROOT / f).is_file())
    assert not absent, f"CMakeLists.txt lists files that do not exist: {absent}"


def test_a_forgotten_file_is_caught():
    # The check itself: drop one line of each list from the real CMakeLists.txt and the
    # file it named must be reported.
    cmake = (ROOT / "CMakeLists.txt").read_text()
    for line in ["  cpp/src/wav_io.cc", "  cpp/src/ops/svdf.cc", "  wav_io_test",
                 "    bindings/mfcc.cc", "    fuzz/mfcc_fuzzer.cc"]:
        assert line + "\n" in cmake or line + ")" in cmake, line
        pruned = cmake.replace(line + "\n", "\n").replace(line + ")", ")")
        name = line.strip()
        expected = name if "/" in name else f"cpp/tests/{name}.cc"
        assert unlisted_sources(pruned) == [expected]


def test_example_consumer_lists_the_same_programs():
    root_list = _set_list(_strip_comments((ROOT / "CMakeLists.txt").read_text()),
                          "KWS_EXAMPLE_SOURCES")
    consumer = _set_list(_strip_comments((ROOT / "cpp/examples/CMakeLists.txt").read_text()),
                         "KWS_EXAMPLE_SOURCES")
    assert sorted(Path(p).name for p in root_list) == sorted(consumer)
