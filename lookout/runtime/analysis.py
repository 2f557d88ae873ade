"""The one place a camera's analysis is built and an application config validated.

`build_analyser` makes detector-side tracking, zones with ground projection, rules,
construction references and the locator for one camera; `validate_app` checks a
config against the model. What the analysis opens around it (detector, grid, cases)
is in lookout/runtime/services.py. Replay, daemon start and reload, the benchmark runner and
`lookout eval` all use them (docs/ARCHITECTURE.md, "A frame's journey").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from lookout.base.errors import ConfigError
from lookout.cases.manager import CaseManager
from lookout.cases.model import DraftCase
from lookout.config.app import AppConfig, CameraConfig
from lookout.detector.detections import Detections
from lookout.detector.motion import MotionGate
from lookout.detector.region_motion import RegionMotion
from lookout.detector.regions import RegionPlan, plan_regions
from lookout.detector.settings import TrackerConfig
from lookout.detector.tracker import ByteTracker
from lookout.streams.connection import is_file_source
from lookout.streams.frame import Frame
from lookout.zones.events import ViolationEvent
from lookout.zones.geo import GridIndex
from lookout.zones.locate import Locator, project_ground_zones
from lookout.zones.rules import ClassResolver, ZoneEngine, ZoneRuleSettings, validate_classes
from lookout.zones.stationary import (
    STATIC_CLASS,
    StationaryDetector,
    analysis_classes,
    watching_zones,
)

log = logging.getLogger(__name__)

Roles = Mapping[str, Sequence[str]]


def validate_app(
    cfg: AppConfig,
    class_names: list[str],
    roles: Roles | None,
    config_source: str,
    *,
    live: bool = False,
) -> None:
    """Every check a config must pass before cameras are (re)started, one line each:
    classes and roles against the model, map zones against calibrations; for the
    daemon (`live`) also a source or ONVIF per camera and existing file sources."""
    try:
        validate_classes(cfg.cameras, *analysis_classes(class_names, roles))
        for cam in cfg.cameras:
            project_ground_zones(cam)  # map zones need a calibration
            if not live:
                continue
            if not cam.source and cam.onvif is None:
                raise ConfigError(f"cameras[{cam.id}]: needs a source or an onvif section")
            if cam.source and is_file_source(cam.source) and not cfg.path(cam.source).is_file():
                raise ConfigError(f"cameras[{cam.id}].source: file not found: {cam.source}")
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: {exc}") from None


class ModelFacts(Protocol):
    """What a camera's analysis needs of the model: `OnnxDetector`, or a stand-in
    naming the classes of synthetic detections (lookout/evaluation/tracks.py)."""

    @property
    def class_names(self) -> list[str]: ...

    @property
    def roles(self) -> Roles | None: ...

    @property
    def crop_size(self) -> int: ...


def build_analyser(
    cfg: AppConfig,
    camera_id: str,
    model: ModelFacts,
    *,
    cases: CaseManager,
    out_dir: Path,
    grid: GridIndex | None,
    config_source: str,
    snapshot: Callable[[], Frame | None] | None = None,
) -> CameraAnalyser:
    """A camera's analysis after detection: tracker, zones (map zones projected),
    rules and construction references (under `out_dir/references`), locator, and
    region plans at the model's `crop_size`."""
    try:
        camera = project_ground_zones(cfg.camera(camera_id))
        locator = Locator.for_camera(camera.id, camera.calibration, grid)
        names, roles = analysis_classes(model.class_names, model.roles)
        references = out_dir / "references"
        zones = ZoneEngine(
            camera,
            names,
            cfg.site.tz,
            zone_settings(cfg.tracker),
            references=references,
            roles=roles,
        )
        static_id = names.index(STATIC_CLASS)
        watching = watching_zones(camera.zones, ClassResolver(names, roles), static_id)
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: {exc}") from None
    stationary = None
    if watching:
        stationary = StationaryDetector(
            camera.id, watching, camera.static_objects, static_id, references
        )
    return CameraAnalyser(
        camera,
        ByteTracker(cfg.tracker),
        zones,
        cases,
        snapshot=snapshot,
        locator=locator,
        input_size=model.crop_size,
        stationary=stationary,
    )


