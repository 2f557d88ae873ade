"""Small builders, the one polling helper (`wait_until`), the one free loopback port
(`free_port`) and readers of `lookout replay`'s output, shared by the tests."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.events import ViolationEvent

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai
R = TypeVar("R")


class FakeClock:
    """A monotonic clock (`clock()` -> seconds) that moves only when a test moves it:
    `clock.t += 2.0`."""

    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def wait_until(
    cond: Callable[[], R],
    timeout: float,
    step: float = 0.05,
    *,
    ignore: tuple[type[Exception], ...] = (OSError,),
) -> R | bool:
    """Poll `cond` every `step` s until it returns something true or `timeout` s pass.

    Returns the first true value, else the value of one last call after the timeout
    (so `assert wait_until(...)` reports the final state). Exceptions of the types in
    `ignore` (by default OSError: a server or file not there yet) count as False.
    """

    def poll() -> R | bool:
        try:
            return cond()
        except ignore:
            return False

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = poll()
        if value:
            return value
        time.sleep(step)
    return poll()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (bound once, then
    closed: the caller binds it next; a server that can bind port 0 itself should)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON Lines file (cases.jsonl), blank lines skipped."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def new_cases(summary: str) -> int:
    """The number of new cases in a `lookout replay` summary ("cases:  N new ...")."""
    m = re.search(r"cases:\s+(\d+) new", summary)
    assert m, summary
    return int(m.group(1))


#: The zone polygon of `parked_event` (image pixels of a 160x120 `frame`).
ZONE_Z1 = ((0.0, 0.0), (150.0, 0.0), (150.0, 110.0), (0.0, 110.0))


def parked_event(
    f: Frame,
    *,
    track: int = 1,
    bbox: tuple[float, float, float, float] = (40.0, 40.0, 80.0, 70.0),
    **fields: Any,
) -> ViolationEvent:
    """A car parked for 20 s in zone z1 of camera `cam` (grid cell 44030510100101) and
    confirmed at frame `f`; `fields` replace any other field of the event."""
    base: dict[str, Any] = dict(
        type="illegal_parking",
        camera_id="cam",
        preset=None,
        zone_id="z1",
        grid_code="44030510100101",
        track_id=track,
        class_name="car",
        bbox=bbox,
        confidence=0.8,
        first_seen=f.captured_at - timedelta(seconds=20),
        confirmed_at=f.captured_at,
        dwell_s=20.0,
        support=(),
        polygon=ZONE_Z1,
        frame=f,
    )
    base.update(fields)
    return ViolationEvent(**base)


def lookout_script() -> Path:
    """The installed `lookout` console script (what a user runs), beside this Python or
    in the repository's .venv; fails the test when it is not installed."""
    import pytest

    from lookout.base.paths import REPO_ROOT

    script = Path(sys.executable).parent / "lookout"
    if not script.is_file():
        script = REPO_ROOT / ".venv" / "bin" / "lookout"
    if not script.is_file():
        pytest.fail("the `lookout` console script is not installed (pip install -e .)")
    return script
