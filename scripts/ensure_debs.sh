#!/usr/bin/env bash
# Installs the Debian packages named as arguments when any is missing (one apt-get update,
# then apt-get install); returns at once when all are present. Fails, naming the packages,
# when they are missing and cannot be installed here (no apt-get, or not root and no sudo).
#   bash scripts/ensure_debs.sh qemu-user-static g++-aarch64-linux-gnu
set -euo pipefail
missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
sudo_cmd=()
if [ "$(id -u)" != "0" ]; then sudo_cmd=(sudo -n); fi
if ! command -v apt-get >/dev/null || ! "${sudo_cmd[@]}" true 2>/dev/null; then
  echo "[kws] missing Debian packages: ${missing[*]}; install them (apt-get install" \
       "${missing[*]}) and run again" >&2
  exit 1
fi
echo "[kws] installing ${missing[*]} (apt-get)"
# Waits for another apt-get run on the machine instead of failing on its lock.
lock=(-o DPkg::Lock::Timeout=900)
"${sudo_cmd[@]}" apt-get "${lock[@]}" update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get "${lock[@]}" install -y -qq \
  --no-install-recommends \
  "${missing[@]}" >/dev/null
