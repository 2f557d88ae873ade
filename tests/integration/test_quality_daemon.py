"""Video quality diagnosis through the daemon's path: `CameraRuntime` and its metrics
(fast, no threads), the running daemon on a file camera whose encoder freezes (slow),
and `lookout reference capture` writing the view reference the monitor uses."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lookout.config.app import load_config
from lookout.daemon.metrics import Metrics
from lookout.detector.detections import Detections
from lookout.detector.onnx_model import OnnxDetector
from lookout.quality.measures import view_reference_path
from lookout.runtime.camera import CameraRuntime
from lookout.runtime.services import open_cases
from lookout.streams.frame import Frame
from tests.support.config import MakeConfig
from tests.support.helpers import T0, wait_until
from tests.support.quality_frames import (
    CAM,
    Feed,
    Image,
    decode,
    looped,
    monitor,
    quality_lines,
)


@pytest.fixture(scope="module")
def vtest(assets: Path) -> list[Image]:
    """vtest.avi at 1 frame/s: 80 real pictures of a campus road (10 fps source)."""
    return decode(assets / "footage" / "vtest.avi", 10)


def camera(source: Path, quality: dict[str, float]) -> dict[str, Any]:
    """The file camera `CAM` on `source` (looping, 1 frame/s) with `quality` settings."""
    return {
        "id": CAM,
        "source": str(source),
        "analysis_fps": 1,
        "stream": {"loop": True},
        "quality": quality,
    }


def test_through_the_camera_runtime_and_its_metrics(
    vtest: list[Image],
    tmp_path: Path,
    assets: Path,
    yolox_detector: OnnxDetector,
    make_config: MakeConfig,
) -> None:
    """The daemon's path without its threads: `CameraRuntime.create` builds the monitor
    (references under the daemon's out_dir), `process` diagnoses each analysed frame,
    `quality` and the camera's metrics show it."""
    cfg = load_config(make_config([camera(assets / "footage" / "vtest.avi", {"frozen_s": 5})]))
    cases = open_cases(cfg, tmp_path / "out")
    rt = CameraRuntime.create(cfg, CAM, yolox_detector, cases, threading.Event())
    metrics = Metrics(lambda: [rt.snapshot()])

    def samples() -> dict[str, float]:
        out = {}
        for fam in text_string_to_metric_families(metrics.render().decode()):
            for s in fam.samples:
                if s.labels.get("issue") == "frozen":
                    out[s.name] = float(s.value)
        return out

    seen: list[dict[str, float]] = []
    try:
        pictures = looped(vtest, 12) + [vtest[12]] * 8 + looped(vtest, 12, start=13)
        for i, image in enumerate(pictures):
            t = float(i)
            frame = Frame(CAM, i, t, T0 + timedelta(seconds=t), t, image)
            rt.process(frame, Detections.empty())
            seen.append(samples())
    finally:
        cases.close()
    gauge = [s["lookout_camera_quality_issue"] for s in seen]
    assert [g for i, g in enumerate(gauge) if i == 0 or g != gauge[i - 1]] == [0.0, 1.0, 0.0]
    assert seen[-1]["lookout_camera_quality_incidents_total"] == 1.0
    assert rt.quality.issues["frozen"].incidents == 1 and rt.quality.active == ()
    assert view_reference_path(tmp_path / "out" / "references", CAM, "default").is_file()


def frozen_clip(vtest: list[Image], path: Path) -> Path:
    """4 s of the real scene, then its next picture repeated by the encoder for 6 s
    (MJPEG at 10 frames/s: every repeat is the same picture encoded again)."""
    h, w = vtest[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (w, h))
    for i in range(40):
        writer.write(vtest[i])
    for _ in range(60):
        writer.write(vtest[40])
    writer.release()
    return path


@pytest.mark.slow
def test_the_daemon_reports_a_frozen_stream(
    vtest: list[Image],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    make_config: MakeConfig,
) -> None:
    """A file camera whose encoder freezes for 6 s in every 10 (looping), through the
    daemon's reader, batcher and metrics: the frozen picture starts and ends."""
    from lookout.daemon.service import Daemon

    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    clip = frozen_clip(vtest, tmp_path / "freezing.avi")
    cfg_path = make_config([camera(clip, {"frozen_s": 3, "clear_s": 1})])
    daemon = Daemon.from_config(cfg_path)
    daemon.start()
    try:

        def one_incident_over() -> bool:
            q = daemon.cameras[CAM].quality.issues.get("frozen")
            return q is not None and q.incidents >= 1 and not q.active

        assert wait_until(one_incident_over, 30, step=0.2)
        text = daemon.metrics.render().decode()
    finally:
        daemon.shutdown()
    assert (
        'lookout_camera_quality_incidents_total{camera="roof",issue="frozen",preset="default"}'
        in text
    )
    lines = [line for line in quality_lines(caplog) if " frozen " in line]
    assert "frozen started: picture unchanged" in lines[0], lines
    assert "frozen ended after" in lines[1], lines


def test_reference_capture_keeps_a_view_for_every_camera(
    tmp_path: Path, assets: Path, vtest: list[Image], make_config: MakeConfig
) -> None:
    """`lookout reference capture` on a camera without construction zones writes the
    preset's view reference, which the monitor then uses as baseline and drift
    reference (no learning)."""
    from lookout.cli.main import main

    path = make_config([{"id": CAM, "source": str(assets / "footage" / "vtest.avi")}])
    assert main(["reference", "capture", "--config", str(path), "--camera", CAM]) == 0
    view = view_reference_path(tmp_path / "out" / "references", CAM, "default")
    assert view.is_file()
    mon = monitor(tmp_path / "out")
    Feed(mon)(vtest[:1])
    assert not mon.state.learning
