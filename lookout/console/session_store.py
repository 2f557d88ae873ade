"""Where the console keeps its sessions and its login failures (docs/ACCOUNTS.md):
in a SQLite file of the box (`SqliteSecurityStore`: the outbox database, or the
console's database without a SQLite outbox), or in Redis when `cluster:` is configured
(`RedisSecurityStore`), so every box of a fleet knows every session and every failed
guess. Both keep them across a restart, and both keep the secret that signs the
session cookie, so a restart does not log anybody out.

A session is stored under the SHA-256 of its id: whoever reads the store cannot use
what they read as a cookie."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

SCHEMA = """
CREATE TABLE IF NOT EXISTS console_sessions (
    sid TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    role TEXT NOT NULL,
    generation INTEGER NOT NULL,
    shared INTEGER NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL,
    address TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS console_sessions_user ON console_sessions (user);
CREATE TABLE IF NOT EXISTS console_login_failures (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    t REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS console_login_failures_key ON console_login_failures (scope, key, t);
CREATE TABLE IF NOT EXISTS console_lockouts (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    until REAL NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE TABLE IF NOT EXISTS console_secret (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    secret TEXT NOT NULL
);
"""


def sid_key(sid: str) -> str:
    """What the store keeps of a session id."""
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A logged-in browser: who, with what role and account generation, since when."""

    user: str
    role: str
    generation: int
    shared: bool  # logged in with a shared role password, not an account
    created: float  # wall clock (time.time)
    last_seen: float
    address: str


@dataclass(frozen=True, slots=True)
class Failures:
    """Failed logins of one account or address within the window."""

    count: int
    last: float | None


class SecurityStore(Protocol):
    """Sessions, login failures, lockouts and the cookie secret (keys are sid_key)."""

    def secret(self) -> str: ...

    def get(self, key: str) -> SessionRecord | None: ...

    def put(self, key: str, record: SessionRecord, ttl_s: float) -> None: ...

    def touch(self, key: str, last_seen: float, ttl_s: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def delete_user(self, user: str) -> int: ...

    def fail(self, scope: str, key: str, t: float, window_s: float) -> Failures: ...

    def failures(self, scope: str, key: str, t: float, window_s: float) -> Failures: ...

    def clear(self, scope: str, key: str) -> None: ...

    def lock(self, scope: str, key: str, until: float) -> None: ...

    def locked_until(self, scope: str, key: str, t: float) -> float | None: ...

    def prune(self, t: float, max_age_s: float) -> None: ...

    def close(self) -> None: ...


class SqliteSecurityStore:
    """The store in a SQLite file (WAL; one connection shared under a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        self._lock = threading.Lock()

    def secret(self) -> str:
        with self._lock:
            self._conn.execute(
                "INSERT OR IGNORE INTO console_secret (id, secret) VALUES (1, ?)",
                (secrets.token_urlsafe(48),),
            )
            row = self._conn.execute("SELECT secret FROM console_secret WHERE id = 1").fetchone()
        return str(row[0])

    def get(self, key: str) -> SessionRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT user, role, generation, shared, created, last_seen, address "
                "FROM console_sessions WHERE sid = ?",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return SessionRecord(row[0], row[1], int(row[2]), bool(row[3]), row[4], row[5], row[6])

    def put(self, key: str, record: SessionRecord, ttl_s: float) -> None:
        r = record
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO console_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    r.user,
                    r.role,
                    r.generation,
                    int(r.shared),
                    r.created,
                    r.last_seen,
                    r.address,
                ),
            )

    def touch(self, key: str, last_seen: float, ttl_s: float) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE console_sessions SET last_seen = ? WHERE sid = ?", (last_seen, key)
            )

    def delete(self, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM console_sessions WHERE sid = ?", (key,))

    def delete_user(self, user: str) -> int:
        with self._lock:
            cur = self._conn.execute(
                "DELETE FROM console_sessions WHERE user = ? COLLATE NOCASE", (user,)
            )
        return cur.rowcount

    def fail(self, scope: str, key: str, t: float, window_s: float) -> Failures:
        with self._lock:
            self._conn.execute(
                "INSERT INTO console_login_failures VALUES (?, ?, ?)", (scope, key, t)
            )
        return self.failures(scope, key, t, window_s)

    def failures(self, scope: str, key: str, t: float, window_s: float) -> Failures:
        with self._lock:
            row = self._conn.execute(
                "SELECT COUNT(*), MAX(t) FROM console_login_failures "
                "WHERE scope = ? AND key = ? AND t > ?",
                (scope, key, t - window_s),
            ).fetchone()
        return Failures(int(row[0]), row[1])

    def clear(self, scope: str, key: str) -> None:
        with self._lock:
            self._conn.execute(
                "DELETE FROM console_login_failures WHERE scope = ? AND key = ?", (scope, key)
            )

    def lock(self, scope: str, key: str, until: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO console_lockouts VALUES (?, ?, ?)", (scope, key, until)
            )

    def locked_until(self, scope: str, key: str, t: float) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT until FROM console_lockouts WHERE scope = ? AND key = ? AND until > ?",
                (scope, key, t),
            ).fetchone()
        return None if row is None else float(row[0])

    def prune(self, t: float, max_age_s: float) -> None:
        """Drop sessions older than `max_age_s`, failures older than a day, old locks."""
        with self._lock:
            self._conn.execute("DELETE FROM console_sessions WHERE created < ?", (t - max_age_s,))
            self._conn.execute("DELETE FROM console_login_failures WHERE t < ?", (t - 86400,))
            self._conn.execute("DELETE FROM console_lockouts WHERE until < ?", (t,))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def wall() -> float:
    return time.time()
