"""`lookout model compare A B` (docs/LEARNING.md, "Judging a model"): the same
scenarios replayed with two manifests of the real model. A manifest that no longer
counts cars and trucks as vehicles loses the parking scenario; the same model against
itself loses nothing; a missing manifest is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lookout.base.paths import REPO_ROOT
from lookout.cli.main import main
from lookout.evaluation.compare import compare

YOLOX = REPO_ROOT / "models" / "yolox_nano.yaml"
CAR_PARKS = REPO_ROOT / "scenarios" / "vtest-car-parks.yaml"
WALKWAY = REPO_ROOT / "scenarios" / "vtest-walkway-vending.yaml"


def buses_only(tmp_path: Path) -> Path:
    """The shipped manifest whose `vehicle` role holds only buses (a mapping mistake a
    custom model's manifest can make): the same ONNX file (`${LOOKOUT_ASSETS}`)."""
    data = yaml.safe_load(YOLOX.read_text(encoding="utf-8"))
    data["roles"]["vehicle"] = ["bus"]
    path = tmp_path / "buses_only.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_a_model_that_misses_the_vehicle_loses_the_parking_scenario(tmp_path: Path) -> None:
    result = compare(YOLOX, buses_only(tmp_path), [CAR_PARKS, WALKWAY])
    rows = {(r.scenario, r.type): r for r in result.rows}
    parking = rows[("vtest-car-parks", "illegal_parking")]
    assert parking.a.recall == 1.0 and parking.b.recall == 0.0
    assert parking.loses == ["recall"]
    assert parking.a_images_per_s and parking.b_images_per_s  # both measured, same run
    assert not rows[("vtest-walkway-vending", "–")].loses  # a negative both pass
    assert result.losses == ["vtest-car-parks illegal_parking: B's recall worse than A's"]
    table = result.table()
    assert "| vtest-car-parks | illegal_parking | 1.0 / 1.0 | 1.0 / 0.0 |" in table
    assert "loses: recall" in table


def test_the_command_exits_0_when_b_is_no_worse_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "compare.json"
    argv = ["model", "compare", str(YOLOX), str(YOLOX), "--scenarios", str(CAR_PARKS)]
    code = main([*argv, "--json", str(out)])
    assert code == 0
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["losses"] == [] and body["rows"][0]["type"] == "illegal_parking"
    assert "| vtest-car-parks | illegal_parking |" in capsys.readouterr().out


def test_a_missing_manifest_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.yaml"
    code = main(["model", "compare", str(YOLOX), str(missing), "--scenarios", str(CAR_PARKS)])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope.yaml" in err[0] and "not found" in err[0]
