"""The analysis stage after the detector: delivers each frame's result on its own
thread, in order, so tracking, zone rules and cases of one batch run while the
detector works on the next (docs/ARCHITECTURE.md, "A frame's journey").

ONNX Runtime releases the GIL while it infers, so the two overlap on a multi-core
box. The hand-off is bounded (`capacity` frames): when analysis falls behind, the
batcher waits for room, the cameras' queues fill and drop their oldest frames (their
declared policy) — nothing is dropped here and nothing is reordered. Every wait is
bounded and checks the stop Event.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

Deliver = Callable[[K, Frame, Detections | None], None]

_POLL_S = 0.1


class DeliveryStage(Generic[K]):
    """Runs `deliver(key, frame, detections)` on one thread, in the order `put`."""

    def __init__(
        self,
        deliver: Deliver[K],
        *,
        capacity: int,
        on_error: Callable[[Frame, K], None] | None = None,
        name: str = "analysis",
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.deliver = deliver
        self.on_error = on_error
        self.name = name
        self._queue: queue.Queue[tuple[K, Frame, Detections | None]] = queue.Queue(capacity)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def put(self, key: K, frame: Frame, detections: Detections | None) -> None:
        """Hand one frame's result over; waits (in bounded steps) while the stage is
        full. After `close`, delivers on the caller's thread instead."""
        if self._stop.is_set() and self._thread is None:
            self._call(key, frame, detections)
            return
        self._ensure_started()
        item = (key, frame, detections)
        while True:
            try:
                self._queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                if self._thread is None or not self._thread.is_alive():
                    self._call(key, frame, detections)
                    return

    def _run(self) -> None:
        while True:
            try:
                key, frame, dets = self._queue.get(timeout=_POLL_S)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            try:
                self._call(key, frame, dets)
            finally:
                self._queue.task_done()

    def _call(self, key: K, frame: Frame, dets: Detections | None) -> None:
        try:
            self.deliver(key, frame, dets)
        except Exception:
            if self.on_error is not None:
                self.on_error(frame, key)
            log.exception("delivery failed for frame %d of %s", frame.index, key)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every result handed over has been delivered (True), or
        `timeout` passed (False)."""
        deadline = time.monotonic() + timeout
        q = self._queue
        with q.all_tasks_done:
            while q.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0 or (self._thread is None and q.unfinished_tasks):
                    return False
                q.all_tasks_done.wait(min(left, _POLL_S))
        return True

    def close(self, timeout: float = 30.0) -> bool:
        """Deliver what is queued, then stop the thread; later `put`s deliver on the
        caller's thread. True if everything was delivered within `timeout`."""
        flushed = self.flush(timeout)
        self._stop.set()
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(max(0.0, min(timeout, 2 * _POLL_S + 1.0)))
        return flushed
