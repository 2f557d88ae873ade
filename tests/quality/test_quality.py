"""Video quality diagnosis (lookout/quality/monitor.py) on real footage: a frozen stream, a
blurred view, a covered lens and a view shifted by 40 px are each caught — started and
ended once, logged once each way, exported as a metric 0 → 1 → 0 — and ten minutes of
the normal vtest stream raise nothing. Frames are fed at 1 frame/s with injected
stream time (no sleeps), so ten minutes take about a second. Each scenario runs on BGR
frames and on YUV frames (the monitor reads their luma)."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from lookout.config.app import AppConfig
from lookout.config.quality import QualityConfig
from lookout.quality.measures import view_reference_path
from tests.support.helpers import T0
from tests.support.pictures import KINDS
from tests.support.quality_frames import (
    CAM,
    Feed,
    Image,
    assert_one_incident,
    blurred,
    covered,
    decode,
    issue_gauge,
    looped,
    monitor,
    quality_lines,
    reencoded,
    shifted,
)


@pytest.fixture(autouse=True, params=KINDS)
def picture_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every scenario on BGR frames and on the luma of YUV frames (limited and full
    range, tests/support/pictures.py): the same verdicts, at the same times."""
    monkeypatch.setattr(Feed, "kind", request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def vtest(assets: Path) -> list[Image]:
    """vtest.avi at 1 frame/s: 80 real pictures of a campus road (10 fps source)."""
    return decode(assets / "footage" / "vtest.avi", 10)


def test_normal_vtest_for_ten_minutes_raises_nothing(
    vtest: list[Image], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    mon = monitor(tmp_path)
    feed = Feed(mon)
    feed(looped(vtest, 600))
    assert feed.events == []
    state = mon.state
    assert state.active == () and not state.learning and state.preset == "default"
    assert {k: i.incidents for k, i in state.issues.items()} == dict.fromkeys(
        ("frozen", "blur", "occlusion", "drift"), 0
    )
    # Measured, and far from every threshold.
    m = {k: i.measure for k, i in state.issues.items()}
    assert m["frozen"] == 0.0
    assert m["blur"] is not None and 0.8 < m["blur"] < 1.25
    assert m["occlusion"] is not None and m["occlusion"] < 0.1
    assert m["drift"] is not None and m["drift"] < 2.0
    # The daemon kept the preset's reference view (none was commissioned).
    assert view_reference_path(tmp_path / "references", CAM, "default").is_file()
    assert [line for line in quality_lines(caplog) if "reference view taken" not in line] == []
    assert issue_gauge(state, "blur") == 0.0


def test_a_still_featureless_view_is_not_frozen_nor_covered(assets: Path) -> None:
    """car-detection.mp4: asphalt seen from above, empty most of the time — a live
    still scene (its noise and a passing car still change it) and too little texture
    to judge drift, which is then not measured rather than guessed."""
    mon = monitor()
    feed = Feed(mon)
    clip = decode(assets / "footage" / "car-detection.mp4", 12)  # ~1 frame/s
    feed(looped(clip, 600))
    assert feed.events == []
    assert mon.state.issues["drift"].measure is None


@pytest.mark.parametrize("copies", ["repeated", "re-encoded"])
def test_frozen_stream(vtest: list[Image], copies: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    mon = monitor()
    feed = Feed(mon)
    gauges: list[float] = []

    def gauge() -> None:
        gauges.append(issue_gauge(mon.state, "frozen"))

    feed(looped(vtest, 30))  # t 0..29
    picture = vtest[30]
    frozen = [picture] * 60 if copies == "repeated" else reencoded(picture, 60)
    feed(frozen, gauge)  # t 30..89: the first copy starts the still run
    assert mon.state.issues["frozen"].active
    assert mon.state.issues["frozen"].since == T0 + timedelta(seconds=30)
    assert mon.state.issues["frozen"].measure == pytest.approx(59.0)
    feed(looped(vtest, 30, start=31), gauge)  # t 90..119: live again
    # Starts once the picture has not changed for frozen_s (20 s); ends after clear_s.
    assert_one_incident(feed, "frozen", (50, 51), (100, 101))
    runs = [g for i, g in enumerate(gauges) if i == 0 or g != gauges[i - 1]]
    assert runs == [0.0, 1.0, 0.0], gauges
    lines = quality_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("camera roof preset default: frozen started: picture unchanged")
    assert lines[1].startswith("camera roof preset default: frozen ended after 60 s")
    assert mon.state.issues["frozen"].incidents == 1


def test_blurred_view(vtest: list[Image], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    mon = monitor()
    feed = Feed(mon)
    feed(looped(vtest, 20))  # t 0..19
    assert issue_gauge(mon.state, "blur") == 0.0
    feed([blurred(img) for img in looped(vtest, 60, start=20)])  # t 20..79
    blur = mon.state.issues["blur"]
    assert blur.active and blur.measure is not None and blur.measure < 0.2
    assert issue_gauge(mon.state, "blur") == 1.0
    feed(looped(vtest, 40, start=80))  # t 80..119
    assert issue_gauge(mon.state, "blur") == 0.0
    # blur_s 30 after the first blurred frame; clear_s 10 after the first sharp one.
    assert_one_incident(feed, "blur", (50, 50), (90, 90))
    lines = quality_lines(caplog)
    assert len(lines) == 2 and "blur started: sharpness 0." in lines[0], lines
    assert "blur ended after 60 s" in lines[1]


def test_covered_lens(vtest: list[Image], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    rng = np.random.default_rng(12)
    mon = monitor()
    feed = Feed(mon)
    feed(looped(vtest, 20))
    assert issue_gauge(mon.state, "occlusion") == 0.0
    feed([covered(img, rng) for img in looped(vtest, 40, start=20)])  # t 20..59
    occ = mon.state.issues["occlusion"]
    assert occ.active and occ.measure is not None and occ.measure > 0.8
    assert issue_gauge(mon.state, "occlusion") == 1.0
    feed(looped(vtest, 30, start=60))  # t 60..89
    assert issue_gauge(mon.state, "occlusion") == 0.0
    # Neither blurred nor frozen: a covered lens is one issue, occlusion.
    assert_one_incident(feed, "occlusion", (30, 30), (70, 70))
    lines = quality_lines(caplog)
    assert len(lines) == 2 and re.search(r"occlusion started: (8|9)\d% of the textured", lines[0])
    assert "occlusion ended after 40 s" in lines[1]


@pytest.mark.parametrize(("dx", "dy"), [(40, 0), (0, -40)])
def test_view_shifted_by_40_px(
    vtest: list[Image], dx: int, dy: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lookout.quality.monitor")
    mon = monitor(tmp_path)
    feed = Feed(mon)
    feed(looped(vtest, 20))  # learns t 0..9, takes the reference; drift checked at t 10
    assert issue_gauge(mon.state, "drift") == 0.0
    feed([shifted(img, dx, dy) for img in looped(vtest, 200, start=20)])  # t 20..219
    drift = mon.state.issues["drift"]
    assert drift.active and drift.measure == pytest.approx(40.0, abs=2.0)
    assert issue_gauge(mon.state, "drift") == 1.0
    feed(looped(vtest, 200, start=220))  # t 220..419
    assert issue_gauge(mon.state, "drift") == 0.0
    # Checked every 60 s (t 10, 70, 130, ...): bad at 70 and 130 (held drift_s 60);
    # good at 250 and 310.
    assert_one_incident(feed, "drift", (130, 130), (310, 310))
    lines = quality_lines(caplog)
    assert "drift started: view 4" in lines[1] and "px off the preset reference" in lines[1]
    assert "drift ended after" in lines[2] and len(lines) == 3, lines


def test_a_commissioned_reference_is_the_baseline_after_a_restart(
    vtest: list[Image], tmp_path: Path
) -> None:
    """A restart with the view already shifted still sees the drift: the baseline and
    the drift reference come from the saved reference view, not from the new frames."""
    first = Feed(monitor(tmp_path))
    first(looped(vtest, 15))
    path = view_reference_path(tmp_path / "references", CAM, "default")
    assert path.is_file()
    again = Feed(monitor(tmp_path, drift_s=0))
    again([shifted(img, 40, 0) for img in looped(vtest, 3, start=15)])
    assert not again.monitor.state.learning
    assert [(e.kind, e.started) for e in again.events] == [("drift", True)]


def test_presets_are_diagnosed_apart(vtest: list[Image]) -> None:
    """A PTZ camera: each preset learns its own view; a drift at one is that preset's."""
    mon = monitor()
    near, far = Feed(mon, "near"), Feed(mon, "far")
    other = [np.ascontiguousarray(img[:, ::-1]) for img in vtest]  # another view
    for visit in range(8):  # 30 s visits, alternating
        near(looped(vtest, 30, start=30 * visit))
        far.t = near.t
        moved = visit >= 4
        far([shifted(img, 40, 0) if moved else img for img in looped(other, 30, 30 * visit)])
        near.t = far.t
    state = mon.state
    assert state.preset == "far" and set(state.presets) == {"near", "far"}
    assert [i.preset + "/" + i.kind for i in state.active] == ["far/drift"]
    assert near.events == [] and issue_gauge(state, "drift", "near") == 0.0
    assert issue_gauge(state, "drift", "far") == 1.0


def test_disabled(vtest: list[Image]) -> None:
    mon = monitor(enabled=False)
    feed = Feed(mon)
    feed([vtest[0]] * 40)
    assert feed.events == [] and not mon.state.enabled and mon.state.presets == {}


@pytest.mark.parametrize(
    ("quality", "message"),
    [
        ({"blur_end_ratio": 0.3}, "cameras.0.quality: blur_end_ratio must be above blur_ratio"),
        ({"drift_px": -1}, "cameras.0.quality.drift_px: Input should be greater than 0"),
        ({"frozen": 3}, "cameras.0.quality.frozen: unknown key"),
    ],
)
def test_bad_quality_config_is_one_line_naming_the_key(
    tmp_path: Path, quality: dict[str, float], message: str
) -> None:
    import yaml

    from lookout.base.errors import ConfigError
    from lookout.config.app import load_config

    path = tmp_path / "lookout.yaml"
    path.write_text(
        yaml.safe_dump(
            {"model": {"manifest": "m.yaml"}, "cameras": [{"id": CAM, "quality": quality}]}
        )
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert "\n" not in text and message.replace("cameras.0", "cameras[0]") in text, text


def test_defaults_are_on() -> None:
    cfg = AppConfig.model_validate({"model": {"manifest": "m.yaml"}, "cameras": [{"id": CAM}]})
    assert cfg.cameras[0].quality == QualityConfig() and cfg.cameras[0].quality.enabled
