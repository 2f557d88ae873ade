"""Several boxes, one camera list (docs/ARCHITECTURE.md "Many boxes"): the
`cluster:` settings, weighted rendezvous hashing, and the Redis keys of heartbeats and
camera leases with their fencing tokens.

Keys (`p` is `cluster.prefix`, `lookout` by default). Every key begins with the hash
tag `{p}`, so with Redis Cluster they all share one hash slot and every multi-key
script and transaction stays in it: the grant (a lease and the token counter), the
fenced claim of cases/dedup_store.py (a lease and a claim, whose `{lookout}` tag is the
same as long as `cluster.prefix` is the default) and the fenced writes of
lookout/fleet/state.py (a lease and the camera's state).

- `{p}:box:<id>`      JSON heartbeat of a box (weight, cameras held, since), PX ttl
- `{p}:boxes`         set of box ids ever seen (status lists the gone ones)
- `{p}:lease:<cam>`   `<box>:<token>`, SET NX PX ttl; renewed and released by scripts
- `{p}:token`         the token counter (INCR, lifted to the time floor below)
- `{p}:move`          NX PX gate: one camera moves back to a returning box at a time

Tokens are monotonic across a Redis restart without persistence: a grant takes
`max(INCR, floor, seen + 1)`, where `floor` is Redis's own clock (`TIME`) in
milliseconds times 1024 and `seen` the largest token the asking box was ever given.
The counter runs ahead of the floor only while more than 1024 grants a millisecond are
made, so after a restart the floor is above every token granted before it; `seen`
covers a server clock set back, for every token a live box still holds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from lookout.cases.dedup_store import Fence, hash_tag

#: Tokens granted per millisecond of Redis time before the counter would run ahead of
#: the time floor (2**10; tokens stay below 2**53 until the year 2248).
TOKENS_PER_MS = 1024


@dataclass(frozen=True, slots=True)
class Box:
    """A live box as its heartbeat describes it."""

    id: str
    weight: float
    since_ms: int  # Redis time its heartbeat (re)appeared: hold-down runs from here
    held: Mapping[str, int]  # camera -> Redis time (ms) of the grant
    beat_ms: int  # Redis time of the heartbeat


@functools.lru_cache(maxsize=1 << 17)
def _key(box_id: str, camera_id: str) -> float:
    """`-1 / ln(u)` of a stable uniform `u` in (0, 1) for the pair (cached: the pairs of
    a fleet do not change, and a round would otherwise hash every one of them)."""
    digest = hashlib.blake2b(f"{box_id}\0{camera_id}".encode(), digest_size=8).digest()
    return -1.0 / math.log((int.from_bytes(digest, "big") + 0.5) / 2.0**64)


def rank(camera_id: str, boxes: Mapping[str, float]) -> list[str]:
    """Boxes (id -> weight) by weighted rendezvous score for a camera, best first: score
    `-weight / ln(u)`, so each box wins a share of cameras proportional to its weight and
    a box's disappearance moves only the cameras it won."""
    scores = {b: w * _key(b, camera_id) for b, w in boxes.items()}
    return sorted(scores, key=lambda b: (-scores[b], b))


def assign(cameras: Iterable[str], boxes: Mapping[str, float]) -> dict[str, str]:
    """Camera -> the box it belongs to (every camera, when any box is live)."""
    if not boxes:
        return {}
    return dict(_assign(tuple(cameras), tuple(sorted(boxes.items()))))


@functools.lru_cache(maxsize=8)
def _assign(cameras: tuple[str, ...], boxes: tuple[tuple[str, float], ...]) -> dict[str, str]:
    """`assign`, remembered: every round asks again with the same live boxes."""
    out = {}
    for c in cameras:
        # The best score, ties to the smaller id: the first of `rank`.
        out[c] = min(boxes, key=lambda bw: (-bw[1] * _key(bw[0], c), bw[0]))[0]
    return out


_GRANT_LUA = f"""
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local now = redis.call('TIME')
local floor = tonumber(now[1]) * {1000 * TOKENS_PER_MS}
    + math.floor(tonumber(now[2]) / 1000) * {TOKENS_PER_MS}
local n = redis.call('INCR', KEYS[2])
local m = math.max(floor, tonumber(ARGV[3]) + 1)
if n < m then
  n = m
  redis.call('SET', KEYS[2], string.format('%.0f', n))
end
local token = string.format('%.0f', n)
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. token, 'PX', ARGV[2])
return token
"""

#: 1 renewed; 0 the key is gone (expired, Redis restarted); -1 another box holds it.
_RENEW_LUA = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then return 0 end
return -1
"""

_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class LeaseState:
    """A camera's lease as Redis holds it."""

    camera_id: str
    box_id: str | None
    token: int | None
    ttl_left_ms: int | None


