"""illegal_construction as a zone rule, on a real frame surveyed over simulated days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest

from lookout.cases.dedup import CaseDeduper
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.manager import CaseManager
from lookout.cases.settings import CodeEntry
from lookout.cases.sinks import JsonlSink
from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.streams.picture import YuvPicture
from lookout.zones import simulate
from lookout.zones.rules import ZoneEngine
from tests.support.config import MakeConfig
from tests.support.pictures import Counting

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
SHED = (150.0, 380.0, 230.0, 430.0)
LAWN = [[0, 250], [330, 300], [480, 420], [700, 500], [767, 575], [0, 575]]


@pytest.fixture(scope="module")
def still(assets: Path) -> np.ndarray:
    with av.open(str(assets / "footage" / "vtest.avi")) as c:
        return np.asarray(next(c.decode(video=0)).to_ndarray(format="bgr24"), np.uint8)


def camera() -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "roof",
            "zones": [
                {
                    "id": "lawn-watch",
                    "polygon": LAWN,
                    "policies": [{"type": "illegal_construction", "survey_interval_s": 3600}],
                }
            ],
        }
    )


def frames(still: np.ndarray, shed: bool) -> list[Frame]:
    seq = simulate.visits(still, T0, shed=SHED if shed else None, count=9, every_h=12)
    return [Frame("roof", i, float(i), at, float(i), img) for i, (at, img) in enumerate(seq)]


def test_a_persistent_shed_becomes_one_case_with_a_before_after_pair(
    still: np.ndarray, tmp_path: Path
) -> None:
    eng = ZoneEngine(camera(), ["person"], ZoneInfo("Asia/Shanghai"), references=tmp_path / "refs")
    events = []
    for f in frames(still, shed=True):
        events += [(f.captured_at, ev) for ev in eng.update(f, Detections.empty())]
    assert len(events) == 1
    at, ev = events[0]
    assert (at - T0).total_seconds() >= 72 * 3600  # K=3 visits spanning 48 h after +24 h
    assert ev.type == "illegal_construction" and ev.zone_id == "lawn-watch"
    assert ev.before is not None and ev.after is not None and ev.before.size > 0
    assert (tmp_path / "refs" / "roof_default_lawn-watch.jpg").is_file()
    # Evidence: full frame, crop, and the before/after pair.
    manager = CaseManager(
        {"illegal_construction": CodeEntry(code="10001", name="违法建设")},
        CaseDeduper(cooldown_s=3600, iou=0.3),
        EvidenceWriter(tmp_path),
        [JsonlSink.open(tmp_path / "c.jsonl")],
        ZoneInfo("Asia/Shanghai"),
    )
    case = manager.handle(ev)
    manager.close()
    assert case is not None and [p.split("_")[-1] for p in case.evidence] == [
        "full.jpg",
        "crop.jpg",
        "before.jpg",
        "after.jpg",
    ]
    assert all((tmp_path / p).is_file() for p in case.evidence)


def test_detector_classes_back_the_change(still: np.ndarray) -> None:
    # A custom model's "scaffold" class (here: class 1) detected over the shed.
    cam = camera().model_copy(deep=True)
    policy = cam.zones[0].policies[0].model_copy(update={"classes": ["scaffold"]})
    zone = cam.zones[0].model_copy(update={"policies": [policy]})
    cam = cam.model_copy(update={"zones": [zone]})
    eng = ZoneEngine(cam, ["person", "scaffold"], ZoneInfo("Asia/Shanghai"))
    scaffold = Detections.create([SHED], [0.8], [1], [7])
    events = [ev for f in frames(still, shed=True) for ev in eng.update(f, scaffold)]
    assert len(events) == 1 and "scaffold" in events[0].support


def test_lighting_and_camera_shifts_alone_give_no_case(still: np.ndarray) -> None:
    eng = ZoneEngine(camera(), ["person"], ZoneInfo("Asia/Shanghai"))
    assert not [ev for f in frames(still, shed=False) for ev in eng.update(f, Detections.empty())]


def test_reference_capture_replaces_the_reference_at_the_next_survey(
    still: np.ndarray, tmp_path: Path, assets: Path, make_config: MakeConfig
) -> None:
    from lookout.cli.main import main

    roof = {
        **camera().model_dump(mode="json", exclude_none=True),
        "source": str(assets / "footage" / "vtest.avi"),
    }
    cfg = make_config([roof], name="roof.yaml")
    assert main(["reference", "capture", "--config", str(cfg), "--camera", "roof"]) == 0
    ref = tmp_path / "out" / "references" / "roof_default_lawn-watch.jpg"
    assert ref.is_file()
    # The shed is built, then accepted (e.g. a permit exists): an operator re-references
    # on the current view, and the watch stops proposing it.
    eng = ZoneEngine(
        camera(), ["person"], ZoneInfo("Asia/Shanghai"), references=tmp_path / "out" / "references"
    )
    seq = frames(still, shed=True)
    for f in seq[:3]:
        assert eng.update(f, Detections.empty()) == []
    import cv2

    cv2.imwrite(str(ref), seq[3].image)  # what `reference capture` would take now
    import os

    os.utime(ref, (ref.stat().st_atime + 5, ref.stat().st_mtime + 5))
    assert not [ev for f in seq[4:] for ev in eng.update(f, Detections.empty())]


def test_only_the_surveyed_frames_are_converted_to_bgr(still: np.ndarray, tmp_path: Path) -> None:
    """Construction needs colour (blue roofing, the before/after pair), so a survey takes
    the whole frame in BGR; the frames in between are not converted at all."""
    eng = ZoneEngine(camera(), ["person"], ZoneInfo("Asia/Shanghai"), references=tmp_path)
    pictures = []
    for i in range(130):  # a frame a minute; a survey every hour
        at = T0 + timedelta(minutes=i)
        picture = Counting(YuvPicture.from_bgr(still))
        eng.update(Frame("roof", i, 60.0 * i, at, 60.0 * i, picture=picture), Detections.empty())
        pictures.append(picture)
    # The reference taken at the first frame, then a survey at 60 and 120 minutes.
    assert [i for i, p in enumerate(pictures) if p.whole] == [0, 60, 120]
    assert all(not p.parts for p in pictures)
