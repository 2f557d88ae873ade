#!/usr/bin/env bash
# Set up lookout: system packages (Debian, when missing and run as root), a virtual
# environment in .venv, and the package with its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
apt_missing=()
command -v "$PY" >/dev/null 2>&1 || apt_missing+=(python3)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_missing+=(python3-venv)
if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_missing[@]}"
  else
    echo "setup: please install: ${apt_missing[*]} (e.g. sudo apt-get install ${apt_missing[*]})" >&2
    exit 1
  fi
fi

"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "setup: Python 3.11 or newer is needed ($("$PY" --version))" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.lookout-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

assets=${LOOKOUT_ASSETS:-../shared/assets}
if [ ! -f "$assets/models/yolox_nano.onnx" ]; then
  echo "setup: warning: shared assets not found at $assets (set LOOKOUT_ASSETS)" >&2
fi
