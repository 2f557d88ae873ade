"""`ViolationEvent`, what a zone rule hands to the case stage; the one event builder;
the `ZoneRule` protocol, the registry of rules by policy type and the small helpers
every object rule shares (the dwell jitter, the allowed windows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.dwell import DwellBook
from lookout.zones.policies import TimeWindow, ZoneConfig


@dataclass(frozen=True, slots=True)
class Scene:
    """Everything the detector saw in the frame an event fired on, for evidence privacy
    (lookout/cases/blur.py): no new model, the detector's own boxes.

    Attributes:
        detections: the frame's tracked detections, boxes in pixels of a frame of
            `size`.
        person, vehicle: boolean masks (N,) of the `person` and `vehicle` roles (or
            classes of those names).
        size: (width, height) of the frame the boxes belong to.
        static: boolean mask (N,) of the `static_object` detections (what the scene
            model found staying, zones/stationary.py), boxed in the evidence.
        names: the analysis's class names (the model's, then `static_object`), which
            `detections.class_id` index.
    """

    detections: Detections
    person: np.ndarray
    vehicle: np.ndarray
    size: tuple[int, int]
    static: np.ndarray | None = None
    names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ViolationEvent:
    """A rule fired for one object (or group) in one zone.

    Attributes:
        type: event type (`illegal_parking`, `street_vendor`, `illegal_construction`).
        camera_id, preset, zone_id, grid_code: where it happened.
        track_id: tracker id of the object the rule fired for.
        class_name: model class of that object.
        bbox: (x1, y1, x2, y2) in frame pixels.
        confidence: case confidence in [0, 1] (detector score, raised by support objects).
        first_seen: when the object became stationary in the zone (wall clock).
        confirmed_at: when the dwell threshold was reached (wall clock).
        dwell_s: stationary seconds at confirmation.
        support: class names of nearby objects that back the case (e.g. umbrella).
        polygon: the zone polygon in frame pixels, for evidence drawing.
        frame: the frame the rule fired on (evidence source).
        location: ground (lon, lat) of the anchor point, when the camera is calibrated.
        grid_unit: responsible unit of the grid cell, when grid cells are configured.
        subtype: refinement of the type, e.g. "fixed" stall or "roaming" vendor.
        before, after: the reference and current crops of a construction change (BGR).
        subject_ids: more track ids the case is about besides `track_id` (a stall's
            people and stall objects).
        count: objects of a group case (a non-motor cluster's bicycles); None for one.
        scene: what the detector saw in `frame` (set by the ZoneEngine), for blurring
            bystanders in evidence.
    """

    type: str
    camera_id: str
    preset: str | None
    zone_id: str
    grid_code: str | None
    track_id: int
    class_name: str
    bbox: tuple[float, float, float, float]
    confidence: float
    first_seen: datetime
    confirmed_at: datetime
    dwell_s: float
    support: tuple[str, ...]
    polygon: tuple[tuple[float, float], ...]
    frame: Frame
    location: tuple[float, float] | None = None
    grid_unit: str | None = None
    subtype: str | None = None
    before: np.ndarray | None = field(default=None, repr=False)
    after: np.ndarray | None = field(default=None, repr=False)
    subject_ids: tuple[int, ...] = ()
    count: int | None = None
    scene: Scene | None = field(default=None, repr=False)

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object touches the ground."""
        x1, _, x2, y2 = self.bbox
        return ((x1 + x2) / 2.0, y2)

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]


def make_event(
    frame: Frame,
    zone: ZoneConfig,
    event_type: str,
    *,
    track_id: int,
    class_name: str,
    bbox: tuple[float, float, float, float],
    confidence: float,
    dwell_s: float,
    support: tuple[str, ...] = (),
    first_seen: datetime | None = None,
    subtype: str | None = None,
    before: np.ndarray | None = None,
    after: np.ndarray | None = None,
    subject_ids: tuple[int, ...] = (),
    count: int | None = None,
) -> ViolationEvent:
    """The one way a rule makes an event: confirmed at the frame's wall-clock time,
    first seen `dwell_s` earlier unless given, the zone's polygon for evidence."""
    return ViolationEvent(
        type=event_type,
        camera_id=frame.camera_id,
        preset=frame.preset,
        zone_id=zone.id,
        grid_code=zone.grid_code,
        track_id=track_id,
        class_name=class_name,
        bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        confidence=round(confidence, 4),
        first_seen=first_seen or frame.captured_at - timedelta(seconds=dwell_s),
        confirmed_at=frame.captured_at,
        dwell_s=round(dwell_s, 3),
        support=support,
        polygon=tuple((float(x), float(y)) for x, y in zone.polygon),
        frame=frame,
        subtype=subtype,
        before=before,
        after=after,
        subject_ids=subject_ids,
        count=count,
    )


class ZoneRule(Protocol):
    """One policy of one zone. `update` sees every frame of the zone's preset; `t` is
    the frame's monotonic time (docs/ARCHITECTURE.md, "Time"), `born` the first
    detection time of each track id."""

    zone: ZoneConfig

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
    ) -> list[ViolationEvent]: ...


@dataclass(frozen=True)
class RuleContext:
    """What a rule factory gets besides its policy."""

    zone: ZoneConfig
    where: str  # config path of the policy, for errors
    class_names: list[str]
    class_ids: Callable[[Sequence[str], str], np.ndarray]  # classes or roles -> ids
    tz: tzinfo
    forget_after_s: float
    place_memory_s: float
    place_iou: float
    references: Path | None


class ObjectRule:
    """What every rule of tracked objects in a zone holds: the zone, its prepared
    polygon, the class names, the site's time zone and the class ids of the policy's
    `classes` (parking, vendors, occupation, non-motor parking)."""

    def __init__(self, classes: Sequence[str], ctx: RuleContext) -> None:
        self.zone = ctx.zone
        self.polygon = Polygon(ctx.zone.polygon)
        shapely.prepare(self.polygon)
        self.class_names = ctx.class_names
        self.tz = ctx.tz
        self.class_ids = ctx.class_ids(classes, f"{ctx.where}.classes")


def dwell_book(ctx: RuleContext) -> DwellBook:
    """The stops of a rule's objects, with the timing the tracker agrees with."""
    return DwellBook(
        forget_after_s=ctx.forget_after_s,
        place_memory_s=ctx.place_memory_s,
        place_iou=ctx.place_iou,
    )


RuleFactory = Callable[[Any, RuleContext], ZoneRule]
#: Rule factories by policy `type` (zones/rules.py and zones/construction_rule.py
#: register theirs); docs/ARCHITECTURE.md, "Adding things".
RULES: dict[str, RuleFactory] = {}


def register(policy_type: str) -> Callable[[RuleFactory], RuleFactory]:
    def add(factory: RuleFactory) -> RuleFactory:
        RULES[policy_type] = factory
        return factory

    return add


def in_allowed_window(windows: Sequence[TimeWindow], frame: Frame, tz: tzinfo) -> bool:
    """Whether the frame was captured (site local time `tz`) in one of a policy's
    `allowed` windows, when its activity is no case."""
    local = frame.captured_at.astimezone(tz).time()
    return any(w.contains(local) for w in windows)
