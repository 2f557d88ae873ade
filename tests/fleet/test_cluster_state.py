"""State that moves with a camera (lookout/fleet/state.py) on a real redis-server: a
stop resumes on the box a camera moved to, an event there merges into the case the
first box made, a box whose lease moved on writes nothing, and what Redis lost is
written back on re-acquire."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from lookout.cases.dedup import CaseDeduper, CaseFootprint
from lookout.cases.dedup_store import Fence
from lookout.fleet.leases import LeaseStore
from lookout.fleet.state import CameraStops, ClusterState
from lookout.zones.dwell import DwellBook
from lookout.zones.events import ViolationEvent
from tests.support.redis_server import RedisServer

CAM = "cam1"
VAN = (600.0, 62.0, 730.0, 118.0)


@pytest.fixture()
def store(redis_server: RedisServer) -> Iterator[LeaseStore]:
    r = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=2)
    yield LeaseStore(r, "t", ttl_s=30)
    r.close()


def box(store: LeaseStore, name: str) -> tuple[ClusterState, dict[str, int]]:
    """A box's shared state whose fence is what it believes it holds (`held`)."""
    held: dict[str, int] = {}

    def fence(cam: str) -> Fence | None:
        return store.fence(cam, held[cam]) if cam in held else None

    return ClusterState(store, fence, cooldown_s=600), held


def event(
    at: datetime, bbox: tuple[float, float, float, float] = VAN, zone: str = "z"
) -> ViolationEvent:
    return ViolationEvent(
        type="illegal_parking",
        camera_id=CAM,
        preset=None,
        zone_id=zone,
        grid_code=None,
        track_id=7,
        class_name="truck",
        bbox=bbox,
        confidence=0.8,
        first_seen=at - timedelta(seconds=5),
        confirmed_at=at,
        dwell_s=5.0,
        support=(),
        polygon=((0.0, 0.0), (1.0, 0.0), (1.0, 1.0)),
        frame=None,  # type: ignore[arg-type]
    )


def test_a_moved_camera_resumes_the_stop_and_merges_into_the_first_boxs_case(
    store: LeaseStore,
) -> None:
    a, a_held = box(store, "a")
    b, b_held = box(store, "b")
    token = store.acquire(CAM, "a")
    assert token is not None
    a_held[CAM] = token
    now = time.time()
    # Box a: a van stopped 40 s ago, published by its dwell book; a case made.
    a_stops = CameraStops(a, CAM, "z:0", radius_frac=0.25, memory_s=120)
    a_stops.publish((665.0, 118.0), 56.0, now - 40, now)
    a_dedup = CaseDeduper(cooldown_s=600, iou=0.3)
    a_dedup.shared = a
    a_dedup.remember("case-1", event(datetime.fromtimestamp(now - 35, UTC)))
    # The camera moves to b (a's lease gone, b holds a new token).
    assert store.release(CAM, "a", token)
    token_b = store.acquire(CAM, "b")
    assert token_b is not None
    b_held[CAM] = token_b
    # b's dwell book sees the van (its own t axis starts at 0) and resumes the stop.
    book = DwellBook(forget_after_s=5, place_memory_s=120, place_iou=0.5, confirm_s=2)
    book.shared = CameraStops(b, CAM, "z:0", radius_frac=0.25, memory_s=120)
    book.wall_offset = now - 0.0
    state = book.get(1, (602.0, 63.0, 731.0, 119.0))
    for t in (0.0, 1.0, 2.0, 3.0):
        state.observe(t, (666.0, 119.0), (602.0, 63.0, 731.0, 119.0), 0.8, True, 0.25)
        book.settle(state, t, 0.25)
    assert state.dwell(3.0) == pytest.approx(43.0, abs=0.01)  # not 3 s: resumed
    assert b.resumed == 1
    # Another spot, or another zone's policy, resumes nothing.
    assert book.shared.resume((300.0, 118.0), 56.0, now - 2, now) is None
    other = CameraStops(b, CAM, "z2:0", radius_frac=0.25, memory_s=120)
    assert other.resume((665.0, 118.0), 56.0, now - 2, now) is None
    # The event b makes merges into case-1; one in another zone does not.
    b_dedup = CaseDeduper(cooldown_s=600, iou=0.3)
    b_dedup.shared = b
    assert b_dedup.match(event(datetime.fromtimestamp(now, UTC), zone="z2")) is None
    found = b_dedup.match(event(datetime.fromtimestamp(now, UTC)))
    assert found is not None and found.case_id == "case-1" and b_dedup.shared_merges == 1
    b_dedup.touch(found, event(datetime.fromtimestamp(now, UTC)))
    seen = b.recent(CAM, datetime.fromtimestamp(now - 1, UTC))
    assert [f.case_id for f in seen] == ["case-1"]  # its last sighting moved on
    # a, which no longer holds the lease, writes nothing (fenced).
    before = store.r.hgetall(store.camera_key("stops", CAM))
    a_stops.publish((100.0, 100.0), 40.0, now - 5, now)
    a_dedup.remember("case-stale", event(datetime.fromtimestamp(now, UTC), bbox=(1, 1, 9, 9)))
    assert a.refused == 2
    assert store.r.hgetall(store.camera_key("stops", CAM)) == before
    assert not store.r.hexists(store.camera_key("seen", CAM), "case-stale")


def test_what_redis_lost_is_written_back_on_reacquire(store: LeaseStore) -> None:
    a, held = box(store, "a")
    token = store.acquire(CAM, "a")
    assert token is not None
    held[CAM] = token
    now = time.time()
    CameraStops(a, CAM, "z:0", 0.25, 120).publish((665.0, 118.0), 56.0, now - 40, now)
    a.remember(CaseFootprint("c9", "illegal_parking", CAM, None, "z", VAN, datetime.now(UTC)))
    store.r.flushall()  # Redis restarted empty
    token2 = store.acquire(CAM, "a", seen=token)
    assert token2 is not None and token2 > token
    held[CAM] = token2
    a.republish(CAM)
    assert store.r.hlen(store.camera_key("stops", CAM)) == 1
    assert [f.case_id for f in a.recent(CAM, datetime.fromtimestamp(now - 60, UTC))] == ["c9"]
    assert 0 < store.r.ttl(store.camera_key("seen", CAM)) <= 600
