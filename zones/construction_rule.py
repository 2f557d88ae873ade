"""`illegal_construction` as a zone rule: survey the zone against a reference view.

The first settled frame of a (camera, preset) becomes the reference (saved under
`references/` in the output folder, reused after a restart) unless one exists. After
that, at most every `survey_interval_s` — and on each new PTZ visit of the preset — the
current view is aligned to the reference and compared (see construction.py); a change
present on `min_visits` visits spanning `min_span_h` hours becomes one event with a
before/after pair. Surveying costs ~70 ms, so it runs rarely, not per frame. It needs
colour (the colour-steel blue of new roofing, the before/after evidence), so a survey
takes the whole frame in BGR (`frame.image`); frames that are not surveyed are not
converted.

An operator who closes a construction case (or calls it a false alarm) with `--rebase`
leaves a request file next to the zone's reference (`request_rebase`,
docs/CASE_STATUS.md "Rebase"); at its next survey the rule takes the current view as
the new reference instead of comparing, and deletes the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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


@dataclass(frozen=True, slots=True)
class RebaseRequest:
    """An operator's request that a zone's current view become its reference."""

    case_id: str
    by: str
    at: str  # ISO 8601


def rebase_request_path(references: Path, camera_id: str, preset: str | None, zone_id: str) -> Path:
    """`<references>/<camera>_<preset or default>_<zone>.rebase.json`."""
    return references / f"{camera_id}_{preset or 'default'}_{zone_id}.rebase.json"


def request_rebase(
    references: Path,
    camera_id: str,
    preset: str | None,
    zone_id: str,
    *,
    case_id: str,
    by: str,
    at: datetime,
) -> Path:
    """Ask the zone's rule to take its current view as the reference at its next
    survey (written atomically; a newer request replaces an unconsumed one)."""
    path = rebase_request_path(references, camera_id, preset, zone_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    body = {"case_id": case_id, "by": by, "at": at.isoformat()}
    tmp.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def take_rebase_request(path: Path) -> RebaseRequest | None:
    """Read and delete a request file; None when there is none. An unreadable file is
    still a request (the operator's intent stands), with unknown details."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        text = ""
    path.unlink(missing_ok=True)
    try:
        data = json.loads(text)
        return RebaseRequest(str(data["case_id"]), str(data["by"]), str(data["at"]))
    except (ValueError, KeyError, TypeError):
        return RebaseRequest("?", "?", "?")


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"


def _shape(frame: Frame) -> tuple[int, int, int]:
    """The shape a reference image must have (the frame's, in BGR), without converting."""
    return (frame.height, frame.width, 3)


def _unusable(path: Path, image: np.ndarray | None, frame: Frame, action: str) -> None:
    """One warning for a reference file that cannot serve the frames (README,
    "Troubleshooting": a reference of the wrong size)."""
    frames = f"{frame.width}x{frame.height}"
    problem = "unreadable" if image is None else f"{_size(image)}, the frames {frames}"
    log.warning("%s: reference %s; %s", path, problem, action)


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
                    if image is not None and image.shape == _shape(frame):
                        watch.rebase(np.asarray(image, np.uint8), frame.captured_at)
                        log.info(
                            "camera %s zone %s: new reference from %s",
                            frame.camera_id,
                            self.zone.id,
                            path,
                        )
                    else:
                        _unusable(path, image, frame, "kept the old reference")
                    self._mtime[frame.preset] = mtime
            return watch
        image = cv2.imread(str(path)) if path is not None and path.is_file() else None
        if image is None or image.shape != _shape(frame):
            if path is not None and path.is_file():
                _unusable(path, image, frame, "taking the current view instead")
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
        if self._adopt_requested(frame):
            self._last[frame.preset] = now
            return []
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

    def _adopt_requested(self, frame: Frame) -> bool:
        """Consume an operator's rebase request for this zone and preset, if any: the
        current view becomes the reference (also for a preset not surveyed yet since
        the start: the stored reference is replaced, not compared against)."""
        if self.references is None:
            return False
        path = rebase_request_path(self.references, frame.camera_id, frame.preset, self.zone.id)
        if not path.exists():
            return False
        request = take_rebase_request(path)
        if request is None:
            return False
        if frame.preset not in self._watches:
            self._watches[frame.preset] = ConstructionWatch(
                self.settings,
                list(self.zone.polygon),
                np.asarray(frame.image, np.uint8),
                frame.captured_at,
            )
            self._save_reference(frame)
        else:
            self.rebase(frame)
        log.info(
            "camera %s zone %s: current view taken as the reference (case %s, by %s)",
            frame.camera_id,
            self.zone.id,
            request.case_id,
            request.by,
        )
        return True

    def _save_reference(self, frame: Frame) -> None:
        path = self._reference_path(frame)
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.jpg")
        cv2.imwrite(str(tmp), frame.image)
        tmp.replace(path)
        self._mtime[frame.preset] = path.stat().st_mtime  # not a new file to adopt again

    def rebase(self, frame: Frame) -> None:
        """After an operator rejects or closes a case: the current view is the reference."""
        watch = self._watches.get(frame.preset)
        if watch is not None:
            watch.rebase(frame.image, frame.captured_at)
            self._save_reference(frame)
