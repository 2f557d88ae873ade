"""非机动车乱停放 (`non_motor_parking`): the clusterer on synthetic tracks (1 frame per
second, bicycle boxes 60 px high), then the rule through the zone engine with the COCO
manifest's roles, the case stage and the config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.cases.dedup import CaseDeduper
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.manager import CaseManager
from lookout.cases.model import case_id
from lookout.cases.settings import default_codes
from lookout.cases.sinks import JsonlSink
from lookout.config.app import CameraConfig, load_config
from lookout.detector.manifest import load_manifest
from lookout.zones.events import ViolationEvent
from lookout.zones.non_motor import NonMotorClusterer, NonMotorEvent, NonMotorSettings
from lookout.zones.policies import NonMotorPolicy
from lookout.zones.rules import ZoneEngine, validate_classes
from lookout.zones.vendors import TrackedObject
from tests.support.helpers import dets, frame, read_jsonl

H = 60.0  # bicycle box height in pixels
TZ = ZoneInfo("Asia/Shanghai")


def bike(tid: int, x: float, y: float = 300.0, conf: float = 0.7) -> TrackedObject:
    """A bicycle standing at ground point (x, y)."""
    return TrackedObject(tid, "bicycle", (x - 30, y - H, x + 30, y), conf)


def row(
    ids: list[int], x0: float = 100.0, step: float = 60.0, y: float = 300.0
) -> list[TrackedObject]:
    """Bicycles side by side, `step` px apart (1 box height: one cluster)."""
    return [bike(tid, x0 + k * step, y) for k, tid in enumerate(ids)]


def run(
    clusterer: NonMotorClusterer,
    scene: Callable[[int], list[TrackedObject]],
    until: int,
    allowed: Callable[[int], bool] = lambda t: False,
    start: int = 0,
) -> list[NonMotorEvent]:
    events: list[NonMotorEvent] = []
    for t in range(start, until + 1):
        events += clusterer.update(float(t), scene(t), allowed=allowed(t))
    return events


def settings(**kw: Any) -> NonMotorSettings:
    """A dwell of 60 s, the policy's defaults otherwise, `kw` replacing any."""
    return replace(NonMotorSettings(dwell_s=60.0), **kw)


# -- the clusterer ---------------------------------------------------------------------


def test_three_parked_bicycles_fire_once_with_their_count() -> None:
    c = NonMotorClusterer(settings())

    def scene(t: int) -> list[TrackedObject]:
        return [bike(1, 100, conf=0.6), bike(2, 160, conf=0.9), bike(3, 220, conf=0.7)]

    assert run(c, scene, 59) == []  # not before the dwell
    events = run(c, scene, 600, start=60)
    assert len(events) == 1
    (ev,) = events
    assert ev.confirmed_t == 60.0 and ev.dwell_s == 60.0
    assert ev.count == 3 and ev.track_ids == (1, 2, 3) and ev.track_id == 1
    assert ev.class_name == "bicycle" and ev.confidence == 0.7  # the median score
    assert ev.bbox == (70.0, 240.0, 250.0, 300.0)  # the union box
    assert ev.anchor == (160.0, 300.0)


def test_two_bicycles_or_three_scattered_ones_are_no_case() -> None:
    c = NonMotorClusterer(settings())
    assert run(c, lambda t: row([1, 2]), 300) == []
    # Three bicycles 3 box heights apart: no two are within cluster_radius (2).
    c = NonMotorClusterer(settings())
    assert run(c, lambda t: row([1, 2, 3], step=3 * H), 300) == []
    assert c.group_count == 0


def test_a_cluster_that_grows_and_shrinks_fires_once() -> None:
    def scene(t: int) -> list[TrackedObject]:
        if t < 100:
            return row([1, 2, 3])
        if t < 200:
            return row([1, 2, 3, 4, 5])  # two more parked beside the row
        if t < 300:
            return row([1, 2])  # three ridden away
        return row([1, 2, 6, 7])

    c = NonMotorClusterer(settings())
    events = run(c, scene, 600)
    assert [(ev.confirmed_t, ev.count) for ev in events] == [(60.0, 3)]
    assert c.group_count == 1


