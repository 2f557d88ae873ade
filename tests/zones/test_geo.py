from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lookout.base.errors import ConfigError
from lookout.zones.geo import GridCell, GridIndex

LON0, LAT0 = 114.05, 22.54
STEP = 0.005  # ~500 m
# 2x2 grid: row 0 is the southern row; codes 440304001001 + 2-digit cell number.
CODES = {
    (0, 0): "44030400100101",
    (0, 1): "44030400100102",
    (1, 0): "44030400100103",
    (1, 1): "44030400100104",
}


def square(col: int, row: int) -> list[list[float]]:
    x0, y0 = LON0 + col * STEP, LAT0 + row * STEP
    x1, y1 = x0 + STEP, y0 + STEP
    return [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]


def feature(code: Any, rings: Any, kind: str = "Polygon", **props: Any) -> dict[str, Any]:
    properties = {"code": code, "name": f"cell {code}", "unit": "福田区城管局", **props}
    return {
        "type": "Feature",
        "properties": properties,
        "geometry": {"type": kind, "coordinates": rings},
    }


def grid_features() -> list[dict[str, Any]]:
    return [feature(code, [square(col, row)]) for (row, col), code in CODES.items()]


def write(tmp_path: Path, data: Any, name: str = "grid.geojson") -> Path:
    path = tmp_path / name
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    path.write_text(text, encoding="utf-8")
    return path


def collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def load_error(tmp_path: Path, data: Any, **kwargs: Any) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        GridIndex.load_geojson(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}")
    return message


@pytest.fixture
def grid(tmp_path: Path) -> GridIndex:
    return GridIndex.load_geojson(write(tmp_path, collection(grid_features())))


def centre(col: int, row: int) -> tuple[float, float]:
    return LON0 + (col + 0.5) * STEP, LAT0 + (row + 0.5) * STEP


def test_loads_cells_with_properties(grid: GridIndex) -> None:
    assert len(grid) == 4
    cell = grid.cells[0]
    assert isinstance(cell, GridCell)
    assert (cell.code, cell.name, cell.unit, cell.index) == (
        "44030400100101",
        "cell 44030400100101",
        "福田区城管局",
        0,
    )
    assert [c.index for c in grid.cells] == [0, 1, 2, 3]
    assert grid.get("44030400100104") is grid.cells[3]
    assert grid.get("nope") is None


@pytest.mark.parametrize(("row", "col"), list(CODES))
def test_lookup_cell_centres(grid: GridIndex, row: int, col: int) -> None:
    cell = grid.lookup(*centre(col, row))
    assert cell is not None
    assert cell.code == CODES[(row, col)]


def test_lookup_outside_is_none(grid: GridIndex) -> None:
    assert grid.lookup(LON0 - 0.001, LAT0 + 0.001) is None
    assert grid.lookup(LON0 + 3 * STEP, LAT0) is None


def test_shared_edge_picks_lowest_code(grid: GridIndex) -> None:
    # The middle vertex touches all four cells; the edge between 02 and 04 two.
    cell = grid.lookup(LON0 + STEP, LAT0 + STEP)
    assert cell is not None and cell.code == "44030400100101"
    cell = grid.lookup(LON0 + 1.5 * STEP, LAT0 + STEP)
    assert cell is not None and cell.code == "44030400100102"


def test_shared_edge_independent_of_feature_order(tmp_path: Path) -> None:
    grid = GridIndex.load_geojson(write(tmp_path, collection(grid_features()[::-1])))
    cell = grid.lookup(LON0 + STEP, LAT0 + STEP)
    assert cell is not None and cell.code == "44030400100101"


def test_lookup_many_matches_lookup(grid: GridIndex) -> None:
    rng = np.random.default_rng(1)
    lons = LON0 - STEP / 2 + rng.random(200) * 3 * STEP
    lats = LAT0 - STEP / 2 + rng.random(200) * 3 * STEP
    lons[0] = np.nan
    many = grid.lookup_many(lons, lats)
    assert len(many) == 200
    assert many[0] is None
    assert many == [grid.lookup(float(x), float(y)) for x, y in zip(lons, lats, strict=True)]
    assert any(c is None for c in many[1:]) and any(c is not None for c in many)
    assert grid.lookup_many(np.array([]), np.array([])) == []


def test_multipolygon_with_hole(tmp_path: Path) -> None:
    outer = square(0, 0)
    x0, y0 = LON0 + STEP / 4, LAT0 + STEP / 4
    x1, y1 = LON0 + 3 * STEP / 4, LAT0 + 3 * STEP / 4
    hole = [[x0, y0], [x0, y1], [x1, y1], [x1, y0], [x0, y0]]
    feat = feature("44030400100101", [[outer, hole], [square(2, 0)]], kind="MultiPolygon")
    grid = GridIndex.load_geojson(write(tmp_path, collection([feat])))
    assert grid.lookup(*centre(0, 0)) is None  # in the hole
    assert grid.lookup(LON0 + STEP / 8, LAT0 + STEP / 8) is not None
    assert grid.lookup(*centre(2, 0)) is not None


