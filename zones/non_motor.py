"""非机动车乱停放 (`non_motor_parking`): non-motor vehicles massed in a zone, one case
per cluster (docs/RULES.md, "非机动车乱停放 — non_motor_parking").

`NonMotorClusterer` is the pure logic, on tracked boxes; times are seconds on one
monotonic axis:

- An object is stationary while its ground point (bottom-centre of its box) stays
  within `stationary_radius` box heights of where it stopped; it *qualifies* once it
  has stood still for `dwell_s` (and at least `settle_s`). A bicycle ridden through
  never does. A new track that appears where a lost track of the same class stood
  (within the stationary radius, lost at most `track_memory_s` ago, and never longer
  than `quiet_s`: a place that was empty that long starts afresh) takes over its
  stop: a tracker id switch does not restart that object's dwell.
- Qualified objects are clustered by single linkage: two are linked when their ground
  points lie within `cluster_radius` × the larger of their box heights.
- A group is a place. A cluster of at least `min_count` objects that belongs to no
  group makes one, anchored at the centroid of its objects' ground points. A cluster
  belongs to a group when it shares a track id with it or its centroid lies within
  `cluster_radius` × the group's median box height of the anchor, even when every
  track id changed. A cluster belongs to one group; a group may hold several clusters
  (a row split where a bicycle left). The anchor follows the group's objects.
- A group fires once: the first time it holds at least `min_count` objects outside
  the allowed windows (a cluster that formed in an allowed window fires when the
  window ends, if it is still there). Growing, shrinking, splitting or new track ids
  fire nothing more. A group whose place has had no stationary object (settled, even
  if not qualified yet: bicycles back after a PTZ tour) for `quiet_s` is forgotten;
  a cluster on its place after that is a new group and fires again.

Sightings: none. The event, and so the case, carries `count` = the objects of the
cluster at confirmation, and the union box of that moment. Later events of the same
cluster would add nothing: dedup (cases/dedup.py, cases/manager.py) merges an event
into a case by moving its `last_seen` (and on the ground its `dwell_s`), never its
`count`, and a cluster that grew sideways can leave its first union box (IoU below
`dedup.iou`, ground point more than 0.75 box heights away), so a repeat could even
become a second case of the same bicycles.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.dwell import DWELL_JITTER_S, watched_in_zone
from lookout.zones.events import (
    ObjectRule,
    RuleContext,
    ViolationEvent,
    in_allowed_window,
    make_event,
    register,
)
from lookout.zones.policies import NonMotorPolicy
from lookout.zones.vendors import Box, Point, TrackedObject


@dataclass(frozen=True, slots=True)
class NonMotorSettings:
    """Knobs of the clusterer; radii are in box heights (see the module docstring)."""

    dwell_s: float
    min_count: int = 3
    cluster_radius: float = 2.0
    stationary_radius: float = 0.35
    quiet_s: float = 600.0
    settle_s: float = 3.0
    track_memory_s: float = 120.0
    jitter_s: float = 0.0


@dataclass(frozen=True, slots=True)
class NonMotorEvent:
    """One cluster confirmed: `bbox` is the union box of its objects, `track_ids` their
    ids, `dwell_s` the longest stationary time among them, `anchor` the centroid of
    their ground points."""

    group_id: int
    bbox: Box
    track_ids: tuple[int, ...]
    class_name: str
    count: int
    confidence: float
    dwell_s: float
    confirmed_t: float
    anchor: Point

    @property
    def track_id(self) -> int:
        """A representative track id (the lowest)."""
        return min(self.track_ids)


@dataclass(slots=True)
class _Track:
    class_name: str
    anchor: Point
    since: float
    last_seen: float


@dataclass(slots=True)
class _Item:
    obj: TrackedObject
    point: Point
    scale: float
    since: float


@dataclass(slots=True)
class _Cluster:
    items: list[_Item]
    centroid: Point

    @property
    def ids(self) -> set[int]:
        return {i.obj.track_id for i in self.items}


@dataclass(slots=True)
class _Group:
    gid: int
    anchor: Point
    scale: float
    last_seen: float  # the last time a stationary object stood on its place
    ids: set[int]
    fired: bool = False


def _dist(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _centroid(items: list[_Item]) -> Point:
    return (
        sum(i.point[0] for i in items) / len(items),
        sum(i.point[1] for i in items) / len(items),
    )


class NonMotorClusterer:
    """Non-motor clusters of one (camera, preset, zone); feed it every analysed frame."""

    def __init__(self, settings: NonMotorSettings) -> None:
        self.settings = settings
        self._tracks: dict[int, _Track] = {}
        self._groups: dict[int, _Group] = {}
        self._next_gid = 1

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def update(
        self, t: float, objects: list[TrackedObject], allowed: bool = False
    ) -> list[NonMotorEvent]:
        """Observe one frame at time `t` (the watched objects inside the zone); return
        the clusters confirmed now."""
        s = self.settings
        self._expire(t)
        qualified, settling = self._observe(t, objects)
        held: dict[int, list[_Item]] = {}
        for cluster in self._cluster(qualified):
            group = self._match(cluster)
            if group is None:
                if len(cluster.items) < s.min_count:
                    continue
                scale = statistics.median(i.scale for i in cluster.items)
                group = _Group(self._next_gid, cluster.centroid, scale, t, set())
                self._groups[group.gid] = group
                self._next_gid += 1
            held.setdefault(group.gid, []).extend(cluster.items)
            for other in self._groups.values():
                if other is not group:
                    other.ids -= cluster.ids
        events: list[NonMotorEvent] = []
        for gid, items in held.items():
            g = self._groups[gid]
            g.anchor, g.last_seen = _centroid(items), t
            g.scale = statistics.median(i.scale for i in items)
            g.ids = {i.obj.track_id for i in items}
            if not g.fired and not allowed and len(items) >= s.min_count:
                g.fired = True
                events.append(self._event(t, g, items))
        for item in settling:  # standing on a group's place, not counted yet
            for g in self._groups.values():
                if self._on_place(item, g):
                    g.last_seen = t
        return events

    def _on_place(self, item: _Item, g: _Group) -> bool:
        near = _dist(item.point, g.anchor) <= self.settings.cluster_radius * g.scale
        return near or item.obj.track_id in g.ids

    def _observe(self, t: float, objects: list[TrackedObject]) -> tuple[list[_Item], list[_Item]]:
        """Update the stop of each track; return the qualified ones (stationary for the
        dwell) and those settled (`settle_s`) but not qualified yet."""
        s = self.settings
        need = max(s.dwell_s, s.settle_s) - s.jitter_s
        present = {o.track_id for o in objects}
        qualified: list[_Item] = []
        settling: list[_Item] = []
        for o in objects:
            if o.track_id < 0:
                continue
            x1, y1, x2, y2 = o.bbox
            point = ((x1 + x2) / 2.0, y2)
            scale = max(1.0, y2 - y1)
            tr = self._tracks.get(o.track_id)
            if tr is None:
                tr = self._adopt(t, o.class_name, point, scale, present)
                self._tracks[o.track_id] = tr
            elif _dist(point, tr.anchor) > s.stationary_radius * scale:
                tr.anchor, tr.since = point, t
            tr.last_seen = t
            if t - tr.since >= need:
                qualified.append(_Item(o, point, scale, tr.since))
            elif t - tr.since >= s.settle_s - s.jitter_s:
                settling.append(_Item(o, point, scale, tr.since))
        return qualified, settling

    def _adopt(
        self, t: float, class_name: str, point: Point, scale: float, present: set[int]
    ) -> _Track:
        """A new track's stop: taken over from a lost track of the same class that stood
        on this spot (a tracker id switch), else starting now."""
        radius = self.settings.stationary_radius * scale
        memory = self._track_memory
        lost = [
            (_dist(point, tr.anchor), tid)
            for tid, tr in self._tracks.items()
            if tid not in present and tr.class_name == class_name and t - tr.last_seen <= memory
        ]
        near = [(d, tid) for d, tid in lost if d <= radius]
        if not near:
            return _Track(class_name, point, t, t)
        old = self._tracks.pop(min(near)[1])
        return _Track(class_name, old.anchor, old.since, t)

    def _cluster(self, items: list[_Item]) -> list[_Cluster]:
        """Single-linkage clusters of the qualified objects."""
        r = self.settings.cluster_radius
        parent = list(range(len(items)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                a, b = items[i], items[j]
                if _dist(a.point, b.point) <= r * max(a.scale, b.scale):
                    parent[root(i)] = root(j)
        members: dict[int, list[_Item]] = {}
        for i, item in enumerate(items):
            members.setdefault(root(i), []).append(item)
        return [_Cluster(group, _centroid(group)) for group in members.values()]

    def _match(self, c: _Cluster) -> _Group | None:
        """The group of the cluster: most shared track ids first, then the nearest
        anchor within `cluster_radius` group box heights."""
        best: tuple[int, float] | None = None
        found: _Group | None = None
        for g in self._groups.values():
            shared = len(c.ids & g.ids)
            d = _dist(c.centroid, g.anchor)
            if not shared and d > self.settings.cluster_radius * g.scale:
                continue
            key = (-shared, d)
            if best is None or key < best:
                best, found = key, g
        return found

    def _event(self, t: float, g: _Group, items: list[_Item]) -> NonMotorEvent:
        boxes = [i.obj.bbox for i in items]
        names = Counter(i.obj.class_name for i in items)
        return NonMotorEvent(
            group_id=g.gid,
            bbox=(
                min(b[0] for b in boxes),
                min(b[1] for b in boxes),
                max(b[2] for b in boxes),
                max(b[3] for b in boxes),
            ),
            track_ids=tuple(sorted(g.ids)),
            class_name=min(names, key=lambda n: (-names[n], n)),
            count=len(items),
            confidence=round(statistics.median(i.obj.confidence for i in items), 4),
            dwell_s=round(max(t - i.since for i in items), 3),
            confirmed_t=t,
            anchor=g.anchor,
        )

    @property
    def _track_memory(self) -> float:
        return min(self.settings.track_memory_s, self.settings.quiet_s)

    def _expire(self, t: float) -> None:
        s = self.settings
        memory = self._track_memory
        for tid in [k for k, tr in self._tracks.items() if t - tr.last_seen > memory]:
            del self._tracks[tid]
        for gid in [k for k, g in self._groups.items() if t - g.last_seen > s.quiet_s]:
            del self._groups[gid]


@register("non_motor_parking")
class NonMotorRule(ObjectRule):
    """`non_motor_parking` of one zone: tracked objects of the policy's classes (default
    the `non_motor` role) whose ground point is inside the zone for `inertia_frames`
    frames feed a `NonMotorClusterer`; each confirmed cluster is one event with its
    `count`."""

    def __init__(self, policy: NonMotorPolicy, ctx: RuleContext) -> None:
        super().__init__(policy.classes, ctx)
        self.policy = policy
        self.clusterer = NonMotorClusterer(
            NonMotorSettings(
                dwell_s=policy.dwell_s,
                min_count=policy.min_count,
                cluster_radius=policy.cluster_radius,
                stationary_radius=policy.stationary_radius,
                quiet_s=policy.quiet_s,
                track_memory_s=ctx.place_memory_s,
                jitter_s=DWELL_JITTER_S,
            )
        )
        #: Consecutive analysed frames each track id has been inside the zone.
        self._inside: dict[int, int] = {}

    def update(
        self, frame: Frame, t: float, dets: Detections, born: Mapping[int, float]
    ) -> list[ViolationEvent]:
        w = watched_in_zone(dets, self.class_ids, self.policy.min_confidence, self.polygon)
        watched, inside = w.dets, w.inside
        streaks: dict[int, int] = {}
        objects: list[TrackedObject] = []
        for i in np.flatnonzero(inside):
            tid = int(watched.tracker_id[i])
            streaks[tid] = self._inside.get(tid, 0) + 1
            if streaks[tid] >= self.zone.inertia_frames:
                x1, y1, x2, y2 = (float(v) for v in watched.xyxy[i])
                objects.append(
                    TrackedObject(
                        tid,
                        self.class_names[int(watched.class_id[i])],
                        (x1, y1, x2, y2),
                        float(watched.confidence[i]),
                    )
                )
        self._inside = streaks
        allowed = in_allowed_window(self.policy.allowed, frame, self.tz)
        return [
            make_event(
                frame,
                self.zone,
                self.policy.type,
                track_id=ev.track_id,
                class_name=ev.class_name,
                bbox=ev.bbox,
                confidence=ev.confidence,
                dwell_s=ev.dwell_s,
                subject_ids=ev.track_ids,
                count=ev.count,
            )
            for ev in self.clusterer.update(t, objects, allowed)
        ]
