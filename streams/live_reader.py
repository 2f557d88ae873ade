"""One reader thread per camera: RTSP (or a file paced in real time) → sampled `Frame`s.

The reader owns its connection and survives outages by itself:

    CONNECTING → STREAMING → (no frame for stall_timeout_s, stream ended, error)
        → STALLED → BACKOFF (exponential delay with jitter) → CONNECTING ...
    any state → STOPPED when `stop()` is called (or a non-looping file ends).

Frames go into a bounded `FrameQueue` that drops the oldest frame when the consumer
falls behind. Nothing blocks forever: opening and reading use PyAV timeouts, waits use
the stop event. URLs are redacted in every log line and error.
"""

from __future__ import annotations

import enum
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol

import av
import av.error

from streams.backoff import Backoff
from streams.file_reader import RateSampler
from streams.frame import Frame
from streams.frame_queue import FrameQueue
from streams.redact import redact
from streams.settings import StreamConfig

log = logging.getLogger(__name__)


class ReaderState(enum.Enum):
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class PresetSource(Protocol):
    """Where a reader learns the PTZ preset a frame belongs to (None: moving)."""

    def current(self) -> str | None: ...


@dataclass(slots=True)
class ReaderStats:
    """Counters of one reader; read by metrics and /healthz."""

    frames_received: int = 0
    frames_sampled: int = 0
    frames_skipped_moving: int = 0
    reconnects: int = 0
    connects: int = 0
    last_frame_monotonic: float | None = None
    last_error: str | None = None
    recoveries_s: list[float] = field(default_factory=list)
    #: CPU-bound stage times (seconds, summed): reading packets, decoding, to BGR.
    demux_s: float = 0.0
    decode_s: float = 0.0
    convert_s: float = 0.0


class StreamStalled(Exception):
    """No frame within the stall timeout, or the stream ended."""


def is_file_source(source: str) -> bool:
    return "://" not in source or source.startswith("file:")


def describe_error(exc: BaseException) -> str:
    """A short, credential-free reason for a failed open or read."""
    text = redact(str(exc))
    low = text.lower()
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in low:
        return "connection refused"
    if "401" in low or "unauthorized" in low:
        return "authentication failed (check the user and password)"
    if "404" in low or "not found" in low:
        return "stream not found (check the path)"
    if isinstance(exc, av.error.ExitError | TimeoutError) or "timed out" in low:
        return "no answer in time"
    if isinstance(exc, StreamStalled):
        return str(exc)
    return text.splitlines()[0] if text else exc.__class__.__name__


def ffmpeg_options(cfg: StreamConfig) -> dict[str, str]:
    """Fast-open RTSP options (DESIGN §5: ~0.15 s to open instead of ~2.8 s)."""
    return {
        "rtsp_transport": cfg.transport,
        "fflags": "nobuffer",
        "analyzeduration": "0",
        "probesize": "32768",
    }


