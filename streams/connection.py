"""What a reader's connection is: its states and counters (read by metrics and
/healthz), why it ended, and the FFmpeg options it opens with (streams/live_reader.py
runs it; docs/ARCHITECTURE.md, "Live streams")."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import av.error

from lookout.base.redact import redact
from lookout.streams.settings import StreamConfig


class ReaderState(enum.Enum):
    #: Configured, reader not started yet (only the daemon's health reports it).
    STARTING = "starting"
    CONNECTING = "connecting"
    STREAMING = "streaming"
    STALLED = "stalled"
    BACKOFF = "backoff"
    STOPPED = "stopped"


class PresetSource(Protocol):
    """Where a reader learns the PTZ preset a frame belongs to (None: moving)."""

    def current(self) -> str | None: ...

    def settled_at(self, t: float) -> str | None:
        """The preset if the camera has been settled there since monotonic time `t`."""
        ...


@dataclass(slots=True)
class ReaderStats:
    """Counters of one reader; read by metrics and /healthz."""

    #: Pictures (access units) that arrived; the no-frames watchdog counts these.
    frames_received: int = 0
    #: Whole pictures handed on for sampling: every decoded one in rate modes, the due
    #: ones in keyframes mode (what the decoder produced: `decoder_stats.decoded`).
    pictures_delivered: int = 0
    frames_sampled: int = 0
    frames_skipped_moving: int = 0
    reconnects: int = 0
    connects: int = 0
    last_frame_monotonic: float | None = None
    last_picture_monotonic: float | None = None
    last_error: str | None = None
    recoveries_s: list[float] = field(default_factory=list)
    #: Codec and picture size of the stream ("hevc 1280x720"), and how many times a new
    #: session brought another one (a camera's profile switch).
    profile: str | None = None
    profile_changes: int = 0
    #: CPU-bound stage times (seconds, summed): reading packets, decoding, to BGR.
    demux_s: float = 0.0
    decode_s: float = 0.0
    convert_s: float = 0.0


#: When a picture arrived: (monotonic s, wall clock in the site's time zone).
Stamp = tuple[float, datetime]


class StreamStalled(Exception):
    """No frame within the stall timeout, or the stream ended."""


def is_file_source(source: str) -> bool:
    return "://" not in source or source.startswith("file:")


def describe_error(exc: BaseException) -> str:
    """A short, credential-free reason for a failed open or read."""
    text = redact(str(exc))
    low = text.lower()
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in low:
        return "connection refused"
    if "401" in low or "unauthorized" in low:
        return "authentication failed (check the user and password)"
    if "404" in low or "not found" in low:
        return "stream not found (check the path)"
    if isinstance(exc, av.error.ExitError | TimeoutError) or "timed out" in low:
        return "no answer in time"
    if isinstance(exc, StreamStalled):
        return str(exc)
    return text.splitlines()[0] if text else exc.__class__.__name__


def ffmpeg_options(cfg: StreamConfig) -> dict[str, str]:
    """Fast-open RTSP options: ~0.15 s to open instead of ~2.8 s with the defaults.

    No `fflags=nobuffer`: it throws away the packets read while probing, which are the
    start of the first keyframe, so the first whole picture would wait a whole GOP
    (10 s on a long I-frame interval) — docs/ARCHITECTURE.md, "Live streams".
    """
    return {
        "rtsp_transport": cfg.transport,
        "analyzeduration": "0",
        "probesize": "32768",
    }
