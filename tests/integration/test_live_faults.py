"""Live faults on the daemon with the real RTSP server (docs/OPERATIONS.md "Live faults").

Each test runs the daemon in this process on Debian's GStreamer RTSP server (and a
real redis-server, a local webhook where needed) with the real model, and checks
what the daemon does when a camera, the clock or a sink misbehaves:

- smart FPS (25 fps, then 1 fps while "nothing moves"), an AAC track beside the
  video, and a camera that sends garbage for 5 s share one daemon run (`passive`);
- a profile switch (768x576 H.264 → 1280x720 H.265 after a dropped session);
- the wall clock stepped an hour forward and back during a dwell;
- Redis restarted empty while a van stays parked (the place store is seeded again
  from the outbox);
- a webhook that answers after 10 s.

No test sleeps to assert: every wait polls with a generous timeout (2 loaded cores).
"""

from __future__ import annotations

import functools
import itertools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from lookout.cases.model import DraftCase
from lookout.daemon.service import Daemon
from lookout.detector.detections import Detections
from lookout.runtime.camera import CameraRuntime
from lookout.streams.clock import Clock
from lookout.streams.frame import Frame
from lookout.streams.live_reader import StreamReader
from tests.support.case_endpoint import CaseEndpoint
from tests.support.config import demo_config, write_config
from tests.support.fault_media import garbage_clip, smart_fps_clip
from tests.support.helpers import wait_until
from tests.support.media import (
    cached_h264_mp4,
    probe_clip,
    start_rtsp_server,
    vtest_avi,
    vtest_clip,
    vtest_h264,
)
from tests.support.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.timing]

#: The kerb in front of the building, where vtest's van stays parked all along.
VAN_ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]
#: The demo's ground calibration of vtest (two cameras given it see one place).
CALIBRATION = demo_config()["cameras"][0]["calibration"]
#: Smart FPS: 4 s at 25 fps, 12 s at 1 fps (the GOP stretched over it), 4 s at 25 fps.
SMART_SEGMENTS = [(4.0, 25.0), (12.0, 1.0), (4.0, 25.0)]
SMART_KEYFRAMES = [0.0, 4.0, 16.0]
SLOW = (4.0, 16.0)
#: The garbage camera's pictures in [5 s, 10 s) of each 20 s pass carry random slices.
GARBAGE = (5.0, 10.0)


def camera(
    cam_id: str,
    url: str,
    *,
    dwell_s: float,
    fps: float = 2.0,
    stall_s: float = 3.0,
    calibrated: bool = False,
) -> dict[str, Any]:
    cam: dict[str, Any] = {
        "id": cam_id,
        "source": url,
        "analysis_fps": fps,
        "stream": {"stall_timeout_s": stall_s, "backoff": {"initial_s": 0.2, "max_s": 1.0}},
        "zones": [
            {
                "id": "no-parking",
                "polygon": VAN_ZONE,
                "policies": [
                    {
                        "type": "illegal_parking",
                        "classes": ["car", "truck", "bus"],
                        "dwell_s": dwell_s,
                    }
                ],
            }
        ],
    }
    if calibrated:
        cam["calibration"] = CALIBRATION
    return cam


def daemon_config(folder: Path, cameras: list[dict[str, Any]], **sections: Any) -> Path:
    """`write_config` with this module's daemon: batches of 4, a 4 s shutdown."""
    return write_config(
        folder,
        cameras,
        site={"timezone": "Asia/Shanghai"},
        model={"batch_size": 4},
        daemon={"shutdown_timeout_s": 4},
        **sections,
    )


@dataclass(frozen=True)
class Seen:
    """One analysed frame: its camera, stream time, arrival (monotonic), size."""

    camera: str
    pts_s: float
    mono: float
    size: tuple[int, int]


@dataclass
class Record:
    """What the daemon did, seen from the test: analysed frames, new cases (with the
    monotonic time they were made), reader states polled, log records."""

    frames: list[Seen] = field(default_factory=list)
    cases: list[tuple[float, DraftCase]] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)
    logs: list[logging.LogRecord] = field(default_factory=list)
    thread_errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of(self, cam: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.frames if s.camera == cam]

    def cases_of(self, cam: str) -> list[tuple[float, DraftCase]]:
        with self.lock:
            return [(t, c) for t, c in self.cases if c.camera_id == cam]

    def tracebacks(self) -> list[str]:
        bad = [
            f"{r.name}: {r.getMessage()}"
            for r in self.logs
            if r.exc_info or "Traceback" in r.getMessage()
        ]
        return bad + self.thread_errors

    def logged(self, text: str) -> list[str]:
        return [r.getMessage() for r in self.logs if text in r.getMessage()]


