"""Dedup: repeated events of the same thing become one case.

Two events are the same case when they have the same type, camera, preset and zone and
their boxes are at the same place — the boxes overlap (IoU) or their ground points lie
within `radius` box heights — and the later one comes within `cooldown_s` of the last
sighting of the case. A parked van whose track id changes, or a second person at the
same stall, therefore merge into the case that already exists.

With several boxes a `SharedFootprints` (lookout/fleet/state.py) holds the recent
cases of each camera in Redis: a camera that moved to this box finds the cases its
previous box made, so a van still parked merges instead of making a second case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from lookout.base.geometry import box_iou
from lookout.zones.events import ViolationEvent

Box = tuple[float, float, float, float]


def same_image_place(a: Box, b: Box, iou: float, radius: float = 0.75) -> bool:
    """Two boxes (x1, y1, x2, y2 pixels of one view) at the same place: they overlap by
    `iou` or more, or their ground points (bottom-centres) lie within `radius` times
    their mean height (at least 1 px) of each other."""
    if box_iou(a, b) >= iou:
        return True
    scale = max(1.0, ((a[3] - a[1]) + (b[3] - b[1])) / 2)
    ax, bx = (a[0] + a[2]) / 2, (b[0] + b[2]) / 2
    return math.hypot(ax - bx, a[3] - b[3]) <= radius * scale


@dataclass(slots=True)
class CaseFootprint:
    """Where and when a case was last seen."""

    case_id: str
    type: str
    camera_id: str
    preset: str | None
    zone_id: str
    bbox: Box
    last_seen: datetime


class SharedFootprints(Protocol):
    """Recent cases of every camera, shared between boxes (see the module docstring)."""

    def recent(self, camera_id: str, since: datetime) -> list[CaseFootprint]: ...

    def remember(self, footprint: CaseFootprint) -> None: ...

    def touch(self, footprint: CaseFootprint) -> None: ...


class CaseDeduper:
    """Footprints of recent cases, in memory (and in `shared` with several boxes)."""

    def __init__(self, *, cooldown_s: float, iou: float, radius: float = 0.75) -> None:
        self.cooldown = timedelta(seconds=cooldown_s)
        self.iou = iou
        self.radius = radius
        self._recent: list[CaseFootprint] = []
        self.shared: SharedFootprints | None = None
        #: Events merged into a case another box made (found in `shared`).
        self.shared_merges = 0

    def match(self, event: ViolationEvent) -> CaseFootprint | None:
        """The existing case this event belongs to, or None: this box's cases first,
        then (several boxes) the camera's cases made by other boxes."""
        self._recent = [
            f for f in self._recent if event.confirmed_at - f.last_seen <= self.cooldown
        ]
        found = self._match(self._recent, event)
        if found is None and self.shared is not None:
            since = event.confirmed_at - self.cooldown
            known = {f.case_id for f in self._recent}
            others = [
                f for f in self.shared.recent(event.camera_id, since) if f.case_id not in known
            ]
            found = self._match(others, event)
            if found is not None:
                self._recent.append(found)  # from now on a case of this box too
                self.shared_merges += 1
        return found

    def _match(
        self, footprints: list[CaseFootprint], event: ViolationEvent
    ) -> CaseFootprint | None:
        for fp in footprints:
            if (fp.type, fp.camera_id, fp.preset, fp.zone_id) != (
                event.type,
                event.camera_id,
                event.preset,
                event.zone_id,
            ):
                continue
            if same_image_place(fp.bbox, event.bbox, self.iou, self.radius):
                return fp
        return None

    def remember(self, case_id: str, event: ViolationEvent) -> None:
        fp = CaseFootprint(
            case_id=case_id,
            type=event.type,
            camera_id=event.camera_id,
            preset=event.preset,
            zone_id=event.zone_id,
            bbox=event.bbox,
            last_seen=event.confirmed_at,
        )
        self._recent.append(fp)
        if self.shared is not None:
            self.shared.remember(fp)

    def touch(self, footprint: CaseFootprint, event: ViolationEvent) -> None:
        footprint.last_seen = max(footprint.last_seen, event.confirmed_at)
        if self.shared is not None:
            self.shared.touch(footprint)
