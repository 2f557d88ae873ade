"""The scene model of one (camera, preset): what newly stays in the picture.

Two models of the picture, both grey at a reduced resolution (docs/DETECTION.md,
"What stays"):

- the **long-horizon** model is the empty scene. It follows slowly (time constant
  `learn_s`) only where the picture has the same structure, nothing moves and nothing
  was detected, so a stall does not melt into it while it stands;
- the **short-horizon** model is the last few seconds (time constant `static_s / 4`):
  a pixel that differs from it is moving.

A pixel is *new* when the current picture differs from the long-horizon model in
STRUCTURE (`zones.construction.structure_change`: brightness, gain, soft shadows and
saturated pixels do not count) in a component that gained structure. It is *still*
while it is neither moving nor under a detector's box. A new pixel that has been still
for `static_s` is static, and a component of static pixels is a `StaticBlob`.
A component that lost structure (a parked car that left, a stall packed away) heals:
once still for `static_s` the current picture is copied into the long-horizon model.

A blob is absorbed (copied into the long-horizon model) when an operator has judged
its case (`absorb`), or after `absorb_s` when it made no case; a blob that made a case
is `held` until the verdict, so a stall that stays all day stays a stall.

Small camera shake is removed before comparing: each sample is registered onto the
long-horizon model by phase correlation (a translation). PTZ preset visits are
registered as a whole by the caller (zones/stationary.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.base.geometry import box_iou
from lookout.zones.construction import structure_change

Box = tuple[float, float, float, float]

#: Share of a component's gradient-energy change that must be gained for it to be a
#: new thing (the construction comparison's `min_novelty`).
MIN_NOVELTY = 0.15
#: Grey levels (after a light blur) from the short-horizon model that mean "moving".
MOVING_LEVELS = 14.0
#: Largest translation (work pixels) phase correlation may correct; beyond, the
#: sample is compared as it is (a PTZ move is registered by the caller).
MAX_SHIFT = 12.0
#: Share of the samples since a pixel's clock started in which it must have been seen
#: new and unblocked (a crowd passing over the same spot is not a thing that stays).
OK_SHARE = 0.6
#: Grey levels from the empty scene that a blob's box is trimmed to (at least).
TIGHT_LEVELS = 12.0
#: Margin (work pixels) healed around a place that lost structure.
_HEAL_PX = 8
_COUNT_MAX = 65535
_MATCH_IOU = 0.3
#: A blob found smaller than this share of its box is partly hidden: its box stands.
_KEEP_AREA = 0.7
#: Seconds a blob stands while nothing of it is found (people in front of it).
_GRACE_S = 10.0
_MAX_BLOBS = 64


@dataclass(frozen=True, slots=True)
class SceneSettings:
    """Timing and size of a scene model (from `StaticObjectsConfig`, zones/settings.py);
    `min_area` is in work pixels."""

    static_s: float = 60.0
    absorb_s: float = 4 * 3600.0
    learn_s: float = 600.0
    min_area: float = 100.0


@dataclass(slots=True)
class StaticBlob:
    """A thing that stays: `box` in work pixels (x1, y1, x2, y2), `since` when it
    became static, `score` its mean structural dissimilarity (0..1), `held` while its
    case waits for a verdict."""

    id: int
    box: Box
    since: float
    score: float
    held: bool = False
    seen: float = 0.0  # when its pixels were last found static


def _half(image: NDArray[np.float32]) -> NDArray[np.float32]:
    return np.asarray(cv2.pyrDown(image), np.float32)


def _shift(
    reference: NDArray[np.float32], image: NDArray[np.float32], window: NDArray[np.float32]
) -> tuple[float, float]:
    """Translation (dx, dy) in work pixels that registers `image` onto `reference`
    (both at half resolution, with their Hanning `window`), or (0, 0)."""
    (dx, dy), response = cv2.phaseCorrelate(reference, image, window)
    dx, dy = 2.0 * dx, 2.0 * dy
    if response < 0.05 or max(abs(dx), abs(dy)) > MAX_SHIFT or max(abs(dx), abs(dy)) < 0.5:
        return 0.0, 0.0
    return float(dx), float(dy)


class SceneModel:
    """The scene of one (camera, preset) at work resolution; feed it grey samples."""

    def __init__(self, settings: SceneSettings, shape: tuple[int, int]) -> None:
        self.settings = settings
        self.shape = shape
        self.long: NDArray[np.float32] | None = None
        self.short: NDArray[np.float32] | None = None
        self.since = np.full(shape, np.nan, np.float32)
        self.last_ok = np.full(shape, -np.inf, np.float32)
        # Samples since a pixel's clock started, and those it was seen new and unblocked
        # (saturating at 65535: the share is what counts).
        self.seen_n = np.zeros(shape, np.uint16)
        self.ok_n = np.zeros(shape, np.uint16)
        self.known = np.ones(shape, bool)
        self.blobs: list[StaticBlob] = []
        self.last: NDArray[np.uint8] | None = None
        self.last_t: float | None = None
        self._next_id = 1
        self.t0: float | None = None
        self._watch = np.ones(shape, bool)
        self._window: NDArray[np.float32] | None = None
        self._long_half: NDArray[np.float32] | None = None

    def seed(self, empty: NDArray[np.uint8]) -> None:
        """Start from a saved empty scene (HxW grey at this model's shape): a restart
        or a reload does not take what stands now for the empty street."""
        self.long = empty.astype(np.float32)
        self.known[:] = True

    def reset_short(self) -> None:
        """A new visit of a PTZ preset: the recent past is unknown."""
        self.short = None

    def update(
        self, image: NDArray[np.uint8], t: float, foreground: NDArray[np.bool_]
    ) -> list[StaticBlob]:
        """One grey HxW sample at time `t` (seconds); `foreground`: HxW bool, pixels
        under the detector's boxes. Returns the blobs standing now."""
        s = self.settings
        if self.t0 is None:
            self.t0 = t
        t -= self.t0  # times are kept relative to the first sample, in float32 arrays
        g = image.astype(np.float32)
        if self.long is None:
            # What the detector boxes is not the empty scene: those pixels are learnt
            # later, once uncovered and still.
            self.long, self.short, self.last, self.last_t = g, g.copy(), image, t
            self.known = ~foreground
            return []
        valid = np.ones(self.shape, bool)
        half = _half(g)
        if self._window is None or self._long_half is None or self._window.shape != half.shape:
            window = cv2.createHanningWindow((half.shape[1], half.shape[0]), cv2.CV_32F)
            self._window = np.asarray(window, np.float32)
            self._long_half = _half(self.long)
        dx, dy = _shift(self._long_half, half, self._window)
        if dx or dy:
            m = np.array([[1, 0, -dx], [0, 1, -dy]], np.float32)
            size = (self.shape[1], self.shape[0])
            g = np.asarray(
                cv2.warpAffine(g, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
                np.float32,
            )
            valid = np.asarray(cv2.warpAffine(np.ones(self.shape, np.uint8), m, size) > 0)
            fg = cv2.warpAffine(foreground.astype(np.uint8), m, size)
            foreground = np.asarray(fg > 0)
        dt = max(0.0, t - (self.last_t if self.last_t is not None else t))
        if self.short is None:
            self.short = g.copy()
        moving = self._moving(g)
        a = min(1.0, dt / max(1e-3, s.static_s / 4.0))
        self.short += a * (g - self.short)
        current = np.clip(g, 0, 255).astype(np.uint8)
        # What the detector boxed is taken out of the comparison (filled with the empty
        # scene, the seam kept clear), so a standing person's edges never spread into
        # the pixels around them.
        cm = structure_change(
            np.clip(self.long, 0, 255).astype(np.uint8),
            current,
            valid & ~foreground,
            self._watch,
            min_area=int(s.min_area),
            min_novelty=0.0,
        )
        compared = cm.compared if cm.compared is not None else np.zeros(self.shape, bool)
        new = np.zeros(self.shape, bool)
        lost = np.zeros(self.shape, bool)
        lost_boxes: list[tuple[int, int, int, int]] = []
        for box, novelty in zip(cm.boxes, cm.novelty, strict=True):
            x1, y1, x2, y2 = (int(v) for v in box)
            part = (new if novelty >= MIN_NOVELTY else lost)[y1:y2, x1:x2]
            part |= cm.mask[y1:y2, x1:x2]
            if novelty < MIN_NOVELTY:
                lost_boxes.append((x1, y1, x2, y2))
        blocked = moving | ~compared
        learn = ~self.known & ~blocked & ~foreground
        self.long[learn] = g[learn]
        self.known |= learn
        new &= self.known
        lost &= self.known
        changed = new | lost
        ok = changed & ~blocked
        # A pixel's clock starts when it is new and unblocked; it survives being blocked
        # (people walking in front of a stall, a vendor standing at it) for `grace`,
        # but it must have been seen unblocked in most samples since it started.
        grace = max(self.settings.static_s / 2.0, 2.0 * dt)
        started = ~np.isnan(self.since)
        np.add(self.seen_n, 1, out=self.seen_n, where=(started | ok) & (self.seen_n < _COUNT_MAX))
        np.add(self.ok_n, 1, out=self.ok_n, where=ok & (self.ok_n < _COUNT_MAX))
        self.since[ok & ~started] = t
        self.last_ok[ok] = t
        reset = (~changed & ~blocked) | (t - self.last_ok > grace)
        self.since[reset] = np.nan
        self.seen_n[reset] = 0
        self.ok_n[reset] = 0
        age = np.where(np.isnan(self.since), -1.0, t - self.since)
        # People walking in front of a static thing do not cut it: its pixels keep their
        # clock (above), so it stays static under them.
        static = (age >= s.static_s - 1e-6) & (self.ok_n >= OK_SHARE * self.seen_n)
        for x1, y1, x2, y2 in lost_boxes:
            sub = lost[y1:y2, x1:x2]
            if int((static[y1:y2, x1:x2] & sub).sum()) * 2 >= int(sub.sum()):
                # What left has stayed gone: the empty scene takes the place as it is
                # now, with the margin the comparison's footprint spreads over.
                self._learn_region(g, (x1 - _HEAL_PX, y1 - _HEAL_PX, x2 + _HEAL_PX, y2 + _HEAL_PX))
        quiet = ~(new | lost) & ~blocked
        b = min(1.0, dt / max(1e-3, s.learn_s))
        self.long[quiet] += b * (g[quiet] - self.long[quiet])
        self._blobs(static & new, t, g, blocked)
        self._long_half = None  # the long model changed: its half is made again
        self.last, self.last_t = current, t
        return list(self.blobs)

    def _learn_region(self, g: NDArray[Any], box: tuple[int, int, int, int]) -> None:
        assert self.long is not None
        h, w = self.shape
        x1, y1, x2, y2 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
        region = (slice(y1, y2), slice(x1, x2))
        self.long[region] = g[region]
        self.since[region] = np.nan
        self.seen_n[region] = 0
        self.ok_n[region] = 0

    def _moving(self, g: NDArray[np.float32]) -> NDArray[np.bool_]:
        assert self.short is not None
        diff = cv2.GaussianBlur(np.abs(g - self.short), (0, 0), 1.5)
        moving = (diff > MOVING_LEVELS).astype(np.uint8)
        return np.asarray(cv2.dilate(moving, np.ones((5, 5), np.uint8)) > 0)

    def _blobs(
        self,
        static: NDArray[np.bool_],
        t: float,
        g: NDArray[np.float32],
        blocked: NDArray[np.bool_],
    ) -> None:
        """Components of the static pixels, matched to the standing blobs by overlap.

        A blob keeps its box while what is found of it shrinks (someone stands in
        front of it) and stands for `_GRACE_S` after it was last found, so its track
        and its dwell carry on; blobs that made no case within `absorb_s` are
        absorbed."""
        s = self.settings
        found: list[tuple[Box, float]] = []
        if static.any():
            closed = cv2.morphologyEx(
                static.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)
            )
            n, labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
            assert self.long is not None
            diff = np.asarray(cv2.GaussianBlur(np.abs(g - self.long), (0, 0), 1.0), np.float32)
            for i in range(1, n):
                if stats[i, cv2.CC_STAT_AREA] < s.min_area:
                    continue
                x, y = int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP])
                w, h = int(stats[i, cv2.CC_STAT_WIDTH]), int(stats[i, cv2.CC_STAT_HEIGHT])
                sub = labels == i
                found.append((_tight_box(sub, diff, (x, y, x + w, y + h)), _score(sub, diff)))
        keep: list[StaticBlob] = []
        used: set[int] = set()
        for box, score in found:
            best, best_fit = None, _MATCH_IOU
            for j, blob in enumerate(self.blobs):
                fit = max(box_iou(box, blob.box), _covered(box, blob.box))
                if j not in used and fit > best_fit:
                    best, best_fit = j, fit
            if best is None:
                blob = StaticBlob(self._next_id, box, t, score)
                self._next_id += 1
            else:
                used.add(best)
                blob = self.blobs[best]
                if _area(box) >= _KEEP_AREA * _area(blob.box) or not _hidden(blob.box, blocked):
                    blob.box = box  # else: partly hidden, the box it had stands
            blob.seen = t
            if not blob.held and t - blob.since >= s.absorb_s:
                self._absorb_box(blob.box)
                continue
            keep.append(blob)
        for j, blob in enumerate(self.blobs):
            if j in used or t - blob.seen > _GRACE_S:
                continue
            if any(_covered(blob.box, k.box) > 0.5 for k in keep):
                continue  # found again as another blob: one thing, one blob
            keep.append(blob)  # hidden for now
        self.blobs = keep[:_MAX_BLOBS]

    def _absorb_box(self, box: Box) -> None:
        """The empty scene takes the latest picture over a blob's box (with margin)."""
        if self.last is None:
            return
        m = _HEAL_PX
        x1, y1, x2, y2 = (int(v) for v in box)
        self._learn_region(self.last, (x1 - m, y1 - m, x2 + m, y2 + m))

    def absorb(self, box: Box) -> int:
        """An operator judged the case over `box` (work pixels): the blobs it covers
        become part of the empty scene. Returns how many."""
        gone = [b for b in self.blobs if _overlaps(box, b.box)]
        for blob in gone:
            self._absorb_box(blob.box)
        self.blobs = [b for b in self.blobs if b not in gone]
        return len(gone)

    def hold(self, box: Box) -> int:
        """A case was made over `box` (work pixels): its blobs wait for the verdict."""
        held = [b for b in self.blobs if _overlaps(box, b.box)]
        for blob in held:
            blob.held = True
        return len(held)


