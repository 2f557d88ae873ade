"""Scenes the footage lacks, made of real pixels (docs/TESTING.md): a still vtest frame
as the street, and goods cut from dog.jpg (the rear wheel, chain and bag of its
bicycle: no COCO class as a whole) put down on it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.base.events import EventType
from lookout.cases.model import DraftCase

Image = NDArray[np.uint8]
#: The goods on vtest's walkway: x1, y1, x2, y2.
GOODS = (460, 240, 520, 300)


def vtest_still(assets: Path) -> Image:
    """The first frame of vtest.avi, 768x576 BGR."""
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        return np.ascontiguousarray(next(container.decode(video=0)).to_ndarray(format="bgr24"))


def with_goods(street: Image, assets: Path, box: tuple[int, int, int, int] = GOODS) -> Image:
    """A copy of `street` with the goods scaled into `box`."""
    dog = np.asarray(cv2.imread(str(assets / "images" / "dog.jpg")), np.uint8)
    x1, y1, x2, y2 = box
    out = street.copy()
    out[y1:y2, x1:x2] = cv2.resize(dog[230:420, 380:570], (x2 - x1, y2 - y1))
    return out


def walkway_case(
    bbox: list[float],
    *,
    case_id: str,
    at: datetime,
    case_type: EventType = "occupation",
    object_class: str = "static_object",
    camera_id: str = "vtest",
    preset: str | None = None,
) -> DraftCase:
    """A case of the walkway zone (by default goods left there: a static object)."""
    return DraftCase(
        id=case_id,
        type=case_type,
        code="x",
        code_name="x",
        camera_id=camera_id,
        preset=preset,
        zone_id="walkway",
        grid_code=None,
        first_seen=at,
        confirmed_at=at,
        last_seen=at,
        dwell_s=30.0,
        bbox=bbox,
        confidence=0.7,
        track_id=3,
        object_class=object_class,
    )
