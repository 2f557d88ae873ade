"""Case sinks: the embedded SQLite outbox (default) and a JSONL file.

Both are idempotent by case id: writing a case twice, or replaying a file twice into
the same output folder, adds nothing. Each sink registers in `SINKS` with its config
class; `open_sink` builds one from its config. The outbox also keeps the operators'
verdicts and the false alarms' later sightings (docs/CASE_STATUS.md, "Storage").
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from lookout.base.errors import SinkError
from lookout.cases import second_look
from lookout.cases.model import DraftCase
from lookout.cases.second_look import Look
from lookout.cases.settings import JsonlSinkConfig, SqliteSinkConfig


class CaseSink(Protocol):
    """Where draft cases go."""

    name: str

    def write(self, case: DraftCase) -> bool:
        """Store a case; return False when a case with that id was already there."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS cases (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    camera_id TEXT NOT NULL,
    zone_id TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS cases_confirmed ON cases (confirmed_at);
CREATE TABLE IF NOT EXISTS verdicts (
    case_id TEXT NOT NULL,
    version INTEGER NOT NULL CHECK (version >= 1),
    status TEXT NOT NULL CHECK (status IN ('confirmed', 'false_alarm', 'closed')),
    by TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT,
    rebase INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (case_id, version)
);
CREATE TABLE IF NOT EXISTS false_alarm_sightings (
    case_id TEXT PRIMARY KEY,
    last_seen TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0
);
"""

#: Columns added to `cases` after its first release: name → definition.
_CASE_COLUMNS = {
    "status": "TEXT NOT NULL DEFAULT 'draft'",
    "version": "INTEGER NOT NULL DEFAULT 0",
    # Whether the case's evidence files are on disk (cases/spool.py, cases/retention.py).
    "evidence_state": "TEXT NOT NULL DEFAULT 'written'",
}

#: `cases.evidence_state`: written; pending (in memory while the disk is full); lost
#: (given up: the memory bound, or the process stopped first); pruned (retention).
EVIDENCE_STATES = ("written", "pending", "lost", "pruned")


def ensure_outbox_schema(conn: sqlite3.Connection) -> None:
    """Create the outbox tables, or bring an outbox of an earlier version up to date:
    `verdicts` and `false_alarm_sightings` are new tables; `cases` gains `status` (the
    latest verdict, 'draft' before any) and `version` (0 before any verdict)
    (docs/CASE_STATUS.md, "Storage")."""
    conn.executescript(_SCHEMA)
    conn.executescript(second_look.SCHEMA)
    have = {str(row[1]) for row in conn.execute("PRAGMA table_info(cases)")}
    for name, definition in _CASE_COLUMNS.items():
        if name in have:
            continue
        try:
            conn.execute(f"ALTER TABLE cases ADD COLUMN {name} {definition}")
        except sqlite3.OperationalError as exc:  # another process added it just now
            if "duplicate column" not in str(exc):
                raise
    conn.execute("CREATE INDEX IF NOT EXISTS cases_status ON cases (status)")
    if conn.in_transaction:
        conn.commit()


class SqliteOutbox:
    """Cases committed to a local SQLite file (WAL), the case id as primary key."""

    name = "sqlite"

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> SqliteOutbox:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            ensure_outbox_schema(conn)
        except (sqlite3.Error, OSError) as exc:
            raise SinkError(f"{path}: cannot open the SQLite outbox ({exc})") from None
        return cls(conn, path)

    def write(
        self, case: DraftCase, *, evidence_state: str = "written", look: Look | None = None
    ) -> bool:
        """Store a case; `evidence_state` 'pending': its evidence is not on disk yet (a
        full disk, cases/spool.py); `look`: its second look, stored in the same
        transaction (a held case is never seen unheld). Raises sqlite3.Error when the
        disk is full."""
        if evidence_state not in EVIDENCE_STATES:
            raise ValueError(f"unknown evidence state {evidence_state!r}")
        with self._lock, self.conn:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO cases"
                " (id, type, camera_id, zone_id, confirmed_at, body, evidence_state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    case.id,
                    case.type,
                    case.camera_id,
                    case.zone_id,
                    case.confirmed_at.isoformat(),
                    case.to_json(),
                    evidence_state,
                ),
            )
            if look is not None and cur.rowcount == 1:
                second_look.store_look(self.conn, case.id, look)
            return cur.rowcount == 1

    def set_evidence_state(self, case_ids: Sequence[str], state: str, *, was: str = "") -> int:
        """Set `evidence_state` of these cases (only where it is `was`, when given);
        return how many rows changed."""
        if state not in EVIDENCE_STATES:
            raise ValueError(f"unknown evidence state {state!r}")
        sql = "UPDATE cases SET evidence_state = ? WHERE id = ?"
        if was:
            sql += " AND evidence_state = ?"
        with self._lock, self.conn:
            return sum(
                self.conn.execute(sql, (state, cid, was) if was else (state, cid)).rowcount
                for cid in case_ids
            )

    def update_sighting(self, case_id: str, last_seen: datetime, dwell_s: float) -> bool:
        """A repeat sighting of a case: move `last_seen` on and grow `dwell_s`."""
        with self._lock, self.conn:
            row = self.conn.execute("SELECT body FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                return False
            case = DraftCase.model_validate_json(row[0])
            if last_seen <= case.last_seen:
                return True
            case = case.model_copy(
                update={"last_seen": last_seen, "dwell_s": max(case.dwell_s, dwell_s)}
            )
            self.conn.execute("UPDATE cases SET body = ? WHERE id = ?", (case.to_json(), case_id))
            return True

    def mark_stale_pending(self) -> int:
        """At start: evidence an earlier run still held in memory is gone ('lost')."""
        with self._lock, self.conn:
            return self.conn.execute(
                "UPDATE cases SET evidence_state = 'lost' WHERE evidence_state = 'pending'"
            ).rowcount

    def count(self) -> int:
        with self._lock:
            return int(self.conn.execute("SELECT COUNT(*) FROM cases").fetchone()[0])

    @contextmanager
    def immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE) under the outbox's lock: committed
        when the block ends, rolled back when it raises."""
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.rollback()
                raise
            self.conn.commit()

    def fetch(self, sql: str, args: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query, under the outbox's lock (shared with the writer)."""
        with self._lock:
            return [tuple(row) for row in self.conn.execute(sql, tuple(args)).fetchall()]

    def note_suppressed(self, case_id: str, seen: datetime) -> None:
        """An event at the place of false alarm `case_id` was not proposed: count it and
        keep its time, so the false alarm's quiet period survives a restart."""
        with self._lock, self.conn:
            self.conn.execute(
                "INSERT INTO false_alarm_sightings (case_id, last_seen, count) VALUES (?, ?, 1)"
                " ON CONFLICT (case_id) DO UPDATE SET count = count + 1,"
                " last_seen = CASE WHEN julianday(excluded.last_seen) > julianday(last_seen)"
                " THEN excluded.last_seen ELSE last_seen END",
                (case_id, seen.isoformat()),
            )

    def cases(
        self, *, case_type: str | None = None, limit: int | None = None
    ) -> Iterator[DraftCase]:
        sql = "SELECT body FROM cases"
        args: list[object] = []
        if case_type:
            sql += " WHERE type = ?"
            args.append(case_type)
        sql += " ORDER BY confirmed_at, id"
        if limit:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self.conn.execute(sql, args).fetchall()
        for (body,) in rows:
            yield DraftCase.model_validate_json(body)

    def close(self) -> None:
        with self._lock:
            self.conn.close()


class JsonlSink:
    """Appends one JSON object per line; ids already in the file are skipped. A line
    that cannot be written whole (a full disk) is cut off again, so the file never
    holds half a line and the case can be written later."""

    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        if path.exists():
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        try:
                            self._seen.add(str(json.loads(line)["id"]))
                        except (ValueError, KeyError, TypeError):
                            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = path.open("ab", buffering=0)

    @classmethod
    def open(cls, path: Path) -> JsonlSink:
        try:
            return cls(path)
        except OSError as exc:
            raise SinkError(f"{path}: cannot open the JSONL file ({exc})") from None

    def write(self, case: DraftCase) -> bool:
        with self._lock:
            if case.id in self._seen:
                return False
            data = (case.to_json() + "\n").encode("utf-8")
            fd = self._fh.fileno()
            end = os.fstat(fd).st_size
            try:
                written = os.write(fd, data)
                if written < len(data):
                    raise OSError(errno.ENOSPC, f"{self.path}: short write")
            except OSError:
                os.ftruncate(fd, end)
                raise
            self._seen.add(case.id)
            return True

    def close(self) -> None:
        with self._lock:
            self._fh.close()


SinkConfigT = SqliteSinkConfig | JsonlSinkConfig

#: Registry: sink `type` → factory taking (config, output folder).
SINKS: dict[str, Callable[[SinkConfigT, Path], CaseSink]] = {
    "sqlite": lambda cfg, out: SqliteOutbox.open(_under(out, cfg.path)),
    "jsonl": lambda cfg, out: JsonlSink.open(_under(out, cfg.path)),
}


def _under(out: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else out / p


def open_sink(cfg: SinkConfigT, out: Path) -> CaseSink:
    return SINKS[cfg.type](cfg, out)
