"""The same BGR picture in each form a reader hands over (streams/picture.py): as BGR,
as limited-range YUV 4:2:0 (`yuv420p`: Y 16-235, what most files and many cameras
send) and as full-range YUV 4:2:0 (`yuvj420p`: Y 0-255, many IP cameras). Tests of
the consumers that read `luma()` run on all three."""

from __future__ import annotations

import cv2
import numpy as np

from lookout.streams.picture import BgrPicture, Picture, Region, Size, YuvPicture

#: The forms, as test ids.
KINDS = ("bgr", "yuv420p", "yuvj420p")


def full_range_yuv(image: np.ndarray) -> YuvPicture:
    """The full-range (JPEG) YUV 4:2:0 picture of an even-sized BGR image."""
    ycrcb = cv2.cvtColor(image, cv2.COLOR_BGR2YCrCb)
    h, w = image.shape[:2]
    half = (w // 2, h // 2)
    cr = cv2.resize(np.ascontiguousarray(ycrcb[..., 1]), half, interpolation=cv2.INTER_AREA)
    cb = cv2.resize(np.ascontiguousarray(ycrcb[..., 2]), half, interpolation=cv2.INTER_AREA)
    return YuvPicture(np.ascontiguousarray(ycrcb[..., 0]), cb, cr, full_range=True)


def as_picture(image: np.ndarray, kind: str) -> Picture:
    """`image` (BGR, even-sized for the YUV forms) as a picture of `kind` (KINDS)."""
    if kind == "bgr":
        return BgrPicture(image)
    if kind == "yuv420p":
        return YuvPicture.from_bgr(image)
    if kind == "yuvj420p":
        return full_range_yuv(image)
    raise ValueError(f"unknown picture kind {kind!r}")


class Counting:
    """A picture that counts what is converted of it: `whole` the conversions of the
    whole frame at full size (`image()`, `bgr()` of everything), `parts` the (region,
    size) of every other `bgr()`. Consumers that must not convert a frame for every
    analysed frame are checked with it."""

    def __init__(self, picture: Picture) -> None:
        self.picture = picture
        self.width, self.height = picture.width, picture.height
        self.whole = 0
        self.parts: list[tuple[Region | None, Size | None]] = []

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        full = (0, 0, self.width, self.height)
        whole = region is None or tuple(region) == full
        if whole and (size is None or tuple(size) == full[2:]):
            self.whole += 1
        else:
            self.parts.append((region, size))
        return self.picture.bgr(region, size)

    def luma(self) -> np.ndarray:
        return self.picture.luma()

    def image(self) -> np.ndarray:
        self.whole += 1
        return self.picture.image()

    @property
    def nbytes(self) -> int:
        return self.picture.nbytes
