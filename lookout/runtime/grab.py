"""One decoded picture of a camera, now: for `lookout reference capture` and
`lookout regions` (a file's first frame, or the next frame of a live stream)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from lookout.base.errors import SourceError
from lookout.streams.connection import is_file_source
from lookout.streams.file_reader import FileReader
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig


def grab(source: str, camera_id: str, timeout: float, cfg_stream: StreamConfig) -> Frame:
    """One decoded frame of a file or a live stream."""
    if is_file_source(source):
        reader = FileReader(
            Path(source.removeprefix("file:")),
            camera_id,
            analysis_fps=1.0,
            start_time=datetime.now(UTC),
        )
        frame = next(iter(reader), None)
        if frame is None:
            raise SourceError(f"{source}: no frame")
        return frame
    queue: FrameQueue[Frame] = FrameQueue(1)
    live = StreamReader(
        camera_id,
        source,
        cfg_stream,
        analysis_fps=1.0,
        tz=UTC,
        queue=queue,
    )
    live.start()
    try:
        frame = queue.get(timeout)
    finally:
        live.stop()
        live.join(5)
    if frame is None:
        raise SourceError(
            f"camera {camera_id}: no frame within {timeout:g} s "
            f"({live.stats.last_error or 'no answer'})"
        )
    return frame
