"""Replay throughput next to bare ONNX Runtime, measured in the same run (the headline
of `lookout bench`, alone and repeated).

    .venv/bin/python benchmarks/replay_vs_ort.py [--threads 2] [--batch 8] [--repeat 3]

Alternates bare ORT (same prepared model, input size, batch, threads and session
options, on letterboxed vtest frames) and the full replay of vtest.avi with
configs/demo.yaml, and reports the best of each and their ratio.
"""

from __future__ import annotations

import argparse
import json
import sys

from lookout.bench.live import DetectorPool, Setting, bare_ort, replay_throughput


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    det = DetectorPool().get(Setting(threads=args.threads, batch=args.batch))
    ort_runs, replay_runs = [], []
    for i in range(args.repeat):
        ort_runs.append(bare_ort(det, args.batch, 3.0))
        replay_runs.append(replay_throughput(det, args.batch))
        print(
            f"run {i + 1}: bare ORT {ort_runs[-1]:.1f} images/s, replay "
            f"{replay_runs[-1][0]:.1f} images/s ({replay_runs[-1][1]:.1f}x real time)",
            file=sys.stderr,
        )
    best_ort = max(ort_runs)
    best_replay, speed = max(replay_runs)
    print(
        json.dumps(
            {
                "threads": args.threads,
                "batch": args.batch,
                "bare_ort_images_per_s": round(best_ort, 2),
                "pipeline_images_per_s": round(best_replay, 2),
                "ratio": round(best_replay / best_ort, 3),
                "speed_x_realtime": round(speed, 1),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
