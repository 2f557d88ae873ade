from __future__ import annotations

import math

import numpy as np
import pytest
import yaml

from lookout.zones.calibration import Calibration, LocalProjection, PointPair

LON0, LAT0 = 114.05, 22.54
WIDTH, HEIGHT = 1920, 1080


def camera_homography(
    height_m: float = 30.0, pitch_deg: float = 35.0, focal_px: float = 1400.0
) -> np.ndarray:
    """Ground (x east, y north, metres, z = 0) → image pixels for a pinhole camera at
    (0, 0, height_m) looking north, pitched down by `pitch_deg`."""
    t = math.radians(pitch_deg)
    right = np.array([1.0, 0.0, 0.0])
    forward = np.array([0.0, math.cos(t), -math.sin(t)])
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])  # world → camera rows
    centre = np.array([0.0, 0.0, height_m])
    tvec = -R @ centre
    K = np.array([[focal_px, 0, WIDTH / 2], [0, focal_px, HEIGHT / 2], [0, 0, 1]])
    return K @ np.column_stack([R[:, 0], R[:, 1], tvec])


G2I = camera_homography()
TRUTH = LocalProjection(LON0, LAT0)
# Calibration points spread over the view (metres east, north of the camera foot).
GROUND = np.array(
    [[-15, 28], [0, 25], [15, 28], [-25, 45], [25, 45], [-30, 70], [5, 60], [30, 75]],
    dtype=np.float64,
)
# Held-out points inside the calibrated area.
HELD_OUT = np.array([[0, 40], [-10, 35], [12, 55], [-18, 62], [20, 65]], dtype=np.float64)


def ground_to_image(ground: np.ndarray) -> np.ndarray:
    homog = np.column_stack([ground, np.ones(len(ground))]) @ G2I.T
    return homog[:, :2] / homog[:, 2:]


def ground_to_lonlat(ground: np.ndarray) -> np.ndarray:
    lon, lat = TRUTH.to_lonlat(ground[:, 0], ground[:, 1])
    return np.column_stack([lon, lat])


def make_pairs(
    ground: np.ndarray, noise_px: float = 0.0, seed: int = 0, exact_rms: bool = False
) -> list[PointPair]:
    """Pairs for `ground` points: image points with Gaussian noise of `noise_px` per
    axis, or (`exact_rms`) scaled so that the per-point noise rms is exactly `noise_px`."""
    image = ground_to_image(ground)
    noise = np.random.default_rng(seed).normal(0.0, noise_px, image.shape)
    if exact_rms and noise_px > 0:
        noise *= noise_px / noise_rms(noise)
    image += noise
    lonlat = ground_to_lonlat(ground)
    return [
        PointPair((float(u), float(v)), (float(lon), float(lat)))
        for (u, v), (lon, lat) in zip(image, lonlat, strict=True)
    ]


def noise_rms(noise: np.ndarray) -> float:
    """RMS length of (N, 2) pixel offsets."""
    return float(np.sqrt(np.mean(np.sum(noise**2, axis=1))))


