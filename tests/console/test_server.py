"""The console's HTTP server with a stand-in daemon: probes, pages, the API, logins,
CSRF, the viewer role, DNS-rebinding protection, no credential in any answer."""

from __future__ import annotations

import dataclasses
import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lookout.config.app import CameraConfig
from lookout.config.daemon import HttpConfig
from lookout.console.auth import Access
from lookout.console.security import SecuritySetup
from lookout.console.server import ConsoleParts, open_console
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import CameraInfo, StatusBoard
from lookout.console.views import Console
from lookout.runtime.camera import CameraSnapshot
from lookout.streams.frame import replace
from lookout.zones.stationary import STATIC_CLASS, analysis_classes
from tests.support.helpers import dets, frame, wait_until

SECRET = "pw-9f3k"


def snap(cid: str, state: str = "streaming") -> CameraSnapshot:
    return CameraSnapshot(cid, state, 10, 10, 0, 5, 0, 0, 1, 0.1, None, None)


@dataclass
class FakeHost:
    """The ConsoleHost a test controls."""

    cameras: list[CameraInfo] = field(default_factory=list)
    calls: int = 0

    def console_cameras(self) -> list[CameraInfo]:
        self.calls += 1
        return self.cameras

    def health(self) -> tuple[int, dict[str, Any]]:
        return 200, {"status": "ok"}

    def render_metrics(self) -> bytes:
        return b"lookout_up 1\n"

    def deliveries(self) -> dict[str, dict[str, int]]:
        return {"redis": {"pending": 3, "delivered": 7, "rejected": 0}}


def camera() -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam1",
            "source": f"rtsp://op:{SECRET}@127.0.0.1:8554/cam?token={SECRET}",
            "zones": [
                {
                    "id": "z1",
                    "polygon": [[10, 10], [100, 10], [100, 80]],
                    "policies": [{"type": "illegal_parking", "classes": ["car"], "dwell_s": 5}],
                }
            ],
        }
    )


def start(
    tmp_path: Path, users: Path | None = None, **console: object
) -> tuple[ConsoleParts, FakeHost]:
    """A console on a free port; with `users`, that accounts file (docs/ACCOUNTS.md)."""
    host = FakeHost([CameraInfo(camera(), snap("cam1"))])
    cfg = HttpConfig.model_validate({"port": 0, "console": console})
    security = SecuritySetup(tmp_path / "console.db", users)
    parts = open_console(cfg, host, ["person", "car"], tmp_path, security=security)
    parts.start()
    assert parts.store is not None
    img = np.zeros((120, 160, 3), np.uint8)
    parts.store.observe(
        replace(frame(1.0, camera="cam1"), image=img), dets((10, 10, 50, 50, 0.9, 1, 7)), []
    )
    return parts, host


