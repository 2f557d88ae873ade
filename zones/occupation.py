"""`occupation` (占道堆物 / 乱堆物料): something left on the street with nobody beside it.

The watched objects are by default the `static_object` class, what a camera's scene
model finds staying without a class name (zones/stationary.py, docs/DETECTION.md); a
custom model's own classes (goods, building materials) may be named too. An object
counts like a parked vehicle (zones/dwell.py): its ground point stays within
`stationary_radius` box heights in the zone for `dwell_s`. While a person stands
(still for `SETTLE_S`; people walking past do not count) within `attended_radius`
of their own heights of it, it is attended — a vendor's stall
(`street_vendor`) rather than goods left behind — and its clock starts again when the
person leaves. One event per stop; the case manager merges repeats at the same place.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.dwell import watched_in_zone
from lookout.zones.events import (
    ObjectRule,
    RuleContext,
    ViolationEvent,
    dwell_book,
    in_allowed_window,
    make_event,
    register,
)
from lookout.zones.policies import OccupationPolicy

Box = tuple[float, float, float, float]

#: Seconds a person must stand still to attend an object (the vendor rule's settle_s).
SETTLE_S = 3.0
#: A standing person unseen this long no longer attends anything.
_FORGET_S = 15.0


class Standing:
    """Which tracked people stand still: ground point within `radius` × their box
    height of where they stopped, for `SETTLE_S`. A person who stood is remembered for
    `_FORGET_S` after the detector last saw them (a vendor the detector misses for a
    few frames still attends the stall)."""

    def __init__(self, radius: float) -> None:
        self.radius = radius
        # id -> x, y, since, seen, height
        self._tracks: dict[int, tuple[float, float, float, float, float]] = {}

    def update(self, t: float, people: Detections) -> np.ndarray:
        """Ground point and box height (N, 3) of the people standing now (or lately)."""
        points = people.bottom_center()
        heights = people.heights
        for i in range(len(people)):
            tid = int(people.tracker_id[i])
            x, y = float(points[i, 0]), float(points[i, 1])
            old = self._tracks.get(tid)
            h = float(heights[i])
            if old is None or np.hypot(x - old[0], y - old[1]) > self.radius * h:
                old = (x, y, t, t, h)
            self._tracks[tid] = (old[0], old[1], old[2], t, h)
        for tid in [k for k, v in self._tracks.items() if t - v[3] > _FORGET_S]:
            del self._tracks[tid]
        tracks = self._tracks.values()
        out = [(x, y, h) for x, y, since, seen, h in tracks if seen - since >= SETTLE_S]
        return np.asarray(out, np.float64).reshape(-1, 3)


def attended(box: Box, people: np.ndarray, radius: float) -> bool:
    """Whether any person (`people`: (N, 3) ground point x, y and box height) stands
    within `radius` × their own height of the box (0 inside it): a person's height is
    the scale of a stall, whatever the shape of the goods' box."""
    if len(people) == 0:
        return False
    dx = np.maximum(np.maximum(box[0] - people[:, 0], 0.0), people[:, 0] - box[2])
    dy = np.maximum(np.maximum(box[1] - people[:, 1], 0.0), people[:, 1] - box[3])
    return bool((np.hypot(dx, dy) <= radius * np.maximum(1.0, people[:, 2])).any())


@register("occupation")
class OccupationRule(ObjectRule):
    """One `occupation` policy of one zone (see the module docstring)."""

    def __init__(self, policy: OccupationPolicy, ctx: RuleContext) -> None:
        super().__init__(policy.classes, ctx)
        self.policy = policy
        self.person_ids = ctx.class_ids(policy.person_classes, f"{ctx.where}.person_classes")
        self.standing = Standing(policy.stationary_radius)
        self.book = dwell_book(ctx)

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
    ) -> list[ViolationEvent]:
        w = watched_in_zone(dets, self.class_ids, self.policy.min_confidence, self.polygon)
        ok = (dets.confidence >= self.policy.min_confidence) & (dets.tracker_id >= 0)
        people = self.standing.update(t, dets[ok & np.isin(dets.class_id, self.person_ids)])
        allowed = in_allowed_window(self.policy.allowed, frame, self.tz)
        self.book.wall_offset = frame.captured_at.timestamp() - t
        events: list[ViolationEvent] = []
        states = self.book.observe_all(t, w, self.policy.stationary_radius, born)
        for i, state in enumerate(states):
            box = state.bbox
            if attended(box, people, self.policy.attended_radius):
                if state.stationary_since is not None:
                    state.stationary_since = t  # a stall while its vendor is there
                continue
            dwell = state.due(t, self.policy.dwell_s, self.zone.inertia_frames)
            if dwell is None or allowed:
                continue
            state.fired = True
            conf = float(np.median(state.confidences)) if state.confidences else 0.0
            events.append(
                make_event(
                    frame,
                    self.zone,
                    self.policy.type,
                    track_id=state.track_id,
                    class_name=self.class_names[int(w.dets.class_id[i])],
                    bbox=box,
                    confidence=conf,
                    dwell_s=dwell,
                )
            )
        self.book.expire(t)
        return events