def test_a_row_split_where_a_bicycle_left_stays_one_group() -> None:
    # Six in a row; the middle two leave: 2 + 2 left, 3 box heights apart, one place.
    def scene(t: int) -> list[TrackedObject]:
        bikes = row([1, 2, 3, 4, 5, 6])
        return bikes if t < 100 else bikes[:2] + bikes[4:]

    c = NonMotorClusterer(settings(min_count=2))
    events = run(c, scene, 400)
    assert [ev.count for ev in events] == [6]
    assert c.group_count == 1


@pytest.mark.parametrize(("gap", "fires"), [(100, 1), (300, 2)])
def test_an_emptied_place_refilled_after_quiet_s_is_a_new_event(gap: int, fires: int) -> None:
    # Three bicycles until t=200, none for `gap` s, then three others on the same spot.
    def scene(t: int) -> list[TrackedObject]:
        if t < 200:
            return row([1, 2, 3])
        if t < 200 + gap:
            return []
        return row([11, 12, 13], x0=105)

    c = NonMotorClusterer(settings(quiet_s=200))
    events = run(c, scene, 200 + gap + 120)
    assert len(events) == fires
    if fires == 2:
        assert events[1].confirmed_t == 200 + gap + 60 and events[1].count == 3
        assert events[1].group_id != events[0].group_id


def test_ridden_through_bicycles_never_count() -> None:
    # Five cyclists riding together at 1 box height per second, and three more who
    # wait at a crossing for 40 s (less than the dwell) before riding on.
    def scene(t: int) -> list[TrackedObject]:
        riders = row([1, 2, 3, 4, 5], x0=t * H)
        waiting = row([6, 7, 8], x0=100 if t < 40 else 100 + (t - 40) * H, y=500)
        return riders + waiting

    c = NonMotorClusterer(settings())
    assert run(c, scene, 300) == []
    assert c.group_count == 0
    # Riders are no case even with the policy's default dwell_s 0: an object must
    # stand still for settle_s (3 s) to count.
    c = NonMotorClusterer(settings(dwell_s=0.0))
    assert run(c, lambda t: row([1, 2, 3, 4, 5], x0=t * H), 300) == []


def test_a_tracker_id_switch_keeps_the_dwell_and_the_group() -> None:
    # Ids 1-3 until t=30 (before the dwell), 4-6 after: the new tracks take over the
    # stops, so the cluster fires at t=60. At t=100, after 20 s unseen (a bus in the
    # way), the bicycles come back as 7-9, a few pixels off: the same group, no event.
    def scene(t: int) -> list[TrackedObject]:
        if t < 30:
            return row([1, 2, 3])
        if t < 80:
            return row([4, 5, 6])
        if t < 100:
            return []
        return row([7, 8, 9], x0=104)

    c = NonMotorClusterer(settings())
    events = run(c, scene, 400)
    assert [(ev.confirmed_t, ev.dwell_s, ev.track_ids) for ev in events] == [
        (60.0, 60.0, (4, 5, 6))
    ]
    assert c.group_count == 1


def test_all_ids_changed_without_take_over_is_still_the_same_group() -> None:
    # The lost tracks are forgotten (track_memory_s 5) before new ids appear, shifted by
    # a third of a box height: no stop is taken over, but the place is the group's.
    def scene(t: int) -> list[TrackedObject]:
        if t < 100:
            return row([1, 2, 3])
        if t < 110:
            return []
        return row([7, 8, 9], x0=120)

    c = NonMotorClusterer(settings(track_memory_s=5))
    assert [ev.track_ids for ev in run(c, scene, 400)] == [(1, 2, 3)]


def test_bicycles_settling_again_after_a_long_absence_keep_the_group() -> None:
    # A PTZ tour: the preset is away from t=100 to t=250 (longer than the stops are
    # kept), so 7-9 must stand the dwell again (until t=310) to count; quiet_s is 200.
    # They stand on the group's place from t=253 on: the place was never empty for
    # 200 s, so it is the same group and no second event.
    def scene(t: int) -> list[TrackedObject]:
        if t < 100:
            return row([1, 2, 3])
        if t < 250:
            return []
        return row([7, 8, 9])

    c = NonMotorClusterer(settings(quiet_s=200))
    assert [ev.track_ids for ev in run(c, scene, 600)] == [(1, 2, 3)]


