"""`cameras[].quality`: the settings of video quality diagnosis (lookout/quality/)."""

from __future__ import annotations

from pydantic import Field, model_validator

from lookout.base.model import StrictModel


class QualityConfig(StrictModel):
    """Video quality diagnosis of one camera, per PTZ preset (lookout/quality/monitor.py;
    docs/ARCHITECTURE.md, "Video quality diagnosis"). An issue starts when its start
    condition has held for its hold time and ends when its end condition has held for
    `clear_s`; each start and end is logged once and exported as a metric."""

    enabled: bool = Field(default=True, description="Diagnose the analysed frames.")
    learn_frames: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Frames of a preset that make its baseline (sharpness, texture) when it "
        "has no reference snapshot; the daemon then saves one.",
    )
    clear_s: float = Field(
        default=10.0, ge=0, description="Seconds an end condition must hold to end an issue."
    )
    frozen_s: float = Field(
        default=20.0,
        gt=0,
        description="Seconds without any change that make a frozen picture; keep it above the "
        "camera's longest I-frame interval (a smart codec repeats a still scene until the "
        "next I-frame).",
    )
    frozen_change: float = Field(
        default=0.002,
        gt=0,
        lt=1,
        description="Fraction of the small grey picture that must change (by 5+ grey levels) "
        "for the picture to count as live; far below a live view's noise.",
    )
    blur_ratio: float = Field(
        default=0.4,
        gt=0,
        lt=1,
        description="Blur starts when sharpness falls below this fraction of the baseline.",
    )
    blur_end_ratio: float = Field(
        default=0.6, gt=0, le=1, description="Blur ends when sharpness is back above this."
    )
    blur_s: float = Field(default=30.0, ge=0, description="Seconds blur must last to start.")
    occlusion_fraction: float = Field(
        default=0.75,
        gt=0,
        le=1,
        description="Occlusion starts when this fraction of the textured picture is flat.",
    )
    occlusion_end_fraction: float = Field(
        default=0.5, ge=0, lt=1, description="Occlusion ends when the flat fraction is below this."
    )
    occlusion_std: float = Field(
        default=2.0,
        gt=0,
        le=50,
        description="Grey-level standard deviation under which a block of the picture is flat.",
    )
    occlusion_s: float = Field(
        default=10.0, ge=0, description="Seconds occlusion must last to start."
    )
    drift_px: float = Field(
        default=20.0, gt=0, description="Drift starts when the view is this many pixels off."
    )
    drift_end_px: float = Field(
        default=10.0, ge=0, description="Drift ends when the view is back within this."
    )
    drift_s: float = Field(
        default=60.0,
        ge=0,
        description="Seconds drift must last to start (with the default interval: two checks).",
    )
    drift_interval_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds between drift checks of a preset (alignment costs more).",
    )

    @model_validator(mode="after")
    def _end_beyond_start(self) -> QualityConfig:
        if self.blur_end_ratio <= self.blur_ratio:
            raise ValueError("blur_end_ratio must be above blur_ratio")
        if self.occlusion_end_fraction >= self.occlusion_fraction:
            raise ValueError("occlusion_end_fraction must be below occlusion_fraction")
        if self.drift_end_px >= self.drift_px:
            raise ValueError("drift_end_px must be below drift_px")
        return self
