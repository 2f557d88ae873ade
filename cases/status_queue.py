"""The outbox delivery queue's rows: cases and status updates (cases/delivery.py).

Cases wait in `deliveries` (one row per case and sink); status updates — the versions
of operators' verdicts, docs/CASE_STATUS.md — in `status_deliveries`, one row per case,
version and sink, with the same states ('pending' → 'delivered' | 'rejected'), attempts
and retry times:

    status_deliveries(case_id, version, sink, state, attempts, next_attempt_at,
                      last_error, delivered_at)

A status update is due for a sink only after that sink settled the case itself
('delivered' or 'rejected') and every earlier version of it: each sink sees a case,
then v1, v2, ... in order. These functions run inside the worker's short transactions
(or under its lock for reads); none does I/O beyond SQLite. A case the second look
holds (cases/second_look.py) gets its rows like any other but is not due, nor counted
as a backlog, until an operator releases it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from lookout.cases.second_look import IS_HELD
from lookout.cases.status import status_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS status_deliveries (
    case_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'delivered', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    delivered_at REAL,
    PRIMARY KEY (case_id, version, sink)
);
CREATE INDEX IF NOT EXISTS status_deliveries_due
    ON status_deliveries (sink, state, next_attempt_at);
"""

Kind = Literal["case", "status"]


@dataclass(frozen=True, slots=True)
class Item:
    """One row due for one sink: a case (version 0) or a status update."""

    kind: Kind
    case_id: str
    version: int
    body: str
    attempts: int

    @property
    def key(self) -> str:
        """Idempotency key at the sink: the case id, or `<case id>:v<version>`."""
        return self.case_id if self.kind == "case" else status_key(self.case_id, self.version)

    def __str__(self) -> str:
        return f"case {self.case_id}" if self.kind == "case" else f"status {self.key}"


def top_rowids(conn: sqlite3.Connection) -> tuple[int, int]:
    """Highest rowid of `cases` and of `verdicts` (the marks `enqueue` works up to)."""
    row = conn.execute(
        "SELECT (SELECT COALESCE(MAX(rowid), 0) FROM cases),"
        " (SELECT COALESCE(MAX(rowid), 0) FROM verdicts)"
    ).fetchone()
    return int(row[0]), int(row[1])


def enqueue(
    conn: sqlite3.Connection, sinks: Sequence[str], low: tuple[int, int], top: tuple[int, int]
) -> int:
    """'pending' rows for every (case, sink) and (verdict, sink) with a rowid in
    (low, top] and no row yet; returns how many were added."""
    added = 0
    for sink in sinks:
        cur = conn.execute(
            "INSERT OR IGNORE INTO deliveries (case_id, sink, state, attempts,"
            " next_attempt_at) SELECT id, ?, 'pending', 0, 0 FROM cases"
            " WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (sink, low[0], top[0]),
        )
        added += max(cur.rowcount, 0)
        cur = conn.execute(
            "INSERT OR IGNORE INTO status_deliveries (case_id, version, sink, state,"
            " attempts, next_attempt_at) SELECT case_id, version, ?, 'pending', 0, 0"
            " FROM verdicts WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (sink, low[1], top[1]),
        )
        added += max(cur.rowcount, 0)
    return added


def due(conn: sqlite3.Connection, kind: Kind, sink: str, now: float, batch: int) -> list[Item]:
    """Rows of `kind` due for `sink` now, oldest first (status updates in order)."""
    if kind == "case":
        rows = conn.execute(
            "SELECT d.case_id, 0, c.body, d.attempts FROM deliveries d"
            " JOIN cases c ON c.id = d.case_id"
            " WHERE d.sink = ? AND d.state = 'pending' AND d.next_attempt_at <= ?"
            f" AND NOT {IS_HELD}"
            " ORDER BY c.rowid LIMIT ?",
            (sink, now, batch),
        ).fetchall()
    else:
        rows = conn.execute(
            "SELECT s.case_id, s.version, v.body, s.attempts FROM status_deliveries s"
            " JOIN verdicts v ON v.case_id = s.case_id AND v.version = s.version"
            " JOIN deliveries d ON d.case_id = s.case_id AND d.sink = s.sink"
            " WHERE s.sink = ? AND s.state = 'pending' AND s.next_attempt_at <= ?"
            " AND d.state != 'pending'"
            " AND NOT EXISTS (SELECT 1 FROM status_deliveries p WHERE p.case_id = s.case_id"
            "  AND p.sink = s.sink AND p.version < s.version AND p.state = 'pending')"
            " ORDER BY v.rowid LIMIT ?",
            (sink, now, batch),
        ).fetchall()
    return [Item(kind, str(c), int(v), str(b), int(n)) for c, v, b, n in rows]


def update(
    conn: sqlite3.Connection, item: Item, sink: str, assignments: str, args: tuple[object, ...]
) -> None:
    """Set `assignments` on the item's row for `sink` and count the attempt."""
    if item.kind == "case":
        conn.execute(
            f"UPDATE deliveries SET {assignments}, attempts = attempts + 1"
            " WHERE case_id = ? AND sink = ?",
            (*args, item.case_id, sink),
        )
    else:
        conn.execute(
            f"UPDATE status_deliveries SET {assignments}, attempts = attempts + 1"
            " WHERE case_id = ? AND version = ? AND sink = ?",
            (*args, item.case_id, item.version, sink),
        )


def counts(conn: sqlite3.Connection, table: str) -> list[tuple[str, str, int]]:
    """(sink, state, rows) of `deliveries` or `status_deliveries`."""
    if table not in ("deliveries", "status_deliveries"):
        raise ValueError(table)
    # A case the second look holds waits for an operator, not for a sink: no backlog.
    rows = conn.execute(
        f"SELECT d.sink, d.state, COUNT(*) FROM {table} d LEFT JOIN cases c ON c.id = d.case_id"
        f" WHERE d.state != 'pending' OR NOT {IS_HELD} GROUP BY d.sink, d.state"
    )
    return [(str(s), str(st), int(n)) for s, st, n in rows.fetchall()]
