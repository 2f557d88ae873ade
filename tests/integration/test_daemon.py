"""The daemon with real components: GStreamer RTSP cameras, a file camera, the ONVIF
responder, signals, /healthz and /metrics."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lookout.base.paths import REPO_ROOT
from lookout.daemon.service import Daemon
from tests.support.config import YOLOX_MANIFEST, MakeConfig
from tests.support.helpers import free_port, wait_until
from tests.support.media import (
    RtspServer,
    cached_h264_mp4,
    start_rtsp_server,
    vtest_avi,
    vtest_h264,
)
from tests.support.onvif_responder import OnvifResponder

pytestmark = [pytest.mark.slow, pytest.mark.timing]

MANIFEST = YOLOX_MANIFEST
VAN_ZONE = "[[600, 62], [730, 62], [730, 118], [600, 118]]"
VAN_BOX = [[600, 62], [730, 62], [730, 118], [600, 118]]


def camera_yaml(cam_id: str, source: str, extra: str = "") -> str:
    return f"""
  - id: {cam_id}
    source: "{source}"
    analysis_fps: 2
    stream: {{stall_timeout_s: 2, backoff: {{initial_s: 0.2, max_s: 1}}{extra}}}
    zones:
      - id: no-parking
        polygon: {VAN_ZONE}
        policies:
          - {{type: illegal_parking, classes: [car, truck, bus], dwell_s: 4}}
"""


def config_yaml(out: Path, port: int, cameras: list[str]) -> str:
    return f"""
