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
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from lookout.media import (  # noqa: F401  (re-exported for the tests)
    cached_h264_mp4,
    make_1080p25,
    make_h264_mp4,
    media_cache_dir,
    vtest_avi,
    vtest_h264,
)

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
