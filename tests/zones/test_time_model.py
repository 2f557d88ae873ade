"""One time model (docs/ARCHITECTURE.md, "Time"): durations from the monotonic axis,
case timestamps from the wall clock — a jumping wall clock never changes a dwell."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import numpy as np

from lookout.config.app import CameraConfig
from lookout.streams.frame import replace
from lookout.zones.rules import ZoneEngine
from tests.support.helpers import dets, frame

PARKING = {"type": "illegal_parking", "classes": ["car"], "dwell_s": 10, "min_confidence": 0.3}
CAR = (40, 40, 60, 60, 0.8, 1, 7)


def engine() -> ZoneEngine:
    cam = CameraConfig.model_validate(
        {
            "id": "cam",
            "zones": [
                {
                    "id": "z1",
                    "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]],
                    "inertia_frames": 2,
                    "policies": [PARKING],
                }
            ],
        }
    )
    return ZoneEngine(cam, ["person", "car", "umbrella"], ZoneInfo("Asia/Shanghai"))


def run_with_wall_jump(jump: timedelta, at: float) -> list:
    """A car parked from t=0; at `at` seconds the wall clock jumps by `jump`."""
    eng = engine()
    events = []
    for i in range(61):
        t = i * 0.5
        f = frame(t)
        if t >= at:
            f = replace(f, captured_at=f.captured_at + jump)
        events.extend(eng.update(f, dets(CAR)))
    return events


def test_wall_clock_jumping_forward_does_not_confirm_early() -> None:
    # An NTP step of +1 h after 3 s: wall-clock differences would say "parked 1 h".
    events = run_with_wall_jump(timedelta(hours=1), at=3.0)
    assert len(events) == 1
    ev = events[0]
    assert 10.0 <= ev.dwell_s < 10.6
    # The case is stamped with the (new) wall clock; first_seen = confirmed - dwell.
    assert ev.confirmed_at == frame(ev.frame.monotonic_s).captured_at + timedelta(hours=1)
    assert (ev.confirmed_at - ev.first_seen).total_seconds() == ev.dwell_s


def test_wall_clock_jumping_back_does_not_delay_or_lose_the_case() -> None:
    events = run_with_wall_jump(timedelta(hours=-2), at=4.0)
    assert len(events) == 1 and 10.0 <= events[0].dwell_s < 10.6


def test_monotonic_gap_counts_as_time_passed() -> None:
    # Frames 0-2 s, then a 9 s gap (a long I-frame interval, a dropped feed): dwell
    # comes from the monotonic axis across the gap.
    eng = engine()
    times = [0.0, 0.5, 1.0, 1.5, 2.0, 11.0, 11.5, 12.0]
    events = []
    for t in times:
        events.extend(eng.update(frame(t), dets(CAR)))
    assert len(events) == 1 and events[0].frame.monotonic_s == 11.0
    assert np.isclose(events[0].dwell_s, 11.0)


def track_and_zone(times: list[float]) -> list:
    """The analyser's order: ByteTrack (config defaults) → first-seen times → zones."""
    from lookout.detector.settings import TrackerConfig
    from lookout.detector.tracker import ByteTracker

    tracker = ByteTracker(TrackerConfig())
    eng = engine()
    events = []
    for t in times:
        tracked = tracker.update(dets((40, 40, 60, 60, 0.8, 1, -1)), t)
        ids = tracked.tracker_id[tracked.tracker_id >= 0]
        born = dict(zip(ids.tolist(), tracker.first_seen(ids).tolist(), strict=True))
        events.extend(eng.update(frame(t), tracked, born))
    return events


def test_a_stop_starts_at_the_first_detection_not_at_track_confirmation() -> None:
    # 1 analysed frame/s: the tracker confirms the car on its 2nd frame (min_hits 2);
    # the stop still starts at the first, so a 10 s dwell fires at 10 s, not 11 s.
    events = track_and_zone([float(i) for i in range(15)])
    assert len(events) == 1
    assert events[0].frame.monotonic_s == 10.0 and events[0].dwell_s == 10.0


def test_tracks_and_dwell_survive_a_gap_longer_than_the_track_buffer() -> None:
    # 0-4 s seen, then nothing for 8 s (a 10 s I-frame interval, a reconnect): the
    # track is lost (lost_track_buffer_s 5 s) and a new one takes over the stop from
    # the place memory, so the dwell counts from 0 s.
    events = track_and_zone([0.0, 1.0, 2.0, 3.0, 4.0, 12.0, 13.0, 14.0, 15.0])
    assert len(events) == 1
    assert events[0].dwell_s >= 10.0 and events[0].frame.monotonic_s <= 15.0
    assert events[0].first_seen == frame(0.0).captured_at
