from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from lookout.cases.dedup import CaseDeduper
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.manager import CaseManager
from lookout.cases.model import DraftCase, case_id
from lookout.cases.settings import CodeEntry
from lookout.cases.sinks import JsonlSink, SqliteOutbox
from lookout.streams.frame import replace
from lookout.zones.events import ViolationEvent
from tests.support.helpers import T0, frame, parked_event


def event(bbox=(40.0, 40.0, 80.0, 70.0), t: float = 30.0, track: int = 1, **kw) -> ViolationEvent:
    f = frame(t)
    img = f.image.copy()
    img[40:70, 40:80] = 200
    f = replace(f, image=img)
    return parked_event(f, track=track, bbox=bbox, **kw)


CODES = {"illegal_parking": CodeEntry(code="09001", name="机动车乱停放")}


def manager(out: Path) -> CaseManager:
    return CaseManager(
        codes=CODES,
        deduper=CaseDeduper(cooldown_s=600, iou=0.3),
        evidence=EvidenceWriter(out),
        tz=ZoneInfo("Asia/Shanghai"),
        sinks=[SqliteOutbox.open(out / "cases.db"), JsonlSink.open(out / "cases.jsonl")],
    )


def test_case_id_is_deterministic_and_ignores_pixel_noise() -> None:
    a = case_id(event())
    assert a == case_id(event(bbox=(41.0, 39.5, 81.5, 71.2)))
    assert a != case_id(event(first_seen=T0))
    assert a != case_id(event(zone_id="z2"))


def test_case_json_has_the_contract_fields(tmp_path: Path) -> None:
    m = manager(tmp_path)
    case = m.handle(event())
    m.close()
    assert case is not None
    row = json.loads((tmp_path / "cases.jsonl").read_text().splitlines()[0])
    for key in (
        "id",
        "type",
        "code",
        "camera_id",
        "preset",
        "zone_id",
        "grid_code",
        "first_seen",
        "confirmed_at",
        "dwell_s",
        "bbox",
        "location",
        "confidence",
        "track_id",
        "evidence",
        "status",
    ):
        assert key in row, key
    assert row["status"] == "draft" and row["code"] == "09001"
    assert row["confirmed_at"].endswith("+08:00")  # site time zone
    assert len(row["evidence"]) == 2
    for rel in row["evidence"]:
        img = cv2.imread(str(tmp_path / rel))
        assert img is not None and img.ndim == 3
    full = cv2.imread(str(tmp_path / row["evidence"][0]))
    assert full is not None
    # The box is drawn in red on the full frame.
    assert full.shape == (120, 160, 3)
    assert (full[:, :, 2] > 200).sum() > 50 and (full[:, :, 0] < 60).sum() > 50


def test_same_place_new_track_merges_into_one_case(tmp_path: Path) -> None:
    m = manager(tmp_path)
    assert m.handle(event(track=1)) is not None
    assert m.handle(event(track=2, bbox=(42.0, 41.0, 81.0, 71.0), t=90)) is None
    assert m.handle(event(track=3, bbox=(100.0, 40.0, 140.0, 70.0), t=95)) is not None
    m.close()
    assert m.merged == 1 and m.emitted["illegal_parking"] == 2


def test_cooldown_expiry_makes_a_new_case(tmp_path: Path) -> None:
    m = manager(tmp_path)
    assert m.handle(event(t=30)) is not None
    later = event(t=30 + 700, first_seen=T0 + timedelta(seconds=700))
    assert m.handle(later) is not None
    m.close()


def test_sinks_are_idempotent_across_runs(tmp_path: Path) -> None:
    for _ in range(2):
        m = manager(tmp_path)
        m.handle(event())
        m.close()
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    assert outbox.count() == 1
    assert [c.type for c in outbox.cases()] == ["illegal_parking"]
    outbox.close()
    assert len((tmp_path / "cases.jsonl").read_text().splitlines()) == 1


def test_failing_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    class Broken:
        name = "broken"

        def write(self, case: DraftCase) -> bool:
            raise RuntimeError("down")

        def close(self) -> None:
            pass

    good = JsonlSink.open(tmp_path / "c.jsonl")
    m = CaseManager(
        CODES,
        CaseDeduper(cooldown_s=60, iou=0.3),
        EvidenceWriter(tmp_path),
        [Broken(), good],
        ZoneInfo("Asia/Shanghai"),
    )
    assert m.handle(event()) is not None
    m.close()
    assert m.sink_errors["broken"] == 1
    assert len((tmp_path / "c.jsonl").read_text().splitlines()) == 1


def test_crop_is_clipped_to_the_frame(tmp_path: Path) -> None:
    w = EvidenceWriter(tmp_path, crop_margin=1.0)
    crop = w.crop(event(bbox=(140.0, 100.0, 160.0, 120.0)))
    assert crop.shape[0] > 0 and crop.shape[1] > 0
    assert crop.shape[0] <= 120 and crop.shape[1] <= 160
    assert np.asarray(crop).dtype == np.uint8