def test_no_case_in_an_allowed_window_and_one_when_it_ends() -> None:
    c = NonMotorClusterer(settings())
    assert run(c, lambda t: row([1, 2, 3]), 600, allowed=lambda t: True) == []
    # Parked during the allowed window (until t=100) and still there after it.
    c = NonMotorClusterer(settings())
    events = run(c, lambda t: row([1, 2, 3]), 600, allowed=lambda t: t < 100)
    assert [(ev.confirmed_t, ev.dwell_s) for ev in events] == [(100.0, 100.0)]


# -- the rule in the zone engine, the case stage and the config ------------------------


@cache
def coco() -> tuple[list[str], dict[str, list[str]]]:
    """The COCO manifest's class names and roles (non_motor: [bicycle])."""
    manifest = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    return list(manifest.class_names), {str(k): list(v) for k, v in manifest.roles.items()}


def cls(name: str) -> int:
    return coco()[0].index(name)


#: Default classes: the `non_motor` role.
POLICY = {"type": "non_motor_parking", "dwell_s": 10, "min_confidence": 0.3, "quiet_s": 30}


def camera(policy: dict) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam",
            "zones": [
                {
                    "id": "pavement",
                    "polygon": [[0, 0], [100, 0], [100, 100], [0, 100]],
                    "inertia_frames": 2,
                    "policies": [policy],
                }
            ],
        }
    )


Row = tuple[float, float, float, float, float, int, int]  # x1, y1, x2, y2, score, class, id


def parked(t: float) -> list[Row]:
    """A 160x120 frame at `t`: three bicycles parked side by side from t=0, a fourth
    and a fifth from t=15 and t=20; around them what must not count."""
    bicycle = cls("bicycle")
    rows: list[Row] = [
        (10, 40, 30, 60, 0.8, bicycle, 1),
        (35, 40, 55, 60, 0.6, bicycle, 2),
        (60, 42, 80, 62, 0.9, bicycle, 3),
        (40, 20, 50, 60, 0.9, cls("person"), 4),  # someone standing by them
        (70, 70, 98, 90, 0.9, cls("car"), 5),  # a parked car
        (t * 8, 75, t * 8 + 20, 95, 0.9, bicycle, 6),  # ridden through
        (120, 80, 140, 110, 0.9, bicycle, 7),  # parked outside the zone
        (35, 65, 55, 85, 0.9, bicycle, -1),  # not tracked
        (10, 65, 30, 85, 0.2, bicycle, 8),  # too weak
    ]
    if t >= 15:
        rows.append((85, 41, 99, 61, 0.7, bicycle, 9))
    if t >= 20:
        rows.append((5, 40, 9, 60, 0.7, bicycle, 10))
    return rows


def run_engine(
    policy: dict, seconds: float, rows_at: Callable[[float], list[Row]] = parked
) -> list[ViolationEvent]:
    names, roles = coco()
    eng = ZoneEngine(camera(policy), names, TZ, roles=roles)
    events: list[ViolationEvent] = []
    t = 0.0
    while t <= seconds + 1e-9:
        events += eng.update(frame(t), dets(*rows_at(t)))
        t = round(t + 0.5, 6)
    return events


def test_engine_fires_one_event_per_cluster_with_its_count() -> None:
    events = run_engine(POLICY, 60)
    assert len(events) == 1
    (ev,) = events
    assert ev.type == "non_motor_parking" and ev.zone_id == "pavement"
    assert ev.class_name == "bicycle" and ev.count == 3
    assert ev.subject_ids == (1, 2, 3) and ev.track_id == 1
    assert ev.bbox == (10.0, 40.0, 80.0, 62.0)
    assert ev.confidence == 0.8
    # Inside from the 2nd frame (inertia), stationary for 10 s: confirmed at t=10.5.
    assert (ev.confirmed_at - frame(0).captured_at).total_seconds() == 10.5
    assert ev.dwell_s == pytest.approx(10.0)
    assert ev.scene is not None  # for blurring bystanders in the evidence
    # The policy's classes resolve through the manifest's roles.
    validate_classes([camera(POLICY)], *coco())
    assert NonMotorPolicy(type="non_motor_parking").classes == ["non_motor"]


