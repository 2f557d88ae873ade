"""Times a person reads on the console are in the site's time zone (`site.timezone`),
not the server's (issue 27; docs/ARCHITECTURE.md, "Time"): a box set to UTC that
watches a site at UTC+8 shows an acknowledgement, `time` and a snapshot's
`captured_at` at +08:00."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from lookout.config.daemon import HttpConfig
from lookout.console.auth import Access
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import CameraInfo, StatusBoard
from lookout.console.views import Console
from lookout.detector.detections import Detections
from lookout.report.health_store import HealthHistory
from tests.console.conftest import start_lookout
from tests.console.test_server import Client, FakeHost, camera, snap
from tests.support.config import write_config
from tests.support.helpers import frame, free_port, wait_until

SITE = ZoneInfo("Asia/Shanghai")


@pytest.fixture()
def server_in_utc() -> Iterator[None]:
    """This process's local zone is UTC (the server's), whatever the machine's."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_the_console_speaks_the_sites_time_zone(server_in_utc: None, tmp_path: Path) -> None:
    assert datetime.now().astimezone().utcoffset() == UTC.utcoffset(None)
    history = HealthHistory.open(tmp_path / "console.db", 7)
    store = SnapshotStore()
    host = FakeHost([CameraInfo(camera(), snap("cam1"))])
    board = StatusBoard(host, store, history, 60.0)
    board.refresh()
    access = Access.from_config(HttpConfig.model_validate({}))
    console = Console(host, store, board, history, access, ["car"], tmp_path, "en", SITE)
    try:
        history.acknowledge("cam1", "streaming", "operator")
        body = console._health_body()
        ack = body["cameras"][0]["acknowledged"]
        assert ack["at"].endswith("+08:00") and body["time"].endswith("+08:00"), body
        # A picture taken at 01:00 UTC is shown at 09:00 on the site.
        shot = frame(0.0, camera="cam1")
        assert shot.captured_at == datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
        store.observe(shot, Detections.empty(), [])
        store.touch()
        store.encode_due()
        summary = console.camera_summary(board.cameras["cam1"])
        assert summary["snapshot"]["captured_at"] == "2026-11-26T09:00:00+08:00"
    finally:
        history.close()
    # Without a site zone the console shows UTC, not the server's zone.
    plain = Console(host, store, board, None, access, ["car"], tmp_path)
    assert plain._health_body()["time"].endswith("+00:00")


@pytest.mark.slow
def test_lookout_console_on_a_utc_server_acknowledges_in_the_sites_zone(
    tmp_path: Path, assets: Path
) -> None:
    """`lookout console` (the daemon) hands `site.timezone` to the console: run with
    TZ=UTC, the acknowledgement it answers and /api/health's are at +08:00."""
    port = free_port()
    cam = {
        "id": "cam1",
        "source": str(assets / "footage" / "vtest.avi"),
        "zones": [
            {
                "id": "kerb",
                "polygon": [[600, 62], [730, 62], [730, 118], [600, 118]],
                "policies": [{"type": "illegal_parking", "classes": ["car"], "dwell_s": 20}],
            }
        ],
    }
    cfg = write_config(tmp_path, [cam], site={"timezone": "Asia/Shanghai"})
    args = ["console", "--config", str(cfg), "--port", str(port), "--out", str(tmp_path / "o")]
    proc = start_lookout(args, tmp_path, port, env={"TZ": "UTC"})
    try:
        c = Client(port)

        def streaming() -> bool:
            code, _, body = c.call("/api/cameras/cam1")
            return code == 200 and json.loads(body)["state"] == "streaming"

        assert wait_until(streaming, 60, ignore=(OSError,)), proc.log()[-3000:]
        token = c.csrf("/cameras")
        code, _, body = c.call("/api/cameras/cam1/acknowledge", b"{}", {"X-CSRF-Token": token})
        assert code == 200, body
        assert json.loads(body)["acknowledged"]["at"].endswith("+08:00"), body
        health = json.loads(c.call("/api/health")[2])
        assert health["cameras"][0]["acknowledged"]["at"].endswith("+08:00"), health
        assert health["time"].endswith("+08:00")
    finally:
        assert proc.stop() == 0, proc.log()[-3000:]
