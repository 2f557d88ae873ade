"""A `redis-server` on a free loopback port, without persistence, for tests;
optionally TLS only (a throwaway CA and server certificate made with the `openssl` CLI)
and a password (`requirepass`). The root conftest's `redis_server` fixture is one of
these shared by the session (flushed before each test); a test that stops, restarts or
reconfigures its server takes `private_redis` or starts its own `RedisServer`."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from tests.support.helpers import free_port, wait_until


@dataclass(frozen=True)
class TlsFiles:
    """PEM files: the CA that signed the server certificate, the certificate and its key."""

    ca: Path
    cert: Path
    key: Path


def make_tls_files(folder: Path) -> TlsFiles:
    """A throwaway CA and a server certificate for 127.0.0.1 / localhost (P-256 keys,
    valid 1 day), made with the `openssl` CLI."""
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("openssl not found: apt-get install openssl")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.crt", folder / "ca.key"
    cert, key, csr = folder / "server.crt", folder / "server.key", folder / "server.csr"
    ext = folder / "server.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_ext = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    steps = [
        ["req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1"],
        ["req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"],
    ]
    steps[0] += ["-subj", "/CN=lookout test CA", "-addext", ca_ext[0], "-addext", ca_ext[1]]
    steps[2] += ["-out", cert, "-days", "1", "-extfile", ext]
    for step in steps:
        subprocess.run([exe, *map(str, step)], check=True, capture_output=True, timeout=30)
    return TlsFiles(ca=ca, cert=cert, key=key)


class RedisServer:
    """`redis-server` bound to 127.0.0.1 only; `stop()`/`start()` keep the port, so
    tests can take Redis down and bring it back (an outage). With `tls` it listens on
    TLS only (`rediss://`, no client certificates); with `password` it wants AUTH."""

    def __init__(
        self,
        port: int | None = None,
        *,
        tls: TlsFiles | None = None,
        password: str | None = None,
    ) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self.exe = exe
        self.port = port or free_port()
        self.tls = tls
        self.password = password
        self.dir = Path(tempfile.mkdtemp(prefix="lookout-redis-"))
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL without credentials (redis://, or rediss:// with TLS)."""
        return f"{'rediss' if self.tls else 'redis'}://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _listen_args(self) -> list[str]:
        if self.tls is None:
            args = ["--port", str(self.port)]
        else:
            args = ["--port", "0", "--tls-port", str(self.port)]
            args += ["--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)]
            args += ["--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        return args

    def _ping(self) -> bytes:
        """One PING on a fresh connection (TLS when configured): the raw reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
            if self.tls is None:
                raw.sendall(b"PING\r\n")
                return raw.recv(64)
            ctx = ssl.create_default_context(cafile=str(self.tls.ca))
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                s.sendall(b"PING\r\n")
                return s.recv(64)

    def start(self, timeout: float = 10.0) -> RedisServer:
        args = [
            self.exe,
            "--bind",
            "127.0.0.1",
            *self._listen_args(),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--protected-mode",
            "yes",
        ]
        proc = self._proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

        def answers() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}")
            return self._ping().startswith((b"+PONG", b"-NOAUTH"))

        if wait_until(answers, timeout):
            return self
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def stream_entries(url: str, stream: str = "lookout:cases") -> list[dict[str, str]]:
    """Every entry of a Redis stream (the case sink's `lookout:cases` by default), its
    fields decoded, oldest first."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        got: Any = client.xrange(stream, "-", "+")
        return [dict(fields) for _eid, fields in got]
    finally:
        client.close()