class _Collect(logging.Handler):
    def __init__(self, rec: Record) -> None:
        super().__init__(logging.INFO)
        self.rec = rec

    def emit(self, record: logging.LogRecord) -> None:
        self.rec.logs.append(record)


@contextmanager
def running(cfg: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Daemon, Record]]:
    """The daemon of `cfg`, started in this process, every analysed frame and new case
    recorded; shut down (ordered) at the end."""
    rec = Record()
    original = _PROCESS

    def spy(rt: CameraRuntime, frame: Frame, dets: Detections | None) -> list[DraftCase]:
        cases = original(rt, frame, dets)
        now = time.monotonic()
        with rec.lock:
            rec.frames.append(Seen(rt.camera_id, frame.pts_s, now, (frame.width, frame.height)))
            rec.cases += [(now, c) for c in cases]
        return cases

    monkeypatch.setattr(CameraRuntime, "process", spy)
    handler = _Collect(rec)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    old_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        rec.thread_errors.append(f"{args.thread.name if args.thread else '?'}: {args.exc_value!r}")

    threading.excepthook = hook
    daemon = Daemon.from_config(cfg)
    daemon.start()
    try:
        yield daemon, rec
    finally:
        daemon.shutdown()
        threading.excepthook = old_hook
        root.removeHandler(handler)
        root.setLevel(old_level)


def poll_states(daemon: Daemon, rec: Record) -> None:
    """Note each camera's reader state (called from the waits)."""
    for cid, rt in daemon.cameras.items():
        states = rec.states.setdefault(cid, [])
        state = rt.reader.state.value
        if not states or states[-1] != state:
            states.append(state)


def metric(daemon: Daemon, name: str, **labels: str) -> float:
    for fam in text_string_to_metric_families(daemon.render_metrics().decode()):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise KeyError(name)


def rate(frames: list[Seen], t0: float, t1: float) -> float:
    """Frames analysed per second with arrival in [t0, t1)."""
    return sum(1 for s in frames if t0 <= s.mono < t1) / (t1 - t0)


#: The method the spies wrap (a module fixture's spy may still be in place).
_PROCESS = CameraRuntime.process


# -- smart FPS, audio, garbage: one daemon run -------------------------------------------


@dataclass
class Passive:
    daemon: Daemon
    rec: Record
    audio_clip: Path
    server_log: str


@pytest.fixture(scope="module")
def passive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Passive]:
    tmp = tmp_path_factory.mktemp("passive")
    smart = smart_fps_clip(SMART_SEGMENTS, SMART_KEYFRAMES)
    audio = vtest_clip(audio="aac", seconds=20)
    garbage = garbage_clip(vtest_h264(seconds=20), *GARBAGE)
    mounts = {"/smart": smart, "/audio": audio, "/garbage": garbage}
    with start_rtsp_server(mounts) as server, pytest.MonkeyPatch.context() as mp:
        cfg = daemon_config(
            tmp,
            [
                camera("smart", server.url("/smart"), dwell_s=8),
                camera("audio", server.url("/audio"), dwell_s=4),
                camera("garbage", server.url("/garbage"), dwell_s=4),
            ],
        )
        with running(cfg, mp) as (daemon, rec):

            def done() -> bool:
                poll_states(daemon, rec)
                smart_frames, garbage_frames = rec.of("smart"), rec.of("garbage")
                return (
                    bool(rec.cases_of("smart") and rec.cases_of("audio"))
                    and max((s.pts_s for s in smart_frames), default=0) >= 17.5
                    and max((s.pts_s for s in garbage_frames), default=0) >= 12.5
                )

            assert wait_until(done, 75), (rec.states, [r.getMessage() for r in rec.logs][-20:])
            yield Passive(daemon, rec, audio, server.log_text())


