"""Place-anchored dedup stores: one case per place, type and cooldown — across cameras
with overlapping views, preset revisits, daemon restarts and (with Redis) edge boxes.

Two backends behind one interface, tested alike:

- `SqliteDedupStore`: embedded, in the box's state folder; survives restarts.
- `RedisDedupStore`: shared by every edge box. Places live in a GEO set per event type
  (`GEOADD`, searched with `GEOSEARCH ... BYRADIUS`); each place's details are a hash
  that expires after the cooldown; a new case first takes a claim (`SET NX EX`) on its
  coarse ground cell, so two boxes seeing the same van at once propose it only once.
  `rediss://` (TLS) and AUTH in the URL, as for the Redis sink (redis_conn.py).
  **Re-seeding**: Redis restarted empty (or FLUSHALL) forgets every place; each store
  keeps a sentinel key of its own and, when it is gone, writes the open cases of its
  box's outbox back (`reseed_from`) before the next look-up, so a vehicle still parked
  gives no second case.

**Fencing** (several boxes, docs/ARCHITECTURE.md "Many boxes"): with a
`Fence` — the camera's lease key and the token the box was granted — a claim is made
only while that key still holds that token, checked by a Lua script in the same step
as the claim on the ground cell; `check_fence` does the same for a case without a
ground position. A box that lost its lease (paused, partitioned, Redis restarted and
the camera taken by another box) creates nothing with its stale token. A claim that
succeeded is the commit: the case is delivered later even if the lease has moved on.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import redis

from lookout.base.errors import ConfigError
from lookout.cases.redis_conn import describe_error, is_auth_error, open_redis

log = logging.getLogger(__name__)

EARTH_M = 6_371_008.8


@dataclass(frozen=True, slots=True)
class PlaceRef:
    """A case anchored on the ground. Times are epoch seconds."""

    case_id: str
    type: str
    lon: float
    lat: float
    camera_id: str
    first_seen: float
    last_seen: float


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True, slots=True)
class Fence:
    """A camera's lease (its Redis key, value `<box>:<token>`) and the token this box
    holds it with. Writes under it are refused once the key holds another token."""

    key: str
    token: int


def hash_tag(prefix: str) -> str:
    """`{prefix}`: keys that begin with it share one Redis Cluster hash slot (a prefix
    that already has a `{tag}` is kept)."""
    return prefix if "{" in prefix else f"{{{prefix}}}"


class StaleToken(Exception):
    """The fence's token is no longer the camera's lease token: nothing was written."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(f"lease {fence.key}: token {fence.token} is no longer current")
        self.fence = fence


#: Lua: the lease key holds `<box>:<ARGV[1]>`, else 0 (absent, or another token).
_FENCE_LUA = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local t = string.match(v, ':(%d+)$')
if t ~= ARGV[1] then return 0 end
return 1
"""

#: Lua: the fence check and the claim of the ground cell in one step. KEYS[1] lease,
#: KEYS[2] cell claim; ARGV[1] token, ARGV[2] case id, ARGV[3] claim ttl (s).
#: -1: stale token; 1: claimed (or already ours); 0: another case holds the cell.
_FENCED_CLAIM_LUA = """
local v = redis.call('GET', KEYS[1])
local t = v and string.match(v, ':(%d+)$')
if t ~= ARGV[1] then return -1 end
if redis.call('SET', KEYS[2], ARGV[2], 'NX', 'EX', ARGV[3]) then return 1 end
if redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
return 0
"""


class DedupStore(Protocol):
    """Where the known places of recent cases are kept."""

    def find_near(
        self, type: str, lon: float, lat: float, radius_m: float, since: float
    ) -> PlaceRef | None:
        """The nearest case of `type` within `radius_m` last seen at or after `since`."""
        ...

    def claim(
        self, place: PlaceRef, radius_m: float, ttl_s: float, fence: Fence | None = None
    ) -> bool:
        """Record a new case; False if another case already holds this place. With a
        `fence`, raises `StaleToken` when the lease has moved on (nothing recorded)."""
        ...

    def touch(self, case_id: str, last_seen: float) -> None:
        """Move a case's last sighting forward."""
        ...

    def close(self) -> None: ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS places (
    case_id TEXT PRIMARY KEY, type TEXT NOT NULL, lon REAL NOT NULL, lat REAL NOT NULL,
    camera_id TEXT NOT NULL, first_seen REAL NOT NULL, last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS places_type_seen ON places (type, last_seen);
"""


class SqliteDedupStore:
    """Places in a local SQLite file (WAL); a bounding-box query, then exact distance."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> SqliteDedupStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        return cls(conn)

    def find_near(
        self, type: str, lon: float, lat: float, radius_m: float, since: float
    ) -> PlaceRef | None:
        dlat = math.degrees(radius_m / EARTH_M)
        dlon = dlat / max(0.01, math.cos(math.radians(lat)))
        with self._lock:
            rows = self.conn.execute(
                "SELECT case_id, type, lon, lat, camera_id, first_seen, last_seen FROM places"
                " WHERE type = ? AND last_seen >= ?"
                " AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ?",
                (type, since, lat - dlat, lat + dlat, lon - dlon, lon + dlon),
            ).fetchall()
        best: tuple[float, PlaceRef] | None = None
        for row in rows:
            ref = PlaceRef(*row)
            d = distance_m(lon, lat, ref.lon, ref.lat)
            if d <= radius_m and (best is None or d < best[0]):
                best = (d, ref)
        return best[1] if best else None

    def claim(
        self, place: PlaceRef, radius_m: float, ttl_s: float, fence: Fence | None = None
    ) -> bool:
        if fence is not None:  # leases live in Redis: cluster mode needs the Redis store
            raise ValueError("fencing needs the Redis dedup store (dedup.store.type: redis)")
        with self._lock, self.conn:
            # One writer at a time (BEGIN IMMEDIATE): check and insert atomically.
            self.conn.execute("BEGIN IMMEDIATE")
            since = place.last_seen - ttl_s
            dlat = math.degrees(radius_m / EARTH_M)
            dlon = dlat / max(0.01, math.cos(math.radians(place.lat)))
            rows = self.conn.execute(
                "SELECT lon, lat FROM places WHERE type = ? AND last_seen >= ?"
                " AND lat BETWEEN ? AND ? AND lon BETWEEN ? AND ? AND case_id != ?",
                (
                    place.type,
                    since,
                    place.lat - dlat,
                    place.lat + dlat,
                    place.lon - dlon,
                    place.lon + dlon,
                    place.case_id,
                ),
            ).fetchall()
            if any(distance_m(place.lon, place.lat, lo, la) <= radius_m for lo, la in rows):
                return False
            self.conn.execute(
                "INSERT OR IGNORE INTO places VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    place.case_id,
                    place.type,
                    place.lon,
                    place.lat,
                    place.camera_id,
                    place.first_seen,
                    place.last_seen,
                ),
            )
            return True

    def touch(self, case_id: str, last_seen: float) -> None:
        with self._lock, self.conn:
            self.conn.execute(
                "UPDATE places SET last_seen = MAX(last_seen, ?) WHERE case_id = ?",
                (last_seen, case_id),
            )

    def close(self) -> None:
        with self._lock:
            self.conn.close()


