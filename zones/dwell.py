"""Per-object state of a zone policy: inertia at the edge, stationarity, dwell.

Dwell counts while an object's ground point stays within a radius (relative to its box
height) of where it stopped. A track that breaks and restarts on the same spot inherits
the stationary state of the lost one ("place memory"), so an id switch of a parked van
neither restarts its dwell nor produces a second case. The new track must first stand
still on that spot for `confirm_s` itself: a pedestrian walking over the spot where
someone stood a minute ago does not inherit that person's dwell.

With several boxes (lookout/fleet/state.py) a `StopShare` carries stops across a
camera's move: a stop that has stood `confirm_s` is published (and again every
`SHARE_EVERY_S` while it lasts), and a new stop first asks whether another box saw
one on the same spot, whose start it then takes, so the dwell resumes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import shapely
from shapely.geometry import Polygon

from lookout.base.geometry import box_iou
from lookout.detector.detections import Detections

#: Live frame times are arrival times, which jitter by tens of milliseconds: a dwell
#: this much short of the threshold counts, so a 20 s dwell analysed at 1 frame/s
#: fires on the 20th second, not one frame later (docs/ARCHITECTURE.md, "Time").
DWELL_JITTER_S = 0.1


@dataclass(frozen=True, slots=True)
class Watched:
    """A policy's tracked detections in one frame (`dets`), their ground points
    (bottom-centres, (N, 2)) and whether each lies in the zone (`inside`, (N,))."""

    dets: Detections
    points: np.ndarray
    inside: np.ndarray


def watched_in_zone(
    dets: Detections, class_ids: np.ndarray, min_confidence: float, polygon: Polygon
) -> Watched:
    """The tracked detections of `class_ids` scoring at least `min_confidence`, placed
    against the zone's (prepared) `polygon`."""
    mask = (
        np.isin(dets.class_id, class_ids)
        & (dets.confidence >= min_confidence)
        & (dets.tracker_id >= 0)
    )
    watched = dets[mask]
    points = watched.bottom_center()
    return Watched(watched, points, shapely.contains_xy(polygon, points[:, 0], points[:, 1]))


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
    #: When this stop was last published to the `StopShare` (t axis; None: not yet).
    shared_at: float | None = None

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
        self.shared_at = None

    def dwell(self, t: float) -> float:
        """Seconds stationary so far (0 when moving or outside)."""
        if self.stationary_since is None:
            return 0.0
        return t - self.stationary_since

    def due(self, t: float, dwell_s: float, inertia_frames: int) -> float | None:
        """The dwell when this stop is due to fire now (not fired yet, inside for
        `inertia_frames`, stationary for `dwell_s`), else None."""
        if self.fired or self.inside_streak < inertia_frames or self.stationary_since is None:
            return None
        dwell = self.dwell(t)
        return dwell if dwell >= dwell_s - DWELL_JITTER_S else None

    def inherit(self, lost: ObjectState) -> None:
        """Take over the stop of a lost track on the same spot."""
        self.anchor = lost.anchor
        self.anchor_height = lost.anchor_height
        self.stationary_since = lost.stationary_since
        self.fired = lost.fired
        self.confidences = list(lost.confidences)


#: How often a lasting stop is published again (keeps it alive in the share).
SHARE_EVERY_S = 10.0


class StopShare(Protocol):
    """Stops of one (camera, zone, policy) shared between boxes. Times are wall-clock
    epoch seconds; points and heights are pixels of the camera's picture."""

    def publish(
        self, anchor: tuple[float, float], height: float, since: float, now: float
    ) -> None: ...

    def resume(
        self, anchor: tuple[float, float], height: float, since: float, now: float
    ) -> float | None:
        """The start (epoch s) of a stop seen on this spot before `since`, if any."""
        ...


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
        #: Several boxes: stops shared with the other boxes (None: this box only), and
        #: wall-clock seconds minus the t axis for the frame being analysed.
        self.shared: StopShare | None = None
        self.wall_offset = 0.0

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

    def observe_all(
        self, t: float, w: Watched, radius_frac: float, born: Mapping[int, float]
    ) -> list[ObjectState]:
        """Observe every watched detection (in order) and settle it; their states."""
        states = []
        for i in range(len(w.dets)):
            x1, y1, x2, y2 = (float(v) for v in w.dets.xyxy[i])
            box = (x1, y1, x2, y2)
            tid = int(w.dets.tracker_id[i])
            state = self.get(tid, box)
            state.observe(
                t,
                (float(w.points[i, 0]), float(w.points[i, 1])),
                box,
                float(w.dets.confidence[i]),
                bool(w.inside[i]),
                radius_frac,
                born=born.get(tid),
            )
            self.settle(state, t, radius_frac)
            states.append(state)
        return states

    def settle(self, state: ObjectState, t: float, radius_frac: float) -> None:
        """After `observe`: take over the candidate lost stop once this track has stood
        still for `confirm_s` within the stop's radius; drop the candidate if it moved.
        Then share the stop (see the module docstring)."""
        self._settle_lost(state, t, radius_frac)
        if self.shared is not None:
            self._share(state, t, self.shared)

    def _share(self, state: ObjectState, t: float, shared: StopShare) -> None:
        if state.anchor is None or state.stationary_since is None:
            return
        if state.dwell(t) < self.confirm_s or state.candidate is not None:
            return
        if state.shared_at is not None and t - state.shared_at < SHARE_EVERY_S:
            return
        wall = t + self.wall_offset
        if state.shared_at is None:  # a new stop: did another box see it start earlier?
            own = state.stationary_since + self.wall_offset
            since = shared.resume(state.anchor, state.anchor_height, own, wall)
            if since is not None and since < own:
                state.stationary_since = since - self.wall_offset
        state.shared_at = t
        shared.publish(
            state.anchor, state.anchor_height, state.stationary_since + self.wall_offset, wall
        )

    def _settle_lost(self, state: ObjectState, t: float, radius_frac: float) -> None:
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
