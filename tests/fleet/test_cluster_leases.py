"""Leases, tokens, fencing and assignment on a real redis-server (no persistence): the
shared one, and a private one for the restarts."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from lookout.cases.dedup_store import Fence, PlaceRef, RedisDedupStore, StaleToken
from lookout.cli.main import main
from lookout.config.fleet import ClusterConfig
from lookout.fleet.agent import ClusterAgent
from lookout.fleet.leases import LeaseStore, assign, rank
from tests.support.config import MakeConfig
from tests.support.redis_server import RedisServer

CAMERAS = [f"cam{i:02d}" for i in range(12)]


@pytest.fixture()
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the shared redis-server (emptied before the test)."""
    r = redis.Redis.from_url(redis_server.url, decode_responses=True, socket_timeout=2)
    yield r
    r.close()


def agent(client: redis.Redis, box: str, ttl: float = 1.5, **kw: float) -> ClusterAgent:
    cfg = ClusterConfig(url="redis://x", box_id=box, lease_ttl_s=ttl, **kw)  # type: ignore[arg-type]
    return ClusterAgent(cfg, LeaseStore(client, "t", ttl), CAMERAS)


# -- assignment --------------------------------------------------------------------------
def test_rendezvous_moves_only_the_dead_boxs_cameras() -> None:
    cams = [f"c{i}" for i in range(1000)]
    boxes = {f"box{i}": 1.0 for i in range(5)}
    before = assign(cams, boxes)
    after = assign(cams, {b: w for b, w in boxes.items() if b != "box3"})
    moved = {c for c in cams if before[c] != after[c]}
    assert moved == {c for c in cams if before[c] == "box3"}
    assert 150 < len(moved) < 250  # box3 had about a fifth
    assert assign(cams, boxes) == before  # back: every camera where it was


def test_weights_are_respected() -> None:
    cams = [f"c{i}" for i in range(4000)]
    share = Counter(assign(cams, {"a": 1.0, "b": 1.0, "c": 2.0}).values())
    assert abs(share["c"] / 4000 - 0.5) < 0.03
    assert abs(share["a"] / 4000 - 0.25) < 0.03
    assert rank("c1", {"a": 1.0, "b": 1.0}) == rank("c1", {"b": 1.0, "a": 1.0})


# -- leases --------------------------------------------------------------------------------
def test_acquire_renew_release_and_expiry(client: redis.Redis) -> None:
    store = LeaseStore(client, "t", ttl_s=0.4)
    t1 = store.acquire("cam1", "a")
    assert t1 is not None
    assert store.acquire("cam1", "b") is None  # NX: held
    assert client.get("{t}:lease:cam1") == f"a:{t1}"
    assert store.renew("cam1", "a", t1) == 1
    assert store.renew("cam1", "b", t1) == -1  # not b's
    assert store.release("cam1", "b", t1) is False  # compare-and-delete: not b's
    assert store.release("cam1", "a", t1) is True
    assert store.release("cam1", "a", t1) is False
    t2 = store.acquire("cam1", "a")
    assert t2 is not None and t2 > t1
    time.sleep(0.5)  # not renewed: expired
    assert store.renew("cam1", "a", t2) == 0
    t3 = store.acquire("cam1", "b")
    assert t3 is not None and t3 > t2
    assert store.renew("cam1", "a", t2) == -1


def test_tokens_stay_monotonic_across_a_redis_restart(private_redis: RedisServer) -> None:
    server = private_redis  # restarted below
    r = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=2)
    store = LeaseStore(r, "t", ttl_s=30)
    before = [store.acquire(f"m{i}", "a") for i in range(50)]
    assert all(t is not None for t in before)
    assert before == sorted(before)  # type: ignore[type-var]
    old = max(t for t in before if t is not None)
    server.stop()  # no persistence: the counter and every lease are gone
    server.start()
    r.connection_pool.disconnect()
    assert r.get("{t}:token") is None and r.get("{t}:lease:m0") is None
    fresh = store.acquire("m0", "b")  # a box that remembers nothing (seen = 0)
    assert fresh is not None and fresh > old
    # The stale token of before the restart cannot write, the new one can.
    places = RedisDedupStore(r, prefix="t")
    place = PlaceRef("case-1", "illegal_parking", 116.3, 39.9, "m0", 0.0, 1.0)
    with pytest.raises(StaleToken):
        places.claim(place, 5.0, 60.0, Fence("{t}:lease:m0", old))
    assert places.claim(place, 5.0, 60.0, Fence("{t}:lease:m0", fresh))
    r.close()


