"""A box asked for more cameras than it sustains, with the shipped defaults
(`stream.reader_nice`, `stream.queue_policy`; benchmarks/overload.py): what it still
analyses, stated as a ratio and two bounds (benchmarks/README.md, "Overload").

    rate   = analysed frames/s ÷ the sustained count (target >= 0.9: asked for more, the
             box keeps analysing what it holds instead of losing it to wasted decoding)
    wait   = the slowest camera's longest wait between two analysed pictures
    oldest = the oldest picture analysed, from when it was due to its result

Over repeated runs the rate is their median, the wait and the age their maximum: the
bounds hold for every run measured.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lookout.bench.live import Result, Setting
from lookout.streams.settings import StreamConfig


def defaults_setting(cameras: int) -> Setting:
    """The scale search's whole-mode setting (input 320, deblocking skipped) with the
    shipped stream defaults."""
    d = StreamConfig()
    return Setting(
        cameras=cameras,
        input_size=320,
        skip_loop_filter=True,
        reader_nice=d.reader_nice,
        queue_policy=d.queue_policy,
    )


def cameras_at(sustained: int, multiple: float) -> int:
    """Cameras asked for at `multiple` times the sustained count (at least one more)."""
    return max(sustained + 1, round(sustained * multiple)) if multiple > 1 else sustained


@dataclass(frozen=True, slots=True)
class OverloadPoint:
    """Repeated runs of one multiple of the sustained count."""

    sustained: int
    multiple: float
    cameras: int
    rates: tuple[float, ...]  # analysed frames/s ÷ sustained, per run
    waits_s: tuple[float, ...]  # slowest camera's longest wait, per run
    oldest_s: tuple[float, ...]  # oldest picture analysed, per run

    @classmethod
    def of(cls, sustained: int, multiple: float, results: Sequence[Result]) -> OverloadPoint:
        if sustained <= 0 or not results:
            raise ValueError("an overload point needs a sustained count and runs")
        return cls(
            sustained=sustained,
            multiple=multiple,
            cameras=results[0].setting.cameras,
            rates=tuple(r.analysed_per_s / sustained for r in results),
            waits_s=tuple(r.max_interval_s for r in results),
            oldest_s=tuple(r.latency_max_s for r in results),
        )

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def wait_bound_s(self) -> float:
        return max(self.waits_s)

    @property
    def oldest_bound_s(self) -> float:
        return max(self.oldest_s)

    def row(self) -> dict[str, Any]:
        return {
            "sustained": self.sustained,
            "multiple": self.multiple,
            "cameras": self.cameras,
            "analysed_per_sustained": round(self.rate, 3),
            "analysed_per_sustained_runs": [round(r, 3) for r in self.rates],
            "slowest_camera_wait_s_max": round(self.wait_bound_s, 2),
            "oldest_picture_s_max": round(self.oldest_bound_s, 2),
        }

    def line(self) -> str:
        runs = ", ".join(f"{r:.2f}" for r in self.rates)
        return (
            f"{self.cameras} cameras ({self.multiple}x {self.sustained}): analysed/s ÷ "
            f"sustained {self.rate:.2f} (median of {runs}); every camera had an analysed "
            f"picture at least every {self.wait_bound_s:.1f} s; no picture analysed was "
            f"older than {self.oldest_bound_s:.1f} s"
        )
