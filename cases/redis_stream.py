"""Redis Streams sink: each draft case, and each version of its status, becomes one
entry of the stream `lookout:cases`.

Entry fields (all strings) of a case:

    id    the case id: the idempotency key (uuid5, stable across restarts)
    kind  case
    type  illegal_parking | street_vendor | illegal_construction
    case  the case as JSON (the record of docs/DELIVERY.md "Case JSON")

and of a status update (an operator's verdict, docs/CASE_STATUS.md):

    id       <case id>:v<version>: the idempotency key of this version
    kind     status
    case_id  the case it is about
    version  1, 2, ...
    status   confirmed | false_alarm | closed
    update   the status update as JSON

Delivery is idempotent. One atomic Lua script does
`SET lookout:delivered:<id> 1 NX EX <dedup_ttl_s>` and only when that succeeds
`XADD lookout:cases MAXLEN ~ <maxlen> * id ... kind ... ...` (if the XADD fails,
the guard is deleted again, so a failure never swallows a case). A status update has
its own guard per version, `lookout:delivered:<case id>:v<version>`, so the case's
guard never swallows it and each version is added once. A retry after a lost
reply, or after the box restarted between sending and recording, finds the guard
and adds nothing. The stream is capped approximately at `maxlen` entries: consumers
must keep up (100,000 entries ≈ two years of this centre's cases).

Contract for the case system (consumer group `casesys`; dispatch on `kind`, entries
without one are cases):

    XGROUP CREATE lookout:cases casesys $ MKSTREAM        # once; BUSYGROUP = exists
    XREADGROUP GROUP casesys <consumer> COUNT <n> BLOCK <ms> STREAMS lookout:cases >
        → store each case (upsert keyed by the `id` field); apply each status update
          whose `version` is above the case's stored one (docs/CASE_STATUS.md), then
    XACK lookout:cases casesys <entry-id>                  # only after it is stored
    XAUTOCLAIM lookout:cases casesys <consumer> <min-idle-ms> 0-0 COUNT <n>
        → take over entries a crashed consumer read but never acked

A consumer that crashes after storing but before XACK sees the entry again: the `id`
field is the idempotency key, so storing it twice must be a no-op (upsert by `id`).
Entry ids are Redis-assigned (`<ms>-<seq>`) and say nothing about the case.

Redis being down, loading, read-only or out of memory is a `TransientError` (the
delivery worker retries with backoff); so is a refused password, said in one line.
`rediss://` URLs connect over TLS (CA file: `ssl_ca_certs`), `user:password@` in the
URL authenticates (lookout/cases/redis_conn.py); credentials in the URL never appear in
errors or logs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from lookout.cases.delivery import PermanentError, TransientError, one_line
from lookout.cases.redis_conn import describe_error, open_redis
from lookout.cases.status import parse_status_key

DEFAULT_STREAM = "lookout:cases"
DEFAULT_DEDUP_PREFIX = "lookout:delivered:"

# KEYS[1] dedup guard, KEYS[2] stream; ARGV: ttl, maxlen, then the entry's field/value
# pairs. Returns the new entry id, or false when the entry was already added.
_ADD_ONCE = """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then
    return false
