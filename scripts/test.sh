#!/usr/bin/env bash
# The test command: lints the Python code (ruff), builds the C++ core, runs its unit tests
# (ctest), installs it and builds the example consumer against the installed package,
# then runs pytest (arguments are passed on, e.g. -m "not slow").
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
JOBS="${KWS_JOBS:-$(nproc 2>/dev/null || echo 2)}"

echo "[kws] ruff check (Python lint)"
python -m ruff check .

echo "[kws] C++ build and unit tests"
cmake -S . -B build/cpp -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DKWS_BUILD_TESTS=ON -DKWS_BUILD_EXAMPLES=ON >/dev/null
cmake --build build/cpp -j "$JOBS"
ctest --test-dir build/cpp --output-on-failure -j "$JOBS"
rm -rf build/prefix
cmake --install build/cpp --prefix build/prefix >/dev/null
export KWS_INSTALL_PREFIX="$ROOT/build/prefix"

# ASan + UBSan build of the C++ tests (build/sanitize); KWS_SANITIZE_TESTS=0 skips it.
if [ "${KWS_SANITIZE_TESTS:-1}" != "0" ]; then bash scripts/sanitize.sh; fi

echo "[kws] Python tests"
python -m pytest -q "$@"
