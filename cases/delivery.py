"""Delivery of outbox cases and their status updates to remote sinks (Redis Streams,
HTTP webhook).

Every case is first committed to the local SQLite outbox (`cases.sinks.SqliteOutbox`).
A `DeliveryWorker` then hands each case to every configured `RemoteSink`, retrying
with exponential backoff and jitter, and records the state per (case, sink) in a
`deliveries` table of the same database file:

    deliveries(case_id, sink, state, attempts, next_attempt_at, last_error, delivered_at)
    state: 'pending' → 'delivered' (2xx / stream entry) | 'rejected' (PermanentError)

Operators' verdicts (outbox `verdicts`) go the same way as status updates, one row per
(case, version, sink) in `status_deliveries` (cases/status_queue.py), each version
after the case and the versions before it (docs/CASE_STATUS.md).

Guarantees:
- A sink that is down never blocks detection: detection only writes the outbox; each
  sink has its own thread, and no SQLite transaction spans a network call.
- Nothing is lost: a row stays 'pending' until the sink confirms; a restarted box
  resumes every pending row, and `enqueue_new()` picks up cases written while no
  worker ran (and every old case for a newly configured sink).
- Exactly once as seen by the case system: delivery is at-least-once here, made
  idempotent at the sink by the case id, or `<case id>:v<version>` for a status
  update (Redis: an atomic SET NX guard; webhook: the `Idempotency-Key` header).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from lookout.base.backoff import Backoff, BackoffConfig
from lookout.base.errors import SinkError
from lookout.base.redact import redact
from lookout.cases import status_queue
from lookout.cases.status_queue import Item

log = logging.getLogger(__name__)

STATES = ("pending", "delivered", "rejected")

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS deliveries (
    case_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at REAL,
    PRIMARY KEY (case_id, sink)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (sink, state, next_attempt_at);
"""
    + status_queue.SCHEMA
)


class TransientError(SinkError):
    """The sink cannot take the case now (connection refused, timeout, 5xx, Redis
    down): retry later."""


class PermanentError(SinkError):
    """The sink refused this case for good (4xx): never retry; state 'rejected'."""


class RemoteSink(Protocol):
    """A remote destination of cases; `deliver` must be idempotent by `case_id`,
    `deliver_status` by `key` (docs/CASE_STATUS.md)."""

    name: str

    def deliver(self, case_json: str, case_id: str) -> None:
        """Deliver one case; raise TransientError or PermanentError on failure."""
        ...

    def deliver_status(self, update_json: str, key: str) -> None:
        """Deliver one status update (`key` = `<case id>:v<version>`); same errors."""
        ...

    def close(self) -> None: ...


