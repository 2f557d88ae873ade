"""PresetState and PtzController: unit tests with a fake client on a fake clock, then
the real stack (OnvifClient + onvif-zeep-async) against the local responder, in real time."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from lookout.streams.onvif_client import OnvifClient, Preset, PtzStatus
from lookout.streams.ptz import PresetState, PtzController, nearest_preset, resolve_preset
from lookout.streams.settings import OnvifConfig, PtzConfig, TourStop
from tests.support.helpers import FakeClock, wait_until
from tests.support.onvif_responder import OnvifResponder

PRESETS = [
    Preset("1", "A", 0.0, 0.0, 0.0),
    Preset("2", "B", 0.5, 0.1, 0.2),
    Preset("3", "C", -0.5, -0.1, 0.0),
]


class FakeCamera:
    """Arrives at a preset after reporting `move_polls` GetStatus calls of movement (never
    for `never_arrive`): no clock at all. `broken` makes status() raise; `polls` counts
    status() calls."""

    def __init__(self, move_polls: int = 2, never_arrive: frozenset[str] = frozenset()) -> None:
        self.move_polls = move_polls
        self.never_arrive = never_arrive
        self.gotos: list[str] = []
        self.pos: tuple[float | None, float | None, float | None] = (0.0, 0.0, 0.0)
        self.moving_polls = 0  # status() calls left that report movement
        self.polls = 0
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
            self.moving_polls = 10**9 if token in self.never_arrive else self.move_polls

    def status(self) -> PtzStatus:
        with self.lock:
            self.polls += 1
            if self.broken:
                raise RuntimeError("connection reset")
            moving = self.moving_polls > 0
            if moving:
                self.moving_polls -= 1
            return PtzStatus(moving, *((None, None, None) if moving else self.pos))


class RecordingState(PresetState):
    """A PresetState that keeps every arrival the controller reports, in order."""

    def __init__(self, settle_s: float, clock: FakeClock) -> None:
        super().__init__(settle_s, clock)
        self.clock = clock
        self.arrivals: list[str] = []

    def set_arrived(self, token: str, at_monotonic: float) -> None:
        super().set_arrived(token, at_monotonic)
        self.arrivals.append(token)


def cfg(**kw: object) -> PtzConfig:
    base: dict[str, object] = {"mode": "drive", "poll_s": 0.01, "settle_s": 0.02}
    return PtzConfig.model_validate(base | kw)


def tour(*stops: str, stay_s: float = 0.03) -> list[TourStop]:
    return [TourStop(preset=s, stay_s=stay_s) for s in stops]


def drive(cam: FakeCamera, ptz: PtzConfig, **kw: Any) -> tuple[PtzController, RecordingState]:
    """A drive-mode controller on a FakeClock. Its thread still waits in real time
    (poll_s, and settle_s + stay_s at a stop, both a few ms here), but arrival, the
    max_move_s deadline and settling all go by the fake clock and the camera's polls."""
    clock = FakeClock()
    state = RecordingState(ptz.settle_s, clock)
    return PtzController(cam, ptz, state=state, clock=clock, **kw), state


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
    ctl, state = drive(cam, cfg(tour=tour("2", "C", "A")), camera_id="t1")
    ctl.start()
    try:
        assert wait_until(lambda: len(cam.gotos) >= 7, 5, step=0.005), cam.gotos
    finally:
        assert ctl.stop()
    assert cam.gotos[:7] == ["2", "3", "1", "2", "3", "1", "2"]
    # Each stop is reached (after the camera stopped moving) before the next one is asked for.
    assert state.arrivals[:6] == ["2", "3", "1", "2", "3", "1"]
    assert cam.polls >= 6 * (cam.move_polls + 1)
    assert ctl.state.current() is None


def test_unknown_stop_is_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    cam = FakeCamera()
    ctl, state = drive(cam, cfg(tour=tour("2", "Z", "1")), camera_id="t2")
    with caplog.at_level(logging.INFO, logger="lookout.streams.ptz"):
        ctl.start()
        try:
            assert wait_until(lambda: len(cam.gotos) >= 3, 5, step=0.005), cam.gotos
        finally:
            assert ctl.stop()
    assert cam.gotos[:3] == ["2", "1", "2"]
    assert state.arrivals[:2] == ["2", "1"]
    assert "tour stop 'Z' is not a preset of the camera" in caplog.text
    assert "t2: PTZ at preset 'B' (token 2)" in caplog.text


