"""Synthetic-track scenarios for the evaluation harness: stalls, chatting groups and
walkers as tracked detections (no footage in the shared assets shows street vending),
run through the production analysis (tracker, zone rules of a street_vendor policy,
case manager with its dedup) that replay and the daemon build."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import Field

from lookout.base.model import StrictModel
from lookout.cases.model import DraftCase
from lookout.config.app import AppConfig
from lookout.detector.detections import Detections
from lookout.runtime.analysis import CameraAnalyser, build_analyser
from lookout.runtime.services import open_cases
from lookout.streams.frame import Frame

CLASSES = ["person", "umbrella"]
PERSON_W, PERSON_H = 40.0, 100.0


class Group(StrictModel):
    """People standing at foot points, with an umbrella or not, for an interval."""

    people: list[tuple[float, float]] = Field(min_length=1, description="Foot points (px).")
    umbrella: tuple[float, float] | None = Field(default=None, description="Umbrella centre.")
    from_s: float = Field(default=0.0, ge=0, description="Arrives (s).")
    to_s: float = Field(description="Leaves (s).")


class TracksConfig(StrictModel):
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


@dataclass(frozen=True, slots=True)
class SyntheticModel:
    """What the analysis needs of a model, for detections no model made: the class
    names and roles they use; `crop_size` is the shipped YOLOX-Nano's input side."""

    class_names: list[str]
    roles: dict[str, list[str]] | None
    crop_size: int = 416


@contextmanager
def scenario_analyser(
    name: str,
    zones: list[dict[str, Any]],
    class_names: list[str],
    roles: dict[str, list[str]],
    start: datetime,
) -> Iterator[CameraAnalyser]:
    """The production analysis of one synthetic camera (`build_analyser`: tracker,
    zone engine, rules; the case manager with its dedup), in the scenario's time zone,
    writing into a temporary folder."""
    # Scenario times carry an offset (+08:00); the site's zone is Asia/Shanghai's.
    tz = start.tzinfo.key if isinstance(start.tzinfo, ZoneInfo) else "Asia/Shanghai"
    cfg = AppConfig.model_validate(
        {
            "site": {"timezone": tz},
            "model": {"manifest": "(synthetic)"},
            "cameras": [{"id": name, "zones": zones}],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        cases = open_cases(cfg, Path(tmp))
        try:
            yield build_analyser(
                cfg,
                name,
                SyntheticModel(class_names, roles),
                cases=cases,
                out_dir=Path(tmp),
                grid=None,
                config_source=f"scenario {name}",
            )
        finally:
            cases.close()


def run_tracks(name: str, cfg: TracksConfig, start: datetime) -> list[DraftCase]:
    """The scene's detections through the production tracker, zone rules (a
    street_vendor policy) and case manager; returns the draft cases."""
    zone = {
        "id": cfg.zone,
        "polygon": cfg.polygon,
        "policies": [{"type": "street_vendor", "classes": ["person"], "dwell_s": cfg.dwell_s}],
    }
    roles = {"person": ["person"], "stall_object": ["umbrella"]}
    image = np.zeros((cfg.size[1], cfg.size[0], 3), np.uint8)
    rng = np.random.default_rng(0)
    cases: list[DraftCase] = []
    with scenario_analyser(name, [zone], CLASSES, roles, start) as analyser:
        for i in range(int(cfg.seconds) + 1):
            frame = Frame(name, i, float(i), start + timedelta(seconds=i), float(i), image)
            cases += analyser.process(frame, _detections(cfg, float(i), rng))
    return cases
