"""Both dedup stores, tested alike; Redis is the real redis-server the tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lookout.cases.dedup_store import (
    DedupStore,
    PlaceRef,
    RedisDedupStore,
    SqliteDedupStore,
    distance_m,
)
from tests.support.redis_server import RedisServer

LON, LAT = 114.0500, 22.5400
M_PER_DEG_LAT = 111_195.0


def north(metres: float) -> float:
    return LAT + metres / M_PER_DEG_LAT


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    """The URL of the shared redis-server (emptied before the test)."""
    return redis_server.url


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DedupStore]:
    if request.param == "sqlite":
        s: DedupStore = SqliteDedupStore.open(tmp_path / "dedup.db")
    else:
        url = request.getfixturevalue("redis_url")
        s = RedisDedupStore.open(url, prefix=f"t{tmp_path.name}")
    yield s
    s.close()


def place(
    case_id: str,
    lat: float = LAT,
    t: float = 1000.0,
    type: str = "illegal_parking",
    camera: str = "cam1",
) -> PlaceRef:
    return PlaceRef(case_id, type, LON, lat, camera, t, t)


def test_distance() -> None:
    assert distance_m(LON, LAT, LON, north(10)) == pytest.approx(10, abs=0.05)


def test_same_place_other_camera_is_one_case(store: DedupStore) -> None:
    assert store.claim(place("a"), radius_m=5, ttl_s=600)
    found = store.find_near("illegal_parking", LON, north(2), radius_m=5, since=900)
    assert found is not None and found.case_id == "a" and found.camera_id == "cam1"
    # A second camera proposing a case 2 m away loses the claim.
    assert not store.claim(place("b", lat=north(2), camera="cam2"), radius_m=5, ttl_s=600)


def test_far_away_other_type_or_stale_is_not_the_same(store: DedupStore) -> None:
    assert store.claim(place("a"), radius_m=5, ttl_s=600)
    assert store.find_near("illegal_parking", LON, north(20), 5, since=900) is None
    assert store.find_near("street_vendor", LON, LAT, 5, since=900) is None
    assert store.find_near("illegal_parking", LON, LAT, 5, since=1001) is None
    assert store.claim(place("c", lat=north(20)), radius_m=5, ttl_s=600)


def test_touch_moves_last_seen_and_keeps_the_case_alive(store: DedupStore) -> None:
    assert store.claim(place("a", t=1000), radius_m=5, ttl_s=600)
    store.touch("a", 1300)
    found = store.find_near("illegal_parking", LON, LAT, 5, since=1200)
    assert found is not None and found.last_seen == 1300 and found.first_seen == 1000
    store.touch("a", 1100)  # never backwards
    found = store.find_near("illegal_parking", LON, LAT, 5, since=1200)
    assert found is not None and found.last_seen == 1300


def test_nearest_of_several(store: DedupStore) -> None:
    assert store.claim(place("a"), radius_m=3, ttl_s=600)
    assert store.claim(place("b", lat=north(8)), radius_m=3, ttl_s=600)
    found = store.find_near("illegal_parking", LON, north(6), 5, since=0)
    assert found is not None and found.case_id == "b"


def test_sqlite_store_survives_a_restart(tmp_path: Path) -> None:
    s = SqliteDedupStore.open(tmp_path / "d.db")
    assert s.claim(place("a"), radius_m=5, ttl_s=600)
    s.close()
    s2 = SqliteDedupStore.open(tmp_path / "d.db")
    found = s2.find_near("illegal_parking", LON, LAT, 5, since=0)
    s2.close()
    assert found is not None and found.case_id == "a"


def test_redis_store_is_shared_between_boxes(redis_url: str) -> None:
    box1 = RedisDedupStore.open(redis_url, prefix="shared")
    box2 = RedisDedupStore.open(redis_url, prefix="shared")
    try:
        assert box1.claim(place("a"), radius_m=5, ttl_s=600)
        assert not box2.claim(place("b", lat=north(1)), radius_m=5, ttl_s=600)
        found = box2.find_near("illegal_parking", LON, LAT, 5, since=0)
        assert found is not None and found.case_id == "a"
    finally:
        box1.close()
        box2.close()
