"""The `Frame` envelope that travels from a reader to the case sinks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture of one camera.

    Attributes:
        camera_id: id of the camera in the configuration.
        index: index of the frame in its source (0-based, counts every decoded frame,
            not only the analysed ones).
        pts_s: stream presentation time in seconds from the start of the source.
        captured_at: wall-clock capture time, timezone-aware. For replays this is the
            configured start time plus `pts_s`, so replays are deterministic.
        monotonic_s: seconds on the source's duration axis, which never jumps: the
            footage time (`pts_s`) in replay, `time.monotonic()` at arrival in live
            operation. Dwell, stationarity, track expiry and motion re-checks use only
            differences of it (docs/ARCHITECTURE.md, "Time").
        image: BGR picture, shape (H, W, 3), dtype uint8.
        preset: active PTZ preset token, or None for a fixed camera.
    """

    camera_id: str
    index: int
    pts_s: float
    captured_at: datetime
    monotonic_s: float
    image: np.ndarray = field(repr=False)
    preset: str | None = None

    def __post_init__(self) -> None:
        img = self.image
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be HxWx3 uint8, got shape {img.shape} dtype {img.dtype}"
            )
        if self.captured_at.tzinfo is None:
            raise ValueError("Frame.captured_at must be timezone-aware")

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
