"""Who may use the console: password hashes, roles, sessions and CSRF tokens.

Passwords come from the config (`daemon.http.console.*_password`, usually `${ENV}`
references, lookout/base/secrets.py) and are kept in memory only as scrypt hashes; a
value may also be a hash made by `lookout console --hash-password`. A login stores
the role in a signed session cookie (Starlette's SessionMiddleware, HttpOnly,
SameSite=Strict) together with a random CSRF token that every state-changing request
must echo (header `X-CSRF-Token` or form field `csrf_token`).

Roles: `operator` may act (take a snapshot, acknowledge an outage, ...), `viewer`
only looks. Without a login (loopback and `require_login` off) everyone is operator.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from lookout.base.errors import ConfigError
from lookout.config.daemon import ConsoleConfig, HttpConfig, is_loopback

#: scrypt cost: 16 MiB of memory, ~50 ms per check on a small box.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
HASH_PREFIX = "scrypt$"
#: Session keys.
ROLE_KEY, CSRF_KEY = "role", "csrf"
CSRF_HEADER, CSRF_FIELD = "X-CSRF-Token", "csrf_token"


class Role(enum.Enum):
    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def can_act(self) -> bool:
        return self is Role.OPERATOR


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """An scrypt hash with its parameters: `scrypt$N$r$p$salt$hash` (base64 parts)."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def make(cls, password: str, salt: bytes | None = None) -> PasswordHash:
        salt = salt if salt is not None else secrets.token_bytes(16)
        digest = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
        )
        return cls(SCRYPT_N, SCRYPT_R, SCRYPT_P, salt, digest)

    @classmethod
    def parse(cls, text: str, key: str) -> PasswordHash:
        """Read `scrypt$N$r$p$salt$hash`; `key` names the setting in the error."""
        try:
            _, n, r, p, salt, digest = text.split("$")
            out = cls(int(n), int(r), int(p), base64.b64decode(salt), base64.b64decode(digest))
        except ValueError:
            raise ConfigError(f"{key}: not a valid scrypt$N$r$p$salt$hash value") from None
        if out.n < 2 or out.n & (out.n - 1) or out.r < 1 or out.p < 1 or len(out.digest) < 16:
            raise ConfigError(f"{key}: not a valid scrypt$N$r$p$salt$hash value")
        return out

    def encode(self) -> str:
        return f"{HASH_PREFIX}{self.n}${self.r}${self.p}${_b64(self.salt)}${_b64(self.digest)}"

    def matches(self, password: str) -> bool:
        try:
            got = hashlib.scrypt(
                password.encode("utf-8"),
                salt=self.salt,
                n=self.n,
                r=self.r,
                p=self.p,
                dklen=len(self.digest),
                maxmem=256 * 1024 * 1024,
            )
        except ValueError:
            return False
        return hmac.compare_digest(got, self.digest)


def _hash_of(value: str, key: str) -> PasswordHash | None:
    if not value:
        return None
    if value.startswith(HASH_PREFIX):
        return PasswordHash.parse(value, key)
    return PasswordHash.make(value)


@dataclass(frozen=True, slots=True)
class Access:
    """The console's access rules, built once from the config."""

    login_required: bool
    operator: PasswordHash | None
    viewer: PasswordHash | None
    max_age_s: int

    @classmethod
    def from_config(cls, http: HttpConfig, source: str = "config") -> Access:
        """Hash the configured passwords (plain values are dropped here)."""
        c: ConsoleConfig = http.console
        key = f"{source}: daemon.http.console"
        operator = _hash_of(c.operator_password.get_secret_value(), f"{key}.operator_password")
        viewer = _hash_of(c.viewer_password.get_secret_value(), f"{key}.viewer_password")
        required = c.require_login or not is_loopback(http.host)
        if required and operator is None:  # HttpConfig's validator says so first
            raise ConfigError(f"{key}.operator_password: required for a login")
        return cls(required, operator, viewer, c.session_max_age_s)

    def check(self, password: str) -> Role | None:
        """The role a password opens, or None. Both hashes are always computed, so the
        time taken does not tell which one matched."""
        as_operator = self.operator is not None and self.operator.matches(password)
        as_viewer = self.viewer is not None and self.viewer.matches(password)
        if as_operator:
            return Role.OPERATOR
        return Role.VIEWER if as_viewer else None

    def role(self, session: dict[str, Any]) -> Role | None:
        """The role of a request's session; None when a login is needed first."""
        if not self.login_required:
            return Role.OPERATOR
        try:
            return Role(session.get(ROLE_KEY))
        except ValueError:
            return None


def csrf_token(session: dict[str, Any]) -> str:
    """The session's CSRF token, made on first use."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session[CSRF_KEY] = token
    return token


def csrf_ok(session: dict[str, Any], sent: str | None) -> bool:
    """True when `sent` is the session's CSRF token (constant-time compare)."""
    token = session.get(CSRF_KEY)
    if not isinstance(token, str) or not sent:
        return False
    return hmac.compare_digest(token.encode(), sent.encode())


def login(session: dict[str, Any], role: Role) -> None:
    """Start a fresh session for `role` (a new CSRF token: no fixation)."""
    session.clear()
    session[ROLE_KEY] = role.value
    csrf_token(session)


def hash_password(password: str) -> str:
    """The config value for `password`: `scrypt$N$r$p$salt$hash`."""
    return PasswordHash.make(password).encode()
