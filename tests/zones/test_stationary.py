"""Static objects of a camera (zones/stationary.py): the synthetic class, the zones
that use it, the verdict that absorbs a judged object (docs/DETECTION.md, "What
stays"), and a PTZ preset visit registered onto its scene. Real pixels: a still vtest
frame, goods cut from dog.jpg. The scene model reads the frames' luma: every test runs
on BGR frames and on YUV frames (limited and full range), with the same results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from lookout.base.events import EventType
from lookout.base.geometry import box_iou
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.rules import ClassResolver
from lookout.zones.stationary import (
    STATIC_CLASS,
    StationaryDetector,
    absorb_dir,
    analysis_classes,
    watching_zones,
)
from tests.support import scenes
from tests.support.pictures import KINDS, as_picture

Image = NDArray[np.uint8]
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
WALKWAY = [[0, 185], [640, 150], [768, 200], [768, 470], [420, 330], [0, 240]]
GOODS = (460, 240, 520, 300)  # x1, y1, x2, y2 on the walkway
NAMES = ["person", "bicycle", "car", "umbrella"]
ROLES = {"person": ["person"], "vehicle": ["car"], "stall_object": ["umbrella"]}


#: The form the test frames carry their pictures in (tests/support/pictures.py).
KIND = "bgr"


@pytest.fixture(autouse=True, params=KINDS)
def picture_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setitem(globals(), "KIND", request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def street(assets: Path) -> Image:
    return scenes.vtest_still(assets)


@pytest.fixture(scope="module")
def with_goods(street: Image, assets: Path) -> Image:
    return scenes.with_goods(street, assets, GOODS)


def camera(policies: list[dict[str, object]]) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "vtest",
            "static_objects": {"static_s": 10, "interval_s": 1},
            "zones": [{"id": "walkway", "polygon": WALKWAY, "policies": policies}],
        }
    )


def detector(cam: CameraConfig, references: Path | None = None) -> StationaryDetector:
    names, roles = analysis_classes(NAMES, ROLES)
    static_id = names.index(STATIC_CLASS)
    zones = watching_zones(cam.zones, ClassResolver(names, roles), static_id)
    return StationaryDetector(cam.id, zones, cam.static_objects, static_id, references)


def frame(i: int, image: Image, preset: str | None = None) -> Frame:
    t = float(i)
    at = T0 + timedelta(seconds=t)
    return Frame("vtest", i, t, at, t, preset=preset, picture=as_picture(image, KIND))


def judged(
    tmp_path: Path, refs: Path, case_type: EventType, object_class: str, bbox: list[float]
) -> None:
    """A case of camera vtest in the outbox, then judged by an operator."""
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    at = T0 + timedelta(seconds=23)
    case = scenes.walkway_case(
        bbox, case_id=str(uuid.uuid4()), at=at, case_type=case_type, object_class=object_class
    )
    outbox.write(case)
    with CaseReview(outbox, references=refs) as review:
        review.verdict(case.id, "confirmed", "op-wang")


def test_the_static_class_comes_after_the_models_and_is_a_stall_object() -> None:
    names, roles = analysis_classes(NAMES, ROLES)
    assert names == [*NAMES, STATIC_CLASS]
    assert roles["stall_object"] == ["umbrella", STATIC_CLASS]
    assert ROLES["stall_object"] == ["umbrella"]  # the manifest's roles are not changed
    own = [*NAMES, STATIC_CLASS]  # a custom model with its own static_object class
    assert analysis_classes(own, ROLES)[0] == own


def test_only_zones_whose_policies_watch_static_objects_use_the_scene_model() -> None:
    names, roles = analysis_classes(NAMES, ROLES)
    resolve, sid = ClassResolver(names, roles), names.index(STATIC_CLASS)
    vendor = camera([{"type": "street_vendor", "dwell_s": 30}])
    umbrellas = camera([{"type": "street_vendor", "support_classes": ["umbrella"]}])
    parking = camera([{"type": "illegal_parking", "classes": ["vehicle"]}])
    goods = camera([{"type": "occupation", "dwell_s": 30}])
    assert [z.id for z in watching_zones(vendor.zones, resolve, sid)] == ["walkway"]
    assert [z.id for z in watching_zones(goods.zones, resolve, sid)] == ["walkway"]
    assert watching_zones(umbrellas.zones, resolve, sid) == []
    assert watching_zones(parking.zones, resolve, sid) == []


def run(det: StationaryDetector, images: list[Image], start: int = 0) -> list[Detections]:
    return [det.detect(frame(start + i, img), Detections.empty()) for i, img in enumerate(images)]


def test_goods_become_a_static_object_and_a_verdict_absorbs_them(
    street: Image, with_goods: Image, tmp_path: Path
) -> None:
    refs = tmp_path / "references"
    det = detector(camera([{"type": "occupation", "dwell_s": 30}]), refs)
    seen = run(det, [street] * 3 + [with_goods] * 20)
    first = next(i for i, d in enumerate(seen) if len(d))
    assert 3 + 10 <= first <= 3 + 14
    last = seen[-1]
    assert last.class_id.tolist() == [len(NAMES)]
    assert box_iou(tuple(float(v) for v in last.xyxy[0]), GOODS) > 0.5  # type: ignore[arg-type]
    # The operator judges the case: the case review leaves a request for the scene.
    judged(tmp_path, refs, "occupation", STATIC_CLASS, [float(v) for v in last.xyxy[0]])
    assert len(list(absorb_dir(refs).glob("vtest_default.*.absorb.json"))) == 1
    after = run(det, [with_goods] * 30, start=23)
    assert not any(len(d) for d in after)  # part of the empty scene now, for good
    assert not list(absorb_dir(refs).glob("*.json"))  # the request was consumed


def test_a_verdict_on_a_parking_case_asks_nothing_of_the_scene(tmp_path: Path) -> None:
    refs = tmp_path / "references"
    judged(tmp_path, refs, "illegal_parking", "car", [1.0, 2.0, 30.0, 40.0])
    assert not absorb_dir(refs).exists()


def test_a_ptz_preset_revisited_with_a_return_error_is_not_a_change(street: Image) -> None:
    """Preset p1 is left for another preset and comes back 6 px off: the visit is
    registered onto p1's scene, so the whole view moving is no static object."""
    cam = CameraConfig.model_validate(
        {
            "id": "vtest",
            "static_objects": {"static_s": 10, "interval_s": 1},
            "zones": [
                {
                    "id": "walkway",
                    "preset": "p1",
                    "polygon": WALKWAY,
                    "policies": [{"type": "occupation"}],
                }
            ],
        }
    )
    det = detector(cam)
    back = np.asarray(
        cv2.warpAffine(street, np.array([[1, 0, 6], [0, 1, -5]], np.float32), (768, 576)),
        np.uint8,
    )
    seen = [det.detect(frame(i, street, "p1"), Detections.empty()) for i in range(5)]
    seen += [det.detect(frame(5 + i, street, "p2"), Detections.empty()) for i in range(5)]
    seen += [det.detect(frame(10 + i, back, "p1"), Detections.empty()) for i in range(30)]
    assert not any(len(d) for d in seen)


