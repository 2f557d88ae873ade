"""False alarms feed dedup: the same type at the same place is not proposed again.

An operator's `false_alarm` verdict (cases/verdicts.py) marks the place of a case: its
ground point when the camera is calibrated (any camera, within the dedup radius), else
its image box (same camera, preset and zone; overlapping box or nearby ground point in
pixels, as image-space dedup). An event of the case's type at that place within
`dedup.false_alarm_s` of the false alarm's latest sighting (the case's last sighting,
the verdict, or a suppressed event since) makes no case (docs/CASE_STATUS.md).

Where it lives:
- this box: the outbox is the record (`verdicts`, `false_alarm_sightings`);
  `FalseAlarmFilter` reads it at start and then new verdict rows as they come, so a
  verdict from the console or `lookout cases verdict` holds across restarts;
- every box, with a Redis dedup store: `RedisFalseAlarms` (a key per false alarm that
  expires after the quiet period, a GEO set per type, a set per camera); the box that
  records a verdict, and every box that reads one from its outbox, publishes it.

The same store carries the scene model's absorb requests (zones/stationary.py) to the
box that runs the camera (docs/FLEET.md "State moves with a camera"): `absorb_key`, a
hash per camera of case id -> JSON {preset, bbox, by, at}, expiring `ABSORB_TTL_S`
after its latest write; lookout/fleet/state.py reads and deletes them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

import redis

from lookout.cases.dedup import Box, same_image_place
from lookout.cases.dedup_store import distance_m, hash_tag
from lookout.cases.model import DraftCase
from lookout.cases.redis_conn import open_redis
from lookout.cases.sinks import SqliteOutbox
from lookout.zones.events import ViolationEvent

log = logging.getLogger(__name__)

#: The dedup store's key prefix (cases/dedup_store.py, not configurable).
PREFIX = "lookout"
#: An absorb request not read within this long (its camera's preset not visited) goes.
ABSORB_TTL_S = 86400


def absorb_key(camera_id: str, prefix: str = PREFIX) -> str:
    """`{lookout}:absorb:<camera>`: tagged like the cluster's keys of the camera (with
    the default `cluster.prefix`), so the fenced read's two keys share a hash slot."""
    return f"{hash_tag(prefix)}:absorb:{camera_id}"


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    """The place of a case an operator called a false alarm. Times are epoch seconds."""

    case_id: str
    type: str
    camera_id: str
    preset: str | None
    zone_id: str
    bbox: Box
    location: tuple[float, float] | None  # (lon, lat)
    first_seen: float
    last_seen: float

    @classmethod
    def of(cls, case: DraftCase, *seen: datetime | None) -> FalseAlarm:
        """From the case; `seen` (the verdict, later suppressed sightings) can move its
        latest sighting on."""
        last = max([case.last_seen.timestamp(), *(t.timestamp() for t in seen if t)])
        x1, y1, x2, y2 = case.bbox
        return cls(
            case_id=case.id,
            type=case.type,
            camera_id=case.camera_id,
            preset=case.preset,
            zone_id=case.zone_id,
            bbox=(x1, y1, x2, y2),
            location=(case.location.lon, case.location.lat) if case.location else None,
            first_seen=case.first_seen.timestamp(),
            last_seen=last,
        )

    def covers(self, t: float, window_s: float) -> bool:
        """`t` lies within `window_s` of the false alarm's sightings."""
        return self.first_seen - window_s <= t <= self.last_seen + window_s

    def same_place(self, event: ViolationEvent, radius_m: float, iou: float) -> bool:
        """Same type at the same place: on the ground when both are located, else the
        image box of the same camera, preset and zone."""
        if event.type != self.type:
            return False
        if event.location is not None and self.location is not None:
            return distance_m(*event.location, *self.location) <= radius_m
        if (event.camera_id, event.preset, event.zone_id) != (
            self.camera_id,
            self.preset,
            self.zone_id,
        ):
            return False
        return same_image_place(self.bbox, event.bbox, iou)

    def to_json(self) -> str:
        return json.dumps(
            {
                "case_id": self.case_id,
                "type": self.type,
                "camera_id": self.camera_id,
                "preset": self.preset,
                "zone_id": self.zone_id,
                "bbox": list(self.bbox),
                "location": list(self.location) if self.location else None,
                "first_seen": self.first_seen,
                "last_seen": self.last_seen,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> FalseAlarm:
        d = json.loads(text)
        x1, y1, x2, y2 = (float(v) for v in d["bbox"])
        loc = d.get("location")
        return cls(
            case_id=str(d["case_id"]),
            type=str(d["type"]),
            camera_id=str(d["camera_id"]),
            preset=d.get("preset"),
            zone_id=str(d["zone_id"]),
            bbox=(x1, y1, x2, y2),
            location=(float(loc[0]), float(loc[1])) if loc else None,
            first_seen=float(d["first_seen"]),
            last_seen=float(d["last_seen"]),
        )


class SharedFalseAlarms(Protocol):
    """False alarms shared by every box (the Redis dedup store)."""

    def publish(self, alarm: FalseAlarm) -> None:
        """Add or refresh a false alarm (its quiet period starts again)."""
        ...

    def lift(self, case_id: str, type: str) -> None:
        """A later verdict replaced the false alarm: forget it."""
        ...

    def near(self, type: str, lon: float, lat: float, radius_m: float) -> list[FalseAlarm]:
        """Located false alarms of `type` within `radius_m`."""
        ...

    def of_camera(self, camera_id: str) -> list[FalseAlarm]:
        """False alarms of one camera (for image-space matching)."""
        ...

    def request_absorb(
        self,
        camera_id: str,
        preset: str | None,
        bbox: Sequence[float],
        *,
        case_id: str,
        by: str,
        at: datetime,
    ) -> None:
        """Ask the camera's scene model, on whichever box runs it, to absorb what stands
        under `bbox` (zones/stationary.py `request_absorb`, shared)."""
        ...

    def close(self) -> None: ...


class RedisFalseAlarms:
    """`SharedFalseAlarms` in Redis (see the module docstring); `ttl_s` is the quiet
    period, renewed on every publish."""

    def __init__(self, client: redis.Redis, ttl_s: float, prefix: str = PREFIX) -> None:
        self.r = client
        self.ttl = max(1, int(ttl_s))
        self.prefix = prefix

    @classmethod
    def open(
        cls, url: str, ttl_s: float, timeout_s: float = 2.0, *, ssl_ca_certs: str | None = None
    ) -> RedisFalseAlarms:
        """`url`: redis:// or rediss:// (TLS), AUTH in the URL (redis_conn.py)."""
        client, _target = open_redis(
            url, ssl_ca_certs=ssl_ca_certs, timeout_s=timeout_s, decode_responses=True
        )
        return cls(client, ttl_s)

    def _key(self, case_id: str) -> str:
        return f"{self.prefix}:falsealarm:{case_id}"

    def _geo(self, type: str) -> str:
        return f"{self.prefix}:falsealarms:{type}"

    def _camera(self, camera_id: str) -> str:
        return f"{self.prefix}:falsealarms:camera:{camera_id}"

    def publish(self, alarm: FalseAlarm) -> None:
        key = self._key(alarm.case_id)
        old = self.r.get(key)
        if old is not None:  # keep the latest sighting any box has seen
            prev = FalseAlarm.from_json(str(old))
            alarm = replace(alarm, last_seen=max(alarm.last_seen, prev.last_seen))
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, alarm.to_json(), ex=self.ttl)
        if alarm.location is not None:
            pipe.geoadd(self._geo(alarm.type), (*alarm.location, alarm.case_id))
        pipe.sadd(self._camera(alarm.camera_id), alarm.case_id)
        pipe.execute()

    def lift(self, case_id: str, type: str) -> None:
        old = self.r.get(self._key(case_id))
        pipe = self.r.pipeline(transaction=True)
        pipe.delete(self._key(case_id))
        pipe.zrem(self._geo(type), case_id)
        if old is not None:
            pipe.srem(self._camera(FalseAlarm.from_json(str(old)).camera_id), case_id)
        pipe.execute()

    def _load(self, ids: list[str], drop: Callable[[str], object]) -> list[FalseAlarm]:
        if not ids:
            return []
        bodies = self.r.mget([self._key(i) for i in ids])
        out = []
        for case_id, body in zip(ids, bodies, strict=True):
            if body is None:  # its quiet period is over: forget the index entry too
                drop(case_id)
            else:
                out.append(FalseAlarm.from_json(str(body)))
        return out

    def near(self, type: str, lon: float, lat: float, radius_m: float) -> list[FalseAlarm]:
        geo = self._geo(type)
        ids = self.r.geosearch(geo, longitude=lon, latitude=lat, radius=radius_m, unit="m")
        return self._load([str(i) for i in ids], lambda i: self.r.zrem(geo, i))

    def of_camera(self, camera_id: str) -> list[FalseAlarm]:
        key = self._camera(camera_id)
        ids = sorted(str(i) for i in self.r.smembers(key))
        return self._load(ids, lambda i: self.r.srem(key, i))

    def request_absorb(
        self,
        camera_id: str,
        preset: str | None,
        bbox: Sequence[float],
        *,
        case_id: str,
        by: str,
        at: datetime,
    ) -> None:
        key = absorb_key(camera_id, self.prefix)
        body = {"preset": preset, "bbox": [float(v) for v in bbox][:4], "by": by}
        body["at"] = at.isoformat()
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(key, case_id, json.dumps(body, ensure_ascii=False, separators=(",", ":")))
        pipe.expire(key, ABSORB_TTL_S)
        pipe.execute()

    def close(self) -> None:
        self.r.close()


#: How often the case manager looks for new verdicts in the outbox (seconds).
REFRESH_S = 2.0


class FalseAlarmFilter:
    """The false alarms a case manager checks each new case against."""

    def __init__(
        self,
        *,
        window_s: float,
        radius_m: float,
        iou: float,
        outbox: SqliteOutbox | None = None,
        shared: SharedFalseAlarms | None = None,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window_s = window_s
        self.radius_m = radius_m
        self.iou = iou
        self.outbox = outbox
        self.shared = shared
        self.refresh_s = refresh_s
        self.clock = clock
        self._local: dict[str, FalseAlarm] = {}
        self._hwm = 0  # highest verdicts.rowid read
        self._next = float("-inf")

    def __len__(self) -> int:
        return len(self._local)

    def refresh(self, force: bool = False) -> int:
        """Read verdicts recorded since the last call (at most every `refresh_s` unless
        `force`); publish new false alarms to the shared store. Returns how many rows."""
        if self.outbox is None or (not force and self.clock() < self._next):
            return 0
        self._next = self.clock() + self.refresh_s
        rows = self.outbox.fetch(
            "SELECT v.rowid, v.case_id, v.status, v.at, c.body, s.last_seen FROM verdicts v"
            " JOIN cases c ON c.id = v.case_id"
            " LEFT JOIN false_alarm_sightings s ON s.case_id = v.case_id"
            " WHERE v.rowid > ? ORDER BY v.rowid",
            (self._hwm,),
        )
        changed: dict[str, FalseAlarm | str] = {}
        for rowid, case_id, status, at, body, seen in rows:
            self._hwm = max(self._hwm, int(rowid))
            if status == "false_alarm":
                stamps = [datetime.fromisoformat(at)]
                if seen:
                    stamps.append(datetime.fromisoformat(seen))
                alarm = FalseAlarm.of(DraftCase.model_validate_json(body), *stamps)
                self._local[case_id] = alarm
                changed[case_id] = alarm
            elif self._local.pop(case_id, None) is not None:  # no longer a false alarm
                changed[case_id] = str(json.loads(body)["type"])
        if changed and self.shared is not None:
            try:
                for case_id, what in changed.items():
                    if isinstance(what, FalseAlarm):
                        self.shared.publish(what)
                    else:
                        self.shared.lift(case_id, what)
            except redis.RedisError as exc:
                log.warning("false alarms not shared now (Redis: %s); retrying later", exc)
                self._hwm = min(self._hwm, int(rows[0][0]) - 1)  # read them again
        return len(rows)

    def match(self, event: ViolationEvent) -> FalseAlarm | None:
        """The false alarm whose place and quiet period this event falls in, or None;
        a match counts as its latest sighting (here and in the shared store)."""
        t = event.confirmed_at.timestamp()
        found = self._find(self._local.values(), event, t)
        if found is None and self.shared is not None:
            try:
                if event.location is not None:
                    candidates = self.shared.near(event.type, *event.location, self.radius_m)
                else:
                    candidates = []
                candidates += self.shared.of_camera(event.camera_id)
            except redis.RedisError as exc:
                log.warning("shared false alarms unavailable (Redis: %s)", exc)
                candidates = []
            found = self._find(candidates, event, t)
        if found is None:
            return None
        seen = replace(found, last_seen=max(found.last_seen, t))
        self._local[found.case_id] = seen
        if self.shared is not None:
            try:
                self.shared.publish(seen)
            except redis.RedisError as exc:
                log.warning("false alarm %s not refreshed in Redis: %s", found.case_id, exc)
        return seen

    def _find(
        self, alarms: Iterable[FalseAlarm], event: ViolationEvent, t: float
    ) -> FalseAlarm | None:
        for alarm in alarms:
            if alarm.covers(t, self.window_s) and alarm.same_place(event, self.radius_m, self.iou):
                return alarm
        return None
