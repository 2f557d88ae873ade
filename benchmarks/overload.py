"""A box asked for more cameras than it holds: what `stream.reader_nice` and
`stream.queue_policy` change.

Runs N whole-mode 1080p25 cameras (keyframes, input 320, batch 8, 2 ORT threads,
deblocking skipped: the scale search's setting, benchmarks/README.md) through the
daemon's own path, alternating the variants given (`nice:policy`), `--repeat` times
each, and prints analysed frames/s, dropped frames, latency and CPU per run. Pick N
above the `cameras_sustained` of `lookout bench` on the machine (72 on 2 cores
holding about 56).

    .venv/bin/python benchmarks/overload.py --cameras 72 --repeat 3 \\
        --variants 0:drop_oldest,10:drop_oldest,10:drop_newest

With `--sustained N --multiples 1.25,1.5` it runs the shipped defaults
(`stream.reader_nice`, `stream.queue_policy`) at those multiples of the N cameras the
box sustains (`cameras_sustained` of `lookout bench`, same settings) and prints the
analysed frames/s ÷ N (target >= 0.9: the box keeps its rate when asked for more), the
slowest camera's longest wait between two analysed pictures, and the oldest picture
analysed (capture to result).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import cast

from lookout.base.memory import prepare_process
from lookout.bench.live import DetectorPool, Setting, run_live
from lookout.clips.media import make_1080p25
from lookout.streams.frame_queue import DropPolicy
from lookout.streams.settings import StreamConfig


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=72)
    p.add_argument(
        "--variants",
        default="0:drop_oldest,10:drop_oldest,10:drop_newest",
        help="reader_nice:queue_policy pairs to alternate.",
    )
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per run.")
    p.add_argument("--sustained", type=int, help="Cameras the box sustains (defaults mode).")
    p.add_argument("--multiples", default="1.25,1.5", help="Multiples of --sustained to run.")
    args = p.parse_args()
    prepare_process()  # as the CLI does (lookout/base/memory.py)
    clip = make_1080p25(seconds=20.0)
    pool = DetectorPool()
    if args.sustained:
        return defaults_mode(args.sustained, args.multiples, args.repeat, args.seconds, clip, pool)
    variants = []
    for v in args.variants.split(","):
        nice, policy = v.split(":")
        variants.append((int(nice), cast(DropPolicy, policy)))
    runs: dict[tuple[int, str], list[float]] = {v: [] for v in variants}
    print("| reader_nice | queue_policy | analysed/s | dropped | p50 s | p99 s | CPU cores |")
    print("|---|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        for nice, policy in variants:
            s = Setting(
                cameras=args.cameras,
                input_size=320,
                skip_loop_filter=True,
                reader_nice=nice,
                queue_policy=policy,
            )
            r = run_live(s, clip, pool.get(s), seconds=args.seconds)
            runs[(nice, policy)].append(r.analysed_per_s)
            print(
                f"| {nice} | {policy} | {r.analysed_per_s:.1f} | {r.dropped} "
                f"| {r.latency_p50_s:.2f} | {r.latency_p99_s:.2f} | {r.cpu_cores:.2f} |",
                flush=True,
            )
    for (nice, policy), values in runs.items():
        print(
            f"reader_nice {nice}, {policy}: analysed/s median {statistics.median(values):.1f} "
            f"(min {min(values):.1f}, max {max(values):.1f}) of {args.cameras} asked"
        )
    return 0


def defaults_mode(
    sustained: int, multiples: str, repeat: int, seconds: float, clip: Path, pool: DetectorPool
) -> int:
    """The shipped defaults at multiples of the sustained count (module docstring)."""
    d = StreamConfig()
    print(f"defaults: reader_nice {d.reader_nice}, queue_policy {d.queue_policy}")
    print("| cameras | analysed/s | ÷ sustained | slowest camera's wait s | oldest picture s |")
    print("|---|---|---|---|---|")
    for _ in range(repeat):
        for m in (float(x) for x in multiples.split(",")):
            n = round(sustained * m)
            s = Setting(
                cameras=n,
                input_size=320,
                skip_loop_filter=True,
                reader_nice=d.reader_nice,
                queue_policy=d.queue_policy,
            )
            r = run_live(s, clip, pool.get(s), seconds=seconds)
            print(
                f"| {n} ({m}x) | {r.analysed_per_s:.1f} | {r.analysed_per_s / sustained:.2f} "
                f"| {r.max_interval_s:.2f} | {r.latency_max_s:.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
