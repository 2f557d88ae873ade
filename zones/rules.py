"""Zone rules of one camera: geofence tracked detections and decide violations.

Rules implemented here (each registered by policy type, zones/events.py `RULES`):
- `illegal_parking`: a vehicle (policy classes or roles, e.g. [vehicle]) stays
  stationary inside a no-parking zone for at least `dwell_s`.
- `street_vendor`: a stall is a group of stationary people with stall objects
  (`support_classes`, default the `stall_object` role) outside the allowed windows.
- `illegal_construction` is in construction_rule.py, `occupation` in occupation.py,
  `non_motor_parking` in non_motor.py.

The geofencing point is the bottom-centre of the box; an object counts as inside after
`inertia_frames` consecutive analysed frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import tzinfo
from pathlib import Path
from typing import Protocol

import numpy as np
import shapely

from lookout.base.errors import ConfigError
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones import construction_rule as _construction  # noqa: F401  (registers)
from lookout.zones import non_motor as _non_motor  # noqa: F401  (registers)
from lookout.zones import occupation as _occupation  # noqa: F401  (registers)
from lookout.zones.dwell import watched_in_zone
from lookout.zones.events import (
    RULES,
    ObjectRule,
    RuleContext,
    Scene,
    ViolationEvent,
    ZoneRule,
    dwell_book,
    in_allowed_window,
    make_event,
    register,
)
from lookout.zones.policies import (
    OccupationPolicy,
    ParkingPolicy,
    VendorPolicy,
    ZoneConfig,
)
from lookout.zones.stationary import STATIC_CLASS
from lookout.zones.vendors import TrackedObject, VendorGrouper, VendorSettings

#: How far (in box heights) a support object may be from the object it backs.
SUPPORT_RADIUS = 1.5
#: Confidence added per distinct support class found, capped at 1.
SUPPORT_BONUS = 0.15


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


class _ZoneRule(ObjectRule):
    """An object rule with support classes (parking, vendors)."""

    def __init__(self, policy: ParkingPolicy | VendorPolicy, ctx: RuleContext) -> None:
        super().__init__(policy.classes, ctx)
        self.support_ids = ctx.class_ids(policy.support_classes, f"{ctx.where}.support_classes")


@register("illegal_parking")
class ParkingRule(_ZoneRule):
    """One dwell policy of one zone (parking), with its object states."""

    def __init__(self, policy: ParkingPolicy, ctx: RuleContext) -> None:
        super().__init__(policy, ctx)
        self.policy = policy
        self.book = dwell_book(ctx)

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
    ) -> list[ViolationEvent]:
        w = watched_in_zone(dets, self.class_ids, self.policy.min_confidence, self.polygon)
        events: list[ViolationEvent] = []
        allowed = in_allowed_window(self.policy.allowed, frame, self.tz)
        self.book.wall_offset = frame.captured_at.timestamp() - t  # for shared stops
        states = self.book.observe_all(t, w, self.policy.stationary_radius, born)
        for i, state in enumerate(states):
            box = state.bbox
            dwell = state.due(t, self.policy.dwell_s, self.zone.inertia_frames)
            if dwell is None or allowed:
                continue
            state.fired = True
            support = self._support(dets, box)
            conf = float(np.median(state.confidences)) if state.confidences else 0.0
            conf = min(1.0, conf + SUPPORT_BONUS * len(support))
            events.append(
                make_event(
                    frame,
                    self.zone,
                    self.policy.type,
                    track_id=state.track_id,
                    class_name=self.class_names[int(w.dets.class_id[i])],
                    bbox=box,
                    confidence=conf,
                    dwell_s=dwell,
                    support=support,
                )
            )
        self.book.expire(t)
        return events

    def _support(self, dets: Detections, box: tuple[float, float, float, float]) -> tuple[str, ...]:
        if self.support_ids.size == 0 or len(dets) == 0:
            return ()
        sel = dets[np.isin(dets.class_id, self.support_ids)]
        if len(sel) == 0:
            return ()
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        radius = SUPPORT_RADIUS * max(1.0, box[3] - box[1])
        centres = (sel.xyxy[:, :2] + sel.xyxy[:, 2:]) / 2
        near = np.hypot(centres[:, 0] - cx, centres[:, 1] - cy) <= radius
        return tuple(sorted({self.class_names[int(c)] for c in sel.class_id[near]}))


@register("street_vendor")
class VendorRule(_ZoneRule):
    """`street_vendor`: a stall is a group of stationary people with stall objects
    (`support_classes`, e.g. umbrella, cart) inside the zone, outside its allowed hours;
    one event per stall, fixed stalls and roaming vendors told apart (see vendors.py)."""

    def __init__(self, policy: VendorPolicy, ctx: RuleContext) -> None:
        super().__init__(policy, ctx)
        self.policy = policy
        self.grouper = VendorGrouper(
            VendorSettings(
                dwell_s=policy.dwell_s,
                require_stall_objects=policy.require_stall_objects,
                # The grouper drops stall objects outside `stall_classes`: give it the
                # policy's own stall classes (roles resolved to the model's classes).
                stall_classes=tuple(ctx.class_names[int(i)] for i in self.support_ids),
                stationary_radius=policy.stationary_radius,
            )
        )

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
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
                    kind if kind is not None else self.class_names[int(sel.class_id[i])],
                    tuple(float(v) for v in sel.xyxy[i]),  # type: ignore[arg-type]
                    float(sel.confidence[i]),
                )
                for i in range(len(sel))
            ]

        allowed = in_allowed_window(self.policy.allowed, frame, self.tz)
        found = self.grouper.update(
            t, objects(people_mask, "person"), objects(stall_mask, None), allowed
        )
        return [
            make_event(
                frame,
                self.zone,
                self.policy.type,
                track_id=ev.track_id,
                class_name="person",
                bbox=ev.bbox,
                confidence=ev.confidence,
                dwell_s=ev.dwell_s,
                support=ev.stall_classes,  # this stall's objects, not every one in view
                subtype=ev.kind,
                subject_ids=ev.member_track_ids + ev.stall_track_ids,  # kept sharp
            )
            for ev in found
        ]


class CameraZones(Protocol):
    """What the zone engine needs of a camera's config."""

    @property
    def id(self) -> str: ...

    @property
    def zones(self) -> Sequence[ZoneConfig]: ...


