"""Retention of evidence and outbox rows (docs/OPERATIONS.md "Retention and full disks": by
age and size, never deleting an undelivered case's evidence).

Each run plans, then deletes:

1. **age** — cases confirmed more than `max_days` ago: the outbox row (with its
   verdicts, delivery rows and false-alarm sightings) and its evidence files;
2. **size** — while evidence and outbox together use more than `max_gb`: evidence
   files, of closed and false-alarm cases first, then confirmed ones, then drafts,
   oldest first within each; the row stays, `evidence_state = 'pruned'`;
3. **free_space** — while the disk of the output folder has less than `min_free_gb`
   free: more evidence, in the same order.

Never touched: a case some configured remote sink has not settled (the case or any
of its status versions still pending or rejected: docs/CASE_STATUS.md), a case whose
evidence waits in memory (`evidence_state = 'pending'`, cases/spool.py), and the row
of a false alarm whose quiet period still runs (cases/false_alarms.py reads it). The
check is repeated inside each deletion's transaction, so a verdict recorded meanwhile
keeps its case. `cases.jsonl` is append-only and not pruned.
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from lookout.cases.evidence import dataset_paths
from lookout.cases.settings import RetentionConfig
from lookout.cases.sinks import ensure_outbox_schema

log = logging.getLogger(__name__)

GB = 1024**3
Reason = Literal["age", "size", "free_space"]
What = Literal["case", "evidence"]
#: Which evidence goes first under size or free-space pressure: finished cases, then
#: confirmed ones (reviewed), then drafts.
_TIER = {"closed": 0, "false_alarm": 0, "confirmed": 1, "draft": 2}


@dataclass(frozen=True, slots=True)
class Removal:
    """One deletion: a whole case, or only its evidence files."""

    case_id: str
    what: What
    reason: Reason
    status: str
    confirmed_at: datetime
    files: tuple[str, ...]
    bytes: int


@dataclass(frozen=True, slots=True)
class PrunePlan:
    """What a retention run deletes (or would, with `--dry-run`)."""

    removals: list[Removal]
    #: Cases past `max_days`, or with evidence that would have gone, kept undelivered.
    kept_undelivered: int
    used_bytes: int
    free_bytes: int
    #: Bytes still over `max_gb` / under `min_free_gb` after the plan (0: satisfied).
    short_bytes: int = 0


@dataclass(frozen=True, slots=True)
class _Row:
    case_id: str
    status: str
    confirmed_at: datetime
    evidence_state: str
    settled: bool
    quiet_false_alarm: bool
    files: tuple[str, ...]
    bytes: int


@dataclass
class RetentionStats:
    """Counters for the metrics (lookout/daemon/metrics.py), from the runs that deleted."""

    deleted: Counter[tuple[str, str]] = field(default_factory=Counter)  # (what, reason)
    deleted_bytes: Counter[str] = field(default_factory=Counter)  # reason
    kept_undelivered: int = 0
    used_bytes: int = 0
    free_bytes: int = 0
    runs: int = 0
    failures: int = 0


class Retention:
    """Plans and applies retention on one outbox and its `evidence/` folder."""

    def __init__(
        self,
        cfg: RetentionConfig,
        out_dir: Path,
        outbox: Path,
        remote_sinks: Sequence[str] = (),
        *,
        false_alarm_s: float = 0.0,
        clock: Callable[[], float] = time.time,
        disk_free: Callable[[Path], int] = lambda p: shutil.disk_usage(p).free,
    ) -> None:
        self.cfg = cfg
        self.out_dir = out_dir
        self.outbox = outbox
        self.remote = tuple(dict.fromkeys(remote_sinks))
        self.false_alarm_s = false_alarm_s
        self.clock = clock
        self.disk_free = disk_free
        self.stats = RetentionStats()
        self._unmarked: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.outbox), timeout=10, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        ensure_outbox_schema(conn)
        return conn

    def _settled_sql(self, conn: sqlite3.Connection) -> str:
        """SQL true when every configured remote sink settled case `c` and each of its
        status versions ('delivered'); always true without remote sinks."""
        if not self.remote:
            return "1"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"deliveries", "status_deliveries"} <= tables:
            return "0"  # no delivery worker ran yet: nothing is delivered
        sinks = ", ".join("'" + s.replace("'", "''") + "'" for s in self.remote)
        n = len(self.remote)
        return (
            f"((SELECT COUNT(*) FROM deliveries d WHERE d.case_id = c.id"
            f" AND d.state = 'delivered' AND d.sink IN ({sinks})) = {n}"
            f" AND (SELECT COUNT(*) FROM status_deliveries s WHERE s.case_id = c.id"
            f" AND s.state = 'delivered' AND s.sink IN ({sinks})) = {n} * c.version)"
        )

    def _rows(self, conn: sqlite3.Connection) -> list[_Row]:
        settled = self._settled_sql(conn)
        sql = (
            f"SELECT c.id, c.status, c.confirmed_at, c.evidence_state, {settled}, c.body,"
            " v.at, f.last_seen FROM cases c"
            " LEFT JOIN verdicts v ON v.case_id = c.id AND v.version = c.version"
            " LEFT JOIN false_alarm_sightings f ON f.case_id = c.id"
        )
        quiet_since = self.clock() - self.false_alarm_s
        rows = []
        for cid, status, confirmed, state, ok, body, at, seen in conn.execute(sql):
            listed = json.loads(body).get("evidence") or []
            # The kept clean frame and detections (docs/LEARNING.md) go with the evidence.
            kept = [rel for rel in dataset_paths(cid) if (self.out_dir / rel).exists()]
            files = tuple(p for p in [*listed, *kept] if _evidence(p))
            size = sum(_size(self.out_dir / rel) for rel in files)
            latest = max(
                (datetime.fromisoformat(t).timestamp() for t in (at, seen) if t), default=0.0
            )
            quiet = status == "false_alarm" and latest >= quiet_since
            when = datetime.fromisoformat(confirmed)
            rows.append(_Row(cid, status, when, state, bool(ok), quiet, files, size))
        return rows

    def _used(self, conn: sqlite3.Connection) -> int:
        """Bytes of the evidence folder and of the outbox's used pages and log."""
        folder = self.out_dir / "evidence"
        used = sum(_size(p) for p in folder.iterdir()) if folder.is_dir() else 0
        pages, free_pages, size = (
            conn.execute(f"PRAGMA {p}").fetchone()[0]
            for p in ("page_count", "freelist_count", "page_size")
        )
        return used + (pages - free_pages) * size + _size(Path(f"{self.outbox}-wal"))

    def plan(self) -> PrunePlan:
        """What a run would delete now; deletes nothing."""
        conn = self._connect()
        try:
            rows = self._rows(conn)
            used = self._used(conn)
        finally:
            conn.close()
        free = self.disk_free(self.out_dir)
        removals: list[Removal] = []
        kept: set[str] = set()  # undelivered cases that would otherwise go
        gone: set[str] = set()
        if self.cfg.max_days is not None:
            cutoff = self.clock() - self.cfg.max_days * 86400
            for r in sorted(rows, key=lambda r: r.confirmed_at):
                if r.confirmed_at.timestamp() >= cutoff:
                    continue
                if not r.settled or r.evidence_state == "pending":
                    kept.add(r.case_id)
                elif not r.quiet_false_alarm:
                    removals.append(_removal(r, "case", "age"))
                    gone.add(r.case_id)
        freed = sum(m.bytes for m in removals)
        candidates = sorted(
            (r for r in rows if r.evidence_state == "written" and r.bytes),
            key=lambda r: (_TIER.get(r.status, 2), r.confirmed_at),
        )
        pressures: list[tuple[Reason, int]] = []
        if self.cfg.max_gb is not None:
            pressures.append(("size", used - int(self.cfg.max_gb * GB)))
        if self.cfg.min_free_gb is not None:
            pressures.append(("free_space", int(self.cfg.min_free_gb * GB) - free))
        short = 0
        for reason, excess in pressures:
            for r in candidates:
                if freed >= excess:
                    break
                if r.case_id in gone:
                    continue
                if not r.settled:
                    kept.add(r.case_id)
                    continue
                removals.append(_removal(r, "evidence", reason))
                gone.add(r.case_id)
                freed += r.bytes
            short = max(short, excess - freed)
        return PrunePlan(removals, len(kept), used, free, short)

    def apply(self, plan: PrunePlan) -> list[Removal]:
        """Delete what `plan` names, checking again in each transaction that the case
        is still settled; return what was deleted."""
        done: list[Removal] = []
        conn = self._connect()
        try:
            settled = self._settled_sql(conn)
            self._mark_pruned(conn)
            for m in plan.removals:
                if self._delete(conn, m, settled):
                    done.append(m)
        finally:
            conn.close()
        for m in done:
            self.stats.deleted[(m.what, m.reason)] += 1
            self.stats.deleted_bytes[m.reason] += m.bytes
        return done

    def _delete(self, conn: sqlite3.Connection, m: Removal, settled: str) -> bool:
        """Files first, then the rows: on a full disk SQLite may not be able to write
        (its log needs space) while unlinking always frees. A row left behind is
        deleted or marked by a later run."""
        state = "!= 'pending'" if m.what == "case" else "= 'written'"
        gone = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            ok = conn.execute(
                f"SELECT 1 FROM cases AS c WHERE c.id = ? AND c.evidence_state {state}"
                f" AND {settled}",
                (m.case_id,),
            ).fetchone()
            if ok is None:
                conn.execute("ROLLBACK")
                return False
            for rel in m.files:
                (self.out_dir / rel).unlink(missing_ok=True)
            gone = True
            if m.what == "case":
                for table in _CASE_TABLES:
                    conn.execute(f"DELETE FROM {table} WHERE case_id = ?", (m.case_id,))
                conn.execute("DELETE FROM cases WHERE id = ?", (m.case_id,))
            else:
                conn.execute(
                    "UPDATE cases SET evidence_state = 'pruned' WHERE id = ?", (m.case_id,)
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if not gone:
                raise
            log.warning("retention: case %s: files deleted, row not updated (%s)", m.case_id, exc)
            if m.what == "evidence":
                self._unmarked.add(m.case_id)
        return True

    def _mark_pruned(self, conn: sqlite3.Connection) -> None:
        """Rows whose evidence an earlier run deleted but could not mark."""
        for cid in list(self._unmarked):
            try:
                conn.execute(
                    "UPDATE cases SET evidence_state = 'pruned' WHERE id = ?"
                    " AND evidence_state = 'written'",
                    (cid,),
                )
            except sqlite3.Error:
                return
            self._unmarked.discard(cid)

    def run_once(self, *, dry_run: bool = False) -> tuple[PrunePlan, list[Removal]]:
        """Plan, then (unless `dry_run`) delete; log a summary when anything went."""
        plan = self.plan()
        done = [] if dry_run else self.apply(plan)
        self.stats.runs += 1
        self.stats.kept_undelivered = plan.kept_undelivered
        self.stats.used_bytes = plan.used_bytes
        self.stats.free_bytes = plan.free_bytes
        if done:
            log.info(
                "retention: deleted %d case(s) and the evidence of %d more (%.1f MB): %s",
                sum(1 for m in done if m.what == "case"),
                sum(1 for m in done if m.what == "evidence"),
                sum(m.bytes for m in done) / 1e6,
                ", ".join(f"{r} {n}" for r, n in Counter(m.reason for m in done).items()),
            )
        if plan.short_bytes > 0 and not dry_run:
            log.warning(
                "retention: still %.1f MB short of the limits; %d undelivered case(s) kept",
                plan.short_bytes / 1e6,
                plan.kept_undelivered,
            )
        return plan, done


#: Tables with rows of a case, deleted with it (delivery tables exist once a worker ran).
_CASE_TABLES = ("verdicts", "false_alarm_sightings", "deliveries", "status_deliveries")


def _evidence(rel: object) -> bool:
    """Only files under `evidence/` are ever deleted, whatever an outbox row says."""
    return isinstance(rel, str) and rel.startswith("evidence/") and ".." not in rel.split("/")


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _removal(r: _Row, what: What, reason: Reason) -> Removal:
    return Removal(r.case_id, what, reason, r.status, r.confirmed_at, r.files, r.bytes)


class RetentionWorker:
    """Runs retention on its own thread until `stop()`: `first_run_s` after start, then
    every `interval_s`; `wake()` runs it at once (the case writer found the disk full),
    at most once per `min_gap_s`."""

    def __init__(
        self,
        retention: Retention,
        interval_s: float,
        *,
        min_gap_s: float = 30.0,
        first_run_s: float = 60.0,
    ) -> None:
        self.retention = retention
        self.interval_s = interval_s
        self.min_gap_s = min_gap_s
        self.first_run_s = first_run_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        self._wake.wait(min(self.first_run_s, self.interval_s))  # after start-up's I/O
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.retention.run_once()
            except (sqlite3.Error, OSError, ValueError) as exc:  # next run tries again
                self.retention.stats.failures += 1
                log.error("retention run failed: %s", exc)
            # A full disk wakes it for every case: at most one run per `min_gap_s`.
            if self._stop.wait(min(self.min_gap_s, self.interval_s)):
                return
            self._wake.wait(max(0.0, self.interval_s - self.min_gap_s))

    def stop(self, timeout: float = 10.0) -> bool:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True
