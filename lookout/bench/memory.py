"""Memory per camera (part of `lookout bench`, `--memory COUNTS`; alone:
`python -m lookout.bench.memory [--counts 8,16,24,32]`): the slope of resident memory
against the number of 1080p cameras.

Each count runs in a fresh process (a process that ran more cameras before keeps their
pages in its allocator), through the daemon's own path (`lookout.bench.live.run_live`:
the live readers in keyframes mode with the shipped `stream` settings, handing over
pictures as `picture_of` wraps them (the decoder's planes, streams/picture.py), their
queues, the micro-batcher, analysers, cases).
After a warm-up, RSS is sampled every 0.25 s; a count's figure is the median. The
least-squares slope over the counts is the memory one more camera costs; the intercept
is the process with its model and no camera (docs/ARCHITECTURE.md, "Memory").
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lookout.base.memory import prepare_process

#: Camera counts measured by default (the issue's 8 to 32).
COUNTS = (8, 16, 24, 32)


@dataclass(frozen=True, slots=True)
class MemoryPoint:
    cameras: int
    rss_mb: float  # median over the measured seconds
    peak_rss_mb: float
    analysed_per_s: float
    dropped: int


@dataclass(frozen=True, slots=True)
class MemorySlope:
    points: tuple[MemoryPoint, ...]
    mb_per_camera: float
    intercept_mb: float
    r2: float

    def row(self) -> dict[str, Any]:
        return {
            "points": [asdict(p) for p in self.points],
            "mb_per_camera": round(self.mb_per_camera, 2),
            "intercept_mb": round(self.intercept_mb, 1),
            "r2": round(self.r2, 3),
        }


def fit(points: list[MemoryPoint]) -> MemorySlope:
    x = np.array([p.cameras for p in points], dtype=np.float64)
    y = np.array([p.rss_mb for p in points], dtype=np.float64)
    slope, intercept = np.polyfit(x, y, 1)
    pred = slope * x + intercept
    ss = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else 1.0
    return MemorySlope(tuple(points), float(slope), float(intercept), r2)


def measure_one(cameras: int, seconds: float, clip: Path) -> MemoryPoint:
    """In this process: `cameras` 1080p cameras for `seconds` after a warm-up."""
    from lookout.bench.live import DetectorPool, Setting, run_live
    from lookout.streams.settings import StreamConfig

    d = StreamConfig()  # the shipped reader settings: what a camera's reader queues
    s = Setting(
        cameras=cameras,
        decode="keyframes",
        reader_nice=d.reader_nice,
        queue_policy=d.queue_policy,
    )
    detector = DetectorPool().get(s)
    r = run_live(s, clip, detector, seconds=seconds, warmup_s=6.0)
    return MemoryPoint(
        cameras,
        round(statistics.median(r.rss_samples_mb), 1),
        round(r.peak_rss_mb, 1),
        round(r.analysed_per_s, 2),
        r.dropped,
    )


def measure(counts: tuple[int, ...] = COUNTS, seconds: float = 20.0) -> MemorySlope:
    """Each count in its own process; the slope over them."""
    from lookout.clips.media import make_1080p25

    clip = make_1080p25(seconds=20.0)
    points = []
    for n in counts:
        cmd = [sys.executable, "-m", "lookout.bench.memory", "--one", str(n)]
        cmd += ["--seconds", str(seconds), "--clip", str(clip)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"memory run with {n} cameras failed: {out.stderr[-500:]}")
        points.append(MemoryPoint(**json.loads(out.stdout.strip().splitlines()[-1])))
    return fit(points)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--one", type=int, help="Measure this many cameras in this process.")
    p.add_argument("--counts", default=",".join(map(str, COUNTS)))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--clip", type=Path)
    args = p.parse_args(argv)
    if args.one is not None:
        prepare_process()  # as `lookout run` does (lookout/cli/main.py)
        from lookout.clips.media import make_1080p25

        clip = args.clip or make_1080p25(seconds=20.0)
        print(json.dumps(asdict(measure_one(args.one, args.seconds, clip))))
        return 0
    counts = tuple(int(c) for c in args.counts.split(","))
    print(json.dumps(measure(counts, args.seconds).row(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