end
local ok = redis.pcall('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
if type(ok) == 'table' and ok.err then
    redis.call('DEL', KEYS[1])
    return ok
end
return ok
"""


class RedisStreamSink:
    """Adds each case once to a Redis stream (see the module docstring)."""

    def __init__(
        self,
        url: str,
        stream: str = DEFAULT_STREAM,
        maxlen: int = 100_000,
        socket_timeout: float = 2.0,
        dedup_ttl_s: int = 7 * 86400,
        *,
        name: str = "redis",
        dedup_prefix: str = DEFAULT_DEDUP_PREFIX,
        ssl_ca_certs: str | None = None,
    ) -> None:
        """`url`: redis:// or rediss:// (TLS) with optional `user:password@` (AUTH),
        lookout/cases/redis_conn.py; `ssl_ca_certs`: CA file for rediss://."""
        if maxlen < 1 or dedup_ttl_s < 1:
            raise ValueError("maxlen and dedup_ttl_s must be positive")
        self.name = name
        self.stream = stream
        self.maxlen = maxlen
        self.dedup_ttl_s = int(dedup_ttl_s)
        self.dedup_prefix = dedup_prefix
        self.client, self._target = open_redis(
            url,
            ssl_ca_certs=ssl_ca_certs,
            timeout_s=socket_timeout,
            retry=Retry(NoBackoff(), 0),  # the delivery worker owns retries
            health_check_interval=30,
        )
        self._where = self._target.where  # for messages: never the user-info
        self._script = self.client.register_script(_ADD_ONCE)

    def __repr__(self) -> str:
        return f"RedisStreamSink({self._where!r}, stream={self.stream!r})"

    def _clean(self, exc: BaseException | str) -> str:
        return one_line(self._target.clean(str(exc)))

    def deliver(self, case_json: str, case_id: str) -> None:
        """XADD the case unless its guard key exists; TransientError when Redis is
        unavailable, PermanentError for a body that is not a JSON case."""
        try:
            body: Any = json.loads(case_json)
            case_type = str(body.get("type", "")) if isinstance(body, dict) else ""
        except ValueError as exc:
            raise PermanentError(f"case {case_id}: body is not JSON ({exc})") from None
        self._guarded(lambda: self.add_once(case_id, case_type, case_json))

    def add_once(self, case_id: str, case_type: str, case_json: str) -> str | None:
        """Run the guard-and-XADD script; the new entry id, or None for a duplicate."""
        fields = ["id", case_id, "kind", "case", "type", case_type, "case", case_json]
        return self._add(case_id, fields)

    def deliver_status(self, update_json: str, key: str) -> None:
        """XADD one status version unless its guard `<prefix><case id>:v<n>` exists."""
        try:
            case_id, version = parse_status_key(key)
            body: Any = json.loads(update_json)
            status = str(body["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(f"status {key}: not a status update ({exc})") from None
        fields = ["id", key, "kind", "status", "case_id", case_id, "version", str(version)]
        fields += ["status", status, "update", update_json]
        self._guarded(lambda: self._add(key, fields))

    def _add(self, key: str, fields: list[str]) -> str | None:
        result = self._script(
            keys=[self.dedup_prefix + key, self.stream],
            args=[self.dedup_ttl_s, self.maxlen, *fields],
        )
        if result is None:
            return None
        return result.decode() if isinstance(result, bytes) else str(result)

    def _guarded(self, call: Callable[[], object]) -> None:
        try:
            call()
        except (redis.RedisError, OSError) as exc:
            # Connection refused/reset, timeouts, TLS, LOADING, READONLY, OOM, a refused
            # password: all may clear up (an operator fixes the secret); a case is never
            # dropped for them.
            raise TransientError(one_line(describe_error(self._target, exc))) from None

    def close(self) -> None:
        self.client.close()


class CaseStreamReader:
    """Reference consumer of the contract above (what the case system does), used by
    tests and by `lookout` tools to check a deployment end to end."""

    def __init__(
        self,
        client: redis.Redis,
        stream: str = DEFAULT_STREAM,
        group: str = "casesys",
        consumer: str = "lookout-check",
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer

    def ensure_group(self, start: str = "$") -> bool:
        """XGROUP CREATE ... MKSTREAM; False when the group already exists."""
        try:
            self.client.xgroup_create(self.stream, self.group, id=start, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return False
            raise
        return True

    def read(self, count: int = 100, block_ms: int = 100) -> list[tuple[str, dict[str, str]]]:
        """New entries for this consumer: [(entry id, fields)], not yet acknowledged."""
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
        )
        out: list[tuple[str, dict[str, str]]] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                out.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
        return out

    def ack(self, *entry_ids: str) -> int:
        """XACK after the cases are stored."""
        return int(self.client.xack(self.stream, self.group, *entry_ids))

    def claim_stale(self, min_idle_ms: int, count: int = 100) -> list[str]:
        """XAUTOCLAIM entries another consumer read but did not ack for `min_idle_ms`."""
        reply: Any = self.client.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_ms, "0-0", count=count
        )
        return [_text(entry_id) for entry_id, _fields in reply[1]]

    def pending(self) -> int:
        """How many entries of the group are read but not acknowledged."""
        return int(self.client.xpending(self.stream, self.group)["pending"])


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