class RedisDedupStore:
    """Places in Redis, shared by every edge box (see the module docstring)."""

    def __init__(self, client: redis.Redis, prefix: str = "lookout") -> None:
        self.r = client
        self.prefix = prefix
        self._fence_check = client.register_script(_FENCE_LUA)
        self._fenced_claim = client.register_script(_FENCED_CLAIM_LUA)
        #: Open cases to write back when Redis lost them (`reseed_from`), and this
        #: store's sentinel: present while Redis still holds what this box wrote.
        self._seed: Callable[[], list[PlaceRef]] | None = None
        self._seed_ttl_s = 0.0
        self._sentinel = f"{prefix}:seeded:{uuid.uuid4().hex}"
        #: How many times the places were written back (Redis found empty).
        self.reseeds = 0

    @classmethod
    def open(
        cls,
        url: str,
        prefix: str = "lookout",
        timeout_s: float = 2.0,
        *,
        ssl_ca_certs: str | None = None,
    ) -> RedisDedupStore:
        """Connect to `url` (redis:// or rediss://, AUTH in the URL; redis_conn.py) and
        check it answers. A refused password is a ConfigError of one line without the
        password; Redis down is only logged (image-space dedup holds until it is back)."""
        try:
            client, target = open_redis(
                url, ssl_ca_certs=ssl_ca_certs, timeout_s=timeout_s, decode_responses=True
            )
        except ValueError as exc:
            raise ConfigError(f"dedup.store.url: {exc}") from None
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            if is_auth_error(exc):
                client.close()
                raise ConfigError(f"dedup.store.url: {describe_error(target, exc)}") from None
            log.warning("dedup store not reachable yet: %s", describe_error(target, exc))
        return cls(client, prefix)

    def _geo(self, type: str) -> str:
        return f"{self.prefix}:places:{type}"

    def _hash(self, case_id: str) -> str:
        return f"{self.prefix}:place:{case_id}"

    def reseed_from(self, fetch: Callable[..., Sequence[Sequence[Any]]], ttl_s: float) -> None:
        """Write back the open cases of an outbox (`SqliteOutbox.fetch`) last seen
        within `ttl_s` (the dedup cooldown) whenever this store's sentinel is missing:
        at the first look-up, and after Redis restarted empty or was flushed."""
        self._seed = lambda: open_places(fetch, time.time() - ttl_s)
        self._seed_ttl_s = ttl_s

    def _ensure_seeded(self) -> None:
        if self._seed is None or self.r.exists(self._sentinel):
            return
        places = self._seed()
        now = time.time()
        pipe = self.r.pipeline(transaction=False)
        for p in places:
            ttl = int(p.last_seen + self._seed_ttl_s - now)
            if ttl < 1:
                continue
            pipe.geoadd(self._geo(p.type), (p.lon, p.lat, p.case_id))
            fields: dict[str, str | float] = {"lon": p.lon, "lat": p.lat, "camera_id": p.camera_id}
            fields.update(first_seen=p.first_seen, last_seen=p.last_seen, ttl=int(self._seed_ttl_s))
            pipe.hset(self._hash(p.case_id), mapping=fields)  # type: ignore[arg-type]
            pipe.expire(self._hash(p.case_id), ttl)
        # A day: then written back once more (the same places), which costs nothing.
        pipe.set(self._sentinel, "1", ex=86400)
        pipe.execute()
        if self.reseeds:  # not the first look-up: Redis lost what this box wrote
            log.warning("dedup store found empty: %d open case(s) written back", len(places))
        self.reseeds += 1

    def find_near(
        self, type: str, lon: float, lat: float, radius_m: float, since: float
    ) -> PlaceRef | None:
        self._ensure_seeded()
        members = self.r.geosearch(
            self._geo(type),
            longitude=lon,
            latitude=lat,
            radius=radius_m,
            unit="m",
            sort="ASC",
        )
        for member in members:  # nearest first
            case_id = str(member)  # decode_responses=True: members are str
            data = {str(k): str(v) for k, v in self.r.hgetall(self._hash(case_id)).items()}
            if not data:  # expired after its cooldown: forget the place too
                self.r.zrem(self._geo(type), case_id)
                continue
            ref = PlaceRef(
                case_id=case_id,
                type=type,
                lon=float(data["lon"]),
                lat=float(data["lat"]),
                camera_id=data["camera_id"],
                first_seen=float(data["first_seen"]),
                last_seen=float(data["last_seen"]),
            )
            if ref.last_seen >= since:
                return ref
        return None

    def check_fence(self, fence: Fence) -> None:
        """Raise `StaleToken` unless the camera's lease still holds `fence.token` (a case
        without a ground position is fenced here before it is made)."""
        if not self._fence_check(keys=[fence.key], args=[str(fence.token)]):
            raise StaleToken(fence)

    def claim(
        self, place: PlaceRef, radius_m: float, ttl_s: float, fence: Fence | None = None
    ) -> bool:
        # A claim on the coarse ground cell (about 2 x radius) makes concurrent proposals
        # from several boxes race for one key; then the exact check below.
        cell_deg = math.degrees(2 * radius_m / EARTH_M)
        cell = f"{round(place.lon / cell_deg)}:{round(place.lat / cell_deg)}"
        # Tagged like the cluster's lease keys: the fenced claim's two keys share a hash
        # slot on Redis Cluster (lookout/fleet/leases.py).
        key = f"{hash_tag(self.prefix)}:claim:{place.type}:{cell}"
        ttl = max(1, int(ttl_s))
        if fence is not None:
            got = int(
                self._fenced_claim(
                    keys=[fence.key, key], args=[str(fence.token), place.case_id, ttl]
                )
            )
            if got < 0:
                raise StaleToken(fence)
            if got == 0:
                return False
        elif not self.r.set(key, place.case_id, nx=True, ex=ttl):
            holder = self.r.get(key)
            if holder != place.case_id:
                return False
        other = self.find_near(place.type, place.lon, place.lat, radius_m, place.last_seen - ttl_s)
        if other is not None and other.case_id != place.case_id:
            return False
        pipe = self.r.pipeline(transaction=True)
        pipe.geoadd(self._geo(place.type), (place.lon, place.lat, place.case_id))
        pipe.hset(
            self._hash(place.case_id),
            mapping={
                "lon": place.lon,
                "lat": place.lat,
                "camera_id": place.camera_id,
                "first_seen": place.first_seen,
                "last_seen": place.last_seen,
                "ttl": ttl,
            },
        )
        pipe.expire(self._hash(place.case_id), ttl)
        pipe.execute()
        return True

    def touch(self, case_id: str, last_seen: float) -> None:
        key = self._hash(case_id)
        old, ttl = self.r.hmget(key, ["last_seen", "ttl"])
        if old is not None and float(old) < last_seen:
            self.r.hset(key, "last_seen", last_seen)
            if ttl:  # the cooldown runs from the latest sighting
                self.r.expire(key, int(ttl))

    def close(self) -> None:
        self.r.close()


def open_places(fetch: Callable[..., Sequence[Sequence[Any]]], since: float) -> list[PlaceRef]:
    """The outbox's open cases (draft or confirmed, with a ground position) last seen
    at or after `since` (epoch s), newest first, as places."""
    rows = fetch(
        "SELECT id, type, json_extract(body, '$.location.lon'),"
        " json_extract(body, '$.location.lat'), camera_id,"
        " json_extract(body, '$.first_seen'), json_extract(body, '$.last_seen')"
        " FROM cases WHERE status IN ('draft', 'confirmed')"
        " AND json_extract(body, '$.location') IS NOT NULL"
        " ORDER BY confirmed_at DESC LIMIT 10000"
    )
    out = []
    for cid, type_, lon, lat, camera, first, last in rows:
        last_s = datetime.fromisoformat(last).timestamp()
        if last_s >= since:
            first_s = datetime.fromisoformat(first).timestamp()
            out.append(PlaceRef(cid, type_, float(lon), float(lat), camera, first_s, last_s))
    return out
