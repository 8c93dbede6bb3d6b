#!/usr/bin/env bash
# The C++ core and its unit tests on 64-bit ARM: cross-compiled with g++-aarch64-linux-gnu
# (cmake/aarch64-linux-gnu.cmake) into build/arm and run by ctest under
# qemu-aarch64-static. Installs the Debian packages when missing. Part of
# scripts/test.sh (so CI runs it); KWS_ARM_TESTS=0 skips it there for a quick local loop.
#   bash scripts/test_arm.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${KWS_JOBS:-2}"
BUILD_DIR="${KWS_ARM_BUILD_DIR:-build/arm}"
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

# libgtest-dev: GoogleTest's sources, cross-compiled here with the tests.
bash scripts/ensure_debs.sh g++-aarch64-linux-gnu qemu-user-static libgtest-dev
for tool in aarch64-linux-gnu-g++ qemu-aarch64-static; do
  command -v "$tool" >/dev/null || { echo "[kws] $tool not found after install" >&2; exit 1; }
done

echo "[kws] C++ tests on aarch64 (cross-compiled, run under qemu-aarch64-static)"
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" \
  -DCMAKE_TOOLCHAIN_FILE="$ROOT/cmake/aarch64-linux-gnu.cmake" -DCMAKE_BUILD_TYPE=Release \
  -DKWS_NATIVE_ARCH=OFF -DKWS_BUILD_TESTS=ON -DKWS_BUILD_EXAMPLES=OFF \
  -DKWS_BUILD_PYTHON=OFF >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"
# Every test program is an ARM binary: check one, so a host build can never pass as ARM.
file_out="$(od -An -tx1 -j18 -N2 "$BUILD_DIR/version_test" | tr -d ' ')"
if [ "$file_out" != "b700" ]; then
  echo "[kws] $BUILD_DIR/version_test is not an aarch64 program (e_machine $file_out)" >&2
  exit 1
fi
# The hour-long stream test runs 5 minutes of audio under the (slower) emulator.
export KWS_LONG_STREAM_SECONDS="${KWS_LONG_STREAM_SECONDS:-300}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS"
echo "[kws] aarch64: all C++ tests pass"