def metres_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 2) lon/lat vs (N, 2) lon/lat → (N,) metres (local projection)."""
    ax, ay = TRUTH.to_metric(a[:, 0], a[:, 1])
    bx, by = TRUTH.to_metric(b[:, 0], b[:, 1])
    return np.hypot(ax - bx, ay - by)


def test_synthetic_points_are_in_view() -> None:
    image = ground_to_image(np.vstack([GROUND, HELD_OUT]))
    assert np.all((image >= 0) & (image <= [WIDTH, HEIGHT]))


def test_local_projection_round_trip() -> None:
    proj = LocalProjection(LON0, LAT0)
    x, y = proj.to_metric(np.array([LON0, LON0 + 0.001]), np.array([LAT0, LAT0]))
    assert abs(x[0]) < 1e-6 and abs(y[0]) < 1e-6
    assert x[1] == pytest.approx(102.8, abs=0.5)  # 0.001° of longitude at 22.5° N
    lon, lat = proj.to_lonlat(x, y)
    np.testing.assert_allclose(lon, [LON0, LON0 + 0.001], atol=1e-12)
    np.testing.assert_allclose(lat, [LAT0, LAT0], atol=1e-12)


def test_fit_without_noise_is_exact() -> None:
    pairs = make_pairs(GROUND)
    cal = Calibration.fit(pairs)
    errors = cal.reprojection_errors_px()
    assert errors.shape == (8,)
    assert np.all(errors < 1e-3)
    assert cal.rms_px < 1e-3
    assert np.all(cal.ground_errors_m() < 1e-3)
    assert cal.H.shape == (3, 3)
    np.testing.assert_allclose(cal.H @ cal.H_inv, np.eye(3), atol=1e-9)
    origin = np.mean([p.lonlat for p in pairs], axis=0)
    assert (cal.projection.lon0, cal.projection.lat0) == pytest.approx(tuple(origin))


def test_held_out_points_without_noise() -> None:
    cal = Calibration.fit(make_pairs(GROUND))
    image = ground_to_image(HELD_OUT)
    truth = ground_to_lonlat(HELD_OUT)
    lonlat = cal.image_to_lonlat(image)
    assert lonlat.shape == (len(HELD_OUT), 2)
    assert np.all(metres_between(lonlat, truth) < 0.01)
    np.testing.assert_allclose(cal.lonlat_to_image(truth), image, atol=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_fit_with_half_pixel_noise(seed: int) -> None:
    # ±0.5 px: every pair's image point is off by 0.5 px rms. A least-squares fit in the
    # image can only do better than the true homography, so rms_px < 0.5 for any seed.
    pairs = make_pairs(GROUND, noise_px=0.5, seed=seed, exact_rms=True)
    cal = Calibration.fit(pairs)
    assert cal.rms_px < 0.5
    assert np.all(cal.reprojection_errors_px() < 1.5)
    lonlat = cal.image_to_lonlat(ground_to_image(HELD_OUT))
    assert np.all(metres_between(lonlat, ground_to_lonlat(HELD_OUT)) < 0.2)


@pytest.mark.parametrize("seed", range(5))
def test_fit_residual_below_injected_noise(seed: int) -> None:
    # σ = 0.5 px per axis (0.71 px per point): the residual never exceeds the noise.
    pairs = make_pairs(GROUND, noise_px=0.5, seed=seed)
    injected = np.array([p.image for p in pairs]) - ground_to_image(GROUND)
    cal = Calibration.fit(pairs)
    assert cal.rms_px <= noise_rms(injected) + 1e-9
    lonlat = cal.image_to_lonlat(ground_to_image(HELD_OUT))
    assert np.all(metres_between(lonlat, ground_to_lonlat(HELD_OUT)) < 0.2)


def test_image_to_metric_matches_projection() -> None:
    cal = Calibration.fit(make_pairs(GROUND))
    image = ground_to_image(HELD_OUT)
    metric = cal.image_to_metric(image)
    lon, lat = cal.projection.to_lonlat(metric[:, 0], metric[:, 1])
    np.testing.assert_allclose(np.column_stack([lon, lat]), cal.image_to_lonlat(image))
    # A single point may be passed as (2,); the result is still (1, 2).
    assert cal.image_to_metric(image[0]).shape == (1, 2)
    with pytest.raises(ValueError, match=r"shape \(N, 2\)"):
        cal.image_to_metric(np.zeros((3, 3)))


def test_above_horizon_is_nan() -> None:
    cal = Calibration.fit(make_pairs(GROUND))
    # Pitch 35°, focal 1400 px: the horizon is ~980 px above the image centre.
    out = cal.image_to_metric([[960.0, -600.0], [960.0, 540.0]])
    assert np.all(np.isnan(out[0]))
    assert np.all(np.isfinite(out[1]))


def test_fewer_than_four_pairs() -> None:
    with pytest.raises(ValueError, match="at least 4 point pairs, got 3"):
        Calibration.fit(make_pairs(GROUND[:3]))


def test_collinear_points() -> None:
    ground = np.array([[0, 30], [5, 40], [10, 50], [15, 60], [20, 70]], dtype=np.float64)
    with pytest.raises(ValueError, match="collinear"):
        Calibration.fit(make_pairs(ground))


def test_three_of_four_collinear() -> None:
    ground = np.array([[0, 30], [5, 40], [10, 50], [-20, 60]], dtype=np.float64)
    with pytest.raises(ValueError, match="degenerate"):
        Calibration.fit(make_pairs(ground))


def test_non_finite_pair() -> None:
    pairs = make_pairs(GROUND)
    pairs[2] = PointPair((math.nan, 3.0), pairs[2].lonlat)
    with pytest.raises(ValueError, match="non-finite"):
        Calibration.fit(pairs)


def test_dict_round_trip_through_yaml() -> None:
    cal = Calibration.fit(make_pairs(GROUND, noise_px=0.5, seed=3))
    data = cal.to_dict()
    assert set(data) == {"projection", "origin", "homography", "pairs", "rms_px"}
    text = yaml.safe_dump(data)
    again = Calibration.from_dict(yaml.safe_load(text))
    np.testing.assert_array_equal(again.H, cal.H)
    assert again.pairs == cal.pairs
    assert again.rms_px == cal.rms_px
    image = ground_to_image(HELD_OUT)
    np.testing.assert_array_equal(again.image_to_lonlat(image), cal.image_to_lonlat(image))
    truth = ground_to_lonlat(HELD_OUT)
    np.testing.assert_array_equal(again.lonlat_to_image(truth), cal.lonlat_to_image(truth))


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"origin": [114.0]}, "origin"),
        ({"homography": [[1, 0], [0, 1]]}, "homography"),
        ({"pairs": [{"image": [1, 2]}]}, r"pairs\[0\]"),
        ({"projection": "utm"}, "projection"),
    ],
)
def test_from_dict_rejects_bad_input(change: dict, key: str) -> None:
    data = {**Calibration.fit(make_pairs(GROUND)).to_dict(), **change}
    with pytest.raises(ValueError, match=key):
        Calibration.from_dict(data)
