"""The audit log (docs/ACCOUNTS.md "Audit log"): who did what, when, from where.

Every verdict, release, zone save, calibration, PTZ hold, acknowledgement, login
(success and failure), logout and account change is one row of the `audit` table, in
the same SQLite file as the console's sessions (the outbox database). The table is
append-only: triggers refuse UPDATE and DELETE, and each row carries the SHA-256 of
the previous row's hash and its own content, so `lookout audit --verify` shows a row
removed or changed by hand with another tool. Times are stored as UTC seconds and
shown in the site's time zone."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    t REAL NOT NULL,
    who TEXT NOT NULL,
    role TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_t ON audit (t);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
#: The actions written (docs/ACCOUNTS.md lists what each detail holds).
ACTIONS = (
    "login",
    "login_failed",
    "login_refused",
    "logout",
    "verdict",
    "release",
    "zones",
    "calibration",
    "ptz_hold",
    "acknowledge",
    "user_add",
    "user_passwd",
    "user_role",
    "user_disable",
    "user_enable",
)
GENESIS = "0" * 64
#: Longest text kept in one field (what changed is summed up, not copied whole).
MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One row: `t` in UTC seconds; `detail` what changed (small JSON object)."""

    who: str
    role: str
    address: str
    action: str
    target: str = ""
    detail: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0
    seq: int = 0

    def when(self, tz: tzinfo) -> str:
        return datetime.fromtimestamp(self.t, tz).isoformat(timespec="seconds")

    def json(self, tz: tzinfo) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.when(tz),
            "who": self.who,
            "role": self.role,
            "address": self.address,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


def _clip(text: str) -> str:
    return " ".join(str(text).split())[:MAX_TEXT]


def _digest(prev: str, e: AuditEntry, detail: str) -> str:
    body = json.dumps(
        [prev, e.t, e.who, e.role, e.address, e.action, e.target, detail], ensure_ascii=False
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class AuditLog:
    """Appends and reads the audit table; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def record(self, entry: AuditEntry) -> AuditEntry:
        """Append `entry` (its time now unless given); returns it as stored."""
        e = AuditEntry(
            who=_clip(entry.who)[:100],
            role=_clip(entry.role)[:20],
            address=_clip(entry.address)[:100],
            action=entry.action,
            target=_clip(entry.target)[:200],
            detail=entry.detail,
            t=entry.t or time.time(),
        )
        detail = json.dumps(e.detail, ensure_ascii=False, sort_keys=True, default=str)[:MAX_TEXT]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")  # the chain: one writer at a time
            try:
                row = self._conn.execute(
                    "SELECT hash FROM audit ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                prev = row[0] if row else GENESIS
                cur = self._conn.execute(
                    "INSERT INTO audit (t, who, role, address, action, target, detail, prev,"
                    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        e.t,
                        e.who,
                        e.role,
                        e.address,
                        e.action,
                        e.target,
                        detail,
                        prev,
                        _digest(prev, e, detail),
                    ),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return AuditEntry(
            e.who, e.role, e.address, e.action, e.target, e.detail, e.t, int(cur.lastrowid or 0)
        )

    def entries(
        self,
        start: float | None = None,
        end: float | None = None,
        *,
        who: str | None = None,
        action: str | None = None,
        limit: int = 1000,
        offset: int = 0,
        newest_first: bool = False,
    ) -> list[AuditEntry]:
        """Rows with start <= t < end, optionally of one person or action."""
        where: list[str] = ["1"]
        args: list[object] = []
        if start is not None:
            where.append("t >= ?")
            args.append(start)
        if end is not None:
            where.append("t < ?")
            args.append(end)
        if who:
            where.append("who = ? COLLATE NOCASE")
            args.append(who)
        if action:
            where.append("action = ?")
            args.append(action)
        order = "DESC" if newest_first else "ASC"
        sql = (
            "SELECT seq, t, who, role, address, action, target, detail FROM audit WHERE "
            + " AND ".join(where)
            + f" ORDER BY seq {order} LIMIT ? OFFSET ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, (*args, limit, offset)).fetchall()
        return [
            AuditEntry(r[2], r[3], r[4], r[5], r[6], json.loads(r[7]), r[1], r[0]) for r in rows
        ]

    def verify(self) -> int | None:
        """The seq of the first row whose chain does not hold, or None if all do."""
        prev = GENESIS
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, t, who, role, address, action, target, detail, prev, hash "
                "FROM audit ORDER BY seq"
            ).fetchall()
        for r in rows:
            e = AuditEntry(r[2], r[3], r[4], r[5], r[6], {}, r[1], r[0])
            if r[8] != prev or _digest(prev, e, r[7]) != r[9]:
                return int(r[0])
            prev = r[9]
        return None

    def close(self) -> None:
        with self._lock:
            self._conn.close()