def test_smart_fps_keeps_analysing_without_stalls_and_dwell_is_right(passive: Passive) -> None:
    daemon, rec = passive.daemon, passive.rec
    reader = daemon.cameras["smart"].reader
    # 1 s between pictures is not a stall (stall_timeout_s 3): one session all along.
    assert reader.stats.reconnects == 0 and reader.stats.connects == 1, reader.stats
    assert rec.states["smart"][-1] == "streaming"
    assert "stalled" not in rec.states["smart"] and "backoff" not in rec.states["smart"]
    frames = [s for s in rec.of("smart") if s.pts_s < 20.0]  # the first pass
    # 25 fps: analysed at analysis_fps (2/s) ...
    fast = [s for s in frames if 0.9 <= s.pts_s < 3.9]
    assert 5 <= len(fast) <= 8, [s.pts_s for s in frames]
    # ... 1 fps: every picture there is, one per second by its timestamps.
    slow = [s.pts_s for s in frames if SLOW[0] + 0.5 <= s.pts_s < SLOW[1]]
    assert len(slow) >= 10, [s.pts_s for s in frames]
    steps = [b - a for a, b in itertools.pairwise(slow)]
    assert all(0.95 <= d <= 1.05 for d in steps), steps
    # The van: one case, confirmed inside the slow segment after 8 s of real time.
    cases = rec.cases_of("smart")
    assert len(cases) == 1, cases
    made, case = cases[0]
    # (At most one picture late: 1 s at 1 fps, the demuxer's one-picture latency.)
    assert 8.0 - 0.5 <= case.dwell_s <= 8.0 + 1.5, case.dwell_s
    assert case.confirmed_at - case.first_seen == pytest.approx(
        timedelta(seconds=case.dwell_s), abs=timedelta(seconds=0.01)
    )
    first = frames[0].mono
    assert made - first >= 8.0 - 0.5  # not before the dwell ran in real time
    assert not passive.rec.tracebacks()


def test_audio_track_beside_the_video_is_ignored(passive: Passive) -> None:
    daemon, rec = passive.daemon, passive.rec
    # The session really carried AAC: the server payloaded the clip's audio track.
    assert probe_clip(passive.audio_clip).audio_codec == "aac"
    assert "rtpmp4gpay" in passive.server_log
    reader = daemon.cameras["audio"].reader
    assert reader.stats.reconnects == 0 and reader.stats.profile == "h264 768x576"
    assert metric(daemon, "lookout_camera_pictures_corrupt_total", camera="audio") == 0
    frames = rec.of("audio")
    span = frames[-1].mono - frames[0].mono
    assert span > 8 and len(frames) >= 1.6 * span, (len(frames), span)
    ((_, case),) = rec.cases_of("audio")
    assert 4.0 - 0.5 <= case.dwell_s <= 6.5
    assert not rec.tracebacks()


def test_garbage_is_counted_dropped_and_the_others_go_on(passive: Passive) -> None:
    daemon, rec = passive.daemon, passive.rec
    frames = [s for s in rec.of("garbage") if s.pts_s < 20.0]
    # Not one picture of the garbage is analysed ...
    assert not [s.pts_s for s in frames if GARBAGE[0] <= s.pts_s < GARBAGE[1]]
    # ... and they are counted: ~50 pictures of noise (10 fps for 5 s).
    corrupt = metric(daemon, "lookout_camera_pictures_corrupt_total", camera="garbage")
    assert corrupt >= 40, corrupt
    # The camera recovers at the next clean keyframe, on the same session or a new one.
    after = [s for s in frames if GARBAGE[1] <= s.pts_s < GARBAGE[1] + 2.5]
    assert len(after) >= 4, [s.pts_s for s in frames]
    assert daemon.cameras["garbage"].reader.state.value == "streaming"
    # The other cameras kept their analysis rate while the garbage came in.
    last_good = max(s.mono for s in frames if s.pts_s < GARBAGE[0])
    first_good = min(s.mono for s in frames if s.pts_s >= GARBAGE[1])
    assert first_good - last_good >= 4.0
    audio_rate = rate(rec.of("audio"), last_good, first_good)
    assert audio_rate >= 1.5, audio_rate  # analysis_fps 2
    assert daemon.cameras["audio"].reader.stats.reconnects == 0
    assert not rec.tracebacks()


# -- profile switch ---------------------------------------------------------------------


