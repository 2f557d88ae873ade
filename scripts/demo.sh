#!/usr/bin/env bash
# Set everything up, then replay the demo clip with the default model and config.
# Draft cases land in out/demo/cases.jsonl (+ cases.db, evidence/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
assets=${LOOKOUT_ASSETS:-../shared/assets}
exec .venv/bin/lookout replay "$assets/footage/vtest.avi" --config configs/demo.yaml --out out/demo "$@"
