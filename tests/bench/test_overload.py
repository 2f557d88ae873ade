"""The overload statistics (lookout/bench/overload.py, lookout/bench/live.py `Cadence`):
the analysed rate against the sustained count, the slowest camera's wait and the oldest
picture analysed, as bounds over repeated runs. Logic only: no timing is asserted."""

from __future__ import annotations

import pytest

from lookout.bench.live import Cadence, Result, Setting
from lookout.bench.overload import OverloadPoint, cameras_at, defaults_setting
from lookout.streams.settings import StreamConfig


def test_the_slowest_cameras_longest_wait_counts_from_the_start_to_the_end() -> None:
    c = Cadence(3)
    c.start(100.0)
    for t in (100.5, 101.5, 102.5, 103.5):  # camera 0: every second
        c.analysed(0, t, t - 0.2)
    c.analysed(1, 100.2, 100.0)
    c.analysed(1, 103.2, 103.0)  # camera 1 waited 3 s in between
    c.analysed(2, 102.0, 101.0)  # camera 2: 2 s before its first, 2 s after its last
    assert c.longest_wait(104.0) == pytest.approx(3.0)
    assert c.oldest_s == pytest.approx(1.0)  # camera 2's picture, due 1 s before
    # Its last picture long ago: the wait to the end of the run counts.
    assert c.longest_wait(107.0) == pytest.approx(5.0)


def test_a_camera_never_analysed_waited_the_whole_run() -> None:
    c = Cadence(2)
    c.start(10.0)
    c.analysed(0, 10.5, 10.4)
    assert c.longest_wait(20.0) == pytest.approx(10.0)
    c.start(30.0)  # a new measurement forgets the old one
    assert c.oldest_s == 0.0 and c.longest_wait(31.0) == pytest.approx(1.0)


def _run(cameras: int, analysed: float, wait: float, oldest: float) -> Result:
    r = Result(Setting(cameras=cameras), seconds=10.0, analysed_per_s=analysed)
    r.max_interval_s, r.latency_max_s = wait, oldest
    return r


def test_overload_point_is_the_median_rate_and_the_worst_wait_and_age() -> None:
    runs = [_run(80, 60.0, 2.5, 1.9), _run(80, 57.6, 4.0, 1.2), _run(80, 62.4, 3.1, 2.6)]
    p = OverloadPoint.of(64, 1.25, runs)
    assert p.rate == pytest.approx(60.0 / 64)
    assert p.wait_bound_s == 4.0 and p.oldest_bound_s == 2.6
    row = p.row()
    assert row["cameras"] == 80 and row["analysed_per_sustained"] == round(60 / 64, 3)
    assert row["analysed_per_sustained_runs"] == [0.938, 0.9, 0.975]
    assert "at least every 4.0 s" in p.line() and "older than 2.6 s" in p.line()
    with pytest.raises(ValueError):
        OverloadPoint.of(0, 1.5, runs)


def test_multiples_of_the_sustained_count_use_the_shipped_defaults() -> None:
    assert cameras_at(64, 1.25) == 80 and cameras_at(64, 1.5) == 96
    assert cameras_at(2, 1.25) == 3  # always more than sustained
    s, d = defaults_setting(80), StreamConfig()
    assert (s.cameras, s.input_size, s.skip_loop_filter) == (80, 320, True)
    assert (s.reader_nice, s.queue_policy) == (d.reader_nice, d.queue_policy)
