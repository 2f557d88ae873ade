from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from lookout.base.errors import ConfigError
from lookout.config.app import CameraConfig
from lookout.zones.policies import VendorPolicy
from lookout.zones.rules import ZoneEngine
from tests.support.helpers import T0, dets, frame

CLASSES = ["person", "car", "umbrella"]
TZ_NAME = "Asia/Shanghai"


def camera(policy: dict, polygon=None, inertia: int = 2, preset: str | None = None) -> CameraConfig:
    return CameraConfig.model_validate(
        {
            "id": "cam",
            "zones": [
                {
                    "id": "z1",
                    "preset": preset,
                    "polygon": polygon or [[0, 0], [100, 0], [100, 100], [0, 100]],
                    "inertia_frames": inertia,
                    "policies": [policy],
                }
            ],
        }
    )


PARKING = {"type": "illegal_parking", "classes": ["car"], "dwell_s": 10, "min_confidence": 0.3}


def engine(cam: CameraConfig) -> ZoneEngine:
    from zoneinfo import ZoneInfo

    return ZoneEngine(cam, CLASSES, ZoneInfo(TZ_NAME))


def run(eng: ZoneEngine, seconds: float, step: float, rows_at) -> list:
    events = []
    t = 0.0
    while t <= seconds + 1e-9:
        events.extend(eng.update(frame(t), dets(*rows_at(t))))
        t = round(t + step, 6)
    return events


def test_parked_car_fires_once_after_dwell() -> None:
    eng = engine(camera(PARKING))
    events = run(eng, 30, 0.5, lambda t: [(40, 40, 60, 60, 0.8, 1, 7)])
    assert len(events) == 1
    ev = events[0]
    assert ev.type == "illegal_parking" and ev.track_id == 7 and ev.class_name == "car"
    assert 10.0 <= ev.dwell_s < 10.6
    assert (ev.confirmed_at - ev.first_seen).total_seconds() == pytest.approx(ev.dwell_s)


def test_car_driving_through_is_not_parked() -> None:
    eng = engine(camera(PARKING))
    # 2 px per 0.5 s across a 100 px zone: always moving more than 0.35 box heights.
    events = run(eng, 30, 0.5, lambda t: [(t * 8 - 10, 40, t * 8 + 10, 60, 0.8, 1, 3)])
    assert events == []


def test_anchor_is_bottom_centre_not_box_centre() -> None:
    # Box centre inside the zone, bottom edge below it: the car stands outside.
    eng = engine(camera(PARKING))
    events = run(eng, 20, 0.5, lambda t: [(40, 60, 60, 120, 0.8, 1, 1)])
    assert events == []


def test_other_classes_low_confidence_and_untracked_are_ignored() -> None:
    eng = engine(camera(PARKING))
    rows = [(40, 40, 60, 60, 0.8, 0, 1), (10, 10, 30, 30, 0.2, 1, 2), (70, 70, 90, 90, 0.9, 1, -1)]
    assert run(eng, 20, 0.5, lambda t: rows) == []


def test_track_switch_on_same_spot_keeps_dwell_and_does_not_fire_twice() -> None:
    # Same parked car; the tracker gives it id 1 until t=6 s, then id 2 after a 1 s gap.
    def rows(t: float):
        if t < 6:
            return [(40, 40, 60, 60, 0.8, 1, 1)]
        if t < 7:
            return []
        return [(41, 40, 61, 60, 0.8, 1, 2)]

    from zoneinfo import ZoneInfo

    from lookout.zones.rules import ZoneRuleSettings

    eng = ZoneEngine(
        camera(PARKING),
        CLASSES,
        ZoneInfo(TZ_NAME),
        ZoneRuleSettings(forget_after_s=0.5, place_memory_s=60, place_iou=0.5),
    )
    events = run(eng, 40, 0.5, rows)
    assert len(events) == 1
    # Inherited stop: fired about 10 s after the first sighting, not 10 s after the switch.
    assert events[0].dwell_s >= 10
    assert (events[0].confirmed_at - T0).total_seconds() < 12


def test_inertia_requires_consecutive_frames_inside() -> None:
    eng = engine(camera({**PARKING, "dwell_s": 0}, inertia=4))
    # Inside on every other frame only: never 4 in a row.
    events = run(eng, 10, 0.5, lambda t: [(40, 40, 60, 60 if int(t * 2) % 2 else 140, 0.9, 1, 1)])
    assert events == []


