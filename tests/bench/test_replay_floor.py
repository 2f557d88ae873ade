"""The replay floor's arithmetic (lookout/bench/replay_floor.py): the slowest of all
the work spread over the cores, the one decoding thread, and inference's own rate."""

from __future__ import annotations

import pytest

from lookout.bench.replay_floor import ReplayFloor


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
