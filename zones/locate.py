"""Where an event happened on the ground: calibration (per preset) → lon/lat → unit grid
cell (单元网格) → grid code and responsible unit ("事件属地": events belong to the
territory where they happen)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol, Self, TypeVar

import numpy as np

from lookout.base.errors import ConfigError
from lookout.zones.calibration import Calibration, PointPair
from lookout.zones.events import ViolationEvent
from lookout.zones.geo import GridIndex
from lookout.zones.policies import ZoneConfig
from lookout.zones.settings import CalibrationConfig, GridConfig


class _Camera(Protocol):
    """What map-zone projection needs of a camera's config (lookout/config/app.py's)."""

    @property
    def id(self) -> str: ...

    @property
    def zones(self) -> Sequence[ZoneConfig]: ...

    @property
    def calibration(self) -> Mapping[str, CalibrationConfig]: ...

    def model_copy(self, *, update: dict[str, Any] | None = None, deep: bool = False) -> Self: ...


C = TypeVar("C", bound=_Camera)

log = logging.getLogger(__name__)

#: Calibration key for a fixed camera, or any preset without its own calibration.
DEFAULT_PRESET = "default"


def fit_calibration(cfg: CalibrationConfig, where: str) -> Calibration:
    """Fit the homography from the configured point pairs (a few milliseconds)."""
    pairs = [PointPair(image=p.image, lonlat=p.lonlat) for p in cfg.points]
    try:
        return Calibration.fit(pairs)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_grid(cfg: GridConfig, path: Path) -> GridIndex:
    return GridIndex.load_geojson(
        path,
        code_pattern=cfg.code_pattern,
        code_property=cfg.code_property,
        name_property=cfg.name_property,
        unit_property=cfg.unit_property,
    )


def check_grid_codes(cameras: Iterable[_Camera], grid: GridIndex, grid_file: str) -> None:
    """Every zone's `grid_code` must be a cell of the loaded grid (docs/RULES.md): a
    case carries the zone's code wherever the calibration finds no cell (no
    calibration, a point outside every cell), so a typo would reach the case system.
    Raises ConfigError naming the camera, the zone, the key and the grid file, e.g.
    `cameras[gate].zones[0].grid_code: '44030400100199' (zone 'kerb') is not a cell of
    grids/futian.geojson`."""
    for camera in cameras:
        for i, zone in enumerate(camera.zones):
            code = zone.grid_code
            if code is not None and grid.get(code) is None:
                raise ConfigError(
                    f"cameras[{camera.id}].zones[{i}].grid_code: {code!r} (zone {zone.id!r}) "
                    f"is not a cell of {grid_file}"
                )


class Locator:
    """Adds `location`, `grid_code` and `grid_unit` to the events of one camera."""

    def __init__(self, calibrations: dict[str, Calibration], grid: GridIndex | None) -> None:
        self.calibrations = calibrations
        self.grid = grid

    @classmethod
    def for_camera(
        cls, camera_id: str, calibrations: dict[str, CalibrationConfig], grid: GridIndex | None
    ) -> Locator | None:
        if not calibrations:
            return None
        fitted = {
            preset: fit_calibration(c, f"cameras[{camera_id}].calibration.{preset}")
            for preset, c in calibrations.items()
        }
        for preset, cal in fitted.items():
            log.info("camera %s preset %s: calibration rms %.2f px", camera_id, preset, cal.rms_px)
        return cls(fitted, grid)

    def calibration(self, preset: str | None) -> Calibration | None:
        if preset is not None and preset in self.calibrations:
            return self.calibrations[preset]
        return self.calibrations.get(DEFAULT_PRESET)

    def locate(self, event: ViolationEvent) -> ViolationEvent:
        """The event with its ground point; the grid cell's code replaces the zone's."""
        cal = self.calibration(event.preset)
        if cal is None:
            return event
        lonlat = cal.image_to_lonlat(np.array([event.anchor], dtype=np.float64))[0]
        lon, lat = float(lonlat[0]), float(lonlat[1])
        grid_code, unit = event.grid_code, event.grid_unit
        if self.grid is not None:
            cell = self.grid.lookup(lon, lat)
            if cell is not None:
                grid_code, unit = cell.code, cell.unit
        return replace(
            event, location=(round(lon, 7), round(lat, 7)), grid_code=grid_code, grid_unit=unit
        )


def project_ground_zones(camera: C) -> C:
    """The camera with every map zone (`ground_polygon`) turned into an image polygon
    through the calibration of its preset. Raises ConfigError without a calibration."""
    if not any(z.ground_polygon for z in camera.zones):
        return camera
    zones = []
    for i, zone in enumerate(camera.zones):
        if zone.ground_polygon is None:
            zones.append(zone)
            continue
        where = f"cameras[{camera.id}].zones[{i}].ground_polygon"
        key = zone.preset if zone.preset and zone.preset in camera.calibration else DEFAULT_PRESET
        cal_cfg = camera.calibration.get(key)
        if cal_cfg is None:
            raise ConfigError(f"{where}: the camera has no calibration for this preset")
        cal = fit_calibration(cal_cfg, f"cameras[{camera.id}].calibration.{key}")
        image = cal.lonlat_to_image(np.array(zone.ground_polygon, dtype=np.float64))
        if not np.isfinite(image).all():
            raise ConfigError(f"{where}: part of the zone is beyond the camera's horizon")
        points = [(round(float(x), 1), round(float(y), 1)) for x, y in image]
        zones.append(zone.model_copy(update={"polygon": points, "ground_polygon": None}))
    return camera.model_copy(update={"zones": zones})
