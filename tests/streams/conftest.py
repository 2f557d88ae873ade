"""Fixtures for stream tests: H.264 clips and a local looping RTSP server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.media import RtspServer, start_rtsp_server, vtest_h264


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
