"""Region plans: detect at native resolution where violations can happen.

A tower camera's view is 1080p-4K; letterboxing it whole into a 416 model input
shrinks a 70 px car to 15 px, below what the detector sees. The zones of a camera
(per PTZ preset) say which pixels matter, so `plan_regions` covers each zone's
bounds (plus a margin) with square crops that reach the model at a scale where the
site's smallest object (`min_object_px`) is about `SEEN_PX` wide. Crops are ordinary
batch items (views of the decoded picture, letterboxed straight into the batch
buffer); `merge_regions` maps their boxes back to the frame and merges the crops and
an optional full-frame pass, class-aware on intersection-over-smaller, so an object
cut by a crop edge is one box (docs/ARCHITECTURE.md, "Seeing small things").
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lookout.base.geometry import box_ioss
from lookout.detector.detections import Detections
from lookout.streams.picture import Cropped, Picture

log = logging.getLogger(__name__)

#: The smallest vehicle width (pixels at the model input) YOLOX-Nano at 416 finds in
#: at least 95% of frames. Measured on 30 vtest frames scaled so the parked van is W px
#: wide, cropped 416x416 around it: 72 px 30/30, 36 px 30/30, 28 px 23/30, 24 px 22/30,
#: 20 px 10/30, 16 px 8/30, 14 px 0/30.
SEEN_PX = 36.0
#: Intersection over the smaller box above which two boxes of one class are one object.
MERGE_IOS = 0.5


@dataclass(frozen=True, slots=True)
class Crop:
    """A region of the frame: top-left corner and size in frame pixels."""

    x: int
    y: int
    width: int
    height: int

    def of(self, picture: Picture) -> Cropped:
        """The crop of `picture`: converted only inside it, at the size asked
        (docs/ARCHITECTURE.md "Pictures")."""
        return Cropped(picture, (self.x, self.y, self.width, self.height))

    def view(self, image: np.ndarray) -> np.ndarray:
        """The crop as a view of `image` (no copy)."""
        return image[self.y : self.y + self.height, self.x : self.x + self.width]


@dataclass(frozen=True, slots=True)
class RegionPlan:
    """What the detector runs on for one camera and preset.

    Attributes:
        crops: regions of the frame, each one batch item.
        full_frame: also run the whole frame (large objects).
        scale: model-input pixels per frame pixel inside a crop (1.0: native).
        smallest_px: the smallest object (frame pixels) the plan can still see.
        capped: True when `max_crops` forced a coarser scale than asked for.
        still: indices of crops that need no inference on this frame (per-region motion
            gating, detector/region_motion.py): their last boxes stand. Empty in the
            plan itself; set per frame.
    """

    crops: tuple[Crop, ...]
    full_frame: bool
    scale: float
    smallest_px: float
    capped: bool = False
    still: frozenset[int] = frozenset()

    @property
    def images_per_frame(self) -> int:
        return len(self.crops) + int(self.full_frame)


def _spans(lo: float, hi: float, side: int, overlap: int, limit: int) -> list[int]:
    """Starts of windows of `side` covering [lo, hi) inside [0, limit), neighbours
    overlapping by at least `overlap`, spread evenly (deterministic)."""
    if side >= limit:
        return [0]
    lo, hi = max(0.0, lo), min(float(limit), hi)
    span = hi - lo
    if span <= side:
        start = round(min(max(0.0, (lo + hi) / 2 - side / 2), limit - side))
        return [start]
    n = math.ceil((span - overlap) / (side - overlap))
    step = (span - side) / (n - 1)
    starts = [round(min(max(0.0, lo + i * step), limit - side)) for i in range(n)]
    return sorted(set(starts))


def _tile(
    boxes: Sequence[tuple[float, float, float, float]],
    width: int,
    height: int,
    side: int,
    overlap: int,
) -> list[Crop]:
    crops: list[Crop] = []
    for x1, y1, x2, y2 in boxes:
        for y in _spans(y1, y2, side, overlap, height):
            for x in _spans(x1, x2, side, overlap, width):
                crops.append(Crop(x, y, min(side, width), min(side, height)))
    unique = sorted(set(crops), key=lambda c: (c.y, c.x))
    # A crop inside another adds nothing.
    return [
        c
        for c in unique
        if not any(
            o != c
            and o.x <= c.x
            and o.y <= c.y
            and o.x + o.width >= c.x + c.width
            and o.y + o.height >= c.y + c.height
            for o in unique
        )
    ]


def plan_regions(
    width: int,
    height: int,
    zones: Sequence[Sequence[tuple[float, float]]],
    *,
    input_size: int,
    min_object_px: float,
    overlap_px: int,
    max_crops: int,
    full_frame: bool = False,
    seen_px: float = SEEN_PX,
) -> RegionPlan:
    """Crops covering every zone pixel (plus `overlap_px / 2` around the zone) of a
    `width` x `height` frame, at the scale where a `min_object_px` object reaches the
    model `seen_px` wide (never enlarged past native resolution), at most `max_crops`
    (a coarser scale when the cap binds). Deterministic."""
    if not zones:
        return RegionPlan((), True, min(1.0, input_size / max(width, height)), 0.0)
    margin = overlap_px / 2
    boxes = []
    for poly in zones:
        pts = np.asarray(poly, dtype=np.float64)
        x1, y1 = pts.min(axis=0) - margin
        x2, y2 = pts.max(axis=0) + margin
        boxes.append((float(x1), float(y1), float(x2), float(y2)))
    scale = min(1.0, seen_px / min_object_px)
    capped = False
    while True:
        side = round(input_size / scale)
        overlap = min(overlap_px, side // 2)
        crops = _tile(boxes, width, height, side, overlap)
        if len(crops) <= max_crops or side >= max(width, height):
            break
        scale /= 1.25
        capped = True
    return RegionPlan(tuple(crops), full_frame, scale, seen_px / scale, capped)


def merge_regions(
    parts: Sequence[Detections], offsets: Sequence[tuple[int, int]], threshold: float = MERGE_IOS
) -> Detections:
    """Boxes of every crop (and the full frame, offset (0, 0)) in frame pixels, one per
    object: greedy, by confidence, a box of the same class overlapping a kept box by
    `threshold` of the smaller one is merged into it (the union box, the higher
    confidence) — so an object cut by a crop edge is one box, and two cars side by
    side (little overlap) stay two."""
    if not any(len(p) for p in parts):
        return Detections.empty()
    xyxy = np.concatenate(
        [
            p.xyxy.astype(np.float64) + np.array([dx, dy, dx, dy])
            for p, (dx, dy) in zip(parts, offsets, strict=True)
        ]
    )
    conf = np.concatenate([p.confidence for p in parts])
    cls = np.concatenate([p.class_id for p in parts])
    order = np.argsort(-conf, kind="stable")
    xyxy, conf, cls = xyxy[order], conf[order], cls[order]
    ios = box_ioss(xyxy, xyxy)
    kept: list[int] = []
    boxes = xyxy.copy()
    absorbed = np.zeros(len(xyxy), dtype=bool)
    for i in range(len(xyxy)):
        if absorbed[i]:
            continue
        kept.append(i)
        same = (cls == cls[i]) & ~absorbed & (ios[i] >= threshold)
        same[: i + 1] = False  # only lower-confidence boxes merge into this one
        for j in np.flatnonzero(same):
            boxes[i, :2] = np.minimum(boxes[i, :2], xyxy[j, :2])
            boxes[i, 2:] = np.maximum(boxes[i, 2:], xyxy[j, 2:])
            absorbed[j] = True
    k = np.array(kept, dtype=np.intp)
    return Detections.create(boxes[k], conf[k], cls[k])
