"""Case review: operators' verdicts on draft cases, and the case list with statuses.

`CaseReview` is the one API the CLI (`lookout cases verdict`) and the console call. A
verdict is stored in the outbox (`verdicts` table, one row per version, with who and
when; `cases.status` / `cases.version` hold the latest) in one transaction; the outbox
delivery worker then sends it to every remote sink as a `StatusUpdate`
(docs/CASE_STATUS.md). A false alarm also reaches dedup: this box's case manager reads
it from the outbox, and with a Redis dedup store `shared` publishes it to every box at
once. A `rebase` request on a construction case is left for the zone's rule; a
verdict on a case about a static object leaves an absorb request for the camera's
scene model (zones/stationary.py), which then takes the object into the empty scene;
with a Redis dedup store `shared` carries it to the box that runs the camera too.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from types import TracebackType
from zoneinfo import ZoneInfo

import redis

from lookout.base.errors import LookoutError
from lookout.cases.delivery import one_line
from lookout.cases.false_alarms import FalseAlarm, RedisFalseAlarms, SharedFalseAlarms
from lookout.cases.model import DraftCase
from lookout.cases.remote import outbox_path
from lookout.cases.second_look import HELD, release_held
from lookout.cases.settings import CasesSettings
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.status import STATUSES, VERDICTS, CaseStatus, StatusUpdate, Verdict
from lookout.zones.construction_rule import request_rebase
from lookout.zones.stationary import STATIC_CLASS, request_absorb

log = logging.getLogger(__name__)


class ReviewError(LookoutError):
    """A verdict that cannot be recorded: unknown case, bad value (one line, exit 2)."""


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases to list; None means any. Times bound `confirmed_at` (from inclusive,
    until exclusive) and must carry a UTC offset."""

    type: str | None = None
    camera_id: str | None = None
    zone_id: str | None = None
    grid_code: str | None = None
    status: CaseStatus | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = None
    offset: int = 0
    newest_first: bool = False


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A case with its current status (the latest verdict, 'draft' before any)."""

    case: DraftCase
    status: CaseStatus
    version: int
    verdict: StatusUpdate | None  # the latest verdict, None for a draft
    #: The second look's false-alarm score (None: not scored) and whether it holds the
    #: case (cases/second_look.py); a held draft has the status "held".
    score: float | None = None
    held: bool = False


class CaseReview:
    """Verdicts and case listing on one outbox file (thread-safe: one lock)."""

    def __init__(
        self,
        outbox: SqliteOutbox,
        *,
        references: Path | None = None,
        shared: SharedFalseAlarms | None = None,
        tz: tzinfo | None = None,
    ) -> None:
        """`references`: the folder of construction references (rebase requests go
        there); `shared`: the Redis dedup store's false alarms, told at once; `tz`: the
        site's time zone of verdict times (default: that of the case's times)."""
        self.outbox = outbox
        self.references = references
        self.shared = shared
        self.tz = tz

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        references: Path | None = None,
        shared: SharedFalseAlarms | None = None,
        tz: tzinfo | None = None,
    ) -> CaseReview:
        """Open an existing outbox (migrated to the current schema)."""
        if not path.is_file():
            raise ReviewError(f"{path}: outbox not found")
        return cls(SqliteOutbox.open(path), references=references, shared=shared, tz=tz)

    @classmethod
    def from_settings(cls, cfg: CasesSettings) -> CaseReview:
        """The review of a configured site: its outbox, references under the output
        folder, its time zone and, with a Redis dedup store, the shared false alarms."""
        out_dir = Path(cfg.out_dir)
        path = outbox_path(cfg.sinks, out_dir)
        if path is None:
            raise ReviewError("sinks: verdicts need the sqlite outbox; add a {type: sqlite} sink")
        shared = None
        if cfg.dedup.store.type == "redis" and cfg.dedup.store.url:
            shared = RedisFalseAlarms.open(
                cfg.dedup.store.url,
                cfg.dedup.false_alarm_s,
                ssl_ca_certs=cfg.dedup.store.ssl_ca_certs,
            )
        try:
            return cls.open(
                path, references=out_dir / "references", shared=shared, tz=ZoneInfo(cfg.timezone)
            )
        except BaseException:
            if shared is not None:
                shared.close()
            raise

    # -- verdicts ------------------------------------------------------------------------
    def verdict(
        self,
        case_id: str,
        verdict: str,
        by: str,
        note: str | None = None,
        at: datetime | None = None,
        *,
        rebase: bool = False,
    ) -> StatusUpdate:
        """Record a verdict as the case's next status version and return the update.

        Repeating the latest verdict with the same author, note and rebase is a no-op
        (returns that version), so a double submit does not make a second version.
        `case_id` may be a unique prefix of at least 8 characters."""
        if verdict not in VERDICTS:
            raise ReviewError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        at = at or datetime.now(UTC).replace(microsecond=0)
        if at.tzinfo is None:
            raise ReviewError("a verdict time needs a UTC offset")
        with self.outbox.immediate() as conn:
            update, new = self._record(conn, case_id, verdict, by, note, at, rebase)
        if new:
            self._after(update)
        return update

    def _record(
        self,
        conn: sqlite3.Connection,
        case_id: str,
        verdict: str,
        by: str,
        note: str | None,
        at: datetime,
        rebase: bool,
    ) -> tuple[StatusUpdate, bool]:
        case, status, version = self._case_locked(conn, case_id)
        at = at.astimezone(self.tz or case.confirmed_at.tzinfo)
        if rebase and case.type != "illegal_construction":
            raise ReviewError(f"case {case.id}: --rebase applies to illegal_construction cases")
        if rebase and verdict == "confirmed":
            raise ReviewError("--rebase goes with a closed or false_alarm verdict")
        if version:
            body = conn.execute(
                "SELECT body FROM verdicts WHERE case_id = ? AND version = ?", (case.id, version)
            ).fetchone()[0]
            last = StatusUpdate.model_validate_json(body)
            same = (last.status, last.by, last.note, last.rebase)
            if same == (verdict, " ".join(by.split()), note or None, rebase):
                return last, False
        try:
            update = StatusUpdate(
                case_id=case.id,
                version=version + 1,
                status=verdict,  # type: ignore[arg-type]
                previous=status,
                by=by,
                at=at,
                note=note or None,
                rebase=rebase,
                type=case.type,
                camera_id=case.camera_id,
                preset=case.preset,
                zone_id=case.zone_id,
                grid_code=case.grid_code,
            )
        except ValueError as exc:
            first = str(exc).splitlines()
            raise ReviewError(f"case {case.id}: invalid verdict ({' '.join(first[:3])})") from None
        conn.execute(
            "INSERT INTO verdicts (case_id, version, status, by, at, note, rebase, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                update.case_id,
                update.version,
                update.status,
                update.by,
                update.at.isoformat(),
                update.note,
                int(update.rebase),
                update.to_json(),
            ),
        )
        conn.execute(
            "UPDATE cases SET status = ?, version = ? WHERE id = ?",
            (update.status, update.version, case.id),
        )
        if update.status == "confirmed":  # a held case confirmed goes out as well
            release_held(conn, case.id, update.by, update.at.isoformat())
        return update, True

    def release(self, case_id: str, by: str, at: datetime | None = None) -> CaseRow:
        """Release a case the second look held: it is delivered as a draft from now on,
        and counts as not a false alarm at the next fit unless a verdict says so."""
        at = (at or datetime.now(UTC).replace(microsecond=0)).astimezone(self.tz)
        by = " ".join(by.split())[:100]
        with self.outbox.immediate() as conn:
            case, _, _ = self._case_locked(conn, case_id)
            if not release_held(conn, case.id, by or "operator", at.isoformat()):
                raise ReviewError(f"case {case.id} is not held by the second look")
        row = self.case(case.id)
        assert row is not None
        return row

    def _case_locked(
        self, conn: sqlite3.Connection, case_id: str
    ) -> tuple[DraftCase, CaseStatus, int]:
        case_id = case_id.strip()
        rows = conn.execute(
            "SELECT body, status, version FROM cases WHERE id = ?", (case_id,)
        ).fetchall()
        if not rows and len(case_id) >= 8:
            rows = conn.execute(
                "SELECT body, status, version FROM cases WHERE substr(id, 1, ?) = ? LIMIT 2",
                (len(case_id), case_id),
            ).fetchall()
            if len(rows) > 1:
                raise ReviewError(f"case id prefix {case_id!r} is ambiguous")
        if not rows:
            raise ReviewError(f"no case {case_id!r} in {self.outbox.path}")
        body, status, version = rows[0]
        return DraftCase.model_validate_json(body), status, int(version)

    def _after(self, update: StatusUpdate) -> None:
        """Side effects outside the outbox, after the verdict is committed."""
        if update.rebase and self.references is not None:
            request_rebase(
                self.references,
                update.camera_id,
                update.preset,
                update.zone_id,
                case_id=update.case_id,
                by=update.by,
                at=update.at,
            )
        row = self.case(update.case_id)
        case = row.case if row is not None else None
        static = case is not None and STATIC_CLASS in (case.object_class, *case.support)
        if case is not None and static and self.references is not None:
            request_absorb(
                self.references,
                case.camera_id,
                case.preset,
                case.bbox,
                case_id=case.id,
                by=update.by,
                at=update.at,
            )
        if self.shared is None:
            return
        # Best effort: every box's case manager also publishes what its outbox holds.
        try:
            if row is not None and update.status == "false_alarm":
                self.shared.publish(FalseAlarm.of(row.case, update.at))
            elif update.previous == "false_alarm":
                self.shared.lift(update.case_id, update.type)
        except (redis.RedisError, OSError) as exc:
            log.warning(
                "case %s: false alarm not shared now (%s); the case manager shares it",
                update.case_id,
                one_line(str(exc)),
            )
        if case is not None and static:
            # The camera may run on another box (docs/FLEET.md "State moves with a
            # camera"): its scene model reads the request from Redis there.
            try:
                self.shared.request_absorb(
                    case.camera_id,
                    case.preset,
                    case.bbox,
                    case_id=case.id,
                    by=update.by,
                    at=update.at,
                )
            except (redis.RedisError, OSError) as exc:
                log.warning(
                    "case %s: absorb request not shared (%s); only this box's scene gets it",
                    update.case_id,
                    one_line(str(exc)),
                )

    # -- reading -------------------------------------------------------------------------
    def cases(self, filt: CaseFilter | None = None) -> list[CaseRow]:
        """Cases matching `filt`, by confirmation time (oldest first unless asked)."""
        f = filt or CaseFilter()
        if f.status is not None and f.status not in STATUSES:
            raise ReviewError(f"status must be one of {', '.join(STATUSES)}, got {f.status!r}")
        where: list[str] = []
        args: list[object] = []
        for column, value in (
            ("c.type", f.type),
            ("c.camera_id", f.camera_id),
            ("c.zone_id", f.zone_id),
            ("json_extract(c.body, '$.grid_code')", f.grid_code),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if f.status in ("draft", "held"):
            held = "= 1" if f.status == "held" else "!= 1"
            where.append(f"c.status = 'draft' AND COALESCE(s.held, 0) {held}")
        elif f.status is not None:
            where.append("c.status = ?")
            args.append(f.status)
        for op, bound in ((">=", f.since), ("<", f.until)):
            if bound is not None:
                if bound.tzinfo is None:
                    raise ReviewError("case filter times need a UTC offset")
                where.append(f"julianday(c.confirmed_at) {op} julianday(?)")
                args.append(bound.isoformat())
        sql = _SELECT
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = "DESC" if f.newest_first else "ASC"
        sql += f" ORDER BY julianday(c.confirmed_at) {order}, c.id {order}"
        if f.limit is not None or f.offset:
            sql += " LIMIT ? OFFSET ?"
            args += [-1 if f.limit is None else f.limit, f.offset]
        return [_row(*r) for r in self.outbox.fetch(sql, args)]

    def case(self, case_id: str) -> CaseRow | None:
        """One case with its status, or None."""
        rows = self.outbox.fetch(_SELECT + " WHERE c.id = ?", (case_id,))
        return _row(*rows[0]) if rows else None

    def history(self, case_id: str) -> list[StatusUpdate]:
        """Every recorded version of a case's status, oldest first."""
        rows = self.outbox.fetch(
            "SELECT body FROM verdicts WHERE case_id = ? ORDER BY version", (case_id,)
        )
        return [StatusUpdate.model_validate_json(body) for (body,) in rows]

    def close(self) -> None:
        self.outbox.close()
        if self.shared is not None:
            self.shared.close()

    def __enter__(self) -> CaseReview:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_SELECT = (
    "SELECT c.body, c.status, c.version, v.body, s.score, s.held FROM cases c"
    " LEFT JOIN verdicts v ON v.case_id = c.id AND v.version = c.version"
    " LEFT JOIN second_look s ON s.case_id = c.id"
)


def _row(
    body: str, status: str, version: int, verdict: str | None, score: float | None, held: int
) -> CaseRow:
    is_held = held == HELD
    return CaseRow(
        case=DraftCase.model_validate_json(body),
        status="held" if is_held and status == "draft" else status,  # type: ignore[arg-type]
        version=int(version),
        verdict=StatusUpdate.model_validate_json(verdict) if verdict else None,
        score=None if score is None else float(score),
        held=is_held,
    )


def record_verdict(
    outbox_path: Path,
    case_id: str,
    verdict: Verdict,
    by: str,
    note: str | None = None,
    at: datetime | None = None,
    *,
    rebase: bool = False,
) -> StatusUpdate:
    """`CaseReview.verdict` on an outbox file (references beside it)."""
    with CaseReview.open(outbox_path, references=outbox_path.parent / "references") as review:
        return review.verdict(case_id, verdict, by, note, at, rebase=rebase)
