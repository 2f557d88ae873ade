"""Events → deduplicated `DraftCase`s with evidence → every configured sink."""

from __future__ import annotations

import logging
from collections import Counter, deque
from datetime import tzinfo
from pathlib import Path

from cases.dedup import CaseDeduper
from cases.evidence import EvidenceWriter
from cases.model import DraftCase, case_id
from cases.sinks import CaseSink, open_sink
from lookout.config import AppConfig, CodeEntry
from zones.events import ViolationEvent

log = logging.getLogger(__name__)


class CaseManager:
    """Turns violation events into draft cases, once per real-world case."""

    def __init__(
        self,
        codes: dict[str, CodeEntry],
        deduper: CaseDeduper,
        evidence: EvidenceWriter,
        sinks: list[CaseSink],
        tz: tzinfo,
    ) -> None:
        self.codes = codes
        self.deduper = deduper
        self.evidence = evidence
        self.sinks = sinks
        self.tz = tz
        self.emitted: Counter[str] = Counter()
        self.merged = 0
        self.sink_errors: Counter[str] = Counter()
        #: The most recent cases (bounded: the daemon runs for months).
        self.cases: deque[DraftCase] = deque(maxlen=1000)

    @classmethod
    def from_config(cls, cfg: AppConfig, out_dir: Path) -> CaseManager:
        sinks: list[CaseSink] = []
        try:
            for sink_cfg in cfg.sinks:
                sinks.append(open_sink(sink_cfg, out_dir))
        except BaseException:
            for s in sinks:
                s.close()
            raise
        return cls(
            codes={str(k): v for k, v in cfg.codes.items()},
            deduper=CaseDeduper(cooldown_s=cfg.dedup.cooldown_s, iou=cfg.dedup.iou),
            evidence=EvidenceWriter(
                out_dir,
                jpeg_quality=cfg.evidence.jpeg_quality,
                crop_margin=cfg.evidence.crop_margin,
            ),
            sinks=sinks,
            tz=cfg.site.tz,
        )

    def handle(
        self, event: ViolationEvent, evidence_source: ViolationEvent | None = None
    ) -> DraftCase | None:
        """Dedup the event; for a new case write evidence and deliver it to the sinks.

        `evidence_source` is the same event drawn on another picture (e.g. the camera's
        high-resolution main stream while the sub-stream is analysed).
        """
        existing = self.deduper.match(event)
        if existing is not None:
            self.deduper.touch(existing, event)
            self.merged += 1
            log.debug("event merged into case %s", existing.case_id)
            return None
        cid = case_id(event)
        try:
            evidence = self.evidence.write(cid, evidence_source or event)
        except OSError as exc:
            log.error("case %s: evidence not written: %s", cid, exc)
            evidence = []
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
            first_seen=event.first_seen.astimezone(self.tz),
            confirmed_at=event.confirmed_at.astimezone(self.tz),
            last_seen=event.confirmed_at.astimezone(self.tz),
            dwell_s=event.dwell_s,
            bbox=[round(v, 1) for v in event.bbox],
            confidence=event.confidence,
            track_id=event.track_id,
            object_class=event.class_name,
            support=list(event.support),
            evidence=evidence,
        )
        self.deduper.remember(cid, event)
        for sink in self.sinks:
            try:
                sink.write(case)
            except Exception as exc:  # one failing sink must not stop the others
                self.sink_errors[sink.name] += 1
                log.error("case %s: sink %s failed: %s", cid, sink.name, exc)
        self.emitted[case.type] += 1
        self.cases.append(case)
        return case

    def close(self) -> None:
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                log.error("sink %s did not close cleanly: %s", sink.name, exc)
