"""Real-footage frames and helpers for the video quality diagnosis tests
(tests/quality/test_quality.py, tests/integration/test_quality_daemon.py): pictures
fed at 1 frame/s of injected stream time, the perturbations (blur, cover, shift,
re-encoding) and the metric as /metrics shows it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray
from prometheus_client.parser import text_string_to_metric_families

from lookout.config.quality import QualityConfig
from lookout.daemon.metrics import Metrics
from lookout.quality.monitor import QualityEvent, QualityMonitor, QualityState
from lookout.runtime.camera import CameraSnapshot
from lookout.streams.frame import Frame
from tests.support.helpers import T0
from tests.support.pictures import as_picture

Image = NDArray[np.uint8]
CAM = "roof"


def decode(path: Path, step: int) -> list[Image]:
    """Every `step`-th decoded picture of a file."""
    cap = cv2.VideoCapture(str(path))
    out: list[Image] = []
    i = 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if i % step == 0:
            out.append(np.asarray(image, np.uint8))
        i += 1
    cap.release()
    return out


def looped(images: Sequence[Image], seconds: int, start: int = 0) -> list[Image]:
    """The clip at 1 frame/s for `seconds`, looping, from picture `start`."""
    return [images[(start + i) % len(images)] for i in range(seconds)]


class Feed:
    """Feeds pictures to a monitor at 1 frame/s of stream time, and keeps its events.
    `kind` is the form the frames carry their pictures in (tests/support/pictures.py)."""

    kind = "bgr"

    def __init__(self, monitor: QualityMonitor, preset: str | None = None) -> None:
        self.monitor = monitor
        self.preset = preset
        self.t = 0.0
        self.index = 0
        self.events: list[QualityEvent] = []

    def __call__(self, images: Iterable[Image], check: Callable[[], None] | None = None) -> None:
        for image in images:
            frame = Frame(
                CAM,
                self.index,
                self.t,
                T0 + timedelta(seconds=self.t),
                self.t,
                preset=self.preset,
                picture=as_picture(image, self.kind),
            )
            self.events += self.monitor.observe(frame)
            self.t += 1.0
            self.index += 1
            if check is not None:
                check()


def monitor(tmp_path: Path | None = None, **settings: float) -> QualityMonitor:
    refs = None if tmp_path is None else tmp_path / "references"
    return QualityMonitor(CAM, QualityConfig.model_validate(settings), refs)


def issue_gauge(state: QualityState, kind: str, preset: str = "default") -> float:
    """`lookout_camera_quality_issue{camera, preset, issue}` as /metrics renders it."""
    snap = CameraSnapshot(CAM, "streaming", 0, 0, 0, 0, 0, 0, 0, None, None, None, quality=state)
    text = Metrics(lambda: [snap]).render().decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "lookout_camera_quality_issue" and s.labels == {
                "camera": CAM,
                "preset": preset,
                "issue": kind,
            }:
                return float(s.value)
    raise AssertionError(f"no lookout_camera_quality_issue for {kind}/{preset}")


def quality_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "lookout.quality.monitor"]


def blurred(image: Image, sigma: float = 3.0) -> Image:
    """Rain or fog on the dome: the real picture out of focus."""
    return np.asarray(cv2.GaussianBlur(image, (0, 0), sigma), np.uint8)


def covered(image: Image, rng: np.random.Generator, share: float = 0.95) -> Image:
    """A lens covered over `share` x `share` (0.95: 90 % of the picture) by something
    dark and out of focus, with the sensor noise of a dark picture (fresh per frame)."""
    out = image.copy()
    h, w = image.shape[:2]
    ch, cw = round(h * share), round(w * share)
    noise = rng.normal(22.0, 3.0, (ch, cw, 1))
    out[:ch, :cw] = np.clip(noise, 0, 255).astype(np.uint8)
    return out


def shifted(image: Image, dx: float, dy: float) -> Image:
    """The real picture moved by (dx, dy) px, as when the camera turned a little."""
    h, w = image.shape[:2]
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    return np.asarray(
        cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT), np.uint8
    )


def reencoded(image: Image, n: int) -> list[Image]:
    """An encoder repeating one picture: `n` copies re-encoded at qualities 85–95."""
    out = []
    for i in range(n):
        q = 85 + (i * 3) % 11
        data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, q])[1]
        out.append(np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8))
    return out


def assert_one_incident(
    feed: Feed, kind: str, start_at: tuple[float, float], end_at: tuple[float, float]
) -> None:
    """Exactly one start and one end of `kind` (and nothing else), within the windows
    of stream seconds given."""
    got = [(e.kind, e.started, (e.at - T0).total_seconds()) for e in feed.events]
    assert [(k, s) for k, s, _ in got] == [(kind, True), (kind, False)], got
    assert start_at[0] <= got[0][2] <= start_at[1], got
    assert end_at[0] <= got[1][2] <= end_at[1], got
