#!/usr/bin/env bash
# Run the timing-sensitive tests (marker `timing`) N times (default 10) while two busy
# processes keep both cores loaded, as on a shared CI machine. Extra arguments go to
# pytest (e.g. -k outage). Prints one line per run and a summary; exit 1 if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-10}
burners=()
for _ in 1 2; do
  .venv/bin/python -c 'while True: pass' &
  burners+=($!)
done
trap 'kill "${burners[@]}" 2>/dev/null || true' EXIT
failed=0
for i in $(seq 1 "$runs"); do
  if out=$(.venv/bin/python -m pytest -q -p no:cacheprovider -m timing -s "$@" 2>&1); then
    echo "run $i: passed $(grep -E '^\[' <<<"$out" | tr '\n' ' ')"
  else
    failed=$((failed + 1))
    echo "run $i: FAILED"
    tail -40 <<<"$out"
  fi
done
echo "stress-timing: $((runs - failed))/$runs runs passed under load"
[ "$failed" -eq 0 ]
