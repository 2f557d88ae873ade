"""Test media: H.264 MP4 clips made with PyAV, and a local RTSP server to stream them.

`make_h264_mp4` re-encodes footage with libx264 (no B-frames, fixed GOP, yuv420p, one
slice per frame) into an MP4 that GStreamer's `qtdemux ! h264parse ! rtph264pay` can
stream without re-encoding. `cached_h264_mp4` (and `vtest_h264`, `make_1080p25`)
cache the result by the source's SHA-256 and the encoding parameters under
`$LOOKOUT_CACHE/media` (else `~/.cache/lookout/media`) or a folder the caller names.

`start_rtsp_server` launches `tests/support/rtsp_server.py` with the *system*
`/usr/bin/python3` (Debian's GStreamer RTSP server is not in the venv), waits for its
`READY <port>` line and returns an `RtspServer` handle.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import av
from av.video.frame import PictureType

from lookout.assets import assets_dir, cache_dir

SYSTEM_PYTHON = Path("/usr/bin/python3")
SERVER_SCRIPT = Path(__file__).resolve().parent / "rtsp_server.py"
# Bump when the encoding recipe changes so stale cache entries are not reused.
_RECIPE = 3
# rtsp_server.py exit codes (kept in step with the script).
EXIT_NO_GSTREAMER = 3
EXIT_BIND_FAILED = 4
READY_TIMEOUT_S = 10.0


def media_cache_dir() -> Path:
    """`$LOOKOUT_CACHE/media`, else `~/.cache/lookout/media` (read at call time)."""
    return cache_dir() / "media"


def vtest_avi() -> Path:
    """The shared `footage/vtest.avi` (768x576, 10 fps, 795 frames, MS-MPEG4)."""
    return assets_dir() / "footage" / "vtest.avi"


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_MEMO[memo_key] = digest.hexdigest()
    return _SHA_MEMO[memo_key]


def make_h264_mp4(
    src: Path,
    dst: Path,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    gop_s: float = 1.0,
    seconds: float | None = None,
    preset: str = "ultrafast",
) -> Path:
    """Re-encode `src` (any format PyAV reads) to an H.264 MP4 at `dst`.

    Size defaults to the source's; `fps` defaults to the source's rate (frames are
    repeated or dropped to reach another rate); `seconds` cuts the clip. Every
    `fps * gop_s` frames is an IDR keyframe (no scene-cut or forced keyframes), no
    B-frames, yuv420p, one slice per frame, main profile (`ultrafast` has no CABAC,
    so x264 signals it as Constrained Baseline), `moov` atom first. Written
    atomically; returns `dst`. About 3.5 s for vtest.avi (79.5 s) on 2 cores.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")
    try:
        with av.open(str(src)) as inp:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            src_rate = vin.average_rate or vin.guessed_rate or Fraction(25)
            rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(src_rate)
            out_w = width or vin.codec_context.width
            out_h = height or vin.codec_context.height
            keyint = max(1, round(float(rate) * gop_s))
            limit = None if seconds is None else round(seconds * float(rate))
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                vout = out.add_stream("libx264", rate=rate)
                vout.width = out_w
                vout.height = out_h
                vout.pix_fmt = "yuv420p"
                vout.codec_context.gop_size = keyint
                vout.codec_context.max_b_frames = 0
                # Frame threads: one slice per frame (slice threads would split each
                # frame into one slice per thread, like few real cameras do).
                vout.codec_context.thread_type = "FRAME"
                vout.options = {
                    "preset": preset,
                    "profile": "main",
                    "g": str(keyint),
                    "keyint_min": str(keyint),
                    "bf": "0",
                    "sc_threshold": "0",
                    "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0",
                }
                written = 0
                for frame in _resampled(inp.decode(vin), rate, src_rate):
                    if limit is not None and written >= limit:
                        break
                    img = frame.reformat(width=out_w, height=out_h, format="yuv420p")
                    img.pts = written
                    # The source's own I-frames would force extra x264 keyframes.
                    img.pict_type = PictureType.NONE
                    img.time_base = 1 / rate
                    out.mux(vout.encode(img))
                    written += 1
                if written == 0:
                    raise RuntimeError(f"{src}: no video frames decoded")
                out.mux(vout.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def cached_h264_mp4(
    src: Path,
    name: str,
    *,
    cache: Path | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    gop_s: float = 1.0,
    seconds: float | None = None,
    preset: str = "ultrafast",
) -> Path:
    """`make_h264_mp4` into `cache` (default `media_cache_dir()`) as `NAME-KEY.mp4`,
    KEY hashing the source's SHA-256 and every encoding parameter; an existing file
    is reused. Safe against concurrent sessions (written to a temp file, renamed)."""
    params = {
        "recipe": _RECIPE,
        "src_sha256": _sha256(src),
        "width": width,
        "height": height,
        "fps": fps,
        "gop_s": gop_s,
        "seconds": seconds,
        "preset": preset,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    dst = (cache or media_cache_dir()) / f"{name}-{key}.mp4"
    if dst.is_file():
        return dst
    return make_h264_mp4(
        src,
        dst,
        width=width,
        height=height,
        fps=fps,
        gop_s=gop_s,
        seconds=seconds,
        preset=preset,
    )


def vtest_h264(cache: Path | None = None, *, seconds: float | None = None) -> Path:
    """`vtest.avi` as H.264 MP4 at its native 768x576, 10 fps, 1 s GOP (795 frames,
    79.5 s; `seconds` cuts it). Cached; about 3.5 s to make on 2 cores."""
    name = "vtest_h264" if seconds is None else f"vtest_h264_{seconds:g}s"
    return cached_h264_mp4(vtest_avi(), name, cache=cache, gop_s=1.0, seconds=seconds)


def make_1080p25(
    cache: Path | None = None,
    *,
    src: Path | None = None,
    seconds: float | None = None,
    preset: str = "veryfast",
) -> Path:
    """A 1920x1080, 25 fps, 1 s GOP H.264 MP4 for benchmarks: `src` (default
    `vtest.avi`, stretched from 4:3 and with frames repeated from 10 fps) upscaled.
    `veryfast` (CABAC, like a camera's main-profile stream) unless told otherwise.
    Cached; the full 79.5 s vtest takes a while to make the first time."""
    return cached_h264_mp4(
        src or vtest_avi(),
        "vtest_1080p25",
        cache=cache,
        width=1920,
        height=1080,
        fps=25.0,
        gop_s=1.0,
        seconds=seconds,
        preset=preset,
    )


def _resampled(
    frames: Iterator[av.VideoFrame], rate: Fraction, src_rate: Fraction
) -> Iterator[av.VideoFrame]:
    """Frames at `rate`: each output slot i (at i / rate seconds from the first frame)
    gets the source frame shown then (timing from pts, else index / src_rate)."""
    step = 1 / float(src_rate)
    out_i = 0
    t0: float | None = None
    for src_i, frame in enumerate(frames):
        t = frame.time if frame.time is not None else src_i * step
        if t0 is None:
            t0 = t
        while out_i / float(rate) < t - t0 + step - 1e-9:
            yield frame
            out_i += 1


class RtspServerError(RuntimeError):
    """The test RTSP server could not start (the message includes its log)."""


class _BindError(RtspServerError):
    pass


class RtspServer:
    """A `tests/support/rtsp_server.py` process run by the system `/usr/bin/python3`.

    `mounts` maps a path (`"/cam"` or `"cam"`) to an H.264 MP4; every client gets
    its own pipeline that loops the file forever. `start()` waits (at most
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
    ) -> None:
        if (user is None) != (password is None):
            raise ValueError("user and password go together")
        if not mounts:
            raise ValueError("at least one mount is needed")
        self.mounts = {"/" + m.lstrip("/"): Path(f) for m, f in mounts.items()}
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
) -> RtspServer:
    """Start a looping RTSP server for `mounts` ({"/cam": clip.mp4}) on 127.0.0.1 and
    return it once it listens. Use as a context manager or call `close()`."""
    server = RtspServer(mounts, user=user, password=password, port=port)
    try:
        return server.start()
    except BaseException:
        server.close()  # (the error carries the log)
        raise
