"""One live camera inside the daemon: its reader, queue, PTZ handling and analyser."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit, urlunsplit

from lookout.base.errors import ConfigError, LookoutError
from lookout.cases.manager import CaseManager
from lookout.cases.model import DraftCase
from lookout.config.app import AppConfig, CameraConfig
from lookout.detector.detections import Detections
from lookout.detector.onnx_model import OnnxDetector
from lookout.quality.monitor import QualityMonitor, QualityState
from lookout.runtime.analysis import CameraAnalyser, build_analyser
from lookout.streams.connection import ReaderState, is_file_source
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import OnvifConfig
from lookout.zones.geo import GridIndex
from lookout.zones.locate import project_ground_zones

if TYPE_CHECKING:
    from lookout.streams.onvif_client import OnvifClient, Preset, PtzStatus
    from lookout.streams.ptz import PtzController

log = logging.getLogger(__name__)


def with_credentials(uri: str, onvif: OnvifConfig) -> str:
    """Put the ONVIF user and password into an RTSP URI that has none."""
    parts = urlsplit(uri)
    if parts.username or not onvif.username:
        return uri
    userinfo = quote(onvif.username, safe="")
    password = onvif.password.get_secret_value()
    if password:
        userinfo += ":" + quote(password, safe="")
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{parts.netloc}"))


#: A main-stream picture older than this is not used as evidence.
SNAPSHOT_MAX_AGE_S = 5.0


def _latest(queue: FrameQueue[Frame]) -> Callable[[], Frame | None]:
    def latest() -> Frame | None:
        frame = queue.peek()
        if frame is None or time.monotonic() - frame.monotonic_s > SNAPSHOT_MAX_AGE_S:
            return None
        return frame

    return latest


@dataclass(frozen=True, slots=True)
class CameraSnapshot:
    """What the metrics and health endpoints show of one camera."""

    camera_id: str
    state: str
    frames_received: int
    pictures_decoded: int
    pictures_corrupt: int
    frames_analysed: int
    frames_dropped: int
    frames_skipped_moving: int
    reconnects: int
    seconds_since_last_frame: float | None
    preset: str | None
    last_error: str | None
    first_frame_at: str | None = None  # ISO wall time of the first analysed frame
    quality: QualityState | None = None  # video quality diagnosis (lookout/quality/monitor.py)
    queue_depth: int = 0  # frames waiting for analysis (bounded by stream.queue_size)

    @classmethod
    def starting(cls, camera_id: str) -> CameraSnapshot:
        """A configured camera whose reader has not started yet: the daemon lists it
        from its first answer (docs/OPERATIONS.md, "Daemon")."""
        return cls(camera_id, ReaderState.STARTING.value, 0, 0, 0, 0, 0, 0, 0, None, None, None)


class OnvifSource:
    """Resolves a camera's stream URI over ONVIF at each connection attempt, so an
    ONVIF outage is retried with the reader's backoff like any stream failure."""

    def __init__(self, cfg: OnvifConfig) -> None:
        self.cfg = cfg
        self.client: OnvifClient | None = None
        self._lock = threading.Lock()

    def connect(self) -> OnvifClient:
        from lookout.streams.onvif_client import OnvifClient

        with self._lock:
            if self.client is None:
                self.client = OnvifClient.open(self.cfg)
            return self.client

    def __call__(self) -> str:
        """URI of the stream to analyse: the sub-stream profile if set, else the main."""
        index = self.cfg.sub_profile if self.cfg.sub_profile is not None else self.cfg.profile
        return with_credentials(self.connect().stream_uri(index), self.cfg)

    def main_uri(self) -> str:
        return with_credentials(self.connect().stream_uri(self.cfg.profile), self.cfg)

    def close(self) -> None:
        with self._lock:
            if self.client is not None:
                self.client.close()
                self.client = None

    # PtzClient protocol: the PTZ thread survives an ONVIF outage because every call
    # (re)connects on demand and failures are retried by the controller.
    def presets(self) -> list[Preset]:
        return self.connect().presets()

    def goto_preset(self, token: str) -> None:
        self.connect().goto_preset(token)

    def status(self) -> PtzStatus:
        return self.connect().status()


