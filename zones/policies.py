"""Zone settings the zones layer owns: zones and their policies (YAML
`cameras[].zones[]`). A policy is a union discriminated on `type`; each kind has only
its own fields. lookout/config/app.py composes these into the camera config.

Classes may be named by model class or by role (`vehicle`, `person`, `stall_object`,
`structure`, `non_motor`; see models/README.md) or as `static_object`, the synthetic class
of what a camera's scene model finds staying (docs/DETECTION.md): the zone engine
resolves them against the model's manifest, so a config keeps working when the model
changes.
"""

from __future__ import annotations

import math
from datetime import time
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from lookout.base.ids import ID_ALPHABET, ID_PATTERN
from lookout.base.model import StrictModel


class TimeWindow(StrictModel):
    """A daily window in the site's local time; `end` before `start` wraps past midnight."""

    start: time = Field(description="Start of the window, local time (HH:MM).")
    end: time = Field(description="End of the window, local time (HH:MM).")

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


def _allowed_field() -> list[TimeWindow]:
    return Field(
        default_factory=list,
        description="Daily windows (site local time) when the activity is allowed: no case then.",
    )


class _ObjectPolicy(StrictModel):
    """Fields of the rules that watch tracked objects."""

    min_confidence: float = Field(
        default=0.35, ge=0.0, le=1.0, description="Detections below this score are ignored."
    )
    dwell_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds an object must stay stationary in the zone to be a violation.",
    )
    stationary_radius: float = Field(
        default=0.35,
        gt=0.0,
        description="An object is stationary while its ground point stays within this radius of "
        "where it stopped, as a fraction of its box height.",
    )
    allowed: list[TimeWindow] = _allowed_field()


class ParkingPolicy(_ObjectPolicy):
    """illegal_parking: a vehicle stationary in the zone for `dwell_s`."""

    type: Literal["illegal_parking"] = Field(description="Event type this policy raises.")
    classes: list[str] = Field(
        min_length=1,
        description="Model classes or roles watched, e.g. [vehicle] or [car, truck, bus].",
    )
    support_classes: list[str] = Field(
        default_factory=list,
        description="Classes or roles that raise the case confidence when near the vehicle.",
    )


class VendorPolicy(_ObjectPolicy):
    """street_vendor: a group of stationary people with stall objects (a stall)."""

    type: Literal["street_vendor"] = Field(description="Event type this policy raises.")
    classes: list[str] = Field(
        default_factory=lambda: ["person"],
        min_length=1,
        description="Classes or roles of the people watched (default [person]).",
    )
    support_classes: list[str] = Field(
        default_factory=lambda: ["stall_object"],
        description="Classes or roles of stall objects (umbrella, cart, tricycle, goods): a "
        "group with them is a stall. Default [stall_object], the model's own stall classes.",
    )
    require_stall_objects: bool = Field(
        default=True,
        description="People without stall objects nearby are not a stall (waiting, chatting).",
    )


class OccupationPolicy(_ObjectPolicy):
    """occupation (占道堆物): a static object with nobody beside it for `dwell_s`."""

    type: Literal["occupation"] = Field(description="Event type this policy raises.")
    classes: list[str] = Field(
        default_factory=lambda: ["static_object"],
        min_length=1,
        description="Classes or roles of the objects watched (default [static_object]: what "
        "the camera's scene model finds staying, docs/DETECTION.md).",
    )
    person_classes: list[str] = Field(
        default_factory=lambda: ["person"],
        description="Classes or roles of the people whose presence beside the object makes "
        "it attended (a stall, not goods left on the street).",
    )
    attended_radius: float = Field(
        default=1.5,
        gt=0,
        description="A person standing within this many of their own heights of the object "
        "attends it.",
    )


