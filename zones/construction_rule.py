"""`illegal_construction` as a zone rule: survey the zone against a reference view.

The first settled frame of a (camera, preset) becomes the reference (saved under
`references/` in the output folder, reused after a restart) unless one exists. After
that, at most every `survey_interval_s` — and on each new PTZ visit of the preset — the
current view is aligned to the reference and compared (see construction.py); a change
present on `min_visits` visits spanning `min_span_h` hours becomes one event with a
before/after pair. Surveying costs ~70 ms, so it runs rarely, not per frame.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.construction import ConstructionSettings, ConstructionWatch
from lookout.zones.events import RuleContext, ViolationEvent, make_event, register
from lookout.zones.policies import ConstructionPolicy

log = logging.getLogger(__name__)

#: Share of the changed box in colour-steel blue that names the roofing as support.
BLUE_SUPPORT = 0.3


@register("illegal_construction")
class ConstructionRule:
    """One construction-watch zone of one camera (its presets each get a watch).

    Reference files are handled here only (`_watch`), and read only when a survey is
    due: the first frame of a preset, then at most every `survey_interval_s`."""

    def __init__(self, policy: ConstructionPolicy, ctx: RuleContext) -> None:
        self.zone = ctx.zone
        self.policy = policy
        self.references = ctx.references
        self.class_names = ctx.class_names
        self.backing_ids = ctx.class_ids(policy.classes, f"{ctx.where}.classes")
        self.settings = ConstructionSettings(
            min_visits=policy.min_visits, min_span_h=policy.min_span_h
        )
        self._watches: dict[str | None, ConstructionWatch] = {}
        self._last: dict[str | None, float] = {}
        self._mtime: dict[str | None, float] = {}

    def _reference_path(self, frame: Frame) -> Path | None:
        if self.references is None:
            return None
        name = f"{frame.camera_id}_{frame.preset or 'default'}_{self.zone.id}.jpg"
        return self.references / name

    def _watch(self, frame: Frame) -> ConstructionWatch | None:
        watch = self._watches.get(frame.preset)
        path = self._reference_path(frame)
        if watch is not None:
            # A new reference file (`lookout reference capture`, e.g. after an operator
            # rejected or closed a case) replaces the old reference at the next survey.
            if path is not None and path.is_file():
                mtime = path.stat().st_mtime
                if mtime != self._mtime.get(frame.preset):
                    image = cv2.imread(str(path))
                    if image is not None and image.shape == frame.image.shape:
                        watch.rebase(np.asarray(image, np.uint8), frame.captured_at)
                        log.info(
                            "camera %s zone %s: new reference from %s",
                            frame.camera_id,
                            self.zone.id,
                            path,
                        )
                    self._mtime[frame.preset] = mtime
            return watch
        image = cv2.imread(str(path)) if path is not None and path.is_file() else None
        if image is None or image.shape != frame.image.shape:
            image = frame.image
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), image)
            log.info("camera %s zone %s: reference view taken", frame.camera_id, self.zone.id)
        if path is not None and path.is_file():
            self._mtime[frame.preset] = path.stat().st_mtime
        self._watches[frame.preset] = ConstructionWatch(
            self.settings,
            list(self.zone.polygon),
            np.asarray(image, np.uint8),
            frame.captured_at,
        )
        self._last[frame.preset] = frame.captured_at.timestamp()
        return None  # the reference frame itself is not a survey

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
    ) -> list[ViolationEvent]:
        # Surveys and persistence span days and restarts: they run on the wall clock
        # (docs/ARCHITECTURE.md, Time), not on the engine's monotonic `t`.
        now = frame.captured_at.timestamp()
        known = frame.preset in self._watches
        if known and now - self._last.get(frame.preset, 0.0) < self.policy.survey_interval_s:
            return []  # not due: no file is touched
        watch = self._watch(frame)
        if watch is None:
            return []
        self._last[frame.preset] = now
        ev = watch.observe(frame.image, frame.captured_at)
        if ev is None:
            return []
        support = ["blue_roofing"] if ev.blue_fraction >= BLUE_SUPPORT else []
        confidence = ev.confidence
        seen = self._detected_classes(dets, ev.bbox)
        if seen:  # a custom model's construction classes (e.g. scaffold) back the change
            support += seen
            confidence = min(1.0, confidence + 0.1)
        return [
            make_event(
                frame,
                self.zone,
                "illegal_construction",
                track_id=0,
                class_name="structure",
                bbox=(float(ev.bbox[0]), float(ev.bbox[1]), float(ev.bbox[2]), float(ev.bbox[3])),
                confidence=confidence,
                dwell_s=round((ev.confirmed_at - ev.first_seen).total_seconds(), 1),
                first_seen=ev.first_seen,
                support=tuple(support),
                before=ev.before,
                after=ev.after,
            )
        ]

    def _detected_classes(
        self, dets: Detections, bbox: tuple[float, float, float, float]
    ) -> list[str]:
        """Policy classes or roles (e.g. scaffold, structure) detected over the change."""
        if self.backing_ids.size == 0 or len(dets) == 0:
            return []
        ok = np.isin(dets.class_id, self.backing_ids) & (
            dets.confidence >= self.policy.min_confidence
        )
        sel = dets[ok]
        x1, y1, x2, y2 = bbox
        over = (
            (sel.xyxy[:, 0] < x2)
            & (sel.xyxy[:, 2] > x1)
            & (sel.xyxy[:, 1] < y2)
            & (sel.xyxy[:, 3] > y1)
        )
        return sorted({self.class_names[int(c)] for c in sel.class_id[over]})

    def rebase(self, frame: Frame) -> None:
        """After an operator rejects or closes a case: the current view is the reference."""
        watch = self._watches.get(frame.preset)
        if watch is not None:
            watch.rebase(frame.image, frame.captured_at)
            path = self._reference_path(frame)
            if path is not None:
                cv2.imwrite(str(path), frame.image)
