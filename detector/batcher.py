"""Cross-camera micro-batching: frames of many cameras → one detector call → back to
each camera, in order.

One thread gathers frames from every camera's bounded queue, round-robin so no
camera starves, until the batch is full or the first frame of the batch has waited
`max_wait_s`; it runs the detector once and delivers each result to its camera in the
order the frames were taken (per camera: capture order). Only one batch is in flight,
so a camera's frames are never reordered. When the detector falls behind, the
cameras' queues drop their oldest frames (their policy); the batcher itself never
drops. A `gate` may mark frames that need no inference (motion gating): they are
delivered with `None` detections, in order with the others. A frame's region plan may
mark crops as still (per-region motion gating): only the others go to the detector,
and a still crop's last boxes stand in the merge.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lookout.detector.detections import Detections
from lookout.detector.preprocess import Image
from lookout.detector.regions import Crop, RegionPlan, merge_regions
from lookout.detector.stage import DeliveryStage
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

DetectFn = Callable[[Sequence[Image]], list[Detections]]


@dataclass(slots=True)
class BatcherStats:
    """Counters of one batcher (read by metrics and the benchmark)."""

    batches: int = 0
    frames: int = 0
    gated: int = 0
    errors: int = 0
    detect_s: float = 0.0
    crops_run: int = 0
    crops_reused: int = 0


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
        pipelined: bool = False,
    ) -> None:
        """`signal` is set by the queues on every put (see `FrameQueue`); `gate(key,
        frame)` returns False for frames that need no inference; `on_batch(size,
        seconds)` observes each detector call; `plan(key, frame)` gives a frame's
        region plan (None: the whole frame): its crops are batch items like frames of
        other cameras, and their boxes are merged back into one result per frame.
        `pipelined` delivers on a `DeliveryStage` thread (detector/stage.py), so the
        analysis of one batch overlaps inference of the next; `flush`/`stop` wait for
        it."""
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
        self._crop_boxes: dict[K, tuple[tuple[Crop, ...], list[Detections | None]]] = {}
        self._stage: DeliveryStage[K] | None = None
        if pipelined:
            self._stage = DeliveryStage(deliver, capacity=2 * max_batch, on_error=self._failed)

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
        t0 = time.monotonic()
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if self._stage is not None:
            stopped = self._stage.close(max(0.5, timeout - (time.monotonic() - t0))) and stopped
        return stopped

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until every result handed to the delivery stage was delivered (at once
        when not pipelined). For synchronous use of `run_batch` (replay)."""
        return self._stage is None or self._stage.flush(timeout)

    def close_stage(self, timeout: float = 30.0) -> bool:
        """Deliver what is pending and stop the delivery stage's thread (replay's end;
        `stop` does it for the threaded batcher)."""
        return self._stage is None or self._stage.close(timeout)

    def _failed(self, frame: Frame, key: K) -> None:
        del frame, key
        self.stats.errors += 1

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
        images: list[Image] = []
        work: list[_Work[K]] = []
        pending: set[tuple[K, Crop]] = set()
        for (key, frame), n in zip(batch, need, strict=True):
            if not n:
                continue
            plan = self.plan(key, frame) if self.plan is not None else None
            if plan is None:
                images.append(frame.picture)
                work.append(_Work(key, None, ()))
                continue
            cache = self._cache_for(key, plan)
            # A still crop reuses its last boxes (or those an earlier frame of this batch
            # is about to give it); one never run yet runs anyway.
            run = tuple(
                i
                for i in range(len(plan.crops))
                if i not in plan.still or (cache[i] is None and (key, plan.crops[i]) not in pending)
            )
            pending.update((key, plan.crops[i]) for i in run)
            images += [plan.crops[i].of(frame.picture) for i in run]
            if plan.full_frame:
                images.append(frame.picture)
            work.append(_Work(key, plan, run))
        per_image: list[Detections] = []
        if images:
            t0 = time.perf_counter()
            try:
                per_image = self.detect(images)
            except Exception:
                self.stats.errors += 1
                log.exception("detector failed on a batch of %d images", len(images))
                return
            took = time.perf_counter() - t0
            self.stats.detect_s += took
            self.stats.batches += 1
            if self.on_batch is not None:
                self.on_batch(len(images), took)
        results, i = [], 0
        for w in work:
            results.append(self._merge(w, per_image[i : i + w.images]))
            i += w.images
        it = iter(results)
        for (key, frame), n in zip(batch, need, strict=True):
            self.stats.frames += 1
            if not n:
                self.stats.gated += 1
            dets = next(it) if n else None
            if self._stage is not None:
                self._stage.put(key, frame, dets)
                continue
            try:
                self.deliver(key, frame, dets)
            except Exception:
                self._failed(frame, key)
                log.exception("delivery failed for frame %d of %s", frame.index, key)

    def _cache_for(self, key: K, plan: RegionPlan) -> list[Detections | None]:
        """The last boxes of each crop of `key`'s plan (crop coordinates); a new plan
        (another preset or frame size) starts empty. Cameras no longer among the
        sources are forgotten, so the cache stays bounded."""
        entry = self._crop_boxes.get(key)
        if entry is None or entry[0] != plan.crops:
            if len(self._crop_boxes) > len(self._sources):
                for gone in [k for k in self._crop_boxes if k not in self._sources]:
                    del self._crop_boxes[gone]
            entry = (plan.crops, [None] * len(plan.crops))
            self._crop_boxes[key] = entry
        return entry[1]

    def _merge(self, w: _Work[K], part: Sequence[Detections]) -> Detections:
        """One frame's boxes in frame coordinates: the crops just run, the still crops'
        last boxes, and the full-frame pass, merged (detector/regions.py)."""
        if w.plan is None or not w.plan.crops:
            return part[0]
        cache = self._cache_for(w.key, w.plan)
        fresh = dict(zip(w.run, part, strict=False))
        parts: list[Detections] = []
        offsets: list[tuple[int, int]] = []
        for i, crop in enumerate(w.plan.crops):
            dets = fresh.get(i)
            if dets is None:
                dets = cache[i]
                self.stats.crops_reused += 1
            else:
                cache[i] = dets
                self.stats.crops_run += 1
            if dets is not None:
                parts.append(dets)
                offsets.append((crop.x, crop.y))
        if w.plan.full_frame:
            parts.append(part[-1])
            offsets.append((0, 0))
        return merge_regions(parts, offsets)


@dataclass(frozen=True, slots=True)
class _Work(Generic[K]):
    """One frame going to the detector: its camera, its plan (None: the whole frame)
    and the indices of the crops run now."""

    key: K
    plan: RegionPlan | None
    run: tuple[int, ...]

    @property
    def images(self) -> int:
        if self.plan is None:
            return 1
        return len(self.run) + int(self.plan.full_frame)
