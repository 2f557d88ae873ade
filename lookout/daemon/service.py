"""`lookout run`: the headless daemon for live cameras.

One reader thread per camera feeds a bounded drop-oldest queue; one detector thread
gathers frames across cameras into batches, runs the shared model and hands each
frame to its camera's tracker, zone rules and the shared case manager. The main
thread handles signals:

- SIGTERM / SIGINT: stop readers, drain queued frames, flush sinks, exit 0.
- SIGHUP: reload the config; add, remove and restart changed cameras. An invalid new
  config is reported and the running one kept.

One HTTP server (lookout/console/server.py) serves /healthz, /metrics and the web
console; the daemon is its `ConsoleHost` and hands each analysed frame to the
console's snapshot store (references only: encoding happens there, and only while a
browser is looking).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from lookout.base.errors import ConfigError, LookoutError
from lookout.cases.delivery import DeliveryWorker
from lookout.cases.learn import RefitWorker
from lookout.cases.manager import CaseManager
from lookout.cases.remote import build_delivery, outbox_path
from lookout.cases.retention import RetentionWorker
from lookout.cases.verdicts import CaseReview
from lookout.config.app import AppConfig, CameraConfig, load_config
from lookout.console.security import SecuritySetup
from lookout.console.server import CaseConsoleSetup, ConsoleParts, open_console
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import CameraInfo
from lookout.daemon.metrics import (
    LoginCollector,
    Metrics,
    SecondLookCollector,
    StorageCollector,
)
from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.regions import RegionPlan
from lookout.fleet.agent import ClusterAgent
from lookout.fleet.agent import attach as attach_cluster
from lookout.runtime.analysis import validate_app
from lookout.runtime.camera import CameraRuntime, CameraSnapshot
from lookout.runtime.services import (
    build_detector,
    check_app_grid,
    load_app_grid,
    open_cases,
    refit_worker,
    retention_worker,
)
from lookout.streams.frame import Frame
from lookout.streams.onvif_client import Preset
from lookout.zones.geo import GridIndex
from lookout.zones.locate import project_ground_zones
from lookout.zones.stationary import analysis_classes

log = logging.getLogger(__name__)

#: How long the zone editor holds a PTZ camera at the preset it sent it to.
EDITOR_HOLD_S = 300.0


class Daemon:
    """Wires cameras, detector, cases, metrics; `run()` blocks until stopped."""

    def __init__(
        self,
        cfg: AppConfig,
        config_path: Path,
        detector: OnnxDetector,
        cases: CaseManager,
        prepare: Callable[[AppConfig], AppConfig] | None = None,
    ) -> None:
        self.cfg = cfg
        self.config_path = config_path
        #: Applied to every config loaded (start and reload): `lookout console` uses it
        #: to put a recorded file in place of the live sources.
        self.prepare = prepare or (lambda c: c)
        self.detector = detector
        self.cases = cases
        self.cameras: dict[str, CameraRuntime] = {}
        self.frames_ready = threading.Event()
        self.metrics = Metrics(self._snapshots, self._delivery_stats, lambda: self.batcher.stats)
        self.http: ConsoleParts | None = None
        #: The console's snapshot store while the console is on (None otherwise).
        self.snapshots: SnapshotStore | None = None
        self.grid: GridIndex | None = None
        #: Delivers outbox cases to Redis Streams / webhooks (None without remote sinks).
        self.delivery: DeliveryWorker | None = None
        #: Deletes old evidence and outbox rows (docs/OPERATIONS.md "Retention and full disks").
        self.retention: RetentionWorker | None = None
        #: Refits the second look on the verdicts (docs/LEARNING.md "The second look").
        self.refit: RefitWorker | None = None
        #: With `cluster:`, only the cameras whose lease this box holds run here.
        self.cluster: ClusterAgent | None = None
        self.metrics.registry.register(
            StorageCollector(
                cases.storage_stats,
                lambda: self.retention.retention.stats if self.retention is not None else None,
            )
        )
        self.metrics.registry.register(SecondLookCollector(lambda: (cases.held, cases.scored)))
        self.metrics.registry.register(LoginCollector(self._login_counts))
        self._stop = threading.Event()
        self._reload = threading.Event()
        #: Reloads run so far and whether the last took the new file (the console's
        #: zone editor waits on these after a save: lookout/console/editor.py).
        self.reloads = 0
        self.last_reload_ok = True
        self.batcher: MicroBatcher[CameraRuntime] = MicroBatcher(
            detector.detect,
            self._deliver,
            max_batch=cfg.model.batch_size,
            max_wait_s=cfg.daemon.max_batch_wait_ms / 1000,
            signal=self.frames_ready,
            gate=lambda rt, frame: rt.needs_inference(frame),
            plan=self._plan,
            on_batch=self._observe_batch,
            pipelined=True,
        )
        self.started_at = time.monotonic()

    @classmethod
    def from_config(
        cls, config_path: Path, prepare: Callable[[AppConfig], AppConfig] | None = None
    ) -> Daemon:
        cfg = load_config(config_path)
        if prepare is not None:
            cfg = prepare(cfg)
        detector = build_detector(cfg, str(config_path))
        # The checks a SIGHUP reload runs, before anything starts or is written.
        validate_app(cfg, detector.class_names, detector.roles, str(config_path), live=True)
        out_dir = cfg.path(cfg.daemon.out_dir)
        grid = load_app_grid(cfg, str(config_path))
        cases = open_cases(cfg, out_dir)
        daemon = cls(cfg, config_path, detector, cases, prepare)
        daemon.grid = grid
        daemon.delivery = build_delivery(cfg.sinks, cfg.delivery, out_dir)
        if daemon.delivery is not None:
            cases.on_written = daemon.delivery.notify
        daemon.retention = retention_worker(cfg, cases)
        daemon.refit = refit_worker(cfg, cases, out_dir)
        daemon.cluster = attach_cluster(daemon.cfg, daemon.cases, daemon.metrics.registry)
        return daemon

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        http = self.cfg.daemon.http
        if http.enabled:
            out_dir = self.cfg.path(self.cfg.daemon.out_dir)
            self.http = open_console(
                http,
                self,
                analysis_classes(self.detector.class_names, self.detector.roles)[0],
                out_dir,
                str(self.config_path),
                self._case_console(out_dir) if http.console.enabled else None,
                editor=self,
                tz=self.cfg.site.tz,
                security=self._security(out_dir),
            )
            self.snapshots = self.http.store
            self.http.start()
            what = "console, health and metrics" if self.http.console else "health and metrics"
            log.info("%s on %s://%s:%d/", what, self.http.scheme, http.host, self.http.port)
        if self.delivery is not None:
            self.delivery.start()  # resumes cases left undelivered by an earlier run
        if self.retention is not None:
            self.retention.start()
        if self.refit is not None:
            self.refit.start()
        if self.cluster is not None:
            self.cluster.start()  # cameras follow the leases (`_sync_cluster`)
            self._sync_cluster()
        else:
            for cam in self.cfg.cameras:
                self._add_camera(cam.id, self.cfg)
        self.batcher.start()
        log.info("lookout running: %d camera(s)", len(self.cameras))

    def _login_counts(self) -> tuple[dict[str, int], dict[str, int]] | None:
        security = self.http.security if self.http is not None else None
        if security is None:
            return None
        return dict(security.throttle.outcomes), dict(security.throttle.lockouts)

    def _security(self, out_dir: Path) -> SecuritySetup:
        """Where the console keeps sessions and the audit log: the outbox database (the
        console's own without a SQLite outbox), Redis for a fleet (docs/ACCOUNTS.md)."""
        db = outbox_path(self.cfg.sinks, out_dir) or out_dir / "console.db"
        users = self.cfg.daemon.http.console.users_file
        return SecuritySetup(db, self.cfg.path(users) if users else None, self.cfg.cluster)

    def _case_console(self, out_dir: Path) -> CaseConsoleSetup:
        """The console's case review on this daemon's outbox (docs/CASE_STATUS.md);
        without a SQLite outbox the cases page says so."""
        review = None
        try:
            review = CaseReview.from_settings(self.cfg.cases_settings(out_dir))
        except (LookoutError, OSError) as exc:
            log.warning("console: no case review: %s", exc)
        notify = self.delivery.notify if self.delivery is not None else None
        return CaseConsoleSetup(review, self.cfg.site.tz, notify)

    def request_stop(self) -> None:
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    def install_signal_handlers(self) -> None:
        def on_term(signum: int, _frame: FrameType | None) -> None:
            log.info("signal %s: stopping", signal.Signals(signum).name)
            self.request_stop()

        def on_hup(_signum: int, _frame: FrameType | None) -> None:
            self._reload.set()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)

    def run(self) -> int:
        """Block until stopped; returns the exit code."""
        self.start()
        try:
            while not self._stop.wait(0.2):
                self._sync_cluster()
                if self._reload.is_set():
                    self._reload.clear()
                    self.last_reload_ok = self.reload()
                    self.reloads += 1
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Ordered stop: readers, then drain the detector, then flush and close sinks."""
        budget = self.cfg.daemon.shutdown_timeout_s
        t0 = time.monotonic()
        if self.cluster is not None:
            self.cluster.stop()
        for rt in self.cameras.values():
            rt.stop()
        for rt in self.cameras.values():
            left = max(0.1, budget * 0.4 - (time.monotonic() - t0))
            if not rt.join(left):
                log.warning("camera %s: reader still blocked in I/O; leaving it", rt.camera_id)
        # Frames already queued are still analysed (drained) before the sinks close.
        if not self.batcher.stop(max(0.5, budget - (time.monotonic() - t0) - 0.5)):
            log.warning("detector did not drain within the shutdown budget")
        if self.retention is not None:
            self.retention.stop()
        if self.refit is not None:
            self.refit.stop()
        self.cases.close()
        if self.delivery is not None:
            # Undelivered cases stay in the outbox and go out after the next start.
            self.delivery.close(max(0.5, budget - (time.monotonic() - t0)))
        if self.cluster is not None:  # after the last case: another box may take over
            self.cluster.release_all()
        if self.http is not None:
            self.http.stop()
        log.info("lookout stopped in %.1f s", time.monotonic() - t0)

    # -- cameras and reload -------------------------------------------------------------
    def _add_camera(self, camera_id: str, cfg: AppConfig) -> None:
        rt = CameraRuntime.create(
            cfg, camera_id, self.detector, self.cases, self.frames_ready, self.grid
        )
        if self.cluster is not None:  # its stops are shared with the other boxes
            self.cluster.adopt(rt)
        self.cameras = {**self.cameras, camera_id: rt}
        self.batcher.set_sources({r: r.queue for r in self.cameras.values()})
        rt.start()

    def _sync_cluster(self) -> None:
        if self.cluster is not None:
            self.cluster.sync(
                list(self.cameras), lambda c: self._add_camera(c, self.cfg), self._remove_camera
            )

    def _remove_camera(self, camera_id: str) -> None:
        rt = self.cameras[camera_id]
        self.cameras = {k: v for k, v in self.cameras.items() if k != camera_id}
        self.batcher.set_sources({r: r.queue for r in self.cameras.values()})
        rt.stop()
        rt.join(2.0)

    def reload(self) -> bool:
        """Apply a new config file; keep the running one if it is invalid."""
        try:
            new = self.prepare(load_config(self.config_path))
            validate_app(
                new,
                self.detector.class_names,
                self.detector.roles,
                str(self.config_path),
                live=True,
            )
            grid = self.grid
            if new.grid != self.cfg.grid:
                grid = load_app_grid(new, str(self.config_path))
            else:  # the same cells: the zones' grid codes may have changed
                check_app_grid(new, grid, str(self.config_path))
        except LookoutError as exc:
            log.error("reload rejected, keeping the running config: %s", exc)
            return False
        self.grid = grid
        if new.model != self.cfg.model:
            log.warning("reload: model settings changed; they apply after a restart")
        if new.daemon.http != self.cfg.daemon.http:
            log.warning("reload: daemon.http settings changed; they apply after a restart")
        if new.second_look != self.cfg.second_look:
            if self.cases.second_look is not None:  # a new fit file is read at any time
                self.cases.second_look.threshold = new.second_look.threshold
            log.info("reload: second_look threshold %.2f", new.second_look.threshold)
        old = {c.id: c for c in self.cfg.cameras}
        fresh = {c.id: c for c in new.cameras}
        removed = [cid for cid in old if cid not in fresh]
        added = [cid for cid in fresh if cid not in old]
        changed = [cid for cid in fresh if cid in old and fresh[cid] != old[cid]]
        if self.cluster is not None:  # only cameras running here; the leases add the rest
            self.cluster.set_cameras(fresh)
            removed = [c for c in removed if c in self.cameras]
            changed, added = [c for c in changed if c in self.cameras], []
        self.cfg = new  # listed from now on: the added ones as starting
        for cid in removed + changed:
            self._remove_camera(cid)
        for cid in changed + added:
            self._add_camera(cid, new)
        log.info("reload: +%d -%d ~%d camera(s)", len(added), len(removed), len(changed))
        return True

    # -- detection ---------------------------------------------------------------------
    def _deliver(self, rt: CameraRuntime, frame: Frame, dets: Detections | None) -> None:
        cases = rt.process(frame, dets)
        for case in cases:
            self.metrics.cases.labels(type=case.type).inc()
        if self.snapshots is not None:
            self.snapshots.observe(frame, rt.analyser.last_tracked, cases, gated=dets is None)

    def _plan(self, rt: CameraRuntime, frame: Frame) -> RegionPlan | None:
        plan = rt.analyser.region_plan(frame)
        if self.snapshots is not None:
            self.snapshots.observe_plan(rt.camera_id, plan)
        return plan

    def _observe_batch(self, size: int, seconds: float) -> None:
        self.metrics.detector_latency.observe(seconds)
        self.metrics.batch_size.observe(size)

    # -- health and the console (ConsoleHost) -----------------------------------------
    def _delivery_stats(self) -> dict[str, dict[str, int]]:
        return self.delivery.stats() if self.delivery is not None else {}

    def deliveries(self) -> dict[str, dict[str, int]]:
        return self._delivery_stats()

    def render_metrics(self) -> bytes:
        return self.metrics.render()

    def health(self) -> tuple[int, dict[str, Any]]:
        return self._health()

    def console_cameras(self) -> list[CameraInfo]:
        """Every camera for the console, a configured one not yet started included;
        `quality` when the runtime has one."""
        running = self.cameras
        infos = []
        for cam in self._listed():
            rt = running.get(cam.id)
            if rt is None:
                infos.append(CameraInfo(project_ground_zones(cam), CameraSnapshot.starting(cam.id)))
            else:
                infos.append(
                    CameraInfo(rt.analyser.camera, rt.snapshot(), getattr(rt, "quality", None))
                )
        return infos

    # -- the zone editor's host (lookout/console/editor.py) -----------------------------
    def input_size(self) -> int:
        return self.detector.crop_size

    def ptz_presets(self, camera_id: str) -> list[Preset] | None:
        rt = self.cameras.get(camera_id)
        if rt is None or rt.onvif is None or rt.ptz is None:
            return None
        return rt.onvif.presets()

    def goto_preset(self, camera_id: str, token: str) -> None:
        rt = self.cameras.get(camera_id)
        if rt is None:
            raise ConfigError(f"camera {camera_id}: not running")
        if rt.ptz is None:
            raise ConfigError(
                f"camera {camera_id}: no PTZ control (needs onvif.ptz.mode drive or follow)"
            )
        rt.ptz.hold(token, EDITOR_HOLD_S)

    def current_preset(self, camera_id: str) -> str | None:
        rt = self.cameras.get(camera_id)
        if rt is None or rt.reader.presets is None:
            return None
        return rt.reader.presets.current()

    def _listed(self) -> list[CameraConfig]:
        """The cameras health, metrics and the console list: every configured one from
        the first answer on (state `starting` until its reader runs); with `cluster:`
        the ones this box holds."""
        if self.cluster is not None:
            return [rt.analyser.camera for rt in self.cameras.values()]
        return list(self.cfg.cameras)

    def _snapshots(self) -> list[CameraSnapshot]:
        running = self.cameras
        return [
            running[c.id].snapshot() if c.id in running else CameraSnapshot.starting(c.id)
            for c in self._listed()
        ]

    def _health(self) -> tuple[int, dict[str, Any]]:
        snaps = self._snapshots()
        streaming = sum(1 for s in snaps if s.state == "streaming")
        status = "ok" if streaming == len(snaps) else ("degraded" if streaming else "down")
        body = {
            "status": status,
            "uptime_s": round(time.monotonic() - self.started_at, 1),
            "cameras": {
                s.camera_id: {
                    "state": s.state,
                    "preset": s.preset,
                    "seconds_since_last_frame": s.seconds_since_last_frame,
                    "frames_analysed": s.frames_analysed,
                    "frames_received": s.frames_received,
                    "pictures_decoded": s.pictures_decoded,
                    "pictures_corrupt": s.pictures_corrupt,
                    "first_frame_at": s.first_frame_at,
                    "last_error": s.last_error,
                }
                for s in snaps
            },
            "cases": {k: v for k, v in self.cases.emitted.items()},
        }
        # The process is healthy while it runs; camera outages are reported, not fatal.
        return 200, body