class Client:
    """urllib with a cookie jar, like a browser session."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def call(
        self, path: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        req = urllib.request.Request(self.base + path, data=data, headers=headers or {})
        try:
            with self.opener.open(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def csrf(self, page: str = "/login") -> str:
        _, _, body = self.call(page)
        m = re.search(rb'name="csrf_token" value="([^"]+)"', body)
        assert m, body[:300]
        return m.group(1).decode()

    def login(self, password: str, user: str = "") -> int:
        return self.call("/login", self.login_form(password, user))[0]

    def login_form(self, password: str, user: str = "") -> bytes:
        """The login form's body with this session's CSRF token."""
        fields = {"csrf_token": self.csrf(), "username": user, "password": password}
        return urllib.parse.urlencode(fields).encode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@pytest.fixture()
def open_console_(tmp_path: Path) -> Iterator[tuple[ConsoleParts, FakeHost]]:
    parts, host = start(tmp_path)
    yield parts, host
    parts.stop()


def test_probes_pages_and_api_from_memory(open_console_: tuple[ConsoleParts, FakeHost]) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    assert c.call("/healthz")[2] == b'{"status":"ok"}'
    code, headers, body = c.call("/metrics")
    assert (
        code == 200
        and body == b"lookout_up 1\n"
        and headers["content-type"].startswith("text/plain")
    )
    code, headers, body = c.call("/cameras")
    assert code == 200 and b'id="tiles"' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert c.call("/static/cameras.js")[0] == 200
    cams = json.loads(c.call("/api/cameras")[2])["cameras"]
    assert cams[0]["id"] == "cam1" and cams[0]["state"] == "streaming"
    assert cams[0]["source"] == "rtsp://127.0.0.1:8554/cam"
    code, headers, jpg = c.call("/api/cameras/cam1/snapshot.jpg")  # waits for the encoder
    assert code == 200 and jpg[:2] == b"\xff\xd8" and headers["content-type"] == "image/jpeg"
    detail = json.loads(c.call("/api/cameras/cam1")[2])
    assert detail["zones"][0]["id"] == "z1"
    assert detail["overlay"]["detections"] == [
        {"box": [10.0, 10.0, 50.0, 50.0], "label": "car", "confidence": 0.9, "track": 7}
    ]
    health = json.loads(c.call("/api/health")[2])
    assert health["sinks"]["redis"]["pending"] == 3 and health["cameras"][0]["id"] == "cam1"
    for path in ("/api/cameras", "/api/cameras/cam1", "/api/health", "/cameras"):
        assert SECRET not in c.call(path)[2].decode()
    assert c.call("/api/cameras/nope")[0] == 404
    # A page on another site that rebinds its name to 127.0.0.1 is refused.
    assert c.call("/api/cameras", headers={"Host": "evil.example"})[0] == 400


def test_posts_need_the_csrf_token(open_console_: tuple[ConsoleParts, FakeHost]) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    token = c.csrf("/cameras")
    assert c.call("/api/cameras/cam1/snapshot", b"{}")[0] == 403
    bad = {"X-CSRF-Token": "x" * 43}
    assert c.call("/api/cameras/cam1/snapshot", b"{}", bad)[0] == 403
    code, _, body = c.call("/api/cameras/cam1/snapshot", b"{}", {"X-CSRF-Token": token})
    saved = json.loads(body)["saved"]
    assert code == 200 and (parts.console.out_dir / saved).is_file()  # type: ignore[union-attr]
    code, _, body = c.call("/api/cameras/cam1/acknowledge", b"{}", {"X-CSRF-Token": token})
    assert code == 200 and json.loads(body)["acknowledged"]["state"] == "streaming"


def test_login_roles_and_logout(tmp_path: Path) -> None:
    parts, _ = start(
        tmp_path, require_login=True, operator_password="op-pass-1", viewer_password="view-pass-2"
    )
    try:
        c = Client(parts.port)
        assert c.call("/cameras")[0] == 303  # to /login
        assert c.call("/api/cameras")[0] == 401
        assert c.call("/healthz")[0] == 200  # probes stay open
        assert c.login("wrong") == 401
        assert c.call("/login", b"password=op-pass-1")[0] == 403  # no CSRF token
        assert c.login("view-pass-2") == 303
        token = c.csrf("/cameras")
        assert json.loads(c.call("/api/session")[2])["role"] == "viewer"
        assert c.call("/api/cameras")[0] == 200
        for action in ("snapshot", "acknowledge"):
            code, _, body = c.call(f"/api/cameras/cam1/{action}", b"{}", {"X-CSRF-Token": token})
            assert code == 403 and b"read-only" in body
        assert not (tmp_path / "console" / "snapshots").exists()
        assert c.call("/logout", f"csrf_token={token}".encode())[0] == 303
        assert c.call("/api/cameras")[0] == 401
        assert c.login("op-pass-1") == 303
        token = c.csrf("/cameras")
        assert c.call("/api/cameras/cam1/snapshot", b"{}", {"X-CSRF-Token": token})[0] == 200
    finally:
        parts.stop()


def test_the_status_board_is_the_only_caller_of_the_host(
    open_console_: tuple[ConsoleParts, FakeHost],
) -> None:
    parts, host = open_console_
    c = Client(parts.port)
    before = host.calls
    for _ in range(5):
        c.call("/api/cameras")
        c.call("/api/cameras/cam1")
    # Requests read memory; the board asks twice a second at most while a browser looks.
    assert host.calls - before <= 4
    host.cameras = [CameraInfo(camera(), snap("cam1", "backoff"))]
    assert wait_until(
        lambda: json.loads(c.call("/api/cameras")[2])["cameras"][0]["state"] == "backoff", 3
    )


def test_quality_incidents_go_to_the_history_and_the_report(tmp_path: Path) -> None:
    """Each incident that starts is written once to the history, which the period
    report counts (lookout/report/figures.py)."""
    from datetime import UTC, datetime, timedelta
    from types import MappingProxyType

    from lookout.console.snapshots import SnapshotStore
    from lookout.console.state import StatusBoard
    from lookout.quality.monitor import QualityIssue, QualityState
    from lookout.report.figures import ConsoleHistory
    from lookout.report.health_store import HealthHistory

    start = datetime.now(UTC) - timedelta(minutes=5)

    def quality(incidents: int, active: bool) -> QualityState:
        issue = QualityIssue(
            "blur",
            "default",
            active,
            start if active else None,
            0.1,
            start,
            0.4,
            incidents,
            None,
        )
        issues = MappingProxyType({"blur": issue})
        return QualityState(
            "cam1", True, "default", start, False, issues, MappingProxyType({"default": issues})
        )

    path = tmp_path / "console.db"
    history = HealthHistory.open(path)
    host = FakeHost()
    now = [0.0]
    board = StatusBoard(host, SnapshotStore(), history, interval_s=10, clock=lambda: now[0])
    for t, n, active in [
        (0, 0, False),
        (10, 1, True),
        (20, 1, True),
        (30, 1, False),
        (40, 2, True),
    ]:
        now[0] = float(t)
        host.cameras = [
            CameraInfo(camera(), dataclasses.replace(snap("cam1"), quality=quality(n, active)))
        ]
        board.refresh()
    history.close()
    report = ConsoleHistory(path)
    (figures,) = report.cameras(start - timedelta(hours=1), datetime.now(UTC) + timedelta(hours=1))
    assert report.quality_recorded()
    assert figures.camera_id == "cam1" and figures.incidents == {"blur": 2}


def test_overlay_labels_static_objects_by_their_class(tmp_path: Path) -> None:
    """docs/CONSOLE.md, "Web console": a box of the scene model's synthetic class
    `static_object` (appended after the model's classes by `analysis_classes`) comes out
    of the debug overlay labelled static_object, beside the detector's own boxes."""
    names, _ = analysis_classes(["person", "car"], {"person": ["person"]})
    assert names[2] == STATIC_CLASS
    store = SnapshotStore()
    host = FakeHost([CameraInfo(camera(), snap("cam1"))])
    http = HttpConfig.model_validate({"port": 0})
    board = StatusBoard(host, store, None)
    console = Console(host, store, board, None, Access.from_config(http), names, tmp_path)
    assert console.overlay_json("cam1") is None  # no analysed frame yet
    tracked = dets((10, 10, 50, 50, 0.9, 1, 7), (60, 70, 90, 100, 1.0, 2, 8))
    store.observe(frame(1.0, camera="cam1"), tracked, [])
    overlay = console.overlay_json("cam1")
    assert overlay is not None and (overlay["width"], overlay["height"]) == (160, 120)
    assert overlay["detections"] == [
        {"box": [10.0, 10.0, 50.0, 50.0], "label": "car", "confidence": 0.9, "track": 7},
        {"box": [60.0, 70.0, 90.0, 100.0], "label": "static_object", "confidence": 1.0, "track": 8},
    ]