class CameraRuntime:
    """Reader + queue + analyser (+ ONVIF/PTZ) of one camera, and its video quality
    diagnosis (`quality`)."""

    def __init__(
        self,
        camera: CameraConfig,
        reader: StreamReader,
        queue: FrameQueue[Frame],
        analyser: CameraAnalyser,
        onvif: OnvifSource | None = None,
        ptz: PtzController | None = None,
        snapshot_reader: StreamReader | None = None,
        quality: QualityMonitor | None = None,
    ) -> None:
        self.camera = camera
        self.reader = reader
        self.queue = queue
        self.analyser = analyser
        self.onvif = onvif
        self.ptz = ptz
        self.snapshot_reader = snapshot_reader
        #: Diagnoses every analysed frame (lookout/quality/monitor.py).
        self.quality_monitor = quality or QualityMonitor(camera.id, camera.quality, None)
        self.frames_analysed = 0
        self.first_frame_at: datetime | None = None

    @property
    def camera_id(self) -> str:
        return self.camera.id

    @classmethod
    def create(
        cls,
        cfg: AppConfig,
        camera_id: str,
        detector: OnnxDetector,
        cases: CaseManager,
        signal: threading.Event,
        grid: GridIndex | None = None,
    ) -> CameraRuntime:
        """Reader, queue, ONVIF/PTZ and the analysis (`build_analyser`) of a camera of a
        config that passed `validate_app(..., live=True)`."""
        cam = project_ground_zones(cfg.camera(camera_id))
        queue: FrameQueue[Frame] = FrameQueue(
            cam.stream.queue_size, cam.stream.queue_policy, signal
        )
        onvif = OnvifSource(cam.onvif) if cam.onvif is not None else None
        presets = None
        ptz = None
        if cam.onvif is not None and cam.onvif.ptz.mode != "none":
            from lookout.streams.ptz import PresetState

            presets = PresetState(cam.onvif.ptz.settle_s)
        if cam.source:
            source: str = str(cfg.path(cam.source)) if is_file_source(cam.source) else cam.source
            reader = StreamReader(
                cam.id,
                source,
                cam.stream,
                analysis_fps=cam.analysis_fps,
                tz=cfg.site.tz,
                queue=queue,
                presets=presets,
            )
        elif onvif is not None and cam.onvif is not None:
            reader = StreamReader(
                cam.id,
                f"onvif://{cam.onvif.host}:{cam.onvif.port}",
                cam.stream,
                analysis_fps=cam.analysis_fps,
                tz=cfg.site.tz,
                queue=queue,
                presets=presets,
                resolver=onvif,
            )
        else:  # validate_app(live=True) refuses such a config before cameras start
            raise ConfigError(f"cameras[{cam.id}]: needs a source or an onvif section")
        if presets is not None and onvif is not None and cam.onvif is not None:
            from lookout.streams.ptz import PtzController

            ptz = PtzController(onvif, cam.onvif.ptz, state=presets, camera_id=cam.id)
        snap = cls._snapshot_reader(cfg, cam, onvif)
        analyser = build_analyser(
            cfg,
            camera_id,
            detector,
            cases=cases,
            out_dir=cfg.path(cfg.daemon.out_dir),
            grid=grid,
            config_source="config",
            snapshot=None if snap is None else _latest(snap.queue),
        )
        references = cfg.path(cfg.daemon.out_dir) / "references"
        quality = QualityMonitor(cam.id, cam.quality, references)
        return cls(cam, reader, queue, analyser, onvif, ptz, snap, quality)

    @staticmethod
    def _snapshot_reader(
        cfg: AppConfig, cam: CameraConfig, onvif: OnvifSource | None
    ) -> StreamReader | None:
        """A keyframes-only reader of the main stream, when a sub-stream is analysed:
        it keeps the latest high-resolution picture for evidence."""
        resolver = None
        if cam.stream.snapshot_source:
            url = cam.stream.snapshot_source
        elif onvif is not None and onvif.cfg.sub_profile is not None:
            url, resolver = f"onvif://{onvif.cfg.host}:{onvif.cfg.port}/main", onvif.main_uri
        else:
            return None
        settings = cam.stream.model_copy(update={"analysis_mode": "keyframes", "queue_size": 1})
        return StreamReader(
            f"{cam.id}/main",
            url,
            settings,
            analysis_fps=1.0,
            tz=cfg.site.tz,
            queue=FrameQueue(1),
            resolver=resolver,
        )

    def start(self) -> None:
        self.reader.start()
        if self.snapshot_reader is not None:
            self.snapshot_reader.start()
        if self.ptz is not None:
            self.ptz.start()

    def stop(self) -> None:
        """Signal the threads to stop (does not wait; see `join`)."""
        self.reader.stop()
        if self.snapshot_reader is not None:
            self.snapshot_reader.stop()
        if self.ptz is not None:
            self.ptz.stop(0.0)

    def join(self, timeout: float) -> bool:
        done = self.reader.join(timeout)
        if self.snapshot_reader is not None:
            done = self.snapshot_reader.join(max(0.1, timeout / 2)) and done
        if self.ptz is not None:
            done = self.ptz.stop(1.0) and done
        if self.onvif is not None:
            try:
                self.onvif.close()
            except LookoutError as exc:
                log.debug("camera %s: onvif close: %s", self.camera_id, exc)
        return done

    def needs_inference(self, frame: Frame) -> bool:
        """Motion gate: False when nothing moved in the zones since the last run."""
        return self.analyser.needs_inference(frame)

    def process(self, frame: Frame, detections: Detections | None) -> list[DraftCase]:
        """Analyse a frame; `None` detections (gated frame) reuse the last ones."""
        self.frames_analysed += 1
        if self.first_frame_at is None:
            self.first_frame_at = frame.captured_at
        self.quality_monitor.observe(frame)
        return self.analyser.process(frame, detections)

    @property
    def quality(self) -> QualityState:
        """The camera's video quality diagnosis: an immutable snapshot, safe to read
        from any thread (replaced after each analysed frame)."""
        return self.quality_monitor.state

    def snapshot(self) -> CameraSnapshot:
        stats = self.reader.stats
        return CameraSnapshot(
            camera_id=self.camera_id,
            state=self.reader.state.value,
            frames_received=stats.frames_received,
            pictures_decoded=self.reader.decoder_stats.decoded,
            pictures_corrupt=self.reader.decoder_stats.corrupt_dropped,
            frames_analysed=self.frames_analysed,
            frames_dropped=self.queue.dropped,
            frames_skipped_moving=stats.frames_skipped_moving,
            reconnects=stats.reconnects,
            seconds_since_last_frame=self.reader.seconds_since_last_frame(),
            preset=self.reader.presets.current() if self.reader.presets else None,
            last_error=stats.last_error,
            first_frame_at=None if self.first_frame_at is None else self.first_frame_at.isoformat(),
            quality=self.quality,
            queue_depth=len(self.queue),
        )