def zone_settings(cfg: TrackerConfig) -> ZoneRuleSettings:
    """Zone-rule timing that must agree with the tracker (see ZoneRuleSettings)."""
    return ZoneRuleSettings(forget_after_s=cfg.lost_track_buffer_s)


def camera_plan(
    camera: CameraConfig,
    width: int,
    height: int,
    preset: str | None,
    input_size: int,
    *,
    quiet: bool = False,
) -> RegionPlan | None:
    """The region plan of a camera for a preset and frame size (None: the whole frame),
    from `camera.detect` (or the preset's own, `preset_detect`) and the zones of that
    preset; logs it (unless `quiet`: the zone editor's previews)."""
    d = camera.preset_detect.get(preset, camera.detect) if preset else camera.detect
    longer = max(width, height)
    if d.mode == "whole" or (d.mode == "auto" and longer <= 2 * input_size):
        return None
    zones = [z.polygon for z in camera.zones if z.preset in (None, preset)]
    if not zones:
        return None
    plan = plan_regions(
        width,
        height,
        zones,
        input_size=input_size,
        min_object_px=d.min_object_px,
        overlap_px=d.overlap_px,
        max_crops=d.max_crops,
        full_frame=d.full_frame,
    )
    where = f"camera {camera.id}" + (f" preset {preset}" if preset else "")
    if quiet:
        return plan
    if plan.capped:
        log.warning(
            "%s: the zones need more than max_crops=%d crops at min_object_px=%g; "
            "using %d crops at scale %.2f: the smallest object seen is %.0f px",
            where,
            d.max_crops,
            d.min_object_px,
            len(plan.crops),
            plan.scale,
            plan.smallest_px,
        )
    else:
        log.info(
            "%s: %d region crops per frame at scale %.2f (objects from %.0f px)%s",
            where,
            len(plan.crops),
            plan.scale,
            plan.smallest_px,
            " + full frame" if plan.full_frame else "",
        )
    return plan


@dataclass(slots=True)
class AnalyserTimes:
    """Seconds spent per stage after detection (summed; read by the benchmark)."""

    tracking: float = 0.0
    zones: float = 0.0
    cases: float = 0.0
    stationary: float = 0.0


