"""The local RTSP test server (tests/support/rtsp_server.py), read with PyAV as the
live readers will: TCP, no buffering, tiny probe. Streams play in real time, so every
second read here is a second of test time; the whole file takes about 25 s.

Opened with the live reader's options (tiny probe, no `fflags=nobuffer`), the first
keyframe is kept: the first decoded frame is a keyframe within the first GOP; its
packet's pts can be None.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import av
import av.error
import pytest

from lookout.streams.connection import ffmpeg_options
from lookout.streams.settings import StreamConfig
from tests.support.media import RtspServer, start_rtsp_server

OPTIONS = ffmpeg_options(StreamConfig())  # what the live reader opens streams with
TIMEOUT = (5.0, 5.0)  # (open, read) seconds
FPS = 10.0
FRAME_S = 1 / FPS
GOP_S = 1.0


@dataclass
class Received:
    """What one client got: open time, time to the first frame, frame pts (seconds;
    None where unknown) and an MD5 of each frame's pixels keyed by frame number."""

    open_s: float = 0.0
    first_frame_s: float = 0.0
    size: tuple[int, int] = (0, 0)
    pts: list[float | None] = field(default_factory=list)
    digests: dict[int, str] = field(default_factory=dict)

    @property
    def known_pts(self) -> list[float]:
        return [p for p in self.pts if p is not None]


def digest(frame: av.VideoFrame) -> str:
    return hashlib.md5(frame.to_ndarray().tobytes()).hexdigest()


def file_digests(path: Path, limit: int | None = None) -> list[str]:
    """Digests of the first `limit` (default all) frames of an MP4, decoded from the
    file (same decoder, same bitstream: equal to what an RTSP client decodes from
    any keyframe on)."""
    out: list[str] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            out.append(digest(frame))
            if limit is not None and len(out) >= limit:
                break
    return out


def receive(
    url: str,
    *,
    frames: int | None = None,
    until_pts: float | None = None,
    max_wall_s: float = 20.0,
    on_frame: Callable[[int], None] | None = None,
) -> Received:
    """Read `url` until `frames` frames, or a frame with pts >= `until_pts`, or
    `max_wall_s` (then fail). `on_frame(n)` runs after the n-th frame (1-based)."""
    got = Received()
    t0 = time.monotonic()
    with av.open(url, options=OPTIONS, timeout=TIMEOUT) as container:
        got.open_s = time.monotonic() - t0
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            if not got.pts:
                got.first_frame_s = time.monotonic() - t0
                got.size = (frame.width, frame.height)
            pts = frame.time
            got.pts.append(pts)
            if pts is not None:
                got.digests[round(pts * FPS)] = digest(frame)
            if on_frame is not None:
                on_frame(len(got.pts))
            if frames is not None and len(got.pts) >= frames:
                break
            if until_pts is not None and pts is not None and pts >= until_pts:
                break
            assert time.monotonic() - t0 < max_wall_s, f"{url}: too slow, got {len(got.pts)}"
    return got


def assert_steady(got: Received) -> None:
    """pts strictly increase, one frame interval apart (nothing lost or repeated)."""
    pts = got.known_pts
    assert len(pts) >= 2
    steps = [b - a for a, b in pairwise(pts)]
    assert all(s > 0 for s in steps), f"pts not strictly increasing: {pts}"
    assert max(steps) == pytest.approx(FRAME_S, abs=2e-3), f"frames missing: {steps}"
    assert min(steps) == pytest.approx(FRAME_S, abs=2e-3), f"frames repeated: {steps}"


