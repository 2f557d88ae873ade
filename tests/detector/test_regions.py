"""Region plans (detector/regions.py): coverage, overlap, scale, the crop budget, and
the merge of crop results into one box per object."""

from __future__ import annotations

import itertools
from typing import Any

import cv2
import numpy as np
import pytest

from lookout.detector.detections import Detections
from lookout.detector.regions import SEEN_PX, Crop, RegionPlan, merge_regions, plan_regions

W, H = 1920, 1080
KERB = [(600.0, 40.0), (760.0, 40.0), (760.0, 120.0), (600.0, 120.0)]
ROAD = [(0.0, 600.0), (1900.0, 560.0), (1910.0, 760.0), (10.0, 800.0)]


def covered(crops: tuple[Crop, ...], zone: list[tuple[float, float]]) -> bool:
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.round(np.array(zone)).astype(np.int32)], 1)
    seen = np.zeros_like(mask)
    for c in crops:
        seen[c.y : c.y + c.height, c.x : c.x + c.width] = 1
    return bool(np.all(seen[mask == 1] == 1))


def plan(zones: list[list[tuple[float, float]]], **kw: Any) -> RegionPlan:
    args = {"input_size": 416, "min_object_px": 24, "overlap_px": 96, "max_crops": 16} | kw
    return plan_regions(W, H, zones, **args)


def test_every_zone_pixel_is_in_a_crop_at_native_resolution() -> None:
    p = plan([KERB, ROAD])
    assert p.scale == 1.0 and all(c.width == c.height == 416 for c in p.crops)
    assert covered(p.crops, KERB) and covered(p.crops, ROAD)
    assert 1 + 5 <= len(p.crops) <= 8  # one for the kerb, a row along the road
    assert not p.capped and p.smallest_px == SEEN_PX


def test_neighbouring_crops_overlap_by_the_largest_object() -> None:
    row = sorted((c for c in plan([ROAD]).crops), key=lambda c: (c.y, c.x))
    same_row = [c for c in row if c.y == row[0].y]
    assert len(same_row) >= 4
    for a, b in itertools.pairwise(same_row):
        assert a.x + a.width - b.x >= 96


@pytest.mark.parametrize(("min_px", "side"), [(24, 416), (36, 416), (72, 832), (144, 1664)])
def test_the_scale_brings_the_smallest_object_to_what_the_model_sees(
    min_px: float, side: int
) -> None:
    p = plan([ROAD], min_object_px=min_px)
    assert p.scale == pytest.approx(min(1.0, SEEN_PX / min_px))
    assert max(c.width for c in p.crops) == side
    assert covered(p.crops, ROAD)


def test_the_crop_budget_coarsens_the_scale_and_says_what_is_still_seen() -> None:
    whole_view = [(0.0, 0.0), (1919.0, 0.0), (1919.0, 1079.0), (0.0, 1079.0)]
    p = plan([whole_view], max_crops=6)
    assert p.capped and len(p.crops) <= 6
    assert p.smallest_px > SEEN_PX and covered(p.crops, whole_view)


def test_plans_are_deterministic_and_per_preset_zone_sets() -> None:
    assert plan([KERB, ROAD]) == plan([KERB, ROAD])
    assert plan([KERB]).crops != plan([ROAD]).crops
    assert len(plan([KERB]).crops) == 1


def test_an_object_cut_by_a_crop_edge_is_one_box() -> None:
    # A car at x 380..460 in frame pixels; crop A covers 0..416, crop B 320..736.
    a = Detections.create([[380, 50, 416, 90]], [0.7], [2])  # cut at A's right edge
    b = Detections.create([[60, 50, 140, 90]], [0.8], [2])  # whole in B (offset 320)
    merged = merge_regions([a, b], [(0, 0), (320, 0)])
    assert len(merged) == 1
    assert merged.xyxy[0].tolist() == pytest.approx([380, 50, 460, 90])
    assert merged.confidence[0] == pytest.approx(0.8)


def test_two_cars_side_by_side_stay_two_and_classes_never_merge() -> None:
    cars = Detections.create([[100, 50, 180, 90], [178, 50, 258, 90]], [0.8, 0.7], [2, 2])
    again = Detections.create([[100, 50, 180, 90]], [0.6], [2])
    person = Detections.create([[110, 40, 130, 90]], [0.9], [0])
    merged = merge_regions([cars, again, person], [(0, 0), (0, 0), (0, 0)])
    assert sorted(merged.class_id.tolist()) == [0, 2, 2]


def test_a_preset_can_have_its_own_detect_settings() -> None:
    from lookout.config.app import CameraConfig
    from lookout.runtime.analysis import camera_plan

    zone = {
        "polygon": [list(p) for p in ROAD],
        "policies": [{"type": "illegal_parking", "classes": ["car"]}],
    }
    cam = CameraConfig.model_validate(
        {
            "id": "tower",
            "detect": {"min_object_px": 72},
            "preset_detect": {"far": {"min_object_px": 24}},
            "zones": [{"id": "a", "preset": "near", **zone}, {"id": "b", "preset": "far", **zone}],
        }
    )
    near = camera_plan(cam, W, H, "near", 416)
    far = camera_plan(cam, W, H, "far", 416)
    assert near is not None and far is not None
    assert near.scale == 0.5 and far.scale == 1.0
    assert len(far.crops) > len(near.crops)
    whole = cam.model_copy(update={"detect": cam.detect.model_copy(update={"mode": "whole"})})
    assert camera_plan(whole, W, H, "near", 416) is None
