"""Test media: MP4 clips made with PyAV, and a local RTSP server to stream them.

`make_h264_mp4` re-encodes footage with libx264 (no B-frames, fixed GOP, yuv420p, one
slice per frame) into an MP4 that GStreamer's `qtdemux ! h264parse ! rtph264pay` can
stream without re-encoding; its options (and `vtest_clip`) make the other shapes
cameras send: H.265, several slices per picture, irregular keyframes, AAC audio
(`CLIP_SHAPES`: the shapes of the `clip_*` fixtures of tests/streams). The
results are cached by the source's SHA-256 and the encoding parameters under
`$LOOKOUT_CACHE/media` (else `~/.cache/lookout/media`) or a folder the caller names.
`probe_clip` says what a clip file holds (codec, slices, keyframe times, audio).

`start_rtsp_server` launches `tests/support/rtsp_server.py` with the *system*
`/usr/bin/python3` (Debian's GStreamer RTSP server is not in the venv), waits for its
`READY <port>` line and returns an `RtspServer` handle. It streams H.264 or H.265
(and an AAC track if the file has one) as they are in the file.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import av

from lookout.clips.media import (  # noqa: F401  (re-exported for the tests)
    cached_h264_mp4,
    make_1080p25,
    make_h264_mp4,
    media_cache_dir,
    vtest_avi,
    vtest_clip,
    vtest_h264,
)

# Keyframe times (s) of the `irregular` shape: intervals of 0.3 s to 10 s, like a
# camera with a "smart" codec that stretches the I-frame interval in static scenes.
IRREGULAR_KEYFRAMES_S: tuple[float, ...] = (0, 1, 11, 13, 23, 23.3, 33.3, 43.3, 45, 55, 65, 66, 76)
# `vtest_clip` keyword arguments of the clip shapes real cameras send; the `clip_NAME`
# fixtures of tests/streams are `vtest_clip(**CLIP_SHAPES[NAME])` (79.5 s, 768x576,
# 10 fps); every shape not named here is the default (H.264, 1 slice, 1 s GOP, no audio).
CLIP_SHAPES: dict[str, dict[str, Any]] = {
    "slices4": {"slices": 4},
    "hevc": {"codec": "hevc"},
    "audio": {"audio": "aac"},
    "hevc_audio": {"codec": "hevc", "slices": 4, "audio": "aac"},
    "gop10": {"gop_s": 10.0},
    "irregular": {"keyframes_at": IRREGULAR_KEYFRAMES_S},
}


@dataclass
class ClipInfo:
    """What an MP4 clip holds (`probe_clip`): the video codec (FFmpeg's name, "h264"
    or "hevc") and sample entry ("avc1", "hvc1"), size, frames, duration (s), the
    times (s) of its keyframe packets, how many of them are IDR pictures, the number
    of slices of each picture (as a set), and the audio track if any."""

    codec: str
    tag: str
    size: tuple[int, int]
    frames: int
    duration_s: float
    keyframes_s: list[float] = field(default_factory=list)
    idr_keyframes: int = 0
    slices: set[int] = field(default_factory=set)
    audio_codec: str | None = None
    audio_rate: int = 0
    audio_channels: int = 0
    audio_duration_s: float = 0.0
    # Stream of each packet in file order ("v"/"a"): how the two are interleaved.
    order: str = ""


def _nal_units(data: bytes, length_size: int = 4) -> Iterator[bytes]:
    """The NAL units of a length-prefixed (MP4) sample."""
    pos = 0
    while pos + length_size <= len(data):
        n = int.from_bytes(data[pos : pos + length_size], "big")
        yield data[pos + length_size : pos + length_size + n]
        pos += length_size + n


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    return 0.0 if value is None or time_base is None else float(value * time_base)


def probe_clip(path: Path) -> ClipInfo:
    """Demux `path` (no decoding) and describe it: see `ClipInfo`. Slices are the
    VCL NAL units of each sample (H.264 types 1-5, H.265 types 0-31), IDR pictures
    those whose slices are IDR (H.264 type 5, H.265 types 19-20)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        ctx = video.codec_context
        hevc = ctx.name == "hevc"
        audio = container.streams.audio[0] if container.streams.audio else None
        info = ClipInfo(
            codec=ctx.name,
            tag=video.codec_tag,
            size=(ctx.width, ctx.height),
            frames=0,
            duration_s=_seconds(video.duration, video.time_base),
        )
        if audio is not None:
            info.audio_codec = audio.codec_context.name
            info.audio_rate = audio.rate
            info.audio_channels = audio.channels
            info.audio_duration_s = _seconds(audio.duration, audio.time_base)
        order: list[str] = []
        for packet in container.demux():
            if packet.size == 0:
                continue
            order.append("v" if packet.stream.type == "video" else "a")
            if packet.stream.type != "video":
                continue
            info.frames += 1
            types = [(u[0] >> 1) & 0x3F if hevc else u[0] & 0x1F for u in _nal_units(bytes(packet))]
            vcl = [t for t in types if (t < 32 if hevc else 1 <= t <= 5)]
            info.slices.add(len(vcl))
            if packet.is_keyframe and packet.pts is not None:
                info.keyframes_s.append(round(_seconds(packet.pts, packet.time_base), 3))
                if vcl and all((t in (19, 20)) if hevc else t == 5 for t in vcl):
                    info.idr_keyframes += 1
        info.order = "".join(order)
    return info


SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).resolve().parent / "rtsp_server.py"
# rtsp_server.py exit codes (kept in step with the script).
EXIT_NO_GSTREAMER = 3
EXIT_BIND_FAILED = 4
READY_TIMEOUT_S = 10.0


class RtspServerError(RuntimeError):
    """The test RTSP server could not start (the message includes its log)."""


class _BindError(RtspServerError):
    pass


class RtspServer:
    """A `tests/support/rtsp_server.py` process run by the system `/usr/bin/python3`.

    `mounts` maps a path (`"/cam"` or `"cam"`) to an MP4 (H.264 or H.265, and its
    AAC track if any, streamed as they are); every client gets its own pipeline
    that loops the file forever. `start()` waits (at most
    `ready_timeout` s) for the `READY <port>` line; `port` is then the bound port
    (kept by `restart()`). stderr goes to a temp log file (`log_path`, `log_text()`).
    """

    def __init__(
        self,
        mounts: Mapping[str, Path],
        *,
        user: str | None = None,
        password: str | None = None,
        port: int = 0,
        python: Path = SYSTEM_PYTHON,
        ready_timeout: float = READY_TIMEOUT_S,
        params_per_slice: bool = False,
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        if not mounts:
            raise ValueError("at least one mount is needed")
        self.mounts = {"/" + m.lstrip("/"): Path(f) for m, f in mounts.items()}
        #: Parameter sets before every slice: multi-slice keyframes arrive split.
        self.params_per_slice = params_per_slice
        self.user = user
        self.password = password
        self.python = python
        self.ready_timeout = ready_timeout
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        fd, name = tempfile.mkstemp(prefix="lookout-rtsp-", suffix=".log")
        os.close(fd)
        self.log_path = Path(name)
        self.open_s: float | None = None  # how long the last start took

    # -- lifecycle -------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port == 0:
            raise RuntimeError("RTSP server not started")
        return self._port

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RtspServer:
        """Launch the server and wait for READY; raise `RtspServerError` if it exits
        first or stays silent for `ready_timeout` s."""
        if self.running:
            raise RuntimeError("RTSP server already running")
        if not self.python.is_file():
            raise RtspServerError(
                f"{self.python} not found: the test RTSP server needs the system Python "
                "with python3-gi and gir1.2-gst-rtsp-server-1.0"
            )
        self._launch()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, wait up to `timeout` s, then SIGKILL. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if proc.stdin is not None:  # (stdout is closed by its reader thread at EOF)
            with contextlib.suppress(OSError):
                proc.stdin.close()

    def restart(self, bind_retry_s: float = 3.0) -> None:
        """Stop and start again on the same port (clients see an outage). Binding is
        retried for up to `bind_retry_s` s should the port still be busy."""
        if self._port == 0:
            raise RuntimeError("RTSP server was never started")
        self.stop()
        deadline = time.monotonic() + bind_retry_s
        while True:
            try:
                self._launch()
                return
            except _BindError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def close(self) -> None:
        """Stop and delete the log file."""
        self.stop()
        self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> RtspServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses -------------------------------------------------------------------

    def url(self, mount: str = "/cam", user: str | None = None, password: str | None = None) -> str:
        """`rtsp://[user:password@]127.0.0.1:PORT/mount` (credentials percent-quoted)."""
        auth = ""
        if user is not None:
            auth = quote(user, safe="")
            if password is not None:
                auth += ":" + quote(password, safe="")
            auth += "@"
        return f"rtsp://{auth}127.0.0.1:{self.port}/{mount.lstrip('/')}"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- internals -------------------------------------------------------------------

    def _command(self) -> list[str]:
        cmd = [str(self.python), str(SERVER_SCRIPT), "--port", str(self._port), "--watch-stdin"]
        for mount, path in self.mounts.items():
            cmd += ["--mount", f"{mount}={path}"]
        if self.user is not None and self.password is not None:
            cmd += ["--user", self.user, "--password", self.password]
        if self.params_per_slice:
            cmd.append("--params-per-slice")
        return cmd

    def _launch(self) -> None:
        t0 = time.monotonic()
        with self.log_path.open("a") as log:
            log.write(f"--- start on port {self._port}\n")
            log.flush()
            proc = subprocess.Popen(
                self._command(),
                stdin=subprocess.PIPE,  # closed when this process dies: the server exits
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        lines: queue.Queue[str | None] = queue.Queue()

        def pump() -> None:
            assert proc.stdout is not None
            with proc.stdout:
                for line in proc.stdout:
                    lines.put(line)
            lines.put(None)

        threading.Thread(target=pump, name="rtsp-server-stdout", daemon=True).start()
        deadline = t0 + self.ready_timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self._proc = proc
                self.stop()
                raise RtspServerError(
                    f"RTSP server gave no READY line within {self.ready_timeout:g} s; "
                    f"log:\n{self.log_text()}"
                ) from None
            if line is None:  # stdout closed: the process is exiting
                self._proc = proc
                rc = proc.wait(5)
                self.stop()
                self._fail(rc)
            elif line.startswith("READY "):
                self._port = int(line.split()[1])
                self._proc = proc
                self.open_s = time.monotonic() - t0
                return

    def _fail(self, rc: int) -> None:
        log = self.log_text()
        if rc == EXIT_NO_GSTREAMER:
            raise RtspServerError(
                f"{self.python} lacks the GStreamer RTSP server (python3-gi, "
                f"gir1.2-gst-rtsp-server-1.0): these tests need it.\n{log}"
            )
        if rc == EXIT_BIND_FAILED:
            raise _BindError(f"RTSP server could not bind 127.0.0.1:{self._port}\n{log}")
        raise RtspServerError(f"RTSP server exited with {rc} before READY; log:\n{log}")


def start_rtsp_server(
    mounts: Mapping[str, Path],
    *,
    user: str | None = None,
    password: str | None = None,
    port: int = 0,
    params_per_slice: bool = False,
) -> RtspServer:
    """Start a looping RTSP server for `mounts` ({"/cam": clip.mp4}) on 127.0.0.1 and
    return it once it listens. Use as a context manager or call `close()`."""
    server = RtspServer(
        mounts, user=user, password=password, port=port, params_per_slice=params_per_slice
    )
    try:
        return server.start()
    except BaseException:
        server.close()  # (the error carries the log)
        raise