class StreamReader:
    """Reads one camera in its own thread into `queue` until `stop()`."""

    def __init__(
        self,
        camera_id: str,
        source: str,
        cfg: StreamConfig,
        *,
        analysis_fps: float,
        tz: tzinfo,
        queue: FrameQueue[Frame],
        presets: PresetSource | None = None,
        resolver: Callable[[], str] | None = None,
        realtime: bool = True,
        opener: Callable[..., Any] = av.open,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.camera_id = camera_id
        self.source = source
        self.safe_source = redact(source)
        self.cfg = cfg
        self.analysis_fps = analysis_fps
        self.tz = tz
        self.queue = queue
        self.presets = presets
        #: Called at each connection attempt for the URL (e.g. ONVIF GetStreamUri).
        self.resolver = resolver
        #: Files are paced to their timestamps like a live camera (off for benchmarks).
        self.realtime = realtime
        self._open = opener
        self._clock = clock
        self.backoff = Backoff(cfg.backoff, rng)
        self.stats = ReaderStats()
        self.is_file = resolver is None and is_file_source(source)
        self._state = ReaderState.STOPPED
        self.state_since = clock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._down_since: float | None = None

    # -- lifecycle ---------------------------------------------------------------
    @property
    def state(self) -> ReaderState:
        return self._state

    def _set_state(self, state: ReaderState) -> None:
        with self._lock:
            if state is not self._state:
                log.debug("camera %s: %s -> %s", self.camera_id, self._state.value, state.value)
                self._state = state
                self.state_since = self._clock()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("reader already started")
        self._stop.clear()
        self._set_state(ReaderState.CONNECTING)
        self._thread = threading.Thread(
            target=self._run, name=f"reader-{self.camera_id}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (returns at once; see `join`)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread; True if it has ended."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def seconds_since_last_frame(self) -> float | None:
        last = self.stats.last_frame_monotonic
        return None if last is None else self._clock() - last

    # -- the thread ----------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._set_state(ReaderState.CONNECTING)
                try:
                    finished = self._session()
                except Exception as exc:  # every failure ends in backoff, never a crash
                    reason = describe_error(exc)
                    self.stats.last_error = reason
                    if self._stop.is_set():
                        break
                    if self._down_since is None:
                        self._down_since = self._clock()
                    self._set_state(ReaderState.STALLED)
                    delay = self.backoff.next_delay()
                    log.warning(
                        "camera %s: %s: %s; reconnecting in %.1f s",
                        self.camera_id,
                        self.safe_source,
                        reason,
                        delay,
                    )
                    self._set_state(ReaderState.BACKOFF)
                    self.stats.reconnects += 1
                    self._stop.wait(delay)
                    continue
                if finished:
                    log.info("camera %s: %s ended", self.camera_id, self.safe_source)
                    break
        finally:
            self._set_state(ReaderState.STOPPED)

    def _session(self) -> bool:
        """One connection. Returns True when a non-looping file has ended."""
        opts = {} if self.is_file else ffmpeg_options(self.cfg)
        if self.resolver is not None:
            path = self.resolver()
        else:
            path = self.source.removeprefix("file:") if self.is_file else self.source
        if self.is_file and not Path(path).is_file():
            raise FileNotFoundError(f"{path}: file not found")
        timeout = (self.cfg.open_timeout_s, self.cfg.stall_timeout_s)
        container = self._open(path, mode="r", options=opts, timeout=timeout)
        try:
            stream = container.streams.video[0]
            if self.cfg.analysis_mode == "keyframes":
                # Lone keyframes gain nothing from frame threading, and it holds pictures
                # back (a frame per thread) and costs more CPU: decode them in-line.
                stream.thread_count = 1
            else:
                # Frame threading; slice threading can emit an RTSP keyframe twice.
                stream.thread_type = "AUTO"
            if self.cfg.skip_loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            self.stats.connects += 1
            for frame in self._frames(container, stream):
                if self._stop.is_set():
                    return False
                self._deliver(frame)
            if self.is_file and not self.cfg.loop:
                return True
            if self.is_file:
                return False  # loop: reopen at once
            raise StreamStalled("stream ended")
        finally:
            container.close()

    def _frames(self, container: Any, stream: Any) -> Iterator[Frame]:
        keyframes = self.cfg.analysis_mode == "keyframes"
        sampler = RateSampler(self.analysis_fps)
        every_n = self.cfg.every_n
        t_open = self._clock()
        first_pts: float | None = None
        index = -1
        last_frame_at = self._clock()
        # The first picture waits for the next keyframe (up to a GOP) plus decoder
        # latency, so the first frame of a session gets the open timeout on top.
        limit = self.cfg.stall_timeout_s + self.cfg.open_timeout_s
        packets = container.demux(stream)
        while True:
            t0 = time.perf_counter()
            packet = next(packets, None)
            self.stats.demux_s += time.perf_counter() - t0
            if packet is None:
                return
            now = self._clock()
            if now - last_frame_at > limit:
                raise StreamStalled(f"no frame for {now - last_frame_at:.1f} s")
            if self._stop.is_set():
                return
            if packet.size == 0 or (keyframes and not packet.is_keyframe):
                continue
            t0 = time.perf_counter()
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError:
                continue
            finally:
                self.stats.decode_s += time.perf_counter() - t0
            for vf in decoded:
                index += 1
                now = self._clock()
                last_frame_at = now
                limit = self.cfg.stall_timeout_s
                self._on_frame(now)
                t = float(vf.time) if vf.time is not None else now - t_open
                if first_pts is None:
                    first_pts = t
                t -= first_pts
                if self.is_file and self.realtime:
                    self._pace(t_open + t)
                if self.cfg.analysis_mode == "every_nth":
                    if index % every_n:
                        continue
                elif not keyframes and not sampler.take(t):
                    continue
                preset = None
                if self.presets is not None:
                    preset = self.presets.current()
                    if preset is None:
                        self.stats.frames_skipped_moving += 1
                        continue
                t0 = time.perf_counter()
                image = vf.to_ndarray(format="bgr24")
                self.stats.convert_s += time.perf_counter() - t0
                yield Frame(
                    camera_id=self.camera_id,
                    index=index,
                    pts_s=t,
                    captured_at=datetime.now(self.tz),
                    monotonic_s=self._clock(),
                    image=image,
                    preset=preset,
                )

    def _on_frame(self, now: float) -> None:
        self.stats.frames_received += 1
        self.stats.last_frame_monotonic = now
        if self._state is not ReaderState.STREAMING:
            self._set_state(ReaderState.STREAMING)
            if self._down_since is not None:
                took = now - self._down_since
                self.stats.recoveries_s.append(took)
                del self.stats.recoveries_s[:-100]
                log.info("camera %s: streaming again after %.1f s", self.camera_id, took)
                self._down_since = None
            self.backoff.reset()
            self.stats.last_error = None

    def _pace(self, due: float) -> None:
        delay = due - self._clock()
        if delay > 0:
            self._stop.wait(delay)

    def _deliver(self, frame: Frame) -> None:
        self.stats.frames_sampled += 1
        self.queue.put(frame)
