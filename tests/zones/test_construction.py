"""Illegal-construction watch on a real frame: alignment, structural change, persistence."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from lookout.base.geometry import box_iou
from lookout.zones import simulate
from lookout.zones.alignment import align, ecc_align
from lookout.zones.construction import (
    ConstructionEvent,
    ConstructionSettings,
    ConstructionWatch,
    blue_roof_fraction,
    structure_change,
)
from lookout.zones.simulate import lighting, move, rigid

Image = NDArray[np.uint8]
SHED = (150.0, 380.0, 230.0, 430.0)  # 80x50 px on the lawn
ZONE = [(0.0, 250.0), (330.0, 300.0), (480.0, 420.0), (700.0, 500.0), (767.0, 575.0), (0.0, 575.0)]
T0 = datetime(2024, 5, 6, 9, 0)


@pytest.fixture(scope="module")
def frame(assets: Path) -> Image:
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        first = next(container.decode(video=0))
        return np.ascontiguousarray(first.to_ndarray(format="bgr24"))


def zone_mask(shape: tuple[int, ...]) -> NDArray[np.bool_]:
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.array(ZONE, np.int32).reshape(-1, 1, 2)], 1)
    return mask > 0


def corner_error(
    recovered: NDArray[np.float64], m: NDArray[np.float64], shape: tuple[int, ...]
) -> float:
    """Max distance (px) between reference corners and their round trip ref->image->ref."""
    h, w = shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64).reshape(-1, 1, 2)
    back = cv2.perspectiveTransform(cv2.perspectiveTransform(corners, m), recovered)
    return float(np.max(np.linalg.norm(back - corners, axis=-1)))


def add_shed(image: Image) -> Image:
    return simulate.add_shed(image, SHED)


def soft_shadow(image: Image) -> Image:
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    blob = (((xx - 300) / 250.0) ** 2 + ((yy - 420) / 120.0) ** 2 < 1).astype(np.float32)
    shade = 1.0 - 0.3 * cv2.GaussianBlur(blob, (0, 0), 20)
    return np.asarray(image.astype(np.float32) * shade[..., None], np.uint8)


def test_align_recovers_known_shift_and_rotation(frame: Image) -> None:
    m = rigid(1.5, 12.0, -7.0, frame.shape)
    moved = lighting(move(frame, m), 1.1, 15.0, 0.9)
    result = align(frame, moved)
    assert result.ok and result.method.startswith("orb") and result.inliers > 100
    assert corner_error(result.matrix, m, frame.shape) < 2.0
    assert result.valid.mean() > 0.85 and result.warped.shape == frame.shape
    ecc, rho = ecc_align(frame, moved)
    assert ecc is not None and rho > 0.9
    assert corner_error(ecc, m, frame.shape) < 2.0


def test_align_rejects_absurd_transform(frame: Image) -> None:
    result = align(frame, move(frame, rigid(40.0, 0.0, 0.0, frame.shape)))
    assert not result.ok and result.method == "none" and not result.valid.any()


def test_change_map_finds_shed(frame: Image) -> None:
    mask = zone_mask(frame.shape)
    valid = np.ones(mask.shape, bool)
    area = int(0.01 * mask.sum())
    cm = structure_change(frame, add_shed(frame), valid, mask, min_area=area)
    assert len(cm.boxes) == 1 and box_iou(cm.boxes[0], SHED) > 0.5
    assert 0.01 < cm.fraction < 0.1 and cm.score > 0.5
    assert blue_roof_fraction(add_shed(frame), cm.mask) > 0.5
    assert blue_roof_fraction(frame, mask) < 0.01


@pytest.mark.parametrize(
    "variant",
    [
        lambda f: lighting(f, 1.0, 40.0, 1.0),
        lambda f: lighting(f, 1.0, 0.0, 1.5),
        lambda f: lighting(f, 0.8, -10.0, 0.7),
        soft_shadow,
    ],
    ids=["brightness+40", "gamma1.5", "dim-gamma0.7", "soft-shadow"],
)
def test_change_map_ignores_lighting(frame: Image, variant: object) -> None:
    mask = zone_mask(frame.shape)
    image = variant(frame)  # type: ignore[operator]
    cm = structure_change(
        frame, image, np.ones(mask.shape, bool), mask, min_area=int(0.01 * mask.sum())
    )
    assert cm.boxes == [] and cm.fraction == 0.0


def visits(
    frame: Image, with_shed: bool, days: int = 4, seed: int = 7
) -> list[tuple[datetime, Image]]:
    """A visit every 12 h: lighting, a ±5 px / ±0.5° return error and sensor noise."""
    return simulate.visits(
        frame, T0, shed=SHED if with_shed else None, count=2 * days + 1, seed=seed
    )


def run(watch: ConstructionWatch, seq: list[tuple[datetime, Image]]) -> list[ConstructionEvent]:
    events = []
    for at, image in seq:
        event = watch.observe(image, at)
        if event is not None:
            events.append(event)
    return events


def test_persistent_shed_fires_once_after_k_visits_and_d_hours(frame: Image) -> None:
    settings = ConstructionSettings(min_visits=3, min_span_h=48.0)
    watch = ConstructionWatch(settings, ZONE, frame, T0 - timedelta(days=1))
    seq = visits(frame, with_shed=True)
    fired_at = []
    for at, image in seq:
        event = watch.observe(image, at)
        if event is not None:
            fired_at.append((at, event))
    assert len(fired_at) == 1
    at, event = fired_at[0]
    # Shed from day 1 (T0 + 24 h): 3 visits at +48 h, but 48 h span only at +72 h.
    assert at == T0 + timedelta(hours=72)
    assert event.first_seen == T0 + timedelta(hours=24) and event.confirmed_at == at
    assert event.visits >= 3 and box_iou(event.bbox, SHED) > 0.5
    assert event.blue_fraction > 0.5 and 0.5 < event.confidence <= 1.0
    assert event.before.shape == event.after.shape and event.after.ndim == 3
    assert all(v.aligned for v in watch.visits)
    assert [v.changed for v in watch.visits] == [False, False] + [True] * 7


def test_lighting_and_shifts_alone_never_fire(frame: Image) -> None:
    watch = ConstructionWatch(ConstructionSettings(), ZONE, frame, T0 - timedelta(days=1))
    assert run(watch, visits(frame, with_shed=False, seed=11)) == []
    assert max(v.fraction for v in watch.visits) == 0.0


def test_rebase_on_shed_stops_events(frame: Image) -> None:
    settings = ConstructionSettings(min_visits=2, min_span_h=12.0)
    watch = ConstructionWatch(settings, ZONE, frame, T0)
    seq = visits(frame, with_shed=True, days=3, seed=3)
    assert len(run(watch, seq[:5])) == 1
    watch.rebase(seq[4][1], seq[4][0])
    assert watch.reference_time == seq[4][0]
    assert run(watch, seq[5:]) == []
    assert not any(v.changed for v in watch.visits[5:])
    assert math.isclose(sum(v.fraction for v in watch.visits[5:]), 0.0)
