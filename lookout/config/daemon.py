"""`daemon:` — the settings of `lookout run`: its output folder, log format, batching,
shutdown, and the one HTTP server with the web console (lookout/daemon/,
lookout/console/)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from lookout.base.i18n import Language
from lookout.base.model import StrictModel


class LoginThrottleConfig(StrictModel):
    """Password guessing: per account and per address, an exponential delay between
    failures and a lockout after too many (docs/ACCOUNTS.md)."""

    account_failures: int = Field(
        default=5, ge=1, description="Failures of one account within window_s that lock it."
    )
    address_failures: int = Field(
        default=20, ge=1, description="Failures from one address within window_s that lock it."
    )
    window_s: float = Field(default=900.0, gt=0, description="Seconds failures are counted.")
    lockout_s: float = Field(default=900.0, ge=0, description="Seconds a lockout lasts.")
    delay_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="After the n-th failure of an account, tries sooner than "
        "delay_s * 2^(n-1) seconds are refused without checking the password.",
    )


class ConsoleConfig(StrictModel):
    """The web console served beside /healthz and /metrics (lookout/console)."""

    enabled: bool = Field(default=True, description="Serve the web console pages and API.")
    language: Language = Field(
        default="en",
        description="The site's language for the console, the report and evidence labels "
        "(zh-CN or en); a browser's Accept-Language and the page's switch come first "
        "(docs/I18N.md).",
    )
    require_login: bool = Field(
        default=False,
        description="Ask for a password on a loopback address too (always asked elsewhere).",
    )
    operator_password: SecretStr = Field(
        default=SecretStr(""),
        description="Password of the operator role, e.g. ${LOOKOUT_CONSOLE_PASSWORD}, or a "
        "hash from `lookout console --hash-password`; kept in memory only as a hash.",
    )
    viewer_password: SecretStr = Field(
        default=SecretStr(""),
        description="Password of the read-only viewer role (optional; same forms).",
    )
    users_file: str = Field(
        default="users.yaml",
        description="Named accounts, made with `lookout users` (relative: the config's "
        "folder; docs/ACCOUNTS.md). A missing file has no accounts.",
    )
    session_max_age_s: int = Field(
        default=8 * 3600,
        ge=60,
        le=30 * 86400,
        description="Seconds a login lasts at most, however active (absolute lifetime).",
    )
    session_idle_s: int = Field(
        default=30 * 60, ge=60, description="A session unused this many seconds ends."
    )
    login_throttle: LoginThrottleConfig = Field(
        default_factory=lambda: LoginThrottleConfig(),
        description="Slows down and locks out password guessing (docs/ACCOUNTS.md).",
    )
    snapshot_interval_s: float = Field(
        default=1.0, ge=0.2, description="Shortest time between two JPEG encodes of a camera."
    )
    active_for_s: float = Field(
        default=10.0,
        gt=0,
        description="Snapshots are encoded only while a browser asked within this many seconds.",
    )
    snapshot_max_width: int = Field(
        default=1280, ge=160, description="Snapshots wider than this are scaled down."
    )
    jpeg_quality: int = Field(default=80, ge=10, le=100, description="JPEG quality of snapshots.")
    history_interval_s: float = Field(
        default=10.0, ge=1.0, description="Seconds between two samples of the camera history."
    )
    history_days: float = Field(
        default=7.0, gt=0, le=366, description="Camera history older than this is pruned."
    )


def is_loopback(host: str) -> bool:
    """True for a loopback bind address (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_pem(text: str) -> bool:
    """True for PEM text (a key given inline), False for a path to a file."""
    return text.lstrip().startswith("-----BEGIN")


class TlsConfig(StrictModel):
    """HTTPS for the daemon's server (docs/CONSOLE.md, "TLS and Host names")."""

    cert: str = Field(
        min_length=1,
        description="PEM certificate chain: the server's certificate first, then any "
        "intermediates (relative: config).",
    )
    key: SecretStr = Field(
        description="The private key as PEM text, normally ${file:/etc/lookout/console.key}; "
        "a value that does not start with -----BEGIN is a path to the key file "
        "(relative: config). Unencrypted; never logged.",
    )

    @field_validator("key")
    @classmethod
    def _key_given(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("required (PEM text or a path to the key file)")
        return value

    def absolute(self, resolve: Callable[[str], Path]) -> TlsConfig:
        """The same with the certificate's path, and the key's when it is a path,
        resolved by `resolve` (the config's `path`: relative to its folder)."""
        update: dict[str, object] = {"cert": str(resolve(self.cert))}
        key = self.key.get_secret_value()
        if not is_pem(key):
            update["key"] = SecretStr(str(resolve(key)))
        return self.model_copy(update=update)


#: A Host name to accept: a DNS name, an IPv4 address, or `*.domain`.
_HOST_NAME = re.compile(r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9-]+)*\.?")


class HttpConfig(StrictModel):
    """The daemon's HTTP server: /healthz, /metrics and the web console."""

    enabled: bool = Field(default=True, description="Serve /healthz, /metrics and the console.")
    host: str = Field(default="127.0.0.1", description="Bind address (loopback by default).")
    port: int = Field(default=9108, ge=0, le=65535, description="Port; 0 picks a free one.")
    tls: TlsConfig | None = Field(
        default=None,
        description="Serve HTTPS with this certificate and key; required on an address that "
        "is not loopback unless insecure_http is true.",
    )
    insecure_http: bool = Field(
        default=False,
        description="Allow plain HTTP on an address that is not loopback (passwords and the "
        "session cookie then cross the network in clear; warned at every start).",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host header names accepted off loopback besides the bind address itself "
        "(e.g. console.example.org, 10.0.0.5, *.example.org); others get 400. On loopback "
        "only the loopback names are accepted.",
    )
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, description="The web console (lookout/console)."
    )

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _HOST_NAME.fullmatch(name):
                raise ValueError(f"{name!r}: not a host name (no scheme, port or path)")
        return [name.lower() for name in names]  # as browsers send them

    @model_validator(mode="after")
    def _login_and_tls_off_loopback(self) -> HttpConfig:
        c = self.console
        problems = []
        needs = c.require_login or not is_loopback(self.host)
        # With a users file the accounts are checked when the console starts (its file).
        no_login = not c.operator_password.get_secret_value() and not c.users_file
        if c.enabled and needs and no_login:
            why = "require_login is set" if c.require_login else f"host {self.host} is not loopback"
            problems.append(f"console.users_file or operator_password: required ({why})")
        op, viewer = c.operator_password.get_secret_value(), c.viewer_password.get_secret_value()
        if op and op == viewer:
            problems.append("console.viewer_password: must differ from operator_password")
        if self.tls is None and not self.insecure_http and not is_loopback(self.host):
            problems.append(
                f"tls: required, host {self.host} is not loopback: set daemon.http.tls "
                "(cert and key), or insecure_http: true to serve plain HTTP"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DaemonConfig(StrictModel):
    """Settings of `lookout run`."""

    out_dir: str = Field(
        default="lookout-out", description="Folder for the outbox and evidence (relative: config)."
    )
    http: HttpConfig = Field(default_factory=HttpConfig, description="Health/metrics server.")
    log_format: Literal["text", "json"] = Field(default="text", description="Log line format.")
    max_batch_wait_ms: float = Field(
        default=20.0, ge=0, description="Longest wait to fill a detector batch."
    )
    shutdown_timeout_s: float = Field(
        default=8.0, gt=0, description="Time allowed to stop, drain and flush on SIGTERM."
    )
