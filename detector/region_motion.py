"""Motion gating per region crop: skip the crops of a region plan whose area has not
changed since their last inference (docs/ARCHITECTURE.md, "Seeing small things").

A tower camera's region plan has several crops; people walking in one of them say
nothing about the others. `RegionMotion` keeps one small grey background per crop and
tells, per analysed frame, which crops must go to the detector:

- **motion**: enough pixels of the crop changed since the crop's last frames;
- **interval**: the crop has not run for `max_interval_s` (a parked van does not move,
  yet its dwell must keep being confirmed);
- **first**: no background yet.

Motion must see what the plan sees. A whole-frame motion image 96 px wide (the
camera-level `MotionGate`) shrinks a 4K view 40x: a 24 px car becomes half a motion
pixel and is averaged away. Here each crop is reduced by an integer factor chosen from
the plan's smallest object, so that object still spans about `OBJECT_MOTION_PX` motion
pixels, and a crop counts as moving when a quarter of such an object's area changed (or
`min_area` of the crop, whichever is smaller). Reducing a 416 px crop by 4 costs about
0.1 ms on a 2-core machine. A YUV picture's crops are reduced from its luma, never
converted: one update of 8 crops of 650 px on a decoded 1080p picture takes 1.8 ms,
against 4.2 ms for the same picture in BGR.

Not thread-safe: one instance per camera and plan, used by the batcher's thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lookout.detector.preprocess import Image, as_picture
from lookout.detector.regions import Crop
from lookout.detector.settings import MotionConfig
from lookout.streams.grey import small_grey

#: Motion pixels across the plan's smallest object (its width).
OBJECT_MOTION_PX = 6.0
#: The smallest object's height as a share of its width (a far car seen from above).
OBJECT_ASPECT = 0.5


@dataclass(frozen=True, slots=True)
class RegionDecision:
    """Which crops run on one frame.

    Attributes:
        run: per crop of the plan, True when it goes to the detector now.
        moving: per crop, True when it moved (the others ran for `first`/`interval`).
    """

    run: tuple[bool, ...]
    moving: tuple[bool, ...]

    @property
    def any(self) -> bool:
        return any(self.run)

    @property
    def still(self) -> frozenset[int]:
        """Indices of the crops that do not run (their last boxes stand)."""
        return frozenset(i for i, r in enumerate(self.run) if not r)


class RegionMotion:
    """Per-crop motion gate for one camera's region plan.

    Attributes:
        factor: frame pixels per motion pixel (integer, >= 1).
        min_pixels: changed motion pixels per crop that count as motion, per crop.
        runs / skips: crop inferences decided / avoided since construction.
    """

    def __init__(self, settings: MotionConfig, crops: Sequence[Crop], smallest_px: float) -> None:
        """`smallest_px` is the smallest object (frame pixels) the plan can see
        (`RegionPlan.smallest_px`)."""
        self.settings = settings
        self.crops = tuple(crops)
        self.factor = max(1, math.floor(smallest_px / OBJECT_MOTION_PX))
        # The crop is trimmed to a multiple of the factor, so INTER_AREA runs its fast
        # integer-ratio path (a fractional ratio costs ~5x more).
        self._sizes = [
            (max(1, c.width // self.factor), max(1, c.height // self.factor)) for c in self.crops
        ]
        self._views = [
            Crop(c.x, c.y, min(c.width, w * self.factor), min(c.height, h * self.factor))
            for c, (w, h) in zip(self.crops, self._sizes, strict=True)
        ]
        obj = smallest_px / self.factor
        quarter_object = max(1.0, obj * obj * OBJECT_ASPECT / 4)
        self.min_pixels = [
            max(1, math.ceil(min(quarter_object, settings.min_area * w * h)))
            for w, h in self._sizes
        ]
        self._background: list[np.ndarray | None] = [None] * len(self.crops)
        self._last_run: list[float | None] = [None] * len(self.crops)
        self.runs = 0
        self.skips = 0

    def reset(self) -> None:
        """Forget backgrounds and run times (the view changed)."""
        self._background = [None] * len(self.crops)
        self._last_run = [None] * len(self.crops)

    def _grey(self, image: Image, i: int) -> np.ndarray:
        v = self._views[i]
        region = (v.x, v.y, v.width, v.height)
        grey: np.ndarray = small_grey(as_picture(image), self._sizes[i], region).astype(np.float32)
        k = self.settings.blur
        if k > 1:
            grey = cv2.GaussianBlur(grey, (k, k), 0)
        return grey

    def changed_pixels(self, image: Image) -> list[int]:
        """Changed motion pixels per crop against the backgrounds, without updating them
        (-1 for a crop with no background yet). For diagnostics and tests."""
        out = []
        for i, bg in enumerate(self._background):
            if bg is None:
                out.append(-1)
                continue
            diff = cv2.absdiff(self._grey(image, i), bg) > float(self.settings.threshold)
            out.append(int(np.count_nonzero(diff)))
        return out

    def update(self, image: Image, t: float) -> RegionDecision:
        """Measure each crop of `image` (the frame's picture, or the full BGR frame:
        a YUV picture's luma is read, lookout/streams/grey.py), update the backgrounds
        and decide; `t` is the frame's `monotonic_s` (only differences are used)."""
        run: list[bool] = []
        moving: list[bool] = []
        for i in range(len(self.crops)):
            grey = self._grey(image, i)
            bg = self._background[i]
            last = self._last_run[i]
            if bg is None:
                self._background[i] = grey
                moved, due = False, True
            else:
                changed = cv2.absdiff(grey, bg) > float(self.settings.threshold)
                moved = int(np.count_nonzero(changed)) >= self.min_pixels[i]
                cv2.accumulateWeighted(grey, bg, self.settings.alpha)
                due = last is None or t < last or t - last >= self.settings.max_interval_s
            go = moved or due
            if go:
                self._last_run[i] = t
                self.runs += 1
            else:
                self.skips += 1
            run.append(go)
            moving.append(moved)
        return RegionDecision(tuple(run), tuple(moving))