class NonMotorPolicy(_ObjectPolicy):
    """non_motor_parking (非机动车乱停放): non-motor vehicles massed in the zone, one case
    per cluster."""

    type: Literal["non_motor_parking"] = Field(description="Event type this policy raises.")
    classes: list[str] = Field(
        default_factory=lambda: ["non_motor"],
        min_length=1,
        description="Classes or roles watched (default [non_motor]: bicycle, and a custom "
        "model's e-bike and tricycle).",
    )
    min_count: int = Field(
        default=3, ge=1, description="Stationary objects a cluster needs to be a case."
    )
    cluster_radius: float = Field(
        default=2.0,
        gt=0,
        description="Objects closer than this many box heights belong to one cluster.",
    )
    quiet_s: float = Field(
        default=600.0,
        ge=0,
        description="A cluster that empties and stays empty this long is over; one that "
        "refills later is a new case.",
    )


class ConstructionPolicy(StrictModel):
    """illegal_construction: a persistent change against the reference view."""

    type: Literal["illegal_construction"] = Field(description="Event type this policy raises.")
    survey_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="Compare the view with the reference at most this often (and on each PTZ "
        "visit of the preset).",
    )
    min_visits: int = Field(default=3, ge=1, description="Visits the change must be seen on.")
    min_span_h: float = Field(default=48.0, ge=0, description="Hours the change must span.")
    classes: list[str] = Field(
        default_factory=list,
        description="Optional classes or roles (e.g. [structure], scaffold) whose detections "
        "over a change back the case.",
    )
    min_confidence: float = Field(
        default=0.35, ge=0.0, le=1.0, description="Score those detections need."
    )
    allowed: list[TimeWindow] = _allowed_field()


Policy = Annotated[
    ParkingPolicy | VendorPolicy | ConstructionPolicy | OccupationPolicy | NonMotorPolicy,
    Field(discriminator="type"),
]


def _check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if not all(math.isfinite(v) for p in points for v in p):
        raise ValueError("polygon points must be finite numbers")
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    poly = Polygon(points)
    if not poly.is_valid:
        raise ValueError(f"invalid polygon ({explain_validity(poly)})")
    if poly.area <= 0:
        raise ValueError("polygon has zero area")
    return points


class ZoneConfig(StrictModel):
    """A zone of one camera (and preset) with its policies: an image polygon, or a map
    polygon (lon/lat) that the camera's calibration projects into the image."""

    id: str = Field(
        min_length=1,
        max_length=64,
        # Zone ids name reference files (construction_rule.py) and reach case JSON, sinks,
        # logs and CSV: the id alphabet of lookout/base/ids.py.
        pattern=ID_PATTERN,
        description=f"Zone id, unique within the camera ({ID_ALPHABET}).",
    )
    polygon: list[tuple[float, float]] = Field(
        default_factory=list,
        description="Polygon in image pixels of the camera's native resolution, [[x, y], ...].",
    )
    ground_polygon: list[tuple[float, float]] | None = Field(
        default=None,
        description="Or: the zone on the map, [[lon, lat], ...] (e.g. a no-parking street "
        "segment); needs a calibration of the camera (and preset).",
    )
    preset: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description="PTZ preset (token or name) the zone belongs to; null for a fixed "
        f"camera ({ID_ALPHABET}).",
    )
    grid_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        # It reaches case JSON, sinks, CSV and the console like an id (lookout/base/ids.py);
        # with a `grid:` file it must be one of its cells (lookout/zones/locate.py).
        pattern=ID_PATTERN,
        description="Unit grid cell (单元网格) code the zone lies in, if known; a cell of the "
        f"`grid:` file when there is one ({ID_ALPHABET}).",
    )
    inertia_frames: int = Field(
        default=3,
        ge=1,
        description="Consecutive analysed frames an object must be inside before it counts.",
    )
    policies: list[Policy] = Field(min_length=1, description="Policies of the zone.")

    @field_validator("polygon", "ground_polygon")
    @classmethod
    def _valid_polygon(
        cls, v: list[tuple[float, float]] | None
    ) -> list[tuple[float, float]] | None:
        return None if v is None else _check_polygon(v)

    @model_validator(mode="after")
    def _one_polygon(self) -> ZoneConfig:
        if self.ground_polygon is None and not self.polygon:
            raise ValueError("needs a polygon (image) or a ground_polygon (map)")
        if self.ground_polygon is not None and self.polygon:
            raise ValueError("give either polygon (image) or ground_polygon (map), not both")
        return self
