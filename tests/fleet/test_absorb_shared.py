"""An operator's verdict on a static object reaches the camera's scene model on the box
that runs it (docs/FLEET.md "State moves with a camera"), on a real redis-server: box
A's case review shares the absorb request (cases/false_alarms.py), box B's scene model
reads and deletes it at its next update (lookout/fleet/state.py), a request for another
preset waits for that preset, and a Redis that is down stops neither the verdict nor
the analysis. Real pixels, as tests/zones/test_stationary.py: a still vtest frame with
goods cut from dog.jpg."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, cast

import numpy as np
import pytest
import redis
from numpy.typing import NDArray

from lookout.base.geometry import box_iou
from lookout.cases.dedup_store import Fence
from lookout.cases.false_alarms import ABSORB_TTL_S, RedisFalseAlarms, absorb_key
from lookout.cases.model import DraftCase
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.fleet.leases import LeaseStore
from lookout.fleet.state import ClusterState
from lookout.streams.frame import Frame
from lookout.zones.rules import ClassResolver
from lookout.zones.stationary import (
    STATIC_CLASS,
    AbsorbRequest,
    StationaryDetector,
    absorb_dir,
    analysis_classes,
    watching_zones,
)
from tests.support import scenes
from tests.support.redis_server import RedisServer

if TYPE_CHECKING:
    from lookout.runtime.camera import CameraRuntime

Image = NDArray[np.uint8]
T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
CAM = "vtest"
WALKWAY = [[0, 185], [640, 150], [768, 200], [768, 470], [420, 330], [0, 240]]
GOODS = (460, 240, 520, 300)  # x1, y1, x2, y2 on the walkway
NAMES = ["person", "bicycle", "car", "umbrella"]
ROLES = {"person": ["person"], "vehicle": ["car"], "stall_object": ["umbrella"]}
CASE_ID = "5a1e0000-0000-5000-8000-0000000000a1"


@pytest.fixture(scope="module")
def street(assets: Path) -> Image:
    return scenes.vtest_still(assets)


@pytest.fixture(scope="module")
def with_goods(street: Image, assets: Path) -> Image:
    return scenes.with_goods(street, assets, GOODS)


def detector(references: Path) -> StationaryDetector:
    cam = CameraConfig.model_validate(
        {
            "id": CAM,
            "static_objects": {"static_s": 10, "interval_s": 1},
            "zones": [{"id": "walkway", "polygon": WALKWAY, "policies": [{"type": "occupation"}]}],
        }
    )
    names, roles = analysis_classes(NAMES, ROLES)
    static_id = names.index(STATIC_CLASS)
    zones = watching_zones(cam.zones, ClassResolver(names, roles), static_id)
    return StationaryDetector(cam.id, zones, cam.static_objects, static_id, references)


def run(det: StationaryDetector, images: list[Image], start: int = 0) -> list[Detections]:
    out = []
    for i, image in enumerate(images):
        t = float(start + i)
        f = Frame(CAM, start + i, t, T0 + timedelta(seconds=t), t, image)
        out.append(det.detect(f, Detections.empty()))
    return out


def box_b(url: str, references: Path) -> tuple[StationaryDetector, ClusterState, redis.Redis]:
    """Box B runs the camera: it holds the lease, and `adopt` (the daemon's path when a
    camera starts on a box) gives its scene model the shared requests."""
    client = redis.Redis.from_url(url, decode_responses=True, socket_timeout=1)
    store = LeaseStore(client, "lookout", ttl_s=30)
    token = store.acquire(CAM, "box-b")
    assert token is not None

    def fence(camera_id: str) -> Fence | None:
        return store.fence(camera_id, token) if camera_id == CAM else None

    state = ClusterState(store, fence, cooldown_s=600)
    det = detector(references)
    rt = SimpleNamespace(analyser=SimpleNamespace(stationary=det, zones=SimpleNamespace(rules=[])))
    state.adopt(cast("CameraRuntime", rt))
    assert det.sources == [state.absorb_requests]
    return det, state, client


def static_case(bbox: list[float], preset: str | None = None) -> DraftCase:
    at = T0 + timedelta(seconds=23)
    return scenes.walkway_case(bbox, case_id=CASE_ID, at=at, camera_id=CAM, preset=preset)


@pytest.fixture()
def shared(redis_server: RedisServer) -> Iterator[RedisFalseAlarms]:
    """Box A's shared store, as `CaseReview.from_settings` opens it for a Redis dedup
    store."""
    alarms = RedisFalseAlarms.open(redis_server.url, 600)
    yield alarms
    alarms.close()


def test_a_verdict_on_box_a_absorbs_the_goods_on_box_b(
    street: Image,
    with_goods: Image,
    tmp_path: Path,
    redis_server: RedisServer,
    shared: RedisFalseAlarms,
) -> None:
    det, state, r = box_b(redis_server.url, tmp_path / "b" / "references")
    seen = run(det, [street] * 3 + [with_goods] * 20)
    last = seen[-1]
    assert last.class_id.tolist() == [len(NAMES)]
    assert box_iou(tuple(float(v) for v in last.xyxy[0]), GOODS) > 0.5  # type: ignore[arg-type]
    # Box A (its own out dir) records the operator's verdict.
    refs_a = tmp_path / "a" / "references"
    refs_a.parent.mkdir()
    outbox = SqliteOutbox.open(tmp_path / "a" / "cases.db")
    outbox.write(static_case([float(v) for v in last.xyxy[0]]))
    with CaseReview(outbox, references=refs_a, shared=shared) as review:
        review.verdict(CASE_ID, "confirmed", "op-wang")
    key = absorb_key(CAM)
    assert key == "{lookout}:absorb:vtest"
    assert r.hkeys(key) == [CASE_ID]
    assert 0 < r.ttl(key) <= ABSORB_TTL_S
    assert len(list(absorb_dir(refs_a).glob("vtest_default.*.absorb.json"))) == 1  # one box
    # Box B's next scene update takes it: the goods are part of its empty scene now.
    after = run(det, [with_goods] * 30, start=23)
    assert not any(len(d) for d in after)
    assert r.exists(key) == 0
    assert state.errors == 0
    r.close()


def test_a_request_for_another_preset_is_left_for_it(
    street: Image, tmp_path: Path, redis_server: RedisServer, shared: RedisFalseAlarms
) -> None:
    det, state, r = box_b(redis_server.url, tmp_path / "references")
    shared.request_absorb(CAM, "p2", GOODS, case_id=CASE_ID, by="op-li", at=T0)
    run(det, [street] * 5)  # preset None: updates every frame, p2's request stays
    key = absorb_key(CAM)
    assert r.hkeys(key) == [CASE_ID]
    # A box that does not hold the camera's lease takes nothing.
    other = ClusterState(state.store, lambda _cam: None, cooldown_s=600)
    assert other.absorb_requests(CAM, "p2") == []
    assert r.hkeys(key) == [CASE_ID]
    got = state.absorb_requests(CAM, "p2")
    assert got == [AbsorbRequest(tuple(float(v) for v in GOODS), CASE_ID, "op-li")]  # type: ignore[arg-type]
    assert r.exists(key) == 0
    assert state.absorb_requests(CAM, "p2") == []  # read once
    r.close()


def test_redis_down_stops_neither_the_verdict_nor_the_analysis(
    street: Image,
    with_goods: Image,
    tmp_path: Path,
    private_redis: RedisServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    det, state, r = box_b(private_redis.url, tmp_path / "b" / "references")
    calls: list[str | None] = []

    def broken(camera_id: str, preset: str | None) -> list[AbsorbRequest]:
        calls.append(preset)
        raise RuntimeError("source away")

    det.sources.append(broken)
    private_redis.stop()
    seen = run(det, [street] * 3 + [with_goods] * 20)  # nothing raises
    assert seen[-1].class_id.tolist() == [len(NAMES)]  # analysis went on
    assert state.errors == 1  # then not asked again for ABSORB_RETRY_S
    assert len(calls) == 23  # asked at every update (interval_s 1), logged once
    assert sum("source away" in m for m in caplog.messages) == 1
    # The verdict is recorded and the local request written; the shared one is not.
    shared = RedisFalseAlarms.open(private_redis.url, 600, timeout_s=0.5)
    outbox = SqliteOutbox.open(tmp_path / "a" / "cases.db")
    outbox.write(static_case([float(v) for v in GOODS]))
    refs_a = tmp_path / "a" / "references"
    with CaseReview(outbox, references=refs_a, shared=shared) as review:
        assert review.verdict(CASE_ID, "confirmed", "op-wang").status == "confirmed"
    assert len(list(absorb_dir(refs_a).glob("*.absorb.json"))) == 1
    r.close()