class ClassResolver:
    """Class names and roles (vehicle, person, stall_object, structure) → model class
    ids, with one-line errors naming the config key."""

    def __init__(
        self, class_names: list[str], roles: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        self.class_names = class_names
        self.index = {name: i for i, name in enumerate(class_names)}
        self.roles = dict(roles or {})

    def __call__(self, names: Sequence[str], where: str) -> np.ndarray:
        ids: set[int] = set()
        for name in names:
            if name in self.index:
                ids.add(self.index[name])
            elif name in self.roles:
                ids.update(self.index[c] for c in self.roles[name] if c in self.index)
            else:
                raise ConfigError(
                    f"{where}: class {name!r} is unknown to the model (neither a class nor "
                    "a role of its manifest)"
                )
        return np.array(sorted(ids), dtype=np.int32)


class ZoneEngine:
    """All zone policies of one camera. Feed it tracked detections frame by frame."""

    def __init__(
        self,
        camera: CameraZones,
        class_names: list[str],
        tz: tzinfo,
        settings: ZoneRuleSettings | None = None,
        references: Path | None = None,
        roles: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`references`: folder for construction reference views (None: memory only);
        `roles`: the manifest's role → classes, for policies that name roles."""
        self.camera = camera
        self.class_names = class_names
        self.tz = tz
        settings = settings or ZoneRuleSettings()
        resolve = ClassResolver(class_names, roles)
        #: Class ids of the roles evidence privacy needs (cases/blur.py).
        self._person_ids = _ids_or_none(resolve, "person")
        self._vehicle_ids = _ids_or_none(resolve, "vehicle")
        self._static_ids = _ids_or_none(resolve, STATIC_CLASS)
        self.rules: list[ZoneRule] = []
        for zi, zone in enumerate(camera.zones):
            for pi, policy in enumerate(zone.policies):
                ctx = RuleContext(
                    zone=zone,
                    where=f"cameras[{camera.id}].zones[{zi}].policies[{pi}]",
                    class_names=class_names,
                    class_ids=resolve,
                    tz=tz,
                    forget_after_s=settings.forget_after_s,
                    place_memory_s=settings.place_memory_s,
                    place_iou=settings.place_iou,
                    references=references,
                )
                self.rules.append(RULES[policy.type](policy, ctx))

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
            events.extend(rule.update(frame, t, dets, born or {}))
        if not events:
            return events
        scene = Scene(
            detections=dets,
            person=np.isin(dets.class_id, self._person_ids),
            vehicle=np.isin(dets.class_id, self._vehicle_ids),
            size=(frame.width, frame.height),
            static=np.isin(dets.class_id, self._static_ids),
            names=tuple(self.class_names),
        )
        return [replace(e, scene=scene) for e in events]


def _ids_or_none(resolve: ClassResolver, role: str) -> np.ndarray:
    """Class ids of a role (or class) name; none when the model has neither."""
    try:
        return resolve([role], role)
    except ConfigError:
        return np.zeros(0, dtype=np.int32)


def validate_classes(
    cameras: Sequence[CameraZones],
    class_names: list[str],
    roles: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Check every class or role named in the zones exists in the model (ConfigError)."""
    resolve = ClassResolver(class_names, roles)
    for camera in cameras:
        for zi, zone in enumerate(camera.zones):
            for pi, policy in enumerate(zone.policies):
                where = f"cameras[{camera.id}].zones[{zi}].policies[{pi}]"
                resolve(policy.classes, f"{where}.classes")
                if isinstance(policy, ParkingPolicy | VendorPolicy):
                    resolve(policy.support_classes, f"{where}.support_classes")
                if isinstance(policy, OccupationPolicy):
                    resolve(policy.person_classes, f"{where}.person_classes")
