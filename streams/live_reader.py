"""One reader thread per camera: RTSP (or a file paced in real time) → sampled `Frame`s.

The reader owns its connection and survives outages by itself:

    CONNECTING → STREAMING → (no packet for stall_timeout_s, no whole picture for
        keyframe_timeout_s, stream ended, error)
        → STALLED → BACKOFF (exponential delay with jitter) → CONNECTING ...
    any state → STOPPED when `stop()` is called (or a non-looping file ends).

Packets are joined into whole pictures and decoded by streams/decode.py (every
picture, or keyframe-first in `keyframes` mode). Frames go into a bounded
`FrameQueue` that drops the oldest frame when the consumer falls behind; a reader whose
consumer is behind (drop_oldest: it has left a picture waiting an analysis period,
at least `SHED_AFTER_S`; drop_newest: the queue is full) does not make the due picture at all
(keyframes mode: does not decode it). Nothing blocks forever: opening and reading use
PyAV timeouts, waits use the stop event.
URLs are redacted in every log line and error.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta, tzinfo
from pathlib import Path
from typing import Any, TypeVar

import av
import av.error

from lookout.base.backoff import Backoff
from lookout.base.redact import redact
from lookout.streams.clock import SYSTEM_CLOCK, Clock
from lookout.streams.connection import (
    PresetSource,
    ReaderState,
    ReaderStats,
    Stamp,
    StreamStalled,
    describe_error,
    ffmpeg_options,
    is_file_source,
)
from lookout.streams.decode import (
    DecodeStats,
    FullDecoder,
    SparseDecoder,
    access_units,
    choose_decoder,
)
from lookout.streams.file_reader import RateSampler
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.picture import describe, picture_of
from lookout.streams.settings import StreamConfig

log = logging.getLogger(__name__)

V = TypeVar("V")

#: A drop_oldest reader does not make a due picture while its queue still holds one
#: an analysis period older, and at least `SHED_AFTER_S`: the consumer is behind on this
#: camera, and a new picture would only push out a decoded one or wait behind it to be
#: analysed late (docs/ARCHITECTURE.md, "A frame's journey"). The floor keeps a moment's
#: lag (a batch in flight) from shedding pictures of a camera analysed several times a
#: second; there a full queue still drops its oldest.
SHED_AFTER_S = 0.5


def _remember(table: dict[int, V], pts: int, value: V, limit: int = 256) -> None:
    """Keep `value` by timestamp, forgetting the oldest beyond `limit` (pictures the
    decoder never handed back must not pile up)."""
    table[pts] = value
    if len(table) > limit:
        del table[next(iter(table))]


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
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
        shed: bool | None = None,
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
        self.is_file = resolver is None and is_file_source(source)
        #: Whether a drop_oldest reader spares the pictures its consumer is too far
        #: behind for (`_behind`): by default when pictures are due in time (a live
        #: camera, a paced file), not when a file is read as fast as it decodes (the
        #: decode benchmark, tests), where footage time is no clock for the consumer.
        self.shed = (realtime or not self.is_file) if shed is None else shed
        self._open = opener
        self._clock = clock
        self.backoff = Backoff(cfg.backoff, rng)
        self.stats = ReaderStats()
        #: The last stream's pixel format and size, said once (streams/picture.py).
        self._pixels: str | None = None
        self._state = ReaderState.STOPPED
        self.state_since = clock.monotonic()
        self.decoder_stats = DecodeStats()
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
                self.state_since = self._clock.monotonic()

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
        return None if last is None else self._clock.monotonic() - last

    # -- the thread ----------------------------------------------------------------
    def _run(self) -> None:
        if self.cfg.reader_nice:
            self._lower_priority(self.cfg.reader_nice)
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
                        self._down_since = self._clock.monotonic()
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

    def _lower_priority(self, nice: int) -> None:
        """Raise this thread's nice value (Linux: a thread is a task of its own)."""
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        except (OSError, AttributeError) as exc:  # (another OS, or refused)
            log.warning("camera %s: reader_nice %d not applied: %s", self.camera_id, nice, exc)

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
            if not container.streams.video:
                raise StreamStalled("no video stream in the source")
            stream = container.streams.video[0]  # audio and data streams are ignored
            if self.cfg.analysis_mode == "keyframes":
                # Sparse decoding runs the decoder in short bursts: frame threading
                # would hold pictures back (one per thread) and cost more CPU.
                stream.thread_count = 1
            else:
                stream.thread_type = "AUTO"
            if self.cfg.skip_loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            self.stats.connects += 1
            while True:
                for frame in self._frames(container, stream):
                    if self._stop.is_set():
                        return False
                    self._deliver(frame)
                    # A second's wait for the next picture must not keep this one alive:
                    # the queue (and the analysis) own it now (docs/ARCHITECTURE.md, "Memory").
                    del frame
                if self._stop.is_set():
                    return False
                if not self.is_file:
                    raise StreamStalled("stream ended")
                if not self.cfg.loop:
                    return True
                if not self._rewind(container):
                    return False  # reopen at once
        finally:
            container.close()

    def _rewind(self, container: Any) -> bool:
        """A looping file goes on from its start in the same session, like a camera
        that never disconnects: no new probe and no new decoder (reopening cost about
        as much CPU as two keyframe decodes; docs/ARCHITECTURE.md, "Live streams").
        False when the file cannot seek: it is reopened instead."""
        try:
            container.seek(0)  # (PyAV flushes the decoder)
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            log.debug("camera %s: cannot rewind (%s); reopening", self.camera_id, exc)
            return False
        return True

    def _units(
        self, container: Any, stream: Any, arrivals: dict[int, Stamp] | None = None
    ) -> Iterator[av.Packet]:
        """Whole pictures (access units), watched: no packet for `stall_timeout_s`
        (plus `open_timeout_s` before the first), or packets but no whole picture for
        `keyframe_timeout_s`, ends the session. `arrivals` gets the clocks' readings
        when the first packet of each timestamp arrived."""
        clock = self._clock.monotonic
        t0 = time.perf_counter()
        started = clock()
        last_packet = started
        limit = self.cfg.stall_timeout_s + self.cfg.open_timeout_s
        # Keyframes mode decodes a picture once per analysis period only.
        allowed = self.cfg.keyframe_timeout_s + 1.0 / self.analysis_fps

        def watched() -> Iterator[av.Packet]:
            nonlocal last_packet, limit, t0
            for packet in container.demux(stream):
                self.stats.demux_s += time.perf_counter() - t0
                now = clock()
                if now - last_packet > limit:
                    raise StreamStalled(f"no packet for {now - last_packet:.1f} s")
                last_packet, limit = now, self.cfg.stall_timeout_s
                if arrivals is not None and packet.pts is not None and packet.pts not in arrivals:
                    # (units that never came out: bounded)
                    _remember(arrivals, packet.pts, (now, self._clock.now(self.tz)), 512)
                yield packet
                t0 = time.perf_counter()

        for unit in access_units(watched()):
            now = clock()
            since = self.stats.last_picture_monotonic
            if since is None or since < started:
                since = started
            if now - since > allowed + limit:
                raise StreamStalled(f"no whole picture for {now - since:.1f} s")
            yield unit
            if self._stop.is_set():
                return

    def _frames(self, container: Any, stream: Any) -> Iterator[Frame]:
        sparse = self.cfg.analysis_mode == "keyframes"
        ctx = stream.codec_context
        decode = choose_decoder(stream, self.cfg.decoder, self.camera_id).decode
        stats = self.decoder_stats  # kept across sessions
        decoder: SparseDecoder | FullDecoder = (
            SparseDecoder(decode, self.analysis_fps, stats=stats)
            if sparse
            else FullDecoder(decode, stats)
        )
        sampler = RateSampler(self.analysis_fps)
        shed_after_s = self._shed_after_s(stream)
        tb = stream.time_base
        # Integer timebase: `pts * num / den` is the correctly rounded float(pts * tb)
        # without a Fraction per packet.
        tb_num, tb_den = (tb.numerator, tb.denominator) if tb else (0, 0)
        t_open = self._clock.monotonic()
        first_t: float | None = None
        profile_seen = False
        prev: tuple[float, float] | None = None  # (t, arrival) of the last unit
        # Picture index by timestamp: the decoder hands pictures back later (frame
        # threads, reordering), so a picture's index is its own unit's, not the latest.
        indices: dict[int, int] = {}
        # A live picture's times are those of its arrival, not of its way out of the
        # decoder: frame threads hold pictures back, seconds at a low frame rate (smart
        # FPS), which would stretch a dwell that spans a change of rate. A paced file's
        # picture is stamped with the time it was due, its arrival from a camera: a
        # reader that runs late (a saturated box) shows in the latency.
        arrivals: dict[int, Stamp] | None = None if self.is_file else {}
        stamps: dict[int, Stamp] = {}
        dues: dict[int, float] = {}
        index = -1
        # A file's end (None) drains the decoder, so its last pictures are not lost
        # (and a looping file goes on from its start with the same decoder).
        ends: list[None] = [None] if self.is_file else []
        t = 0.0
        for unit in itertools.chain(self._units(container, stream, arrivals), ends):
            if unit is None:
                if first_t is None:
                    break  # nothing was read
                t0 = time.perf_counter()
                pictures = decoder.drain()
                self.stats.decode_s += time.perf_counter() - t0
            else:
                index += 1
                now = self._clock.monotonic()
                self.stats.frames_received += 1
                self.stats.last_frame_monotonic = now
                if unit.pts is not None and tb_den:
                    t = unit.pts * tb_num / tb_den
                elif prev is not None:  # no timestamp: time passed since the last unit
                    t = prev[0] + (now - prev[1])
                else:
                    t = now - t_open
                prev = (t, now)
                if unit.pts is not None:
                    _remember(indices, unit.pts, index)
                    if arrivals is not None and (stamp := arrivals.pop(unit.pts, None)):
                        _remember(stamps, unit.pts, stamp)
                if first_t is None:
                    first_t = t
                if self.is_file and self.realtime:
                    due = t_open + t - first_t
                    self._pace(due)
                    if unit.pts is not None:
                        _remember(dues, unit.pts, due)
                t0 = time.perf_counter()
                if isinstance(decoder, SparseDecoder):
                    shed = decoder.stats.shed
                    behind = self._behind(t - first_t, shed_after_s)
                    picked = decoder.push(unit, t, take=not behind)
                    pictures = [] if picked is None else [picked]
                    if decoder.stats.shed > shed:
                        self.queue.refused()
                else:
                    pictures = decoder.push(unit, t)
                self.stats.decode_s += time.perf_counter() - t0
            for vf in pictures:
                self._on_picture(self._clock.monotonic())
                if not profile_seen:
                    profile_seen = True
                    self._on_profile(f"{ctx.name} {vf.width}x{vf.height}")
                    pixels = f"{vf.format.name} {vf.width}x{vf.height}"
                    if pixels != self._pixels:  # one line per camera and stream change
                        self._pixels = pixels
                        log.info("camera %s: %s", self.camera_id, describe(vf))
                pt = vf.pts * tb_num / tb_den if vf.pts is not None and tb_den else t
                n = index if vf.pts is None else indices.get(vf.pts, index)
                if not sparse:
                    if self.cfg.analysis_mode == "every_nth":
                        if n % self.cfg.every_n:
                            continue
                    elif not sampler.take(pt):
                        continue
                stamp = None if vf.pts is None else stamps.get(vf.pts)
                preset = None
                if self.presets is not None:
                    # Settled at the preset when the picture arrived, not only now: the
                    # decoder may hand over a picture of the move after the camera stopped.
                    preset = (
                        self.presets.current()
                        if stamp is None
                        else self.presets.settled_at(stamp[0])
                    )
                    if preset is None:
                        self.stats.frames_skipped_moving += 1
                        continue
                if self._behind(pt - first_t, shed_after_s):
                    self.queue.refused()  # (not converted: it would not be analysed fresh)
                    continue
                t1 = time.perf_counter()
                picture = picture_of(vf)  # the planes as decoded (docs/ARCHITECTURE.md)
                self.stats.convert_s += time.perf_counter() - t1
                if stamp is None:
                    stamp = self._stamp(None if vf.pts is None else dues.get(vf.pts))
                yield Frame(
                    camera_id=self.camera_id,
                    index=n,
                    pts_s=pt - first_t,
                    captured_at=stamp[1],
                    monotonic_s=stamp[0],
                    preset=preset,
                    picture=picture,
                )
                del picture  # not held by this generator until the next picture
            if pictures:  # nor the decoded pictures: each holds a decoder pool buffer
                del vf
            pictures = []

    def _behind(self, pts_s: float, shed_after_s: float | None) -> bool:
        """Whether the consumer is too far behind for the picture at `pts_s` (footage
        seconds since the session's first picture) to be worth making.

        drop_newest: the queue is full (the picture would be dropped). drop_oldest: the
        queue's oldest picture is this camera's and `shed_after_s` or more older, in
        footage time, so deterministic at any pacing: made now, the new picture would
        either push out one already decoded or wait behind it and be analysed late. The
        consumer still gets the queued picture at once and this camera's next due one
        as soon as it has taken it: what is analysed stays the freshest the box can
        analyse, and no decoding goes to pictures that are thrown away."""
        if self.queue.policy == "drop_newest":
            return self.queue.refuses()
        if shed_after_s is None or not self.shed:
            return False
        oldest = self.queue.oldest()
        return (
            oldest is not None
            and oldest.camera_id == self.camera_id
            and pts_s - oldest.pts_s >= 0.99 * shed_after_s  # (timestamps round)
        )

    def _on_picture(self, now: float) -> None:
        self.stats.pictures_delivered += 1
        self.stats.last_picture_monotonic = now
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

    def _shed_after_s(self, stream: Any) -> float | None:
        """One analysis period in seconds of footage, at least `SHED_AFTER_S` (None:
        every_nth on a stream without a known frame rate never sheds)."""
        if self.cfg.analysis_mode != "every_nth":
            return max(SHED_AFTER_S, 1.0 / self.analysis_fps)
        rate = stream.average_rate or stream.guessed_rate
        return max(SHED_AFTER_S, self.cfg.every_n / float(rate)) if rate else None

    def _on_profile(self, profile: str) -> None:
        """The first picture of a session: say so when the stream is not the one the
        last session had (a camera's profile switch: new codec or picture size)."""
        old, self.stats.profile = self.stats.profile, profile
        if old is not None and old != profile:
            self.stats.profile_changes += 1
            log.warning(
                "camera %s: the stream changed from %s to %s; zones stay in the pixels "
                "they were drawn in: check them if the picture size changed",
                self.camera_id,
                old,
                profile,
            )

    def _stamp(self, due: float | None) -> Stamp:
        """Now, or `due` (monotonic) when it has passed, with the wall clock then."""
        now, wall = self._clock.monotonic(), self._clock.now(self.tz)
        if due is None or due >= now:
            return now, wall
        return due, wall - timedelta(seconds=now - due)

    def _pace(self, due: float) -> None:
        delay = due - self._clock.monotonic()
        if delay > 0:
            self._stop.wait(delay)

    def _deliver(self, frame: Frame) -> None:
        self.stats.frames_sampled += 1
        self.queue.put(frame)
