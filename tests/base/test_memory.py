"""Memory per camera: the allocator cap the CLI applies, the slope the runner reports,
and the reader not holding a picture while it waits for the next one."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import weakref
from datetime import UTC

import numpy as np
import pytest

from lookout.base.memory import limit_arenas
from lookout.bench.memory import MemoryPoint, fit
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig
from tests.support.helpers import wait_until
from tests.support.media import vtest_h264


def test_limit_arenas_applies_on_glibc_unless_the_operator_set_it() -> None:
    code = "from lookout.base.memory import limit_arenas; print(limit_arenas())"
    run = lambda env: subprocess.run(  # noqa: E731
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    assert run({"PATH": "/usr/bin:/bin"}) == "True"
    assert run({"PATH": "/usr/bin:/bin", "MALLOC_ARENA_MAX": "4"}) == "False"
    assert isinstance(limit_arenas(), bool)


def test_prepare_process_runs_opencv_on_the_calling_thread() -> None:
    code = (
        "import cv2; before = cv2.getNumThreads()\n"
        "from lookout.base.memory import prepare_process; prepare_process()\n"
        "print(before, cv2.getNumThreads())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out[1] == "1", out  # (OpenCV's own default: a thread per core)


def test_slope_is_the_memory_of_one_more_camera() -> None:
    pts = [MemoryPoint(n, 300.0 + 12.5 * n, 0.0, float(n), 0) for n in (8, 16, 24, 32)]
    s = fit(pts)
    assert s.mb_per_camera == pytest.approx(12.5) and s.intercept_mb == pytest.approx(300.0)
    assert s.r2 == pytest.approx(1.0)
    noisy = fit([MemoryPoint(8, 400, 0, 8, 0), MemoryPoint(16, 520, 0, 16, 0)])
    assert noisy.mb_per_camera == pytest.approx(15.0)


def test_reader_lets_go_of_a_delivered_picture() -> None:
    # Between two analysed pictures (a second in keyframes mode) the reader thread holds
    # no reference to the last one: the queue and the analysis own it.
    seen: list[weakref.ref[np.ndarray]] = []
    got = threading.Event()

    class Probe(FrameQueue[Frame]):
        def put(self, item: Frame) -> bool:
            seen.append(weakref.ref(item.image))
            got.set()
            return True  # dropped at once: nothing else keeps it

    cfg = StreamConfig(analysis_mode="keyframes", loop=True, stall_timeout_s=10)
    reader = StreamReader("m", str(vtest_h264()), cfg, analysis_fps=0.5, tz=UTC, queue=Probe(1))
    reader.start()
    try:
        assert got.wait(20)
        assert wait_until(lambda: (gc.collect(), seen[0]() is None)[1], 1.5), "picture still held"
    finally:
        reader.stop()
        reader.join(5)