def test_engine_gives_no_case_in_an_allowed_window() -> None:
    # The frames are at 09:00 site time (tests/support/helpers.py T0).
    allowed = {**POLICY, "allowed": [{"start": "08:00", "end": "10:00"}]}
    assert run_engine(allowed, 60) == []


def cases(events: list[ViolationEvent], out: Path) -> list[dict]:
    """The case JSON the case stage writes for `events` (dedup cooldown 30 s)."""
    manager = CaseManager(
        {"non_motor_parking": default_codes()["non_motor_parking"]},
        CaseDeduper(cooldown_s=30, iou=0.3),
        EvidenceWriter(out),
        [JsonlSink.open(out / "cases.jsonl")],
        TZ,
    )
    for ev in events:
        manager.handle(ev)
    manager.close()
    return read_jsonl(out / "cases.jsonl")


def test_a_growing_cluster_is_one_case_with_its_count(tmp_path: Path) -> None:
    # Fired with three bicycles at t=10.5; a fourth and a fifth park beside them.
    rows = cases(run_engine(POLICY, 120), tmp_path)
    assert len(rows) == 1
    (case,) = rows
    assert case["type"] == "non_motor_parking" and case["code"] == "09002"
    assert case["count"] == 3 and case["object_class"] == "bicycle"
    assert case["track_id"] == 1 and case["bbox"] == [10.0, 40.0, 80.0, 62.0]
    assert len(case["evidence"]) == 2


def test_a_place_refilled_after_quiet_s_is_a_new_case(tmp_path: Path) -> None:
    # The cluster leaves at t=60; three others park on its place at t=120, after
    # quiet_s (30 s) and after the dedup cooldown (30 s) of the first case.
    def scene(t: float) -> list[Row]:
        if t < 60:
            return parked(t)
        if t < 120:
            return []
        bicycle = cls("bicycle")
        return [
            (11, 40, 31, 60, 0.8, bicycle, 21),
            (36, 40, 56, 60, 0.8, bicycle, 22),
            (61, 42, 81, 62, 0.8, bicycle, 23),
        ]

    events = run_engine(POLICY, 180, scene)
    assert [ev.count for ev in events] == [3, 3]
    assert case_id(events[0]) != case_id(events[1])  # a later first_seen
    rows = cases(events, tmp_path)
    assert [r["count"] for r in rows] == [3, 3] and rows[0]["id"] != rows[1]["id"]


CONFIG = """
model: {manifest: ../models/yolox_nano.yaml}
cameras:
  - id: cam1
    zones:
      - id: pavement
        polygon: [[0, 0], [100, 0], [100, 100], [0, 100]]
        policies:
          - type: non_motor_parking
            dwell_s: 300
            min_count: 4
            allowed: [{start: "07:00", end: "09:00"}]
"""


def test_a_non_motor_policy_loads_from_the_config(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG)
    policy = load_config(p).cameras[0].zones[0].policies[0]
    assert isinstance(policy, NonMotorPolicy)
    assert (policy.min_count, policy.dwell_s, policy.classes) == (4, 300.0, ["non_motor"])
    assert (policy.cluster_radius, policy.quiet_s) == (2.0, 600.0)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("min_count: 4", "min_count: 0"), r"policies\[0\]\.min_count: .*greater than or equal"),
        (("min_count: 4", "cluster_radius: -1"), r"policies\[0\]\.cluster_radius: .*greater"),
        (("min_count: 4", "support_classes: [person]"), r"support_classes: unknown key"),
    ],
)
def test_a_bad_non_motor_value_is_one_line_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(CONFIG.replace(*edit))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(p)
    text = str(info.value)
    assert text.startswith(str(p)) and "\n" not in text
