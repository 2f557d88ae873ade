"""Fixtures for delivery tests: a local case-system HTTP endpoint (bound to 127.0.0.1)
and a factory of complete `DraftCase` objects. Redis comes from the root conftest
(`redis_server`, shared; `private_redis`, a server of the test's own)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lookout.cases.model import DraftCase, Location
from tests.support.case_endpoint import CaseEndpoint

T0 = datetime(2025, 5, 6, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
TEST_NAMESPACE = uuid.UUID("0b6f5a8e-3c1d-4e8b-9b1f-5c2a7d9e4f10")


@pytest.fixture()
def endpoint() -> Iterator[CaseEndpoint]:
    """The case system's webhook endpoint, answering 200 until told otherwise."""
    server = CaseEndpoint().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def make_case() -> Callable[..., DraftCase]:
    """`make_case(i, **overrides)`: a complete, valid draft case with a stable id."""

    def build(i: int, **overrides: object) -> DraftCase:
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

    return build
