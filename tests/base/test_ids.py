"""The id alphabet (lookout/base/ids.py): camera and zone ids are letters of any script,
digits, - _ . — what reaches case JSON, logs, CSV and file names carries no markup,
space or control character; a config with one is refused with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookout.base.errors import ConfigError
from lookout.config.app import load_config
from lookout.report.build import parse_bound
from lookout.report.words import cell
from tests.support.config import write_config


@pytest.mark.parametrize("zone", ["路口-1", "no-parking.b", "z_2", "東門"])
def test_ids_of_any_script_are_taken(tmp_path: Path, zone: str) -> None:
    path = write_config(tmp_path, cameras=[{"id": "南门-1", "zones": [
        {"id": zone, "polygon": [[0, 0], [10, 0], [10, 10]],
         "policies": [{"type": "illegal_parking", "classes": ["car"]}]}]}])  # fmt: skip
    assert load_config(path).cameras[0].zones[0].id == zone


@pytest.mark.parametrize("zone", ["<b>x</b>", "a b", "x\u0007", "..", "a/b", "=1+2"])
def test_markup_spaces_controls_and_paths_are_refused(tmp_path: Path, zone: str) -> None:
    path = write_config(tmp_path, cameras=[{"id": "cam", "zones": [
        {"id": zone, "polygon": [[0, 0], [10, 0], [10, 10]],
         "policies": [{"type": "illegal_parking", "classes": ["car"]}]}]}])  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "cameras[0].zones[0].id" in str(err.value) and "\n" not in str(err.value)


def test_a_polygon_of_nan_is_refused(tmp_path: Path) -> None:
    path = write_config(tmp_path, cameras=[{"id": "cam", "zones": [
        {"id": "z", "polygon": [[0, 0], [float("nan"), 0], [10, 10]],
         "policies": [{"type": "illegal_parking", "classes": ["car"]}]}]}])  # fmt: skip
    with pytest.raises(ConfigError, match="polygon points must be finite numbers"):
        load_config(path)


def test_csv_cells_that_start_like_a_formula_are_text() -> None:
    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and cell("@SUM") == "'@SUM"
    assert cell("-12.5") == "-12.5" and cell("+3") == "+3"  # numbers stay numbers
    assert cell("\tx") == "'\tx" and cell("vtest") == "vtest" and cell(7) == 7


def test_report_dates_are_bounded() -> None:
    from zoneinfo import ZoneInfo

    from lookout.base.errors import LookoutError

    tz = ZoneInfo("Asia/Shanghai")
    assert parse_bound("2026-11-26", tz, end=True).day == 27
    for text in ("9999-12-31", "0001-01-01", "2026-02-30", "x" * 100):
        with pytest.raises(LookoutError):
            parse_bound(text, tz, end=True)
