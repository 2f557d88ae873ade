"""Configuration models of live sources: stream options, reconnect policy, ONVIF/PTZ.

Part of the YAML schema (`cameras[].stream`, `cameras[].onvif`); kept beside the
readers that use them. Every model forbids unknown keys and describes every field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from lookout.base.backoff import BackoffConfig
from lookout.base.model import StrictModel


class StreamConfig(StrictModel):
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
        description="When analysis falls behind: drop_oldest (live) analyses the freshest "
        "pictures: a full queue drops its oldest, and a reader whose queue still holds a "
        "picture an analysis period (at least 0.5 s) older than the due one does not "
        "make it (keyframes "
        "mode: does not decode it), so an overloaded box decodes only what it analyses; "
        "drop_newest keeps the queued pictures and makes a new one only when the queue "
        "has room (older pictures analysed).",
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
        default=10,
        ge=0,
        le=19,
        description="Nice value of this camera's reader thread (demux, decode, convert): "
        "above 0, the detector and the analysis get the cores first, so a saturated box "
        "decodes fewer pictures instead of decoding pictures its queues then drop (0: "
        "the readers compete with the detector; docs/OPERATIONS.md).",
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


class TourStop(StrictModel):
    """One stop of a tour that lookout drives."""

    preset: str = Field(min_length=1, description="Preset token (or name) to go to.")
    stay_s: float = Field(gt=0, description="Seconds to stay (analysing) at the preset.")


class PtzConfig(StrictModel):
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


class OnvifConfig(StrictModel):
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