def test_stop_that_never_arrives_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    cam = FakeCamera(never_arrive=frozenset({"2"}))
    ctl, state = drive(cam, cfg(tour=tour("2", "3")), max_move_s=30.0)
    with caplog.at_level(logging.WARNING, logger="lookout.streams.ptz"):
        ctl.start()
        try:
            # However many polls the move takes, the controller waits for the camera
            # until max_move_s have passed on its clock...
            assert wait_until(lambda: cam.polls >= 10, 5, step=0.005), cam.polls
            assert cam.gotos == ["2"] and state.arrivals == []
            assert "did not arrive" not in caplog.text
            # ...and then gives up on that stop and goes on with the tour.
            state.clock.t += 30.01
            assert wait_until(lambda: state.arrivals == ["3"], 5, step=0.005), state.arrivals
        finally:
            assert ctl.stop()
    assert cam.gotos[:2] == ["2", "3"]
    assert state.arrivals == ["3"]  # preset 2 never counted as reached
    assert "did not arrive at preset 'B' (token 2) within 30 s" in caplog.text


def test_drive_survives_client_errors() -> None:
    cam = FakeCamera()
    cam.preset_failures = 2
    ctl, state = drive(cam, cfg(tour=tour("3"), settle_s=0.0), retry_s=0.01)
    ctl.start()
    try:
        assert wait_until(lambda: "3" in state.arrivals, 5, step=0.005), cam.gotos
        assert cam.preset_failures == 0  # GetPresets failed twice and was retried
        cam.broken = True  # status fails: nothing new is learnt, the thread keeps going
        polls = cam.polls
        assert wait_until(lambda: cam.polls >= polls + 5, 5, step=0.005)
        assert ctl.running
        assert ctl.state.current() is None  # moving to the stop again, position unknown
    finally:
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
        cam.moving_polls = 1
        assert ctl.follow_step() is None and ctl.state.current() is None
        cam.pos = (0.3, 0.0, 0.0)
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


@pytest.mark.timing  # real time: settling and polling against the move
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


@pytest.mark.timing  # real time: settling and polling against the move
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


def test_hold_pauses_the_tour_at_a_preset_until_it_ends() -> None:
    # The zone editor holds a touring camera at the preset it edits (lookout/console/editor.py).
    cam = FakeCamera()
    ctl, state = drive(cam, cfg(tour=tour("1", "2")), camera_id="t9")
    ctl.start()
    try:
        assert wait_until(lambda: len(cam.gotos) >= 2, 5, step=0.005), cam.gotos
        ctl.hold("3", 60.0)
        assert wait_until(lambda: state.arrivals[-1:] == ["3"], 5, step=0.005), cam.gotos
        held = len(cam.gotos)
        time.sleep(0.3)  # the tour's 30 ms stays would have moved it several times
        assert len(cam.gotos) == held and cam.gotos[-1] == "3"
        ctl.hold("3", 0.0)  # the hold ends: the tour goes on
        assert wait_until(lambda: len(cam.gotos) >= held + 2, 5, step=0.005), cam.gotos
        assert set(cam.gotos[held:]) <= {"1", "2"}
    finally:
        assert ctl.stop()


def test_hold_in_follow_mode_sends_the_camera_there() -> None:
    cam = FakeCamera()
    ctl = PtzController(cam, cfg(mode="follow"), camera_id="t10")
    ctl.hold("2", 60.0)
    assert cam.gotos == ["2"]
    assert ctl.follow_step() is None  # moving: no preset yet
    assert wait_until(lambda: ctl.follow_step() == "2", 2, step=0.01)


def test_a_picture_that_arrived_during_the_move_has_no_preset() -> None:
    clock = FakeClock()
    state = PresetState(settle_s=0.5, clock=clock)
    state.set_arrived("2", clock.t)
    arrived_while_moving = clock.t - 0.1
    clock.t += 1.0
    assert state.current() == "2"
    assert state.settled_at(arrived_while_moving) is None  # decoded late, taken in the move
    assert state.settled_at(clock.t - 0.6) is None  # still settling then
    assert state.settled_at(clock.t - 0.4) == "2"
    state.set_moving()
    assert state.settled_at(clock.t) is None
