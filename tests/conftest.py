"""Fixtures for every test: the shared assets, the session's model cache, the YOLOX
detector and the demo replay (each made once per session), the one shared
redis-server, and the config builder (tests/support/config.py)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import redis

from lookout.base.paths import assets_dir
from tests.support.config import DEMO, YOLOX_MANIFEST, MakeConfig, write_config
from tests.support.redis_server import RedisServer

if TYPE_CHECKING:
    from lookout.detector.onnx_model import OnnxDetector


@pytest.fixture(scope="session")
def assets() -> Path:
    path = assets_dir()
    if not (path / "models" / "yolox_nano.onnx").is_file():
        pytest.fail(f"shared assets not found at {path}; set LOOKOUT_ASSETS")
    return path


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    import os

    os.environ.setdefault("LOOKOUT_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def yolox_detector(assets: Path) -> OnnxDetector:
    """The detector `lookout replay` builds for models/yolox_nano.yaml with the default
    model settings (CPU, batch 4, confidence 0.25, NMS IoU 0.45, warmed up), built once
    per test session. Shared: do not change its thresholds; a test that needs another
    model or other settings builds its own."""
    from lookout.config.app import AppConfig
    from lookout.runtime.services import build_detector

    cfg = AppConfig.model_validate(
        {"model": {"manifest": str(YOLOX_MANIFEST)}, "cameras": [{"id": "cam"}]}
    )
    return build_detector(cfg, "tests/conftest.py")


@pytest.fixture(scope="session")
def vtest_100(assets: Path) -> np.ndarray:
    """Frame 100 of vtest.avi (BGR): the sign post on the lawn at the top left, which
    the model takes for a standing person, and people on the road. Read only."""
    import av

    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i == 100:
                image = np.asarray(frame.to_ndarray(format="bgr24"))
                image.flags.writeable = False
                return image
    raise AssertionError("vtest.avi has fewer than 101 frames")


@pytest.fixture(scope="session")
def demo_replay(assets: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`lookout replay vtest.avi --config configs/demo.yaml`, run once per session: its
    output folder (cases.jsonl, cases.db, evidence/). Read only: a test that replays into
    it again, or changes it, works on a copy (`shutil.copytree`)."""
    from lookout.cli.main import main

    out = tmp_path_factory.mktemp("demo-replay")
    video = assets / "footage" / "vtest.avi"
    code = main(["replay", str(video), "--config", str(DEMO), "--out", str(out), "--no-progress"])
    assert code == 0, f"lookout replay of the demo exited with {code}"
    return out


@pytest.fixture(scope="session")
def redis_session() -> Iterator[RedisServer]:
    """The session's one `redis-server` (started at the first test that needs it).
    Tests take it through `redis_server`, which empties it first."""
    with RedisServer() as server:
        yield server


@pytest.fixture()
def redis_server(redis_session: RedisServer) -> Iterator[RedisServer]:
    """The shared `redis-server`, emptied (FLUSHALL) before the test: use its `url` and
    `port`, never stop it. A test that takes Redis down, restarts it or needs TLS uses
    `private_redis` or a `RedisServer` of its own. ACL users a test adds are removed
    after it."""
    client = redis.Redis.from_url(redis_session.url, socket_timeout=5)
    try:
        client.flushall()
        yield redis_session
        if not redis_session.running:
            redis_session.start()  # for the tests after this one
            pytest.fail("the test stopped the shared redis-server: use private_redis")
        for user in client.acl_users():
            name = user.decode() if isinstance(user, bytes) else str(user)
            if name != "default":
                client.acl_deluser(name)
    finally:
        client.close()


@pytest.fixture()
def private_redis() -> Iterator[RedisServer]:
    """A `redis-server` of the test's own (stop()/start() keep its port: an outage or a
    restart that empties it), closed after the test."""
    with RedisServer() as server:
        yield server


@pytest.fixture()
def make_config(tmp_path: Path) -> MakeConfig:
    """`make_config(cameras, name="lookout.yaml", **sections)`: `write_config` of
    tests/support/config.py in the test's `tmp_path` (model on the shared YOLOX
    manifest, daemon out_dir `tmp_path/out` and HTTP off unless given)."""
    return functools.partial(write_config, tmp_path)
