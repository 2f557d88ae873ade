#!/usr/bin/env bash
# Set up lookout: system packages (Debian, when missing and run as root), a virtual
# environment in .venv, and the package with its test tools. Safe to run again.
#   --with-test-deps  also the services the tests start (GStreamer RTSP server, Redis)
#                     and the browser the console tests drive (chromium, chromedriver)
#   --with-train      also the training environment .venv-train for `lookout train`
#                     (pyproject's `train` extra: Ultralytics, torch), kept apart from
#                     .venv because it pulls opencv-python beside torch
#                     (docs/LEARNING.md "From a dataset to a model")
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
with_test_deps=0
with_train=0
for arg in "$@"; do
  case "$arg" in
    --with-test-deps) with_test_deps=1 ;;
    --with-train) with_train=1 ;;
    *) echo "setup: unknown option $arg (--with-test-deps, --with-train)" >&2; exit 2 ;;
  esac
done

apt_missing=()
command -v "$PY" >/dev/null 2>&1 || apt_missing+=(python3)
"$PY" -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_missing+=(python3-venv)
if [ "$with_test_deps" = 1 ]; then
  # The tests start real services: Debian's GStreamer RTSP server (driven by the
  # system Python, which has the GObject bindings) and redis-server.
  /usr/bin/python3 -c 'import gi; gi.require_version("GstRtspServer", "1.0");
from gi.repository import GstRtspServer' >/dev/null 2>&1 ||
    apt_missing+=(python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base
                  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)
  command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)
  # The rediss:// and console HTTPS tests make throwaway certificates with it.
  command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)
  # The web console's tests drive Debian's chromium through its chromedriver (selenium
  # is in the dev extra); nothing downloads a browser build.
  [ -x /usr/bin/chromium ] || apt_missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || apt_missing+=(chromium-driver)
  # Evidence labels in Chinese need a CJK font (docs/I18N.md); fontconfig finds it.
  { command -v fc-list >/dev/null 2>&1 && fc-list :lang=zh | grep -qi noto; } ||
    apt_missing+=(fonts-noto-cjk fontconfig)
fi
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

if [ "$with_train" = 1 ]; then
  # Only the train extra's requirements, not lookout: the worker runs by path
  # (lookout/training/worker.py). pip, not another installer: torch and torchvision
  # come from this machine's local copies where pip is configured for them.
  if [ ! -x .venv-train/bin/python ]; then
    "$PY" -m venv .venv-train
  fi
  train_stamp=.venv-train/.lookout-installed
  if [ ! -f "$train_stamp" ] || [ pyproject.toml -nt "$train_stamp" ]; then
    mapfile -t train_reqs < <("$PY" -c 'import tomllib
with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["train"]))')
    .venv-train/bin/python -m pip install -q --upgrade pip
    .venv-train/bin/python -m pip install -q "${train_reqs[@]}"
    touch "$train_stamp"
  fi
fi
# The training stack must never land in the core environment.
if .venv/bin/python -m pip show -q torch opencv-python >/dev/null 2>&1; then
  echo "setup: .venv holds torch or opencv-python; remove them (they belong in .venv-train)" >&2
  exit 1
fi

assets=${LOOKOUT_ASSETS:-../shared/assets}
if [ ! -f "$assets/models/yolox_nano.onnx" ]; then
  echo "setup: warning: shared assets not found at $assets (set LOOKOUT_ASSETS)" >&2
fi
