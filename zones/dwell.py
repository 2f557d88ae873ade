"""Per-object state of a zone policy: inertia at the edge, stationarity, dwell.

Dwell counts while an object's ground point stays within a radius (relative to its box
height) of where it stopped. A track that breaks and restarts on the same spot inherits
the stationary state of the lost one ("place memory"), so an id switch of a parked van
neither restarts its dwell nor produces a second case. The new track must first stand
still on that spot for `confirm_s` itself: a pedestrian walking over the spot where
someone stood a minute ago does not inherit that person's dwell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lookout.base.geometry import box_iou


@dataclass(slots=True)
class ObjectState:
    """What a policy remembers about one tracked object.

    Times are seconds on the frame's monotonic axis (`Frame.monotonic_s`: footage
    time in replay, the monotonic clock live), so dwell is measured in real seconds
    whatever the analysis rate, and a wall-clock jump does not change it.
    """

    track_id: int
    inside_streak: int = 0
    anchor: tuple[float, float] | None = None
    anchor_height: float = 0.0
    stationary_since: float | None = None
    last_seen: float = 0.0
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    confidences: list[float] = field(default_factory=list)
    fired: bool = False
    observations: int = 0
    #: A lost stop on the same spot this track may take over once it stands still.
    candidate: ObjectState | None = None

    def observe(
        self,
        t: float,
        point: tuple[float, float],
        bbox: tuple[float, float, float, float],
        confidence: float,
        inside: bool,
        radius_frac: float,
        born: float | None = None,
    ) -> None:
        """Update with one observation at time `t` (seconds). `born`: when the tracker
        first detected the object; the first stop of a new track starts there."""
        first = self.observations == 0
        self.observations += 1
        self.last_seen = t
        self.bbox = bbox
        self.inside_streak = self.inside_streak + 1 if inside else 0
        height = max(1.0, bbox[3] - bbox[1])
        if not inside:
            self.anchor = None
            self.stationary_since = None
            self.confidences.clear()
            return
        self.confidences.append(confidence)
        del self.confidences[:-50]
        if self.anchor is None:
            start = t
            if first and born is not None and born == born and born < t:  # (not NaN)
                start = born
            self._restart(start, point, height)
            return
        dist = float(np.hypot(point[0] - self.anchor[0], point[1] - self.anchor[1]))
        if dist > radius_frac * max(height, self.anchor_height):
            # Moved away: this is a new stop (or the object is driving through).
            self._restart(t, point, height)

    def _restart(self, t: float, point: tuple[float, float], height: float) -> None:
        self.anchor = point
        self.anchor_height = height
        self.stationary_since = t
        self.fired = False

    def dwell(self, t: float) -> float:
        """Seconds stationary so far (0 when moving or outside)."""
        if self.stationary_since is None:
            return 0.0
        return t - self.stationary_since

    def inherit(self, lost: ObjectState) -> None:
        """Take over the stop of a lost track on the same spot."""
        self.anchor = lost.anchor
        self.anchor_height = lost.anchor_height
        self.stationary_since = lost.stationary_since
        self.fired = lost.fired
        self.confidences = list(lost.confidences)


class DwellBook:
    """All object states of one (zone, policy), with a memory of recently lost stops."""

    def __init__(
        self,
        *,
        forget_after_s: float,
        place_memory_s: float,
        place_iou: float,
        confirm_s: float = 2.0,
    ) -> None:
        self.forget_after_s = forget_after_s
        self.place_memory_s = place_memory_s
        self.place_iou = place_iou
        self.confirm_s = confirm_s
        self.states: dict[int, ObjectState] = {}
        self._lost: list[ObjectState] = []

    def get(self, track_id: int, bbox: tuple[float, float, float, float]) -> ObjectState:
        """The state of `track_id`, created if new (with a lost stop as candidate)."""
        state = self.states.get(track_id)
        if state is None:
            state = ObjectState(track_id=track_id)
            best, best_iou = None, self.place_iou
            for lost in self._lost:
                iou = box_iou(lost.bbox, bbox)
                if iou >= best_iou:
                    best, best_iou = lost, iou
            state.candidate = best
            self.states[track_id] = state
        return state

    def settle(self, state: ObjectState, t: float, radius_frac: float) -> None:
        """After `observe`: take over the candidate lost stop once this track has stood
        still for `confirm_s` within the stop's radius; drop the candidate if it moved."""
        lost = state.candidate
        if lost is None:
            return
        if state.anchor is None or lost.anchor is None or lost not in self._lost:
            state.candidate = None
            return
        if state.dwell(t) < self.confirm_s:
            return
        dist = float(np.hypot(state.anchor[0] - lost.anchor[0], state.anchor[1] - lost.anchor[1]))
        if dist <= radius_frac * max(state.anchor_height, lost.anchor_height):
            state.inherit(lost)
            self._lost.remove(lost)
        state.candidate = None

    def expire(self, t: float) -> None:
        """Move tracks unseen for `forget_after_s` to the place memory; drop old memory."""
        for tid in [k for k, s in self.states.items() if t - s.last_seen > self.forget_after_s]:
            state = self.states.pop(tid)
            if state.stationary_since is not None:
                self._lost.append(state)
        self._lost = [s for s in self._lost if t - s.last_seen <= self.place_memory_s]
