"""Evidence privacy (issue 16) on vtest with the real model: `evidence.blur:
[bystanders]` blurs the people who are not the case's subject in the full-frame
evidence, and the case's vehicle (parking) or the stall's people (street vendor) stay
sharp. Sharpness is the variance of the Laplacian inside a box, measured on the JPEG
written with blur against the one written without, by the same pipeline (analyser →
zones → cases → evidence). Evidence files 0640, folders 0750."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest

from lookout.cases.blur import for_evidence
from lookout.cases.evidence import EvidenceWriter
from lookout.config.app import AppConfig
from lookout.detector.detections import Detections
from lookout.runtime.analysis import build_analyser
from lookout.runtime.services import open_cases
from lookout.streams.frame import Frame
from lookout.zones.events import Scene, ViolationEvent
from tests.support.config import YOLOX_MANIFEST

if TYPE_CHECKING:
    from lookout.detector.onnx_model import OnnxDetector

T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
#: vtest frame 200: a parked van (car and truck boxes) by the building, a car at the
#: right edge, and eight people, two of them standing in front of the van.
FRAME = 200
VAN_ZONE = [[640, 30], [735, 30], [735, 110], [640, 110]]
#: Where the two people at the front right stand (their feet).
STALL_ZONE = [[590, 330], [768, 330], [768, 400], [590, 400]]


@pytest.fixture(scope="module")
def scene(assets: Path, yolox_detector: OnnxDetector) -> tuple[np.ndarray, Detections]:
    cap = cv2.VideoCapture(str(assets / "footage" / "vtest.avi"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, FRAME)
    ok, image = cap.read()
    cap.release()
    assert ok, "vtest.avi frame not read"
    return image, yolox_detector.detect([image])[0]


@pytest.fixture()
def umask_0() -> Iterator[None]:
    """A permissive umask: modes must be set explicitly, not inherited."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def run_case(
    out: Path,
    policy: dict[str, Any],
    zone: list[list[int]],
    blur: list[str],
    scene: tuple[np.ndarray, Detections],
    detector: OnnxDetector,
) -> dict[str, Any]:
    """Feed the frame for 8 s of footage (2 frames/s; everything in it stands still)
    through the real analyser and case manager; the one case it makes."""
    cfg = AppConfig.model_validate(
        {
            "model": {"manifest": str(YOLOX_MANIFEST)},
            "cameras": [
                {"id": "vtest", "zones": [{"id": "z", "polygon": zone, "policies": [policy]}]}
            ],
            "evidence": {"blur": blur},
        }
    )
    cases = open_cases(cfg, out)
    analyser = build_analyser(
        cfg,
        "vtest",
        detector,
        cases=cases,
        out_dir=out,
        grid=None,
        config_source="test",
    )
    image, dets = scene
    made = []
    for i in range(17):
        t = i * 0.5
        frame = Frame("vtest", FRAME, t, T0 + timedelta(seconds=t), t, image)
        made += analyser.process(frame, dets)
    cases.close()
    assert len(made) == 1, [c.id for c in made]
    lines = (out / "cases.jsonl").read_text().splitlines()
    case: dict[str, Any] = json.loads(lines[0])
    return case


def drawing(case: dict[str, Any], zone: list[list[int]], shape: tuple[int, ...]) -> np.ndarray:
    """Where the evidence drawing (zone outline, case box, label, time stamp) covers the
    picture, (H, W) bool, grown by 4 px (JPEG ringing): the same lines in both files,
    not the camera's picture, so sharpness leaves them out. Opaque drawing is what
    comes out alike on a black and on a white frame (the zone's tint does not)."""
    at = datetime.fromisoformat(case["confirmed_at"]).astimezone(UTC)
    drawn = []
    for value in (0, 255):
        frame = Frame("vtest", 0, 0.0, at, 0.0, np.full(shape, value, dtype=np.uint8))
        event = ViolationEvent(
            type=case["type"],
            camera_id="vtest",
            preset=None,
            zone_id="z",
            grid_code=None,
            track_id=0,
            class_name=case["object_class"],
            bbox=tuple(case["bbox"]),
            confidence=0.5,
            first_seen=at,
            confirmed_at=at,
            dwell_s=case["dwell_s"],
            support=(),
            polygon=tuple((float(x), float(y)) for x, y in zone),
            frame=frame,
        )
        drawn.append(EvidenceWriter(Path()).annotate(event))
    same = np.all(drawn[0] == drawn[1], axis=2).astype(np.uint8)
    return cv2.dilate(same, np.ones((9, 9), np.uint8)).astype(bool)


def sharpness(image: np.ndarray, box: np.ndarray | Sequence[float], skip: np.ndarray) -> float:
    """Variance of the Laplacian of the grey picture inside `box` (x1, y1, x2, y2),
    over the pixels `skip` leaves."""
    x1, y1, x2, y2 = (round(float(v)) for v in box)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    lap = cv2.Laplacian(grey, cv2.CV_64F)[y1:y2, x1:x2]
    keep = ~skip[y1:y2, x1:x2]
    assert keep.mean() > 0.5, f"box {box} is mostly drawn over"
    return float(lap[keep].var())


def full(out: Path, case: dict[str, Any]) -> np.ndarray:
    path = out / next(p for p in case["evidence"] if p.endswith("_full.jpg"))
    image = cv2.imread(str(path))
    assert image is not None
    return image


def check_modes(out: Path) -> None:
    folder = out / "evidence"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750, oct(folder.stat().st_mode)
    files = list(folder.iterdir())
    assert files
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o640, (f.name, oct(f.stat().st_mode))


