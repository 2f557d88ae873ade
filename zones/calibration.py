"""Camera ↔ ground calibration of one PTZ preset: a plane homography fitted from ≥ 4
image ↔ map point pairs.

Map points arrive in lon/lat degrees (WGS84 / CGCS2000). They are projected to a local
transverse Mercator plane centred on their mean (`LocalProjection`; scale error below
1e-7 within a few kilometres), so the homography maps image pixels to metres east /
north of that origin. Dwell radii and speeds can then be measured in metres.

    cal = Calibration.fit([PointPair((812, 640), (114.0512, 22.5401)), ...])
    cal.rms_px                      # reprojection error of the fit, pixels
    cal.image_to_lonlat(feet_xy)    # (N, 2) pixels → (N, 2) lon/lat
    yaml_ready = cal.to_dict()      # Calibration.from_dict(yaml_ready) converts identically
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pyproj import CRS, Transformer

#: Minimum number of point pairs for a homography.
MIN_PAIRS = 4
#: Point sets whose second principal axis is below this fraction of the first count
#: as collinear.
COLLINEAR_RATIO = 1e-3
#: Relative size of the DLT system's second-smallest singular value below which the
#: configuration is degenerate (e.g. three of four points on one line).
DEGENERATE_RATIO = 1e-6

ArrayLike = npt.ArrayLike
Points = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PointPair:
    """One correspondence: `image` in pixels (x right, y down), `lonlat` in degrees."""

    image: tuple[float, float]
    lonlat: tuple[float, float]


class LocalProjection:
    """Transverse Mercator (k = 1, WGS84 ellipsoid) centred on (lon0, lat0): metres east
    (x) and north (y) of the origin."""

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = float(lon0)
        self.lat0 = float(lat0)
        geographic = CRS.from_proj4("+proj=longlat +ellps=WGS84 +no_defs")
        local = CRS.from_proj4(
            f"+proj=tmerc +lat_0={self.lat0!r} +lon_0={self.lon0!r} +k=1 "
            "+x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"
        )
        self._forward = Transformer.from_crs(geographic, local, always_xy=True)
        self._inverse = Transformer.from_crs(local, geographic, always_xy=True)

    def to_metric(self, lons: ArrayLike, lats: ArrayLike) -> tuple[Points, Points]:
        """Degrees → metres; arrays of any (equal) shape, returned as float64 arrays."""
        x, y = self._forward.transform(np.asarray(lons, np.float64), np.asarray(lats, np.float64))
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[Points, Points]:
        """Metres → degrees; inverse of `to_metric`."""
        lon, lat = self._inverse.transform(np.asarray(x, np.float64), np.asarray(y, np.float64))
        return np.asarray(lon, np.float64), np.asarray(lat, np.float64)


class Calibration:
    """Image ↔ ground homography of one camera preset.

    `H` (3x3) maps homogeneous image pixels to local metres (`projection`); `H_inv` maps
    back. Build with `fit` or `from_dict`.
    """

    def __init__(
        self, projection: LocalProjection, homography: ArrayLike, pairs: Sequence[PointPair]
    ) -> None:
        H = np.asarray(homography, dtype=np.float64)
        if H.shape != (3, 3) or not np.all(np.isfinite(H)):
            raise ValueError("homography must be a finite 3x3 matrix")
        if abs(np.linalg.det(H)) < 1e-12 * np.abs(H).max() ** 3:
            raise ValueError("homography is singular")
        self.projection = projection
        self.H: Points = H
        self.H_inv: Points = np.asarray(np.linalg.inv(H), np.float64)
        self.pairs: tuple[PointPair, ...] = tuple(pairs)
        self._image = np.array([p.image for p in self.pairs], np.float64).reshape(-1, 2)
        lonlat = np.array([p.lonlat for p in self.pairs], np.float64).reshape(-1, 2)
        x, y = projection.to_metric(lonlat[:, 0], lonlat[:, 1])
        self._metric: Points = np.column_stack([x, y])

    @classmethod
    def fit(cls, pairs: Sequence[PointPair]) -> Calibration:
        """Least-squares homography over all pairs (`cv2.findHomography(..., 0)`, no
        RANSAC: every pair is trusted), origin at the mean lon/lat. The fit minimises the
        image-space reprojection error; `H` is its inverse (image → metres). Raises
        ValueError for < 4 pairs, non-finite values, collinear or otherwise degenerate
        points, or points on both sides of the horizon.
        """
        if len(pairs) < MIN_PAIRS:
            raise ValueError(
                f"a homography needs at least {MIN_PAIRS} point pairs, got {len(pairs)}"
            )
        image = np.array([p.image for p in pairs], np.float64)
        lonlat = np.array([p.lonlat for p in pairs], np.float64)
        if image.shape != (len(pairs), 2) or lonlat.shape != (len(pairs), 2):
            raise ValueError("each point pair needs image (x, y) and lonlat (lon, lat)")
        if not (np.all(np.isfinite(image)) and np.all(np.isfinite(lonlat))):
            raise ValueError("point pairs contain non-finite values")
        projection = LocalProjection(*lonlat.mean(axis=0))
        x, y = projection.to_metric(lonlat[:, 0], lonlat[:, 1])
        metric = np.column_stack([x, y])
        _check_spread(image, "image points")
        _check_spread(metric, "map points")
        _check_dlt_rank(image, metric)
        # Fit ground → image so that least squares (and OpenCV's Levenberg-Marquardt
        # refinement) minimise the pixel error reported by `rms_px`: the clicked image
        # points carry the noise that matters, and far points are not over-weighted.
        G, _ = cv2.findHomography(metric, image, 0)
        if G is None or not np.all(np.isfinite(G)) or abs(np.linalg.det(G)) < 1e-300:
            raise ValueError("homography fit failed: point configuration is degenerate")
        H = np.linalg.inv(G)
        H /= H[2, 2] if abs(H[2, 2]) > 1e-12 else np.abs(H).max()
        w = np.column_stack([image, np.ones(len(image))]) @ H[2]
        if not (np.all(w > 0) or np.all(w < 0)):
            raise ValueError(
                "fitted homography puts the horizon among the image points; "
                "check that the pairs match"
            )
        return cls(projection, H, pairs)

    # --- conversions -------------------------------------------------------------------

    def image_to_metric(self, points: ArrayLike) -> Points:
        """(N, 2) pixels → (N, 2) metres in `projection`. Points at or above the horizon
        (no ground intersection) give NaN."""
        return _apply(self.H, _points(points), self._sign)

    def metric_to_image(self, points: ArrayLike) -> Points:
        """(N, 2) metres in `projection` → (N, 2) pixels."""
        return _apply(self.H_inv, _points(points), 0.0)

    def image_to_lonlat(self, points: ArrayLike) -> Points:
        """(N, 2) pixels → (N, 2) lon/lat degrees (NaN above the horizon)."""
        metric = self.image_to_metric(points)
        lon, lat = self.projection.to_lonlat(metric[:, 0], metric[:, 1])
        return np.column_stack([lon, lat])

    def lonlat_to_image(self, points: ArrayLike) -> Points:
        """(N, 2) lon/lat degrees → (N, 2) pixels."""
        lonlat = _points(points)
        x, y = self.projection.to_metric(lonlat[:, 0], lonlat[:, 1])
        return self.metric_to_image(np.column_stack([x, y]))

    @property
    def _sign(self) -> float:
        """Sign of the homogeneous w of the calibration pixels (in front of the camera)."""
        if not len(self._image):
            return 0.0
        w = np.column_stack([self._image, np.ones(len(self._image))]) @ self.H[2]
        return float(np.sign(np.median(w)))

    # --- quality -----------------------------------------------------------------------

    def reprojection_errors_px(self) -> Points:
        """(N,) pixel distance between each pair's image point and its map point
        projected into the image with `H_inv`."""
        return np.linalg.norm(self.metric_to_image(self._metric) - self._image, axis=1)

    def ground_errors_m(self) -> Points:
        """(N,) metres between each pair's map point and its image point on the ground."""
        return np.linalg.norm(self.image_to_metric(self._image) - self._metric, axis=1)

    @property
    def rms_px(self) -> float:
        """Root mean square of `reprojection_errors_px` (0.0 without pairs)."""
        errors = self.reprojection_errors_px()
        return float(np.sqrt(np.mean(errors**2))) if errors.size else 0.0

    # --- serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and floats for YAML: origin, homography (image → metres), pairs,
        rms_px (informational)."""
        return {
            "projection": "tmerc",
            "origin": [self.projection.lon0, self.projection.lat0],
            "homography": [[float(v) for v in row] for row in self.H],
            "pairs": [
                {"image": [float(v) for v in p.image], "lonlat": [float(v) for v in p.lonlat]}
                for p in self.pairs
            ],
            "rms_px": self.rms_px,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibration:
        """Inverse of `to_dict`; the stored homography is used as is (no refit), so the
        conversions are identical. Raises ValueError naming the bad key."""
        if d.get("projection", "tmerc") != "tmerc":
            raise ValueError(f"projection: unsupported {d.get('projection')!r}")
        try:
            lon0, lat0 = (float(v) for v in d["origin"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("origin: expected [lon, lat]") from None
        try:
            H = np.array(d["homography"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ValueError("homography: expected a 3x3 list of numbers") from None
        if H.shape != (3, 3):
            raise ValueError("homography: expected a 3x3 list of numbers")
        pairs = []
        for i, raw in enumerate(d.get("pairs") or []):
            try:
                u, v = (float(c) for c in raw["image"])
                lon, lat = (float(c) for c in raw["lonlat"])
            except (KeyError, TypeError, ValueError):
                raise ValueError(
                    f"pairs[{i}]: expected image: [x, y], lonlat: [lon, lat]"
                ) from None
            pairs.append(PointPair((u, v), (lon, lat)))
        return cls(LocalProjection(lon0, lat0), H, pairs)


def _points(points: ArrayLike) -> Points:
    """(N, 2) or (2,) array-like → (N, 2) float64."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 2:
        arr = arr.reshape(1, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"expected points of shape (N, 2), got {arr.shape}")
    return arr


