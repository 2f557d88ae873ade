"""Settings the detector layer owns: the tracker and motion gating (YAML `tracker:` and
`cameras[].motion:`). The tracker and the motion gate take these models directly;
lookout/config/app.py only composes them into the application config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from lookout.base.model import StrictModel


class TrackerConfig(StrictModel):
    """Multi-object tracker (ByteTrack) settings."""

    high_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Detections scoring at least this take part in the first association.",
    )
    low_threshold: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Detections between this and high_threshold "
        "take part in the second association only; lower ones are ignored.",
    )
    new_track_threshold: float = Field(
        default=0.5, ge=0, le=1, description="Score an unmatched detection needs to start a track."
    )
    match_iou: float = Field(
        default=0.2,
        gt=0,
        le=1,
        description="Minimum IoU to match (first association and tentative tracks).",
    )
    low_match_iou: float = Field(
        default=0.5, gt=0, le=1, description="Minimum IoU in the low-score second association."
    )
    class_aware: bool = Field(
        default=False,
        description="Never match a track to another class. Off by default: detectors often "
        "flip a van between car and truck.",
    )
    lost_track_buffer_s: float = Field(
        default=5.0, ge=0, description="Seconds a lost track lives after its last match."
    )
    min_hits: int = Field(
        default=2, ge=1, description="Consecutive matched frames before a track gets an id."
    )

    @model_validator(mode="after")
    def _order(self) -> TrackerConfig:
        if self.low_threshold > self.high_threshold:
            raise ValueError("low_threshold must not exceed high_threshold")
        return self


class MotionConfig(StrictModel):
    """Motion-gated inference: skip the detector while nothing moves in the zones."""

    enabled: bool = Field(default=False, description="Gate inference on motion.")
    width: int = Field(
        default=96, ge=16, le=640, description="Width of the small grey motion image (pixels)."
    )
    threshold: int = Field(
        default=25, ge=1, le=255, description="Grey-level change that counts as motion."
    )
    min_area: float = Field(
        default=0.002, ge=0, le=1, description="Changed fraction of the zones that is motion."
    )
    alpha: float = Field(
        default=0.2, gt=0, le=1, description="Background update rate (forgets in ~3/alpha frames)."
    )
    max_interval_s: float = Field(
        default=5.0,
        ge=0,
        allow_inf_nan=False,
        description="Run the detector at least this often anyway (parked vehicles don't move).",
    )
    blur: int = Field(
        default=3,
        ge=0,
        le=31,
        description="Odd Gaussian kernel size on the small image (0 or 1: none).",
    )

    @model_validator(mode="after")
    def _odd_blur(self) -> MotionConfig:
        if self.blur > 1 and self.blur % 2 == 0:
            raise ValueError(f"blur must be odd (or 0/1 for none), got {self.blur}")
        return self


class DetectConfig(StrictModel):
    """What the detector runs on per frame: the whole frame letterboxed, or region
    crops planned from the zones at native resolution (detector/regions.py)."""

    mode: Literal["auto", "whole", "regions"] = Field(
        default="auto",
        description="whole: the frame letterboxed into the model input; regions: crops "
        "around the zones; auto: regions when the frame's longer side is more than twice "
        "the model input (tower views), whole otherwise.",
    )
    min_object_px: float = Field(
        default=24.0,
        gt=0,
        description="Width in frame pixels of the smallest object the site wants found "
        "(a far car); crops are scaled so it reaches the model about 36 px wide.",
    )
    overlap_px: int = Field(
        default=96,
        ge=0,
        description="Overlap of neighbouring crops (frame pixels): at least the largest "
        "object expected in the zones.",
    )
    full_frame: bool = Field(
        default=False, description="Also run the whole frame (large, near objects)."
    )
    max_crops: int = Field(
        default=12,
        ge=1,
        le=256,
        description="Crops per frame at most; a coarser scale is used when the zones need "
        "more (one warning line names the camera and the smallest object still seen).",
    )