site: {{timezone: Asia/Shanghai}}
model: {{manifest: {MANIFEST}, batch_size: 4}}
daemon: {{out_dir: {out}, http: {{port: {port}}}, shutdown_timeout_s: 8}}
cameras:{"".join(cameras)}
"""


def get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
        return resp.read().decode()


def health(port: int) -> dict[str, Any]:
    return json.loads(get(port, "/healthz"))


def metric_samples(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(get(port, "/metrics")):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture(scope="module")
def clip() -> Path:
    return vtest_h264()


@pytest.fixture()
def rtsp(clip: Path) -> Iterator[RtspServer]:
    mounts = {f"/cam{i}": clip for i in range(1, 4)}
    with start_rtsp_server(mounts, user="op", password="pw-9f3k") as server:
        yield server


def test_daemon_reload_metrics_and_clean_stop(
    rtsp: RtspServer, assets: Path, tmp_path: Path
) -> None:
    port = free_port()
    out = tmp_path / "out"
    cfg_path = tmp_path / "lookout.yaml"
    file_cam = camera_yaml("file1", str(assets / "footage" / "vtest.avi"), ", loop: true")
    rtsp_cams = [
        camera_yaml(f"rtsp{i}", rtsp.url(f"/cam{i}", user="op", password="pw-9f3k"))
        for i in range(1, 4)
    ]
    broken = camera_yaml("broken", f"rtsp://op:pw-9f3k@127.0.0.1:{rtsp.port}/missing")
    cfg_path.write_text(config_yaml(out, port, [*rtsp_cams, file_cam, broken]))
    log_path = tmp_path / "daemon.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lookout.cli.main", "run", "--config", str(cfg_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ},
        )
    try:
        live = {"rtsp1", "rtsp2", "rtsp3", "file1"}
        first: dict[str, Any] = {}
        # The first answer already lists every configured camera (`starting` until its
        # reader runs), so waiting on a camera's state never meets a missing camera.
        assert wait_until(lambda: bool(first.update(health(port)) or first), 60), (
            log_path.read_text()[-3000:]
        )
        assert set(first["cameras"]) == {*live, "broken"}

        def all_streaming() -> bool:
            cams = health(port)["cameras"]
            return all(
                cams[c]["state"] == "streaming" and cams[c]["frames_analysed"] > 0 for c in live
            )

        assert wait_until(all_streaming, 40), log_path.read_text()[-3000:]
        # A camera with a wrong path is in backoff; the others keep running.
        h = health(port)
        assert h["cameras"]["broken"]["state"] in {"backoff", "connecting", "stalled"}
        assert "not found" in (h["cameras"]["broken"]["last_error"] or "")
        assert h["status"] == "degraded"

        # The parked van gives one case per camera.
        def cases_total() -> float:
            return sum(
                v for (n, _), v in metric_samples(port).items() if n == "lookout_cases_total"
            )

        assert wait_until(lambda: cases_total() >= 4, 40), log_path.read_text()[-3000:]

        # SIGHUP: remove rtsp3 and the broken camera, add rtsp5 (a second viewer of /cam1).
        new_cams = [
            *rtsp_cams[:2],
            file_cam,
            camera_yaml("rtsp5", rtsp.url("/cam1", user="op", password="pw-9f3k")),
        ]
        cfg_path.write_text(config_yaml(out, port, new_cams))
        proc.send_signal(signal.SIGHUP)
        expected = {"rtsp1", "rtsp2", "file1", "rtsp5"}
        assert wait_until(lambda: set(health(port)["cameras"]) == expected, 15)
        assert wait_until(lambda: health(port)["cameras"]["rtsp5"]["state"] == "streaming", 20)

        # An invalid config is rejected and the running one kept.
        cfg_path.write_text("cameras: [\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: "reload rejected" in log_path.read_text(), 10)
        assert set(health(port)["cameras"]) == expected

        samples = metric_samples(port)
        names = {n for n, _ in samples}
        for name in (
            "lookout_camera_state",
            "lookout_camera_frames_received_total",
            "lookout_camera_frames_analysed_total",
            "lookout_camera_frames_dropped_total",
            "lookout_camera_reconnects_total",
            "lookout_camera_seconds_since_last_frame",
            "lookout_detector_latency_seconds_bucket",
            "lookout_cases_total",
            "lookout_frames_gated_total",
            "lookout_region_crops_total",
        ):
            assert name in names, name
        assert samples[("lookout_camera_state", (("camera", "rtsp5"), ("state", "streaming")))] == 1
        emitted = cases_total()

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log_path.read_text()
    assert code == 0, text[-3000:]
    assert took < 10
    assert "pw-9f3k" not in text, "credentials must never reach the log"
    assert "Traceback" not in text, text[-3000:]
    with sqlite3.connect(out / "cases.db") as conn:
        rows = conn.execute("SELECT camera_id, type FROM cases").fetchall()
    # Every case the daemon counted was flushed to the outbox before it exited.
    assert len(rows) >= emitted >= 4
    assert {c for c, _ in rows} >= {"rtsp1", "rtsp2", "rtsp3", "file1"}
    assert {t for _, t in rows} == {"illegal_parking"}


def test_onvif_tour_switches_zones_and_skips_moving_frames(
    clip: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    # The sub-stream (768x576) is analysed; evidence comes from the main stream (2x).
    main = cached_h264_mp4(vtest_avi(), "vtest_main2x", width=1536, height=1152, seconds=20)
    with (
        start_rtsp_server({"/main": main, "/sub": clip}) as server,
        OnvifResponder(move_s=0.6) as cam,
    ):
        cam.stream_uris.update(
            {"profile_main": server.url("/main"), "profile_sub": server.url("/sub")}
        )
        van = {"type": "illegal_parking", "classes": ["car", "truck", "bus"], "dwell_s": 1}
        tower = {
            "id": "tower",
            "analysis_fps": 4,
            "onvif": {
                "host": "127.0.0.1",
                "port": cam.port,
                "username": cam.username,
                "password": cam.password,
                "sub_profile": 1,
                "ptz": {
                    "mode": "drive",
                    "settle_s": 0.3,
                    "poll_s": 0.1,
                    "tour": [{"preset": "A", "stay_s": 3}, {"preset": "B", "stay_s": 3}],
                },
            },
            "zones": [
                {"id": "van-from-A", "preset": "1", "polygon": VAN_BOX, "policies": [van]},
                {"id": "van-from-B", "preset": "2", "polygon": VAN_BOX, "policies": [van]},
            ],
        }
        cfg_path = make_config([tower], name="ptz.yaml", site={"timezone": "Asia/Shanghai"})
        daemon = Daemon.from_config(cfg_path)
        seen: list[tuple[str | None, bool]] = []
        daemon.start()
        try:
            rt = daemon.cameras["tower"]
            original = rt.process

            def spy(frame: Any, dets: Any) -> Any:
                # Whether the camera moved when the picture arrived (the frame's clock
                # reading), not when it is analysed: analysis may lag behind a move that
                # began after the picture was taken at the preset.
                _, moving = cam.state(frame.monotonic_s)
                seen.append((frame.preset, moving))
                return original(frame, dets)

            rt.process = spy  # type: ignore[method-assign,assignment]
            assert wait_until(lambda: {p for p, _ in seen} >= {"1", "2"}, 30)
            assert wait_until(lambda: {c.preset for c in daemon.cases.cases} >= {"1", "2"}, 30)
            assert wait_until(lambda: rt.reader.stats.frames_skipped_moving > 0, 10)
        finally:
            daemon.shutdown()
    assert "GetStreamUri" in cam.operations and "GotoPreset" in cam.operations
    assert {p for p, _ in seen} <= {"1", "2"}
    assert not any(moving for _, moving in seen), "no frame analysed while the camera moved"
    cases = daemon.cases.cases
    zones_by_preset = {(c.preset, c.zone_id) for c in cases}
    assert ("1", "van-from-A") in zones_by_preset and ("2", "van-from-B") in zones_by_preset
    assert all((c.preset, c.zone_id) in {("1", "van-from-A"), ("2", "van-from-B")} for c in cases)
    # Boxes stay in analysed (sub-stream) pixels; the pictures are the main stream's.
    case = cases[0]
    assert case.bbox[2] <= 768
    full = cv2.imread(str(tmp_path / "out" / case.evidence[0]))
    assert full is not None and full.shape == (1152, 1536, 3)
