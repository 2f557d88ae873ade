"""Recorded footage on PyAV: whatever FFmpeg reads, sampled at an analysis rate.

Replay never drops: the reader is a plain generator and the consumer pulls at its own
speed. Only sampled frames are converted to BGR (the costly step after decoding).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from fractions import Fraction
from pathlib import Path

import av
import av.error
import av.logging

from lookout.base.errors import SourceError
from lookout.streams.frame import Frame
from lookout.streams.picture import describe, picture_of

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What a file says about itself before decoding."""

    path: Path
    codec: str
    width: int
    height: int
    fps: float
    duration_s: float | None
    frame_count: int | None


class RateSampler:
    """Picks frames so that about `fps` frames per second of footage are analysed.

    A frame is taken when its timestamp reaches the next sampling instant; instants
    advance on a fixed grid, so irregular timestamps do not make the rate drift.
    """

    def __init__(self, fps: float) -> None:
        if fps <= 0:
            raise ValueError("analysis rate must be positive")
        self.period = 1.0 / fps
        self._next: float | None = None

    def take(self, t: float) -> bool:
        if self._next is None:
            self._next = t + self.period
            return True
        # A tolerance of 1% of a period absorbs rounding of container timestamps.
        if t + 0.01 * self.period >= self._next:
            while self._next <= t + 0.01 * self.period:
                self._next += self.period
            return True
        return False


def decode_threads_beside(busy_cores: int) -> int:
    """Decoder threads for a replay whose detector keeps `busy_cores` cores busy on its
    own (ONNX Runtime's CPU threads; 0 when a GPU runs the model).

    FFmpeg's default starts a frame thread per core plus one, which on a small box
    preempts the inference threads the replay waits for. The decoder gets the cores
    inference leaves, at least one; 0 (FFmpeg's choice) when inference leaves the CPU
    alone. On 2 cores with 1 ORT thread the far-view replay ran at 0.86-0.93x bare ORT
    (mean 0.90, 9 runs) with one decoder thread, 0.80-0.93x (mean 0.88) with FFmpeg's
    (benchmarks/README.md, "Regions mode and the floor").
    """
    if busy_cores <= 0:
        return 0
    return max(1, len(os.sched_getaffinity(0)) - busy_cores)


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise SourceError(f"{path}: video file not found")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder, not a video file")
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SourceError(f"{path}: not a readable video ({reason})") from None


class FileReader:
    """Reads one recorded file and yields sampled `Frame`s in order."""

    def __init__(
        self,
        path: Path,
        camera_id: str,
        *,
        analysis_fps: float,
        start_time: datetime,
        preset: str | None = None,
        decode_threads: int = 0,
    ) -> None:
        """`decode_threads`: FFmpeg decoder threads (0: FFmpeg's choice, one per core
        plus one; see `decode_threads_beside`)."""
        self.path = path
        self.camera_id = camera_id
        self.analysis_fps = analysis_fps
        if start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        self.start_time = start_time
        self.preset = preset
        self.decode_threads = max(0, decode_threads)
        self.frames_read = 0
        self.frames_sampled = 0
        self.decode_errors = 0
        self.info = self.probe(path)

    @staticmethod
    def probe(path: Path) -> SourceInfo:
        """Open the file, check it has a decodable video stream, and describe it."""
        with _open(path) as container:
            if not container.streams.video:
                raise SourceError(f"{path}: no video stream in the file")
            stream = container.streams.video[0]
            ctx = stream.codec_context
            if ctx is None or not ctx.width or not ctx.height:
                raise SourceError(f"{path}: video stream has no picture size")
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            # Decode one frame so unreadable payloads are caught before a replay starts.
            try:
                first = next(container.decode(stream), None)
            except av.error.FFmpegError as exc:
                raise SourceError(f"{path}: cannot decode video ({exc})") from None
            if first is None:
                raise SourceError(f"{path}: video stream contains no frames")
            return SourceInfo(
                path=path,
                codec=ctx.name,
                width=ctx.width,
                height=ctx.height,
                fps=float(rate),
                duration_s=duration,
                frame_count=stream.frames or None,
            )

    @staticmethod
    def file_start_time(path: Path, tz: tzinfo) -> datetime:
        """Fallback replay clock: the file's modification time in the site time zone."""
        return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).astimezone(tz)

    def __iter__(self) -> Iterator[Frame]:
        container = _open(self.path)
        # A decoder conceals damaged pictures (bits flipped mid-stream) without raising
        # and without flagging them corrupt; it only says so in FFmpeg's log, from its
        # own threads. That log is captured (not printed) and its errors are counted in
        # `decode_errors` (the replay summary's "damaged" line).
        level = av.logging.get_level()
        if level is None or level < av.logging.ERROR:
            av.logging.set_level(av.logging.ERROR)
        capture = av.logging.Capture(local=False)
        logs = capture.__enter__()
        try:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if self.decode_threads:
                stream.thread_count = self.decode_threads
            sampler = RateSampler(self.analysis_fps)
            fps = self.info.fps or 25.0
            t0: float | None = None
            index = -1
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as exc:
                    self.decode_errors += 1
                    log.warning("%s: demux error, stopping: %s", self.path, exc)
                    break
                try:
                    decoded = packet.decode()
                except av.error.FFmpegError as exc:
                    self.decode_errors += 1
                    log.debug("%s: skipped a corrupt packet: %s", self.path, exc)
                    continue
                finally:
                    self._count_logged(logs)
                for vf in decoded:
                    index += 1
                    self.frames_read += 1
                    t = vf.time if vf.time is not None else index / fps
                    if t0 is None:
                        t0 = t
                    t -= t0
                    if not sampler.take(t):
                        continue
                    if not self.frames_sampled:
                        log.info("%s: %s", self.path.name, describe(vf))
                    self.frames_sampled += 1
                    yield Frame(
                        camera_id=self.camera_id,
                        index=index,
                        pts_s=t,
                        captured_at=self.start_time + timedelta(seconds=t),
                        monotonic_s=t,  # replay durations run on footage time
                        preset=self.preset,
                        picture=picture_of(vf),  # the planes as decoded
                    )
        finally:
            container.close()
            self._count_logged(logs)
            capture.__exit__(None, None, None)
            av.logging.set_level(level)

    def _count_logged(self, logs: list[tuple[int, str, str]]) -> None:
        errors = [entry for entry in logs if entry[0] <= av.logging.ERROR]
        if errors:
            log.debug("%s: decoder: %s", self.path, errors[-1][2].strip())
        self.decode_errors += len(errors)
        logs.clear()