def one_line(text: str, limit: int = 300) -> str:
    """An error message fit for `last_error` and logs: one line, no URL credentials."""
    flat = " ".join(redact(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dataclass
class _Lane:
    """Per-sink state: its thread, wake-up event and sink-wide backoff."""

    sink: RemoteSink
    backoff: Backoff
    wake: threading.Event = field(default_factory=threading.Event)
    paused_until: float = 0.0
    failures: int = 0
    thread: threading.Thread | None = None


class DeliveryWorker:
    """Delivers pending outbox rows to each sink, oldest first, one thread per sink.

    `run_once()` does one synchronous pass (tests, tools); `start()` runs it in the
    background until `stop()`. `clock` gives wall time in seconds (epoch) for
    `next_attempt_at` / `delivered_at`.
    """

    def __init__(
        self,
        outbox_path: Path,
        sinks: Sequence[RemoteSink],
        *,
        backoff: BackoffConfig | None = None,
        poll_s: float = 0.5,
        batch: int = 50,
        clock: Callable[[], float] = time.time,
        rescan_s: float = 300.0,
        rng: Callable[[], float] = random.random,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique, got {names}")
        self.outbox_path = outbox_path
        self.backoff = backoff or BackoffConfig()
        self.poll_s = poll_s
        self.batch = batch
        self.clock = clock
        self.rescan_s = rescan_s
        self._rng = rng
        self._lanes = [_Lane(s, Backoff(self.backoff, rng)) for s in sinks]
        self._stop = threading.Event()
        self._db = threading.Lock()
        self._hwm: tuple[int, int] | None = None  # highest (cases, verdicts) rowids enqueued
        self._last_full = 0.0
        self.conn = self._connect(outbox_path)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                str(path), check_same_thread=False, timeout=10, isolation_level=None
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            # The outbox tables (also for a worker started before anything wrote, or on
            # an outbox of an earlier version), then the delivery queues.
            from lookout.cases.sinks import ensure_outbox_schema

            ensure_outbox_schema(conn)
            conn.executescript(SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise SinkError(f"{path}: cannot open the outbox for delivery ({exc})") from None
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, under the connection lock; never spans I/O."""
        with self._db:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    # -- queue -------------------------------------------------------------------------

    def enqueue_new(self) -> int:
        """Add a 'pending' row for every (case, sink) and (status version, sink) without
        one; return how many.

        Incremental by `cases.rowid` and `verdicts.rowid` after the first call, with a
        full rescan every `rescan_s` seconds (covers rowids reused after deletions)."""
        now = time.monotonic()
        with self._tx() as conn:
            full = self._hwm is None or now - self._last_full >= self.rescan_s
            top = status_queue.top_rowids(conn)
            low = (0, 0) if full or self._hwm is None else self._hwm
            added = status_queue.enqueue(conn, [ln.sink.name for ln in self._lanes], low, top)
        self._hwm = top  # after COMMIT: a failed transaction is retried from the old mark
        if full:
            self._last_full = now
        return added

    def retry_rejected(self, sink: str | None = None) -> int:
        """Put 'rejected' rows (cases and status updates) back to 'pending' (after
        fixing a sink's configuration)."""
        n = 0
        with self._tx() as conn:
            for table in ("deliveries", "status_deliveries"):
                sql = (
                    f"UPDATE {table} SET state = 'pending', next_attempt_at = 0"
                    " WHERE state = 'rejected'"
                )
                args: tuple[str, ...] = ()
                if sink is not None:
                    sql += " AND sink = ?"
                    args = (sink,)
                n += conn.execute(sql, args).rowcount
        return n

    def stats(self) -> dict[str, dict[str, int]]:
        """Case rows per configured sink and state, e.g. {"redis": {"pending": 3, ...}}."""
        return self._counts("deliveries")

    def status_stats(self) -> dict[str, dict[str, int]]:
        """Status-update rows per configured sink and state (docs/CASE_STATUS.md)."""
        return self._counts("status_deliveries")

    def _counts(self, table: str) -> dict[str, dict[str, int]]:
        out = {lane.sink.name: dict.fromkeys(STATES, 0) for lane in self._lanes}
        with self._db:
            rows = status_queue.counts(self.conn, table)
        for sink, state, n in rows:
            if sink in out:
                out[sink][state] = n
        return out

    # -- delivery ----------------------------------------------------------------------

    def run_once(self) -> int:
        """Enqueue new cases and status updates, then one pass over every sink; return
        how many rows left 'pending' (delivered or rejected)."""
        self.enqueue_new()
        return sum(self._deliver(lane) for lane in self._lanes)

    def _due(self, kind: status_queue.Kind, sink: str, now: float) -> list[Item]:
        with self._db:
            return status_queue.due(self.conn, kind, sink, now, self.batch)

    def _deliver(self, lane: _Lane) -> int:
        """Deliver due rows of one sink, cases first, then the status updates that are
        due (possibly of cases just delivered), oldest first; stop at its first
        transient failure (the sink is down: pause it with backoff, other sinks go on)."""
        settled = 0
        for kind in ("case", "status"):
            if self.clock() < lane.paused_until:
                break
            done, broke = self._deliver_items(lane, self._due(kind, lane.sink.name, self.clock()))
            settled += done
            if broke:
                break
        return settled

    def _deliver_items(self, lane: _Lane, items: list[Item]) -> tuple[int, bool]:
        """(rows settled, whether a failure stopped the pass)."""
        name = lane.sink.name
        settled = 0
        for item in items:
            if self._stop.is_set():
                return settled, True
            try:
                if item.kind == "case":
                    lane.sink.deliver(item.body, item.case_id)
                else:
                    lane.sink.deliver_status(item.body, item.key)
            except PermanentError as exc:
                msg = one_line(str(exc))
                log.warning("sink %s rejected %s: %s", name, item, msg)
                self._set(item, name, "state = 'rejected', last_error = ?", (msg,))
                settled += 1
                continue
            except Exception as exc:
                msg = one_line(str(exc) if isinstance(exc, TransientError) else repr(exc))
                self._retry_later(lane, item, msg)
                if not isinstance(exc, TransientError):
                    log.error("sink %s failed unexpectedly on %s: %s", name, item, msg)
                return settled, True
            self._set(
                item,
                name,
                "state = 'delivered', last_error = NULL, delivered_at = ?",
                (self.clock(),),
            )
            settled += 1
            if lane.failures:
                log.info("sink %s is back after %d failed attempts", name, lane.failures)
            lane.failures = 0
            lane.backoff.reset()
        return settled, False

    def _retry_later(self, lane: _Lane, item: Item, msg: str) -> None:
        now = self.clock()
        row = Backoff(self.backoff, self._rng)
        row.failures = item.attempts
        self._set(
            item,
            lane.sink.name,
            "next_attempt_at = ?, last_error = ?",
            (now + row.next_delay(), msg),
        )
        lane.paused_until = now + lane.backoff.next_delay()
        lane.failures += 1
        if lane.failures == 1:
            log.warning("sink %s unavailable, retrying with backoff: %s", lane.sink.name, msg)

    def _set(self, item: Item, sink: str, assignments: str, args: tuple[object, ...]) -> None:
        with self._tx() as conn:
            status_queue.update(conn, item, sink, assignments, args)

    # -- thread ------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every sink thread now (call after committing a new case or verdict)."""
        for lane in self._lanes:
            lane.wake.set()

    def start(self) -> None:
        """Start one delivery thread per sink."""
        self._stop.clear()
        self.enqueue_new()
        for lane in self._lanes:
            lane.thread = threading.Thread(
                target=self._loop, args=(lane,), name=f"delivery-{lane.sink.name}", daemon=True
            )
            lane.thread.start()

    def _loop(self, lane: _Lane) -> None:
        while not self._stop.is_set():
            lane.wake.clear()
            full = False
            try:
                self.enqueue_new()
                full = self._deliver(lane) >= self.batch
            except sqlite3.Error as exc:  # disk full, locked too long: keep the thread
                log.error("delivery to %s: outbox error: %s", lane.sink.name, exc)
            if not full:
                wait = self.poll_s
                left = lane.paused_until - self.clock()
                if left > 0:
                    wait = min(wait, left)
                lane.wake.wait(max(wait, 0.01))

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the threads; True when all ended within `timeout` seconds."""
        self._stop.set()
        self.notify()
        end = time.monotonic() + timeout
        ok = True
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, end - time.monotonic()))
                ok = ok and not lane.thread.is_alive()
        return ok

    def close(self, timeout: float = 10.0) -> bool:
        """Stop, then close every sink and the database connection."""
        ok = self.stop(timeout)
        for lane in self._lanes:
            try:
                lane.sink.close()
            except Exception as exc:
                log.warning("closing sink %s: %s", lane.sink.name, one_line(str(exc)))
        with self._db:
            self.conn.close()
        return ok
