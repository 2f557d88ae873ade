"""A small time series of camera states in SQLite, so the health page's last 24 hours
survive a restart.

One file of its own, `OUT/console.db` (the outbox, `OUT/cases.db`, is the case
writer's), one row per camera per sample (`daemon.http.console.history_interval_s`,
10 s by default: 8 cameras make ~70,000 rows a day); rows older than `history_days`
are pruned. Counters are stored as increases since the previous sample, so sums over a
window stay right across restarts (a counter that went down was reset: its new value
is the increase). Also the operators' acknowledgements of camera outages.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS camera_samples (
    t REAL NOT NULL,            -- unix time of the sample
    camera_id TEXT NOT NULL,
    state TEXT NOT NULL,        -- reader state (streaming, backoff, ...)
    interval_s REAL NOT NULL,   -- seconds this sample stands for
    reconnects INTEGER NOT NULL,
    dropped INTEGER NOT NULL,
    analysed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS camera_samples_t ON camera_samples (t, camera_id);
CREATE TABLE IF NOT EXISTS quality_incidents (
    t REAL NOT NULL,            -- unix time the incident started (lookout/quality/monitor.py)
    camera_id TEXT NOT NULL,
    preset TEXT NOT NULL,
    issue TEXT NOT NULL         -- frozen, blur, occlusion, drift
);
CREATE INDEX IF NOT EXISTS quality_incidents_t ON quality_incidents (t, camera_id);
CREATE TABLE IF NOT EXISTS camera_acks (
    camera_id TEXT PRIMARY KEY,
    t REAL NOT NULL,            -- unix time of the acknowledgement
    state TEXT NOT NULL,        -- the state acknowledged
    role TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True, slots=True)
class Sample:
    """One camera at one instant: its state and counter increases since the last."""

    camera_id: str
    state: str
    interval_s: float
    reconnects: int
    dropped: int
    analysed: int


@dataclass(frozen=True, slots=True)
class Summary:
    """A camera over a window: seconds observed and streaming, counter sums."""

    camera_id: str
    observed_s: float
    streaming_s: float
    reconnects: int
    dropped: int
    analysed: int

    @property
    def uptime(self) -> float | None:
        """Share of the observed time the camera was streaming (None: not observed)."""
        return self.streaming_s / self.observed_s if self.observed_s > 0 else None


@dataclass(frozen=True, slots=True)
class Ack:
    """An operator's acknowledgement of a camera's state."""

    camera_id: str
    t: float
    state: str
    role: str
    note: str


class HealthHistory:
    """The SQLite store; safe to share between the sampler thread and requests."""

    def __init__(self, conn: sqlite3.Connection, path: Path, keep_days: float) -> None:
        self.conn = conn
        self.path = path
        self.keep_days = keep_days
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path, keep_days: float = 7.0) -> HealthHistory:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.executescript(SCHEMA)
        return cls(conn, path, keep_days)

    def close(self) -> None:
        with self._lock:
            self.conn.close()

    def record(self, samples: list[Sample], t: float | None = None) -> None:
        """Write one sample per camera, in one transaction."""
        if not samples:
            return
        t = time.time() if t is None else t
        rows = [
            (t, s.camera_id, s.state, s.interval_s, s.reconnects, s.dropped, s.analysed)
            for s in samples
        ]
        with self._lock:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO camera_samples VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            self.conn.execute("COMMIT")

    def record_incidents(self, incidents: list[tuple[float, str, str, str]]) -> None:
        """Write video quality incidents as they start: (unix time, camera, preset,
        issue). The period report counts them (lookout/report/figures.py)."""
        if not incidents:
            return
        with self._lock:
            self.conn.execute("BEGIN")
            self.conn.executemany("INSERT INTO quality_incidents VALUES (?, ?, ?, ?)", incidents)
            self.conn.execute("COMMIT")

    def prune(self, now: float | None = None) -> int:
        """Delete samples and incidents older than `keep_days`; returns how many."""
        now = time.time() if now is None else now
        cutoff = now - self.keep_days * 86400
        with self._lock:
            cur = self.conn.execute("DELETE FROM camera_samples WHERE t < ?", (cutoff,))
            self.conn.execute("DELETE FROM quality_incidents WHERE t < ?", (cutoff,))
            return int(cur.rowcount)

    def summaries(self, window_s: float = 86400.0, now: float | None = None) -> dict[str, Summary]:
        """Per camera over the last `window_s`."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self.conn.execute(
                "SELECT camera_id, SUM(interval_s),"
                " SUM(CASE WHEN state = 'streaming' THEN interval_s ELSE 0 END),"
                " SUM(reconnects), SUM(dropped), SUM(analysed)"
                " FROM camera_samples WHERE t > ? AND t <= ? GROUP BY camera_id",
                (now - window_s, now),
            ).fetchall()
        return {
            r[0]: Summary(r[0], float(r[1]), float(r[2]), int(r[3]), int(r[4]), int(r[5]))
            for r in rows
        }

    def timeline(
        self, buckets: int = 96, window_s: float = 86400.0, now: float | None = None
    ) -> dict[str, list[float | None]]:
        """Per camera, the streaming share of each of `buckets` equal slices of the
        window, oldest first (None: not observed in that slice)."""
        now = time.time() if now is None else now
        start = now - window_s
        width = window_s / buckets
        with self._lock:
            rows = self.conn.execute(
                "SELECT camera_id, CAST((t - ?) / ? AS INTEGER) AS b, SUM(interval_s),"
                " SUM(CASE WHEN state = 'streaming' THEN interval_s ELSE 0 END)"
                " FROM camera_samples WHERE t > ? AND t <= ? GROUP BY camera_id, b",
                (start, width, start, now),
            ).fetchall()
        out: dict[str, list[float | None]] = {}
        for cid, b, observed, streaming in rows:
            line = out.setdefault(cid, [None] * buckets)
            if 0 <= b < buckets and observed > 0:
                line[b] = round(streaming / observed, 3)
        return out

    def acknowledge(self, camera_id: str, state: str, role: str, note: str = "") -> Ack:
        ack = Ack(camera_id, time.time(), state, role, note[:200])
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO camera_acks VALUES (?, ?, ?, ?, ?)",
                (ack.camera_id, ack.t, ack.state, ack.role, ack.note),
            )
        return ack

    def acks(self) -> dict[str, Ack]:
        with self._lock:
            rows = self.conn.execute("SELECT camera_id, t, state, role, note FROM camera_acks")
            return {r[0]: Ack(r[0], float(r[1]), r[2], r[3], r[4]) for r in rows.fetchall()}

    def count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM camera_samples").fetchone()[0])
