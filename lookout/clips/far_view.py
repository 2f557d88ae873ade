"""Far-view test clips: vtest.avi scaled and tiled into a tower camera's wide frame.

A rooftop camera sees a whole district; a car is 20-80 px wide in 1080p-4K. These
clips put vtest's scene (van ≈ 72 px wide at scale 1.0) into a `width` x `height`
canvas as a grid of tiles, so the parked van of tile (1, 1) is as small as a far
vehicle really is. Cached like the other clips (lookout/clips/media.py), generated on
demand for the evaluation scenarios and the benchmark.

How well a parked vehicle is seen is scored per analysed frame by `Target.found` (a
detection of the watched classes overlapping its box). A scenario's `seen` object
becomes a target (`seen_target`) that `SeenTally` checks on what the replay's zone
rules get (lookout eval's `detected_fraction`); the benchmark checks it on detections
made the way the micro-batcher makes them for a plan (`detect_plan`: the crops and
the full frame, merged by `merge_regions`), the scenario's region plan against
`sahi_plan`, the whole frame sliced into model-size tiles plus a full-frame pass
(docs/ARCHITECTURE.md, "Seeing small things"; benchmarks/far_view_slicing.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import av
import cv2
import numpy as np
from pydantic import Field, model_validator

from lookout.base.errors import ConfigError
from lookout.base.geometry import box_ious
from lookout.base.model import StrictModel
from lookout.clips.media import media_cache_dir, vtest_avi
from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.detector.regions import SEEN_PX, Crop, RegionPlan, merge_regions
from lookout.streams.frame import Frame
from lookout.zones.policies import ParkingPolicy, VendorPolicy
from lookout.zones.rules import ClassResolver

if TYPE_CHECKING:
    pass

#: vtest's parked white van (x1, y1, x2, y2) at its native 768x576.
VAN = (650.7, 43.0, 722.2, 102.4)
_RECIPE = 1


def van_box(scale: float, tile: tuple[int, int] = (1, 1)) -> tuple[float, float, float, float]:
    """Where the van of tile (column, row) is in a far-view frame at `scale`."""
    tw, th = round(768 * scale), round(576 * scale)
    dx, dy = tile[0] * tw, tile[1] * th
    x1, y1, x2, y2 = VAN
    return (x1 * scale + dx, y1 * scale + dy, x2 * scale + dx, y2 * scale + dy)


def far_view_clip(
    width: int, height: int, scale: float, *, seconds: float = 40.0, cache: Path | None = None
) -> Path:
    """vtest at `scale`, tiled into `width` x `height` (10 fps, 1 s GOP, H.264), cached
    as `far_view_WxH_sS-KEY.mp4`."""
    params = {"recipe": _RECIPE, "w": width, "h": height, "scale": scale, "s": seconds}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    dst = (cache or media_cache_dir()) / f"far_view_{width}x{height}_s{scale:g}-{key}.mp4"
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")
    tw, th = round(768 * scale), round(576 * scale)
    reps = (-(-height // th), -(-width // tw))
    try:
        with (
            av.open(str(vtest_avi())) as inp,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            rate = Fraction(10)
            v = out.add_stream("libx264", rate=rate)
            v.width, v.height, v.pix_fmt = width, height, "yuv420p"
            v.codec_context.gop_size = 10
            v.codec_context.max_b_frames = 0
            v.options = {"preset": "ultrafast", "x264-params": "keyint=10:scenecut=0:bframes=0"}
            for i, frame in enumerate(inp.decode(video=0)):
                if i >= seconds * 10:
                    break
                img = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                if scale != 1.0:
                    img = np.asarray(
                        cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA), dtype=np.uint8
                    )
                canvas = np.ascontiguousarray(np.tile(img, (*reps, 1))[:height, :width])
                vf = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
                vf.pts = i
                vf.time_base = 1 / rate
                out.mux(v.encode(vf))
            out.mux(v.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


class Detector(Protocol):
    """What `detect_plan` needs of a detector (OnnxDetector)."""

    def detect(self, images: list[np.ndarray]) -> list[Detections]: ...


@dataclass(frozen=True, slots=True)
class Target:
    """An object that stays put (a parked vehicle) and what counts as finding it: a
    detection of `class_ids`, scoring at least `min_confidence`, whose box overlaps
    `box` (frame pixels, x1 y1 x2 y2) by IoU of at least `min_iou`."""

    box: tuple[float, float, float, float]
    class_ids: tuple[int, ...]
    min_confidence: float
    min_iou: float = 0.3

    def found(self, dets: Detections) -> bool:
        keep = np.isin(dets.class_id, self.class_ids) & (dets.confidence >= self.min_confidence)
        if not keep.any():
            return False
        ious = box_ious(dets.xyxy[keep].astype(np.float64), np.asarray([self.box], np.float64))
        return bool((ious >= self.min_iou).any())


def sahi_plan(width: int, height: int, side: int = 416, overlap: float = 0.2) -> RegionPlan:
    """SAHI-style slicing of the whole frame: `side` x `side` tiles, neighbours
    overlapping by `overlap` of a side (the last tile of a row or column flush with
    the frame edge), plus a full-frame pass; 6 x 3 tiles + 1 on 1920x1080."""
    step = side - int(overlap * side)

    def starts(limit: int) -> list[int]:
        if side >= limit:
            return [0]
        return [*range(0, limit - side, step), limit - side]

    crops = tuple(
        Crop(x, y, min(side, width), min(side, height))
        for y in starts(height)
        for x in starts(width)
    )
    return RegionPlan(crops, True, 1.0, SEEN_PX)


def detect_plan(detector: Detector, image: np.ndarray, plan: RegionPlan | None) -> Detections:
    """Detections of one frame made as the micro-batcher makes them (detector/batcher.py):
    the whole frame letterboxed (`plan` None), or the plan's crops (and the full frame)
    merged back into frame pixels by `merge_regions`."""
    if plan is None:
        return detector.detect([image])[0]
    views = [c.view(image) for c in plan.crops]
    offsets = [(c.x, c.y) for c in plan.crops]
    if plan.full_frame:
        views.append(image)
        offsets.append((0, 0))
    return merge_regions(detector.detect(views), offsets)


@dataclass(slots=True)
class PlanScore:
    """How often one way of detecting found the target."""

    images_per_frame: int
    frames: int = 0
    found: int = 0

    @property
    def rate(self) -> float:
        return self.found / self.frames if self.frames else 0.0


def score_plans(
    detector: Detector,
    images: Iterable[np.ndarray],
    plans: dict[str, RegionPlan | None],
    target: Target,
) -> dict[str, PlanScore]:
    """Per named plan (None: the whole frame), in how many of `images` the target was
    found, and the images each frame cost."""
    out = {
        name: PlanScore(1 if plan is None else plan.images_per_frame)
        for name, plan in plans.items()
    }
    for image in images:
        for name, plan in plans.items():
            score = out[name]
            score.frames += 1
            score.found += target.found(detect_plan(detector, image, plan))
    return out


class Seen(StrictModel):
    """An object that stays put in the footage, and the share of analysed frames it must
    be detected in: by a detection of the zone's policy classes (at their
    min_confidence) overlapping `box` by IoU >= `min_iou`."""

    zone: str = Field(description="Zone whose policies name the classes watched.")
    box: tuple[float, float, float, float] | None = Field(
        default=None, description="The object, frame pixels (x1, y1, x2, y2)."
    )
    van_tile: tuple[int, int] | None = Field(
        default=None, description="Or, in a far view: the parked van of tile (column, row)."
    )
    min_iou: float = Field(default=0.3, gt=0, le=1, description="Overlap that counts.")
    min_fraction: float = Field(default=0.95, ge=0, le=1, description="Gate: share of frames.")

    @model_validator(mode="after")
    def _one_box(self) -> Seen:
        if (self.box is None) == (self.van_tile is None):
            raise ValueError("give either box or van_tile")
        return self


def seen_target(
    seen: Seen,
    camera: CameraConfig,
    class_names: list[str],
    roles: dict[str, list[str]],
    *,
    scale: float | None = None,
    where: str = "seen",
) -> Target:
    """What finding the `seen` object means for the camera's model (`scale`: of the
    far view, for `van_tile`)."""
    if seen.box is not None:
        box = seen.box
    elif scale is not None and seen.van_tile is not None:
        box = van_box(scale, seen.van_tile)
    else:
        raise ConfigError(f"{where}: seen.van_tile needs a far view")
    zone = next((z for z in camera.zones if z.id == seen.zone), None)
    if zone is None:
        raise ConfigError(f"{where}: seen.zone: no zone {seen.zone!r} in camera {camera.id}")
    watched = [p for p in zone.policies if isinstance(p, ParkingPolicy | VendorPolicy)]
    if not watched:
        raise ConfigError(f"{where}: seen.zone: zone {seen.zone} watches no objects")
    resolve = ClassResolver(class_names, roles)
    ids = {int(i) for p in watched for i in resolve(p.classes, f"zone {zone.id}")}
    return Target(box, tuple(sorted(ids)), min(p.min_confidence for p in watched), seen.min_iou)


@dataclass(slots=True)
class SeenTally:
    """Analysed frames, and those whose detections held the target."""

    target: Target
    frames: int = 0
    detected: int = 0
    _last: Detections = field(default_factory=Detections.empty)

    def observe(self, frame: Frame, detections: Detections | None) -> None:
        """Count one analysed frame (`ReplayPipeline.run`'s `on_detections`): a skipped
        detector run (None) keeps the last detections, as it does for the rules."""
        del frame
        if detections is not None:
            self._last = detections
        self.frames += 1
        self.detected += self.target.found(self._last)

    @property
    def fraction(self) -> float:
        return self.detected / self.frames if self.frames else 0.0
