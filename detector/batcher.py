"""Cross-camera micro-batching: frames of many cameras → one detector call → back to
each camera, in order.

One thread gathers frames from every camera's bounded queue, round-robin so no
camera starves, until the batch is full or the first frame of the batch has waited
`max_wait_s`; it runs the detector once and delivers each result to its camera in the
order the frames were taken (per camera: capture order). Only one batch is in flight,
so a camera's frames are never reordered. When the detector falls behind, the
cameras' queues drop their oldest frames (their policy); the batcher itself never
drops. A `gate` may mark frames that need no inference (motion gating): they are
delivered with `None` detections, in order with the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from lookout.detector.detections import Detections
from lookout.detector.regions import RegionPlan, merge_regions
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

DetectFn = Callable[[Sequence[np.ndarray]], list[Detections]]


@dataclass(slots=True)
class BatcherStats:
    """Counters of one batcher (read by metrics and the benchmark)."""

    batches: int = 0
    frames: int = 0
    gated: int = 0
    errors: int = 0
    detect_s: float = 0.0


class MicroBatcher(Generic[K]):
    """Gathers frames across cameras into detector batches on its own thread."""

    def __init__(
        self,
        detect: DetectFn,
        deliver: Callable[[K, Frame, Detections | None], None],
        *,
        max_batch: int,
        max_wait_s: float,
        signal: threading.Event | None = None,
        gate: Callable[[K, Frame], bool] | None = None,
        on_batch: Callable[[int, float], None] | None = None,
        plan: Callable[[K, Frame], RegionPlan | None] | None = None,
    ) -> None:
        """`signal` is set by the queues on every put (see `FrameQueue`); `gate(key,
        frame)` returns False for frames that need no inference; `on_batch(size,
        seconds)` observes each detector call; `plan(key, frame)` gives a frame's
        region plan (None: the whole frame): its crops are batch items like frames of
        other cameras, and their boxes are merged back into one result per frame."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.detect = detect
        self.deliver = deliver
        self.plan = plan
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.signal = signal or threading.Event()
        self.gate = gate
        self.on_batch = on_batch
        self.stats = BatcherStats()
        self._sources: dict[K, FrameQueue[Frame]] = {}
        self._rr = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set_sources(self, sources: Mapping[K, FrameQueue[Frame]]) -> None:
        """Replace the set of camera queues (atomic; safe while running)."""
        self._sources = dict(sources)
        self.signal.set()

    # -- thread ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("batcher already started")
        self._thread = threading.Thread(target=self._run, name="batcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop gathering new frames, process every frame already queued, and join.
        Returns True if the thread ended within `timeout`."""
        self._stop.set()
        self.signal.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self.gather(drain=False)
            if batch:
                self.run_batch(batch)
        while batch := self.gather(drain=True):
            self.run_batch(batch)

    # -- steps (public for tests and the synchronous benchmark) ---------------------------
    def gather(self, drain: bool) -> list[tuple[K, Frame]]:
        """Take up to `max_batch` frames, round-robin over the sources.

        Waits for frames (on `signal`) until the batch is full, or `max_wait_s` after
        its first frame, or the batcher is stopping. With `drain`, returns at once with
        whatever is queued.
        """
        batch: list[tuple[K, Frame]] = []
        first_at: float | None = None
        while True:
            self.signal.clear()
            got = self._take(batch)
            if len(batch) >= self.max_batch or (drain and not got):
                return batch
            if drain:
                continue
            now = time.monotonic()
            if batch and first_at is None:
                first_at = now
            if first_at is not None and now - first_at >= self.max_wait_s:
                return batch
            if self._stop.is_set():
                return batch
            if not got:
                timeout = 0.2 if first_at is None else first_at + self.max_wait_s - now
                self.signal.wait(max(0.0, timeout))

    def _take(self, batch: list[tuple[K, Frame]]) -> bool:
        """One round-robin pass: at most one frame per source. True if any was taken."""
        items = list(self._sources.items())
        if not items:
            return False
        got = False
        start = self._rr % len(items)
        for key, queue in items[start:] + items[:start]:
            if len(batch) >= self.max_batch:
                break
            frame = queue.get_nowait()
            if frame is not None:
                batch.append((key, frame))
                got = True
        self._rr += 1
        return got

    def run_batch(self, batch: list[tuple[K, Frame]]) -> None:
        """Run the detector on the frames that pass the gate, then deliver all of them
        in batch order."""
        need = [self.gate is None or self.gate(key, frame) for key, frame in batch]
        images: list[np.ndarray] = []
        layout: list[tuple[int, list[tuple[int, int]]]] = []  # per frame: (n images, offsets)
        for (key, frame), n in zip(batch, need, strict=True):
            if not n:
                continue
            plan = self.plan(key, frame) if self.plan is not None else None
            if plan is None:
                images.append(frame.image)
                layout.append((1, [(0, 0)]))
                continue
            views = [c.view(frame.image) for c in plan.crops]
            offsets = [(c.x, c.y) for c in plan.crops]
            if plan.full_frame:
                views.append(frame.image)
                offsets.append((0, 0))
            images += views
            layout.append((len(views), offsets))
        results: list[Detections] = []
        if images:
            t0 = time.perf_counter()
            try:
                per_image = self.detect(images)
                results, i = [], 0
                for n_images, offsets in layout:
                    part = per_image[i : i + n_images]
                    i += n_images
                    whole = n_images == 1 and offsets[0] == (0, 0)
                    results.append(part[0] if whole else merge_regions(part, offsets))
            except Exception:
                self.stats.errors += 1
                log.exception("detector failed on a batch of %d frames", len(images))
                return
            took = time.perf_counter() - t0
            self.stats.detect_s += took
            self.stats.batches += 1
            if self.on_batch is not None:
                self.on_batch(len(images), took)
        it = iter(results)
        for (key, frame), n in zip(batch, need, strict=True):
            self.stats.frames += 1
            if not n:
                self.stats.gated += 1
            try:
                self.deliver(key, frame, next(it) if n else None)
            except Exception:
                self.stats.errors += 1
                log.exception("delivery failed for frame %d of %s", frame.index, key)
