"""The console's named accounts: a YAML file beside the config (docs/ACCOUNTS.md).

    version: 1
    users:
      - name: wang.li          # the id alphabet of lookout/base/ids.py
        role: operator         # viewer | operator | admin
        password: scrypt$16384$8$1$...   # a hash only, never a password
        language: zh-CN        # optional: the console's language for this person
        disabled: false
        generation: 3          # grows at every passwd/disable/role change: ends sessions

Every box of a fleet reads the same file (a shared mount or a copy). `lookout users`
changes it under an exclusive lock and replaces it atomically, so the daemon never
reads half a file; `UsersFile.cache` re-reads it when it changes on disk, so a
disabled account's sessions end at its next request."""

from __future__ import annotations

import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, field_validator

from lookout.base.errors import ConfigError
from lookout.base.i18n import Language
from lookout.base.ids import ID_ALPHABET, ID_PATTERN
from lookout.base.model import StrictModel
from lookout.base.passwords import PasswordHash
from lookout.base.yamlfile import load_model

RoleName = Literal["viewer", "operator", "admin"]
ROLES: tuple[RoleName, ...] = ("viewer", "operator", "admin")
#: How often a running console looks whether the file changed.
RECHECK_S = 1.0


class User(StrictModel):
    """One person who may log in to the console."""

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description=f"Login name: {ID_ALPHABET}; compared without case.",
    )
    role: RoleName = Field(description="viewer: looks; operator: judges and edits; admin: all.")
    password: str = Field(description="scrypt hash from `lookout users add|passwd`.")
    language: Language | None = Field(default=None, description="Console language (zh-CN, en).")
    disabled: bool = Field(default=False, description="A disabled account cannot log in.")
    generation: int = Field(default=0, ge=0, description="Bumped when a session must end.")
    created: str = Field(default="", description="When the account was added (ISO 8601).")

    @field_validator("password")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        try:
            PasswordHash.parse(value, "password")
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("password: ")) from None
        return value

    @property
    def key(self) -> str:
        return self.name.casefold()


class UsersFile(StrictModel):
    """The whole file."""

    version: Literal[1] = Field(default=1, description="File format version.")
    users: list[User] = Field(default_factory=list, description="The accounts.")

    @field_validator("users")
    @classmethod
    def _unique(cls, users: list[User]) -> list[User]:
        seen: set[str] = set()
        for u in users:
            if u.key in seen:
                raise ValueError(f"user {u.name!r} appears twice")
            seen.add(u.key)
        return users

    def find(self, name: str) -> User | None:
        key = name.casefold()
        return next((u for u in self.users if u.key == key), None)

    def replace(self, user: User) -> UsersFile:
        """This file with `user` added, or put in place of the account of its name."""
        users = [u for u in self.users if u.key != user.key]
        at = next((i for i, u in enumerate(self.users) if u.key == user.key), len(users))
        users.insert(at, user)
        return UsersFile(users=users)


def load_users(path: Path) -> UsersFile:
    """The accounts in `path`; a missing file has none. Errors: one line naming the
    file and the key (ConfigError)."""
    if not path.is_file():
        return UsersFile()
    return load_model(path, UsersFile, "users file")


def _dump(users: UsersFile) -> str:
    data = users.model_dump(mode="json", exclude_defaults=False)
    for u in data["users"]:
        if u["language"] is None:
            del u["language"]
    head = "# lookout console accounts: change with `lookout users` (docs/ACCOUNTS.md)\n"
    return head + yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on `path`'s lock file, for one read-change-write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def change_users(path: Path, edit: Callable[[UsersFile], UsersFile]) -> UsersFile:
    """Read, `edit`, write back atomically (mode 0600: it holds hashes), under a lock."""
    with locked(path):
        users = edit(load_users(path))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".part")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(_dump(users))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return users


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class UsersCache:
    """The file's accounts for a running console, re-read when the file's mtime, size
    or inode change (checked at most every RECHECK_S). A file that became unreadable
    keeps the last good accounts and logs nothing here: `problem` says why."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._checked = -1e18
        self._users = UsersFile()
        self.problem: str | None = None
        if path is not None and path.exists():
            self._users = load_users(path)  # a broken file at start: ConfigError
            self._stamp = _stamp(path)
        self._checked = clock()

    def current(self) -> UsersFile:
        if self.path is None:
            return self._users
        with self._lock:
            now = self._clock()
            if now - self._checked < RECHECK_S:
                return self._users
            self._checked = now
            stamp = _stamp(self.path)
            if stamp != self._stamp:
                try:
                    self._users = load_users(self.path) if stamp else UsersFile()
                    self.problem = None
                except ConfigError as exc:
                    self.problem = str(exc)
                self._stamp = stamp
            return self._users

    def find(self, name: str) -> User | None:
        return self.current().find(name)


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)
