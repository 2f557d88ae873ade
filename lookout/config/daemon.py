"""`daemon:` — the settings of `lookout run`: its output folder, log format, batching,
shutdown, and the one HTTP server with the web console (lookout/daemon/,
lookout/console/)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from lookout.base.i18n import Language
from lookout.base.model import StrictModel


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
    session_max_age_s: int = Field(
        default=8 * 3600, ge=60, description="Seconds a login lasts (the session cookie)."
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


class HttpConfig(StrictModel):
    """The daemon's HTTP server: /healthz, /metrics and the web console."""

    enabled: bool = Field(default=True, description="Serve /healthz, /metrics and the console.")
    host: str = Field(default="127.0.0.1", description="Bind address (loopback by default).")
    port: int = Field(default=9108, ge=0, le=65535, description="Port; 0 picks a free one.")
    console: ConsoleConfig = Field(
        default_factory=ConsoleConfig, description="The web console (lookout/console)."
    )

    @model_validator(mode="after")
    def _login_off_loopback(self) -> HttpConfig:
        c = self.console
        needs = c.require_login or not is_loopback(self.host)
        if c.enabled and needs and not c.operator_password.get_secret_value():
            why = "require_login is set" if c.require_login else f"host {self.host} is not loopback"
            raise ValueError(f"console.operator_password: required ({why})")
        op, viewer = c.operator_password.get_secret_value(), c.viewer_password.get_secret_value()
        if op and op == viewer:
            raise ValueError("console.viewer_password: must differ from operator_password")
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
