"""The replay floor's arithmetic (lookout/bench/replay_floor.py): the slowest of all
the work spread over the cores, the one decoding thread, and inference's own rate."""

from __future__ import annotations

import pytest

from lookout.bench.replay_floor import ReplayFloor, against_floor, alternate


def floor(decode: float, convert: float, infer: float, ort: float, cores: int = 2) -> ReplayFloor:
    return ReplayFloor(
        images=100,
        frames_decoded=500,
        decode_s=decode,
        convert_s=convert,
        infer_s=infer,
        bare_ort_images_per_s=ort,
        cores=cores,
    )


def test_all_the_work_spread_over_the_cores_bounds_it() -> None:
    f = floor(decode=1.0, convert=0.2, infer=2.8, ort=1000.0)
    assert f.seconds == pytest.approx(2.0)  # 4 CPU s on 2 cores
    assert f.images_per_s == pytest.approx(50.0)
    row = f.row(45.0)
    assert row["ratio_to_floor"] == 0.9 and row["floor_images_per_s"] == 50.0


def test_one_decoding_thread_bounds_it() -> None:
    f = floor(decode=3.0, convert=0.1, infer=0.5, ort=1000.0)
    assert f.seconds == pytest.approx(3.0)  # decoding cannot spread over the cores


def test_inference_at_its_own_rate_bounds_it() -> None:
    f = floor(decode=0.1, convert=0.1, infer=0.2, ort=20.0)
    assert f.seconds == pytest.approx(5.0)  # 100 images at 20 images/s


def test_the_decoders_threads_share_its_bound() -> None:
    # 3 CPU s of decoding on 2 decoder threads bounds the replay at 1.5 s, not 3 s.
    f = ReplayFloor(
        images=100,
        frames_decoded=500,
        decode_s=3.0,
        convert_s=0.0,
        infer_s=0.0,
        bare_ort_images_per_s=1000.0,
        cores=4,
        decode_threads=2,
    )
    assert f.seconds == pytest.approx(1.5)
    assert f.row(10.0)["decode_threads"] == 2


def test_the_ratio_is_the_median_of_the_alternating_runs() -> None:
    a = floor(decode=1.0, convert=0.2, infer=2.8, ort=1000.0)  # 50 images/s
    b = floor(decode=1.0, convert=0.2, infer=6.8, ort=1000.0)  # 25 images/s (a slow spell)
    out = against_floor([(45.0, a), (20.0, b), (40.0, a)])
    # Each run against the floor measured beside it: 0.9, 0.8, 0.8.
    assert out["ratio_to_floor_runs"] == [0.9, 0.8, 0.8]
    assert out["ratio_to_floor"] == 0.8
    assert out["replay_images_per_s"] in (20.0, 40.0)
    with pytest.raises(ValueError):
        against_floor([])


def test_alternate_measures_each_floor_for_the_images_its_replay_ran() -> None:
    calls: list[str] = []
    replays = iter([(100, 2.0), (100, 4.0), (100, 2.5)])

    def replay() -> tuple[int, float]:
        calls.append("replay")
        return next(replays)

    def measure(images: int) -> ReplayFloor:
        calls.append(f"floor {images}")
        return floor(decode=0.0, convert=0.0, infer=2.0, ort=1000.0)  # 100 images/s

    out = alternate(replay, measure, runs=3)
    assert calls == ["replay", "floor 100"] * 3
    assert out["ratio_to_floor_runs"] == [0.5, 0.25, 0.4]
    assert out["ratio_to_floor"] == 0.4


def test_the_results_table_puts_each_replay_floor_beside_bare_ort() -> None:
    from lookout.bench.report import _memory_lines, _replay_floor_lines

    report = {
        "ratio": 0.84,
        "replay_floor": {"ratio_to_floor": 0.793, "ratio_to_floor_runs": [0.817, 0.793, 0.711]},
        "regions": {
            "ratio": 0.922,
            "replay_floor": {"ratio_to_floor": 0.894, "ratio_to_floor_runs": [0.894, 0.9, 0.8]},
        },
    }
    (line,) = _replay_floor_lines(report)
    assert "vtest **0.793** (0.817, 0.793, 0.711) (÷ bare ORT 0.84)" in line
    assert "far view **0.894**" in line and "median of 3" in line
    assert _replay_floor_lines({"ratio": 1.0}) == [] and _memory_lines({"memory": None}) == []
    memory = {"points": [{"cameras": 8, "rss_mb": 430.0}], "mb_per_camera": 13.0}
    lines = _memory_lines({"memory": {**memory, "r2": 0.99, "intercept_mb": 330.0}})
    assert "**13.0 MB per 1080p camera**" in lines[-1] and "8: 430.0 MB" in lines[-1]
