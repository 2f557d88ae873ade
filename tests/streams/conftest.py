"""Fixtures for stream tests: clips shaped like cameras' streams (H.264, H.265,
slices, keyframe intervals, audio) and a local looping RTSP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.media import (
    CLIP_SHAPES,
    RtspServer,
    start_rtsp_server,
    vtest_clip,
    vtest_h264,
)


@pytest.fixture(scope="session")
def h264_clip() -> Path:
    """`vtest.avi` as H.264 MP4 (768x576, 10 fps, 1 s GOP, 795 frames), made once per
    cache (`$LOOKOUT_CACHE/media`; the session's tmp cache unless LOOKOUT_CACHE is set)."""
    return vtest_h264()


@pytest.fixture(scope="session")
def h264_clip_3s() -> Path:
    """The first 3 s (30 frames, 3 GOPs) of `h264_clip`: short enough to see it loop."""
    return vtest_h264(seconds=3.0)


@pytest.fixture()
def rtsp_server(h264_clip: Path) -> Iterator[RtspServer]:
    """A started RTSP server serving `/cam` -> `h264_clip` (looping, one pipeline per
    client), stopped after the test. `rtsp_server.url("/cam")` is its address."""
    with start_rtsp_server({"/cam": h264_clip}) as server:
        yield server


# Camera-shaped clips (docs/TESTING.md "What the tests start"):
# `vtest_clip(**CLIP_SHAPES[NAME])`, vtest at 768x576, 10 fps, full length (79.5 s,
# 795 frames), made once per cache like
# `h264_clip` (on 2 cores about 3 s for H.264, 6-15 s for H.265). Streamed by
# `start_rtsp_server` as they are (H.265 by rtph265pay, AAC as a second stream).
# `probe_clip(path)` says what a clip holds.


@pytest.fixture(scope="session")
def clip_slices4() -> Path:
    """H.264 with 4 slices per picture, 1 s GOP, no audio."""
    return vtest_clip(**CLIP_SHAPES["slices4"])


@pytest.fixture(scope="session")
def clip_hevc() -> Path:
    """H.265 (libx265, `hvc1`), 1 slice per picture, 1 s GOP (IDR), no audio."""
    return vtest_clip(**CLIP_SHAPES["hevc"])


@pytest.fixture(scope="session")
def clip_audio() -> Path:
    """H.264, 1 slice, 1 s GOP, plus an AAC-LC mono 16 kHz track (a quiet 440 Hz
    tone) as long as the video, interleaved."""
    return vtest_clip(**CLIP_SHAPES["audio"])


@pytest.fixture(scope="session")
def clip_hevc_audio() -> Path:
    """H.265 with 4 slices per picture, 1 s GOP, plus the AAC track of `clip_audio`."""
    return vtest_clip(**CLIP_SHAPES["hevc_audio"])


@pytest.fixture(scope="session")
def clip_gop10() -> Path:
    """H.264, 1 slice, a 10 s I-frame interval (keyframes at 0, 10, ... 70 s), no audio."""
    return vtest_clip(**CLIP_SHAPES["gop10"])


@pytest.fixture(scope="session")
def clip_irregular() -> Path:
    """H.264, 1 slice, no audio, IDR keyframes only at `IRREGULAR_KEYFRAMES_S` (0, 1,
    11, 13, 23, 23.3, 33.3, 43.3, 45, 55, 65, 66, 76 s: intervals of 0.3 to 10 s)."""
    return vtest_clip(**CLIP_SHAPES["irregular"])