def boxes(detector: OnnxDetector, dets: Detections, name: str) -> np.ndarray:
    return dets.xyxy[dets.class_id == detector.class_names.index(name)]


def ratios(
    blurred: np.ndarray, plain: np.ndarray, rows: np.ndarray, skip: np.ndarray
) -> list[float]:
    return [sharpness(blurred, b, skip) / sharpness(plain, b, skip) for b in rows]


def test_parking_case_blurs_bystanders_and_keeps_vehicles_sharp(
    tmp_path: Path,
    scene: tuple[np.ndarray, Detections],
    yolox_detector: OnnxDetector,
    umask_0: None,
) -> None:
    policy = {"type": "illegal_parking", "classes": ["vehicle"], "dwell_s": 3}
    runs = {
        name: run_case(tmp_path / name, policy, VAN_ZONE, blur, scene, yolox_detector)
        for name, blur in (("plain", []), ("blurred", ["bystanders"]))
    }
    assert runs["plain"]["id"] == runs["blurred"]["id"]  # the same case, drawn twice
    plain, blurred = (
        full(tmp_path / "plain", runs["plain"]),
        full(tmp_path / "blurred", runs["blurred"]),
    )
    _image, dets = scene
    skip = drawing(runs["blurred"], VAN_ZONE, plain.shape)

    van = ratios(blurred, plain, np.array([runs["blurred"]["bbox"]]), skip)
    vehicles = ratios(
        blurred,
        plain,
        np.concatenate([boxes(yolox_detector, dets, n) for n in ("car", "truck")]),
        skip,
    )
    people = boxes(yolox_detector, dets, "person")
    bystanders = ratios(blurred, plain, people, skip)
    print(
        f"parking: van {van[0]:.3f}, vehicles {np.round(vehicles, 3).tolist()}, "
        f"bystanders {np.round(bystanders, 3).tolist()}"
    )
    assert len(people) >= 6
    assert abs(van[0] - 1) <= 0.05
    assert all(abs(r - 1) <= 0.05 for r in vehicles)
    assert all(r < 0.2 for r in bystanders)
    check_modes(tmp_path / "blurred")
    check_modes(tmp_path / "plain")


def test_vendor_case_keeps_the_stall_people_sharp(
    tmp_path: Path,
    scene: tuple[np.ndarray, Detections],
    yolox_detector: OnnxDetector,
    umask_0: None,
) -> None:
    policy = {
        "type": "street_vendor",
        "classes": ["person"],
        "dwell_s": 3,
        "require_stall_objects": False,  # COCO on vtest: no umbrellas, people only
    }
    runs = {
        name: run_case(tmp_path / name, policy, STALL_ZONE, blur, scene, yolox_detector)
        for name, blur in (("plain", []), ("blurred", ["bystanders"]))
    }
    plain, blurred = (
        full(tmp_path / "plain", runs["plain"]),
        full(tmp_path / "blurred", runs["blurred"]),
    )
    _image, dets = scene
    skip = drawing(runs["blurred"], STALL_ZONE, plain.shape)
    people = boxes(yolox_detector, dets, "person")
    feet = np.stack([(people[:, 0] + people[:, 2]) / 2, people[:, 3]], axis=1)
    in_stall = (feet[:, 0] >= 590) & (feet[:, 1] >= 330) & (feet[:, 1] <= 400)
    assert in_stall.sum() == 2 and (~in_stall).sum() >= 4
    subjects = ratios(blurred, plain, people[in_stall], skip)
    bystanders = ratios(blurred, plain, people[~in_stall], skip)
    print(
        f"vendor: subjects {np.round(subjects, 3).tolist()}, "
        f"bystanders {np.round(bystanders, 3).tolist()}"
    )
    assert all(abs(r - 1) <= 0.05 for r in subjects)
    assert all(r < 0.2 for r in bystanders)
    check_modes(tmp_path / "blurred")


def test_boxes_from_a_sub_stream_are_scaled_to_the_evidence_picture() -> None:
    """The daemon may analyse a camera's sub-stream and draw evidence on its main
    stream (CameraAnalyser's snapshot): the scene's boxes follow the picture's size."""
    rng = np.random.default_rng(16)
    image = rng.integers(0, 256, (576, 768, 3), dtype=np.uint8)  # sharp everywhere
    dets = Detections.create(
        [[100, 100, 140, 200], [300, 100, 400, 160]], [0.9, 0.9], [0, 2], [7, 1]
    )
    sub = Scene(dets, np.array([True, False]), np.array([False, True]), (384, 288))
    frame = Frame("cam", 0, 0.0, T0, 0.0, image)
    event = ViolationEvent(
        type="illegal_parking",
        camera_id="cam",
        preset=None,
        zone_id="z",
        grid_code=None,
        track_id=1,
        class_name="car",
        bbox=(600.0, 200.0, 800.0, 320.0),  # the car, in main-stream pixels
        confidence=0.9,
        first_seen=T0,
        confirmed_at=T0,
        dwell_s=60.0,
        support=(),
        polygon=((0.0, 0.0), (768.0, 0.0), (768.0, 576.0)),
        frame=frame,
        scene=sub,
    )
    assert for_evidence(event, []) is event
    shown = for_evidence(event, ["bystanders"]).frame.image
    none = np.zeros(image.shape[:2], dtype=bool)
    person = [200, 200, 280, 400]  # the sub-stream's box, x2
    assert sharpness(shown, person, none) < 0.2 * sharpness(image, person, none)
    assert np.array_equal(shown[200:320, 600:768], image[200:320, 600:768])  # the car
    assert np.array_equal(shown[:, :180], image[:, :180])  # nothing else touched
    assert np.array_equal(event.frame.image, image)  # the frame itself is not changed