def _apply(H: Points, points: Points, sign: float) -> Points:
    """Homogeneous transform of (N, 2) points; rows whose w has not the sign `sign`
    (when non-zero) or is ~0 become NaN."""
    homog = np.column_stack([points, np.ones(len(points))]) @ H.T
    w = homog[:, 2]
    bad = np.abs(w) < 1e-12 * np.abs(homog[:, :2]).max(axis=1, initial=1.0)
    if sign:
        bad |= np.sign(w) != sign
    with np.errstate(divide="ignore", invalid="ignore"):
        out = homog[:, :2] / w[:, None]
    out[bad] = np.nan
    return out


def _check_spread(points: Points, what: str) -> None:
    """Reject point sets that are (nearly) all on one line or all the same point."""
    centred = points - points.mean(axis=0)
    s = np.linalg.svd(centred, compute_uv=False)
    if s[0] == 0 or s[1] < COLLINEAR_RATIO * s[0]:
        raise ValueError(f"{what} are collinear (or coincide); a homography needs a 2-D spread")


def _normalise(points: Points) -> Points:
    """Hartley normalisation: centroid at 0, mean distance √2."""
    centred = points - points.mean(axis=0)
    scale = np.sqrt(2) / max(float(np.mean(np.linalg.norm(centred, axis=1))), 1e-12)
    return centred * scale


def _check_dlt_rank(src: Points, dst: Points) -> None:
    """Reject configurations that do not determine a homography (rank of the DLT < 8),
    e.g. four points with three on one line."""
    a, b = _normalise(src), _normalise(dst)
    rows = []
    for (x, y), (u, v) in zip(a, b, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    s = np.linalg.svd(np.array(rows), compute_uv=False)
    if s[7] < DEGENERATE_RATIO * s[0]:
        raise ValueError(
            "point configuration is degenerate (e.g. three of four points on one line); "
            "spread the points over the ground plane"
        )
