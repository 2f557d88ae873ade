"""The daemon's first answer: /healthz, /metrics and the console list every configured
camera before any reader has run, in state `starting` (docs/OPERATIONS.md, "Daemon")."""

from __future__ import annotations

from pathlib import Path

from lookout.daemon.service import Daemon
from tests.support.config import MakeConfig

ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]


def camera(cam_id: str, source: Path) -> dict[str, object]:
    policy = {"type": "illegal_parking", "classes": ["car"], "dwell_s": 4}
    return {
        "id": cam_id,
        "source": str(source),
        "zones": [{"id": "z", "polygon": ZONE, "policies": [policy]}],
    }


def test_health_lists_every_configured_camera_before_the_readers_run(
    assets: Path, make_config: MakeConfig
) -> None:
    video = assets / "footage" / "vtest.avi"
    path = make_config([camera("cam-a", video), camera("cam-b", video)])
    daemon = Daemon.from_config(path)
    try:
        code, body = daemon.health()
        assert code == 200
        assert body["status"] == "down"
        assert {c: v["state"] for c, v in body["cameras"].items()} == {
            "cam-a": "starting",
            "cam-b": "starting",
        }
        infos = daemon.console_cameras()
        assert [(i.camera.id, i.status.state) for i in infos] == [
            ("cam-a", "starting"),
            ("cam-b", "starting"),
        ]
        metrics = daemon.render_metrics().decode()
        assert 'lookout_camera_state{camera="cam-b",state="starting"} 1.0' in metrics
    finally:
        daemon.cases.close()