class CameraAnalyser:
    """Per-camera state after detection: tracker, zone rules, and the case manager."""

    def __init__(
        self,
        camera: CameraConfig,
        tracker: ByteTracker,
        zones: ZoneEngine,
        cases: CaseManager,
        snapshot: Callable[[], Frame | None] | None = None,
        locator: Locator | None = None,
        input_size: int | None = None,
        stationary: StationaryDetector | None = None,
    ) -> None:
        """`snapshot`, if given, returns the latest main-stream picture for evidence;
        `locator` puts events on the ground (calibration, grid cell); `input_size` (the
        model's input side) enables region plans (`camera.detect`); `stationary` finds
        what stays in the zones that watch `static_object` (zones/stationary.py)."""
        self.camera = camera
        self.tracker = tracker
        self.zones = zones
        self.cases = cases
        self._preset: str | None = None
        self._last = Detections.empty()
        #: The last processed frame's detections with their track ids (the console's
        #: debug overlay reads it).
        self.last_tracked = Detections.empty()
        self.snapshot = snapshot
        self.locator = locator
        self.times = AnalyserTimes()
        self.motion = camera.motion
        self._gates: dict[str | None, MotionGate] = {}
        self.input_size = input_size
        self._plans: dict[tuple[str | None, int, int], RegionPlan | None] = {}
        self._region_gates: dict[tuple[str | None, int, int], RegionMotion] = {}
        self._still: dict[int, frozenset[int]] = {}
        self.stationary = stationary

    def region_plan(self, frame: Frame) -> RegionPlan | None:
        """The crops to detect on for this frame (None: the whole frame): the plan of
        its preset and size, planned once from that preset's zones, with the crops
        that `needs_inference` found still marked (their last boxes stand)."""
        key = (frame.preset, frame.width, frame.height)
        if key not in self._plans:
            self._plans[key] = self._plan(frame)
        plan = self._plans[key]
        still = self._still.pop(id(frame), None)
        if plan is None or not still:
            return plan
        return replace(plan, still=still)

    def _plan(self, frame: Frame) -> RegionPlan | None:
        if self.input_size is None:
            return None
        return camera_plan(self.camera, frame.width, frame.height, frame.preset, self.input_size)

    def needs_inference(self, frame: Frame) -> bool:
        """Motion gating: False when nothing moved since the last detector run and the
        re-check interval has not passed. With a region plan each crop is gated on its
        own (detector/region_motion.py) and the still ones are remembered for
        `region_plan`; otherwise one gate per preset watches that preset's zones."""
        if not self.motion.enabled:
            return True
        key = (frame.preset, frame.width, frame.height)
        if key not in self._plans:
            self._plans[key] = self._plan(frame)
        plan = self._plans[key]
        if plan is not None and plan.crops:
            regions = self._region_gates.get(key)
            if regions is None:
                regions = RegionMotion(self.motion, plan.crops, plan.smallest_px)
                self._region_gates[key] = regions
            decision = regions.update(frame.picture, frame.monotonic_s)
            if not decision.any:
                return False
            if decision.still:
                if len(self._still) > 64:  # frames gated but never planned (a failed batch)
                    self._still.clear()
                self._still[id(frame)] = decision.still
            return True
        gate = self._gates.get(frame.preset)
        if gate is None:
            zones = [z.polygon for z in self.camera.zones if z.preset in (None, frame.preset)]
            gate = MotionGate(self.motion, (frame.height, frame.width), zones or None)
            self._gates[frame.preset] = gate
        return gate.update(frame.picture, frame.monotonic_s).run_detector

    def process(self, frame: Frame, detections: Detections | None) -> list[DraftCase]:
        """Track, geofence and case one frame's detections; return the new cases.

        `None` means the detector was skipped (no motion): the last detections stand
        for this frame, so tracks and dwell carry on.
        """
        if frame.preset != self._preset:
            # A PTZ camera at another preset sees another scene: tracks do not carry over.
            self.tracker.reset()
            self._last = Detections.empty()
            self._preset = frame.preset
        if detections is None:
            detections = self._last
        else:
            self._last = detections
        t0 = time.perf_counter()
        if self.stationary is not None:
            static = self.stationary.detect(frame, detections)
            if len(static):
                detections = detections.concat(static)
            t_static = time.perf_counter()
            self.times.stationary += t_static - t0
            t0 = t_static
        tracked = self.tracker.update(detections, frame.monotonic_s)
        self.last_tracked = tracked
        t1 = time.perf_counter()
        ids = tracked.tracker_id[tracked.tracker_id >= 0]
        born = dict(zip(ids.tolist(), self.tracker.first_seen(ids).tolist(), strict=True))
        events = self.zones.update(frame, tracked, born)
        t2 = time.perf_counter()
        out = []
        for event in events:
            if self.locator is not None:
                event = self.locator.locate(event)
            if self.stationary is not None and STATIC_CLASS in (event.class_name, *event.support):
                self.stationary.hold(frame, event.bbox)  # kept until the verdict
            case = self.cases.handle(event, self._on_snapshot(event))
            if case is not None:
                out.append(case)
        self.times.tracking += t1 - t0
        self.times.zones += t2 - t1
        self.times.cases += time.perf_counter() - t2
        return out

    def _on_snapshot(self, event: ViolationEvent) -> ViolationEvent | None:
        """The event redrawn on the latest main-stream picture, boxes scaled to it."""
        main = self.snapshot() if self.snapshot is not None else None
        if main is None:
            return None
        sx, sy = main.width / event.frame.width, main.height / event.frame.height
        x1, y1, x2, y2 = event.bbox
        return replace(
            event,
            frame=main,
            bbox=(x1 * sx, y1 * sy, x2 * sx, y2 * sy),
            polygon=tuple((x * sx, y * sy) for x, y in event.polygon),
        )
