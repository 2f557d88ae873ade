"""Luma on the 0-255 grey scale (streams/grey.py): a limited-range picture's Y (16-235)
expanded is BGR → grey of the same picture within a level; full-range Y and BGR
pictures' grey are taken as they are."""

from __future__ import annotations

import cv2
import numpy as np

from lookout.streams.grey import full_scale, limited_luma
from lookout.streams.picture import Cropped
from tests.support.pictures import KINDS, as_picture


def test_luma_on_the_grey_scale_is_bgr_grey_within_a_level(vtest_100: np.ndarray) -> None:
    want = cv2.cvtColor(vtest_100, cv2.COLOR_BGR2GRAY).astype(int)
    for kind in KINDS:
        picture = as_picture(vtest_100, kind)
        assert limited_luma(picture) == (kind == "yuv420p")
        assert limited_luma(Cropped(picture, (10, 20, 100, 50))) == limited_luma(picture)
        got = full_scale(picture.luma(), limited_luma(picture)).astype(int)
        diff = np.abs(got - want)
        assert diff.max() <= 1 and diff.mean() < 0.35, (kind, diff.max(), diff.mean())
    raw = as_picture(vtest_100, "yuv420p").luma()
    assert (raw.min(), raw.max()) == (16, 235) and np.abs(raw.astype(int) - want).mean() > 5


def test_only_limited_range_is_expanded() -> None:
    grey = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert full_scale(grey, False) is grey
    out = full_scale(grey, True)
    assert out[0, 0] == out[1, 0] == 0 and out[14, 11] == out[15, 15] == 255  # 16 → 0, 235 → 255
    assert out[7, 14] == round((126 - 16) * 255 / 219)
