#!/usr/bin/env bash
# The learning loop end to end (docs/LEARNING.md "The loop in CI"), run by .ci/run after
# the tests: the training environment, a dataset from the demo replay, the Ultralytics
# dataset checker on it, one epoch from a model yaml (no pretrained weights) at a small
# input size, ONNX export and manifest, the demo replayed with the new model, and
# `lookout model compare` against YOLOX-Nano. Offline throughout. The model it makes is
# useless (one epoch on 18 frames): the point is that every step runs.
# A failing step fails the script; compare's exit 1 (B loses: expected here) does not,
# its exit 2 or a crash does.
set -euo pipefail
cd "$(dirname "$0")/.."
t_start=$(date +%s.%N)
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$1" "$(date +%s.%N)"; }

bash scripts/setup.sh --with-train
echo "train-loop: training environment ready in $(since "$t_start") s"

assets=${LOOKOUT_ASSETS:-../shared/assets}
video="$assets/footage/vtest.avi"
work=out/train-loop
rm -rf "$work"
mkdir -p "$work"
lookout=.venv/bin/lookout

# The demo config with dataset.keep, and the same with the trained model in place.
config() {  # config OUT.yaml [MANIFEST]
  .venv/bin/python - "$@" <<'EOF'
import sys
from pathlib import Path
import yaml
root = Path.cwd()
cfg = yaml.safe_load((root / "configs/demo.yaml").read_text(encoding="utf-8"))
cfg["model"]["manifest"] = str(Path(sys.argv[2]).resolve() if len(sys.argv) > 2
                               else root / "models/yolox_nano.yaml")
cfg["grid"]["geojson"] = str(root / "configs/demo-grid.geojson")
cfg["dataset"] = {"keep": True}
Path(sys.argv[1]).write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
EOF
}
config "$work/keep.yaml"

# Two replays of the demo clip stamped on two days: two camera-days, so the export's
# split (by camera and day) has a val side. 8 clean frames are kept around each case.
t=$(date +%s.%N)
for start in 2026-11-26T09:00:00+08:00 2026-11-27T09:00:00+08:00; do
  "$lookout" replay "$video" --config "$work/keep.yaml" --out "$work/out" --start "$start" \
    --around 8 --no-progress | grep -E '^(cases|kept around):'
done
"$lookout" dataset export --from 2026-11-26 --to 2026-11-28 --out-dir "$work/out" \
  --out "$work/dataset"
dataset_mb=$(du -sm "$work/dataset" | cut -f1)
echo "train-loop: dataset in $(since "$t") s"

# The Ultralytics dataset checker, in the training environment, from inside the
# dataset (its data.yaml says path: .).
root=$(pwd)
(cd "$work/dataset" && "$root/.venv-train/bin/python" "$root/lookout/training/worker.py" \
  --config-dir "$root/.venv-train/ultralytics" --result "$root/$work/check.json" \
  check data.yaml)
.venv/bin/python - "$work/check.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert not r["blocked"], f"the dataset check tried the network: {r['blocked']}"
assert r["images"]["train"] > 0 and r["images"]["val"] > 0, r
print(f"train-loop: Ultralytics check_det_dataset: {r['classes']} classes, "
      f"train {r['images']['train']} / val {r['images']['val']} images")
EOF

"$lookout" train --data "$work/dataset/data.yaml" --base yolov8n.yaml --epochs 1 --imgsz 320 \
  --batch 8 --device cpu --out "$work/runs/loop" > "$work/train.log" 2>&1 ||
  { tail -40 "$work/train.log"; exit 1; }
tail -4 "$work/train.log"
manifest="$work/runs/loop/loop.yaml"

config "$work/new-model.yaml" "$manifest"
"$lookout" replay "$video" --config "$work/new-model.yaml" --out "$work/out-new" --no-progress |
  grep -E '^(detections|cases|speed):'

t=$(date +%s.%N)
rc=0
"$lookout" model compare models/yolox_nano.yaml "$manifest" \
  --scenarios scenarios/vtest-parking.yaml scenarios/car-detection-no-parking.yaml || rc=$?
if [ "$rc" -gt 1 ]; then
  echo "train-loop: model compare failed (exit $rc)" >&2
  exit 1
fi
echo "train-loop: compare in $(since "$t") s (exit $rc: $([ "$rc" = 0 ] && echo "B loses nothing" || echo "B loses, as expected after one epoch"))"

images=$(($(wc -l < "$work/dataset/provenance.csv") - 1))
echo "train-loop: dataset: $images image(s), ${dataset_mb} MB: $(sed -n 's/^dataset: *//p' "$work/train.log")"
echo "train-loop: $(sed -n 's/^trained: *//p' "$work/train.log")"
echo "train-loop: ONNX: $(sed -n 's/^model: *//p' "$work/train.log")"
echo "train-loop: all steps in $(since "$t_start") s"
