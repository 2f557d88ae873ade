"""Composited video scenarios (docs/EVALUATION.md, "Composited scenarios"): a
scenario's `overlays:` (patches of real pixels cut from a shared picture, shown over a
time window) and `effects:` (a lighting ramp, rain, a shaking camera) applied to every
decoded frame before the analysis sees it. The image operations are
lookout/clips/composite.py; this module holds the scenario keys and the reader that
applies them.

Order per frame: the overlays (things in the scene), then lighting (it falls on them
too), rain, and shake last (the camera moves, with everything in its picture).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from lookout.base.errors import ConfigError
from lookout.base.model import StrictModel
from lookout.base.secrets import expand_path
from lookout.clips.composite import (
    Image,
    Patch,
    cut_patch,
    paste,
    rain,
    read_picture,
    relight,
    shake_offset,
    translate,
)
from lookout.streams.file_reader import FileReader
from lookout.streams.frame import Frame, replace


class _Window(StrictModel):
    """When something is shown, in seconds from the footage start."""

    from_s: float = Field(default=0.0, ge=0, description="First second it is shown.")
    to_s: float | None = Field(default=None, ge=0, description="Last second; null: to the end.")

    @model_validator(mode="after")
    def _ordered(self) -> _Window:
        if self.to_s is not None and self.to_s <= self.from_s:
            raise ValueError("to_s must be after from_s")
        return self

    def shown(self, t: float) -> bool:
        return t >= self.from_s and (self.to_s is None or t <= self.to_s)


class Overlay(_Window):
    """A patch of real pixels pasted into every frame of its window."""

    source: str = Field(
        description="Footage or image file the patch is cut from (relative: the scenario "
        "file; ${LOOKOUT_ASSETS})."
    )
    frame: int = Field(default=0, ge=0, description="Frame index, when `source` is footage.")
    box: tuple[float, float, float, float] = Field(
        description="[x1, y1, x2, y2] of the patch in the source, pixels."
    )
    at: tuple[float, float] = Field(
        description="[x, y] in the scenario's frame of the patch's bottom-centre (where it stands)."
    )
    scale: float = Field(default=1.0, gt=0, le=8, description="Scale of the patch.")
    feather: float = Field(
        default=0.0, ge=0, description="Soft alpha edge, pixels of the scaled patch."
    )
    grabcut: bool = Field(
        default=False,
        description="Keep only the patch's foreground (GrabCut seeded with the box): an "
        "object without its background.",
    )

    @model_validator(mode="after")
    def _box_ordered(self) -> Overlay:
        x1, y1, x2, y2 = self.box
        if x2 <= x1 or y2 <= y1 or x1 < 0 or y1 < 0:
            raise ValueError("box must be [x1, y1, x2, y2] with 0 <= x1 < x2 and 0 <= y1 < y2")
        return self


class Lighting(StrictModel):
    """Exposure ramp: gain and offset go linearly from their first to their second
    value over [from_s, to_s] and hold before and after."""

    type: Literal["lighting"] = Field(description="Effect kind.")
    from_s: float = Field(default=0.0, ge=0, description="Start of the ramp.")
    to_s: float = Field(gt=0, description="End of the ramp.")
    gain: tuple[float, float] = Field(default=(1.0, 1.0), description="Gain from, to.")
    offset: tuple[float, float] = Field(default=(0.0, 0.0), description="Offset from, to.")

    @model_validator(mode="after")
    def _ordered(self) -> Lighting:
        if self.to_s <= self.from_s:
            raise ValueError("to_s must be after from_s")
        if min(self.gain) <= 0:
            raise ValueError("gain must be positive")
        return self

    def at(self, t: float) -> tuple[float, float]:
        k = min(1.0, max(0.0, (t - self.from_s) / (self.to_s - self.from_s)))
        return (
            self.gain[0] + k * (self.gain[1] - self.gain[0]),
            self.offset[0] + k * (self.offset[1] - self.offset[0]),
        )


class Rain(_Window):
    """Rain streaks over the picture, a fresh field every frame (seeded)."""

    type: Literal["rain"] = Field(description="Effect kind.")
    density: float = Field(default=0.002, gt=0, le=0.05, description="Drops per pixel.")
    length: int = Field(default=15, ge=3, le=80, description="Streak length, pixels.")
    angle_deg: float = Field(default=10.0, ge=-60, le=60, description="Fall angle from vertical.")
    strength: float = Field(default=0.35, gt=0, le=1, description="Streak opacity.")
    seed: int = Field(default=1, description="Random seed.")


class Shake(_Window):
    """The camera shaking: the picture moved by a random whole-pixel offset per frame."""

    type: Literal["shake"] = Field(description="Effect kind.")
    max_px: int = Field(ge=1, le=32, description="Largest offset along each axis, pixels.")
    seed: int = Field(default=1, description="Random seed.")


Effect = Annotated[Lighting | Rain | Shake, Field(discriminator="type")]


class Compositor:
    """Applies a scenario's overlays and effects to a frame's picture."""

    def __init__(
        self, overlays: Sequence[Overlay], effects: Sequence[Effect], base: Path, where: str
    ) -> None:
        self.overlays = list(overlays)
        self.effects = list(effects)
        self.patches: list[Patch] = []
        pictures: dict[tuple[Path, int], Image] = {}
        for i, ov in enumerate(self.overlays):
            path = expand_path(ov.source, base)
            if not path.is_file():
                raise ConfigError(f"{where}: overlays[{i}].source: file not found: {path}")
            key = (path, ov.frame)
            try:
                if key not in pictures:
                    pictures[key] = read_picture(path, ov.frame)
                patch = cut_patch(
                    pictures[key], ov.box, scale=ov.scale, feather=ov.feather, grabcut=ov.grabcut
                )
            except ValueError as exc:
                raise ConfigError(f"{where}: overlays[{i}]: {exc}") from None
            self.patches.append(patch)

    def __bool__(self) -> bool:
        return bool(self.overlays or self.effects)

    def __call__(self, image: Image, t: float, index: int) -> Image:
        """The picture of frame `index` at `t` s from the start, composited."""
        out = image
        for ov, patch in zip(self.overlays, self.patches, strict=True):
            if ov.shown(t):
                out = paste(out, patch, ov.at)
        for fx in self.effects:
            if isinstance(fx, Lighting):
                gain, offset = fx.at(t)
                if (gain, offset) != (1.0, 0.0):
                    out = relight(out, gain, offset)
            elif isinstance(fx, Rain) and fx.shown(t):
                out = rain(
                    out,
                    np.random.default_rng((fx.seed, index)),
                    density=fx.density,
                    length=fx.length,
                    angle_deg=fx.angle_deg,
                    strength=fx.strength,
                )
            elif isinstance(fx, Shake) and fx.shown(t):
                dx, dy = shake_offset(fx.seed, index, fx.max_px)
                if dx or dy:
                    out = translate(out, dx, dy)
        return out


class CompositedReader(FileReader):
    """A FileReader whose frames carry the composited picture (same size, uint8 BGR,
    same index and times): the replay pipeline sees only what the scenario shows, and
    with `stretch` (from_s, to_s) only that part of the footage."""

    def __init__(
        self,
        reader: FileReader,
        compositor: Compositor,
        *,
        stretch: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(
            reader.path,
            reader.camera_id,
            analysis_fps=reader.analysis_fps,
            start_time=reader.start_time,
            preset=reader.preset,
            decode_threads=reader.decode_threads,
        )
        self.compositor = compositor
        self.stretch = stretch

    def __iter__(self) -> Iterator[Frame]:
        first, last = self.stretch if self.stretch is not None else (0.0, float("inf"))
        for frame in super().__iter__():
            if frame.pts_s < first:
                continue
            if frame.pts_s > last:
                return
            image = self.compositor(frame.image, frame.pts_s, frame.index)
            yield replace(frame, image=image)
