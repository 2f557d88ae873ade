"""ByteTracker on synthetic scenes with irregular timestamps (2-5 analysed frames per second)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from lookout.base.geometry import box_ious
from lookout.detector.detections import Detections
from lookout.detector.settings import TrackerConfig
from lookout.detector.tracker import ByteTracker, _match

W, H = 60.0, 120.0


def box(x: float, y: float, w: float = W, h: float = H) -> list[float]:
    """xyxy of a box with top-left corner (x, y)."""
    return [x, y, x + w, y + h]


def dets(
    boxes: Sequence[Sequence[float]],
    conf: float | Sequence[float] = 0.9,
    cls: int | Sequence[int] = 0,
) -> Detections:
    n = len(boxes)
    return Detections.create(
        np.asarray(boxes, dtype=np.float32).reshape(n, 4),
        np.broadcast_to(np.asarray(conf, dtype=np.float32), (n,)),
        np.broadcast_to(np.asarray(cls, dtype=np.int32), (n,)),
    )


def irregular_times(n: int, seed: int = 0, lo: float = 0.2, hi: float = 0.5) -> np.ndarray:
    """n increasing timestamps with steps drawn from [lo, hi] seconds."""
    return np.cumsum(np.random.default_rng(seed).uniform(lo, hi, n))


def test_constant_velocity_keeps_one_id_with_irregular_dt() -> None:
    tracker = ByteTracker()
    ids = []
    for t in irregular_times(50):
        out = tracker.update(dets([box(100 + 40 * t, 200 + 10 * t)]), t)
        ids.append(int(out.tracker_id[0]))
    assert ids[0] == -1  # tentative in its first frame (min_hits=2)
    assert set(ids[1:]) == {1}
    assert tracker.active_track_count == 1


def test_fast_box_with_irregular_dt_is_followed_by_prediction() -> None:
    """Up to 0.8 box widths per step: plain IoU with the last box would drop it."""
    tracker = ByteTracker()
    times = np.concatenate([[0.0, 0.1, 0.2], 0.2 + irregular_times(40, seed=8, lo=0.2, hi=0.6)])
    ids = [int(tracker.update(dets([box(80 * t, 100)]), t).tracker_id[0]) for t in times]
    assert ids[0] == -1
    assert set(ids[1:]) == {1}


def test_assignment_prefers_best_pair_over_more_pairs() -> None:
    """Like lapjv with a cost limit: no forced weak matches to raise the match count."""
    iou = np.array([[0.9, 0.25], [0.3, 0.0]])
    rows, cols = _match(iou, 0.2)
    assert list(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 0)]
    rows, cols = _match(np.array([[0.1, 0.6], [0.7, 0.05]]), 0.2)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_crossing_boxes_of_different_classes_keep_ids() -> None:
    tracker = ByteTracker()
    ids_a, ids_b = [], []
    for t in irregular_times(40, seed=1):  # ~14 s: they meet around t = 4 s and separate
        xa, xb = 100 + 50 * t, 500 - 50 * t
        out = tracker.update(dets([box(xa, 300), box(xb, 305)], cls=[0, 1]), t)
        ids_a.append(int(out.tracker_id[0]))
        ids_b.append(int(out.tracker_id[1]))
    assert xa > xb + 2 * W  # they really crossed
    assert set(ids_a[1:]) == {1}
    assert set(ids_b[1:]) == {2}


def test_parallel_same_class_boxes_keep_distinct_ids() -> None:
    tracker = ByteTracker()
    ids = []
    for t in irregular_times(60, seed=2):
        x = 50 + 45 * t
        out = tracker.update(dets([box(x, 200), box(x + 5, 200 + H + 10)]), t)
        ids.append(out.tracker_id.tolist())
    assert ids[0] == [-1, -1]
    assert all(row == [1, 2] for row in ids[1:])
    assert tracker.active_track_count == 2


@pytest.mark.parametrize("call_during_gap", [True, False], ids=["empty-frames", "skipped-frames"])
@pytest.mark.parametrize(("gap_s", "same_id"), [(1.0, True), (4.0, False)])
def test_missing_box_recovers_only_within_lost_buffer(
    gap_s: float, same_id: bool, call_during_gap: bool
) -> None:
    tracker = ByteTracker(TrackerConfig(lost_track_buffer_s=3.0))

    def at(t: float) -> Detections:  # moves a box width per second: needs the velocity
        return dets([box(100 + 60 * t, 400 - 10 * t)])

    t = 0.0
    for _ in range(12):
        t += 0.3
        first_id = int(tracker.update(at(t), t).tracker_id[0])
    assert first_id == 1
    gap_end = t + gap_s
    while t + 0.25 < gap_end:
        t += 0.25
        if call_during_gap:
            assert len(tracker.update(Detections.empty(), t)) == 0
            assert tracker.active_track_count == 0
    back = [int(tracker.update(at(s), s).tracker_id[0]) for s in (gap_end, gap_end + 0.3)]
    if same_id:
        assert back == [1, 1]
    else:
        assert back == [-1, 2]  # a tentative track first, then a new id


def test_low_confidence_continues_a_track_but_never_starts_one() -> None:
    tracker = ByteTracker()
    ids_main, ids_lone = [], []
    for k, t in enumerate(irregular_times(30, seed=3)):
        conf_main = 0.9 if k < 5 else 0.3
        out = tracker.update(
            dets([box(100 + 20 * t, 100), box(800, 500)], conf=[conf_main, 0.3]), t
        )
        ids_main.append(int(out.tracker_id[0]))
        ids_lone.append(int(out.tracker_id[1]))
    assert ids_main[0] == -1
    assert set(ids_main[1:]) == {1}  # 25 frames carried by 0.3 detections alone
    assert set(ids_lone) == {-1}
    assert tracker.active_track_count == 1


def test_detection_below_low_threshold_is_ignored() -> None:
    tracker = ByteTracker()
    for t in (0.0, 0.3, 0.6):
        tracker.update(dets([box(100, 100)]), t)
    out = tracker.update(dets([box(100, 100)], conf=0.05), 0.9)
    assert out.tracker_id.tolist() == [-1]
    assert tracker.active_track_count == 0  # the track is now lost
    assert tracker.update(dets([box(100, 100)]), 1.2).tracker_id.tolist() == [1]


@pytest.mark.parametrize("min_hits", [1, 2, 3])
def test_new_track_gets_an_id_after_min_hits_frames(min_hits: int) -> None:
    tracker = ByteTracker(TrackerConfig(min_hits=min_hits))
    ids = [int(tracker.update(dets([box(10 * k, 50)]), 0.25 * k).tracker_id[0]) for k in range(6)]
    assert ids == [-1] * (min_hits - 1) + [1] * (6 - min_hits + 1)


def test_tentative_track_missed_in_next_frame_is_dropped() -> None:
    tracker = ByteTracker()
    ids = []
    for k, present in enumerate([True, False, True, True, True]):
        frame = dets([box(200, 200)]) if present else Detections.empty()
        out = tracker.update(frame, 0.3 * k)
        ids.append(int(out.tracker_id[0]) if present else None)
    assert ids == [-1, None, -1, 1, 1]


def test_detection_between_high_and_new_track_threshold_starts_no_track() -> None:
    tracker = ByteTracker(TrackerConfig(high_threshold=0.5, new_track_threshold=0.6))
    ids = [
        int(tracker.update(dets([box(300, 30)], conf=0.55), 0.3 * k).tracker_id[0])
        for k in range(5)
    ]
    assert ids == [-1] * 5
    assert tracker.active_track_count == 0


def test_output_keeps_input_rows_and_order() -> None:
    rng = np.random.default_rng(4)
    tracker = ByteTracker()
    # Three tracked objects, one low-score and one sub-threshold clutter box.
    confs = np.array([0.9, 0.8, 0.7, 0.3, 0.05], dtype=np.float32)
    classes = np.array([0, 1, 2, 0, 1], dtype=np.int32)
    seen: dict[int, set[int]] = {k: set() for k in range(5)}
    for frame, t in enumerate(irregular_times(20, seed=5)):
        xyxy = np.array(
            [
                box(100 + 20 * t, 100),
                box(400, 100 + 15 * t),
                box(700, 400),
                box(1200, 50),
                box(50, 700),
            ],
            dtype=np.float32,
        )
        order = rng.permutation(5)
        frame_dets = Detections.create(xyxy[order], confs[order], classes[order])
        out = tracker.update(frame_dets, t)
        assert len(out) == 5
        np.testing.assert_array_equal(out.xyxy, frame_dets.xyxy)
        np.testing.assert_array_equal(out.confidence, frame_dets.confidence)
        np.testing.assert_array_equal(out.class_id, frame_dets.class_id)
        assert out.tracker_id.dtype == np.int64
        if frame > 0:
            for row, obj in enumerate(order):
                seen[int(obj)].add(int(out.tracker_id[row]))
    assert [len(seen[k]) for k in range(3)] == [1, 1, 1]
    assert sorted(next(iter(seen[k])) for k in range(3)) == [1, 2, 3]
    assert seen[3] == {-1}
    assert seen[4] == {-1}


def test_empty_detections() -> None:
    tracker = ByteTracker()
    out = tracker.update(Detections.empty(), 0.0)
    assert len(out) == 0
    assert out.tracker_id.dtype == np.int64
    tracker.update(dets([box(0, 0)]), 0.3)
    tracker.update(dets([box(0, 0)]), 0.6)
    assert tracker.active_track_count == 1
    assert len(tracker.update(Detections.empty(), 0.9)) == 0
    assert tracker.active_track_count == 0
    assert tracker.update(dets([box(0, 0)]), 1.2).tracker_id.tolist() == [1]


def test_stationary_box_with_jitter_keeps_one_id() -> None:
    rng = np.random.default_rng(6)
    tracker = ByteTracker()
    ids = []
    for t in irregular_times(200, seed=7):
        jittered = np.array(box(640, 360)) + rng.uniform(-2.0, 2.0, 4)
        ids.append(int(tracker.update(dets([jittered.tolist()]), t).tracker_id[0]))
    assert ids[0] == -1
    assert set(ids[1:]) == {1}


@pytest.mark.parametrize(("class_aware", "expected_second_half"), [(True, 2), (False, 1)])
def test_class_aware_setting(class_aware: bool, expected_second_half: int) -> None:
    tracker = ByteTracker(TrackerConfig(class_aware=class_aware))
    ids = []
    for k in range(20):
        out = tracker.update(dets([box(300 + 5 * k, 300)], cls=0 if k < 10 else 1), 0.25 * k)
        ids.append(int(out.tracker_id[0]))
    assert set(ids[1:10]) == {1}
    assert set(ids[11:]) == {expected_second_half}


def test_reset_forgets_tracks_but_never_reuses_ids() -> None:
    tracker = ByteTracker()
    for k in range(3):
        tracker.update(dets([box(0, 0), box(500, 0)]), 0.3 * k)
    assert tracker.active_track_count == 2
    tracker.reset()
    assert tracker.active_track_count == 0
    # The time base is reset too: an earlier timestamp is accepted after reset().
    ids = [tracker.update(dets([box(0, 0)]), 0.1 * k).tracker_id.tolist() for k in range(3)]
    assert ids == [[-1], [3], [3]]


def test_timestamps_must_not_go_backwards() -> None:
    tracker = ByteTracker()
    tracker.update(dets([box(0, 0)]), 10.0)
    tracker.update(dets([box(0, 0)]), 10.0)  # a repeated timestamp is tolerated (dt = 0)
    with pytest.raises(ValueError, match="backwards"):
        tracker.update(dets([box(0, 0)]), 9.9)
    with pytest.raises(ValueError, match="finite"):
        tracker.update(dets([box(0, 0)]), float("nan"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"high_threshold": 1.5},
        {"low_threshold": 0.6, "high_threshold": 0.5},
        {"match_iou": 0.0},
        {"lost_track_buffer_s": -1.0},
        {"min_hits": 0},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        TrackerConfig(**kwargs)


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], dtype=np.float32)
    np.testing.assert_allclose(box_ious(a, b), [[1.0, 1 / 3, 0.0], [0.0, 0.0, 0.0]])