def _score(sub: NDArray[np.bool_], diff: NDArray[np.float32]) -> float:
    """Confidence 0.5..1 of a blob from how far its grey differs from the empty scene."""
    return float(min(1.0, 0.5 + float(diff[sub].mean()) / 100.0))


def _tight_box(
    sub: NDArray[np.bool_], diff: NDArray[np.float32], box: tuple[int, int, int, int]
) -> Box:
    """The component's box trimmed to where it differs most from the empty scene: the
    structure comparison's window spreads a few pixels beyond an object's edges."""
    x1, y1, x2, y2 = box
    d = diff[y1:y2, x1:x2]
    m = sub[y1:y2, x1:x2]
    strong = m & (d > max(TIGHT_LEVELS, 0.35 * float(np.percentile(d[m], 95))))
    if int(strong.sum()) < 0.2 * int(m.sum()):
        return (float(x1), float(y1), float(x2), float(y2))
    ys, xs = np.nonzero(strong)
    return (
        float(x1 + xs.min()),
        float(y1 + ys.min()),
        float(x1 + xs.max() + 1),
        float(y1 + ys.max() + 1),
    )


def _area(b: Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def _covered(a: Box, b: Box) -> float:
    """Share of the smaller of two boxes that the other covers."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / max(1e-6, min(_area(a), _area(b)))


def _hidden(box: Box, blocked: NDArray[np.bool_]) -> bool:
    """Whether something moving (or boxed by the detector) covers a good part of `box`."""
    x1, y1, x2, y2 = (int(v) for v in box)
    part = blocked[max(0, y1) : y2, max(0, x1) : x2]
    return part.size > 0 and float(part.mean()) >= 0.2


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
