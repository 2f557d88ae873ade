"""An operator's false alarm on real footage (docs/CASE_STATUS.md): after
`lookout cases verdict ID --verdict false_alarm`, a new replay of the same footage with
a later start time (so case ids differ) makes no case at that place, while a case at
another place still comes — and is confirmed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lookout.cases.dedup_store import distance_m
from lookout.cases.verdicts import CaseFilter, CaseReview
from lookout.cli.main import main
from tests.support.config import demo_config, moved_east, write_config
from tests.support.helpers import new_cases

LATER = "2026-11-26T12:00:00+08:00"  # 3 h after the first replay: past dedup's cooldown


def two_places_config(tmp_path: Path) -> Path:
    """demo.yaml plus camera `north`: the same footage from a tower ~41 m east, so the
    van it sees stands at another place on the ground."""
    cfg = demo_config()
    cfg["cameras"].append(moved_east(cfg["cameras"][0], "north"))
    return write_config(tmp_path, name="two-places.yaml", **cfg)


def replay(
    video: Path, cfg: Path, out: Path, camera: str, capsys: pytest.CaptureFixture[str]
) -> str:
    capsys.readouterr()
    argv = ["replay", str(video), "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main([*argv, "--camera", camera, "--start", LATER]) == 0
    return capsys.readouterr().out


def test_a_false_alarm_is_not_proposed_again_and_a_case_elsewhere_still_comes(
    demo_replay: Path, assets: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = assets / "footage" / "vtest.avi"
    cfg = two_places_config(tmp_path)
    control, out = tmp_path / "control", tmp_path / "out"
    shutil.copytree(demo_replay, control)
    shutil.copytree(demo_replay, out)
    (van,) = [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]

    # Without a verdict, three hours later the parked van is a new case (new id).
    assert new_cases(replay(video, cfg, control, "vtest", capsys)) == 1

    # The operator calls the van a false alarm (e.g. a permitted loading bay).
    argv = ["cases", "verdict", van["id"], "--verdict", "false_alarm", "--by", "op-li"]
    assert main([*argv, "--note", "loading bay", "--out", str(out)]) == 0
    assert "false_alarm (version 1, was draft) by op-li" in capsys.readouterr().out

    assert new_cases(replay(video, cfg, out, "vtest", capsys)) == 0
    with CaseReview.open(out / "cases.db") as review:
        assert [r.case.id for r in review.cases()] == [van["id"]]
        sightings = review.outbox.fetch("SELECT case_id, count FROM false_alarm_sightings")
    assert sightings and sightings[0][0] == van["id"] and sightings[0][1] >= 1

    # The same footage from the tower 41 m east: a van at another place is a case.
    assert new_cases(replay(video, cfg, out, "north", capsys)) == 1
    with CaseReview.open(out / "cases.db") as review:
        (elsewhere,) = [r.case for r in review.cases() if r.case.id != van["id"]]
    assert elsewhere.camera_id == "north" and elsewhere.location is not None
    lon, lat = van["location"]["lon"], van["location"]["lat"]
    assert distance_m(elsewhere.location.lon, elsewhere.location.lat, lon, lat) > 30
    # ...and the operator confirms it.
    argv = ["cases", "verdict", elsewhere.id[:12], "--verdict", "confirmed", "--by", "op-wang"]
    assert main([*argv, "--out", str(out)]) == 0
    with CaseReview.open(out / "cases.db") as review:
        confirmed = review.cases(CaseFilter(status="confirmed"))
        false_alarms = review.cases(CaseFilter(status="false_alarm"))
    assert [r.case.id for r in confirmed] == [elsewhere.id]
    assert [r.case.id for r in false_alarms] == [van["id"]]
    assert false_alarms[0].verdict is not None and false_alarms[0].verdict.note == "loading bay"
