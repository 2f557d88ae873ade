"""The delivery stage: in order, bounded, errors counted, every wait ends."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import numpy as np

from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.stage import DeliveryStage
from lookout.streams.frame import Frame


def _frame(i: int) -> Frame:
    return Frame("c", i, float(i), datetime.now(UTC), float(i), np.zeros((8, 8, 3), np.uint8))


def test_results_are_delivered_in_order_on_another_thread() -> None:
    seen: list[tuple[int, str]] = []
    stage: DeliveryStage[str] = DeliveryStage(
        lambda _k, f, _d: seen.append((f.index, threading.current_thread().name)), capacity=2
    )
    for i in range(50):
        stage.put("c", _frame(i), None)
    assert stage.close(10)
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"analysis"}
    # After close, a late result is delivered on the caller's thread, not lost.
    stage.put("c", _frame(50), None)
    assert seen[-1] == (50, threading.current_thread().name)


def test_a_full_stage_holds_the_producer_back_and_flush_times_out() -> None:
    release = threading.Event()
    done: list[int] = []

    def slow(_k: str, f: Frame, _d: Detections | None) -> None:
        release.wait(5)
        done.append(f.index)

    stage: DeliveryStage[str] = DeliveryStage(slow, capacity=1)
    stage.put("c", _frame(0), None)  # taken by the thread, which waits
    stage.put("c", _frame(1), None)  # fills the hand-off
    t = threading.Thread(target=stage.put, args=("c", _frame(2), None))
    t.start()
    time.sleep(0.3)
    assert t.is_alive()  # back-pressure: no drop, no unbounded growth
    assert not stage.flush(0.2)
    release.set()
    t.join(5)
    assert stage.close(5)
    assert done == [0, 1, 2]


def test_a_failing_delivery_is_counted_and_the_next_frames_go_on() -> None:
    got: list[int] = []

    def deliver(_k: str, f: Frame, _d: Detections | None) -> None:
        if f.index == 1:
            raise RuntimeError("boom")
        got.append(f.index)

    batcher: MicroBatcher[str] = MicroBatcher(
        lambda images: [Detections.empty() for _ in images],
        deliver,
        max_batch=4,
        max_wait_s=0.0,
        pipelined=True,
    )
    batcher.run_batch([("c", _frame(i)) for i in range(4)])
    assert batcher.close_stage(5)
    assert got == [0, 2, 3]
    assert batcher.stats.errors == 1 and batcher.stats.frames == 4
