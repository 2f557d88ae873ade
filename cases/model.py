"""`DraftCase`: the JSON record handed to the case system (docs/DELIVERY.md "Case JSON")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lookout.base.events import EventType
from lookout.base.model import StrictModel
from lookout.zones.events import ViolationEvent

#: Namespace of case ids: uuid5(namespace, key) is stable across runs and machines.
CASE_NAMESPACE = uuid.UUID("6f1c4d2e-8a55-4c1b-9a61-1d7f3c0b9e42")


class Location(StrictModel):
    """A ground position in WGS84/CGCS2000 degrees."""

    lon: float = Field(description="Longitude in degrees.")
    lat: float = Field(description="Latitude in degrees.")


class DraftCase(BaseModel):
    """A proposed case (待核实案件) awaiting an operator's verification."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(description="Deterministic idempotency key (uuid5 of the event's identity).")
    type: EventType = Field(description="Event type.")
    code: str = Field(description="Case-system event code from the configured code table.")
    code_name: str = Field(description="Name of the event code.")
    camera_id: str = Field(description="Camera that saw it.")
    preset: str | None = Field(description="PTZ preset, null for fixed cameras.")
    zone_id: str = Field(description="Zone whose policy fired.")
    grid_code: str | None = Field(description="Unit grid cell code, null until known.")
    grid_unit: str | None = Field(
        default=None, description="Responsible unit of the grid cell (事件属地)."
    )
    first_seen: datetime = Field(description="When the object became stationary (ISO 8601).")
    confirmed_at: datetime = Field(description="When the rule fired (ISO 8601).")
    last_seen: datetime = Field(description="Latest sighting merged into this case.")
    dwell_s: float = Field(description="Stationary seconds at confirmation.")
    bbox: list[float] = Field(description="[x1, y1, x2, y2] in frame pixels.")
    location: Location | None = Field(default=None, description="Ground position, if calibrated.")
    confidence: float = Field(description="Case confidence in [0, 1].")
    track_id: int = Field(description="Tracker id of the object.")
    object_class: str = Field(description="Detector class of the object.")
    subtype: str | None = Field(
        default=None, description="e.g. street_vendor: 'fixed' (店外/占道经营) or 'roaming' (游商)."
    )
    support: list[str] = Field(default_factory=list, description="Supporting objects seen.")
    count: int | None = Field(
        default=None,
        description="Objects the case is about when it is a group (non_motor_parking: the "
        "bicycles of the cluster when the case was confirmed); null for one object.",
    )
    evidence: list[str] = Field(default_factory=list, description="Evidence paths (relative).")
    status: Literal["draft"] = Field(default="draft", description="Always 'draft' when emitted.")

    def to_json(self) -> str:
        return self.model_dump_json()


def case_id(event: ViolationEvent) -> str:
    """Deterministic id from what identifies the event: type, place and stop start.

    The ground point is quantised to a 32 px cell so detector noise of a few pixels
    does not change the id; the stop start is taken to the second.
    """
    ax, ay = event.anchor
    q = f"{int(ax // 32)},{int(ay // 32)}"
    key = "|".join(
        [
            event.type,
            event.camera_id,
            event.preset or "",
            event.zone_id,
            event.first_seen.isoformat(timespec="seconds"),
            q,
        ]
    )
    return str(uuid.uuid5(CASE_NAMESPACE, key))
