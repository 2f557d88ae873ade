"""`lookout bench`: the benchmark runner (also `benchmarks/run.py`): the headline replays
against bare ONNX Runtime, the sweep, the scale searches in both detect modes against
their floors, memory per camera; reports in `--out` (lookout/bench/run.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/bench"), help="Report folder.")
    p.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per point.")
    p.add_argument(
        "--clip-seconds", type=float, default=20.0, help="Length of the 1080p camera clips."
    )
    p.add_argument("--base-cameras", type=int, default=16, help="Cameras in the sweep.")
    p.add_argument("--batches", default="1,4,8", help="Batch sizes to sweep.")
    p.add_argument("--inputs", default="320,416", help="Input sizes to sweep.")
    p.add_argument("--threads", default="1,2", help="ORT intra-op threads to sweep.")
    p.add_argument(
        "--scale",
        default="16,24,32,40,48,56",
        help="Camera counts for the whole-mode scale search (up to the first failure, "
        "then bisected, see --scale-step).",
    )
    p.add_argument("--scale-input", type=int, default=320, help="Input size for the scale search.")
    p.add_argument(
        "--regions-scale",
        default="8,12,16,20,24,28,32",
        help="Camera counts for the regions-mode scale search (far-view cameras).",
    )
    p.add_argument(
        "--regions-input", type=int, default=416, help="Input size in regions mode (crops)."
    )
    p.add_argument(
        "--regions-threads",
        type=int,
        default=1,
        help="ORT intra-op threads of the saturated far-view replay (1 on 2 cores: the "
        "other core decodes).",
    )
    p.add_argument(
        "--replay-seconds", type=float, default=20.0, help="Length of the far-view replay clip."
    )
    p.add_argument(
        "--replay-repeat",
        type=int,
        default=2,
        help="Far-view replay and its bare ORT: best of this many alternating runs.",
    )
    p.add_argument(
        "--scale-step",
        type=int,
        default=1,
        help="Bisect between the last sustained and the first failed count down to this "
        "many cameras (0: no bisection; 2 cameras of about 28 in regions mode are 7%% of "
        "the ratio to the floor).",
    )
    p.add_argument(
        "--scale-motion",
        action="store_true",
        help="Motion gating on in the scale search (reported separately).",
    )
    p.add_argument(
        "--scale-deblock",
        action="store_true",
        help="Keep H.264 deblocking in the scale search (default: skipped, ~15%% less decode).",
    )
    p.add_argument(
        "--reader-nice",
        type=int,
        default=10,
        help="stream.reader_nice of the scale searches' cameras (0: readers at the "
        "detector's priority).",
    )
    p.add_argument("--no-sweep", action="store_true", help="Only the headline and scale.")
    p.add_argument(
        "--memory",
        default="8,16,24,32",
        help="Camera counts of the memory-per-camera slope, each in its own process "
        "(lookout/bench/memory.py); empty: skip it.",
    )
    p.add_argument(
        "--update-readme",
        action="store_true",
        help="Rewrite the results table in benchmarks/README.md.",
    )


def run(args: argparse.Namespace) -> int:
    from lookout.bench.run import run_bench

    report = run_bench(args)
    keys = ("pipeline_images_per_s", "bare_ort_images_per_s", "ratio", "cameras_sustained")
    for key in keys:
        print(f"{key}: {report[key]}")
    print(f"reports: {args.out}/bench.json, bench.csv, bench.png")
    return 0
