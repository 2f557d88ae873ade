"""A false alarm feeds dedup (docs/CASE_STATUS.md): no case of its type at its place —
the image box of an uncalibrated camera, the ground point of a calibrated one — within
the quiet period, across restarts, and across boxes sharing a real redis-server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from lookout.cases.dedup_store import distance_m
from lookout.cases.manager import CaseManager
from lookout.cases.settings import (
    CasesSettings,
    DedupConfig,
    DedupStoreConfig,
    EvidenceConfig,
    SqliteSinkConfig,
    default_codes,
)
from lookout.cases.verdicts import CaseReview
from lookout.zones.events import ViolationEvent
from tests.support.helpers import T0, frame, parked_event
from tests.support.redis_server import RedisServer

HOUR = 3600.0
LON, LAT = 114.0501430, 22.5402970
M_PER_DEG_LAT = 111_195.0
SOON = T0 + timedelta(minutes=5)  # when the operator decides


def event(t: float, *, bbox=(40.0, 40.0, 80.0, 70.0), **kw: object) -> ViolationEvent:
    f = frame(t, camera=str(kw.get("camera_id", "cam")))
    return parked_event(f, track=int(t), bbox=bbox, **kw)


def settings(out: Path, store: DedupStoreConfig | None = None) -> CasesSettings:
    return CasesSettings(
        codes={str(k): v for k, v in default_codes().items()},
        dedup=DedupConfig(cooldown_s=600, store=store or DedupStoreConfig()),
        evidence=EvidenceConfig(),
        sinks=[SqliteSinkConfig(type="sqlite")],
        timezone="Asia/Shanghai",
        out_dir=str(out),
    )


def north(metres: float) -> tuple[float, float]:
    return (LON, LAT + metres / M_PER_DEG_LAT)


def test_uncalibrated_false_alarm_holds_across_a_restart(tmp_path: Path) -> None:
    m = CaseManager.open(settings(tmp_path))
    case = m.handle(event(30))
    assert case is not None and case.location is None
    m.close()
    with CaseReview.open(tmp_path / "cases.db") as review:
        review.verdict(case.id, "false_alarm", "op-li", at=SOON)

    m = CaseManager.open(settings(tmp_path))  # a restart: seeded from the outbox
    try:
        # Two hours later (past the 600 s cooldown): the same box, a little shifted.
        assert m.handle(event(2 * HOUR, bbox=(42.0, 41.0, 83.0, 71.0))) is None
        assert m.suppressed == 1
        # Six days later, still quiet (the default quiet period is 7 days)...
        assert m.handle(event(6 * 24 * HOUR)) is None
        # ...which restarted at the last sighting: 12 days after the case, still quiet.
        assert m.handle(event(12 * 24 * HOUR)) is None
        assert m.suppressed == 3
        # Elsewhere in the image, another zone, another camera: cases as usual.
        assert m.handle(event(2 * HOUR, bbox=(100.0, 60.0, 140.0, 100.0))) is not None
        assert m.handle(event(2 * HOUR, zone_id="z2")) is not None
        assert m.handle(event(2 * HOUR, camera_id="cam-b")) is not None
        # Another type at that place is no false alarm of this one.
        assert m.handle(event(2 * HOUR, type="street_vendor")) is not None
        # After a quiet period without sightings, the place is watched again.
        assert m.handle(event(20 * 24 * HOUR)) is not None
    finally:
        m.close()
    with CaseReview.open(tmp_path / "cases.db") as review:
        rows = review.outbox.fetch("SELECT case_id, count FROM false_alarm_sightings")
    assert rows == [(case.id, 3)]


def test_ground_false_alarm_covers_every_camera_and_a_later_verdict_lifts_it(
    tmp_path: Path,
) -> None:
    m = CaseManager.open(settings(tmp_path))
    case = m.handle(event(30, location=north(0)))
    assert case is not None and m.flush()  # written by the case-writer thread
    with CaseReview.open(tmp_path / "cases.db") as review:
        review.verdict(case.id, "false_alarm", "op-li", at=SOON)
    m.false_alarms.refresh(force=True)  # type: ignore[union-attr]  # the daemon polls
    try:
        # A second camera sees the same spot 3 m away, two hours later: quiet.
        other = event(2 * HOUR, camera_id="east", bbox=(500.0, 300.0, 560.0, 340.0))
        assert m.handle(replace(other, location=north(3))) is None
        # 20 m away is another place.
        far = m.handle(replace(other, location=north(20)))
        assert far is not None and far.location is not None
        assert distance_m(far.location.lon, far.location.lat, *north(0)) > 19
        # The operator changes their mind: confirmed. The place is watched again.
        with CaseReview.open(tmp_path / "cases.db") as review:
            review.verdict(case.id, "confirmed", "op-wang", "parked after all", SOON)
        m.false_alarms.refresh(force=True)  # type: ignore[union-attr]
        later = event(4 * HOUR, camera_id="east", bbox=(500.0, 300.0, 560.0, 340.0))
        assert m.handle(replace(later, location=north(1))) is not None
    finally:
        m.close()


@pytest.fixture()
def redis_store(redis_server: RedisServer) -> DedupStoreConfig:
    return DedupStoreConfig(type="redis", url=redis_server.url)


def test_a_false_alarm_on_one_box_holds_on_another_through_redis(
    tmp_path: Path, redis_store: DedupStoreConfig
) -> None:
    box_a, box_b = tmp_path / "a", tmp_path / "b"
    a = CaseManager.open(settings(box_a, redis_store))
    located = a.handle(event(30, location=north(0)))
    image = a.handle(event(40, camera_id="fixed-1", bbox=(200.0, 50.0, 240.0, 80.0)))
    assert located is not None and image is not None
    a.close()
    # The operator marks both false alarms on box A (console / CLI with --config).
    with CaseReview.from_settings(settings(box_a, redis_store)) as review:
        review.verdict(located.id, "false_alarm", "op-li", at=SOON)
    with CaseReview.open(box_a / "cases.db") as review:  # no Redis here: box A's
        review.verdict(image.id, "false_alarm", "op-li", at=SOON)  # manager shares it (below)
    a = CaseManager.open(settings(box_a, redis_store))  # box A restarts: publishes
    a.close()

    # Box B has its own outbox without any verdict, and shares dedup through Redis.
    b = CaseManager.open(settings(box_b, redis_store))
    try:
        assert b.handle(event(3 * HOUR, camera_id="east", location=north(2))) is None
        # The camera moved to box B (failover): its image-box false alarm holds too.
        moved = event(3 * HOUR, camera_id="fixed-1", bbox=(201.0, 51.0, 241.0, 81.0))
        assert b.handle(moved) is None
        assert b.suppressed == 2
        assert b.handle(event(3 * HOUR, camera_id="east", location=north(30))) is not None
    finally:
        b.close()
