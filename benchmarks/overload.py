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
box sustains (`cameras_sustained` of `lookout bench`, same settings; or
`--find-sustained 48,56,64` searches it first the same way) and prints, per multiple
over the repeats (lookout/bench/overload.py): the analysed frames/s ÷ N (median; target
>= 0.9: the box keeps its rate when asked for more), the slowest camera's longest wait
between two analysed pictures and the oldest picture analysed, from when it was due to
its result (both the maximum over the runs: bounds).

    .venv/bin/python benchmarks/overload.py --sustained 64 --multiples 1.25,1.5 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from typing import cast

from lookout.base.memory import prepare_process
from lookout.bench.live import DetectorPool, Result, Setting, run_live
from lookout.bench.overload import OverloadPoint, cameras_at, defaults_setting
from lookout.bench.run import scale_search
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
    p.add_argument(
        "--find-sustained",
        help="Camera counts to search for the sustained count first (as `lookout bench` "
        "does, e.g. 48,56,64), then the multiples (defaults mode).",
    )
    p.add_argument("--step", type=int, default=2, help="Bisection step of --find-sustained.")
    p.add_argument("--multiples", default="1.25,1.5", help="Multiples of --sustained to run.")
    p.add_argument("--json", type=Path, help="Write the defaults mode's summary here.")
    args = p.parse_args()
    prepare_process()  # as the CLI does (lookout/base/memory.py)
    clip = make_1080p25(seconds=20.0)
    pool = DetectorPool()
    if args.sustained:
        return defaults_mode(args.sustained, args, clip, pool)
    if args.find_sustained:
        return defaults_mode(None, args, clip, pool)
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
    sustained: int | None,
    args: argparse.Namespace,
    clip: Path,
    pool: DetectorPool,
) -> int:
    """The shipped defaults at multiples of the sustained count (module docstring), the
    multiples alternating within each repeat."""
    d = StreamConfig()
    print(f"defaults: reader_nice {d.reader_nice}, queue_policy {d.queue_policy}")
    if sustained is None:  # measured first, as `lookout bench` searches it
        counts = [int(c) for c in args.find_sustained.split(",")]
        sustained, _ = scale_search(
            lambda n: run_live(
                defaults_setting(n), clip, pool.get(defaults_setting(n)), seconds=args.seconds
            ),
            counts,
            args.step,
        )
        print(f"sustained: {sustained} cameras (searched {counts}, step {args.step})")
        if not sustained:
            return 1
    multiples = [float(x) for x in args.multiples.split(",")]
    results: dict[float, list[Result]] = {m: [] for m in multiples}
    print(
        "| cameras | analysed/s | ÷ sustained | dropped | slowest camera's wait s "
        "| oldest picture s | CPU cores |"
    )
    print("|---|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        for m in multiples:
            s = defaults_setting(cameras_at(sustained, m))
            r = run_live(s, clip, pool.get(s), seconds=args.seconds)
            results[m].append(r)
            print(
                f"| {s.cameras} ({m}x) | {r.analysed_per_s:.1f} "
                f"| {r.analysed_per_s / sustained:.2f} | {r.dropped} | {r.max_interval_s:.2f} "
                f"| {r.latency_max_s:.2f} | {r.cpu_cores:.2f} |",
                flush=True,
            )
    points = [OverloadPoint.of(sustained, m, rs) for m, rs in results.items()]
    for p in points:
        print(p.line())
    if args.json:
        args.json.write_text(json.dumps([p.row() for p in points], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
