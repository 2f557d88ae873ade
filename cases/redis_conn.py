"""One way to connect to Redis for the cases layer (the Redis Stream sink, the shared
dedup store and the false alarms that ride on it): plain `redis://`, TLS `rediss://`,
and AUTH.

    redis://[[user]:password@]host:port/db        plain TCP
    rediss://[[user]:password@]host:port/db       TLS; the server's certificate is
                                                  verified (CA file: `ssl_ca_certs`,
                                                  default: the system's CAs) and so is
                                                  its host name

A password alone authenticates the `default` user (`requirepass`); `user:password`
an ACL user. Write them as `${ENV}` or `${file:…}` references in the YAML
(lookout/base/secrets.py): the URL is resolved when the config loads, and the
credentials never appear in logs or errors (`where` names the server without them).

`describe_error` turns any failure into one line: a refused password says so, without
the password; a TLS failure says it was TLS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from lookout.base.redact import redact, split_credentials


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """A Redis URL taken apart for messages: `where` never holds the user-info."""

    url: str
    where: str
    tls: bool
    secrets: tuple[str, ...]

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        scheme = urlsplit(url).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"Redis URL must start with redis://, rediss:// or unix://, got {redact(url)!r}"
            )
        plain, _user, password = split_credentials(url)
        secrets = tuple(s for s in (password,) if s)
        return cls(url=url, where=redact(plain), tls=scheme == "rediss", secrets=secrets)

    def clean(self, text: str) -> str:
        """`text` on one line, with the URL's password masked."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return " ".join(redact(text).split())


def connect_kwargs(target: RedisTarget, ssl_ca_certs: str | None) -> dict[str, Any]:
    """Keyword arguments for `redis.Redis.from_url` beyond the URL (TLS options)."""
    if ssl_ca_certs is None:
        return {}
    if not target.tls:
        raise ValueError(f"ssl_ca_certs is set but {target.where} is not a rediss:// URL")
    return {"ssl_ca_certs": ssl_ca_certs}


def open_redis(
    url: str,
    *,
    ssl_ca_certs: str | None = None,
    timeout_s: float = 2.0,
    **options: Any,
) -> tuple[redis.Redis, RedisTarget]:
    """A client for `url` (nothing is sent yet) and its target. Raises ValueError with a
    message that never holds the password."""
    target = RedisTarget.parse(url)
    try:
        client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            **connect_kwargs(target, ssl_ca_certs),
            **options,
        )
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid Redis URL {target.where}: {target.clean(str(exc))}") from None
    return client, target


def is_auth_error(exc: BaseException) -> bool:
    """Redis refused the credentials (wrong password, unknown or disabled ACL user), or
    wants some and none were given."""
    if isinstance(exc, redis.AuthenticationError | redis.AuthenticationWrongNumberOfArgsError):
        return True
    text = str(exc)
    return isinstance(exc, redis.ResponseError) and text.startswith(("NOAUTH", "WRONGPASS"))


def describe_error(target: RedisTarget, exc: BaseException) -> str:
    """One line about a failed Redis call: where, what, never the password."""
    detail = target.clean(str(exc))
    if is_auth_error(exc):
        return f"redis {target.where}: authentication failed (check the password/user): {detail}"
    if target.tls and "SSL" in detail.upper():
        return f"redis {target.where}: TLS failed: {detail}"
    return f"redis {target.where}: {type(exc).__name__}: {detail}"
