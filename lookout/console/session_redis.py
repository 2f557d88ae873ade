"""The console's sessions and login failures in Redis, for a fleet (`cluster:`,
docs/FLEET.md, docs/ACCOUNTS.md): a login on one box is valid on every box, a logout
or a disabled account ends it on all of them, and guesses spread over the boxes count
together. Keys live under the cluster's prefix and expire on their own:

    {prefix}:console:secret                 the cookie-signing secret (SET NX)
    {prefix}:console:session:{sid_key}      hash of a SessionRecord, TTL = what is left
    {prefix}:console:user:{user}            set of a user's session keys
    {prefix}:console:fail:{scope}:{key}     sorted set of failure times, TTL = window
    {prefix}:console:lock:{scope}:{key}     lockout end, TTL = lockout
"""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any

import redis

from lookout.console.session_store import Failures, SessionRecord

#: Lifetime of a user's set of session keys (longer than any session may last).
USER_SET_TTL_S = 31 * 86400


class RedisSecurityStore:
    """`SecurityStore` on a Redis client made with `decode_responses=True`."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.r = client
        self.p = f"{prefix}:console"

    def _s(self, key: str) -> str:
        return f"{self.p}:session:{key}"

    def _u(self, user: str) -> str:
        return f"{self.p}:user:{user.casefold()}"

    def secret(self) -> str:
        self.r.set(f"{self.p}:secret", secrets.token_urlsafe(48), nx=True)
        return str(self.r.get(f"{self.p}:secret"))

    def get(self, key: str) -> SessionRecord | None:
        h: dict[str, Any] = self.r.hgetall(self._s(key))  # type: ignore[assignment]
        if not h:
            return None
        return SessionRecord(
            h["user"],
            h["role"],
            int(h["generation"]),
            h["shared"] == "1",
            float(h["created"]),
            float(h["last_seen"]),
            h["address"],
        )

    def put(self, key: str, record: SessionRecord, ttl_s: float) -> None:
        r = record
        fields: dict[str, Any] = {
            "user": r.user,
            "role": r.role,
            "generation": r.generation,
            "shared": "1" if r.shared else "0",
            "created": r.created,
            "last_seen": r.last_seen,
            "address": r.address,
        }
        ms = max(1000, int(ttl_s * 1000))
        pipe = self.r.pipeline()
        pipe.hset(self._s(key), mapping=fields)  # type: ignore[arg-type]
        pipe.pexpire(self._s(key), ms)
        pipe.sadd(self._u(r.user), key)
        pipe.expire(self._u(r.user), USER_SET_TTL_S)  # outlives its sessions
        pipe.execute()

    def touch(self, key: str, last_seen: float, ttl_s: float) -> None:
        pipe = self.r.pipeline()
        pipe.hset(self._s(key), "last_seen", last_seen)
        pipe.pexpire(self._s(key), max(1000, int(ttl_s * 1000)))
        pipe.execute()

    def delete(self, key: str) -> None:
        self.r.delete(self._s(key))

    def delete_user(self, user: str) -> int:
        keys = list(self.r.smembers(self._u(user)))
        if not keys:
            return 0
        n = int(self.r.delete(*[self._s(k) for k in keys]))  # type: ignore[arg-type]
        self.r.delete(self._u(user))
        return n

    def fail(self, scope: str, key: str, t: float, window_s: float) -> Failures:
        k = f"{self.p}:fail:{scope}:{key}"
        pipe = self.r.pipeline()
        pipe.zadd(k, {f"{t}:{uuid.uuid4().hex[:8]}": t})
        pipe.pexpire(k, max(1000, int(window_s * 1000)))
        pipe.execute()
        return self.failures(scope, key, t, window_s)

    def failures(self, scope: str, key: str, t: float, window_s: float) -> Failures:
        k = f"{self.p}:fail:{scope}:{key}"
        pipe = self.r.pipeline()
        pipe.zremrangebyscore(k, "-inf", t - window_s)
        pipe.zcard(k)
        pipe.zrange(k, -1, -1, withscores=True)
        _, count, last = pipe.execute()
        return Failures(int(count), float(last[0][1]) if last else None)

    def clear(self, scope: str, key: str) -> None:
        self.r.delete(f"{self.p}:fail:{scope}:{key}")

    def lock(self, scope: str, key: str, until: float) -> None:
        ttl = max(1000, int((until - time.time()) * 1000))
        self.r.set(f"{self.p}:lock:{scope}:{key}", until, px=ttl)

    def locked_until(self, scope: str, key: str, t: float) -> float | None:
        v = self.r.get(f"{self.p}:lock:{scope}:{key}")
        if v is None:
            return None
        until = float(v)
        return until if until > t else None

    def prune(self, t: float, max_age_s: float) -> None:
        """Nothing to do: every key expires by itself."""

    def close(self) -> None:
        self.r.close()
