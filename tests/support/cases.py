"""A complete, valid `DraftCase` with a stable id, for tests of the cases layer and
of the commands that read an outbox (the `make_case` fixture of tests/cases)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from lookout.cases.model import DraftCase, Location

T0 = datetime(2025, 5, 6, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
TEST_NAMESPACE = uuid.UUID("0b6f5a8e-3c1d-4e8b-9b1f-5c2a7d9e4f10")


def build_case(i: int, **overrides: object) -> DraftCase:
    """Case `i`: confirmed 10 s after case i - 1, parked 300 s, `overrides` applied."""
    confirmed = T0 + timedelta(seconds=10 * i)
    fields: dict[str, object] = dict(
        id=str(uuid.uuid5(TEST_NAMESPACE, f"case-{i}")),
        type="illegal_parking",
        code="09001",
        code_name="机动车乱停放",
        camera_id="cam-roof-1",
        preset="A",
        zone_id="no-parking-1",
        grid_code="44030510100101",
        first_seen=confirmed - timedelta(seconds=300),
        confirmed_at=confirmed,
        last_seen=confirmed,
        dwell_s=300.0,
        bbox=[100.0, 200.0, 180.0, 260.0],
        location=Location(lon=113.93 + i * 1e-5, lat=22.53),
        confidence=0.87,
        track_id=i,
        object_class="car",
        support=[],
        evidence=[f"evidence/{i:04d}_full.jpg", f"evidence/{i:04d}_crop.jpg"],
    )
    fields.update(overrides)
    return DraftCase.model_validate(fields)
