"""PresetState and PtzController: unit tests with a fake client, then the real stack
(OnvifClient + onvif-zeep-async) against the local responder."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pydantic import SecretStr

from lookout.streams.onvif_client import OnvifClient, Preset, PtzStatus
from lookout.streams.ptz import PresetState, PtzController, nearest_preset, resolve_preset
from lookout.streams.settings import OnvifConfig, PtzConfig, TourStop
from tests.support.onvif_responder import OnvifResponder

PRESETS = [
    Preset("1", "A", 0.0, 0.0, 0.0),
    Preset("2", "B", 0.5, 0.1, 0.2),
    Preset("3", "C", -0.5, -0.1, 0.0),
]


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeCamera:
    """Moves to a preset in `move_s` (real time); `broken` makes status() raise."""

    def __init__(self, move_s: float = 0.03, never_arrive: frozenset[str] = frozenset()) -> None:
        self.move_s = move_s
        self.never_arrive = never_arrive
        self.gotos: list[str] = []
        self.pos: tuple[float | None, float | None, float | None] = (0.0, 0.0, 0.0)
        self.moving_until = 0.0
        self.broken = False
        self.preset_failures = 0
        self.lock = threading.Lock()

    def presets(self) -> list[Preset]:
        if self.preset_failures:
            self.preset_failures -= 1
            raise RuntimeError("no answer")
        return list(PRESETS)

    def goto_preset(self, token: str) -> None:
        p = next(p for p in PRESETS if p.token == token)
        with self.lock:
            self.gotos.append(token)
            self.pos = (p.pan, p.tilt, p.zoom)
            self.moving_until = time.monotonic() + (
                1e9 if token in self.never_arrive else self.move_s
            )

    def status(self) -> PtzStatus:
        if self.broken:
            raise RuntimeError("connection reset")
        with self.lock:
            moving = time.monotonic() < self.moving_until
            return PtzStatus(moving, *((None, None, None) if moving else self.pos))


def cfg(**kw: object) -> PtzConfig:
    base: dict[str, object] = {"mode": "drive", "poll_s": 0.01, "settle_s": 0.02}
    return PtzConfig.model_validate(base | kw)


def tour(*stops: str, stay_s: float = 0.03) -> list[TourStop]:
    return [TourStop(preset=s, stay_s=stay_s) for s in stops]


def wait_for(cond: object, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if callable(cond) and cond():
            return
        time.sleep(0.005)
    raise AssertionError("condition not reached")


# -- pure parts ---------------------------------------------------------------------------
def test_preset_state_settles_before_reporting() -> None:
    clock = FakeClock()
    state = PresetState(settle_s=2.0, clock=clock)
    assert state.current() is None
    state.set_arrived("2", clock.t)
    assert state.current() is None
    clock.t += 1.99
    assert state.current() is None
    clock.t += 0.02
    assert state.current() == "2"
    state.set_moving()
    assert state.current() is None


def test_resolve_preset_by_token_then_name() -> None:
    assert resolve_preset("2", PRESETS) == PRESETS[1]
    assert resolve_preset("C", PRESETS) == PRESETS[2]
    assert resolve_preset("c", PRESETS) == PRESETS[2]
    assert resolve_preset("nope", PRESETS) is None
    tricky = [Preset("A", "x", 0, 0, 0), Preset("7", "A", 1, 1, 1)]
    assert resolve_preset("A", tricky) == tricky[0]  # the token wins over a name


def test_nearest_preset_within_tolerance() -> None:
    assert nearest_preset(PtzStatus(False, 0.505, 0.1, 0.2), PRESETS, 0.01) == PRESETS[1]
    assert nearest_preset(PtzStatus(False, 0.52, 0.1, 0.2), PRESETS, 0.01) is None
    assert nearest_preset(PtzStatus(False, None, None, None), PRESETS, 0.01) is None
    assert nearest_preset(PtzStatus(False, 0.5, 0.1, None), PRESETS, 0.01) == PRESETS[1]
    wrap = [Preset("9", "N", 0.998, 0.0, 0.0)]
    assert nearest_preset(PtzStatus(False, -0.998, 0.0, 0.0), wrap, 0.01) == wrap[0]
    degrees = [Preset("9", "N", 10.0, 0.0, 0.0)]
    assert nearest_preset(PtzStatus(False, 11.99, 0.0, 0.0), degrees, 0.01) is None


def test_mode_none_is_rejected() -> None:
    with pytest.raises(ValueError, match="drive' or 'follow"):
        PtzController(FakeCamera(), PtzConfig())


# -- drive with a fake camera -------------------------------------------------------------
def test_drive_visits_stops_in_order_and_loops() -> None:
    cam = FakeCamera()
    ctl = PtzController(cam, cfg(tour=tour("2", "C", "A")), camera_id="t1")
    seen: list[str] = []
    ctl.start()
    end = time.monotonic() + 3.0
    try:
        while len(cam.gotos) < 7 and time.monotonic() < end:
            token = ctl.state.current()
            if token and (not seen or seen[-1] != token):
                seen.append(token)
            time.sleep(0.002)
    finally:
        assert ctl.stop()
    assert cam.gotos[:6] == ["2", "3", "1", "2", "3", "1"]
    assert seen[:5] == ["2", "3", "1", "2", "3"]
    assert ctl.state.current() is None


def test_unknown_stop_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    cam = FakeCamera()
    ctl = PtzController(cam, cfg(tour=tour("2", "Z", "1")), camera_id="t2")
    with caplog.at_level(logging.INFO, logger="lookout.streams.ptz"):
        ctl.start()
        wait_for(lambda: len(cam.gotos) >= 3)
        ctl.stop()
    assert cam.gotos[:3] == ["2", "1", "2"]
    assert "tour stop 'Z' is not a preset of the camera" in caplog.text
    assert "t2: PTZ at preset 'B' (token 2)" in caplog.text


def test_stop_that_never_arrives_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    cam = FakeCamera(never_arrive=frozenset({"2"}))
    ctl = PtzController(cam, cfg(tour=tour("2", "3")), max_move_s=0.1)
    arrived: list[str] = []
    with caplog.at_level(logging.WARNING, logger="lookout.streams.ptz"):
        ctl.start()
        while len(cam.gotos) < 3:
            token = ctl.state.current()
            if token:
                arrived.append(token)
            time.sleep(0.002)
        ctl.stop()
    assert set(arrived) == {"3"}
    assert "did not arrive at preset 'B' (token 2) within" in caplog.text


def test_drive_survives_client_errors() -> None:
    cam = FakeCamera()
    cam.preset_failures = 2
    ctl = PtzController(cam, cfg(tour=tour("3")), retry_s=0.01)
    ctl.start()
    wait_for(lambda: ctl.state.current() == "3")
    cam.broken = True  # status fails: nothing new is learnt, the thread keeps going
    time.sleep(0.05)
    assert ctl.running
    assert ctl.stop()


# -- follow with a fake camera ------------------------------------------------------------
def test_follow_step_maps_position_to_presets(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    cam = FakeCamera()
    ctl = PtzController(cam, cfg(mode="follow", settle_s=1.0), clock=clock, camera_id="f")
    with caplog.at_level(logging.INFO, logger="lookout.streams.ptz"):
        assert ctl.follow_step() == "1"  # starts at A
        assert ctl.state.current() is None  # settling
        clock.t += 1.0
        assert ctl.state.current() == "1"
        cam.moving_until = time.monotonic() + 60
        assert ctl.follow_step() is None and ctl.state.current() is None
        cam.moving_until, cam.pos = 0.0, (0.3, 0.0, 0.0)
        assert ctl.follow_step() is None and ctl.state.current() is None
        cam.pos = (0.5, 0.1, 0.2)
        assert ctl.follow_step() == "2"
        assert ctl.state.current() is None
        clock.t += 1.0
        assert ctl.follow_step() == "2"
        assert ctl.state.current() == "2"
        cam.broken = True
        assert ctl.follow_step() is None and ctl.follow_step() is None
    assert ctl.state.current() is None
    assert caplog.text.count("GetStatus failed: connection reset") == 1
    assert "f: PTZ at no preset (pan 0.3" in caplog.text


# -- against the responder, through the real ONVIF stack ---------------------------------
@dataclass
class Sample:
    t: float
    moving: bool
    pos: tuple[float, float, float]
    token: str | None


@pytest.fixture
def responder() -> Iterator[OnvifResponder]:
    with OnvifResponder(password="pw", move_s=0.3) as r:
        yield r


@pytest.fixture
def client(responder: OnvifResponder) -> Iterator[OnvifClient]:
    onvif = OnvifConfig(
        host="127.0.0.1",
        port=responder.port,
        username="admin",
        password=SecretStr("pw"),
        timeout_s=2.0,
    )
    with OnvifClient.open(onvif) as c:
        yield c


def sample(responder: OnvifResponder, ctl: PtzController, seconds: float) -> list[Sample]:
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pos, moving = responder.state()  # camera first, then the state (see the checks)
        out.append(Sample(time.monotonic(), moving, pos, ctl.state.current()))
        time.sleep(0.01)
    return out


def tokens(samples: list[Sample]) -> list[str]:
    out: list[str] = []
    for s in samples:
        if s.token is not None and (not out or out[-1] != s.token):
            out.append(s.token)
    return out


def check_consistent(
    samples: list[Sample], responder: OnvifResponder, settle_s: float, lag_s: float = 0.0
) -> None:
    """No preset while moving (follow mode learns of a departure up to `lag_s` late),
    the camera at that preset's position, and nothing before `settle_s` after stopping."""
    idle_since: float | None = None
    moving_since: float | None = None
    prev: str | None = None
    for s in samples:
        if s.moving:
            moving_since = s.t if moving_since is None else moving_since
            idle_since = None
            late = s.t - moving_since
            assert s.token is None or late <= lag_s, f"a preset {late:.2f} s into a move"
        else:
            moving_since = None
            idle_since = s.t if idle_since is None else idle_since
            if s.token is not None:
                assert s.pos == pytest.approx(responder.preset(s.token).position, abs=1e-6)
        if s.token is not None and prev is None and idle_since is not None:
            assert s.t - idle_since >= settle_s - 0.03, "reported before settling"
        prev = s.token


