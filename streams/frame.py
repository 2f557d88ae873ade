"""The `Frame` envelope that travels from a reader to the case sinks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np

from lookout.streams.picture import BgrPicture, Picture, Region, Size


class Frame:
    """One decoded picture of one camera.

    Attributes:
        camera_id: id of the camera in the configuration.
        index: index of the frame in its source (0-based, counts every decoded frame,
            not only the analysed ones).
        pts_s: stream presentation time in seconds from the start of the source.
        captured_at: wall-clock capture time, timezone-aware. For replays this is the
            configured start time plus `pts_s`, so replays are deterministic.
        monotonic_s: seconds on the source's duration axis, which never jumps: the
            footage time (`pts_s`) in replay, `time.monotonic()` at arrival in live
            operation. Dwell, stationarity, track expiry and motion re-checks use only
            differences of it (docs/ARCHITECTURE.md, "Time").
        picture: the pixels as decoded (streams/picture.py): `bgr(region, size)`
            converts only what a consumer needs, `luma()` is the grey picture.
        image: the whole picture in BGR (H, W, 3) uint8, converted at the first use
            and kept; for evidence, tests and rare consumers, never a hot path.
        preset: active PTZ preset token, or None for a fixed camera.

    A frame is built from a `picture`, or from a BGR `image` (wrapped as one). It is
    immutable; `replace` makes a changed copy.
    """

    __slots__ = ("camera_id", "captured_at", "index", "monotonic_s", "picture", "preset", "pts_s")

    camera_id: str
    index: int
    pts_s: float
    captured_at: datetime
    monotonic_s: float
    picture: Picture
    preset: str | None

    def __init__(
        self,
        camera_id: str,
        index: int,
        pts_s: float,
        captured_at: datetime,
        monotonic_s: float,
        image: np.ndarray | None = None,
        preset: str | None = None,
        *,
        picture: Picture | None = None,
    ) -> None:
        if captured_at.tzinfo is None:
            raise ValueError("Frame.captured_at must be timezone-aware")
        if image is not None:
            picture = BgrPicture(image)
        if picture is None:
            raise ValueError("Frame needs an image or a picture")
        for name, value in (
            ("camera_id", camera_id),
            ("index", index),
            ("pts_s", pts_s),
            ("captured_at", captured_at),
            ("monotonic_s", monotonic_s),
            ("picture", picture),
            ("preset", preset),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"Frame is immutable: use replace(frame, {name}=...)")

    def __repr__(self) -> str:
        return (
            f"Frame(camera_id={self.camera_id!r}, index={self.index}, pts_s={self.pts_s:.3f}, "
            f"{self.width}x{self.height}, preset={self.preset!r})"
        )

    @property
    def image(self) -> np.ndarray:
        return self.picture.image()

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        """BGR of `region` at `size` (streams/picture.py): only those pixels converted."""
        return self.picture.bgr(region, size)

    def luma(self) -> np.ndarray:
        return self.picture.luma()

    @property
    def height(self) -> int:
        return self.picture.height

    @property
    def width(self) -> int:
        return self.picture.width


def replace(frame: Frame, **changes: Any) -> Frame:
    """A copy of `frame` with `changes` (an `image` replaces the picture)."""
    fields = {name: getattr(frame, name) for name in Frame.__slots__}
    fields.update(changes)
    if "image" in changes:
        fields.pop("picture")
    return Frame(**fields)
