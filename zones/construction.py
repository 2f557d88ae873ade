"""Illegal construction (违法建设 / 私搭乱建): new, persistent structure in a watched area.

One `ConstructionWatch` per (camera, preset, zone) holds a reference view. Each visit
of the preset is registered onto the reference (`zones.alignment.align`) and compared
by STRUCTURE, not colour: local gradient fields of high-passed grey are compared with
a polarity-invariant, gain-invariant similarity (the structure term of SSIM applied to
gradient vectors), so global brightness, contrast, gamma and soft shadows do not
count, while a new shed's edges and ribs do. Saturated pixels carry no structure and
are ignored. A change becomes an event only when it persists: the same place (box IoU
> 0.3) changed on at least K visits spanning at least D hours, and still changed on
the latest visit. Each persistent change fires once; `rebase` adopts the current view
as the new reference after an operator rejects or closes a case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.base.geometry import box_iou
from lookout.zones.alignment import align

Box = tuple[float, float, float, float]

_SCALE = 0.5  # structure is compared at half resolution
_WINDOW = 5  # local window (half-res px) of the structure similarity
_C = 4.0  # regularisation ((grey levels / px)^2): flat-vs-flat is "same"
_MATCH_IOU = 0.3
_MAX_CANDIDATES = 64
_MAX_VISITS = 1000  # visit log kept per watch


@dataclass(frozen=True, slots=True)
class ChangeMap:
    """Structural change inside a watch mask.

    Attributes:
        mask: HxW bool, changed pixels (kept components only, inside the watch mask).
        fraction: changed pixels / watch-mask pixels, in [0, 1].
        boxes: xyxy boxes (float, full-resolution px) of the kept components.
        score: mean structural dissimilarity (0..1) over the changed pixels (0 if none).
        novelty: per box, the share of its gradient-energy change that is gained (1: new
            structure only, 0: structure lost only, as where an object left).
        compared: HxW bool, the pixels the comparison could judge (the watch area
            within `valid`, kept clear of the seam), or None when nothing was compared.
    """

    mask: NDArray[np.bool_]
    fraction: float
    boxes: list[Box]
    score: float
    novelty: tuple[float, ...] = ()
    compared: NDArray[np.bool_] | None = None


def grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """HxW grey of an HxWx3 BGR image; an HxW image (a luma plane) as it is."""
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


def _gradients(grey: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Gradients (levels/px) of a high-passed HxW float32 grey image."""
    g = cv2.GaussianBlur(grey, (0, 0), 1.0)
    hp = g - cv2.GaussianBlur(g, (0, 0), 6.0)  # removes offsets and smooth shading
    gx = cv2.Sobel(hp, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(hp, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    return np.asarray(gx, np.float32), np.asarray(gy, np.float32)


def structure_change(
    reference: NDArray[np.uint8],
    aligned: NDArray[np.uint8],
    valid: NDArray[np.bool_],
    mask: NDArray[np.bool_],
    *,
    min_area: int = 100,
    threshold: float = 0.5,
    min_novelty: float = 0.15,
) -> ChangeMap:
    """Structural change map between the reference and the aligned current view.

    Args:
        reference: HxWx3 uint8 BGR reference view (or HxW grey: the comparison is on
            grey only, so the scene model of docs/DETECTION.md passes luma).
        aligned: the current view already warped into the reference frame, same form.
        valid: HxW bool, pixels of ``aligned`` that are real (from `Alignment.valid`).
        mask: HxW bool watch area.
        min_area: smallest kept component, full-resolution pixels.
        threshold: dissimilarity (0..1) above which a pixel counts as changed.
        min_novelty: a component must gain structure, not only lose it: the share of
            its gradient-energy change that is gained must reach this (a person in the
            reference who has left is not a construction).
    """
    h, w = mask.shape
    watch = mask & valid
    area = int(mask.sum())
    empty = ChangeMap(np.zeros((h, w), bool), 0.0, [], 0.0)
    if area == 0 or not watch.any():
        return empty
    filled = np.where(valid, grey(aligned), grey(reference)).astype(np.uint8)
    size = (max(1, round(w * _SCALE)), max(1, round(h * _SCALE)))
    g1 = np.asarray(cv2.resize(grey(reference), size, interpolation=cv2.INTER_AREA))
    g2 = np.asarray(cv2.resize(filled, size, interpolation=cv2.INTER_AREA))
    x1, y1 = _gradients(g1.astype(np.float32))
    x2, y2 = _gradients(g2.astype(np.float32))
    k = (_WINDOW, _WINDOW)
    e11 = cv2.blur(x1 * x1 + y1 * y1, k)
    e22 = cv2.blur(x2 * x2 + y2 * y2, k)
    e12 = cv2.blur(x1 * x2 + y1 * y2, k)
    dissim = np.clip(1.0 - (2.0 * np.abs(e12) + _C) / (e11 + e22 + _C), 0.0, 1.0)
    clipped = (g1 >= 250) | (g2 >= 250) | (g1 <= 2) | (g2 <= 2)
    clipped = cv2.dilate(clipped.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    small_valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    # The seam where `filled` switches to reference pixels is an artificial edge: keep
    # the comparison footprint (window + blur) away from it.
    seam = 2 * (_WINDOW // 2 + 3) + 1
    small_valid = cv2.erode(small_valid, np.ones((seam, seam), np.uint8))
    small_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    small_watch = (small_valid > 0) & (small_mask > 0)
    raw = ((dissim > threshold) & small_watch & ~clipped).astype(np.uint8)
    ell = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    opened = cv2.morphologyEx(raw, cv2.MORPH_OPEN, ell)
    closed = cv2.morphologyEx(
        opened, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    )
    eroded = cv2.erode(closed, ell)  # undo the spread of the comparison window
    changed = (np.asarray(eroded) > 0) & small_watch
    if changed.any():
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            changed.astype(np.uint8), connectivity=8
        )
    else:  # nothing changed (most surveys, most scene-model samples): no labelling
        n, labels, stats = 1, np.zeros(changed.shape, np.int32), np.zeros((1, 5), np.int32)
    keep = np.zeros(n, dtype=bool)
    scale = 1.0 / _SCALE
    gain = np.maximum(e22 - e11, 0.0)
    loss = np.maximum(e11 - e22, 0.0)
    boxes: list[Box] = []
    novelty: list[float] = []
    for i in range(1, n):
        if stats[i, cv2.CC_STAT_AREA] * scale * scale < min_area:
            continue
        comp = labels == i
        gained, lost = float(gain[comp].sum()), float(loss[comp].sum())
        share = gained / (gained + lost + 1e-6)
        if share < min_novelty:
            continue
        keep[i] = True
        novelty.append(round(share, 3))
        x, y = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        bw, bh = stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]
        boxes.append(
            (
                float(x * scale),
                float(y * scale),
                float(min(w, (x + bw) * scale)),
                float(min(h, (y + bh) * scale)),
            )
        )
    compared = cv2.resize(small_watch.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    if not boxes:
        return ChangeMap(empty.mask, 0.0, [], 0.0, (), np.asarray(compared > 0))
    kept = keep[labels]
    full = cv2.resize(kept.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    full &= watch
    score = float(dissim[kept].mean())
    return ChangeMap(
        np.asarray(full),
        float(full.sum()) / area,
        boxes,
        score,
        tuple(novelty),
        np.asarray(compared > 0),
    )


def blue_roof_fraction(image: NDArray[np.uint8], mask: NDArray[np.bool_]) -> float:
    """Fraction of ``mask`` (HxW bool) whose colour in ``image`` (HxWx3 uint8 BGR) is
    colour-steel blue (彩钢瓦): hue 190-250 degrees, saturated, not too dark. Uses hue and
    saturation only (plus a low brightness floor), so it holds across the day."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    hue, sat, val = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    blue = (hue >= 95) & (hue <= 125) & (sat >= 70) & (val >= 40)
    return float((blue & mask).sum()) / area


@dataclass(slots=True)
class ConstructionSettings:
    """Persistence policy of a construction watch.

    Attributes:
        min_area_fraction: smallest change component, as a fraction of the watch area.
        min_visits: K, visits on which the change must be seen.
        min_span_h: D, hours between the first and the latest visit showing it.
        blue_bonus: confidence added for a change that is colour-steel blue.
        max_gap_h: forget a candidate not seen for this many hours (None: never).
    """

    min_area_fraction: float = 0.01
    min_visits: int = 3
    min_span_h: float = 48.0
    blue_bonus: float = 0.2
    max_gap_h: float | None = None


@dataclass(frozen=True, slots=True)
class ConstructionVisit:
    """What one visit of the preset showed.

    ``aligned=False``: registration failed and nothing was compared. ``fraction`` is the
    changed share of the watch area; ``blue_fraction`` the colour-steel-blue share of
    the changed pixels (0 when nothing changed).
    """

    at: datetime
    aligned: bool
    changed: bool
    boxes: list[Box]
    fraction: float
    blue_fraction: float


@dataclass(frozen=True, slots=True)
class ConstructionEvent:
    """A confirmed persistent change, with its before/after evidence pair.

    ``bbox`` is xyxy in reference-frame pixels (the zone polygon's frame); ``before``
    and ``after`` are BGR uint8 crops around it from the reference and from the current
    view registered onto the reference, so they correspond pixel for pixel.
    """

    bbox: Box
    first_seen: datetime
    confirmed_at: datetime
    visits: int
    fraction: float
    blue_fraction: float
    confidence: float
    before: NDArray[np.uint8]
    after: NDArray[np.uint8]


@dataclass(slots=True)
class _Candidate:
    box: Box
    first_seen: datetime
    last_seen: datetime
    hits: int = 1
    visits_since: int = 1
    fraction: float = 0.0
    blue: float = 0.0
    fired: bool = False


@dataclass(slots=True)
class _Observed:
    box: Box
    fraction: float
    blue: float


def _crop(image: NDArray[np.uint8], box: Box, margin: float = 0.2) -> NDArray[np.uint8]:
    """Copy of ``image`` around ``box`` grown by ``margin`` of its size (>= 16 px)."""
    h, w = image.shape[:2]
    mx = max(16.0, (box[2] - box[0]) * margin)
    my = max(16.0, (box[3] - box[1]) * margin)
    x1, y1 = max(0, int(box[0] - mx)), max(0, int(box[1] - my))
    x2, y2 = min(w, int(box[2] + mx + 0.5)), min(h, int(box[3] + my + 0.5))
    return image[y1:y2, x1:x2].copy()


@dataclass
class ConstructionWatch:
    """Persistent-change watch of one zone of one (camera, preset).

    Args:
        settings: persistence policy.
        polygon: zone polygon, (x, y) reference-image pixels.
        reference: HxWx3 uint8 BGR reference view.
        reference_time: when the reference was taken.
    """

    settings: ConstructionSettings
    polygon: list[tuple[float, float]]
    reference: NDArray[np.uint8]
    reference_time: datetime
    visits: list[ConstructionVisit] = field(default_factory=list, init=False)
    _candidates: list[_Candidate] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        h, w = self.reference.shape[:2]
        zone = np.zeros((h, w), np.uint8)
        pts = np.round(np.asarray(self.polygon, np.float64)).astype(np.int32)
        cv2.fillPoly(zone, [pts.reshape(-1, 1, 2)], 1)
        self.mask: NDArray[np.bool_] = zone > 0
        self.min_area = max(16, int(self.settings.min_area_fraction * self.mask.sum()))

    def observe(self, image: NDArray[np.uint8], captured_at: datetime) -> ConstructionEvent | None:
        """Analyse one visit (HxWx3 uint8 BGR) and return an event when a change is confirmed."""
        al = align(self.reference, image)
        if not al.ok:
            self.visits.append(ConstructionVisit(captured_at, False, False, [], 0.0, 0.0))
            return None
        cm = structure_change(
            self.reference, al.warped, al.valid, self.mask, min_area=self.min_area
        )
        area = max(1, int(self.mask.sum()))
        seen: list[_Observed] = []
        for box in cm.boxes:
            x1, y1, x2, y2 = (int(v) for v in box)
            sub = cm.mask[y1:y2, x1:x2]
            blue = blue_roof_fraction(al.warped[y1:y2, x1:x2], sub)
            seen.append(_Observed(box, float(sub.sum()) / area, blue))
        blue_all = blue_roof_fraction(al.warped, cm.mask)
        self.visits.append(
            ConstructionVisit(captured_at, True, bool(cm.boxes), cm.boxes, cm.fraction, blue_all)
        )
        del self.visits[:-_MAX_VISITS]
        due = self._update(seen, captured_at)
        if not due:
            return None
        best = max(due, key=self._confidence)
        best.fired = True
        return ConstructionEvent(
            bbox=best.box,
            first_seen=best.first_seen,
            confirmed_at=captured_at,
            visits=best.hits,
            fraction=best.fraction,
            blue_fraction=best.blue,
            confidence=self._confidence(best),
            before=_crop(self.reference, best.box),
            after=_crop(al.warped, best.box),
        )

    def rebase(self, image: NDArray[np.uint8], at: datetime) -> None:
        """Adopt the current view (HxWx3 uint8 BGR) as the reference and forget candidates.

        The view is registered onto the old reference first (uncovered pixels keep the
        old reference), so the zone polygon stays in place.
        """
        al = align(self.reference, image)
        if al.ok:
            self.reference = np.where(al.valid[..., None], al.warped, self.reference).astype(
                np.uint8
            )
        else:
            self.reference = image.copy()
        self.reference_time = at
        self._candidates.clear()

    def _confidence(self, c: _Candidate) -> float:
        """Confidence 0..1 from size, consistency over visits and the blue bonus."""
        s = self.settings
        size = min(1.0, c.fraction / max(1e-6, 5.0 * s.min_area_fraction))
        consistency = c.hits / max(1, c.visits_since)
        value = 0.3 + 0.25 * size + 0.25 * consistency + s.blue_bonus * min(1.0, c.blue / 0.5)
        return float(min(1.0, max(0.0, value)))

    def _update(self, seen: list[_Observed], at: datetime) -> list[_Candidate]:
        """Match this visit's changes to candidates; return those now due to fire."""
        s = self.settings
        for c in self._candidates:
            c.visits_since += 1
        pairs = sorted(
            (
                (box_iou(o.box, c.box), i, j)
                for i, o in enumerate(seen)
                for j, c in enumerate(self._candidates)
            ),
            reverse=True,
        )
        used_o: set[int] = set()
        used_c: set[int] = set()
        matched: list[_Candidate] = []
        for iou, i, j in pairs:
            if iou <= _MATCH_IOU or i in used_o or j in used_c:
                continue
            used_o.add(i)
            used_c.add(j)
            c, o = self._candidates[j], seen[i]
            c.box, c.fraction, c.blue, c.last_seen = o.box, o.fraction, o.blue, at
            c.hits += 1
            matched.append(c)
        for i, o in enumerate(seen):
            if i not in used_o:
                self._candidates.append(_Candidate(o.box, at, at, fraction=o.fraction, blue=o.blue))
        self._prune(at)
        return [
            c
            for c in matched
            if not c.fired
            and c.hits >= s.min_visits
            and (at - c.first_seen).total_seconds() >= s.min_span_h * 3600.0
        ]

    def _prune(self, at: datetime) -> None:
        """Forget stale, inconsistent or surplus candidates."""
        s = self.settings
        keep: list[_Candidate] = []
        for c in self._candidates:
            gap_h = (at - c.last_seen).total_seconds() / 3600.0
            if s.max_gap_h is not None and gap_h > s.max_gap_h:
                continue
            if not c.fired and c.visits_since >= 2 * s.min_visits and c.hits * 2 < c.visits_since:
                continue
            keep.append(c)
        keep.sort(key=lambda c: (c.fired, c.last_seen), reverse=True)
        self._candidates[:] = keep[:_MAX_CANDIDATES]