@pytest.mark.slow
@pytest.mark.timing
def test_two_clients_each_stream_the_clip_from_the_start(
    rtsp_server: RtspServer, h264_clip: Path
) -> None:
    """Client A reads 150 frames; client B joins 2 s in and gets its own pipeline
    from the start of the clip, without disturbing A."""
    clip = file_digests(h264_clip, limit=200)
    url = rtsp_server.url("/cam")
    b_started = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        b_future: list[Future[Received]] = []

        def start_b(n: int) -> None:
            if n == 20 and not b_started.is_set():
                b_started.set()
                b_future.append(pool.submit(receive, url, frames=15, max_wall_s=10.0))

        a = receive(url, frames=150, max_wall_s=25.0, on_frame=start_b)
        assert b_future, "client B never started"
        b = b_future[0].result(timeout=15)
    print(
        f"\nRTSP open: A {a.open_s * 1000:.0f} ms, B {b.open_s * 1000:.0f} ms; first frame: "
        f"A {a.first_frame_s * 1000:.0f} ms, B {b.first_frame_s * 1000:.0f} ms "
        f"(server start {rtsp_server.open_s or 0:.2f} s)"
    )
    assert len(a.pts) == 150
    assert a.size == b.size == (768, 576)
    assert a.open_s < 2.0 and b.open_s < 2.0
    # Both start at a keyframe within the clip's first GOP.
    for got in (a, b):
        assert got.known_pts[0] <= GOP_S + 1e-3, got.pts[:3]
        assert_steady(got)
    # Each got the clip's own pictures at those times: B from its start, A straight
    # through B's arrival and departure.
    for got in (a, b):
        assert got.digests == {n: clip[n] for n in got.digests}
    assert len(a.digests) >= 149 and len(b.digests) >= 14


@pytest.mark.slow
@pytest.mark.timing
def test_a_short_clip_loops_with_increasing_timestamps(h264_clip_3s: Path) -> None:
    """A 3 s clip read for 5+ s: pts go on increasing one frame apart across the loop
    point, and the second pass shows the same pictures as the first."""
    clip = file_digests(h264_clip_3s)
    assert len(clip) == 30
    with start_rtsp_server({"/short": h264_clip_3s}) as server:
        got = receive(server.url("short"), until_pts=6.1, max_wall_s=12.0)
    pts = got.known_pts
    print(f"\nloop: {len(got.pts)} frames, pts {pts[0]:.2f}..{pts[-1]:.2f} s")
    assert pts[-1] - pts[0] >= 5.0
    assert_steady(got)  # across the loop points at 3.0 s and 6.0 s
    # Frame n shows clip frame n mod 30: the second pass replays the first.
    assert got.digests == {n: clip[n % 30] for n in got.digests}
    assert max(got.digests) >= 60
    assert len(set(clip)) > 20  # (the footage changes within the clip)


def test_basic_auth(h264_clip_3s: Path) -> None:
    with start_rtsp_server({"/cam": h264_clip_3s}, user="viewer", password="s3cret") as server:
        got = receive(server.url("/cam", "viewer", "s3cret"), frames=1, max_wall_s=5.0)
        assert got.size == (768, 576)
        for url in (server.url("/cam", "viewer", "wrong"), server.url("/cam")):
            with pytest.raises(av.error.HTTPUnauthorizedError):
                av.open(url, options=OPTIONS, timeout=TIMEOUT)


def test_restart_keeps_the_port(rtsp_server: RtspServer) -> None:
    """An outage: the server goes away under a playing client and comes back."""
    port = rtsp_server.port
    with av.open(rtsp_server.url(), options=OPTIONS, timeout=TIMEOUT) as container:
        stream = container.streams.video[0]  # playing (PLAY is sent by open)
        rtsp_server.restart()  # with a client connected: its socket lingers
        assert rtsp_server.port == port and rtsp_server.running
        with pytest.raises((av.error.FFmpegError, StopIteration, OSError)):
            for _ in range(50):
                next(container.decode(stream))
    # A client comes back as the live reader does: it retries while the restarted
    # server is still settling (on a loaded machine the first attempt can time out).
    deadline = time.monotonic() + 20.0
    while True:
        try:
            got = receive(rtsp_server.url(), frames=1, max_wall_s=10.0)
            break
        except av.error.FFmpegError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert got.size == (768, 576)


def test_missing_clip_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no such file"):
        start_rtsp_server({"/cam": tmp_path / "absent.mp4"})


def test_unservable_file_fails_loudly(tmp_path: Path) -> None:
    """A file that is not an MP4 with an H.264/H.265 track: exit 2 before READY, the
    reason in the error."""
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00" + b"\x00" * 64)
    with pytest.raises(RuntimeError, match="no moov box"):
        start_rtsp_server({"/cam": junk})
