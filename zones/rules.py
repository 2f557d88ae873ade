"""Zone rules of one camera: geofence tracked detections and decide violations.

Rules implemented here:
- `illegal_parking`: a vehicle (policy classes, e.g. car/truck/bus/motorcycle) stays
  stationary inside a no-parking zone for at least `dwell_s`.
- `street_vendor` (first version): a person stays stationary inside a no-vending zone
  for at least `dwell_s` outside the zone's allowed windows; stall objects
  (`support_classes`, e.g. umbrella) near the person raise the case confidence.

The geofencing point is the bottom-centre of the box; an object counts as inside after
`inertia_frames` consecutive analysed frames.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta, tzinfo
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

from lookout.config import CameraConfig, PolicyConfig, ZoneConfig
from lookout.detector.detections import Detections
from lookout.errors import ConfigError
from lookout.streams.frame import Frame
from lookout.zones.construction_rule import ConstructionRule
from lookout.zones.dwell import DwellBook
from lookout.zones.events import ViolationEvent
from lookout.zones.vendors import TrackedObject, VendorGrouper, VendorSettings

#: How far (in box heights) a support object may be from the object it backs.
SUPPORT_RADIUS = 1.5
#: Confidence added per distinct support class found, capped at 1.
SUPPORT_BONUS = 0.15
#: Live frame times are arrival times, which jitter by tens of milliseconds: a dwell
#: this much short of the threshold counts, so a 20 s dwell analysed at 1 frame/s
#: fires on the 20th second, not one frame later (docs/ARCHITECTURE.md, "Time").
DWELL_JITTER_S = 0.1


@dataclass(frozen=True, slots=True)
class ZoneRuleSettings:
    """Timing knobs shared by all rules of a camera.

    `forget_after_s` is the tracker's `lost_track_buffer_s`: a track unseen longer has
    been dropped by the tracker (ids are never reused), so its stop moves to the place
    memory at once, where a new track on the same spot takes it over (a long I-frame
    interval, a reconnect, a PTZ revisit keep the dwell)."""

    forget_after_s: float = 5.0
    place_memory_s: float = 120.0
    place_iou: float = 0.5


class _ZoneRule:
    """What every object rule of a zone holds: the zone, its policy, the prepared
    polygon and the model class ids it watches."""

    def __init__(
        self, zone: ZoneConfig, policy: PolicyConfig, class_ids: np.ndarray, support_ids: np.ndarray
    ) -> None:
        self.zone = zone
        self.policy = policy
        self.polygon = Polygon(zone.polygon)
        shapely.prepare(self.polygon)
        self.class_ids = class_ids
        self.support_ids = support_ids


class _PolicyRule(_ZoneRule):
    """One dwell policy of one zone (parking), with its object states."""

    def __init__(
        self,
        zone: ZoneConfig,
        policy: PolicyConfig,
        class_ids: np.ndarray,
        support_ids: np.ndarray,
        settings: ZoneRuleSettings,
    ) -> None:
        super().__init__(zone, policy, class_ids, support_ids)
        self.book = DwellBook(
            forget_after_s=settings.forget_after_s,
            place_memory_s=settings.place_memory_s,
            place_iou=settings.place_iou,
        )

    def update(
        self,
        frame: Frame,
        t: float,
        dets: Detections,
        class_names: list[str],
        tz: tzinfo,
        born: Mapping[int, float] | None = None,
    ) -> list[ViolationEvent]:
        mask = (
            np.isin(dets.class_id, self.class_ids)
            & (dets.confidence >= self.policy.min_confidence)
            & (dets.tracker_id >= 0)
        )
        watched = dets[mask]
        points = watched.bottom_center()
        inside = shapely.contains_xy(self.polygon, points[:, 0], points[:, 1])
        events: list[ViolationEvent] = []
        allowed = _allowed(self.policy, frame, tz)
        for i in range(len(watched)):
            bbox = tuple(float(v) for v in watched.xyxy[i])
            box = (bbox[0], bbox[1], bbox[2], bbox[3])
            tid = int(watched.tracker_id[i])
            state = self.book.get(tid, box)
            state.observe(
                t,
                (float(points[i, 0]), float(points[i, 1])),
                box,
                float(watched.confidence[i]),
                bool(inside[i]),
                self.policy.stationary_radius,
                born=None if born is None else born.get(tid),
            )
            self.book.settle(state, t, self.policy.stationary_radius)
            if state.fired or state.inside_streak < self.zone.inertia_frames or allowed:
                continue
            dwell = state.dwell(t)
            if dwell < self.policy.dwell_s - DWELL_JITTER_S or state.stationary_since is None:
                continue
            state.fired = True
            support = self._support(dets, box, class_names)
            conf = float(np.median(state.confidences)) if state.confidences else 0.0
            conf = min(1.0, conf + SUPPORT_BONUS * len(support))
            events.append(
                ViolationEvent(
                    type=self.policy.type,
                    camera_id=frame.camera_id,
                    preset=frame.preset,
                    zone_id=self.zone.id,
                    grid_code=self.zone.grid_code,
                    track_id=state.track_id,
                    class_name=class_names[int(watched.class_id[i])],
                    bbox=box,
                    confidence=round(conf, 4),
                    first_seen=frame.captured_at - timedelta(seconds=dwell),
                    confirmed_at=frame.captured_at,
                    dwell_s=round(dwell, 3),
                    support=support,
                    polygon=tuple((float(x), float(y)) for x, y in self.zone.polygon),
                    frame=frame,
                )
            )
        self.book.expire(t)
        return events

    def _support(
        self, dets: Detections, box: tuple[float, float, float, float], class_names: list[str]
    ) -> tuple[str, ...]:
        if self.support_ids.size == 0 or len(dets) == 0:
            return ()
        sel = dets[np.isin(dets.class_id, self.support_ids)]
        if len(sel) == 0:
            return ()
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        radius = SUPPORT_RADIUS * max(1.0, box[3] - box[1])
        centres = (sel.xyxy[:, :2] + sel.xyxy[:, 2:]) / 2
        near = np.hypot(centres[:, 0] - cx, centres[:, 1] - cy) <= radius
        return tuple(sorted({class_names[int(c)] for c in sel.class_id[near]}))


class _VendorRule(_ZoneRule):
    """`street_vendor`: a stall is a group of stationary people with stall objects
    (`support_classes`, e.g. umbrella, cart) inside the zone, outside its allowed hours;
    one event per stall, fixed stalls and roaming vendors told apart (see vendors.py)."""

    def __init__(
        self, zone: ZoneConfig, policy: PolicyConfig, class_ids: np.ndarray, support_ids: np.ndarray
    ) -> None:
        super().__init__(zone, policy, class_ids, support_ids)
        self.grouper = VendorGrouper(
            VendorSettings(
                dwell_s=policy.dwell_s,
                require_stall_objects=policy.require_stall_objects,
                # The grouper drops stall objects outside `stall_classes` (default
                # umbrella only): give it the policy's own stall classes.
                stall_classes=tuple(policy.support_classes),
                stationary_radius=policy.stationary_radius,
            )
        )

    def update(
        self,
        frame: Frame,
        t: float,
        dets: Detections,
        class_names: list[str],
        tz: tzinfo,
        born: Mapping[int, float] | None = None,
    ) -> list[ViolationEvent]:
        ok = (dets.confidence >= self.policy.min_confidence) & (dets.tracker_id >= 0)
        points = dets.bottom_center()
        inside = shapely.contains_xy(self.polygon, points[:, 0], points[:, 1])
        people_mask = ok & inside & np.isin(dets.class_id, self.class_ids)
        stall_mask = ok & np.isin(dets.class_id, self.support_ids)

        def objects(mask: np.ndarray, kind: str | None) -> list[TrackedObject]:
            """Tracked objects of `mask`, named `kind`, or their own class when None."""
            sel = dets[mask]
            return [
                TrackedObject(
                    int(sel.tracker_id[i]),
                    kind if kind is not None else class_names[int(sel.class_id[i])],
                    tuple(float(v) for v in sel.xyxy[i]),  # type: ignore[arg-type]
                    float(sel.confidence[i]),
                )
                for i in range(len(sel))
            ]

        allowed = _allowed(self.policy, frame, tz)
        found = self.grouper.update(
            t, objects(people_mask, "person"), objects(stall_mask, None), allowed
        )
        return [
            ViolationEvent(
                type=self.policy.type,
                camera_id=frame.camera_id,
                preset=frame.preset,
                zone_id=self.zone.id,
                grid_code=self.zone.grid_code,
                track_id=ev.track_id,
                class_name="person",
                bbox=ev.bbox,
                confidence=round(ev.confidence, 4),
                first_seen=frame.captured_at - timedelta(seconds=ev.dwell_s),
                confirmed_at=frame.captured_at,
                dwell_s=round(ev.dwell_s, 3),
                support=ev.stall_classes,  # this stall's objects, not every one in view
                polygon=tuple((float(x), float(y)) for x, y in self.zone.polygon),
                frame=frame,
                subtype=ev.kind,
            )
            for ev in found
        ]


def _allowed(policy: PolicyConfig, frame: Frame, tz: tzinfo) -> bool:
    local = frame.captured_at.astimezone(tz).time()
    return any(w.contains(local) for w in policy.allowed)


class ZoneEngine:
    """All zone policies of one camera. Feed it tracked detections frame by frame."""

    def __init__(
        self,
        camera: CameraConfig,
        class_names: list[str],
        tz: tzinfo,
        settings: ZoneRuleSettings | None = None,
        references: Path | None = None,
    ) -> None:
        """`references`: folder for construction reference views (None: memory only)."""
        self.camera = camera
        self.class_names = class_names
        self.tz = tz
        settings = settings or ZoneRuleSettings()
        index = {name: i for i, name in enumerate(class_names)}
        self.rules: list[_PolicyRule | _VendorRule | ConstructionRule] = []
        for zi, zone in enumerate(camera.zones):
            for pi, policy in enumerate(zone.policies):
                where = f"cameras[{camera.id}].zones[{zi}].policies[{pi}]"
                ids = _class_ids(policy.classes, index, f"{where}.classes")
                support = _class_ids(policy.support_classes, index, f"{where}.support_classes")
                if policy.type == "illegal_construction":
                    self.rules.append(ConstructionRule(zone, policy, references))
                elif policy.type == "street_vendor":
                    self.rules.append(_VendorRule(zone, policy, ids, support))
                else:
                    self.rules.append(_PolicyRule(zone, policy, ids, support, settings))

    def update(
        self, frame: Frame, dets: Detections, born: Mapping[int, float] | None = None
    ) -> list[ViolationEvent]:
        """Run every rule whose zone belongs to the frame's preset; return new events.

        `born`: the time each track id was first detected, before the tracker confirmed
        it; a stop starts then, not one or two analysed frames later."""
        # Durations run on the frame's monotonic axis: footage time in replay, the
        # monotonic clock live; never wall-clock differences (docs/ARCHITECTURE.md, Time).
        t = frame.monotonic_s
        events: list[ViolationEvent] = []
        for rule in self.rules:
            if rule.zone.preset is not None and rule.zone.preset != frame.preset:
                continue
            events.extend(rule.update(frame, t, dets, self.class_names, self.tz, born))
        return events


def _class_ids(names: list[str], index: dict[str, int], where: str) -> np.ndarray:
    missing = [n for n in names if n not in index]
    if missing:
        raise ConfigError(f"{where}: class {missing[0]!r} is unknown to the model")
    return np.array([index[n] for n in names], dtype=np.int32)


def validate_classes(cameras: list[CameraConfig], class_names: list[str]) -> None:
    """Check every class named in the zones exists in the model (raises ConfigError)."""
    index = {name: i for i, name in enumerate(class_names)}
    for camera in cameras:
        for zi, zone in enumerate(camera.zones):
            for pi, policy in enumerate(zone.policies):
                where = f"cameras[{camera.id}].zones[{zi}].policies[{pi}]"
                _class_ids(policy.classes, index, f"{where}.classes")
                _class_ids(policy.support_classes, index, f"{where}.support_classes")