def test_profile_switch_reconnects_and_decodes_the_new_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    d1 = vtest_h264(seconds=20)
    hd = cached_h264_mp4(
        vtest_avi(), "vtest_720p_hevc", width=1280, height=720, codec="hevc", seconds=8
    )
    with start_rtsp_server({"/cam": d1}) as server:
        cfg = daemon_config(tmp_path, [camera("cam", server.url("/cam"), dwell_s=4, stall_s=2)])
        with running(cfg, monkeypatch) as (daemon, rec):
            rt = daemon.cameras["cam"]
            assert wait_until(lambda: len(rec.of("cam")) >= 4, 30)
            assert {s.size for s in rec.of("cam")} == {(768, 576)}
            # The camera drops the session and comes back with another stream.
            server.mounts["/cam"] = hd
            server.restart()
            assert wait_until(lambda: sum(s.size == (1280, 720) for s in rec.of("cam")) >= 6, 40), (
                rec.states
            )
            reconnects = metric(daemon, "lookout_camera_reconnects_total", camera="cam")
            corrupt = metric(daemon, "lookout_camera_pictures_corrupt_total", camera="cam")
            # Zones stay in the pixels they were drawn in (zones[].polygon): the new
            # size is planned from them, and its frames go through the rules.
            assert (None, 1280, 720) in rt.analyser._plans
    assert reconnects >= 1
    assert corrupt <= 5, corrupt
    assert rt.reader.stats.profile == "hevc 1280x720"
    assert rt.reader.stats.profile_changes == 1
    (warning,) = rec.logged("the stream changed")
    assert "h264 768x576" in warning and "hevc 1280x720" in warning
    sizes = [s.size for s in rec.of("cam")]
    switch = sizes.index((1280, 720))
    assert set(sizes[switch:]) == {(1280, 720)}  # no old-size frame after the switch
    assert not rec.tracebacks()


# -- the wall clock steps -----------------------------------------------------------------


