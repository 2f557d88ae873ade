"""Who may use the console: accounts, shared role passwords, roles, server-side
sessions and CSRF tokens (docs/ACCOUNTS.md).

A person logs in with a named account of the users file (lookout/config/users.py) or,
where the config still has them, with a shared role password
(`daemon.http.console.operator_password` / `viewer_password`, kept in memory only as
scrypt hashes). A login makes a server-side session (lookout/console/session_store.py,
Redis for a fleet): the signed cookie (Starlette's SessionMiddleware, HttpOnly,
SameSite=Strict, Secure with TLS) carries only its random id and the CSRF token that
every state-changing request must echo (header `X-CSRF-Token` or form field
`csrf_token`). A session ends at logout, after `session_idle_s` unused, after
`session_max_age_s` in all, and as soon as its account is disabled, removed, or given
a new password (the account's generation moved on).

Roles: `viewer` only looks; `operator` judges cases, edits zones, acknowledges;
`admin` also reads the audit log. Without a login (loopback and `require_login` off)
the local user is admin.
"""

from __future__ import annotations

import enum
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lookout.base.errors import ConfigError
from lookout.base.i18n import Language
from lookout.base.passwords import DUMMY_HASH, HASH_PREFIX, PasswordHash
from lookout.config.daemon import ConsoleConfig, HttpConfig, is_loopback
from lookout.config.users import UsersCache
from lookout.console.session_store import SecurityStore, SessionRecord, new_session_id, sid_key

#: Session (cookie) keys.
SID_KEY, CSRF_KEY = "sid", "csrf"
CSRF_HEADER, CSRF_FIELD = "X-CSRF-Token", "csrf_token"
#: A session's last use is written at most this often.
TOUCH_EVERY_S = 60.0
#: A session read from the store is trusted this long before it is read again (a
#: logout or a disabled account on another box of a fleet takes effect within it).
RECHECK_S = 1.0


class Role(enum.Enum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def can_act(self) -> bool:
        return self is not Role.VIEWER

    @property
    def is_admin(self) -> bool:
        return self is Role.ADMIN


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request comes from: an account's name (or the role, for a shared role
    password), the role, and the person's console language."""

    user: str
    role: Role
    language: Language | None = None
    shared: bool = False


#: Everyone, where no login is asked.
LOCAL = Identity("local", Role.ADMIN)


def _hash_of(value: str, key: str) -> PasswordHash | None:
    if not value:
        return None
    if value.startswith(HASH_PREFIX):
        return PasswordHash.parse(value, key)
    return PasswordHash.make(value)


