"""Synthetic-track scenarios for the evaluation harness: stalls, chatting groups and
walkers as tracked detections (no footage in the shared assets shows street vending),
run through the real zone rules of a street_vendor policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lookout.cases.model import DraftCase
from lookout.config import CameraConfig
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.rules import ZoneEngine

CLASSES = ["person", "umbrella"]
PERSON_W, PERSON_H = 40.0, 100.0


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Group(_M):
    """People standing at foot points, with an umbrella or not, for an interval."""

    people: list[tuple[float, float]] = Field(min_length=1, description="Foot points (px).")
    umbrella: tuple[float, float] | None = Field(default=None, description="Umbrella centre.")
    from_s: float = Field(default=0.0, ge=0, description="Arrives (s).")
    to_s: float = Field(description="Leaves (s).")


class TracksConfig(_M):
    """A synthetic scene: one no-vending zone, stalls, chatting groups, walkers."""

    seconds: float = Field(gt=0, description="Length of the scene (s), one frame per second.")
    zone: str = Field(description="Zone id.")
    polygon: list[tuple[float, float]] = Field(description="Zone polygon (px).")
    dwell_s: float = Field(gt=0, description="Policy dwell.")
    groups: list[Group] = Field(default_factory=list, description="Stalls and groups.")
    walkers: int = Field(default=0, ge=0, description="People walking through.")
    size: tuple[int, int] = Field(default=(768, 576), description="Frame width, height.")


def _detections(cfg: TracksConfig, t: float, rng: np.random.Generator) -> Detections:
    rows: list[tuple[float, float, float, float, float, int, int]] = []
    tid = 0
    for g in cfg.groups:
        here = g.from_s <= t <= g.to_s
        for x, y in g.people:
            tid += 1
            if here:
                jx, jy = rng.normal(0, 1.0, 2)
                rows.append(
                    (
                        x - PERSON_W / 2 + jx,
                        y - PERSON_H + jy,
                        x + PERSON_W / 2 + jx,
                        y + jy,
                        0.8,
                        0,
                        tid,
                    )
                )
        tid += 1
        if here and g.umbrella is not None:
            ux, uy = g.umbrella
            rows.append((ux - 30, uy - 20, ux + 30, uy + 20, 0.6, 1, tid))
    w = cfg.size[0]
    for k in range(cfg.walkers):
        tid += 1
        x = (t * 30.0 + k * 250.0) % w
        y = 300.0 + 80.0 * k
        rows.append((x - PERSON_W / 2, y - PERSON_H, x + PERSON_W / 2, y, 0.8, 0, tid))
    if not rows:
        return Detections.empty()
    a = np.array(rows, dtype=np.float64)
    return Detections.create(a[:, :4], a[:, 4], a[:, 5], a[:, 6])


def run_tracks(name: str, cfg: TracksConfig, start: datetime) -> list[DraftCase]:
    """Feed the scene to a ZoneEngine with a street_vendor policy; events → cases."""
    camera = CameraConfig.model_validate(
        {
            "id": name,
            "zones": [
                {
                    "id": cfg.zone,
                    "polygon": cfg.polygon,
                    "policies": [
                        {
                            "type": "street_vendor",
                            "classes": ["person"],
                            "support_classes": ["umbrella"],
                            "dwell_s": cfg.dwell_s,
                        }
                    ],
                }
            ],
        }
    )
    engine = ZoneEngine(camera, CLASSES, ZoneInfo("Asia/Shanghai"))
    image = np.zeros((cfg.size[1], cfg.size[0], 3), np.uint8)
    rng = np.random.default_rng(0)
    cases: list[DraftCase] = []
    for i in range(int(cfg.seconds) + 1):
        at = start + timedelta(seconds=i)
        frame = Frame(name, i, float(i), at, float(i), image)
        for ev in engine.update(frame, _detections(cfg, float(i), rng)):
            cases.append(
                DraftCase(
                    id=f"{name}-{len(cases)}",
                    type="street_vendor",
                    code="",
                    code_name="",
                    camera_id=name,
                    preset=None,
                    zone_id=ev.zone_id,
                    grid_code=None,
                    first_seen=ev.first_seen,
                    confirmed_at=ev.confirmed_at,
                    last_seen=ev.confirmed_at,
                    dwell_s=ev.dwell_s,
                    bbox=list(ev.bbox),
                    confidence=ev.confidence,
                    track_id=ev.track_id,
                    object_class="person",
                    subtype=ev.subtype,
                )
            )
    return cases
