"""The evaluation harness: the matching logic, and the regression gate over every
scenario in scenarios/ against the committed baseline (real model, real footage)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from lookout.base.paths import REPO_ROOT
from lookout.cases.model import DraftCase
from lookout.cli import main
from lookout.config import EventType
from lookout.evaluate import TruthEvent, below_baseline, score

START = datetime.fromisoformat("2026-11-26T09:00:00+08:00")
SCENARIOS = sorted((REPO_ROOT / "scenarios").glob("*.yaml"))


def case(at_s: float, type: EventType = "illegal_parking", zone: str = "z") -> DraftCase:
    t = START + timedelta(seconds=at_s)
    return DraftCase(
        id=f"c{at_s}",
        type=type,
        code="x",
        code_name="x",
        camera_id="cam",
        preset=None,
        zone_id=zone,
        grid_code=None,
        first_seen=t,
        confirmed_at=t,
        last_seen=t,
        dwell_s=1.0,
        bbox=[0, 0, 1, 1],
        confidence=0.9,
        track_id=1,
        object_class="car",
    )


def test_score_counts_tp_fp_fn_duplicates_and_time_to_detect() -> None:
    truth = [
        TruthEvent(type="illegal_parking", zone="z", from_s=10, to_s=60),
        TruthEvent(type="illegal_parking", zone="z", from_s=100, to_s=130),
    ]
    cases = [case(35), case(50), case(200), case(40, zone="other"), case(20, type="street_vendor")]
    s = score(cases, truth, START, tolerance_s=5)
    p = s["illegal_parking"]
    assert (p.tp, p.fp, p.fn, p.duplicates) == (1, 2, 1, 1)
    assert p.precision == pytest.approx(1 / 3) and p.recall == 0.5
    assert p.time_to_detect_s == [25.0]
    v = s["street_vendor"]
    assert (v.tp, v.fp, v.precision, v.recall) == (0, 1, 0.0, 1.0)


def test_gate_flags_a_negative_scenario_that_starts_producing_cases() -> None:
    results: list[dict[str, object]] = [
        {"scenario": "neg", "types": {"illegal_parking": {"precision": 0.0, "recall": 1.0}}}
    ]
    assert below_baseline(results, {"neg": {}}) == ["neg illegal_parking precision 0.0 < 1.0"]
    assert (
        below_baseline(results, {"neg": {"illegal_parking": {"precision": 0.0, "recall": 1.0}}})
        == []
    )


@pytest.mark.slow
def test_every_scenario_holds_its_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(SCENARIOS) >= 6
    baseline = REPO_ROOT / "scenarios" / "baseline.json"
    out = tmp_path / "eval.json"
    code = main(["eval", *map(str, SCENARIOS), "--baseline", str(baseline), "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = {r["scenario"]: r for r in json.loads(out.read_text())}
    assert set(results) == set(json.loads(baseline.read_text()))
    assert results["vtest-parking"]["types"]["illegal_parking"]["tp"] == 1
    shed = results["construction-shed"]
    row = shed["types"]["illegal_construction"]
    # One case, with its before/after pair, once the shed has stood K=3 visits / 48 h.
    assert (shed["cases"], row["tp"], shed["before_after_pairs"]) == (1, 1, 1)
    assert row["time_to_detect_s"] >= 48 * 3600
    assert results["construction-lighting"]["cases"] == 0
    # One case per stall, not per person: two stalls (three vendors), a chatting group.
    stalls = results["vendor-stalls-synthetic"]
    assert stalls["cases"] == 2 and stalls["types"]["street_vendor"]["tp"] == 2
    # Far views (van 72 / 36 px in 1920x1080) in regions mode: one case each, no
    # duplicate across crop seams (whole-frame detection finds the van in no frame).
    for name in ("far-view-1080p", "far-view-1080p-half"):
        far = results[name]["types"]["illegal_parking"]
        assert (results[name]["cases"], far["tp"], far["duplicates"]) == (1, 1, 0), name
    assert "| scenario |" in captured.out