@dataclass
class Access:
    """The console's access rules and its sessions, built once from the config."""

    login_required: bool
    operator: PasswordHash | None
    viewer: PasswordHash | None
    max_age_s: int
    idle_s: int = 1800
    users: UsersCache = field(default_factory=lambda: UsersCache(None))
    store: SecurityStore | None = None
    clock: Callable[[], float] = time.time
    _seen: dict[str, tuple[float, SessionRecord]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_config(
        cls,
        http: HttpConfig,
        source: str = "config",
        users_path: Path | None = None,
        store: SecurityStore | None = None,
    ) -> Access:
        """Hash the configured passwords (plain values are dropped here) and read the
        users file; a login that nobody could pass is a ConfigError."""
        c: ConsoleConfig = http.console
        key = f"{source}: daemon.http.console"
        operator = _hash_of(c.operator_password.get_secret_value(), f"{key}.operator_password")
        viewer = _hash_of(c.viewer_password.get_secret_value(), f"{key}.viewer_password")
        required = c.require_login or not is_loopback(http.host)
        users = UsersCache(users_path)
        if (
            required
            and operator is None
            and not any(not u.disabled and u.role != "viewer" for u in users.current().users)
        ):
            where = users_path or "users_file"
            raise ConfigError(
                f"{key}: a login is required but nobody can act: add an operator or admin "
                f"with `lookout users add` ({where}) or set operator_password"
            )
        return cls(required, operator, viewer, c.session_max_age_s, c.session_idle_s, users, store)

    # -- passwords ---------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> Identity | None:
        """The identity `name` and `password` open, or None (blocking: scrypt). An empty
        name tries the shared role passwords; an unknown or disabled account still
        costs one hash, so the time taken does not tell that it does not exist."""
        if not name:
            return self._shared(password)
        user = self.users.find(name)
        if user is None or user.disabled:
            DUMMY_HASH.matches(password)
            return None
        if not PasswordHash.parse(user.password, "password").matches(password):
            return None
        return Identity(user.name, Role(user.role), user.language)

    def _shared(self, password: str) -> Identity | None:
        """Both hashes are always computed, so the time taken does not tell which."""
        as_operator = self.operator is not None and self.operator.matches(password)
        as_viewer = self.viewer is not None and self.viewer.matches(password)
        if as_operator:
            return Identity(Role.OPERATOR.value, Role.OPERATOR, shared=True)
        if as_viewer:
            return Identity(Role.VIEWER.value, Role.VIEWER, shared=True)
        if self.operator is None and self.viewer is None:
            DUMMY_HASH.matches(password)
        return None

    # -- sessions ----------------------------------------------------------------------
    def start(self, session: dict[str, Any], who: Identity, address: str) -> None:
        """A fresh session for `who` (new id and CSRF token: no fixation)."""
        self.end(session)
        sid = new_session_id()
        now = self.clock()
        generation = 0
        if not who.shared:
            user = self.users.find(who.user)
            generation = user.generation if user is not None else 0
        record = SessionRecord(who.user, who.role.value, generation, who.shared, now, now, address)
        if self.store is not None:
            self.store.put(sid_key(sid), record, min(self.idle_s, self.max_age_s))
        session.clear()
        session[SID_KEY] = sid
        csrf_token(session)

    def end(self, session: dict[str, Any]) -> None:
        """Log out: the session is gone from the store, its cookie worth nothing."""
        sid = session.get(SID_KEY)
        if isinstance(sid, str) and self.store is not None:
            key = sid_key(sid)
            self.store.delete(key)
            with self._lock:
                self._seen.pop(key, None)
        session.clear()

    def end_user(self, user: str) -> int:
        """End every session of `user` (all boxes, with a shared store)."""
        if self.store is None:
            return 0
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v[1].user != user}
        return self.store.delete_user(user)

    def identity(self, session: dict[str, Any]) -> Identity | None:
        """Who a request's session belongs to; None when a login is needed first."""
        if not self.login_required:
            return LOCAL
        sid = session.get(SID_KEY)
        if not isinstance(sid, str) or self.store is None:
            return None
        key = sid_key(sid)
        record = self._record(key)
        if record is None:
            return None
        who = self._current(record)
        if who is None:
            self._drop(key)
        return who

    def role(self, session: dict[str, Any]) -> Role | None:
        who = self.identity(session)
        return None if who is None else who.role

    def _record(self, key: str) -> SessionRecord | None:
        mono = time.monotonic()
        with self._lock:
            cached = self._seen.get(key)
        if cached is not None and mono - cached[0] < RECHECK_S:
            record: SessionRecord | None = cached[1]
        else:
            assert self.store is not None
            record = self.store.get(key)
        if record is None:
            self._drop(key)
            return None
        now = self.clock()
        if now - record.created > self.max_age_s or now - record.last_seen > self.idle_s:
            self._drop(key)
            return None
        if now - record.last_seen > TOUCH_EVERY_S:
            record = SessionRecord(**{**_fields(record), "last_seen": now})
            left = self.max_age_s - (now - record.created)
            assert self.store is not None
            self.store.touch(key, now, min(self.idle_s, left))
        with self._lock:
            if len(self._seen) > 10000:  # bounded: stale entries go
                self._seen.clear()
            self._seen[key] = (
                mono if cached is None or mono - cached[0] >= RECHECK_S else cached[0],
                record,
            )
        return record

    def _current(self, record: SessionRecord) -> Identity | None:
        """The session's identity as the accounts say now."""
        if record.shared:
            role = Role(record.role)
            ok = (self.operator if role is Role.OPERATOR else self.viewer) is not None
            return Identity(record.user, role, shared=True) if ok else None
        user = self.users.find(record.user)
        if user is None or user.disabled or user.generation != record.generation:
            return None
        return Identity(user.name, Role(user.role), user.language)

    def _drop(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
        if self.store is not None:
            self.store.delete(key)


def _fields(record: SessionRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in SessionRecord.__slots__}


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
