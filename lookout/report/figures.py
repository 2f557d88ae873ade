"""Camera figures of the period report: uptime and video quality incidents from the
console's history store.

`CameraHistory` is the interface the report reads. `ConsoleHistory` implements it on
`OUT/console.db` (lookout/report/health_store.py): uptime is the streaming share of the
sampled time, `coverage` the sampled share of the period (the daemon was not running,
or the console was off, for the rest). Quality incidents (frozen, blur, occlusion,
drift; lookout/quality/monitor.py) are counted from a `quality_incidents` table of that file —
one row per incident start: `t` (unix time), `camera_id`, `preset`, `issue`, written by
the console's status board (`HealthHistory.record_incidents`); a file without that
table reads as "not recorded" (docs/CASE_STATUS.md, "Report").
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True, slots=True)
class CameraFigures:
    """One camera over the report period."""

    camera_id: str
    observed_s: float
    streaming_s: float
    period_s: float
    reconnects: int
    dropped: int
    incidents: dict[str, int] | None = field(default=None)  # issue → count; None: unknown

    @property
    def uptime(self) -> float | None:
        """Streaming share of the observed time (None: never observed)."""
        return self.streaming_s / self.observed_s if self.observed_s > 0 else None

    @property
    def coverage(self) -> float:
        """Observed share of the period."""
        return min(1.0, self.observed_s / self.period_s) if self.period_s > 0 else 0.0


class CameraHistory(Protocol):
    """What the report needs of a camera history store."""

    def cameras(self, start: datetime, end: datetime) -> list[CameraFigures]:
        """Every camera seen in [start, end), by id."""
        ...

    def quality_recorded(self) -> bool:
        """Whether quality incidents are recorded at all."""
        ...

    def close(self) -> None: ...


class ConsoleHistory:
    """`CameraHistory` on the console's SQLite history (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        from lookout.report.health_store import HealthHistory

        self.path = path
        self.store = HealthHistory.open(path)
        # A read-only connection of our own for what HealthHistory does not offer.
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)

    def quality_recorded(self) -> bool:
        row = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'quality_incidents'"
        ).fetchone()
        return row is not None

    def _incidents(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        rows = self.conn.execute(
            "SELECT camera_id, issue, COUNT(*) FROM quality_incidents"
            " WHERE t >= ? AND t < ? GROUP BY camera_id, issue",
            (start.timestamp(), end.timestamp()),
        ).fetchall()
        out: dict[str, Counter[str]] = defaultdict(Counter)
        for camera_id, issue, n in rows:
            out[str(camera_id)][str(issue)] += int(n)
        return {k: dict(v) for k, v in out.items()}

    def cameras(self, start: datetime, end: datetime) -> list[CameraFigures]:
        period = (end - start).total_seconds()
        sums = self.store.summaries(window_s=period, now=end.timestamp())
        incidents = self._incidents(start, end) if self.quality_recorded() else None
        ids = sorted(set(sums) | set(incidents or {}))
        out = []
        for cid in ids:
            s = sums.get(cid)
            out.append(
                CameraFigures(
                    camera_id=cid,
                    observed_s=s.observed_s if s else 0.0,
                    streaming_s=s.streaming_s if s else 0.0,
                    period_s=period,
                    reconnects=s.reconnects if s else 0,
                    dropped=s.dropped if s else 0,
                    incidents=None if incidents is None else incidents.get(cid, {}),
                )
            )
        return out

    def close(self) -> None:
        self.conn.close()
        self.store.close()


def open_history(path: Path) -> CameraHistory | None:
    """The history store at `path`, or None when there is none (no console ran)."""
    if not path.is_file():
        return None
    try:
        return ConsoleHistory(path)
    except sqlite3.Error:
        return None