def test_a_write_with_a_stale_token_is_refused(client: redis.Redis) -> None:
    store = LeaseStore(client, "t", ttl_s=30)
    places = RedisDedupStore(client, prefix="t")
    stale = store.acquire("cam1", "a")
    assert stale is not None
    assert store.release("cam1", "a", stale)
    current = store.acquire("cam1", "b")
    assert current is not None
    place = PlaceRef("case-a", "illegal_parking", 116.3, 39.9, "cam1", 0.0, 1.0)
    with pytest.raises(StaleToken):
        places.claim(place, 5.0, 60.0, store.fence("cam1", stale))
    assert places.find_near("illegal_parking", 116.3, 39.9, 5.0, 0.0) is None  # no trace
    assert client.keys("{t}:claim:*") == []
    with pytest.raises(StaleToken):
        places.check_fence(store.fence("cam1", stale))
    with pytest.raises(StaleToken):  # a lease held by nobody fences too
        places.check_fence(store.fence("nobody", stale))
    places.check_fence(store.fence("cam1", current))
    assert places.claim(place, 5.0, 60.0, store.fence("cam1", current))
    assert places.find_near("illegal_parking", 116.3, 39.9, 5.0, 0.0) is not None


# -- agents ------------------------------------------------------------------------------------
def test_a_dead_box_loses_only_its_cameras_and_gets_them_back_gently(
    client: redis.Redis,
) -> None:
    a, b, c = (agent(client, x, hold_down_s=1.0, move_every_s=0.4) for x in "abc")
    for _ in range(2):  # the second round sees every box
        for x in (a, b, c):
            x.tick()
    share = assign(CAMERAS, {"a": 1.0, "b": 1.0, "c": 1.0})
    for x in (a, b, c):
        assert x.held() == {cam for cam, box in share.items() if box == x.cfg.box_id}
    c_cams, b_before = c.held(), b.held()
    assert c_cams
    # c dies (stops renewing): after its ttl a and b take its cameras, and nothing else.
    t0 = time.monotonic()
    while a.held() | b.held() != set(CAMERAS):
        assert time.monotonic() - t0 < 1.5 + 2 * a.cfg.renew_s, "not taken over"
        time.sleep(a.cfg.renew_s / 5)
        a.tick()
        b.tick()
    assert b_before <= b.held() and a.held() & b.held() == set()
    assert c.fence(sorted(c_cams)[0]) is None  # its local deadline passed too
    # c comes back (a new process: no memory): one camera at a time, after the hold-down.
    c2 = agent(client, "c", hold_down_s=1.0, move_every_s=0.4)
    held_counts = []
    t0 = time.monotonic()
    while c2.held() != c_cams:
        assert time.monotonic() - t0 < 1.0 + 0.5 * len(c_cams) + 3, "not moved back"
        for x in (a, b, c2):
            x.tick()
        held_counts.append(len(c2.held()))
        time.sleep(0.1)
    assert held_counts[0] == 0  # nothing during the hold-down
    steps = [y - x for x, y in itertools.pairwise(held_counts)]
    assert max(steps) <= 1  # one at a time
    assert a.stats["moved"] + b.stats["moved"] == len(c_cams)


def test_a_paused_box_drops_its_cameras_and_fences_nothing(client: redis.Redis) -> None:
    a, b = agent(client, "a"), agent(client, "b")
    for _ in range(2):
        a.tick()
        b.tick()
    cam = sorted(a.held())[0]
    stale = a.fence(cam)
    assert stale is not None
    time.sleep(1.6)  # "a" is paused past its ttl: no round runs
    assert a.fence(cam) is None  # before it even runs again
    b.tick()
    b.tick()
    assert cam in b.held()
    places = RedisDedupStore(client, prefix="t")
    place = PlaceRef("late", "illegal_parking", 116.3, 39.9, cam, 0.0, 1.0)
    with pytest.raises(StaleToken):  # what it believed it held is refused in Redis
        places.claim(place, 5.0, 60.0, stale)
    a.tick()
    assert cam not in a.held() and a.stats["lost"] >= 1