def test_a_restart_starts_from_the_saved_empty_scene(
    street: Image, with_goods: Image, tmp_path: Path
) -> None:
    """The goods stand when the analysis is built again (a restart, a reload): read
    back, the saved empty street still shows them as new; learnt afresh, they would be
    part of the street."""
    refs = tmp_path / "references"
    cam = camera([{"type": "occupation"}])
    run(detector(cam, refs), [street] * 3)  # the first run saves the empty street
    saved = list((refs / "scene").glob("vtest_default_*.png"))
    assert len(saved) == 1
    again = run(detector(cam, refs), [with_goods] * 16, start=100)
    assert len(again[-1]) == 1 and again[-1].class_id.tolist() == [len(NAMES)]
    fresh = run(detector(cam, None), [with_goods] * 16, start=100)
    assert not any(len(d) for d in fresh)  # the check can fail


def test_a_static_object_is_found_alike_in_every_picture_form(
    street: Image, with_goods: Image, picture_kind: str
) -> None:
    """The box and the update it first stands in are those of the BGR frames (the luma
    of a YUV frame is within a grey level of BGR's grey, streams/grey.py)."""

    def found(kind: str) -> tuple[int, tuple[float, ...]]:
        with pytest.MonkeyPatch.context() as mp:
            mp.setitem(globals(), "KIND", kind)
            seen = run(detector(camera([{"type": "occupation"}])), [street] * 3 + [with_goods] * 20)
        first = next(i for i, d in enumerate(seen) if len(d))
        assert len(seen[-1]) == 1
        return first, tuple(float(v) for v in seen[-1].xyxy[0])

    first, box = found(picture_kind)
    want_first, want_box = found("bgr")
    assert first == want_first
    assert box_iou(box, want_box) > 0.9, (box, want_box)  # type: ignore[arg-type]
