"""End to end: the real model on the real footage through the `lookout replay` CLI.

The demo replay (`demo_replay`, tests/conftest.py) runs once per session and is only
read here; every other replay writes to its test's own folder, so the tests run alone
and in any order."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import cv2
import pytest

from lookout.cli.main import main
from tests.support.config import DEMO, MakeConfig
from tests.support.helpers import read_jsonl

# Where the white van stands in vtest.avi (top right, in front of the building).
VAN_BOX = (645.0, 38.0, 728.0, 104.0)


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_vtest_gives_exactly_one_parking_case_for_the_van(demo_replay: Path) -> None:
    cases = read_jsonl(demo_replay / "cases.jsonl")
    assert [c["type"] for c in cases] == ["illegal_parking"], cases
    case = cases[0]
    assert iou(case["bbox"], VAN_BOX) > 0.6, case["bbox"]
    assert case["object_class"] in {"car", "truck", "bus"}
    assert case["zone_id"] == "no-parking-building"
    assert case["code"] == "09001" and case["status"] == "draft"
    assert 20.0 <= case["dwell_s"] <= 30.0
    # Deterministic replay clock: configured start 09:00 +08:00 plus footage time.
    assert case["first_seen"].startswith("2026-11-26T09:00:")
    assert case["confirmed_at"].endswith("+08:00")


def test_vtest_case_has_evidence_pictures(demo_replay: Path) -> None:
    out = demo_replay
    case = read_jsonl(out / "cases.jsonl")[0]
    assert len(case["evidence"]) == 2
    full = cv2.imread(str(out / case["evidence"][0]))
    crop = cv2.imread(str(out / case["evidence"][1]))
    assert full is not None and full.shape == (576, 768, 3)
    assert crop is not None and crop.shape[0] < 576 and crop.shape[1] < 768


def test_vtest_replay_again_adds_no_row(demo_replay: Path, assets: Path, tmp_path: Path) -> None:
    out = shutil.copytree(demo_replay, tmp_path / "out")  # the session's output stays as it was
    db = out / "cases.db"
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT id FROM cases").fetchall()
    video = assets / "footage" / "vtest.avi"
    assert (
        main(["replay", str(video), "--config", str(DEMO), "--out", str(out), "--no-progress"]) == 0
    )
    with sqlite3.connect(db) as conn:
        after = conn.execute("SELECT id FROM cases").fetchall()
    assert len(before) == 1 and after == before
    assert len(read_jsonl(out / "cases.jsonl")) == 1


def test_cases_list_reads_the_outbox(demo_replay: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["cases", "list", "--out", str(demo_replay), "--json"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["type"] == "illegal_parking"


def test_car_park_with_passing_cars_gives_no_parking_case(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make_config: MakeConfig
) -> None:
    lot = {
        "id": "lot",
        "zones": [
            {
                "id": "whole-frame",
                "polygon": [[0, 0], [768, 0], [768, 432], [0, 432]],
                "policies": [
                    {
                        "type": "illegal_parking",
                        "classes": ["car", "truck", "bus", "motorcycle"],
                        "dwell_s": 20,
                    }
                ],
            }
        ],
    }
    cfg = make_config([lot], name="car.yaml", site={"replay_start": "2026-11-26T10:00:00+08:00"})
    out = tmp_path / "out"
    video = assets / "footage" / "car-detection.mp4"
    assert (
        main(["replay", str(video), "--config", str(cfg), "--out", str(out), "--no-progress"]) == 0
    )
    assert read_jsonl(out / "cases.jsonl") == []
    # Not a blind pipeline: the whole clip was read and the detector saw things.
    summary = dict(
        line.split(":", 1) for line in capsys.readouterr().out.splitlines() if ":" in line
    )
    assert summary["frames read"].strip() == "377"
    assert int(summary["detections"]) > 10


@pytest.mark.slow  # two full replays: 3-3.5 s on an idle machine, 6-6.6 s on a busy one
def test_motion_gating_halves_inference_with_the_same_case(
    assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], make_config: MakeConfig
) -> None:
    video = assets / "footage" / "vtest.avi"
    results = {}
    for enabled in (False, True):
        park = {
            "type": "illegal_parking",
            "classes": ["car", "truck", "bus"],
            "min_confidence": 0.35,
            "dwell_s": 20,
        }
        vtest = {
            "id": "vtest",
            "motion": {"enabled": enabled, "max_interval_s": 5},
            "zones": [
                {
                    "id": "no-parking-building",
                    "polygon": [[600, 62], [730, 62], [730, 118], [600, 118]],
                    "policies": [park],
                }
            ],
        }
        cfg = make_config(
            [vtest], name=f"park-{enabled}.yaml", site={"replay_start": "2026-11-26T09:00:00+08:00"}
        )
        out = tmp_path / f"out-{enabled}"
        capsys.readouterr()
        argv = ["replay", str(video), "--config", str(cfg), "--out", str(out), "--no-progress"]
        assert main(argv) == 0
        line = next(ln for ln in capsys.readouterr().out.splitlines() if "analysed" in ln)
        inferred = int(line.split("(")[1].split()[0])
        results[enabled] = (inferred, read_jsonl(out / "cases.jsonl"))
    (off_n, off_cases), (on_n, on_cases) = results[False], results[True]
    assert on_n * 2 <= off_n, (on_n, off_n)
    assert [c["id"] for c in on_cases] == [c["id"] for c in off_cases] and len(on_cases) == 1
