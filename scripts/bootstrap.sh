#!/usr/bin/env bash
# Makes sure a Python environment with kws (and its train+test extras) is ready, and
# (re)installs kws from this checkout. Source it: afterwards `python`, `kws`, `pytest`,
# `cmake` and `ninja` come from that environment.
# KWS_VENV picks the environment's folder (default: .venv in the repository).
set -euo pipefail
KWS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KWS_VENV="${KWS_VENV:-$KWS_ROOT/.venv}"
if [ ! -x "$KWS_VENV/bin/python" ]; then
  echo "[kws] creating a Python environment in $KWS_VENV"
  python3 -m venv "$KWS_VENV"
  "$KWS_VENV/bin/python" -m pip install --quiet --upgrade pip
fi
# shellcheck disable=SC1091
source "$KWS_VENV/bin/activate"
if ! python -c "import tensorflow, pytest, xdist, scikit_build_core, pybind11, espeakng_loader, pyroomacoustics, pyopen_wakeword" >/dev/null 2>&1 \
   || ! python -m ruff --version >/dev/null 2>&1 \
   || ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  echo "[kws] installing dependencies (TensorFlow CPU, build tools): a few minutes the first time"
  python -m pip install --quiet "scikit-build-core>=0.10" "pybind11>=2.12" cmake ninja setuptools wheel
  python -m pip install --quiet --no-build-isolation "$KWS_ROOT[test]"
else
  echo "[kws] building and installing kws from $KWS_ROOT"
  python -m pip install --quiet --no-deps --no-build-isolation "$KWS_ROOT"
fi
# flite (CMU's small synthesizer with voices made from recorded speakers): half the
# speakers of `kws make-dataset`'s default voices, so the demo and the tests need it.
# Installed from the system's packages when missing and possible.
if ! command -v flite >/dev/null; then
  kws_sudo=()
  if [ "$(id -u)" != "0" ]; then kws_sudo=(sudo -n); fi
  if command -v apt-get >/dev/null && "${kws_sudo[@]}" true 2>/dev/null; then
    echo "[kws] installing flite (apt-get)"
    "${kws_sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${kws_sudo[@]}" apt-get install -y -qq flite >/dev/null
  else
    echo "[kws] flite is not installed and cannot be installed here: install it (apt-get" \
         "install flite, brew install flite) or make datasets with --voices espeak" >&2
  fi
fi
