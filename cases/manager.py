"""Events → deduplicated `DraftCase`s with evidence → every configured sink.

An event at the place of an operator's false alarm makes no case (cases/false_alarms.py).

Dedup and the case record are decided at once on the caller's thread (the detector
thread in the daemon); drawing and encoding the evidence JPEGs and writing the sinks
happen on a writer thread, so a burst of cases never stalls analysis. The writer's
queue is bounded (`WRITE_QUEUE`): when it is full the caller waits, up to
`WRITE_WAIT_S`, then writes the case itself — a case is never dropped. `close()`
drains the queue before closing the sinks.

A full disk (docs/OPERATIONS.md "Retention and full disks"): the evidence is kept
encoded in memory and the case row written with `evidence_state = 'pending'`; a case the
outbox cannot store waits in memory (cases/spool.py: bounded, counted, oldest dropped
first). The writer retries both every `RETRY_S` seconds until the disk takes them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from lookout.base.errors import ConfigError
from lookout.cases.dedup import CaseDeduper
from lookout.cases.dedup_store import (
    DedupStore,
    Fence,
    PlaceRef,
    RedisDedupStore,
    SqliteDedupStore,
    StaleToken,
)
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.false_alarms import FalseAlarmFilter, RedisFalseAlarms
from lookout.cases.model import DraftCase, Location, case_id
from lookout.cases.second_look import Look, SecondLook
from lookout.cases.settings import (
    CasesSettings,
    CodeEntry,
    DedupStoreConfig,
    JsonlSinkConfig,
    SqliteSinkConfig,
)
from lookout.cases.sinks import CaseSink, SqliteOutbox, open_sink
from lookout.cases.spool import RETRY_S, CaseStore, StorageStats
from lookout.zones.events import ViolationEvent

log = logging.getLogger(__name__)

#: Writer-thread work: a new case with its picture, a repeat sighting of a case, or a
#: sighting at the place of a false alarm (not proposed).
_Write = (
    tuple[Literal["new"], DraftCase, ViolationEvent]
    | tuple[Literal["seen"], str, datetime, float]
    | tuple[Literal["suppressed"], str, datetime]
)


def open_dedup_store(store: DedupStoreConfig, out_dir: Path) -> DedupStore:
    if store.type == "redis":
        if not store.url:
            raise ConfigError("dedup.store.url: needed for a redis dedup store")
        return RedisDedupStore.open(store.url, ssl_ca_certs=store.ssl_ca_certs)
    path = Path(store.path)
    return SqliteDedupStore.open(path if path.is_absolute() else out_dir / path)


#: Cases waiting for their evidence and sinks (each holds a frame: keep it small).
WRITE_QUEUE = 32
WRITE_WAIT_S = 5.0


class CaseManager:
    """Turns violation events into draft cases, once per real-world case."""

    def __init__(
        self,
        codes: dict[str, CodeEntry],
        deduper: CaseDeduper,
        evidence: EvidenceWriter,
        sinks: list[CaseSink],
        tz: tzinfo,
        places: DedupStore | None = None,
        radius_m: float = 5.0,
        false_alarms: FalseAlarmFilter | None = None,
    ) -> None:
        """`places` anchors cases on the ground (events with a location): one case per
        type within `radius_m` and the dedup cooldown, across cameras and restarts.
        `false_alarms`: places operators called false alarms, where no case is made."""
        self.codes = codes
        self.deduper = deduper
        self.evidence = evidence
        self.sinks = sinks
        self.tz = tz
        self.places = places
        self.radius_m = radius_m
        self.emitted: Counter[str] = Counter()
        self.merged = 0
        self.false_alarms = false_alarms
        #: Events not proposed because they fell at the place of a false alarm.
        self.suppressed = 0
        self.sink_errors: Counter[str] = Counter()
        #: The most recent cases (bounded: the daemon runs for months).
        self.cases: deque[DraftCase] = deque(maxlen=1000)
        self._pending: queue.Queue[_Write | None] = queue.Queue(WRITE_QUEUE)
        self._writer: threading.Thread | None = None
        #: Called after a new case reached the sinks (wakes the delivery worker).
        self.on_written: Callable[[], None] | None = None
        self._lock = threading.Lock()
        #: Evidence and sinks, with what a full disk refused waiting in memory.
        self.store = CaseStore(evidence, sinks, self.sink_errors)
        #: Seconds between attempts to write what waits for the disk.
        self.retry_s = RETRY_S
        self._io = threading.RLock()  # the writer thread, or the caller when it is behind
        self._next_retry = 0.0
        #: Several boxes (lookout/fleet/agent.py): the lease a camera is held under, None when
        #: this box does not hold it. Every new case is fenced by the Redis dedup store.
        self.fence: Callable[[str], Fence | None] | None = None
        #: Cases not made because the camera's lease was not (or no longer) this box's.
        self.fenced = 0
        #: Embeds each new case and holds what its fit scores as a false alarm
        #: (cases/second_look.py); None: off.
        self.second_look: SecondLook | None = None
        #: Cases held by the second look, and cases it scored, by type (metrics).
        self.held: Counter[str] = Counter()
        self.scored: Counter[str] = Counter()

    @classmethod
    def open(cls, cfg: CasesSettings) -> CaseManager:
        """Open the local sinks and the dedup store under `cfg.out_dir`."""
        out_dir = Path(cfg.out_dir)
        sinks: list[CaseSink] = []
        try:
            for sink_cfg in cfg.sinks:
                # Remote sinks (Redis Streams, webhook) are fed from the outbox by the
                # delivery worker, never on the analysis path.
                if isinstance(sink_cfg, SqliteSinkConfig | JsonlSinkConfig):
                    sinks.append(open_sink(sink_cfg, out_dir))
        except BaseException:
            for s in sinks:
                s.close()
            raise
        places = open_dedup_store(cfg.dedup.store, out_dir)
        outbox = next((s for s in sinks if isinstance(s, SqliteOutbox)), None)
        if isinstance(places, RedisDedupStore) and outbox is not None:
            # Redis restarted empty: the open cases are written back (no second case).
            places.reseed_from(outbox.fetch, cfg.dedup.cooldown_s)
        false_alarms = FalseAlarmFilter(
            window_s=cfg.dedup.false_alarm_s,
            radius_m=cfg.dedup.store.radius_m,
            iou=cfg.dedup.iou,
            outbox=outbox,
            shared=RedisFalseAlarms(places.r, cfg.dedup.false_alarm_s, places.prefix)
            if isinstance(places, RedisDedupStore)
            else None,
        )
        try:
            false_alarms.refresh(force=True)  # the verdicts of earlier runs
        except Exception as exc:
            log.warning("false alarms not read from the outbox (%s); retrying later", exc)
        if outbox is not None:
            try:  # evidence an earlier run held in memory when it stopped is gone
                if lost := outbox.mark_stale_pending():
                    log.warning("%d case(s) of an earlier run lost their evidence", lost)
            except Exception as exc:
                log.warning("evidence states not checked (%s)", exc)
        return cls(
            codes=dict(cfg.codes),
            deduper=CaseDeduper(cooldown_s=cfg.dedup.cooldown_s, iou=cfg.dedup.iou),
            evidence=EvidenceWriter(
                out_dir,
                jpeg_quality=cfg.evidence.jpeg_quality,
                crop_margin=cfg.evidence.crop_margin,
                blur=tuple(cfg.evidence.blur),
                dataset_quality=cfg.dataset.jpeg_quality if cfg.dataset.keep else None,
                language=cfg.language,
                font=cfg.evidence.font,
                codes={k: v.code for k, v in cfg.codes.items()},
            ),
            sinks=sinks,
            tz=ZoneInfo(cfg.timezone),
            places=places,
            radius_m=cfg.dedup.store.radius_m,
            false_alarms=false_alarms,
        )

    def handle(
        self, event: ViolationEvent, evidence_source: ViolationEvent | None = None
    ) -> DraftCase | None:
        """Dedup the event; for a new case write evidence and deliver it to the sinks.

        `evidence_source` is the same event drawn on another picture (e.g. the camera's
        high-resolution main stream while the sub-stream is analysed).
        """
        if self._at_false_alarm(event):
            return None
        if event.location is not None and self.places is not None:
            try:
                if self._merge_on_ground(event):
                    return None
            except Exception as exc:  # e.g. Redis down: image-space dedup still holds
                log.warning("place dedup unavailable (%s); using image-space dedup", exc)
        existing = self.deduper.match(event)
        if existing is not None:
            self.deduper.touch(existing, event)
            self.merged += 1
            log.debug("event merged into case %s", existing.case_id)
            return None
        cid = case_id(event)
        fence = None
        if self.fence is not None:
            fence = self.fence(event.camera_id)
            if fence is None or not self._fence_holds(fence, event):
                self.fenced += 1
                log.warning("camera %s: lease not held; case %s not made", event.camera_id, cid)
                return None
        if event.location is not None and self.places is not None:
            try:
                claimed = self.places.claim(
                    self._place(cid, event),
                    self.radius_m,
                    self.deduper.cooldown.total_seconds(),
                    fence,
                )
            except StaleToken as exc:
                self.fenced += 1
                log.warning("camera %s: case %s not made: %s", event.camera_id, cid, exc)
                return None
            except Exception as exc:
                if fence is not None:  # fenced: no commit without the check (fail closed)
                    self.fenced += 1
                    log.warning("place claim failed (%s); case %s not made", exc, cid)
                    return None
                log.warning("place dedup unavailable (%s); case %s not anchored", exc, cid)
                claimed = True
            if not claimed:  # another camera or box proposed this place just now
                self.merged += 1
                return None
        code = self.codes[event.type]
        case = DraftCase(
            id=cid,
            type=event.type,  # type: ignore[arg-type]
            code=code.code,
            code_name=code.name,
            camera_id=event.camera_id,
            preset=event.preset,
            zone_id=event.zone_id,
            grid_code=event.grid_code,
            grid_unit=event.grid_unit,
            location=Location(lon=event.location[0], lat=event.location[1])
            if event.location
            else None,
            first_seen=event.first_seen.astimezone(self.tz),
            confirmed_at=event.confirmed_at.astimezone(self.tz),
            last_seen=event.confirmed_at.astimezone(self.tz),
            dwell_s=event.dwell_s,
            bbox=[round(v, 1) for v in event.bbox],
            confidence=event.confidence,
            track_id=event.track_id,
            object_class=event.class_name,
            subtype=event.subtype,
            support=list(event.support),
            count=event.count,
            evidence=self.evidence.paths(cid, pair=event.before is not None),
        )
        self.deduper.remember(cid, event)
        self.emitted[case.type] += 1
        self.cases.append(case)
        self._submit(("new", case, evidence_source or event))
        return case

    def _fence_holds(self, fence: Fence, event: ViolationEvent) -> bool:
        """A case without a ground position is fenced on its own (a located one is
        fenced by its claim, in the same script); any failure refuses it."""
        if event.location is not None and self.places is not None:
            return True
        if not isinstance(self.places, RedisDedupStore):
            return False
        try:
            self.places.check_fence(fence)
        except Exception as exc:  # StaleToken, or Redis unreachable: fail closed
            log.debug("fence check: %s", exc)
            return False
        return True

    def _at_false_alarm(self, event: ViolationEvent) -> bool:
        """The event falls at the place of a false alarm within its quiet period: count
        it, record the sighting (the quiet period runs on from it), make no case."""
        if self.false_alarms is None:
            return False
        try:
            self.false_alarms.refresh()  # verdicts recorded since (console, CLI)
            alarm = self.false_alarms.match(event)
        except Exception as exc:  # a locked outbox: the event goes on as usual
            log.warning("false alarm check unavailable (%s)", exc)
            return False
        if alarm is None:
            return False
        self.suppressed += 1
        log.info(
            "%s at camera %s zone %s not proposed: false alarm %s at this place",
            event.type,
            event.camera_id,
            event.zone_id,
            alarm.case_id,
        )
        self._submit(("suppressed", alarm.case_id, event.confirmed_at.astimezone(self.tz)))
        return True

    def _place(self, cid: str, event: ViolationEvent) -> PlaceRef:
        assert event.location is not None
        return PlaceRef(
            cid,
            event.type,
            event.location[0],
            event.location[1],
            event.camera_id,
            event.first_seen.timestamp(),
            event.confirmed_at.timestamp(),
        )

    def _merge_on_ground(self, event: ViolationEvent) -> bool:
        """A case of this type near this ground point within the cooldown: update it."""
        assert self.places is not None and event.location is not None
        t = event.confirmed_at.timestamp()
        found = self.places.find_near(
            event.type,
            event.location[0],
            event.location[1],
            self.radius_m,
            t - self.deduper.cooldown.total_seconds(),
        )
        if found is None:
            return False
        self.places.touch(found.case_id, t)
        self.merged += 1
        # Dwell is anchored to the place: it runs from the first sighting there.
        seen: _Write = (
            "seen",
            found.case_id,
            event.confirmed_at.astimezone(self.tz),
            t - found.first_seen,
        )
        self._submit(seen)
        log.debug("event at %s merged into case %s", event.location, found.case_id)
        return True

    # -- writing -------------------------------------------------------------------------
    def _submit(self, item: _Write) -> None:
        with self._lock:
            if self._writer is None:
                # A daemon thread: `close()` drains it; it never keeps a dying process up.
                self._writer = threading.Thread(
                    target=self._write_loop, name="case-writer", daemon=True
                )
                self._writer.start()
        try:
            self._pending.put(item, timeout=WRITE_WAIT_S)
        except queue.Full:
            log.warning("case writer behind; writing on the caller's thread")
            self._apply(item)

    def _write_loop(self) -> None:
        while True:
            wait = None
            if self.store.backlog:  # wake up to retry even when no case comes
                wait = max(0.0, self._next_retry - time.monotonic())
            try:
                item = self._pending.get(timeout=wait)
            except queue.Empty:
                pass  # time to retry
            else:
                if item is None:
                    return
                self._apply(item)
            if self.store.backlog and time.monotonic() >= self._next_retry:
                self.retry()

    def retry(self) -> bool:
        """Write what waits in memory for the disk (the writer thread calls this every
        `retry_s` while anything waits). True when nothing waits any more."""
        with self._io:
            before = self.store.cases_late
            done = self.store.retry()
            self._next_retry = time.monotonic() + self.retry_s
        if self.store.cases_late > before and self.on_written is not None:
            self.on_written()
        return done

    def storage_stats(self) -> StorageStats:
        """What waits in memory for the disk, and the write failures (metrics)."""
        return self.store.stats()

    def _apply(self, item: _Write) -> None:
        with self._io:
            if item[0] == "new":
                self._write(item[1], item[2])
                return
            cid = item[1]
            for sink in self.sinks:
                try:
                    if item[0] == "seen" and hasattr(sink, "update_sighting"):
                        sink.update_sighting(cid, item[2], round(item[3], 3))
                    elif item[0] == "suppressed" and isinstance(sink, SqliteOutbox):
                        sink.note_suppressed(cid, item[2])
                except Exception as exc:
                    self.sink_errors[sink.name] += 1
                    self.store.rlog.log(
                        logging.ERROR,
                        f"update-{sink.name}",
                        "case %s: sink %s update failed: %s",
                        cid,
                        sink.name,
                        exc,
                    )

    def _write(self, case: DraftCase, picture: ViolationEvent) -> None:
        """Evidence first, then every sink (a failing sink does not stop the others);
        what a full disk refuses waits in memory (`self.store`)."""
        try:
            pictures = self.evidence.encode(case.id, picture)
        except OSError as exc:  # the picture cannot be encoded: the case goes without
            log.error("case %s: evidence not encoded: %s", case.id, exc)
            pictures = []
            case = case.model_copy(update={"evidence": []})
        look = self._look(case, picture)
        if not self.store.write(case, pictures, look) and self._next_retry <= time.monotonic():
            self._next_retry = time.monotonic() + self.retry_s
        if self.on_written is not None:
            self.on_written()

    def _look(self, case: DraftCase, picture: ViolationEvent) -> Look | None:
        """The second look at a new case (on the writer thread: one backbone run)."""
        if self.second_look is None:
            return None
        try:
            look = self.second_look.look_at(case.type, picture.frame, picture.bbox)
        except Exception as exc:  # never lose a case to the second look
            log.warning("case %s: no second look (%s)", case.id, exc)
            return None
        if look.score is not None:
            self.scored[case.type] += 1
        if look.hold:
            self.held[case.type] += 1
            log.info(
                "case %s (%s, camera %s) held by the second look: false-alarm score %.2f"
                " (threshold %.2f); release it in the console or with `lookout cases release`",
                case.id,
                case.type,
                case.camera_id,
                look.score,
                self.second_look.threshold,
            )
        return look

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every submitted case is written; False on timeout."""
        with self._lock:
            writer = self._writer
            self._writer = None
        if writer is None:
            return True
        try:
            self._pending.put(None, timeout=timeout)
        except queue.Full:
            return False
        writer.join(timeout)
        return not writer.is_alive()

    def close(self) -> None:
        if not self.flush():
            log.error("case writer did not finish in time; some cases may be unwritten")
        if self.store.backlog and not self.retry():  # a last try before what waits is lost
            self.store.abandon()
        if self.places is not None:
            self.places.close()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.error("sink %s did not close cleanly: %s", sink.name, exc)
