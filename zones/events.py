"""`ViolationEvent`: what a zone rule hands to the case stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from lookout.streams.frame import Frame


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

    @property
    def anchor(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the object touches the ground."""
        x1, _, x2, y2 = self.bbox
        return ((x1 + x2) / 2.0, y2)

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]
