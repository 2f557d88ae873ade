"""Configuration models of the geography: unit grid cells and camera calibration."""

from __future__ import annotations

from pydantic import Field, model_validator

from lookout.base.model import StrictModel


class GridConfig(StrictModel):
    """Unit grid cells (单元网格) from the GIS staff's GeoJSON."""

    geojson: str = Field(description="GeoJSON FeatureCollection of cell polygons (lon/lat).")
    code_pattern: str = Field(
        default=r"^\d{14}$|^[0-9A-Z]{15}$",
        description="Regular expression a cell code must match (14 digits or 15 characters).",
    )
    code_property: str = Field(default="code", description="Feature property with the code.")
    name_property: str = Field(default="name", description="Feature property with the name.")
    unit_property: str = Field(
        default="unit", description="Feature property with the responsible unit."
    )


class PointPairConfig(StrictModel):
    """One image point and the ground point it shows."""

    image: tuple[float, float] = Field(description="Pixel [x, y] in the camera image.")
    lonlat: tuple[float, float] = Field(description="Ground [lon, lat] in degrees (WGS84).")

    @model_validator(mode="after")
    def _range(self) -> PointPairConfig:
        lon, lat = self.lonlat
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError(f"lonlat {list(self.lonlat)} out of range (want [lon, lat])")
        return self


class CalibrationConfig(StrictModel):
    """Image ↔ ground homography of one camera preset, fitted from point pairs."""

    points: list[PointPairConfig] = Field(
        min_length=4, description="At least 4 image ↔ lon/lat point pairs on the ground."
    )
    homography: list[list[float]] | None = Field(
        default=None,
        description="Not used: the fit is redone from `points` at load (a few ms); older "
        "versions of `lookout calibrate` wrote it.",
    )
    origin: tuple[float, float] | None = Field(
        default=None, description="Not used (written by older versions of calibrate)."
    )
    rms_px: float | None = Field(
        default=None, description="Not used (written by older versions of calibrate)."
    )


class StaticObjectsConfig(StrictModel):
    """The camera's scene model: what stays in the picture without a class name
    (docs/DETECTION.md, "What stays"). Used only in zones whose policies watch the
    `static_object` class (street_vendor with its default stall objects, occupation)."""

    static_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a new thing must stay still before it is a static_object.",
    )
    absorb_s: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="A static object that made no case becomes part of the empty scene after "
        "this long; one that made a case waits for the operator's verdict.",
    )
    interval_s: float = Field(
        default=2.0,
        gt=0,
        description="Update the scene model at most this often (seconds of footage or live).",
    )
    learn_s: float = Field(
        default=600.0,
        gt=0,
        description="Time constant of the long-horizon (empty scene) model: how slowly it "
        "follows what does not differ in structure (light, season).",
    )
    min_area_px: float = Field(
        default=400.0,
        gt=0,
        description="Smallest static object, in pixels of the analysed frame.",
    )
    work_px: int = Field(
        default=480,
        ge=64,
        description="The zones' crop is modelled at this longer side (pixels) at most.",
    )
