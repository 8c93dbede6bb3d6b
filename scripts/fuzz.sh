#!/usr/bin/env bash
# Coverage-guided fuzzing of kws's parsers with libFuzzer (clang, ASan + UBSan).
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default 60 s, all targets)
#   bash scripts/fuzz.sh --ensure-clang                    (only install clang if missing)
# Targets are fuzz/*_fuzzer.cc (wav_reader, mfcc, model_loader, ground_truth, c_api_model:
# the C API's model-from-memory entry point, also fed model_loader's inputs) and the Python
# fuzz/*_fuzzer.py run on Atheris (dataset_index: the training tier's dataset indexer). Each runs single-process for a bounded
# time on a persistent corpus (build/fuzz/corpus/<target>) grown from the generated
# seeds (build/fuzz/seeds/<target>, fuzz/make_seeds.py) and the committed regression
# inputs (fuzz/regressions/<target>). Prints executions, coverage and findings per
# target; crash inputs land in build/fuzz/artifacts/<target>/ and the script fails.
# A line per target is appended to build/fuzz/history.tsv (figures for RELIABILITY.md).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ensure_clang() {
  if command -v clang++ >/dev/null && clang_has_libfuzzer; then return 0; fi
  echo "[kws] fuzz: clang with libFuzzer is missing; installing clang + libclang-rt-14-dev"
  local sudo=()
  if [ "$(id -u)" != "0" ]; then sudo=(sudo -n); fi
  if ! command -v apt-get >/dev/null; then
    echo "[kws] fuzz: no apt-get here; install clang and its libFuzzer runtime by hand" >&2
    exit 1
  fi
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq clang libclang-rt-14-dev \
    >/dev/null
  if ! command -v clang++ >/dev/null || ! clang_has_libfuzzer; then
    echo "[kws] fuzz: clang++ or its libFuzzer runtime is still missing after install" >&2
    exit 1
  fi
}

clang_has_libfuzzer() {
  local dir
  dir="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$dir/probe.cc"
  if clang++ -fsanitize=fuzzer "$dir/probe.cc" -o "$dir/probe" >/dev/null 2>&1; then
    rm -rf "$dir"
    return 0
  fi
  rm -rf "$dir"
  return 1
}

if [ "${1:-}" = "--ensure-clang" ]; then
  ensure_clang
  clang++ --version | head -1
  exit 0
fi

SECONDS_PER_TARGET="${1:-60}"
shift || true
ensure_clang
if ! command -v cmake >/dev/null && [ -x "$ROOT/.venv/bin/cmake" ]; then
  export PATH="$ROOT/.venv/bin:$PATH"
fi

BUILD_DIR=build/fuzz
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  for src in fuzz/*_fuzzer.cc fuzz/*_fuzzer.py; do
    name="$(basename "$src")"
    name="${name%.*}"
    TARGETS+=("${name%_fuzzer}")
  done
fi
# C++ targets are libFuzzer programs; Python targets (fuzz/<name>_fuzzer.py) run on Atheris.
CXX_TARGETS=()
for t in "${TARGETS[@]}"; do
  if [ -f "fuzz/${t}_fuzzer.cc" ]; then CXX_TARGETS+=("$t"); fi
done

echo "[kws] fuzz: building ${CXX_TARGETS[*]} with clang (libFuzzer + ASan + UBSan)"
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
CXX=clang++ cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" -DKWS_FUZZ=ON -DKWS_SANITIZE=ON \
  -DKWS_NATIVE_ARCH=OFF -DKWS_BUILD_TESTS=OFF -DKWS_BUILD_EXAMPLES=OFF \
  -DKWS_BUILD_PYTHON=OFF >/dev/null
BUILD_TARGETS=()
for t in "${CXX_TARGETS[@]}"; do BUILD_TARGETS+=("${t}_fuzzer"); done
if [ ${#BUILD_TARGETS[@]} -gt 0 ]; then
  cmake --build "$BUILD_DIR" -j "${KWS_JOBS:-2}" --target "${BUILD_TARGETS[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; fi
if [ ${#CXX_TARGETS[@]} -ne ${#TARGETS[@]} ] && ! "$PYTHON" -c "import atheris" 2>/dev/null; then
  echo "[kws] fuzz: installing Atheris (PyPI) for the Python targets"
  "$PYTHON" -m pip install --quiet atheris
fi
rm -rf "$BUILD_DIR/seeds"
"$PYTHON" fuzz/make_seeds.py "$BUILD_DIR/seeds" --targets "$(IFS=,; echo "${TARGETS[*]}")"

export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
status=0
summary=()
for t in "${TARGETS[@]}"; do
  corpus="$BUILD_DIR/corpus/$t"
  artifacts="$BUILD_DIR/artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "fuzz/regressions/$t"
  args=(-max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1 -artifact_prefix="$artifacts/")
  if [ -f "fuzz/$t.dict" ]; then args+=(-dict="fuzz/$t.dict"); fi
  # fuzz/<target>.options: extra libFuzzer flags, e.g. -max_len for slow targets.
  if [ -f "fuzz/$t.options" ]; then read -r -a extra <"fuzz/$t.options"; args+=("${extra[@]}"); fi
  dirs=("$corpus")
  more_inputs=()
  if [ "$t" = "c_api_model" ]; then more_inputs=(fuzz/regressions/model_loader); fi
  for d in "$BUILD_DIR/seeds/$t" "fuzz/regressions/$t" "${more_inputs[@]}"; do
    if [ -d "$d" ] && [ -n "$(ls -A "$d")" ]; then dirs+=("$d"); fi
  done
  log="$BUILD_DIR/$t.log"
  before=$(find "$artifacts" -type f | wc -l)
  echo "[kws] fuzz: $t for ${SECONDS_PER_TARGET}s (log $log)"
  set +e
  if [ -f "fuzz/${t}_fuzzer.py" ]; then
    "$PYTHON" "fuzz/${t}_fuzzer.py" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
  else
    "$BUILD_DIR/${t}_fuzzer" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
  fi
  rc=$?
  set -e
  after=$(find "$artifacts" -type f | wc -l)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 || true)
  findings=$((after - before))
  corpus_size=$(find "$corpus" -type f | wc -l)
  line="$t: ${execs:-0} executions in ${SECONDS_PER_TARGET}s, ${cov:-cov: ?}, corpus $corpus_size, findings $findings"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then
    status=1
    line="$line (FAILED, exit $rc; see $log and $artifacts)"
    grep -E 'ERROR|runtime error|SUMMARY|==[0-9]+==' "$log" | head -20 || true
  fi
  summary+=("$line")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$t" "$SECONDS_PER_TARGET" \
    "${execs:-0}" "$findings" "$rc" >>"$BUILD_DIR/history.tsv"
done

echo "[kws] fuzz summary"
for line in "${summary[@]}"; do echo "  $line"; done
exit $status
