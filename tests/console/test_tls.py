"""The console over HTTPS (`daemon.http.tls`), plain HTTP off loopback refused unless
`insecure_http`, and the Host names answered off loopback (docs/CONSOLE.md, "TLS and
Host names"). Certificates are made by the `openssl` command for each test."""

from __future__ import annotations

import http.client
import logging
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from lookout.base.errors import ConfigError
from lookout.cli.console import prepare
from lookout.cli.main import main
from lookout.config.app import load_config
from lookout.config.daemon import HttpConfig, TlsConfig
from lookout.console.auth import Access
from lookout.console.server import ConsoleServer, build_app, open_console, start_warnings
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import CameraInfo, StatusBoard
from lookout.console.tls import server_context
from lookout.console.views import Console
from tests.console.conftest import start_lookout
from tests.console.test_server import FakeHost, camera, snap
from tests.support.config import write_config
from tests.support.helpers import free_port, wait_until

PASSWORD = "op-pass-7f2q"
CAMERA = {
    "id": "cam1",
    "source": "rtsp://127.0.0.1:9/cam",
    "zones": [
        {
            "id": "z1",
            "polygon": [[10, 10], [100, 10], [100, 80]],
            "policies": [{"type": "illegal_parking", "classes": ["car"], "dwell_s": 5}],
        }
    ],
}