def test_vendor_outside_allowed_window_with_umbrella_support() -> None:
    vendor = {
        "type": "street_vendor",
        "classes": ["person"],
        "support_classes": ["umbrella"],
        "dwell_s": 5,
        "allowed": [{"start": "18:00", "end": "23:00"}],
    }
    eng = engine(camera(vendor))
    rows = [(40, 30, 50, 60, 0.7, 0, 4), (30, 10, 60, 30, 0.6, 2, 5)]
    events = run(eng, 10, 0.5, lambda t: rows)
    assert len(events) == 1
    ev = events[0]
    assert ev.support == ("umbrella",) and ev.subtype == "fixed"
    assert 0.4 < ev.confidence < 1.0
    assert ev.bbox[0] <= 40 and ev.bbox[2] >= 50  # the stall's box covers the vendor


def test_a_person_standing_without_stall_objects_is_not_a_vendor() -> None:
    vendor = {
        "type": "street_vendor",
        "classes": ["person"],
        "support_classes": ["umbrella"],
        "dwell_s": 5,
    }
    rows = [(40, 30, 50, 60, 0.7, 0, 4)]
    assert run(engine(camera(vendor)), 20, 0.5, lambda t: rows) == []
    # ...unless the zone's policy says so.
    loose = engine(camera({**vendor, "require_stall_objects": False}))
    assert len(run(loose, 20, 0.5, lambda t: rows)) == 1


def test_vendor_inside_allowed_window_is_not_a_case() -> None:
    vendor = {
        "type": "street_vendor",
        "classes": ["person"],
        "support_classes": ["umbrella"],
        "require_stall_objects": False,
        "dwell_s": 5,
        # 09:00 local is when tests.support.helpers.T0 is.
        "allowed": [{"start": "08:00", "end": "12:00"}],
    }
    eng = engine(camera(vendor))
    assert run(eng, 10, 0.5, lambda t: [(40, 30, 50, 60, 0.7, 0, 4)]) == []


def test_time_window_wraps_midnight() -> None:
    from lookout.zones.policies import TimeWindow

    w = TimeWindow(start=time(22), end=time(6))
    assert w.contains(time(23, 30)) and w.contains(time(1)) and not w.contains(time(12))


def test_zone_of_other_preset_is_not_evaluated() -> None:
    eng = engine(camera(PARKING, preset="A"))
    events = []
    for i in range(60):
        f = frame(i * 0.5, preset="B")
        events += eng.update(f, dets((40, 40, 60, 60, 0.8, 1, 1)))
    assert events == []


def test_unknown_class_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'bicycle' is unknown"):
        engine(camera({**PARKING, "classes": ["bicycle"]}))


def test_contains_is_vectorised_for_many_objects() -> None:
    eng = engine(camera({**PARKING, "dwell_s": 1}))
    rows = [(x, 40, x + 5, 60, 0.9, 1, i + 1) for i, x in enumerate(np.arange(0, 200, 10.0))]
    events = run(eng, 3, 0.5, lambda t: rows)
    # Bottom-centres x+2.5 inside [0, 100]: x in 0..90 → 10 objects.
    assert len(events) == 10


def test_walker_over_a_lost_stop_does_not_inherit_its_dwell() -> None:
    from zoneinfo import ZoneInfo

    from lookout.zones.rules import ZoneRuleSettings

    # The place memory of the dwell rule (a person class stands in for any object).
    vendor = {"type": "illegal_parking", "classes": ["person"], "dwell_s": 20}
    eng = ZoneEngine(
        camera(vendor),
        CLASSES,
        ZoneInfo(TZ_NAME),
        ZoneRuleSettings(forget_after_s=0.5, place_memory_s=120, place_iou=0.5),
    )

    def rows(t: float):
        if t < 10:  # someone stands at x=40 for 10 s, then leaves
            return [(35, 30, 45, 60, 0.8, 0, 1)]
        if 30 <= t < 34:  # 20 s later a walker crosses that spot, 3 px per frame
            x = 25 + (t - 30) * 6
            return [(x, 30, x + 10, 60, 0.8, 0, 2)]
        return []

    assert run(eng, 40, 0.5, rows) == []


CART_CLASSES = ["person", "cart", "umbrella", "tricycle"]  # a custom model's names


def cart_engine(policy: dict) -> ZoneEngine:
    from zoneinfo import ZoneInfo

    return ZoneEngine(camera(policy), CART_CLASSES, ZoneInfo(TZ_NAME))


