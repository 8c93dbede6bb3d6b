#!/usr/bin/env bash
# C and C++ formatting with clang-format (style in .clang-format): Debian's clang-format,
# installed when missing.
#   bash scripts/format.sh           # rewrites the files in place
#   bash scripts/format.sh --check   # fails, listing each difference, when a file is not formatted
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/ensure_debs.sh clang-format
mapfile -t files < <(find cpp bindings fuzz bench \( -name '*.cc' -o -name '*.h' -o -name '*.c' \) \
  -type f | sort)
if [ "${1:-}" = "--check" ]; then
  clang-format --dry-run -Werror "${files[@]}"
  echo "[kws] clang-format: ${#files[@]} files formatted"
else
  clang-format -i "${files[@]}"
fi
