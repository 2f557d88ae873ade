"""The console's parts without a server: password hashes and roles, the SQLite
history, the snapshot store's encoding policy (nothing without a browser)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np
import pytest
from pydantic import SecretStr, ValidationError

from lookout.base.errors import ConfigError
from lookout.base.passwords import PasswordHash
from lookout.config.daemon import ConsoleConfig, HttpConfig
from lookout.console.auth import Access, Identity, Role, csrf_ok, csrf_token
from lookout.console.session_store import SqliteSecurityStore
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import jsonable
from lookout.detector.detections import Detections
from lookout.report.health_store import HealthHistory, Sample
from lookout.streams.frame import replace
from lookout.streams.picture import YuvPicture
from tests.support.helpers import frame
from tests.support.pictures import KINDS, Counting, as_picture


def http(host: str = "127.0.0.1", **console: object) -> HttpConfig:
    off = host not in ("127.0.0.1", "localhost")  # plain HTTP off loopback, for the test
    return HttpConfig.model_validate({"host": host, "insecure_http": off, "console": console})


def test_password_hash_round_trip_and_roles(tmp_path: Path) -> None:
    h = PasswordHash.make("s3cret-op")
    assert h.matches("s3cret-op") and not h.matches("s3cret-oq")
    again = PasswordHash.parse(h.encode(), "key")
    assert again.matches("s3cret-op") and "s3cret" not in h.encode()
    access = Access.from_config(
        http(require_login=True, operator_password="op-pass-1", viewer_password=h.encode()),
        store=SqliteSecurityStore(tmp_path / "s.db"),
    )
    assert access.login_required
    op = access.authenticate("", "op-pass-1")
    assert op == Identity("operator", Role.OPERATOR, shared=True)
    assert access.authenticate("", "s3cret-op") == Identity("viewer", Role.VIEWER, shared=True)
    assert access.authenticate("", "nope") is None
    assert access.authenticate("nobody", "op-pass-1") is None  # not an account
    assert access.role({}) is None
    assert access.role({"role": "viewer"}) is None  # a cookie cannot name its own role
    session: dict[str, object] = {}
    access.start(session, op, "127.0.0.1")
    assert access.role(session) is Role.OPERATOR
    assert not Role.VIEWER.can_act and Role.OPERATOR.can_act and Role.ADMIN.is_admin
    # The plain password is not kept by the access rules.
    assert "op-pass-1" not in repr(access)


def test_loopback_needs_no_login_but_another_address_does() -> None:
    assert Access.from_config(http()).role({}) is Role.ADMIN
    need = r"console\.users_file or operator_password: required"
    with pytest.raises(ValidationError, match=need):
        http("0.0.0.0", users_file="")
    with pytest.raises(ValidationError, match=need):
        http(require_login=True, users_file="")
    with pytest.raises(ConfigError, match="nobody can act"):
        Access.from_config(http(require_login=True))  # no users file, no password
    with pytest.raises(ValidationError, match="must differ"):
        http(operator_password="same-1", viewer_password="same-1")
    access = Access.from_config(http("0.0.0.0", operator_password="op-pass-1"))
    assert access.login_required and access.role({}) is None
    with pytest.raises(ConfigError, match=r"console\.operator_password: not a valid scrypt"):
        Access.from_config(http(operator_password="scrypt$1$2$x"))


def test_csrf_token_is_per_session_and_renewed_at_login(tmp_path: Path) -> None:
    access = Access.from_config(
        http(require_login=True, operator_password="op-pass-1"),
        store=SqliteSecurityStore(tmp_path / "s.db"),
    )
    session: dict[str, object] = {}
    token = csrf_token(session)
    assert csrf_token(session) == token and csrf_ok(session, token)
    assert not csrf_ok(session, None) and not csrf_ok(session, token[:-1] + "x")
    access.start(session, Identity("operator", Role.OPERATOR, shared=True), "127.0.0.1")
    assert access.role(session) is Role.OPERATOR and not csrf_ok(session, token)
    # A shared role whose password left the config opens nothing any more.
    access.start(session, Identity("viewer", Role.VIEWER, shared=True), "127.0.0.1")
    assert access.role(session) is None


def test_console_config_keeps_passwords_secret() -> None:
    cfg = ConsoleConfig(operator_password=SecretStr("hunter22"))
    assert "hunter22" not in repr(cfg) and "hunter22" not in str(cfg.model_dump())


def test_history_sums_survive_a_reopen_and_prune(tmp_path: Path) -> None:
    db = tmp_path / "console.db"
    hist = HealthHistory.open(db, keep_days=7)
    now = time.time()
    for i in range(6):  # 6 samples of 10 s: 4 streaming, 2 in backoff
        state = "backoff" if i in (2, 3) else "streaming"
        hist.record([Sample("cam1", state, 10.0, int(i == 2), 1, 20)], t=now - 60 + 10 * i)
    hist.record([Sample("cam1", "streaming", 10.0, 5, 5, 5)], t=now - 8 * 86400)
    hist.close()
    hist = HealthHistory.open(db, keep_days=7)
    s = hist.summaries(now=now)["cam1"]
    assert (s.observed_s, s.streaming_s, s.reconnects, s.dropped) == (60.0, 40.0, 1, 6)
    assert s.uptime == pytest.approx(2 / 3)
    line = hist.timeline(buckets=24, now=now)["cam1"]
    assert len(line) == 24 and line[-1] == pytest.approx(2 / 3, abs=0.01)
    assert line[0] is None
    assert hist.prune(now=now) == 1 and hist.count() == 6
    ack = hist.acknowledge("cam1", "backoff", "operator")
    hist.close()
    assert HealthHistory.open(db).acks()["cam1"] == ack


def test_snapshot_store_encodes_only_while_a_browser_asks() -> None:
    store = SnapshotStore(interval_s=0.3, active_for_s=0.5)
    img = np.full((120, 160, 3), 90, np.uint8)
    store.observe(replace(frame(1.0, camera="cam1"), image=img), Detections.empty(), [])
    assert store.encode_due() == 0 and store.jpeg("cam1") is None  # nobody looking
    assert store.pending("cam1")
    store.touch()
    assert store.encode_due() == 1
    first = store.jpeg("cam1")
    assert first is not None and first.data[:2] == b"\xff\xd8" and first.seq == 1
    store.observe(frame(2.0, camera="cam1"), Detections.empty(), [])
    assert store.encode_due() == 0  # at most one encode per interval
    time.sleep(0.35)
    assert store.encode_due() == 1
    time.sleep(0.6)  # the browser went away
    store.observe(frame(3.0, camera="cam1"), Detections.empty(), [])
    assert store.encode_due() == 0
    store.retain(set())
    assert store.jpeg("cam1") is None


def test_a_preset_left_behind_is_parked_as_jpeg_once() -> None:
    store = SnapshotStore(active_for_s=0.1)
    store.observe(frame(1.0, camera="ptz", preset="A"), Detections.empty(), [])
    store.observe(frame(2.0, camera="ptz", preset="B"), Detections.empty(), [])
    assert store.encode_due() == 1  # A parked, B not encoded: no browser
    assert store.jpeg("ptz", "A", current=False) is not None
    assert store.jpeg("ptz") is None and store.encode_due() == 0
    assert store.presets("ptz") == ["A", "B"]


@dataclass(frozen=True)
class _Issue:
    kind: str
    active: bool
    measure: float
    since: datetime | None


def test_quality_states_become_json_whatever_their_shape() -> None:
    state = {"issues": MappingProxyType({"drift": _Issue("drift", True, math.inf, None)})}
    got = jsonable(state)
    assert got == {
        "issues": {"drift": {"kind": "drift", "active": True, "measure": "inf", "since": None}}
    }
    assert json.dumps(got, allow_nan=False)
    assert jsonable(f"rtsp://op:{'s3cret-pw'}@10.0.0.1/x") == "rtsp://***@10.0.0.1/x"


@pytest.mark.parametrize("kind", KINDS)
def test_a_live_snapshot_converts_only_what_it_shows(vtest_100: np.ndarray, kind: str) -> None:
    """At most `max_width` wide: the frame is converted at that size, not in full then
    resized; the picture is the full-frame conversion's resized, within JPEG's noise.
    Saving a snapshot converts the whole frame once, and keeps nothing."""
    store = SnapshotStore(interval_s=0.0, active_for_s=60.0, max_width=640)
    pictures = []
    for t in (1.0, 2.0):
        picture = Counting(as_picture(vtest_100, kind))
        pictures.append(picture)
        f = replace(frame(t, camera="cam1"), picture=picture)
        store.observe(f, Detections.empty(), [])
        store.touch()
        assert store.encode_due() == 1
    for picture in pictures:
        assert picture.whole == 0 and picture.parts == [(None, (640, 480))]
    jpeg = store.jpeg("cam1")
    assert jpeg is not None and (jpeg.width, jpeg.height) == (768, 576)
    shown = decoded(jpeg.data)
    want = cv2.resize(vtest_100, (640, 480), interpolation=cv2.INTER_AREA)
    assert shown.shape == want.shape and psnr(shown, want) > 30.0
    overlay = store.overlay("cam1")
    assert overlay is not None and overlay.motion == []  # the same picture twice
    saved = store.encode_now("cam1")
    assert saved is not None and pictures[-1].whole == 1
    full = decoded(saved.data)
    assert full.shape == vtest_100.shape and psnr(full, vtest_100) > 30.0
    inner = pictures[-1].picture
    if isinstance(inner, YuvPicture):  # no BGR copy kept beside the planes
        assert inner.nbytes == sum(p.nbytes for p in (inner.y, inner.u, inner.v) if p is not None)


def decoded(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return np.asarray(image, np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
