"""A box asked for more cameras than it holds: what `stream.reader_nice` changes.

Runs N whole-mode 1080p25 cameras (keyframes, input 320, batch 8, 2 ORT threads,
deblocking skipped: the scale search's setting, benchmarks/README.md) through the
daemon's own path, alternating the reader nice values given, `--repeat` times each,
and prints analysed frames/s, dropped frames, latency and CPU per run. Pick N above
the `cameras_sustained` of `lookout bench` on the machine (72 on 2 cores holding
about 56).

    .venv/bin/python benchmarks/overload.py --cameras 72 --nice 0,10 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics

from lookout.base.memory import prepare_process
from lookout.bench import DetectorPool, Setting, run_live
from lookout.media import make_1080p25


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cameras", type=int, default=72)
    p.add_argument("--nice", default="0,10", help="reader_nice values to alternate.")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per run.")
    args = p.parse_args()
    prepare_process()  # as the CLI does (lookout/base/memory.py)
    clip = make_1080p25(seconds=20.0)
    pool = DetectorPool()
    nices = [int(v) for v in args.nice.split(",")]
    runs: dict[int, list[float]] = {n: [] for n in nices}
    print("| reader_nice | analysed/s | dropped | p50 s | p99 s | CPU cores |")
    print("|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        for nice in nices:
            s = Setting(
                cameras=args.cameras,
                input_size=320,
                skip_loop_filter=True,
                reader_nice=nice,
            )
            r = run_live(s, clip, pool.get(s), seconds=args.seconds)
            runs[nice].append(r.analysed_per_s)
            print(
                f"| {nice} | {r.analysed_per_s:.1f} | {r.dropped} | {r.latency_p50_s:.2f} "
                f"| {r.latency_p99_s:.2f} | {r.cpu_cores:.2f} |",
                flush=True,
            )
    for nice, values in runs.items():
        print(
            f"reader_nice {nice}: analysed/s median {statistics.median(values):.1f} "
            f"(min {min(values):.1f}, max {max(values):.1f}) of {args.cameras} asked"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
