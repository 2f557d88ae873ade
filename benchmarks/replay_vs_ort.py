"""Replay throughput next to bare ONNX Runtime, measured in the same run.

    .venv/bin/python benchmarks/replay_vs_ort.py [--config configs/demo.yaml]
        [--video PATH] [--repeat 3] [--json out/bench/replay_vs_ort.json]

Bare ONNX Runtime runs the same prepared model, input size, batch size, threads and
session options as the pipeline, on real letterboxed frames of the same video. The
pipeline number is the whole replay (decode, convert, preprocess, inference,
postprocess, tracking, zones, cases) in analysed frames per second. Runs alternate so
that machine noise hits both alike; the best of `--repeat` runs is reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from detector.preprocess import letterbox_batch
from lookout.assets import REPO_ROOT, assets_dir
from lookout.config import load_config
from lookout.pipeline import ReplayPipeline, build_detector
from streams.file_reader import FileReader


def bare_ort_images_per_s(config: Path, video: Path, seconds: float = 4.0) -> dict[str, float]:
    cfg = load_config(config)
    det = build_detector(cfg, str(config))
    m = det.manifest
    batch = cfg.model.batch_size
    reader = FileReader(video, "bench", analysis_fps=1.0, start_time=datetime.now(UTC))
    frames = [f.image for _, f in zip(range(batch), reader, strict=False)]
    buf = np.empty((batch, 3, m.input_height, m.input_width), dtype=np.float32)
    letterbox_batch(
        frames,
        buf,
        placement=m.letterbox,
        color_order=m.color_order,
        scale=m.scale,
        pad_value=m.pad_value,
    )
    for _ in range(3):
        det.infer_raw(buf)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        det.infer_raw(buf)
        n += batch
    return {"images_per_s": n / (time.perf_counter() - t0), "batch": batch}


def replay_once(config: Path, video: Path) -> dict[str, float]:
    cfg = load_config(config)
    with tempfile.TemporaryDirectory() as out:
        pipe = ReplayPipeline.from_config(
            cfg, cfg.cameras[0].id, Path(out), config_source=str(config)
        )
        stats = pipe.run(pipe.open_reader(video))
    return {
        "analysed_fps": stats.analysed_fps,
        "speed_x_realtime": stats.speed_x_realtime,
        "frames_analysed": stats.frames_analysed,
        "cases": len(stats.cases),
        "elapsed_s": stats.elapsed_s,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, default=REPO_ROOT / "configs" / "demo.yaml")
    p.add_argument("--video", type=Path, default=None)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", type=Path, default=REPO_ROOT / "out" / "bench" / "replay_vs_ort.json")
    args = p.parse_args(argv)
    video = args.video or assets_dir() / "footage" / "vtest.avi"
    ort_runs, replay_runs = [], []
    for i in range(args.repeat):
        ort_runs.append(bare_ort_images_per_s(args.config, video))
        replay_runs.append(replay_once(args.config, video))
        print(
            f"run {i + 1}: bare ORT {ort_runs[-1]['images_per_s']:.1f} img/s, "
            f"pipeline {replay_runs[-1]['analysed_fps']:.1f} frames/s, "
            f"{replay_runs[-1]['speed_x_realtime']:.1f}x real time",
            file=sys.stderr,
        )
    best_ort = max(r["images_per_s"] for r in ort_runs)
    best = max(replay_runs, key=lambda r: r["analysed_fps"])
    result = {
        "video": str(video),
        "config": str(args.config),
        "batch": ort_runs[0]["batch"],
        "bare_ort_images_per_s": round(best_ort, 2),
        "pipeline_images_per_s": round(best["analysed_fps"], 2),
        "ratio": round(best["analysed_fps"] / best_ort, 3),
        "speed_x_realtime": round(best["speed_x_realtime"], 2),
        "cases": best["cases"],
        "runs": {"bare_ort": ort_runs, "replay": replay_runs},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
