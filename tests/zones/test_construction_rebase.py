"""Closing a construction case with --rebase: the zone's current view becomes its
reference at the next survey (docs/CASE_STATUS.md "Rebase"), on a real frame surveyed
over simulated days, across a restart of the watch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
import pytest

from lookout.cases.model import DraftCase
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones import simulate
from lookout.zones.construction_rule import rebase_request_path
from lookout.zones.rules import ZoneEngine

T0 = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)
SHED = (150.0, 380.0, 230.0, 430.0)
LAWN = [[0, 250], [330, 300], [480, 420], [700, 500], [767, 575], [0, 575]]
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def visits(assets: Path) -> list[Frame]:
    """14 visits 12 h apart; a blue shed stands from the third (+24 h) on."""
    with av.open(str(assets / "footage" / "vtest.avi")) as c:
        still = np.asarray(next(c.decode(video=0)).to_ndarray(format="bgr24"), np.uint8)
    seq = simulate.visits(still, T0, shed=SHED, count=14, every_h=12)
    return [Frame("roof", i, float(i), at, float(i), img) for i, (at, img) in enumerate(seq)]


def engine(references: Path) -> ZoneEngine:
    cam = CameraConfig.model_validate(
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
    return ZoneEngine(cam, ["person"], TZ, references=references)


def survey(eng: ZoneEngine, frames: list[Frame]) -> list[int]:
    """Indices of the visits that made an event."""
    return [f.index for f in frames if eng.update(f, Detections.empty())]


def closed_case(out: Path, at: datetime, rebase: bool) -> None:
    """The shed's case in the outbox, closed by an operator (a permit exists)."""
    outbox = SqliteOutbox.open(out / "cases.db")
    case = DraftCase(
        id="c0ffee00-0000-5000-8000-000000000001",
        type="illegal_construction",
        code="10001",
        code_name="违法建设",
        camera_id="roof",
        preset=None,
        zone_id="lawn-watch",
        grid_code=None,
        first_seen=T0 + timedelta(hours=24),
        confirmed_at=at,
        last_seen=at,
        dwell_s=48 * 3600.0,
        bbox=list(SHED),
        confidence=0.8,
        track_id=0,
        object_class="structure",
    )
    outbox.write(case)
    with CaseReview(outbox, references=out / "references") as review:
        update = review.verdict(case.id, "closed", "op-li", "permit 2026-117", rebase=rebase)
    assert update.rebase is rebase


@pytest.mark.parametrize("rebase", [True, False])
def test_closing_with_rebase_makes_the_current_view_the_reference(
    visits: list[Frame], tmp_path: Path, rebase: bool
) -> None:
    refs = tmp_path / "references"
    eng = engine(refs)
    assert survey(eng, visits[:7]) == [6]  # K = 3 visits over 48 h: the case at +72 h
    closed_case(tmp_path, visits[6].captured_at, rebase)
    request = rebase_request_path(refs, "roof", None, "lawn-watch")
    assert request.is_file() is rebase
    ref_file = refs / "roof_default_lawn-watch.jpg"
    before = cv2.imread(str(ref_file))
    assert survey(eng, visits[7:8]) == []
    assert not request.exists()  # consumed by the survey
    after = cv2.imread(str(ref_file))
    assert before is not None and after is not None
    x1, y1, x2, y2 = (int(v) for v in SHED)
    changed = float(np.abs(after[y1:y2, x1:x2].astype(int) - before[y1:y2, x1:x2]).mean())
    if rebase:
        assert changed > 10  # the shed is in the reference now
    else:
        assert changed == 0
    # The box restarts: a new watch reads the reference file. Without the rebase the
    # shed is a new change again (one more case); with it, nothing.
    fired = survey(engine(refs), visits[8:])
    assert len(fired) == (0 if rebase else 1), fired


def test_a_request_before_the_first_survey_after_a_restart_is_honoured(
    visits: list[Frame], tmp_path: Path
) -> None:
    refs = tmp_path / "references"
    assert survey(engine(refs), visits[:7]) == [6]
    closed_case(tmp_path, visits[6].captured_at, rebase=True)
    # The daemon restarts before the next survey: the request still holds.
    eng = engine(refs)
    assert survey(eng, visits[7:]) == []
    assert not rebase_request_path(refs, "roof", None, "lawn-watch").exists()
