"""The replay pipeline: file → frames → batched detector → tracker → zones → cases."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lookout.base.errors import ConfigError
from lookout.cases.model import DraftCase
from lookout.config.app import AppConfig, CameraConfig
from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.onnx_model import OnnxDetector
from lookout.runtime.analysis import CameraAnalyser, build_analyser
from lookout.runtime.services import build_detector, load_app_grid, open_cases
from lookout.streams.file_reader import FileReader, decode_threads_beside
from lookout.streams.frame import Frame
from lookout.streams.prefetch import prefetch

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
    #: New cases the second look held (docs/LEARNING.md "The second look").
    held: int = 0
    crops_run: int = 0
    crops_reused: int = 0
    cases: list[DraftCase] = field(default_factory=list)

    @property
    def speed_x_realtime(self) -> float:
        return self.footage_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def analysed_fps(self) -> float:
        return self.frames_analysed / self.elapsed_s if self.elapsed_s > 0 else 0.0


def batched(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in frames:
        batch.append(frame)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


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
            cfg.camera(camera_id)
        except ConfigError as exc:
            raise ConfigError(f"{config_source}: {exc}") from None
        detector = build_detector(cfg, config_source)
        grid = load_app_grid(cfg, config_source)
        cases = open_cases(cfg, out_dir)
        analyser = build_analyser(
            cfg,
            camera_id,
            detector,
            cases=cases,
            out_dir=out_dir,
            grid=grid,
            config_source=config_source,
        )
        return cls(cfg, analyser.camera, detector, analyser)

    def open_reader(self, video: Path, start: datetime | None = None) -> FileReader:
        tz = self.cfg.site.tz
        if start is None:
            start = self.cfg.site.replay_start
        if start is None:
            start = FileReader.file_start_time(video, tz)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=tz)
        return FileReader(
            video,
            self.camera.id,
            analysis_fps=self.camera.analysis_fps,
            start_time=start,
            decode_threads=decode_threads_beside(self.detector.cpu_threads),
        )

    def run(
        self,
        reader: FileReader,
        on_frame: Callable[[Frame], None] | None = None,
        on_detections: Callable[[Frame, Detections | None], None] | None = None,
    ) -> ReplayStats:
        """Replay `reader` to its end. `on_detections(frame, dets)` sees each analysed
        frame's merged detections before tracking (None: gated, the last ones stand);
        `on_frame(frame)` is called after the frame was analysed."""
        stats = ReplayStats()

        def deliver(_key: None, frame: Frame, dets: Detections | None) -> None:
            stats.frames_analysed += 1
            if dets is not None:
                stats.frames_inferred += 1
                stats.detections += len(dets)
            if on_detections is not None:
                on_detections(frame, dets)
            stats.footage_s = frame.pts_s
            stats.cases.extend(self.analyser.process(frame, dets))
            if on_frame is not None:
                on_frame(frame)

        # The same batching and gating as the daemon, run synchronously: replay never
        # drops a frame and decoding runs ahead on its own thread. Analysis stays on
        # this thread (no delivery stage): a third busy thread on a small box slows
        # ONNX Runtime more than it overlaps (benchmarks/README.md).
        batcher: MicroBatcher[None] = MicroBatcher(
            self.detector.detect,
            deliver,
            max_batch=self.cfg.model.batch_size,
            max_wait_s=0.0,
            gate=lambda _k, f: self.analyser.needs_inference(f),
            plan=lambda _k, f: self.analyser.region_plan(f),
        )
        t0 = time.perf_counter()
        try:
            frames = prefetch(reader, depth=2 * self.cfg.model.batch_size)
            for batch in batched(frames, self.cfg.model.batch_size):
                batcher.run_batch([(None, f) for f in batch])
        finally:
            batcher.close_stage()
            self.analyser.cases.close()
        stats.inference_calls = batcher.stats.batches
        stats.crops_run = batcher.stats.crops_run
        stats.crops_reused = batcher.stats.crops_reused
        stats.elapsed_s = time.perf_counter() - t0
        stats.frames_read = reader.frames_read
        if reader.info.duration_s:
            stats.footage_s = max(stats.footage_s, reader.info.duration_s)
        stats.cases_by_type = Counter(c.type for c in stats.cases)
        stats.merged_events = self.analyser.cases.merged
        stats.held = sum(self.analyser.cases.held.values())
        return stats