class LeaseStore:
    """The cluster's Redis keys; every method is one round trip or one script."""

    def __init__(self, client: redis.Redis, prefix: str, ttl_s: float) -> None:
        self.r = client
        self.prefix = prefix
        self.tag = hash_tag(prefix)
        self.ttl_ms = int(ttl_s * 1000)
        self._grant = client.register_script(_GRANT_LUA)
        self._renew = client.register_script(_RENEW_LUA)
        self._release = client.register_script(_RELEASE_LUA)

    def lease_key(self, camera_id: str) -> str:
        return f"{self.tag}:lease:{camera_id}"

    def camera_key(self, kind: str, camera_id: str) -> str:
        """Shared state of a camera (lookout/fleet/state.py): `seen`, `stops`."""
        return f"{self.tag}:{kind}:{camera_id}"

    def box_key(self, box_id: str) -> str:
        return f"{self.tag}:box:{box_id}"

    def fence(self, camera_id: str, token: int) -> Fence:
        return Fence(self.lease_key(camera_id), token)

    def now_ms(self) -> int:
        sec, usec = self.r.time()
        return int(sec) * 1000 + int(usec) // 1000

    # -- leases ---------------------------------------------------------------------
    def acquire(self, camera_id: str, box_id: str, seen: int = 0) -> int | None:
        """`SET lease NX PX ttl` with a fresh token (> `seen`); None if another holds it."""
        got = self._grant(
            keys=[self.lease_key(camera_id), f"{self.tag}:token"],
            args=[box_id, self.ttl_ms, seen],
        )
        return None if got is None else int(got)

    def renew(self, camera_id: str, box_id: str, token: int) -> int:
        """1 renewed, 0 gone, -1 held by another token."""
        return int(
            self._renew(keys=[self.lease_key(camera_id)], args=[f"{box_id}:{token}", self.ttl_ms])
        )

    def release(self, camera_id: str, box_id: str, token: int) -> bool:
        """Compare-and-delete: only this box's own lease with this token goes."""
        return bool(self._release(keys=[self.lease_key(camera_id)], args=[f"{box_id}:{token}"]))

    def leases(self, camera_ids: list[str]) -> list[LeaseState]:
        pipe = self.r.pipeline(transaction=False)
        for cid in camera_ids:
            pipe.get(self.lease_key(cid))
            pipe.pttl(self.lease_key(cid))
        replies = pipe.execute()
        out = []
        for i, cid in enumerate(camera_ids):
            value, pttl = replies[2 * i], replies[2 * i + 1]
            if value is None:
                out.append(LeaseState(cid, None, None, None))
                continue
            box, _, token = str(value).rpartition(":")
            out.append(LeaseState(cid, box, int(token), int(pttl) if pttl >= 0 else None))
        return out

    def try_move(self, box_id: str, every_s: float) -> bool:
        """The fleet-wide gate of gentle moves: True at most once per `every_s`."""
        if every_s <= 0:
            return True
        return bool(self.r.set(f"{self.tag}:move", box_id, nx=True, px=int(every_s * 1000)))

    # -- heartbeats -----------------------------------------------------------------
    def beat(self, box_id: str, weight: float, held: Mapping[str, int], since_ms: int) -> int:
        """Write this box's heartbeat; returns its `since_ms`: kept while the previous
        heartbeat still lived, else now (the box is back: the hold-down restarts)."""
        now = self.now_ms()
        key = self.box_key(box_id)
        alive = self.r.exists(key) and since_ms > 0
        since = since_ms if alive else now
        body = {"weight": weight, "since_ms": since, "beat_ms": now, "held": dict(held)}
        pipe = self.r.pipeline(transaction=True)
        pipe.set(key, json.dumps(body, separators=(",", ":")), px=self.ttl_ms)
        pipe.sadd(f"{self.tag}:boxes", box_id)
        pipe.execute()
        return since

    def drop_beat(self, box_id: str) -> None:
        self.r.delete(self.box_key(box_id))

    def boxes(self) -> tuple[dict[str, Box], list[str]]:
        """Live boxes by id, and the ids of boxes seen before whose heartbeat expired."""
        ids = sorted(str(b) for b in self.r.smembers(f"{self.tag}:boxes"))
        if not ids:
            return {}, []
        values = self.r.mget([self.box_key(b) for b in ids])
        live: dict[str, Box] = {}
        gone = []
        for box_id, value in zip(ids, values, strict=True):
            if value is None:
                gone.append(box_id)
                continue
            d = json.loads(value)
            held = {str(k): int(v) for k, v in d.get("held", {}).items()}
            live[box_id] = Box(
                box_id, float(d["weight"]), int(d["since_ms"]), held, int(d["beat_ms"])
            )
        return live, gone