def test_drive_against_responder(responder: OnvifResponder, client: OnvifClient) -> None:
    ptz = PtzConfig(
        mode="drive",
        poll_s=0.05,
        settle_s=0.2,
        tour=tour("2", "C", "1", stay_s=0.5),
    )
    ctl = PtzController(client, ptz, camera_id="tower")
    ctl.start()
    samples = sample(responder, ctl, 3.6)
    start = time.monotonic()
    assert ctl.stop()
    assert time.monotonic() - start < 2.0
    assert ctl.state.current() is None
    gotos = [c.args["PresetToken"] for c in responder.calls if c.operation == "GotoPreset"]
    assert gotos[:4] == ["2", "3", "1", "2"]
    assert tokens(samples)[:3] == ["2", "3", "1"]
    assert sum(s.moving for s in samples) > 10 and sum(s.token is None for s in samples) > 20
    check_consistent(samples, responder, 0.2)


def test_follow_against_responder(responder: OnvifResponder, client: OnvifClient) -> None:
    responder.start_tour([("2", 0.5), ("3", 0.5), ("1", 0.5)])
    ptz = PtzConfig(mode="follow", poll_s=0.05, settle_s=0.2)
    ctl = PtzController(client, ptz, camera_id="tower")
    ctl.start()
    samples = sample(responder, ctl, 3.3)
    start = time.monotonic()
    assert ctl.stop()
    assert time.monotonic() - start < 2.0
    assert tokens(samples)[:4] == ["2", "3", "1", "2"]
    assert "GotoPreset" not in responder.operations
    check_consistent(samples, responder, 0.2, lag_s=0.05 + 0.05)
