"""Keyframes mode over RTSP on streams shaped as cameras send them: whole pictures
from multi-slice keyframes, the analysis rate kept on long and irregular I-frame
intervals, H.265, audio tracks ignored (docs/ARCHITECTURE.md, "Live streams")."""

from __future__ import annotations

import itertools
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest

from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.picture import picture_of
from lookout.streams.settings import BackoffConfig, StreamConfig
from tests.support.media import RtspServer, start_rtsp_server

pytestmark = [pytest.mark.slow, pytest.mark.timing]

KEYFRAMES = StreamConfig(
    analysis_mode="keyframes",
    queue_size=1000,
    backoff=BackoffConfig(initial_s=0.1, max_s=0.5),
)


def read_live(url: str, seconds: float, fps: float = 1.0) -> tuple[list[Frame], StreamReader]:
    q: FrameQueue[Frame] = FrameQueue(1000)
    r = StreamReader("cam", url, KEYFRAMES, analysis_fps=fps, tz=ZoneInfo("UTC"), queue=q)
    r.start()
    frames: list[Frame] = []
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            f = q.get(timeout=0.2)
            if f is not None:
                frames.append(f)
    finally:
        r.stop()
        assert r.join(5)
    return frames, r


def read_server(
    server: RtspServer, seconds: float, fps: float = 1.0
) -> tuple[list[Frame], StreamReader]:
    """`read_live` of the server's /cam. Debian's gst-rtsp-server can abort on a PLAY
    racing its own preroll on a loaded machine (see tests/streams/test_rtsp_reader.py):
    that is the test server dying, not the reader, so it is started again and read
    again, once."""
    frames, r = read_live(server.url("/cam"), seconds, fps)
    if not server.running:
        print(f"test RTSP server aborted (reader: {r.stats.last_error}); restarted")
        server.restart()
        frames, r = read_live(server.url("/cam"), seconds, fps)
    return frames, r


def source_frames(path: Path, n: int) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        # Converted as the readers' pictures are (streams/picture.py).
        return [picture_of(f).image() for f in itertools.islice(c.decode(c.streams.video[0]), n)]


def match(img: np.ndarray, source: list[np.ndarray]) -> tuple[int, float]:
    diffs = [float(np.mean(np.abs(img.astype(np.int16) - s.astype(np.int16)))) for s in source]
    i = int(np.argmin(diffs))
    return i, diffs[i]


def test_four_slice_keyframes_split_on_the_wire_come_out_whole(clip_slices4: Path) -> None:
    # The server puts SPS/PPS before every slice: FFmpeg hands each keyframe over as
    # several packets with one timestamp. One whole picture per keyframe must come out.
    with start_rtsp_server({"/cam": clip_slices4}, params_per_slice=True) as server:
        frames, r = read_server(server, seconds=6.5)
    assert 5 <= len(frames) <= 8, len(frames)
    source = source_frames(clip_slices4, 120)
    for f in frames:
        i, diff = match(f.image, source)
        assert diff == 0.0, (f.index, i, diff)  # pixel-equal to decoding the file
        assert i % 10 == 0, i  # a keyframe (1 s GOP at 10 fps)
    pts = [f.pts_s for f in frames]
    assert len(set(pts)) == len(pts), "one picture per keyframe"
    # Only keyframes were decoded (the first may be cut by the join and dropped).
    assert r.decoder_stats.decoded <= len(frames) + 1, r.decoder_stats


@pytest.mark.parametrize("shape", ["clip_gop10", "clip_irregular"])
def test_long_intervals_keep_the_analysis_rate(shape: str, request: pytest.FixtureRequest) -> None:
    clip: Path = request.getfixturevalue(shape)
    with start_rtsp_server({"/cam": clip}) as server:
        frames, r = read_server(server, seconds=16.0)
    assert r.stats.reconnects == 0, r.stats  # no false stall between keyframes
    span = frames[-1].pts_s - frames[0].pts_s
    rate = (len(frames) - 1) / span
    assert 0.8 <= rate <= 1.2, (rate, [round(f.pts_s, 2) for f in frames])
    gaps = [b.pts_s - a.pts_s for a, b in itertools.pairwise(frames)]
    assert max(gaps) < 1.6, gaps
    source = source_frames(clip, 250)
    for f in frames:  # decoded forward from a keyframe: still exact pictures
        _, diff = match(f.image, source)
        assert diff == 0.0, (f.index, diff)


@pytest.mark.parametrize("shape", ["clip_hevc", "clip_audio", "clip_hevc_audio"])
def test_hevc_and_audio_tracks(shape: str, request: pytest.FixtureRequest) -> None:
    clip: Path = request.getfixturevalue(shape)
    with start_rtsp_server({"/cam": clip}) as server:
        frames, r = read_server(server, seconds=4.5)
    assert 3 <= len(frames) <= 6, len(frames)
    assert r.stats.reconnects == 0 and r.stats.last_error is None
    source = source_frames(clip, 60)
    for f in frames:
        i, diff = match(f.image, source)
        assert diff == 0.0 and i % 10 == 0, (i, diff)
