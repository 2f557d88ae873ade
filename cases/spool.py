"""What the case writer keeps in memory while the disk is full (docs/OPERATIONS.md
"Retention and full disks": a full disk is survived, counted and alerted, and no case
row is lost).

- `EvidenceSpool`: evidence JPEGs that could not be written, already encoded (no frame
  is kept), bounded by bytes. The case row is written anyway, flagged
  `evidence_state = 'pending'`; the writer stores the pictures once space returns.
  When the bound is reached the oldest pending evidence is given up (counted,
  `evidence_state = 'lost'`): the newest cases keep theirs.
- `HeldCases`: cases the outbox (or another local sink) could not store, bounded by
  count. They are written, in order, once space returns. When the bound is reached
  the oldest held case is dropped (counted).
- `RateLimitedLog`: a full disk fails every case; the log says so once a minute per
  kind of failure, with how many failures it did not repeat.
- `CaseStore`: the case writer's storage (evidence, then every local sink) with these
  fallbacks, and `retry()` to write what waits once space returns.

`CaseStore` is used under the case writer's lock (cases/manager.py); its counters are
read by the metrics from another thread, as plain integers.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from lookout.cases.evidence import EncodedPicture, EvidenceWriter
from lookout.cases.model import DraftCase
from lookout.cases.second_look import Look
from lookout.cases.sinks import CaseSink, SqliteOutbox

log = logging.getLogger(__name__)

#: Bytes of encoded evidence kept in memory while it cannot be written: about 60
#: cases of 1080p (full picture ~0.8 MB, crop ~0.1 MB at quality 88).
EVIDENCE_SPOOL_BYTES = 64 * 1024 * 1024
#: Cases kept in memory while the outbox cannot be written (a case is ~2 KB).
HELD_CASES = 10_000
#: Seconds between two attempts to write what waits in memory.
RETRY_S = 5.0
#: Seconds between two log lines about one kind of storage failure.
LOG_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class StorageStats:
    """What the case writer holds in memory because the disk is full, and how often
    writes failed (read by lookout/daemon/metrics.py at scrape time)."""

    evidence_pending: int
    evidence_pending_bytes: int
    evidence_write_failures: int
    evidence_written_late: int
    evidence_dropped: int
    cases_held: int
    cases_written_late: int
    cases_dropped: int
    outbox_write_failures: int


class EvidenceSpool:
    """Encoded evidence waiting for disk space, oldest first, at most `max_bytes`."""

    def __init__(self, max_bytes: int = EVIDENCE_SPOOL_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, list[EncodedPicture]] = OrderedDict()
        self.bytes = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._items

    def add(self, case_id: str, pictures: list[EncodedPicture]) -> list[str]:
        """Keep a case's pictures; return the ids of older cases given up to stay
        within the bound (the new case too when it alone exceeds it)."""
        size = sum(len(p.data) for p in pictures)
        given_up: list[str] = []
        if size > self.max_bytes:
            self.dropped += 1
            return [case_id]
        while self._items and self.bytes + size > self.max_bytes:
            old, pics = self._items.popitem(last=False)
            self.bytes -= sum(len(p.data) for p in pics)
            self.dropped += 1
            given_up.append(old)
        self._items[case_id] = pictures
        self.bytes += size
        return given_up

    def items(self) -> Iterator[tuple[str, list[EncodedPicture]]]:
        """A snapshot of the waiting cases, oldest first."""
        yield from list(self._items.items())

    def done(self, case_id: str) -> None:
        pics = self._items.pop(case_id, None)
        if pics is not None:
            self.bytes -= sum(len(p.data) for p in pics)


class HeldCases:
    """Cases not yet stored by every local sink, oldest first, at most `max_cases`."""

    def __init__(self, max_cases: int = HELD_CASES) -> None:
        self.max_cases = max_cases
        self._items: OrderedDict[str, DraftCase] = OrderedDict()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._items

    def add(self, case: DraftCase) -> DraftCase | None:
        """Hold a case; return the oldest one dropped to stay within the bound."""
        dropped = None
        if case.id not in self._items and len(self._items) >= self.max_cases:
            _, dropped = self._items.popitem(last=False)
            self.dropped += 1
        self._items[case.id] = case
        return dropped

    def cases(self) -> list[DraftCase]:
        return list(self._items.values())

    def done(self, case_id: str) -> None:
        self._items.pop(case_id, None)


class RateLimitedLog:
    """Logs one line per `key` at most every `every_s` seconds; the next line says how
    many were not logged in between."""

    def __init__(
        self,
        logger: logging.Logger,
        every_s: float = LOG_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.every_s = every_s
        self.clock = clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}

    def log(self, level: int, key: str, msg: str, *args: object) -> bool:
        """Log `msg % args` unless `key` was logged less than `every_s` ago; True when
        it was logged."""
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.every_s:
            self._quiet[key] = self._quiet.get(key, 0) + 1
            return False
        quiet = self._quiet.pop(key, 0)
        self._last[key] = now
        if quiet:
            msg += " (%d more like this in the last %.0f s)"
            args = (*args, quiet, now - (last or now))
        self.logger.log(level, msg, *args)
        return True

    def clear(self, key: str) -> None:
        """The condition ended: the next failure of this kind is logged at once."""
        self._last.pop(key, None)
        self._quiet.pop(key, None)

    def active(self) -> bool:
        """Whether any kind was logged since it was last cleared."""
        return bool(self._last)


def _storage_error(exc: BaseException) -> bool:
    """A failure that space (or a writable disk) may cure: retried, not reported per case."""
    return isinstance(exc, OSError | sqlite3.Error)


class CaseStore:
    """Writes a case's evidence, then the case to every local sink; what a full disk
    refuses waits in memory (`EvidenceSpool`, `HeldCases`) until `retry()` succeeds.

    A sink failing for another reason (a bug, a closed file) is counted in
    `sink_errors` and logged per case, as before: retrying would not help."""

    def __init__(
        self,
        evidence: EvidenceWriter,
        sinks: Sequence[CaseSink],
        sink_errors: Counter[str],
        *,
        spool: EvidenceSpool | None = None,
        held: HeldCases | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.evidence = evidence
        self.sinks = list(sinks)
        self.sink_errors = sink_errors
        self.spool = spool or EvidenceSpool()
        self.held = held or HeldCases()
        self.rlog = RateLimitedLog(log, clock=clock)
        self.outbox = next((s for s in self.sinks if isinstance(s, SqliteOutbox)), None)
        #: The second look of cases not yet in the outbox (by case id).
        self._looks: dict[str, Look] = {}
        #: Held cases whose evidence was given up before the case reached the outbox.
        self._lost: set[str] = set()
        self.evidence_failures = 0
        self.evidence_late = 0
        self.outbox_failures = 0
        self.cases_late = 0
        #: Called when the disk refused something (the daemon wakes retention).
        self.on_full: Callable[[], None] | None = None

    @property
    def backlog(self) -> int:
        """Cases and evidence waiting in memory for the disk."""
        return len(self.spool) + len(self.held)

    def stats(self) -> StorageStats:
        return StorageStats(
            evidence_pending=len(self.spool),
            evidence_pending_bytes=self.spool.bytes,
            evidence_write_failures=self.evidence_failures,
            evidence_written_late=self.evidence_late,
            evidence_dropped=self.spool.dropped,
            cases_held=len(self.held),
            cases_written_late=self.cases_late,
            cases_dropped=self.held.dropped,
            outbox_write_failures=self.outbox_failures,
        )

    # -- a new case ----------------------------------------------------------------------
    def write(
        self, case: DraftCase, pictures: list[EncodedPicture], look: Look | None = None
    ) -> bool:
        """Evidence first, then every sink. True when all of it reached the disk now.
        A case its second look holds (`look.hold`) goes to the outbox only."""
        if look is not None:
            self._looks[case.id] = look
        evidence_ok = True
        if pictures:
            try:
                self.evidence.store(pictures)
            except OSError as exc:
                evidence_ok = False
                self.evidence_failures += 1
                self.rlog.log(
                    logging.ERROR,
                    "evidence",
                    "case %s: evidence not written (%s); kept in memory (%d case(s) waiting),"
                    " retried every %.0f s",
                    case.id,
                    exc,
                    len(self.spool) + 1,
                    RETRY_S,
                )
                bound = f"over {self.spool.max_bytes // 2**20} MiB wait in memory"
                self._give_up(self.spool.add(case.id, pictures), bound)
        stored = self._to_sinks(case, held=False) and evidence_ok
        if not stored and self.on_full is not None:
            self.on_full()
        return stored

    def _to_sinks(self, case: DraftCase, *, held: bool) -> bool:
        """Write `case` to every local sink (idempotent by id); hold it when a sink's
        storage failed. True when every sink has it."""
        failed: BaseException | None = None
        look = self._looks.get(case.id)
        for sink in self.sinks:
            try:
                if isinstance(sink, SqliteOutbox):
                    state = self._evidence_state(case.id)
                    sink.write(case, evidence_state=state, look=look)
                elif look is None or not look.hold:
                    sink.write(case)
            except Exception as exc:
                if _storage_error(exc):
                    failed = exc
                    continue
                self.sink_errors[sink.name] += 1
                log.error("case %s: sink %s failed: %s", case.id, sink.name, exc)
        if failed is None:
            self._looks.pop(case.id, None)
            return True
        self.outbox_failures += 1
        if not held:
            dropped = self.held.add(case)
            self.rlog.log(
                logging.ERROR,
                "outbox",
                "case %s not stored (%s); held in memory (%d case(s) waiting, at most %d),"
                " retried every %.0f s",
                case.id,
                failed,
                len(self.held),
                self.held.max_cases,
                RETRY_S,
            )
            if dropped is not None:
                self._lost.discard(dropped.id)
                self.spool.done(dropped.id)
                self._looks.pop(dropped.id, None)
                log.error(
                    "case %s dropped: %d cases wait for the disk already (the oldest goes)",
                    dropped.id,
                    self.held.max_cases,
                )
        return False

    def _evidence_state(self, case_id: str) -> str:
        if case_id in self.spool:
            return "pending"
        return "lost" if case_id in self._lost else "written"

    def _give_up(self, case_ids: list[str], why: str) -> None:
        """Evidence dropped from memory: its case says so (`evidence_state = 'lost'`)."""
        if not case_ids:
            return
        log.error(
            "evidence of %d case(s) given up (%s): %s", len(case_ids), why, ", ".join(case_ids)
        )
        held = [c for c in case_ids if c in self.held]
        self._lost.update(held)
        written = [c for c in case_ids if c not in self.held]
        if self.outbox is not None and written:
            try:
                self.outbox.set_evidence_state(written, "lost")
            except sqlite3.Error as exc:  # the row says 'pending' until the next start
                log.warning("evidence state not recorded: %s", exc)

    # -- once space returns ------------------------------------------------------------
    def retry(self) -> bool:
        """Write held cases (oldest first), then pending evidence; stop at the first
        failure (the disk is still full). True when nothing waits any more."""
        for case in self.held.cases():
            if not self._to_sinks(case, held=True):
                return False
            self.held.done(case.id)
            self._lost.discard(case.id)
            self.cases_late += 1
        for case_id, pictures in self.spool.items():
            try:
                self.evidence.store(pictures)
                if self.outbox is not None:
                    self.outbox.set_evidence_state([case_id], "written", was="pending")
            except (OSError, sqlite3.Error):
                return False
            self.spool.done(case_id)
            self.evidence_late += 1
        if self.rlog.active():
            log.warning(
                "disk writable again: %d case(s) and the evidence of %d written late so far",
                self.cases_late,
                self.evidence_late,
            )
            self.rlog.clear("evidence")
            self.rlog.clear("outbox")
        return True

    def abandon(self) -> None:
        """At close, what still waits is lost: say so, and flag the evidence."""
        if self.held:
            log.error(
                "%d case(s) not stored (the disk stayed full): %s",
                len(self.held),
                ", ".join(c.id for c in self.held.cases()),
            )
        if self.spool:
            self._give_up([cid for cid, _ in self.spool.items()], "the disk stayed full")
