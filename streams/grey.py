"""Grey levels of a picture's luma on the 0-255 scale of OpenCV's BGR → grey.

`Picture.luma()` of a `YuvPicture` is the Y plane as decoded. For full-range video
(`yuvj420p`, many IP cameras) that is the grey picture within a level. For
limited-range video (`yuv420p`, `nv12`: Y from 16 for black to 235 for white) it is
the same picture compressed by 219/255 and lifted by 16: what BGR → grey of the
converted picture gives is `(Y - 16) * 255 / 219`, within a level (the chroma terms of
the BT.601 conversion cancel in the grey weights). Consumers with thresholds in grey
levels (the quality monitor's texture and change levels, the stationary-object scene
model's) reduce the luma first and expand only the reduced pixels (`full_scale`).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.streams.picture import BgrPicture, Cropped, Picture, YuvPicture

#: Limited-range luma (16-235) to the full 0-255 grey scale, clipped.
LIMITED_TO_FULL = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def limited_luma(picture: Picture) -> bool:
    """Whether `picture.luma()` is limited-range Y (16-235), not 0-255 grey."""
    while isinstance(picture, Cropped):
        picture = picture.picture
    return isinstance(picture, YuvPicture) and not picture.full_range


def full_scale(grey: NDArray[np.uint8], limited: bool) -> NDArray[np.uint8]:
    """`grey` (a reduced luma) on the 0-255 scale: expanded when `limited`, as it is
    otherwise. A table look-up on the pixels given: reduce first."""
    if not limited:
        return grey
    return np.asarray(cv2.LUT(grey, LIMITED_TO_FULL), np.uint8)


def small_grey(
    picture: Picture,
    size: tuple[int, int],
    region: tuple[int, int, int, int] | None = None,
    mid: tuple[int, int] | None = None,
) -> NDArray[np.uint8]:
    """`region` of `picture` (default: all) area-averaged to `size` (w, h) in grey on the
    0-255 scale, for the motion gates: a BGR picture is reduced then turned grey (the
    few output pixels), a YUV picture's luma is reduced and expanded (no conversion).
    With `mid`, the region is first subsampled (nearest) to that size, which keeps
    INTER_AREA cheap when the scale is not a whole number."""
    x, y, w, h = region if region is not None else (0, 0, picture.width, picture.height)
    if isinstance(picture, BgrPicture):
        src = picture.image()[y : y + h, x : x + w]  # a view: nothing converted
    else:
        src = picture.luma()[y : y + h, x : x + w]
    if mid is not None:
        src = cv2.resize(src, mid, interpolation=cv2.INTER_NEAREST)
    small = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
    if small.ndim == 3:
        return np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), np.uint8)
    return full_scale(np.asarray(small, np.uint8), limited_luma(picture))
