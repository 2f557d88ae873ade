"""Unit grid cells (单元网格): GIS polygons with a code and a responsible unit.

GIS staff deliver the grid as a GeoJSON FeatureCollection of Polygon / MultiPolygon
features in WGS84 / CGCS2000 lon/lat degrees (the two agree to well under a metre, so
no datum shift is applied). `GridIndex.load_geojson` validates the file strictly and
raises `ConfigError` with one line that names the file and the feature, e.g.

    grids/futian.geojson: features[3] (code 44030400100101): ring 0 is not closed ...

Lookups go through a `shapely.STRtree`. A point on an edge shared by two cells belongs
to the cell with the lowest code, so results do not depend on feature order.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from lookout.base.errors import ConfigError

#: 14 digits (6 county + 3 street + 3 community + 2 cell) or 15 characters (newer schemes).
DEFAULT_CODE_PATTERN = r"^\d{14}$|^[0-9A-Z]{15}$"
#: Rough lon/lat box of China; used to spot files written as [lat, lon].
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
#: Legacy GeoJSON `crs` names that mean lon/lat degrees (WGS84, CGCS2000).
LONLAT_CRS = ("CRS84", "EPSG::4326", "EPSG:4326", "EPSG::4490", "EPSG:4490")

_Ring = list[tuple[float, float]]


@dataclass(frozen=True)
class GridCell:
    """One unit grid cell. `polygon` is in lon/lat degrees; `index` is the feature's
    position in the source file."""

    code: str
    name: str
    unit: str
    polygon: Polygon | MultiPolygon
    index: int


class GridIndex:
    """Point-in-cell lookup over a set of grid cells (codes must be unique)."""

    def __init__(self, cells: Sequence[GridCell]) -> None:
        self._cells: tuple[GridCell, ...] = tuple(cells)
        self._by_code = {cell.code: cell for cell in self._cells}
        if len(self._by_code) != len(self._cells):
            raise ValueError("grid cell codes must be unique")
        self._tree = shapely.STRtree([cell.polygon for cell in self._cells])
        # rank[i]: position of cell i in code order, used to break shared-edge ties.
        order = sorted(range(len(self._cells)), key=lambda i: self._cells[i].code)
        self._rank = np.empty(len(self._cells), dtype=np.int64)
        self._rank[order] = np.arange(len(self._cells))

    @classmethod
    def load_geojson(
        cls,
        path: Path,
        *,
        code_pattern: str = DEFAULT_CODE_PATTERN,
        code_property: str = "code",
        name_property: str = "name",
        unit_property: str = "unit",
        china_order_check: bool = True,
    ) -> GridIndex:
        """Read and validate a GeoJSON FeatureCollection of (Multi)Polygon cells.

        `code_pattern` must match the whole code (`re.fullmatch`); integer codes are
        accepted and turned into strings. Missing name / unit become "". With
        `china_order_check`, a feature whose first values all lie in China's latitude
        range and second values in its longitude range is rejected as [lat, lon].
        Raises `ConfigError` (one line naming the file and the feature) on any problem.
        """
        try:
            pattern = re.compile(code_pattern)
        except re.error as exc:
            raise ConfigError(f"{path}: invalid code pattern {code_pattern!r}: {exc}") from None
        data = _read_json(path)
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            kind = data.get("type") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(f"{path}: expected a GeoJSON FeatureCollection, got {kind!r}")
        _check_crs(path, data.get("crs"))
        features = data.get("features")
        if not isinstance(features, list):
            raise ConfigError(f"{path}: FeatureCollection has no 'features' list")
        if not features:
            raise ConfigError(f"{path}: FeatureCollection has no features")
        cells: list[GridCell] = []
        first_index: dict[str, int] = {}
        for i, feature in enumerate(features):
            props = feature.get("properties") if isinstance(feature, dict) else None
            raw_code = props.get(code_property) if isinstance(props, dict) else None
            where = f"{path}: features[{i}]"
            if isinstance(raw_code, str | int) and not isinstance(raw_code, bool):
                where += f" (code {raw_code})"
            try:
                cell = _parse_feature(
                    feature,
                    i,
                    pattern,
                    (code_property, name_property, unit_property),
                    china_order_check,
                )
            except _FeatureError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            if cell.code in first_index:
                raise ConfigError(
                    f"{where}: duplicate code, also used by features[{first_index[cell.code]}]"
                )
            first_index[cell.code] = i
            cells.append(cell)
        return cls(cells)

    @property
    def cells(self) -> tuple[GridCell, ...]:
        """All cells in file order."""
        return self._cells

    def __len__(self) -> int:
        return len(self._cells)

    def __iter__(self) -> Iterator[GridCell]:
        return iter(self._cells)

    def get(self, code: str) -> GridCell | None:
        """The cell with this code, or None."""
        return self._by_code.get(code)

    def lookup(self, lon: float, lat: float) -> GridCell | None:
        """The cell containing (lon, lat) (edges included), or None. On an edge shared by
        several cells, the one with the lowest code."""
        return self.lookup_many(np.array([lon]), np.array([lat]))[0]

    def lookup_many(self, lons: np.ndarray, lats: np.ndarray) -> list[GridCell | None]:
        """Vectorised `lookup`: `lons`, `lats` of shape (N,) → N cells or None.
        Non-finite coordinates give None."""
        lons = np.asarray(lons, dtype=np.float64).reshape(-1)
        lats = np.asarray(lats, dtype=np.float64).reshape(-1)
        if lons.shape != lats.shape:
            raise ValueError(f"lons and lats differ in length: {lons.size} vs {lats.size}")
        out: list[GridCell | None] = [None] * lons.size
        ok = np.flatnonzero(np.isfinite(lons) & np.isfinite(lats))
        if ok.size == 0 or not self._cells:
            return out
        points = shapely.points(lons[ok], lats[ok])
        hit_point, hit_cell = self._tree.query(points, predicate="intersects")
        if hit_point.size == 0:
            return out
        # Sort hits by point, then by code rank; the first hit of each point wins.
        order = np.lexsort((self._rank[hit_cell], hit_point))
        hit_point, hit_cell = hit_point[order], hit_cell[order]
        first = np.flatnonzero(np.r_[True, hit_point[1:] != hit_point[:-1]])
        for p, c in zip(hit_point[first], hit_cell[first], strict=True):
            out[int(ok[p])] = self._cells[int(c)]
        return out


class _FeatureError(Exception):
    """A problem with one feature; the loader prefixes file and feature."""


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"{path}: grid file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read grid file: {exc}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None


def _check_crs(path: Path, crs: Any) -> None:
    """Reject a legacy `crs` member that names a projected system (e.g. EPSG:3857)."""
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if isinstance(name, str) and not any(name.upper().endswith(c) for c in LONLAT_CRS):
        raise ConfigError(f"{path}: crs {name!r} is not lon/lat degrees (WGS84 or CGCS2000)")


def _text(props: dict[str, Any], key: str) -> str:
    value = props.get(key)
    if value is None:
        return ""
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value).strip()
    raise _FeatureError(f"property {key!r} must be text, got {type(value).__name__}")


def _parse_feature(
    feature: Any,
    index: int,
    pattern: re.Pattern[str],
    keys: tuple[str, str, str],
    china_order_check: bool,
) -> GridCell:
    """One feature → cell; `keys` are the code, name and unit property names."""
    code_property, name_property, unit_property = keys
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _FeatureError("not a GeoJSON Feature")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        raise _FeatureError("'properties' must be an object")
    raw_code = props.get(code_property)
    if raw_code is None or raw_code == "":
        raise _FeatureError(f"missing property {code_property!r}")
    if isinstance(raw_code, bool) or not isinstance(raw_code, str | int):
        raise _FeatureError(f"property {code_property!r} must be a string")
    code = str(raw_code)
    if not pattern.fullmatch(code):
        raise _FeatureError(f"code {code!r} does not match pattern {pattern.pattern}")
    polygon = _parse_geometry(feature.get("geometry"), china_order_check)
    return GridCell(
        code=code,
        name=_text(props, name_property),
        unit=_text(props, unit_property),
        polygon=polygon,
        index=index,
    )


def _parse_geometry(geometry: Any, china_order_check: bool) -> Polygon | MultiPolygon:
    if not isinstance(geometry, dict):
        raise _FeatureError("missing geometry")
    kind, coords = geometry.get("type"), geometry.get("coordinates")
    if kind == "Polygon":
        polys = [_parse_rings(coords, "")]
    elif kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise _FeatureError("MultiPolygon coordinates must be a non-empty list")
        polys = [_parse_rings(p, f"polygon {k} ") for k, p in enumerate(coords)]
    else:
        raise _FeatureError(f"geometry must be Polygon or MultiPolygon, got {kind!r}")
    _check_lonlat([pt for rings in polys for ring in rings for pt in ring], china_order_check)
    shapes = [Polygon(rings[0], rings[1:]) for rings in polys]
    geom: Polygon | MultiPolygon = shapes[0] if kind == "Polygon" else MultiPolygon(shapes)
    if not geom.is_valid:
        raise _FeatureError(f"invalid geometry: {shapely.is_valid_reason(geom)}")
    if geom.area <= 0:
        raise _FeatureError("polygon has zero area")
    return geom


def _parse_rings(coords: Any, label: str) -> list[_Ring]:
    """Rings of one polygon as (lon, lat) tuples; checks closure on the raw values."""
    if not isinstance(coords, list) or not coords:
        raise _FeatureError(f"{label}coordinates must be a non-empty list of rings")
    rings: list[_Ring] = []
    for r, ring in enumerate(coords):
        if not isinstance(ring, list):
            raise _FeatureError(f"{label}ring {r} must be a list of positions")
        points: _Ring = []
        for position in ring:
            if (
                not isinstance(position, list)
                or len(position) < 2
                or not all(_is_number(v) for v in position)
            ):
                raise _FeatureError(f"{label}ring {r}: bad position {position!r}")
            points.append((float(position[0]), float(position[1])))
        if len(points) < 4:
            raise _FeatureError(
                f"{label}ring {r} has {len(points)} positions; a closed ring needs at least 4"
            )
        if points[0] != points[-1]:
            raise _FeatureError(
                f"{label}ring {r} is not closed: first position {list(points[0])} "
                f"!= last {list(points[-1])}"
            )
        rings.append(points)
    return rings


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_lonlat(points: list[tuple[float, float]], china_order_check: bool) -> None:
    """Spot [lat, lon] order first (it usually also trips the range check), then range."""
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    swapped = bool(np.all(np.abs(xs) <= 90) and np.any(np.abs(ys) > 90))
    swapped = swapped and bool(np.all(np.abs(ys) <= 180))
    if china_order_check:
        swapped = swapped or bool(
            np.all((xs >= CHINA_LAT[0]) & (xs <= CHINA_LAT[1]))
            and np.all((ys >= CHINA_LON[0]) & (ys <= CHINA_LON[1]))
        )
    if swapped:
        raise _FeatureError(
            f"coordinates look like [lat, lon] (first position {list(points[0])}); "
            "GeoJSON wants [lon, lat]"
        )
    bad = np.flatnonzero((np.abs(xs) > 180) | (np.abs(ys) > 90))
    if bad.size:
        lon, lat = points[int(bad[0])]
        raise _FeatureError(
            f"position {[lon, lat]} out of range (lon within ±180, lat within ±90); "
            "the file must be in lon/lat degrees (WGS84 / CGCS2000), not projected metres"
        )
