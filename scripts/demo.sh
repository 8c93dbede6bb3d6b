#!/usr/bin/env bash
# Sets up kws, then runs `kws demo` (arguments are passed on).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/bootstrap.sh"
cd "$ROOT"
exec kws demo "$@"
