"""Unit tests of the cross-camera micro-batcher (fake detector, real queues/threads)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.preprocess import Image, as_picture
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from tests.support.helpers import frame, wait_until


def tagged(cam: int, i: int) -> Frame:
    """A frame whose pixels carry (camera, index), so the fake detector can echo them."""
    f = frame(i * 0.1, camera=f"cam{cam}", size=(8, 8))
    img = np.zeros((8, 8, 3), dtype=np.uint8)
    img[0, 0] = (cam, i, 0)
    return Frame(f.camera_id, i, f.pts_s, f.captured_at, f.monotonic_s, img)


class FakeDetector:
    def __init__(self, delay: float = 0.0, fail_on_call: int | None = None) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.fail_on_call = fail_on_call

    def __call__(self, images: Sequence[Image]) -> list[Detections]:
        self.calls.append(len(images))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("boom")
        time.sleep(self.delay)
        # One box per image whose x1 / y1 echo the camera and frame index.
        return [
            Detections.create([[px[0, 0, 0], px[0, 0, 1], 10, 10]], [0.9], [0])
            for px in (as_picture(img).bgr() for img in images)
        ]


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[int, Frame, Detections | None]] = []
        self.lock = threading.Lock()

    def __call__(self, key: int, f: Frame, dets: Detections | None) -> None:
        with self.lock:
            self.got.append((key, f, dets))


def make(
    n_cams: int, per_cam: int, size: int = 1000
) -> tuple[dict[int, FrameQueue[Frame]], threading.Event]:
    signal = threading.Event()
    queues: dict[int, FrameQueue[Frame]] = {}
    for c in range(n_cams):
        q: FrameQueue[Frame] = FrameQueue(size, signal=signal)
        for i in range(per_cam):
            q.put(tagged(c, i))
        queues[c] = q
    return queues, signal


def test_results_are_routed_to_their_camera_in_order() -> None:
    queues, signal = make(3, 10)
    det, sink = FakeDetector(), Sink()
    b: MicroBatcher[int] = MicroBatcher(det, sink, max_batch=4, max_wait_s=0.01, signal=signal)
    b.set_sources(queues)
    b.start()
    assert b.stop(timeout=5)
    assert len(sink.got) == 30
    for cam in range(3):
        mine = [(f, d) for k, f, d in sink.got if k == cam]
        assert [f.index for f, _ in mine] == list(range(10))  # capture order kept
        for f, d in mine:
            assert d is not None and (d.xyxy[0, 0], d.xyxy[0, 1]) == (cam, f.index)
    assert max(det.calls) == 4 and sum(det.calls) == 30


def test_round_robin_does_not_starve_a_quiet_camera() -> None:
    queues, signal = make(2, 0)
    for i in range(20):
        queues[0].put(tagged(0, i))
    queues[1].put(tagged(1, 0))
    b: MicroBatcher[int] = MicroBatcher(
        FakeDetector(), Sink(), max_batch=4, max_wait_s=0.01, signal=signal
    )
    b.set_sources(queues)
    first = b.gather(drain=False)
    assert {k for k, _ in first} == {0, 1}


def test_max_wait_flushes_a_partial_batch_from_one_slow_camera() -> None:
    queues, signal = make(4, 0)
    sink = Sink()
    b: MicroBatcher[int] = MicroBatcher(
        FakeDetector(), sink, max_batch=8, max_wait_s=0.05, signal=signal
    )
    b.set_sources(queues)
    b.start()
    try:
        t0 = time.monotonic()
        queues[2].put(tagged(2, 0))  # the only camera with a frame
        wait_until(lambda: bool(sink.got), 2, step=0.005)
        waited = time.monotonic() - t0
    finally:
        b.stop(timeout=2)
    assert len(sink.got) == 1 and sink.got[0][0] == 2
    assert 0.04 <= waited < 0.5, waited


def test_shutdown_delivers_frames_in_flight_and_queued() -> None:
    queues, signal = make(3, 7)
    det, sink = FakeDetector(delay=0.02), Sink()
    b: MicroBatcher[int] = MicroBatcher(det, sink, max_batch=2, max_wait_s=0.01, signal=signal)
    b.set_sources(queues)
    b.start()
    time.sleep(0.03)  # a batch is in the detector now
    assert b.stop(timeout=5)
    assert len(sink.got) == 21 and all(len(q) == 0 for q in queues.values())


def test_gated_frames_skip_the_detector_but_keep_their_place() -> None:
    queues, signal = make(1, 6)
    det, sink = FakeDetector(), Sink()
    b: MicroBatcher[int] = MicroBatcher(
        det, sink, max_batch=6, max_wait_s=0.01, signal=signal, gate=lambda _k, f: f.index % 3 == 0
    )
    b.set_sources(queues)
    b.run_batch(b.gather(drain=True))
    assert det.calls == [2]
    assert [f.index for _, f, _ in sink.got] == list(range(6))
    assert [d is None for _, _, d in sink.got] == [False, True, True, False, True, True]
    assert b.stats.gated == 4


def test_a_failing_detector_call_is_counted_and_the_thread_goes_on() -> None:
    queues, signal = make(1, 4)
    det, sink = FakeDetector(fail_on_call=1), Sink()
    b: MicroBatcher[int] = MicroBatcher(det, sink, max_batch=2, max_wait_s=0.01, signal=signal)
    b.set_sources(queues)
    b.start()
    assert b.stop(timeout=5)
    assert b.stats.errors == 1 and len(sink.got) == 2


def test_region_crops_of_several_cameras_are_one_call_and_merge_back_per_frame() -> None:
    from lookout.detector.regions import Crop, RegionPlan

    seen: list[list[tuple[int, int]]] = []

    def detect(images: Sequence[Image]) -> list[Detections]:
        seen.append([(as_picture(im).height, as_picture(im).width) for im in images])
        # A box 2..6 in every image: in frame pixels it lands at each crop's offset.
        return [Detections.create([[2, 2, 6, 6]], [0.9], [0]) for _ in images]

    frames = {0: frame(0.0, camera="wide", size=(40, 80)), 1: frame(0.0, camera="small")}
    plans = {
        0: RegionPlan((Crop(0, 0, 40, 40), Crop(40, 0, 40, 40)), False, 1.0, 36.0),
        1: None,
    }
    sink = Sink()
    b: MicroBatcher[int] = MicroBatcher(
        detect, sink, max_batch=8, max_wait_s=0.0, plan=lambda k, f: plans[k]
    )
    b.run_batch([(0, frames[0]), (1, frames[1])])
    assert seen == [[(40, 40), (40, 40), (120, 160)]]  # two crops + a whole frame, one call
    got = {k: d for k, _f, d in sink.got}
    assert got[0] is not None and sorted(got[0].xyxy[:, 0].tolist()) == [2.0, 42.0]
    assert got[1] is not None and got[1].xyxy[:, 0].tolist() == [2.0]
