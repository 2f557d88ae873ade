"""Street-vendor grouping on synthetic tracks (1 frame per second, person boxes 100 px)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lookout.zones.vendors import TrackedObject, VendorEvent, VendorGrouper, VendorSettings

H = 100.0  # person box height in pixels
Frame = tuple[list[TrackedObject], list[TrackedObject]]


def person(tid: int, x: float, y: float = 500.0, conf: float = 0.8) -> TrackedObject:
    return TrackedObject(tid, "person", (x - 20, y - H, x + 20, y), conf)


def stall(tid: int, x: float, y: float = 500.0, cls: str = "umbrella") -> TrackedObject:
    """A stall object next to a vendor standing at (x, y): umbrella above, cart beside."""
    if cls == "umbrella":
        return TrackedObject(tid, cls, (x - 50, y - H - 20, x + 50, y - H + 30), 0.7)
    return TrackedObject(tid, cls, (x + 25, y - 60, x + 105, y), 0.7)


def run(
    grouper: VendorGrouper,
    scene: Callable[[int], Frame],
    until: int,
    allowed: Callable[[int], bool] = lambda t: False,
    start: int = 0,
) -> list[VendorEvent]:
    events: list[VendorEvent] = []
    for t in range(start, until + 1):
        people, stalls = scene(t)
        events += grouper.update(float(t), people, stalls, allowed=allowed(t))
    return events


def stall_scene(t: int) -> Frame:
    return [person(1, 100), person(2, 160)], [stall(3, 130)]


def test_one_stall_two_vendors_one_event_after_dwell() -> None:
    g = VendorGrouper(VendorSettings(dwell_s=60))
    assert run(g, stall_scene, 59) == []  # not before the dwell
    events = run(g, stall_scene, 300, start=60)
    assert len(events) == 1
    (ev,) = events
    assert ev.confirmed_t == 60.0 and ev.dwell_s == 60.0
    assert ev.kind == "fixed"
    assert ev.member_track_ids == (1, 2) and ev.people == 2
    assert ev.stall_track_ids == (3,) and ev.stall_classes == ("umbrella",)
    assert ev.bbox == (80.0, 380.0, 180.0, 500.0)
    assert ev.first_seen_t == 0.0


def chat_scene(t: int) -> Frame:
    return [person(1, 100), person(2, 150), person(3, 200)], []


def test_chatting_people_without_stall_objects_are_no_vendor() -> None:
    assert run(VendorGrouper(VendorSettings(dwell_s=60)), chat_scene, 300) == []


def test_chatting_people_count_when_policy_does_not_require_stall_objects() -> None:
    g = VendorGrouper(VendorSettings(dwell_s=60, require_stall_objects=False))
    events = run(g, chat_scene, 300)
    assert len(events) == 1
    assert events[0].people == 3 and events[0].stall_classes == ()
    with_stall = run(VendorGrouper(VendorSettings(dwell_s=60)), stall_scene, 300)[0]
    assert with_stall.confidence > events[0].confidence  # stall objects raise confidence


def test_two_separate_stalls_are_two_events() -> None:
    def scene(t: int) -> Frame:  # 600 px = 6 box heights (~10 m) apart
        return [person(1, 100), person(2, 700), person(4, 760)], [stall(3, 100), stall(5, 730)]

    events = run(VendorGrouper(VendorSettings(dwell_s=60)), scene, 300)
    assert len(events) == 2
    assert {e.member_track_ids for e in events} == {(1,), (2, 4)}
    assert len({e.group_id for e in events}) == 2


def test_ground_points_in_metres() -> None:
    def at(o: TrackedObject, gx: float) -> TrackedObject:
        return TrackedObject(o.track_id, o.class_name, o.bbox, o.confidence, (gx, 5.0))

    def scene(t: int) -> Frame:  # stall A: two vendors 1 m apart; stall B 10 m away
        people = [at(person(1, 100), 0.0), at(person(2, 160), 1.0), at(person(4, 700), 10.0)]
        return people, [at(stall(3, 130), 0.5), at(stall(5, 700), 10.5)]

    events = run(VendorGrouper(VendorSettings(dwell_s=60)), scene, 200)
    assert sorted(e.member_track_ids for e in events) == [(1, 2), (4,)]
    assert sorted(e.anchor for e in events) == [(0.5, 5.0), (10.0, 5.0)]
    with pytest.raises(ValueError, match="ground points"):
        VendorGrouper(VendorSettings(dwell_s=60)).update(0.0, [people_mixed()], [stall(3, 0)])


def people_mixed() -> TrackedObject:
    return TrackedObject(1, "person", (0, 0, 10, 100), 0.9, (0.0, 0.0))


def test_track_id_switches_neither_restart_dwell_nor_refire() -> None:
    def scene(t: int) -> Frame:
        a = 1 if t < 30 else 11  # before the event: dwell must not restart
        b = 2 if t < 150 else 12  # after the event, with the umbrella too
        u = 3 if t < 150 else 13
        if 200 <= t < 203:  # everybody lost for a moment, the umbrella stays
            return [], [stall(u, 130)]
        return [person(a, 100), person(b, 160)], [stall(u, 130)]

    g = VendorGrouper(VendorSettings(dwell_s=60))
    events = run(g, scene, 500)
    assert [(e.confirmed_t, e.member_track_ids) for e in events] == [(60.0, (2, 11))]
    assert g.group_count == 1


def test_passer_by_does_not_join() -> None:
    def scene(t: int) -> Frame:
        people, stalls = stall_scene(t)
        walker = person(9, -500 + 60 * t)  # 0.6 box heights per second, right through
        rainy = TrackedObject(8, "umbrella", walker.bbox, 0.9)  # carrying an umbrella
        return [*people, walker], [*stalls, rainy]

    events = run(VendorGrouper(VendorSettings(dwell_s=60)), scene, 300)
    assert len(events) == 1
    assert events[0].member_track_ids == (1, 2) and events[0].stall_track_ids == (3,)


def test_walker_with_umbrella_past_chatting_people_makes_no_stall() -> None:
    def scene(t: int) -> Frame:
        walker = person(9, -500 + 60 * t)
        return [*chat_scene(t)[0], walker], [TrackedObject(8, "umbrella", walker.bbox, 0.9)]

    assert run(VendorGrouper(VendorSettings(dwell_s=60)), scene, 300) == []


def cart_vendor(path: Callable[[int], float]) -> Callable[[int], Frame]:
    return lambda t: ([person(1, path(t))], [stall(2, path(t), cls="cart")])


CART = VendorSettings(dwell_s=180, stall_classes=("umbrella", "cart", "tricycle"))


def test_roaming_vendor() -> None:
    def x(t: int) -> float:  # stop 2 min, walk 8 box heights in 10 s, stop again, ...
        leg, at = divmod(t, 130)
        return 100 + 800 * leg + (0 if at <= 120 else 80 * (at - 120))

    g = VendorGrouper(CART)
    events = run(g, cart_vendor(x), 600)
    assert len(events) == 1
    (ev,) = events
    assert ev.kind == "roaming" and ev.stops == 2
    assert ev.confirmed_t == 190.0 and ev.dwell_s == 180.0 and ev.first_seen_t == 0.0
    assert ev.stall_classes == ("cart",)


def test_fixed_stall() -> None:
    events = run(VendorGrouper(CART), cart_vendor(lambda t: 100.0), 600)
    assert [(e.kind, e.confirmed_t, e.stops) for e in events] == [("fixed", 180.0, 1)]


def test_vendor_stepping_away_and_back_stays_fixed() -> None:
    def scene(t: int) -> Frame:  # stands 4 box heights from the umbrella for 35 s
        x = 100.0 if t <= 100 or t >= 145 else min(500.0, 100 + 80 * (t - 100))
        if 140 < t < 145:
            x = 500 - 80 * (t - 140)
        return [person(1, x)], [stall(2, 100)]

    g = VendorGrouper(VendorSettings(dwell_s=180))
    events = run(g, scene, 600)
    assert [(e.kind, e.confirmed_t) for e in events] == [("fixed", 228.0)]


def test_umbrella_alone_is_no_case() -> None:
    g = VendorGrouper(VendorSettings(dwell_s=60))
    assert run(g, lambda t: ([], [stall(3, 130)]), 300) == []
    assert g.group_count == 0


def test_allowed_hours_reset_the_dwell() -> None:
    g = VendorGrouper(VendorSettings(dwell_s=60))
    events = run(g, stall_scene, 300, allowed=lambda t: t < 100)
    assert [e.confirmed_t for e in events] == [160.0]


def test_members_joining_and_leaving_keep_one_group() -> None:
    def scene(t: int) -> Frame:
        people = [person(1, 100)]
        if 20 <= t < 90:
            people.append(person(2, 160))  # a helper joins, then leaves
        if t >= 40:
            people.append(person(4, 40))
        return people, [stall(3, 130)]

    g = VendorGrouper(VendorSettings(dwell_s=60))
    events = run(g, scene, 300)
    assert [(e.confirmed_t, e.member_track_ids) for e in events] == [(60.0, (1, 2, 4))]
    assert g.group_count == 1


def test_passers_by_pausing_at_goods_that_stay_are_no_stall() -> None:
    """Goods stand all along (a static object); every 20 s somebody stops by them for
    5 s and walks on. No one minds a stall: the clock stops when they leave."""
    goods = TrackedObject(9, "static_object", (125.0, 440.0, 205.0, 500.0), 0.7)

    def scene(t: int) -> Frame:
        visitor = 100 + t // 20  # a new person each time
        people = [person(visitor, 100)] if t % 20 < 5 else []
        return people, [goods]

    g = VendorGrouper(VendorSettings(dwell_s=15, stall_classes=("static_object",)))
    assert run(g, scene, 300) == []
    # A vendor who stays by the same goods for 15 s is a stall (the check can fail).
    stays = VendorGrouper(VendorSettings(dwell_s=15, stall_classes=("static_object",)))
    events = run(stays, lambda t: ([person(1, 100)], [goods]), 60)
    assert len(events) == 1 and events[0].stall_classes == ("static_object",)


def test_a_vendor_missed_for_a_few_frames_keeps_the_stall_clock() -> None:
    def scene(t: int) -> Frame:
        missed = 20 <= t < 25  # the detector misses the vendor for 5 s
        return ([] if missed else [person(1, 100)]), [stall(3, 130)]

    g = VendorGrouper(VendorSettings(dwell_s=60))
    events = run(g, scene, 120)
    assert len(events) == 1
    # The 5 s without the vendor are bridged (from the last sighting), never counted twice.
    assert events[0].confirmed_t == 60.0 and events[0].dwell_s == 60.0
