#!/usr/bin/env bash
# Builds the C++ unit tests with AddressSanitizer + UndefinedBehaviorSanitizer
# (-DKWS_SANITIZE=ON, every UB check fatal) in build/sanitize and runs them with ctest.
# Any sanitizer report fails the run. Part of scripts/test.sh (so CI runs it).
#   bash scripts/sanitize.sh            # build + run all C++ tests
#   KWS_SANITIZE_BUILD_TYPE=Debug bash scripts/sanitize.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${KWS_JOBS:-$(nproc 2>/dev/null || echo 2)}"
BUILD_TYPE="${KWS_SANITIZE_BUILD_TYPE:-RelWithDebInfo}"
BUILD_DIR="${KWS_SANITIZE_BUILD_DIR:-build/sanitize}"
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

bash scripts/ensure_debs.sh libgtest-dev  # GoogleTest's sources, built here with the sanitizers
echo "[kws] C++ tests under ASan + UBSan ($BUILD_TYPE, $BUILD_DIR)"
# -O1 keeps the instrumented tests fast while staying debuggable; no -march=native so a
# report is reproducible on another machine.
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DKWS_SANITIZE=ON -DKWS_NATIVE_ARCH=OFF -DKWS_BUILD_TESTS=ON -DKWS_BUILD_EXAMPLES=OFF \
  -DKWS_BUILD_PYTHON=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

# halt_on_error/abort: any report is a test failure; detect_leaks: leaks count too.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}"
# The hour-long stream test runs 5 minutes of audio under the (slower) sanitizers.
export KWS_LONG_STREAM_SECONDS="${KWS_LONG_STREAM_SECONDS:-300}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
echo "[kws] sanitizers: clean"
