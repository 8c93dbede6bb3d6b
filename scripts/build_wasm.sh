#!/usr/bin/env bash
# Builds kws::core and its C API to WebAssembly with Emscripten: build/wasm/kws.js +
# kws.wasm (a MODULARIZE'd module, factory createKws), copied next to the demo page as
# web/kws.js and web/kws.wasm. Installs Debian's emscripten when emcc is missing.
# Incremental: an unchanged tree is not rebuilt (ninja in build/wasm).
#   bash scripts/build_wasm.sh            # then: python -m http.server -d web 8000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${KWS_JOBS:-$(nproc 2>/dev/null || echo 2)}"

if ! command -v emcc >/dev/null; then
  echo "[kws] wasm: emcc is missing; installing Debian's emscripten"
  sudo=()
  if [ "$(id -u)" != "0" ]; then sudo=(sudo -n); fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq emscripten >/dev/null
fi
# Debian's emscripten runs its JS tools with node and needs Debian's node modules (acorn);
# a node from elsewhere does not search /usr/share/nodejs by itself.
if [ -d /usr/share/nodejs ]; then export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"; fi
if ! command -v cmake >/dev/null && [ -x "$ROOT/.venv/bin/cmake" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi
# Never download anything: Debian's prebuilt system libraries are the (frozen) cache.
export EM_FROZEN_CACHE=1
version="$(emcc --version)"
echo "[kws] wasm: ${version%%$'\n'*}"

BUILD_DIR=build/wasm
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  emcmake cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DKWS_NATIVE_ARCH=OFF -DKWS_BUILD_TESTS=OFF -DKWS_BUILD_EXAMPLES=OFF \
    -DKWS_BUILD_PYTHON=OFF >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$JOBS" --target kws_wasm
for f in kws.js kws.wasm; do
  if ! cmp -s "$BUILD_DIR/$f" "web/$f"; then cp "$BUILD_DIR/$f" "web/$f"; fi
done
echo "[kws] wasm: web/kws.js ($(stat -c %s web/kws.js) bytes), web/kws.wasm ($(stat -c %s web/kws.wasm) bytes)"
