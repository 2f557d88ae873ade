"""Password hashes: scrypt with its parameters in one string, `scrypt$N$r$p$salt$hash`.

Used for the console's accounts (lookout/config/users.py) and its shared role
passwords (docs/ACCOUNTS.md). A hash is compared in constant time; a plain password is
never stored nor logged. `read_password` reads one without echo from a terminal, or
one line from a pipe."""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass

from lookout.base.errors import ConfigError

#: scrypt cost: 16 MiB of memory, ~50 ms per check on a small box.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
HASH_PREFIX = "scrypt$"
#: Shortest password `lookout users` accepts.
MIN_PASSWORD_LEN = 8


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
        if out.n > 2**20 or out.r > 32 or out.p > 16:  # a hash file must not exhaust the box
            raise ConfigError(f"{key}: scrypt parameters too large")
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


#: Compared against when an account does not exist, so the time taken does not tell.
DUMMY_HASH = PasswordHash.make("lookout-no-such-account", salt=b"\0" * 16)


def hash_password(password: str) -> str:
    """The stored form of `password`: `scrypt$N$r$p$salt$hash`."""
    return PasswordHash.make(password).encode()


def read_password(prompt: str = "password: ", confirm: bool = False) -> str:
    """A password from the terminal without echo (asked twice with `confirm`), or the
    first line of stdin when it is not a terminal; empty → ConfigError."""
    if sys.stdin.isatty():
        password = getpass.getpass(prompt)
        if confirm and getpass.getpass("again: ") != password:
            raise ConfigError("password: the two entries differ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise ConfigError("password: empty")
    return password