class SteppedWall:
    """The system's wall clock plus an offset the test moves (an NTP step)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def test_wall_clock_steps_during_a_dwell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wall = SteppedWall()
    clock = Clock(monotonic=time.monotonic, wall=wall)
    monkeypatch.setattr(
        "lookout.runtime.camera.StreamReader", functools.partial(StreamReader, clock=clock)
    )
    dwell = 12.0
    with start_rtsp_server({"/cam": vtest_h264(seconds=20)}) as server:
        cfg = daemon_config(tmp_path, [camera("cam", server.url("/cam"), dwell_s=dwell)])
        with running(cfg, monkeypatch) as (_daemon, rec):
            assert wait_until(lambda: len(rec.of("cam")) >= 2, 30)
            start = rec.of("cam")[0].mono
            # An hour forward 3 s into the dwell: no case before the dwell ran.
            assert wait_until(lambda: time.monotonic() >= start + 3, 10)
            wall.offset = timedelta(hours=1)
            stepped_at = time.monotonic()
            assert wait_until(lambda: time.monotonic() >= stepped_at + 4, 10)
            assert not rec.cases_of("cam"), "a wall-clock step must not end a dwell"
            frames_ahead = [s for s in rec.of("cam") if s.mono > stepped_at]
            assert frames_ahead, "analysis goes on across the step"
            # ... and back again: the case still comes, once.
            wall.offset = timedelta(0)
            assert wait_until(lambda: rec.cases_of("cam"), 30), rec.states
            made, case = rec.cases_of("cam")[0]
            # Run on a little: no second case for the same van.
            assert wait_until(lambda: time.monotonic() >= made + 3, 10)
            cases = rec.cases_of("cam")
    assert len(cases) == 1, cases
    assert dwell - 0.5 <= case.dwell_s <= dwell + 2.5, case.dwell_s
    assert made - start >= dwell - 1.0
    # The case's times are the wall clock's at confirmation (stepped back by then).
    assert abs((datetime.now(UTC) - case.confirmed_at).total_seconds()) < 60
    assert case.confirmed_at - case.first_seen == pytest.approx(
        timedelta(seconds=case.dwell_s), abs=timedelta(seconds=0.01)
    )
    assert not rec.tracebacks()


# -- Redis restarted empty -----------------------------------------------------------------


def outbox_rows(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute(
            "SELECT id, camera_id, json_extract(body, '$.last_seen') FROM cases"
        ).fetchall()


def test_redis_restarted_empty_is_seeded_from_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_redis: RedisServer
) -> None:
    clip = vtest_h264(seconds=20)
    db = tmp_path / "out" / "cases.db"
    busy = (OSError, sqlite3.Error)
    rs = private_redis  # restarted below
    with start_rtsp_server({"/a": clip, "/b": clip}) as server:
        # Two cameras over one kerb (the same calibration): the first proposes the van,
        # the second confirms it later and must merge into that case on the ground.
        cfg = daemon_config(
            tmp_path,
            [
                camera("a", server.url("/a"), dwell_s=2, calibrated=True),
                camera("b", server.url("/b"), dwell_s=12, calibrated=True),
            ],
            dedup={"store": {"type": "redis", "url": rs.url}},
            sinks=[{"type": "sqlite"}],
        )
        with running(cfg, monkeypatch) as (_daemon, rec):
            assert wait_until(lambda: db.is_file() and outbox_rows(db), 40, ignore=busy)
            ((case_id, cam, last_seen),) = outbox_rows(db)
            assert cam == "a"
            r = redis.Redis.from_url(rs.url, decode_responses=True)
            assert r.exists(f"lookout:place:{case_id}")
            assert not rec.cases_of("b"), "b must confirm after Redis restarted"
            # Redis restarts empty (no persistence) while the van stays parked.
            rs.stop()
            rs.start()
            r = redis.Redis.from_url(rs.url, decode_responses=True)
            assert r.dbsize() == 0
            # b confirms the van: merged into a's case (its sighting moves last_seen on).
            assert wait_until(
                lambda: outbox_rows(db)[0][2] != last_seen or len(outbox_rows(db)) > 1,
                40,
                ignore=busy,
            ), rec.states
            seeded = r.exists(f"lookout:place:{case_id}")
            rows = outbox_rows(db)
    assert [(i, c) for i, c, _ in rows] == [(case_id, "a")], rows
    assert not rec.cases_of("b")
    assert seeded
    assert rec.logged("dedup store found empty: 1 open case(s) written back")
    assert not rec.tracebacks()


# -- a slow webhook -----------------------------------------------------------------------


def test_slow_webhook_slows_neither_detector_nor_other_sinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    clip = vtest_h264(seconds=20)
    db = tmp_path / "out" / "cases.db"
    endpoint = CaseEndpoint().start()
    endpoint.set(200, delay_s=10.0)
    seen: dict[str, dict[str, float]] = {"sqlite": {}, "redis": {}}
    try:
        rs = redis_server
        with start_rtsp_server({"/a": clip, "/b": clip}) as server:
            cfg = daemon_config(
                tmp_path,
                [
                    camera("a", server.url("/a"), dwell_s=5),
                    camera("b", server.url("/b"), dwell_s=11),
                ],
                sinks=[
                    {"type": "sqlite"},
                    {"type": "redis_stream", "url": rs.url},
                    {"type": "webhook", "url": endpoint.url, "timeout_s": 15},
                ],
                delivery={"poll_s": 0.2, "backoff": {"initial_s": 0.2, "max_s": 1.0}},
            )
            r = redis.Redis.from_url(rs.url, decode_responses=True)
            with running(cfg, monkeypatch) as (_daemon, rec):
                answered_when_b_arrived: list[int] = []

                def watch() -> bool:
                    now = time.monotonic()
                    try:
                        for (cid,) in sqlite3.connect(db, timeout=1).execute(
                            "SELECT id FROM cases"
                        ):
                            seen["sqlite"].setdefault(cid, now)
                    except (OSError, sqlite3.Error):
                        pass
                    entries = cast(list[tuple[str, dict[str, str]]], r.xrange("lookout:cases"))
                    for _, fields in entries:
                        cid = fields.get("id", "")
                        if cid and cid not in seen["redis"]:
                            seen["redis"][cid] = now
                            if any(c.id == cid for _, c in rec.cases_of("b")):
                                answered_when_b_arrived.append(len(endpoint.requests()))
                    return len(seen["redis"]) >= 2 and len(seen["sqlite"]) >= 2

                assert wait_until(watch, 60, step=0.05), (seen, rec.states)
                # The webhook did get the first case, 10 s after it was sent.
                assert wait_until(lambda: endpoint.requests(), 15)
                made = {c.id: t for t, c in rec.cases}
                frames = rec.of("a") + rec.of("b")
                first = min(s.mono for s in frames)
                (t_a,) = [t for t, c in rec.cases if c.camera_id == "a"]
                (t_b,) = [t for t, c in rec.cases if c.camera_id == "b"]
    finally:
        endpoint.stop()
    assert set(made) == set(seen["sqlite"]) == set(seen["redis"]), (made, seen)
    # Each case reached SQLite and the Redis stream in moments, the second one while the
    # webhook still sat on the first (no answer yet).
    for cid, t in made.items():
        assert seen["sqlite"][cid] - t < 2.5, (cid, seen, made)
        assert seen["redis"][cid] - t < 3.5, (cid, seen, made)
    assert t_b - t_a < 9.0, "b's case must come while the webhook holds a's"
    assert answered_when_b_arrived == [0]
    # The detector's rate: before any case vs while the webhook held a request.
    before = rate(frames, first + 1.0, t_a)
    during = rate(frames, t_a + 0.5, t_b + 1.0)
    assert before > 2.5 and during >= 0.75 * before, (before, during)
    assert not rec.tracebacks()
