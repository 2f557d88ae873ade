"""Street-vendor rule: stalls are groups of stationary people with stall objects.

A stall (`VendorGrouper`) is a group of people who stand still (for `settle_s`) together
with stall objects (umbrella; cart, tricycle, goods from a custom model) within
`group_radius` of each other (single linkage; box heights of the person, or metres when
every object carries a ground point). Walking people and moving objects never join.
Groups without a person (an umbrella alone) are ignored; groups without stall objects
(people waiting or chatting) only count when `require_stall_objects` is False.

A group is anchored to its place (centroid of its people's ground points): a new
cluster on that place continues the group even when every track id changed, so a
tracker id switch neither restarts the dwell nor raises a second event. A cluster that
shares a person's track id with a group but stands more than `roaming_move` away is the
same group at a new stop. A group with at least `roaming_min_stops` distinct stops
within `roaming_window_s` is `roaming` (游商), else `fixed` (店外经营/占道经营).

Each group fires once (`VendorEvent`), when its qualified time (people plus stall objects
present, outside allowed hours; a stop's clock stops while nobody is there and starts
again from zero after `track_forget_s` without anybody) reaches `dwell_s`: at one stop,
or summed over the stops in the window for a roaming group. The kind is decided at that
moment. While `allowed` is True the dwell clock is reset. Times are seconds on one
monotonic axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Point = tuple[float, float]
Box = tuple[float, float, float, float]
VendorKind = Literal["fixed", "roaming"]


@dataclass(frozen=True, slots=True)
class TrackedObject:
    """One tracked detection: `bbox` is (x1, y1, x2, y2) pixels; `ground` its ground
    point in metres (calibrated cameras; give it for all objects or for none)."""

    track_id: int
    class_name: str
    bbox: Box
    confidence: float = 1.0
    ground: Point | None = None


@dataclass(frozen=True, slots=True)
class VendorSettings:
    """Knobs of the vendor rule. Radii without `_m` are in person box heights (pixel
    mode), radii with `_m` in metres (used when ground points are given)."""

    dwell_s: float
    group_radius: float = 1.5
    group_radius_m: float = 2.5
    require_stall_objects: bool = True
    stall_classes: tuple[str, ...] = ("umbrella",)
    person_classes: tuple[str, ...] = ("person",)
    stationary_radius: float = 0.35
    stationary_radius_m: float = 0.6
    settle_s: float = 3.0
    roaming_min_stops: int = 2
    roaming_window_s: float = 900.0
    roaming_move: float = 3.0
    roaming_move_m: float = 5.0
    forget_after_s: float = 120.0
    track_forget_s: float = 10.0


@dataclass(frozen=True, slots=True)
class VendorEvent:
    """One stall confirmed. `member_track_ids` are its people, `stall_track_ids` its
    stall objects (at confirmation); `bbox` is their union box; `first_seen_t` is the
    start of the earliest counted stop; `dwell_s` the qualified seconds counted."""

    group_id: int
    kind: VendorKind
    bbox: Box
    member_track_ids: tuple[int, ...]
    stall_track_ids: tuple[int, ...]
    stall_classes: tuple[str, ...]
    people: int
    stops: int
    first_seen_t: float
    confirmed_t: float
    dwell_s: float
    confidence: float
    anchor: Point

    @property
    def track_id(self) -> int:
        """A representative track id (the lowest member id)."""
        return min(self.member_track_ids)


@dataclass(slots=True)
class _Track:
    anchor: Point
    since: float
    last_seen: float


@dataclass(slots=True)
class _Item:
    obj: TrackedObject
    point: Point
    scale: float
    since: float
    person: bool


@dataclass(slots=True)
class _Cluster:
    people: list[_Item]
    stalls: list[_Item]
    centroid: Point
    scale: float

    @property
    def ids(self) -> set[int]:
        return {i.obj.track_id for i in self.people}


@dataclass(slots=True)
class _Stop:
    origin: Point
    start: float
    end: float
    banked_s: float = 0.0
    run_since: float | None = None
    hold: float = -math.inf
    paused_at: float = -math.inf  # a resumed clock never runs from before its pause

    def qualified(self, t: float) -> float:
        run = t - self.run_since if self.run_since is not None else 0.0
        return self.banked_s + max(0.0, run)

    def pause(self, t: float) -> None:
        self.banked_s = self.qualified(t)
        self.run_since = None
        self.paused_at = t


@dataclass(slots=True)
class _Group:
    gid: int
    anchor: Point
    scale: float
    last_seen: float
    stops: list[_Stop]
    ids: dict[int, float] = field(default_factory=dict)
    fired: bool = False


def _dist(a: Point, b: Point) -> float:
    return math.hypot(a[0] - b[0], a[1] - b[1])


def _box_dist(p: Point, box: Box) -> float:
    dx = max(box[0] - p[0], 0.0, p[0] - box[2])
    dy = max(box[1] - p[1], 0.0, p[1] - box[3])
    return math.hypot(dx, dy)


class VendorGrouper:
    """Street-vendor groups of one (camera, preset, zone); feed it every analysed frame."""

    def __init__(self, settings: VendorSettings) -> None:
        self.settings = settings
        self._tracks: dict[tuple[str, int], _Track] = {}
        self._groups: dict[int, _Group] = {}
        self._next_gid = 1
        self._metric: bool | None = None

    @property
    def group_count(self) -> int:
        return len(self._groups)

    def update(
        self,
        t: float,
        people: list[TrackedObject],
        stall_objects: list[TrackedObject],
        allowed: bool = False,
    ) -> list[VendorEvent]:
        """Observe one frame at time `t`; return the stalls confirmed now."""
        s = self.settings
        people = [p for p in people if p.class_name in s.person_classes]
        stall_objects = [o for o in stall_objects if o.class_name in s.stall_classes]
        self._check_mode(people + stall_objects)
        items = self._observe(t, people, True) + self._observe(t, stall_objects, False)
        events: list[VendorEvent] = []
        present: set[int] = set()
        for cluster, group in self._match(self._cluster(items)):
            event = self._advance(t, cluster, group, allowed)
            present.update(g.gid for g in self._groups.values() if g.last_seen == t)
            if event is not None:
                events.append(event)
        for g in self._groups.values():
            stop = g.stops[-1]
            if g.gid not in present and stop.run_since is not None:
                # Nobody at the stall now: its clock stops at the last sighting (goods
                # that stay do not make a stall of whoever pauses by them later).
                stop.pause(g.last_seen)
        self._expire(t)
        return events

    def _check_mode(self, objs: list[TrackedObject]) -> None:
        if not objs:
            return
        metric = objs[0].ground is not None
        mixed = any((o.ground is not None) != metric for o in objs)
        if mixed or self._metric not in (None, metric):
            raise ValueError("give ground points for all objects or for none")
        self._metric = metric

    def _radius(self, frac: float, metres: float, scale: float) -> float:
        return metres if self._metric else frac * scale

    def _observe(self, t: float, objs: list[TrackedObject], person: bool) -> list[_Item]:
        """Update stationarity of each track; return those settled (stationary)."""
        out: list[_Item] = []
        for o in objs:
            x1, y1, x2, y2 = o.bbox
            point = o.ground if o.ground is not None else ((x1 + x2) / 2.0, y2)
            scale = 1.0 if self._metric else max(1.0, y2 - y1)
            key = (o.class_name, o.track_id)
            tr = self._tracks.get(key)
            s = self.settings
            if tr is None:
                tr = self._tracks[key] = _Track(point, t, t)
            elif _dist(point, tr.anchor) > self._radius(
                s.stationary_radius, s.stationary_radius_m, scale
            ):
                tr.anchor, tr.since = point, t
            tr.last_seen = t
            if o.track_id >= 0 and t - tr.since >= s.settle_s:
                out.append(_Item(o, point, scale, tr.since, person))
        return out

    def _linked(self, a: _Item, b: _Item) -> bool:
        s = self.settings
        if a.person and b.person:
            r = self._radius(s.group_radius, s.group_radius_m, max(a.scale, b.scale))
            return _dist(a.point, b.point) <= r
        if not (a.person or b.person):
            return False
        p, o = (a, b) if a.person else (b, a)
        r = self._radius(s.group_radius, s.group_radius_m, p.scale)
        d = _dist(p.point, o.point) if self._metric else _box_dist(p.point, o.obj.bbox)
        return d <= r

    def _cluster(self, items: list[_Item]) -> list[_Cluster]:
        """Single-linkage clusters of stationary items that contain a person."""
        parent = list(range(len(items)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(len(items)):
            for j in range(i + 1, len(items)):
                if self._linked(items[i], items[j]):
                    parent[root(i)] = root(j)
        members: dict[int, list[_Item]] = {}
        for i, item in enumerate(items):
            members.setdefault(root(i), []).append(item)
        clusters: list[_Cluster] = []
        for group in members.values():
            people = [i for i in group if i.person]
            if not people:
                continue  # stall objects alone are no case
            cx = sum(p.point[0] for p in people) / len(people)
            cy = sum(p.point[1] for p in people) / len(people)
            scale = sorted(p.scale for p in people)[len(people) // 2]
            stalls = [i for i in group if not i.person]
            clusters.append(_Cluster(people, stalls, (cx, cy), scale))
        return clusters

    def _match(self, clusters: list[_Cluster]) -> list[tuple[_Cluster, _Group | None]]:
        """One-to-one: shared person track ids first, then nearest group on the place."""
        s = self.settings
        pairs: list[tuple[int, float, int, int]] = []
        for ci, c in enumerate(clusters):
            for g in self._groups.values():
                shared = len(c.ids & g.ids.keys())
                d = _dist(c.centroid, g.anchor)
                r = self._radius(s.group_radius, s.group_radius_m, max(c.scale, g.scale))
                if shared or d <= r:
                    pairs.append((-shared, d, ci, g.gid))
        pairs.sort()
        chosen: dict[int, _Group] = {}
        used: set[int] = set()
        for _, _, ci, gid in pairs:
            if ci not in chosen and gid not in used:
                chosen[ci] = self._groups[gid]
                used.add(gid)
        return [(c, chosen.get(ci)) for ci, c in enumerate(clusters)]

    def _advance(
        self, t: float, c: _Cluster, g: _Group | None, allowed: bool
    ) -> VendorEvent | None:
        s = self.settings
        since = min(p.since for p in c.people)
        if g is None:
            g = _Group(self._next_gid, c.centroid, c.scale, t, [_Stop(c.centroid, since, t)])
            self._groups[g.gid] = g
            self._next_gid += 1
        stop = g.stops[-1]
        move = self._radius(s.roaming_move, s.roaming_move_m, max(c.scale, g.scale))
        if _dist(c.centroid, stop.origin) <= move and t - g.last_seen > s.track_forget_s:
            stop.banked_s = 0.0  # nobody here for longer than a missed detection: anew
        if _dist(c.centroid, stop.origin) > move:  # the group moved on: a new (or old) stop
            stop.pause(stop.end)
            prior = [p for p in g.stops[:-1] if _dist(c.centroid, p.origin) <= move]
            if prior:
                g.stops.remove(prior[-1])
                g.stops.append(prior[-1])
                prior[-1].hold = t
            else:
                g.stops.append(_Stop(c.centroid, since, t))
            stop = g.stops[-1]
        stop.end, g.anchor, g.scale, g.last_seen = t, c.centroid, c.scale, t
        for other in self._groups.values():
            if other is not g:
                for tid in c.ids:
                    other.ids.pop(tid, None)
        g.ids.update(dict.fromkeys(c.ids, t))
        if allowed:  # the clock restarts on the first frame outside the allowed hours
            stop.pause(t)
            stop.banked_s, stop.hold = 0.0, math.inf
        elif stop.hold == math.inf:
            stop.hold = t
        if not allowed and stop.run_since is None and (c.stalls or not s.require_stall_objects):
            start = max(since, min((i.since for i in c.stalls), default=since))
            stop.run_since = max(start, stop.hold, stop.paused_at)
        g.stops = [p for p in g.stops if p is stop or p.end >= t - s.roaming_window_s]
        if g.fired or allowed:
            return None
        counted = [p for p in g.stops if p.qualified(t) > 0.0]
        total = sum(p.qualified(t) for p in counted)
        roaming = len(counted) >= s.roaming_min_stops
        if roaming and total >= s.dwell_s:
            dwell = total
        elif stop.qualified(t) >= s.dwell_s and stop.run_since is not None:
            dwell, counted = stop.qualified(t), [stop]
        else:
            return None
        g.fired = True
        return self._event(t, g, c, "roaming" if roaming else "fixed", dwell, counted)

    def _event(
        self, t: float, g: _Group, c: _Cluster, kind: VendorKind, dwell: float, stops: list[_Stop]
    ) -> VendorEvent:
        boxes = [i.obj.bbox for i in c.people + c.stalls]
        bbox = (
            min(b[0] for b in boxes),
            min(b[1] for b in boxes),
            max(b[2] for b in boxes),
            max(b[3] for b in boxes),
        )
        confs = [i.obj.confidence for i in c.people + c.stalls]
        base = sum(confs) / len(confs)
        conf = 0.6 * base + 0.12 * min(len(c.stalls), 3) + 0.04 * min(len(c.people) - 1, 3)
        return VendorEvent(
            group_id=g.gid,
            kind=kind,
            bbox=bbox,
            member_track_ids=tuple(sorted(c.ids)),
            stall_track_ids=tuple(sorted({i.obj.track_id for i in c.stalls})),
            stall_classes=tuple(sorted({i.obj.class_name for i in c.stalls})),
            people=len(c.people),
            stops=len(stops),
            first_seen_t=min(p.start for p in stops),
            confirmed_t=t,
            dwell_s=round(dwell, 3),
            confidence=round(min(0.99, conf), 4),
            anchor=c.centroid,
        )

    def _expire(self, t: float) -> None:
        s = self.settings
        for key in [k for k, tr in self._tracks.items() if t - tr.last_seen > s.track_forget_s]:
            del self._tracks[key]
        for gid in [k for k, g in self._groups.items() if t - g.last_seen > s.forget_after_s]:
            del self._groups[gid]
        for g in self._groups.values():
            g.ids = {k: v for k, v in g.ids.items() if t - v <= s.forget_after_s}