def make_cert(folder: Path, name: str = "console", cn: str = "localhost") -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1, valid one day, and its
    unencrypted key: (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl not found: run scripts/setup.sh --with-test-deps")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            *["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}"],
            *["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "1"],
            *["-keyout", str(key), "-out", str(cert)],
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def site(tmp_path: Path, http: dict[str, Any], source: str | None = None) -> Path:
    cam = {**CAMERA, "source": source or CAMERA["source"]}
    daemon = {"out_dir": str(tmp_path / "site-out"), "http": http}
    return write_config(tmp_path, [cam], name="site.yaml", daemon=daemon)


def verifying(cert: Path) -> ssl.SSLContext:
    """A client context that trusts `cert` only (and checks the host name)."""
    return ssl.create_default_context(cafile=str(cert))


def fetch(
    url: str, ctx: ssl.SSLContext | None = None, host: str | None = None
) -> tuple[int, Any, bytes]:
    """GET `url` (with `host` as its Host header): status, headers, body."""
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
    req = urllib.request.Request(url, headers={} if host is None else {"Host": host})
    try:
        with opener.open(req, timeout=5) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_console_serves_https_with_hsts_and_a_secure_cookie(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = make_cert(tmp_path)
    console = {"require_login": True, "operator_password": PASSWORD}
    # The certificate's path relative to the config's folder; the key's text from a file.
    tls = {"cert": cert.name, "key": f"${{file:{key}}}"}
    cfg = load_config(site(tmp_path, {"port": 0, "tls": tls, "console": console})).daemon.http
    assert cfg.tls is not None and cfg.tls.cert == str(cert.resolve())
    key_text = key.read_text().strip()
    assert cfg.tls.key.get_secret_value() == key_text and key_text not in repr(cfg)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    caplog.set_level(logging.DEBUG)
    parts = open_console(cfg, FakeHost([CameraInfo(camera(), snap("cam1"))]), ["car"], tmp_path)
    try:
        assert list(scratch.iterdir()) == [], "the key's temporary file is removed"
        parts.start()
        assert parts.scheme == "https"
        base = f"https://127.0.0.1:{parts.port}"
        code, headers, body = fetch(base + "/healthz", verifying(cert))
        assert (code, body) == (200, b'{"status":"ok"}')
        assert headers["strict-transport-security"] == "max-age=31536000"
        code, headers, body = fetch(base + "/login", verifying(cert))
        assert code == 200 and b"csrf_token" in body
        cookie = headers["set-cookie"]
        assert cookie.startswith("lookout_session=") and "; secure" in cookie.lower()
        assert headers["strict-transport-security"] == "max-age=31536000"
        # A client that does not trust the certificate is refused.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            fetch(base + "/healthz", ssl.create_default_context())
        # Plain HTTP to the same port gets no answer.
        with pytest.raises((OSError, http.client.HTTPException)):
            fetch(f"http://127.0.0.1:{parts.port}/healthz")
    finally:
        parts.stop()
    assert key_text not in caplog.text and "BEGIN PRIVATE KEY" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_plain_http_keeps_no_hsts_and_no_secure_cookie(tmp_path: Path) -> None:
    cfg = HttpConfig.model_validate(
        {"port": 0, "console": {"require_login": True, "operator_password": PASSWORD}}
    )
    parts = open_console(cfg, FakeHost([CameraInfo(camera(), snap("cam1"))]), ["car"], tmp_path)
    parts.start()
    try:
        assert parts.scheme == "http"
        code, headers, _ = fetch(f"http://127.0.0.1:{parts.port}/login")
        assert code == 200 and "strict-transport-security" not in headers
        assert "secure" not in headers["set-cookie"].lower()
    finally:
        parts.stop()


def test_a_bad_certificate_or_key_is_one_line_without_the_key(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    other_cert, _ = make_cert(tmp_path, "other", "other")
    key_text = key.read_text().strip()

    def error(cert: Path | str, key: str) -> str:
        with pytest.raises(ConfigError) as exc:
            server_context(TlsConfig(cert=str(cert), key=SecretStr(key)))
        text = str(exc.value)
        assert len(text.splitlines()) == 1 and key_text not in text and "PRIVATE" not in text
        return text

    assert server_context(TlsConfig(cert=str(cert), key=SecretStr(key_text))).minimum_version == (
        ssl.TLSVersion.TLSv1_2
    )
    server_context(TlsConfig(cert=str(cert), key=SecretStr(str(key))))  # a path to the key
    assert error(other_cert, key_text).startswith("daemon.http.tls.key: does not match")
    assert error(key, key_text).startswith("daemon.http.tls.cert:")
    assert error(tmp_path / "nope.crt", key_text).startswith("daemon.http.tls.cert:")
    broken = key_text.splitlines()
    broken = [broken[0], "AAAA" + broken[1][4:], *broken[2:]]
    assert error(cert, "\n".join(broken)).startswith("daemon.http.tls.key: not a PEM")
    assert error(cert, str(tmp_path / "nope.key")).startswith("daemon.http.tls.key:")
    encrypted = tmp_path / "enc.key"
    subprocess.run(
        [
            *["openssl", "pkey", "-in", str(key), "-aes256", "-passout", "pass:abcd"],
            *["-out", str(encrypted)],
        ],
        check=True,
    )
    assert "encrypted" in error(cert, encrypted.read_text())


def test_off_loopback_without_tls_is_refused_at_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    console = {"operator_password": PASSWORD}
    cfg = site(tmp_path, {"host": "0.0.0.0", "console": console})
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "daemon.http.tls" in err and "insecure_http" in err
    assert PASSWORD not in err and not (tmp_path / "site-out").exists()
    # `lookout console --host` goes through the same check.
    cfg = site(tmp_path, {"console": console}, source=str(tmp_path / "rec.mp4"))
    assert main(["console", "--config", str(cfg), "--host", "10.0.0.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "daemon.http.tls" in err
    with pytest.raises(ValidationError, match=r"daemon\.http\.tls"):
        HttpConfig.model_validate({"host": "10.0.0.5", "console": console})


def test_insecure_http_loads_and_is_warned_at_start(tmp_path: Path) -> None:
    http = {"host": "0.0.0.0", "insecure_http": True, "allowed_hosts": ["console.example.org"]}
    cfg = load_config(site(tmp_path, {**http, "console": {"operator_password": PASSWORD}}))
    [warning] = start_warnings(cfg.daemon.http)
    assert "without TLS" in warning and "daemon.http.tls" in warning
    no_names = cfg.daemon.http.model_copy(update={"allowed_hosts": []})
    assert "allowed_hosts" in start_warnings(no_names)[1]
    assert start_warnings(HttpConfig()) == []


def test_console_cli_keeps_tls_with_its_path_resolved(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path)
    http = {"tls": {"cert": cert.name, "key": "console.key"}}
    path = site(tmp_path, http, source=str(tmp_path / "rec.mp4"))
    change = prepare(path, None, tmp_path / "demo", host="127.0.0.1", port=0)
    tls = change(load_config(path)).daemon.http.tls
    assert tls is not None and tls.cert == str(cert.resolve())
    assert tls.key.get_secret_value() == str((tmp_path / "console.key").resolve())
    server_context(tls)


def serve_as(http: HttpConfig, tmp_path: Path, tls: ssl.SSLContext | None) -> ConsoleServer:
    """`build_app` for `http` (whose host may be any address) served on 127.0.0.1."""
    host = FakeHost([CameraInfo(camera(), snap("cam1"))])
    store = SnapshotStore(interval_s=1.0, active_for_s=10.0, max_width=640, quality=80)
    board = StatusBoard(host, store, None, 10.0)
    console = Console(host, store, board, None, Access.from_config(http), ["car"], tmp_path)
    server = ConsoleServer(build_app(console, http, console), "127.0.0.1", 0, tls)
    server.start()
    return server


def test_host_names_off_loopback_are_the_bind_address_and_the_allowed_ones(
    tmp_path: Path,
) -> None:
    cert, key = make_cert(tmp_path)
    http = HttpConfig.model_validate(
        {
            "host": "10.0.0.5",
            "tls": {"cert": str(cert), "key": str(key)},
            "allowed_hosts": ["Console.Example.org", "*.lookout.example"],
            "console": {"operator_password": PASSWORD},
        }
    )
    assert http.tls is not None
    server = serve_as(http, tmp_path, server_context(http.tls))
    url = f"https://127.0.0.1:{server.port}"
    ctx = verifying(cert)
    try:
        for name in ("10.0.0.5", "10.0.0.5:9108", "console.example.org", "cam.lookout.example"):
            code, headers, _ = fetch(url + "/healthz", ctx, name)
            assert code == 200, name
            assert headers["strict-transport-security"] == "max-age=31536000"
        for name in ("evil.example", "127.0.0.1", "localhost", "lookout.example"):
            assert fetch(url + "/healthz", ctx, name)[0] == 400, name
        code, headers, _ = fetch(url + "/login", ctx, "10.0.0.5")
        assert code == 200 and "secure" in headers["set-cookie"].lower()
    finally:
        server.stop()
    # On loopback only the loopback names, whatever allowed_hosts says.
    loop = HttpConfig.model_validate({"host": "127.0.0.1", "allowed_hosts": ["10.0.0.5"]})
    server = serve_as(loop, tmp_path, None)
    url = f"http://127.0.0.1:{server.port}"
    try:
        code, headers, _ = fetch(url + "/healthz")
        assert code == 200 and "strict-transport-security" not in headers
        assert fetch(url + "/healthz", host="10.0.0.5")[0] == 400
    finally:
        server.stop()
    with pytest.raises(ValidationError, match="allowed_hosts"):
        HttpConfig.model_validate({"allowed_hosts": ["https://console.example.org"]})


@pytest.mark.slow
def test_lookout_console_serves_https(tmp_path: Path, assets: Path) -> None:
    cert, key = make_cert(tmp_path)
    port = free_port()
    http = {"tls": {"cert": cert.name, "key": f"${{file:{key.name}}}"}}
    cfg = site(tmp_path, http)
    video = assets / "footage" / "vtest.avi"
    args = ["console", "--config", str(cfg), "--source", str(video), "--port", str(port)]
    proc = start_lookout([*args, "--out", str(tmp_path / "demo")], tmp_path, port)
    base = f"https://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: fetch(base + "/healthz", verifying(cert))[0] == 200, 60), (
            proc.log()[-3000:]
        )
        headers = fetch(base + "/cameras", verifying(cert))[1]
        assert headers["strict-transport-security"] == "max-age=31536000"
    finally:
        code = proc.stop()
    log = proc.log()
    assert code == 0, log[-3000:]
    assert f"on https://127.0.0.1:{port}/" in log
    assert key.read_text().strip().splitlines()[1] not in log
