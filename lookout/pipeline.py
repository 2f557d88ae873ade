"""The replay pipeline: file → frames → batched detector → tracker → zones → cases."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from lookout.cases.manager import CaseManager
from lookout.cases.model import DraftCase
from lookout.config import AppConfig, CameraConfig
from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.manifest import load_manifest
from lookout.detector.motion import MotionGate
from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.settings import TrackerConfig
from lookout.detector.tracker import ByteTracker
from lookout.errors import ConfigError
from lookout.streams.file_reader import FileReader
from lookout.streams.frame import Frame
from lookout.streams.prefetch import prefetch
from lookout.zones.events import ViolationEvent
from lookout.zones.geo import GridIndex
from lookout.zones.locate import Locator, load_grid, project_ground_zones
from lookout.zones.rules import ZoneEngine, ZoneRuleSettings, validate_classes

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ReplayStats:
    """What a replay did; printed as the closing summary."""

    frames_read: int = 0
    frames_analysed: int = 0
    frames_inferred: int = 0
    detections: int = 0
    inference_calls: int = 0
    footage_s: float = 0.0
    elapsed_s: float = 0.0
    cases_by_type: Counter[str] = field(default_factory=Counter)
    merged_events: int = 0
    cases: list[DraftCase] = field(default_factory=list)

    @property
    def speed_x_realtime(self) -> float:
        return self.footage_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def analysed_fps(self) -> float:
        return self.frames_analysed / self.elapsed_s if self.elapsed_s > 0 else 0.0


def zone_settings(cfg: TrackerConfig) -> ZoneRuleSettings:
    """Zone-rule timing that must agree with the tracker (see ZoneRuleSettings)."""
    return ZoneRuleSettings(forget_after_s=cfg.lost_track_buffer_s)


def build_detector(cfg: AppConfig, config_source: str) -> OnnxDetector:
    """Load the manifest and model named by the config; check zone classes against it."""
    manifest_path = cfg.path(cfg.model.manifest)
    if not manifest_path.is_file():
        raise ConfigError(f"{config_source}: model.manifest: file not found: {manifest_path}")
    manifest = load_manifest(manifest_path)
    rt = cfg.model.runtime
    detector = OnnxDetector.from_manifest(
        manifest,
        conf_threshold=cfg.model.confidence,
        iou_threshold=cfg.model.nms_iou,
        intra_op_threads=rt.intra_op_threads,
        inter_op_threads=rt.inter_op_threads,
        allow_spinning=rt.allow_spinning,
        provider_options=rt.provider_options,
        engine_cache_dir=cfg.path(rt.engine_cache_dir) if rt.engine_cache_dir else None,
        warmup=rt.warmup,
        providers=tuple(rt.providers),
        max_batch=cfg.model.batch_size,
    )
    try:
        validate_classes(cfg.cameras, detector.class_names)
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: {exc}") from None
    return detector


def load_app_grid(cfg: AppConfig, config_source: str) -> GridIndex | None:
    """The unit grid cells named by the config, loaded once per process."""
    if cfg.grid is None:
        return None
    try:
        return load_grid(cfg.grid, cfg.path(cfg.grid.geojson))
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: grid: {exc}") from None


def build_locator(
    cfg: AppConfig, camera: CameraConfig, grid: GridIndex | None, config_source: str
) -> Locator | None:
    try:
        return Locator.for_camera(camera.id, camera.calibration, grid)
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: {exc}") from None


def batched(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(slots=True)
class AnalyserTimes:
    """Seconds spent per stage after detection (summed; read by the benchmark)."""

    tracking: float = 0.0
    zones: float = 0.0
    cases: float = 0.0


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
    ) -> None:
        """`snapshot`, if given, returns the latest main-stream picture for evidence;
        `locator` puts events on the ground (calibration, grid cell)."""
        self.camera = camera
        self.tracker = tracker
        self.zones = zones
        self.cases = cases
        self._preset: str | None = None
        self._last = Detections.empty()
        self.snapshot = snapshot
        self.locator = locator
        self.times = AnalyserTimes()
        self.motion = camera.motion
        self._gates: dict[str | None, MotionGate] = {}

    def needs_inference(self, frame: Frame) -> bool:
        """Motion gate (one per preset, watching that preset's zones): False when nothing
        moved since the last detector run and the re-check interval has not passed."""
        if not self.motion.enabled:
            return True
        gate = self._gates.get(frame.preset)
        if gate is None:
            regions = [
                z.polygon for z in self.camera.zones if z.preset in (None, frame.preset)
            ] or None
            gate = MotionGate(self.motion, (frame.height, frame.width), regions)
            self._gates[frame.preset] = gate
        return gate.update(frame.image, frame.monotonic_s).run_detector

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
        tracked = self.tracker.update(detections, frame.monotonic_s)
        t1 = time.perf_counter()
        ids = tracked.tracker_id[tracked.tracker_id >= 0]
        born = dict(zip(ids.tolist(), self.tracker.first_seen(ids).tolist(), strict=True))
        events = self.zones.update(frame, tracked, born)
        t2 = time.perf_counter()
        out = []
        for event in events:
            if self.locator is not None:
                event = self.locator.locate(event)
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


class ReplayPipeline:
    """Analyse one recorded file as fast as possible, never dropping a frame."""

    def __init__(
        self, cfg: AppConfig, camera: CameraConfig, detector: OnnxDetector, analyser: CameraAnalyser
    ) -> None:
        self.cfg = cfg
        self.camera = camera
        self.detector = detector
        self.analyser = analyser

    @classmethod
    def from_config(
        cls, cfg: AppConfig, camera_id: str, out_dir: Path, *, config_source: str
    ) -> ReplayPipeline:
        try:
            camera = project_ground_zones(cfg.camera(camera_id))
        except ConfigError as exc:
            raise ConfigError(f"{config_source}: {exc}") from None
        detector = build_detector(cfg, config_source)
        tracker = ByteTracker(cfg.tracker)
        zones = ZoneEngine(
            camera,
            detector.class_names,
            cfg.site.tz,
            zone_settings(cfg.tracker),
            references=out_dir / "references",
        )
        locator = build_locator(cfg, camera, load_app_grid(cfg, config_source), config_source)
        cases = CaseManager.from_config(cfg, out_dir)
        analyser = CameraAnalyser(camera, tracker, zones, cases, locator=locator)
        return cls(cfg, camera, detector, analyser)

    def open_reader(self, video: Path, start: datetime | None = None) -> FileReader:
        tz = self.cfg.site.tz
        if start is None:
            start = self.cfg.site.replay_start
        if start is None:
            start = FileReader.file_start_time(video, tz)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        return FileReader(
            video, self.camera.id, analysis_fps=self.camera.analysis_fps, start_time=start
        )

    def run(
        self, reader: FileReader, on_frame: Callable[[Frame], None] | None = None
    ) -> ReplayStats:
        stats = ReplayStats()

        def deliver(_key: None, frame: Frame, dets: Detections | None) -> None:
            stats.frames_analysed += 1
            if dets is not None:
                stats.frames_inferred += 1
                stats.detections += len(dets)
            stats.footage_s = frame.pts_s
            stats.cases.extend(self.analyser.process(frame, dets))
            if on_frame is not None:
                on_frame(frame)

        # The same batching and gating as the daemon, run synchronously: replay never
        # drops a frame, and decoding runs ahead on its own thread.
        batcher: MicroBatcher[None] = MicroBatcher(
            self.detector.detect,
            deliver,
            max_batch=self.cfg.model.batch_size,
            max_wait_s=0.0,
            gate=lambda _k, f: self.analyser.needs_inference(f),
        )
        t0 = time.perf_counter()
        try:
            frames = prefetch(reader, depth=2 * self.cfg.model.batch_size)
            for batch in batched(frames, self.cfg.model.batch_size):
                batcher.run_batch([(None, f) for f in batch])
        finally:
            self.analyser.cases.close()
        stats.inference_calls = batcher.stats.batches
        stats.elapsed_s = time.perf_counter() - t0
        stats.frames_read = reader.frames_read
        if reader.info.duration_s:
            stats.footage_s = max(stats.footage_s, reader.info.duration_s)
        stats.cases_by_type = Counter(c.type for c in stats.cases)
        stats.merged_events = self.analyser.cases.merged
        return stats
