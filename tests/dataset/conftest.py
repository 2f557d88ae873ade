"""An output folder with kept frames, as the case writer leaves it with
`dataset: {keep: true}` (docs/LEARNING.md "Keeping frames"): real vtest frames decoded
with PyAV, real YOLOX-Nano detections, cases of two cameras on two days with verdicts
of every kind in the SQLite outbox."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
import pytest

from lookout.cases.blur import write_private
from lookout.cases.model import DraftCase
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview

if TYPE_CHECKING:
    from lookout.detector.detections import Detections
    from lookout.detector.onnx_model import OnnxDetector

TZ = ZoneInfo("Asia/Shanghai")
DAY1 = datetime(2026, 11, 2, tzinfo=TZ)
DAY2 = DAY1 + timedelta(days=1)
FRAME_INDICES = (0, 120, 240, 360, 480, 600)


@dataclass(frozen=True)
class Shot:
    image: np.ndarray  # BGR, as the camera sent it
    detections: Detections


@dataclass(frozen=True)
class Spec:
    """One case of the site: where and when, its verdict, its frame."""

    key: str
    camera: str
    at: datetime
    type: str
    verdict: str | None
    shot: int  # index into FRAME_INDICES
    kept: bool = True


SPECS = (
    Spec("a1-parking", "cam-a", DAY1 + timedelta(hours=9), "illegal_parking", "confirmed", 0),
    Spec("a1-vendor", "cam-a", DAY1 + timedelta(hours=15), "street_vendor", "false_alarm", 1),
    Spec("a2-vendor", "cam-a", DAY2 + timedelta(hours=10), "street_vendor", None, 2),
    Spec("b1-parking", "cam-b", DAY1 + timedelta(hours=11), "illegal_parking", "closed", 3),
    Spec("b2-vendor", "cam-b", DAY2 + timedelta(hours=12), "street_vendor", "confirmed", 4),
    Spec("b2-late", "cam-b", DAY2 + timedelta(hours=23, minutes=30), "street_vendor", None, 5),
    Spec("b2-nokeep", "cam-b", DAY2 + timedelta(hours=13), "street_vendor", None, 5, kept=False),
    Spec("b3-after", "cam-b", DAY2 + timedelta(days=1, hours=1), "street_vendor", None, 5),
)


@pytest.fixture(scope="session")
def vtest_shots(assets: Path, yolox_detector: OnnxDetector) -> list[Shot]:
    """Frames of vtest.avi and what the real model finds in them."""
    images: list[np.ndarray] = []
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in FRAME_INDICES:
                images.append(frame.to_ndarray(format="bgr24"))
            if len(images) == len(FRAME_INDICES):
                break
    dets = yolox_detector.detect(images)
    assert all(len(d) >= 2 for d in dets), "vtest frames show several people"
    return [Shot(img, d) for img, d in zip(images, dets, strict=True)]


@pytest.fixture(scope="session")
def class_names(yolox_detector: OnnxDetector) -> list[str]:
    return [*yolox_detector.class_names, "static_object"]


def case_id(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dataset-{key}"))


def frame_json(spec: Spec, shot: Shot, names: list[str], subjects: list[int]) -> dict[str, object]:
    d = shot.detections
    h, w = shot.image.shape[:2]
    return {
        "version": 1,
        "case_id": case_id(spec.key),
        "camera_id": spec.camera,
        "preset": None,
        "captured_at": spec.at.isoformat(),
        "width": w,
        "height": h,
        "class_names": names,
        "detections": [
            {
                "class_id": int(c),
                "class_name": names[int(c)],
                "box": [float(v) for v in box],
                "confidence": float(conf),
                "track_id": k + 1,
            }
            for k, (box, conf, c) in enumerate(
                zip(d.xyxy.tolist(), d.confidence.tolist(), d.class_id.tolist(), strict=True)
            )
        ],
        "subjects": subjects,
    }


@dataclass(frozen=True)
class Site:
    out: Path  # the output folder: cases.db, evidence/
    frames: dict[str, dict[str, object]]  # case key -> its frame.json


@pytest.fixture()
def site(tmp_path: Path, vtest_shots: list[Shot], class_names: list[str]) -> Site:
    out = tmp_path / "out"
    (out / "evidence").mkdir(parents=True)
    outbox = SqliteOutbox.open(out / "cases.db")
    review = CaseReview(outbox)
    frames: dict[str, dict[str, object]] = {}
    for spec in SPECS:
        cid = case_id(spec.key)
        outbox.write(
            DraftCase(
                id=cid,
                type=spec.type,  # type: ignore[arg-type]
                code="09001",
                code_name="x",
                camera_id=spec.camera,
                preset=None,
                zone_id="z",
                grid_code=None,
                first_seen=spec.at - timedelta(seconds=60),
                confirmed_at=spec.at,
                last_seen=spec.at,
                dwell_s=60.0,
                bbox=[0.0, 0.0, 10.0, 10.0],
                confidence=0.8,
                track_id=1,
                object_class="person",
                evidence=[f"evidence/{cid}.jpg"],
            )
        )
        if spec.verdict == "closed":
            review.verdict(cid, "confirmed", "op-li")  # confirmed, then closed
        if spec.verdict is not None:
            review.verdict(cid, spec.verdict, "op-li")
        if not spec.kept:
            continue
        shot = vtest_shots[spec.shot]
        meta = frame_json(spec, shot, class_names, subjects=[1])  # the most confident one
        frames[spec.key] = meta
        ok, jpeg = cv2.imencode(".jpg", shot.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
        assert ok
        write_private(out / "evidence" / f"{cid}_clean.jpg", jpeg.tobytes())
        write_private(out / "evidence" / f"{cid}_frame.json", json.dumps(meta).encode())
    outbox.close()
    return Site(out, frames)
