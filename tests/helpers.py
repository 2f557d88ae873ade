"""Small builders shared by unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai


def frame(t: float, camera: str = "cam", preset: str | None = None, size=(120, 160)) -> Frame:
    return Frame(
        camera_id=camera,
        index=int(t * 10),
        pts_s=t,
        captured_at=T0 + timedelta(seconds=t),
        monotonic_s=t,
        image=np.zeros((*size, 3), dtype=np.uint8),
        preset=preset,
    )


def dets(*rows: tuple[float, float, float, float, float, int, int]) -> Detections:
    """rows of (x1, y1, x2, y2, confidence, class_id, tracker_id)."""
    if not rows:
        return Detections.empty()
    arr = np.array(rows, dtype=np.float64)
    return Detections.create(arr[:, :4], arr[:, 4], arr[:, 5], arr[:, 6])
