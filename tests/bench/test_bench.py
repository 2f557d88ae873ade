"""The benchmark runner works end to end (a tiny run; speed is not asserted here), and
its arithmetic: the floor (benchmarks/README.md) and the scale search."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import cv2
import pytest

from lookout.bench.floor import Floor, cameras_floor
from lookout.bench.live import Result, Setting
from lookout.bench.regions import ZONE_TILES, bench_camera, regions_plan
from lookout.bench.run import scale_search
from lookout.cli.main import main


def test_floor_is_cores_over_the_cost_of_one_camera_frame() -> None:
    # 2 cores; 20 ms decode + 5 ms conversion + 2 images x 10 ms = 45 ms per frame.
    assert cameras_floor(2, 0.020, 0.005, 0.010, 2) == pytest.approx(2 / 0.045)
    assert cameras_floor(2, 0.020, 0.005, 0.010, 1) == pytest.approx(2 / 0.035)
    floor = Floor("regions", 2, 0.020, 0.005, 0.010, 2, 416, 2, 8, 50.0)
    row = floor.row()
    assert row["cameras_floor"] == round(2 / 0.045, 1) and row["frame_ms"] == 45.0
    assert row["decode_ms"] == 20.0 and row["infer_ms_per_image"] == 10.0
    with pytest.raises(ValueError):
        cameras_floor(0, 0.02, 0.005, 0.01, 1)


def test_floor_before_and_after_a_search_is_their_mean() -> None:
    # The machine ran slower after the search: decode 20 → 30 ms, inference 10 → 14 ms.
    before = Floor("whole", 2, 0.020, 0.004, 0.010, 1, 320, 2, 8, 100.0)
    after = Floor("whole", 2, 0.030, 0.006, 0.014, 1, 320, 2, 8, 70.0)
    mean = Floor.mean([before, after])
    assert mean.row()["frame_ms"] == pytest.approx((34 + 50) / 2)
    assert mean.cameras == pytest.approx(2 / 0.042)
    assert mean.each == (round(2 / 0.034, 1), round(2 / 0.050, 1))
    assert mean.row()["cameras_floor_each"] == [58.8, 40.0]
    assert mean.bare_ort_images_per_s == 85.0 and mean.threads == 2


def _result(n: int, ok: bool) -> Result:
    r = Result(Setting(cameras=n), seconds=1.0, analysed_per_s=n, expected_per_s=n)
    r.latency_p99_s = 0.1 if ok else 5.0
    return r


def test_scale_search_bisects_between_the_last_success_and_the_first_failure() -> None:
    tried: list[int] = []

    def measure(n: int) -> Result:
        tried.append(n)
        return _result(n, n <= 35)

    best, rows = scale_search(measure, [16, 24, 32, 40, 48], step=2)
    assert best == 34 and tried == [16, 24, 32, 40, 36, 34]
    assert [r.setting.cameras for r in rows] == sorted(tried)
    tried.clear()
    assert scale_search(measure, [16, 24, 32, 40, 48], step=0)[0] == 32
    assert tried == [16, 24, 32, 40]


def test_scale_search_goes_past_the_list_while_every_count_holds() -> None:
    tried: list[int] = []

    def measure(n: int) -> Result:
        tried.append(n)
        return _result(n, n <= 61)

    best, _ = scale_search(measure, [16, 32, 48], step=2)
    # 48 holds, so 64 is tried (the list's last increment), then bisected.
    assert best == 60 and tried == [16, 32, 48, 64, 56, 60, 62]


def test_regions_cameras_have_two_zones_and_a_plan_of_crops() -> None:
    cam = bench_camera(3, "regions")
    assert len(cam.zones) == len(ZONE_TILES) == 2 and cam.detect.mode == "regions"
    assert bench_camera(3, "whole").detect.mode == "whole"
    plan = regions_plan(416)
    assert plan.images_per_frame >= 1 and not plan.capped


@pytest.mark.slow
def test_bench_runner_writes_its_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    argv = [
        "bench",
        "--no-sweep",
        "--scale",
        "2",
        "--regions-scale",
        "2",
        "--scale-step",
        "0",
        "--seconds",
        "2",
        "--clip-seconds",
        "4",
        "--replay-seconds",
        "2",
        "--replay-repeat",
        "1",
        "--threads",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    report = json.loads((out / "bench.json").read_text())
    for key in ("pipeline_images_per_s", "bare_ort_images_per_s", "ratio", "cameras_sustained"):
        assert key in report
    assert report["bare_ort_images_per_s"] > 0 and report["pipeline_images_per_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["pipeline_images_per_s"] / report["bare_ort_images_per_s"], rel=0.01
    )
    (row,) = report["scale"]
    assert row["cameras"] == 2 and row["analysed_per_s"] > 0
    assert all(row[f"ms_{k}"] >= 0 for k in ("decode", "inference", "tracking"))
    # The floor (both modes) and the regions mode.
    floor, regions = report["floor"], report["regions"]
    assert floor["cores"] >= 1 and report["cameras_floor"] > 0
    assert report["cameras_sustained_ratio"] == pytest.approx(
        report["cameras_sustained"] / report["cameras_floor"], rel=0.01, abs=0.01
    )
    assert floor["whole"]["images_per_frame"] == 1
    assert floor["regions"]["images_per_frame"] == regions["crops_per_frame"] >= 1
    for mode in ("whole", "regions"):
        f = floor[mode]
        assert f["decode_ms"] > 0 and f["convert_ms"] > 0 and f["infer_ms_per_image"] > 0
        assert f["convert_before_ms"] > 0  # the whole-frame BGR conversion, beside it
    # Each replay against its own floor: median of alternating runs, its parts.
    for rf in (report["replay_floor"], regions["replay_floor"]):
        assert len(rf["ratio_to_floor_runs"]) == 3 and rf["floor_images_per_s"] > 0
        assert rf["ratio_to_floor"] == sorted(rf["ratio_to_floor_runs"])[1]
        assert rf["decode_s"] > 0 and rf["infer_s"] > 0 and rf["frames_decoded"] >= 1
    assert report["replay_floor"]["frames_decoded"] > report["replay_floor"]["images"]
    assert regions["cameras_floor"] > 0
    assert regions["ratio_to_floor"] == pytest.approx(
        regions["cameras_sustained"] / regions["cameras_floor"], rel=0.01, abs=0.01
    )
    assert regions["replay_crops_per_s"] > 0 and regions["bare_ort_images_per_s"] > 0
    assert regions["ratio"] == pytest.approx(
        regions["replay_crops_per_s"] / regions["bare_ort_images_per_s"], rel=0.01
    )
    assert regions["replay_crops_per_frame"] == regions["crops_per_frame"]
    assert regions["replay_ms_per_crop"]["inference"] > 0
    (rrow,) = regions["scale"]
    assert rrow["detect"] == "regions" and rrow["analysed_per_s"] > 0
    assert rrow["images_per_s"] > rrow["inferred_per_s"] > 0  # crops, not frames
    rows = list(csv.DictReader((out / "bench.csv").open()))
    assert [r["part"] for r in rows] == ["scale", "regions"]
    img = cv2.imread(str(out / "bench.png"))
    assert img is not None and img.shape[2] == 3
    # The scene model's cost, measured alone, against the whole-mode floor's frame.
    st = report["stationary"]
    assert st["ms_per_frame"] > 0 and st["frames"] >= 10 and st["zones_per_camera"] == 1
    assert st["floor_frame_ms"] == floor["whole"]["frame_ms"]
    assert st["share_of_floor_frame"] == pytest.approx(
        st["ms_per_frame"] / st["floor_frame_ms"], rel=0.01, abs=0.001
    )
    printed = capsys.readouterr().out
    assert "cameras_sustained:" in printed and "cameras_floor:" in printed
    assert "stationary objects:" in printed
    assert "replay ÷ its floor" in printed and "convert ms per frame" in printed