def test_vendor_with_cart_support_class_gives_a_case() -> None:
    vendor = {"type": "street_vendor", "classes": ["person"], "support_classes": ["cart"]}
    eng = cart_engine({**vendor, "dwell_s": 5})
    # Two people standing still with a cart between them.
    rows = [(20, 30, 30, 60, 0.7, 0, 4), (55, 30, 65, 60, 0.7, 0, 5), (32, 40, 52, 60, 0.6, 1, 9)]
    events = run(eng, 12, 0.5, lambda t: rows)
    assert len(events) == 1
    ev = events[0]
    assert ev.type == "street_vendor" and ev.support == ("cart",) and ev.subtype == "fixed"


def test_vendor_with_two_support_classes_keeps_each_objects_class() -> None:
    vendor = {
        "type": "street_vendor",
        "classes": ["person"],
        "support_classes": ["cart", "tricycle"],
        "dwell_s": 5,
    }
    eng = cart_engine(vendor)
    # One vendor with a tricycle only: the tricycle alone must make the stall.
    rows = [(40, 30, 50, 60, 0.7, 0, 4), (52, 40, 72, 60, 0.6, 3, 8)]
    events = run(eng, 12, 0.5, lambda t: rows)
    assert len(events) == 1 and events[0].support == ("tricycle",)
    # Cart and tricycle at the same stall: both classes, each under its own name.
    eng = cart_engine(vendor)
    rows = [*rows, (20, 40, 38, 60, 0.6, 1, 9)]
    events = run(eng, 12, 0.5, lambda t: rows)
    assert len(events) == 1 and events[0].support == ("cart", "tricycle")
    # Two stalls in the zone, a cart at one and a tricycle at the other: each case
    # names its own stall object, under its own class.
    eng = cart_engine(vendor)
    rows = [
        (5, 15, 15, 45, 0.7, 0, 4),  # vendor A ...
        (17, 25, 35, 45, 0.6, 1, 9),  # ... with a cart
        (80, 65, 90, 95, 0.7, 0, 5),  # vendor B ...
        (62, 75, 78, 95, 0.6, 3, 8),  # ... with a tricycle
    ]
    events = run(eng, 12, 0.5, lambda t: rows)
    assert sorted(ev.support for ev in events) == [("cart",), ("tricycle",)]


def test_a_vendor_policy_naming_the_stall_object_role_gives_the_same_case() -> None:
    """`stall_object` resolves through the model manifest's roles (models/yolox_nano.yaml:
    umbrella), so the policy gives the case a policy naming `umbrella` gives."""
    from lookout.base.paths import REPO_ROOT
    from lookout.detector.manifest import load_manifest

    manifest = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    names = list(manifest.class_names)
    roles = {str(k): list(v) for k, v in manifest.roles.items()}
    person, umbrella = names.index("person"), names.index("umbrella")
    rows = [
        (20, 30, 30, 60, 0.7, person, 4),
        (55, 30, 65, 60, 0.7, person, 5),
        (32, 20, 52, 40, 0.6, umbrella, 9),
    ]

    def events(support: list[str]) -> list:
        vendor = {"type": "street_vendor", "support_classes": support, "dwell_s": 5}
        eng = ZoneEngine(camera(vendor), names, ZoneInfo(TZ_NAME), roles=roles)
        return run(eng, 12, 0.5, lambda t: rows)

    by_role, by_class = events(["stall_object"]), events(["umbrella"])
    assert len(by_role) == len(by_class) == 1
    a, b = by_role[0], by_class[0]
    assert (a.bbox, a.support, a.dwell_s, a.confirmed_at) == (
        b.bbox,
        b.support,
        b.dwell_s,
        b.confirmed_at,
    )
    assert a.support == ("umbrella",)
    # The default stall classes of a vendor policy are the role.
    assert VendorPolicy(type="street_vendor").support_classes == ["stall_object"]


def test_an_unknown_role_or_class_is_one_line_naming_the_key() -> None:
    vendor = {"type": "street_vendor", "support_classes": ["stall_objects"], "dwell_s": 5}
    with pytest.raises(ConfigError, match=r"policies\[0\]\.support_classes: class 'stall_objects'"):
        ZoneEngine(camera(vendor), ["person", "umbrella"], ZoneInfo(TZ_NAME), roles={})