def test_custom_code_pattern_15_characters(tmp_path: Path) -> None:
    features = grid_features()
    features[0]["properties"]["grid_no"] = "4403040010010AB"
    features[1]["properties"]["grid_no"] = "4403040010010AC"
    path = write(tmp_path, collection(features[:2]))
    grid = GridIndex.load_geojson(path, code_pattern=r"[0-9A-Z]{15}", code_property="grid_no")
    cell = grid.lookup(*centre(0, 0))
    assert cell is not None and cell.code == "4403040010010AB"
    # The default pattern also accepts 15 upper-case alphanumerics ...
    assert len(GridIndex.load_geojson(path, code_property="grid_no")) == 2
    # ... but a 14-digit-only pattern does not.
    with pytest.raises(ConfigError, match=r"features\[0\] \(code 4403040010010AB\)"):
        GridIndex.load_geojson(path, code_pattern=r"\d{14}", code_property="grid_no")


def test_missing_name_and_unit_are_empty(tmp_path: Path) -> None:
    feat = {
        "type": "Feature",
        "properties": {"code": 44030400100101},
        "geometry": {"type": "Polygon", "coordinates": [square(0, 0)]},
    }
    cell = GridIndex.load_geojson(write(tmp_path, collection([feat]))).cells[0]
    assert (cell.code, cell.name, cell.unit) == ("44030400100101", "", "")


def test_open_ring(tmp_path: Path) -> None:
    features = grid_features()
    features[2]["geometry"]["coordinates"][0].pop()  # 4 positions, last != first
    message = load_error(tmp_path, collection(features))
    assert "features[2] (code 44030400100103)" in message
    assert "ring 0 is not closed" in message


def test_too_few_positions(tmp_path: Path) -> None:
    features = grid_features()
    x0, y0 = square(0, 0)[0]
    features[1]["geometry"]["coordinates"] = [[[x0, y0], [x0 + STEP, y0], [x0, y0]]]
    message = load_error(tmp_path, collection(features))
    assert "features[1] (code 44030400100102)" in message
    assert "3 positions" in message


def test_self_intersection(tmp_path: Path) -> None:
    features = grid_features()
    a, b, c, d, _ = square(1, 1)
    features[3]["geometry"]["coordinates"] = [[a, c, b, d, a]]  # bow-tie
    message = load_error(tmp_path, collection(features))
    assert "features[3] (code 44030400100104)" in message
    assert "Self-intersection" in message


def test_duplicate_code_names_both_features(tmp_path: Path) -> None:
    features = grid_features()
    features[3]["properties"]["code"] = features[1]["properties"]["code"]
    message = load_error(tmp_path, collection(features))
    assert "features[3] (code 44030400100102)" in message
    assert "duplicate code" in message
    assert "features[1]" in message


@pytest.mark.parametrize("code", ["4403040010010", "4403040010010x", "44030400100101 ", True])
def test_bad_code_format(tmp_path: Path, code: Any) -> None:
    features = grid_features()
    features[1]["properties"]["code"] = code
    message = load_error(tmp_path, collection(features))
    assert "features[1]" in message
    assert "code" in message


def test_missing_code(tmp_path: Path) -> None:
    features = grid_features()
    del features[2]["properties"]["code"]
    message = load_error(tmp_path, collection(features))
    assert "features[2]: missing property 'code'" in message


def test_swapped_lat_lon(tmp_path: Path) -> None:
    features = grid_features()
    ring = features[1]["geometry"]["coordinates"][0]
    features[1]["geometry"]["coordinates"] = [[[lat, lon] for lon, lat in ring]]
    message = load_error(tmp_path, collection(features))
    assert "features[1] (code 44030400100102)" in message
    assert "look like [lat, lon]" in message


def test_swapped_lat_lon_in_china_range(tmp_path: Path) -> None:
    # [lat, lon] with lon < 90 is within both ranges; only the China heuristic sees it.
    ring = [[lat, lon - 30] for lon, lat in square(0, 0)]
    data = collection([feature("44030400100101", [ring])])
    assert "look like [lat, lon]" in load_error(tmp_path, data)
    path = write(tmp_path, data, "arctic.geojson")
    assert len(GridIndex.load_geojson(path, china_order_check=False)) == 1


def test_out_of_range_projected_metres(tmp_path: Path) -> None:
    ring = [[500000.0, 2494000.0], [500500.0, 2494000.0], [500500.0, 2494500.0]]
    data = collection([feature("44030400100101", [[*ring, ring[0]]])])
    message = load_error(tmp_path, data)
    assert "features[0] (code 44030400100101)" in message
    assert "out of range" in message


def test_geometry_type(tmp_path: Path) -> None:
    data = collection([feature("44030400100101", [LON0, LAT0], kind="Point")])
    assert "must be Polygon or MultiPolygon, got 'Point'" in load_error(tmp_path, data)


@pytest.mark.parametrize(
    "data",
    [
        {"type": "Feature", "geometry": None, "properties": {}},
        [1, 2, 3],
        {"type": "FeatureCollection"},
        {"type": "FeatureCollection", "features": []},
    ],
)
def test_not_a_feature_collection(tmp_path: Path, data: Any) -> None:
    message = load_error(tmp_path, data)
    assert "FeatureCollection" in message


def test_broken_json(tmp_path: Path) -> None:
    text = json.dumps(collection(grid_features()))[:-10]
    message = load_error(tmp_path, text)
    assert "invalid JSON" in message
    assert f"{tmp_path / 'grid.geojson'}:1:" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="grid file not found"):
        GridIndex.load_geojson(tmp_path / "none.geojson")


def test_projected_crs_rejected(tmp_path: Path) -> None:
    data = collection(grid_features())
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    assert "not lon/lat" in load_error(tmp_path, data)
    data["crs"]["properties"]["name"] = "urn:ogc:def:crs:EPSG::4490"
    assert len(GridIndex.load_geojson(write(tmp_path, data, "cgcs.geojson"))) == 4
