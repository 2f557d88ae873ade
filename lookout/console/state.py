"""What the console knows of the cameras, gathered off the request path.

`StatusBoard` is one thread: it asks the host (the daemon) for every camera's status
twice a second while a browser is looking (`SnapshotStore.active`), else once per
history interval, keeps the answer in memory for the requests, and writes one history
sample per camera every `history_interval_s`. So a request never calls into a reader
and never waits on a camera. `camera_json` turns it into what the browser gets:
redacted source URLs only, never a credential.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from lookout.base.redact import redact
from lookout.base.secrets import mask
from lookout.config.app import CameraConfig
from lookout.console.snapshots import SnapshotStore
from lookout.report.health_store import HealthHistory, Sample
from lookout.runtime.camera import CameraSnapshot

log = logging.getLogger(__name__)

#: Prune the history this often.
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """One camera as the host reports it: the analysed camera's config (zones projected
    into the image), the reader's status, and the video quality state if any."""

    camera: CameraConfig
    status: CameraSnapshot
    quality: Any = None


class ConsoleHost(Protocol):
    """What the console needs from the process that runs the cameras (the daemon)."""

    def console_cameras(self) -> list[CameraInfo]:
        """Every camera's status; called by the StatusBoard thread only."""
        ...

    def health(self) -> tuple[int, dict[str, Any]]:
        """/healthz: status code and JSON body."""
        ...

    def render_metrics(self) -> bytes:
        """/metrics in the Prometheus text format."""
        ...

    def deliveries(self) -> dict[str, dict[str, int]]:
        """Outbox rows per remote sink and delivery state (the sink backlogs)."""
        ...


class StatusBoard:
    """The cameras' latest status in memory, refreshed by its own thread."""

    def __init__(
        self,
        host: ConsoleHost,
        store: SnapshotStore,
        history: HealthHistory | None,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.store = store
        self.history = history
        self.interval_s = interval_s
        self._clock = clock
        self._cameras: dict[str, CameraInfo] = {}
        self.updated_at = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sample: float | None = None
        self._prev: dict[str, CameraSnapshot] = {}
        self._pruned_at = -PRUNE_EVERY_S

    @property
    def cameras(self) -> dict[str, CameraInfo]:
        return self._cameras

    def refresh(self) -> None:
        """Ask the host once; write a history sample when one is due."""
        cams = {c.status.camera_id: c for c in self.host.console_cameras()}
        self._cameras = cams
        now = self._clock()
        self.updated_at = now
        self.store.retain(set(cams))
        if self.history is None:
            return
        if self._last_sample is None:
            self._last_sample = now  # the first sample stands for the next interval
            self._prev = {cid: c.status for cid, c in cams.items()}
            return
        if now - self._last_sample < self.interval_s:
            return
        span = min(now - self._last_sample, 2 * self.interval_s)
        self._last_sample = now
        samples = [self._sample(c.status, span) for c in cams.values()]
        incidents = [i for c in cams.values() for i in self._incidents(c.status, now)]
        self._prev = {cid: c.status for cid, c in cams.items()}
        self.history.record(samples)
        self.history.record_incidents(incidents)
        if now - self._pruned_at >= PRUNE_EVERY_S:
            self._pruned_at = now
            self.history.prune()

    def _incidents(self, s: CameraSnapshot, now: float) -> list[tuple[float, str, str, str]]:
        """Video quality incidents that started since the last sample: (start time,
        camera, preset, issue), from the issues' incident counters."""
        quality, prev = s.quality, self._prev.get(s.camera_id)
        if quality is None:
            return []
        before = prev.quality.presets if prev is not None and prev.quality is not None else {}
        out = []
        for preset, issues in quality.presets.items():
            for kind, issue in issues.items():
                old = before.get(preset, {}).get(kind)
                new = issue.incidents - (old.incidents if old is not None else 0)
                if new <= 0:
                    continue
                start = issue.since.timestamp() if issue.since is not None else now
                out += [(start, s.camera_id, preset, kind)] * new
        return out

    def _sample(self, s: CameraSnapshot, span: float) -> Sample:
        prev = self._prev.get(s.camera_id)

        def inc(name: str) -> int:
            cur = int(getattr(s, name))
            before = int(getattr(prev, name)) if prev is not None else 0
            return cur - before if cur >= before else cur  # went down: reset

        return Sample(
            s.camera_id,
            s.state,
            span,
            inc("reconnects"),
            inc("frames_dropped"),
            inc("frames_analysed"),
        )

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="console-status", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        last = self._clock()
        while not self._stop.wait(0.5):
            # Twice a second while a browser looks, else once per history interval.
            if not self.store.active and self._clock() - last < self.interval_s:
                continue
            last = self._clock()
            try:
                self.refresh()
            except Exception:  # the board must outlive a failing camera or disk
                log.exception("console: status refresh failed")


def safe_source(camera: CameraConfig) -> str:
    """Where a camera's pictures come from, without user, password or query string."""
    if camera.source:
        parts = urlsplit(camera.source)
        if parts.scheme and parts.netloc:
            host = parts.hostname or ""
            netloc = host + (f":{parts.port}" if parts.port else "")
            text = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        else:
            text = camera.source
        return mask(redact(text))
    if camera.onvif is not None:
        return f"onvif://{camera.onvif.host}:{camera.onvif.port}"
    return ""


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of a dataclass / pydantic / enum / datetime value."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no inf/nan ("inf": a view that cannot be aligned)
    if isinstance(value, str):
        return mask(redact(value))  # e.g. an error message: never a credential
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"))
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return mask(redact(str(value)))


def zones_json(camera: CameraConfig) -> list[dict[str, Any]]:
    return [
        {
            "id": z.id,
            "preset": z.preset,
            "polygon": [[round(x, 1), round(y, 1)] for x, y in z.polygon],
            "policies": [p.type for p in z.policies],
        }
        for z in camera.zones
        if z.polygon
    ]
