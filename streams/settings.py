"""Configuration models of live sources: stream options, reconnect policy, ONVIF/PTZ.

Part of the YAML schema (`cameras[].stream`, `cameras[].onvif`); kept beside the
readers that use them. Every model forbids unknown keys and describes every field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lookout.base.backoff import BackoffConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StreamConfig(_Model):
    """How a live stream is opened, sampled and watched."""

    transport: Literal["tcp", "udp"] = Field(default="tcp", description="RTSP transport.")
    analysis_mode: Literal["rate", "every_nth", "keyframes"] = Field(
        default="rate",
        description="rate: decode every picture, analyse about `analysis_fps` frames/s; "
        "every_nth: one picture in `every_n`; keyframes: about `analysis_fps` frames/s, "
        "decoding keyframes when they come often enough and decoding forward from the "
        "last keyframe only when a picture is due (cheapest; the rate holds on long "
        "I-frame intervals).",
    )
    every_n: int = Field(default=25, ge=1, description="For every_nth: analyse one frame in N.")
    open_timeout_s: float = Field(default=5.0, gt=0, description="Time allowed to connect.")
    stall_timeout_s: float = Field(
        default=5.0,
        gt=0,
        description="No packet for this long: the stream is stalled, reconnect.",
    )
    keyframe_timeout_s: float = Field(
        default=12.0,
        gt=0,
        description="Packets arrive but no whole picture is decoded for this long (plus "
        "`stall_timeout_s`): reconnect. Above the longest I-frame interval the cameras "
        "use (up to 10 s in static scenes).",
    )
    queue_size: int = Field(
        default=4, ge=1, le=1000, description="Frames buffered; the oldest is dropped when full."
    )
    queue_policy: Literal["drop_oldest", "drop_newest"] = Field(
        default="drop_oldest",
        description="When analysis falls behind and the queue is full: drop_oldest keeps "
        "the newest picture (freshest; every picture beyond what the box holds is decoded "
        "for nothing); drop_newest keeps the queued ones and does not decode a picture "
        "the queue cannot take (keyframes mode; other modes skip its conversion), so an "
        "overloaded box analyses what it holds, with older pictures.",
    )
    backoff: BackoffConfig = Field(default_factory=BackoffConfig, description="Reconnect delays.")
    skip_loop_filter: bool = Field(
        default=False,
        description="Skip H.264/HEVC deblocking while decoding: ~15% less decode CPU, "
        "slightly blockier pictures. For many cameras on a small box.",
    )
    loop: bool = Field(
        default=False, description="File sources in the daemon: start again at the end."
    )
    reader_nice: int = Field(
        default=0,
        ge=0,
        le=19,
        description="Nice value of this camera's reader thread (demux, decode, convert): "
        "above 0, the detector and the analysis get the cores first, so a saturated box "
        "decodes fewer pictures instead of decoding pictures its queues then drop. For "
        "many cameras on a small box (benchmarks/README.md).",
    )
    decoder: Literal["cpu", "nvdec"] = Field(
        default="cpu",
        description="cpu: FFmpeg's software decoder; nvdec: NVIDIA's (h264_cuvid, "
        "hevc_cuvid), falling back to cpu when there is none; the log says which is used.",
    )
    snapshot_source: str | None = Field(
        default=None,
        description="Optional main-stream URL for evidence pictures while `source` (the "
        "sub-stream) is analysed.",
    )


class TourStop(_Model):
    """One stop of a tour that lookout drives."""

    preset: str = Field(min_length=1, description="Preset token (or name) to go to.")
    stay_s: float = Field(gt=0, description="Seconds to stay (analysing) at the preset.")


class PtzConfig(_Model):
    """PTZ handling of a tower camera."""

    mode: Literal["none", "follow", "drive"] = Field(
        default="none",
        description="none: fixed camera; follow: the camera runs its own tour and lookout polls "
        "where it is; drive: lookout moves the camera through `tour`.",
    )
    tour: list[TourStop] = Field(default_factory=list, description="Stops for mode=drive.")
    settle_s: float = Field(
        default=2.0, ge=0, description="Seconds after arriving before frames are analysed."
    )
    poll_s: float = Field(default=0.5, gt=0, description="Status poll interval.")
    position_tolerance: float = Field(
        default=0.01, gt=0, description="Pan/tilt/zoom distance that still counts as at a preset."
    )

    @model_validator(mode="after")
    def _tour(self) -> PtzConfig:
        if self.mode == "drive" and not self.tour:
            raise ValueError("mode 'drive' needs a tour")
        return self


class OnvifConfig(_Model):
    """ONVIF device access (stream discovery and PTZ). Credentials never reach logs."""

    host: str = Field(description="Device address (e.g. 127.0.0.1).")
    port: int = Field(default=80, ge=1, le=65535, description="ONVIF HTTP port.")
    username: str = Field(default="", description="ONVIF user.")
    password: SecretStr = Field(default=SecretStr(""), description="ONVIF password.")
    profile: int = Field(default=0, ge=0, description="Media profile index of the main stream.")
    sub_profile: int | None = Field(
        default=None, ge=0, description="Profile index of a sub-stream to analyse (optional)."
    )
    timeout_s: float = Field(default=5.0, gt=0, description="Timeout of one ONVIF request.")
    ptz: PtzConfig = Field(default_factory=PtzConfig, description="PTZ presets and tours.")


class ConsoleConfig(_Model):
    """The web console served beside /healthz and /metrics (lookout/console)."""

    enabled: bool = Field(default=True, description="Serve the web console pages and API.")
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
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class HttpConfig(_Model):
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


class DaemonConfig(_Model):
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
