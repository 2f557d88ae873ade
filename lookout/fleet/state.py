"""State that moves with a camera between boxes (docs/ARCHITECTURE.md "Many boxes"):
the image-space dedup's recent cases and the stops (dwells in progress) of each
camera, kept in Redis so that the box a camera moves to carries on where the last
one stopped. A calibrated camera's cases are shared on the ground already (the place
store); these matter most for an uncalibrated one.

Keys (one hash per camera and kind, next to its lease: lookout/fleet/leases.py):

- `<p>:seen:<cam>`   case id -> JSON {type, preset, zone, bbox, last_seen}; the hash
  expires `dedup.cooldown_s` after its latest write, stale fields go on read
- `<p>:stops:<cam>`  `<zone>:<policy>:<x>:<y>` -> JSON {since, last, x, y, h}: a stop's
  start and its latest sighting (epoch s), its anchor and box height in pixels; the
  hash expires after the zone engine's place memory (120 s)
- `{lookout}:absorb:<cam>`  case id -> JSON {preset, bbox, by, at}: an operator's
  verdict on a static object, for the camera's scene model (zones/stationary.py),
  written by the case review of any box (cases/false_alarms.py `absorb_key`, the dedup
  store's tag, which the default `cluster.prefix` shares); the box running the camera
  reads and deletes those of the frame's preset at each scene update, under its lease

Every write is fenced like a case: one Lua script writes only while the camera's
lease holds this box's token, so a box that lost the camera writes nothing. A box
keeps what it wrote in memory too and writes it again when it re-acquires a lease
that Redis lost (Redis restarted empty).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

import redis

from lookout.cases.dedup import CaseFootprint
from lookout.cases.dedup_store import Fence
from lookout.cases.false_alarms import absorb_key
from lookout.zones.rules import ParkingRule
from lookout.zones.stationary import AbsorbRequest

if TYPE_CHECKING:
    from lookout.fleet.leases import LeaseStore
    from lookout.runtime.camera import CameraRuntime

log = logging.getLogger(__name__)

#: KEYS[1] the camera's lease, KEYS[2] the hash; ARGV: token, field, value, ttl (ms).
#: 1 written; 0 the lease does not hold the token (nothing written).
_FENCED_HSET_LUA = """
local v = redis.call('GET', KEYS[1])
local t = v and string.match(v, ':(%d+)$')
if t ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
"""


#: KEYS[1] the camera's lease, KEYS[2] its absorb requests; ARGV: token, then field and
#: value pairs as read. Deletes each field still holding that value; returns the fields
#: deleted, or false when the lease does not hold the token (nothing deleted).
_FENCED_TAKE_LUA = """
local v = redis.call('GET', KEYS[1])
local t = v and string.match(v, ':(%d+)$')
if t ~= ARGV[1] then return false end
local out = {}
for i = 2, #ARGV, 2 do
  if redis.call('HGET', KEYS[2], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[2], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
return out
"""

#: After a Redis error, absorb requests are not asked for this long (seconds): the
#: scene updates run on the analysis path and must not wait on a Redis that is away.
ABSORB_RETRY_S = 10.0


class ClusterState:
    """The shared footprints and stops of every camera of this box (see the module
    docstring). `fence(camera)` is the agent's: None while the lease is not held."""

    def __init__(
        self,
        store: LeaseStore,
        fence: Callable[[str], Fence | None],
        cooldown_s: float,
    ) -> None:
        self.store = store
        self.r = store.r
        self.fence = fence
        self.cooldown_s = cooldown_s
        self._hset = self.r.register_script(_FENCED_HSET_LUA)
        self._take = self.r.register_script(_FENCED_TAKE_LUA)
        self._absorb_paused_until = 0.0  # monotonic; see ABSORB_RETRY_S
        self._lock = threading.Lock()
        #: What this box wrote, by key: field -> (value, expires at epoch s).
        self._mine: dict[str, dict[str, tuple[str, float]]] = {}
        self.resumed = 0  # stops that took an earlier start from another box
        self.refused = 0  # writes refused: the lease had moved on
        self.errors = 0
        self._warned = False

    # -- writing -----------------------------------------------------------------------
    def _write(self, camera_id: str, kind: str, field: str, value: str, ttl_s: float) -> None:
        key = self.store.camera_key(kind, camera_id)
        with self._lock:
            now = time.time()
            mine = {f: v for f, v in self._mine.get(key, {}).items() if v[1] > now and f != field}
            self._mine[key] = {**mine, field: (value, now + ttl_s)}
        fence = self.fence(camera_id)
        if fence is None:
            self.refused += 1
            return
        self._call(lambda: self._fenced(fence, key, field, value, ttl_s))

    def _fenced(self, fence: Fence, key: str, field: str, value: str, ttl_s: float) -> None:
        ttl_ms = max(1000, int(ttl_s * 1000))
        if not self._hset(keys=[fence.key, key], args=[fence.token, field, value, ttl_ms]):
            self.refused += 1

    def republish(self, camera_id: str) -> None:
        """Write again what this box wrote for the camera (Redis lost it: the lease was
        re-acquired); called by the agent with the new lease held."""
        now = time.time()
        for kind in ("seen", "stops"):
            key = self.store.camera_key(kind, camera_id)
            with self._lock:
                items = [(f, v, exp) for f, (v, exp) in self._mine.get(key, {}).items()]
            for field, value, expires in items:
                fence = self.fence(camera_id)
                if fence is None:
                    return
                if expires > now:
                    self._call(partial(self._fenced, fence, key, field, value, expires - now))

    def _read(self, camera_id: str, kind: str) -> dict[str, dict[str, Any]]:
        key = self.store.camera_key(kind, camera_id)
        raw = self._call(lambda: self.r.hgetall(key)) or {}
        out = {}
        for field, value in raw.items():
            try:
                out[str(field)] = json.loads(value)
            except ValueError:
                continue
        return out

    def _prune(self, camera_id: str, kind: str, fields: list[str]) -> None:
        if fields:  # stale: deleting them needs no lease
            key = self.store.camera_key(kind, camera_id)
            self._call(lambda: self.r.hdel(key, *fields))

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Redis down: the box goes on with what it knows itself (logged once)."""
        try:
            got = fn()
            self._warned = False
            return got
        except (redis.RedisError, OSError) as exc:
            self.errors += 1
            if not self._warned:
                log.warning("cluster: shared camera state unavailable (%s)", exc)
                self._warned = True
            return None

    # -- the image-space dedup (cases/dedup.py SharedFootprints) -------------------------
    def recent(self, camera_id: str, since: datetime) -> list[CaseFootprint]:
        out, stale = [], []
        for case_id, d in self._read(camera_id, "seen").items():
            last = datetime.fromtimestamp(float(d["last_seen"]), UTC)
            if last < since:
                stale.append(case_id)
                continue
            bbox = tuple(float(v) for v in d["bbox"])
            out.append(
                CaseFootprint(
                    case_id,
                    str(d["type"]),
                    camera_id,
                    d.get("preset"),
                    str(d["zone"]),
                    (bbox[0], bbox[1], bbox[2], bbox[3]),
                    last,
                )
            )
        self._prune(camera_id, "seen", stale)
        return out

    def remember(self, fp: CaseFootprint) -> None:
        body: dict[str, Any] = {"type": fp.type, "preset": fp.preset, "zone": fp.zone_id}
        body.update(bbox=[round(v, 1) for v in fp.bbox], last_seen=fp.last_seen.timestamp())
        value = json.dumps(body, separators=(",", ":"))
        self._write(fp.camera_id, "seen", fp.case_id, value, self.cooldown_s)

    def touch(self, fp: CaseFootprint) -> None:
        self.remember(fp)

    # -- absorb requests (zones/stationary.py AbsorbSource) ------------------------------
    def absorb_requests(self, camera_id: str, preset: str | None) -> list[AbsorbRequest]:
        """The camera's absorb requests for `preset`, read and deleted while this box
        holds its lease (others' stay for their preset); [] while Redis is away."""
        if time.monotonic() < self._absorb_paused_until:
            return []
        fence = self.fence(camera_id)
        if fence is None:
            return []
        key = absorb_key(camera_id)
        raw = self._call(lambda: self.r.hgetall(key))
        if raw is None:  # an error: not asked again for a while
            self._absorb_paused_until = time.monotonic() + ABSORB_RETRY_S
            return []
        found: dict[str, AbsorbRequest | None] = {}
        args: list[str | int] = [fence.token]
        for field, value in raw.items():
            try:
                d = json.loads(value)
                if d.get("preset") != preset:
                    continue
                x1, y1, x2, y2 = (float(v) for v in d["bbox"])
                found[str(field)] = AbsorbRequest((x1, y1, x2, y2), str(field), str(d["by"]))
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                log.warning("cluster: camera %s: absorb request unreadable (%s)", camera_id, exc)
                found[str(field)] = None  # deleted, not applied
            args += [field, value]
        if not found:
            return []
        taken = self._call(lambda: self._take(keys=[fence.key, key], args=args))
        if taken is None:  # lease moved on, or an error: they stay for the next reader
            return []
        return [req for f in taken if (req := found.get(str(f))) is not None]

    # -- stops (zones/dwell.py StopShare) ------------------------------------------------
    def adopt(self, rt: CameraRuntime) -> None:
        """Share the stops of a camera that starts on this box, and let its scene model
        read the absorb requests of verdicts given on any box."""
        if rt.analyser.stationary is not None:
            rt.analyser.stationary.sources.append(self.absorb_requests)
        for i, rule in enumerate(rt.analyser.zones.rules):
            if isinstance(rule, ParkingRule):
                rule.book.shared = CameraStops(
                    self,
                    rt.camera_id,
                    f"{rule.zone.id}:{i}",
                    rule.policy.stationary_radius,
                    rule.book.place_memory_s,
                )


class CameraStops:
    """The stops of one (camera, zone, policy): `StopShare` of zones/dwell.py."""

    def __init__(
        self, state: ClusterState, camera_id: str, rule: str, radius_frac: float, memory_s: float
    ) -> None:
        self.state = state
        self.camera_id = camera_id
        self.rule = rule
        self.radius_frac = radius_frac
        self.memory_s = memory_s

    def publish(self, anchor: tuple[float, float], height: float, since: float, now: float) -> None:
        field = f"{self.rule}:{round(anchor[0])}:{round(anchor[1])}"
        body = {"since": round(since, 3), "last": round(now, 3), "x": anchor[0], "y": anchor[1]}
        body["h"] = height
        value = json.dumps(body, separators=(",", ":"))
        self.state._write(self.camera_id, "stops", field, value, self.memory_s)

    def resume(
        self, anchor: tuple[float, float], height: float, since: float, now: float
    ) -> float | None:
        best, stale = None, []
        for field, d in self.state._read(self.camera_id, "stops").items():
            if now - float(d["last"]) > self.memory_s:
                stale.append(field)
                continue
            if not field.startswith(f"{self.rule}:"):
                continue
            dist = math.hypot(anchor[0] - float(d["x"]), anchor[1] - float(d["y"]))
            if dist <= self.radius_frac * max(height, float(d["h"])):
                start = float(d["since"])
                best = start if best is None else min(best, start)
        self.state._prune(self.camera_id, "stops", stale)
        if best is None or best >= since - 0.5:  # nothing earlier (e.g. this box's own)
            return None
        self.state.resumed += 1
        log.info(
            "cluster: camera %s: a stop in %s resumes from %.0f s ago (another box saw it)",
            self.camera_id,
            self.rule,
            now - best,
        )
        return best