def test_redis_restart_keeps_every_camera_on_its_box(private_redis: RedisServer) -> None:
    server = private_redis  # restarted below
    r = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=2)
    r.flushall()
    a, b = agent(r, "a", ttl=3.0), agent(r, "b", ttl=3.0)
    for _ in range(2):
        a.tick()
        b.tick()
    held = (a.held(), b.held())
    tokens = {c: a.fence(c) or b.fence(c) for c in CAMERAS}
    server.stop()
    server.start()
    r.connection_pool.disconnect()
    a.tick()
    b.tick()
    assert (a.held(), b.held()) == held  # re-acquired where they ran, never on both
    assert a.stats["reacquired"] + b.stats["reacquired"] == len(CAMERAS)
    for c in CAMERAS:
        new = a.fence(c) or b.fence(c)
        old = tokens[c]
        assert new is not None and old is not None and new.token > old.token
    a.release_all()
    assert not [k for k in r.keys("{t}:lease:*") if str(r.get(k)).startswith("a:")]
    r.close()


# -- status ----------------------------------------------------------------------------------
def test_cluster_status_json_shows_the_real_state(
    redis_server: RedisServer,
    client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    make_config: MakeConfig,
) -> None:
    a, b = agent(client, "a", ttl=5.0), agent(client, "b", ttl=5.0)
    for _ in range(2):
        a.tick()
        b.tick()
    b.release_all()  # b stops cleanly: its leases and heartbeat go at once
    cfg = make_config(
        [{"id": c, "source": "x.mp4"} for c in [*CAMERAS, "extra"]],
        dedup={"store": {"type": "redis", "url": "${LOOKOUT_TEST_REDIS}"}},
        cluster={"url": "${LOOKOUT_TEST_REDIS}", "box_id": "a", "prefix": "t"},
    )
    monkeypatch.setenv("LOOKOUT_TEST_REDIS", redis_server.url)
    assert main(["cluster", "status", "--config", str(cfg), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    boxes = {x["id"]: x for x in status["boxes"]}
    assert boxes["a"]["live"] and boxes["a"]["cameras"] == len(a.held())
    assert boxes["b"] == {"id": "b", "live": False}
    rows = {r["camera"]: r for r in status["cameras"]}
    for cam in CAMERAS:
        fence = a.fence(cam)
        if fence is None:
            assert rows[cam]["box"] is None
            continue
        assert rows[cam]["box"] == "a" and rows[cam]["token"] == fence.token
        assert 0 <= rows[cam]["lease_age_s"] < 5 and 0 < rows[cam]["ttl_left_s"] <= 5
    assert set(status["unheld"]) == {c for c in [*CAMERAS, "extra"] if a.fence(c) is None}
    assert "extra" in status["unheld"] and len(status["unheld"]) > 1
    # The text form says the same in lines.
    assert main(["cluster", "status", "--config", str(cfg)]) == 0
    assert f"{len(status['unheld'])} camera(s) held by nobody" in capsys.readouterr().out


def test_every_scripts_keys_share_one_hash_slot(client: redis.Redis) -> None:
    """Redis Cluster: a script's keys must lie in one slot. With the default prefixes the
    grant (lease, token), the fenced claim (lease, claim), the fenced state write
    (lease, state) and the heartbeat transaction (box, boxes) all do."""
    from redis.crc import key_slot

    store = LeaseStore(client, "lookout", ttl_s=30)
    places = RedisDedupStore(client)  # its default prefix
    place = PlaceRef("case-s", "illegal_parking", 116.3, 39.9, "cam1", 0.0, 1.0)
    token = store.acquire("cam1", "a")
    assert token is not None
    assert places.claim(place, 5.0, 60.0, store.fence("cam1", token))
    store.beat("a", 1.0, {}, 0)
    keys = [str(k) for k in client.keys("*") if not str(k).startswith("lookout:place")]
    keys.append(store.camera_key("seen", "cam1"))
    assert any(":claim:" in k for k in keys) and any(k.endswith(":token") for k in keys)
    assert {key_slot(k.encode()) for k in keys} == {key_slot(b"{lookout}")}, keys
