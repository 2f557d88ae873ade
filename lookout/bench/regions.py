"""The benchmark's simulated cameras in each detect mode, and the saturated regions replay.

Whole mode (`lookout bench`'s original workload): vtest.avi upscaled to 1080p25, one
no-parking zone on the van's kerb, the frame letterboxed into the model input. Regions
mode (docs/ARCHITECTURE.md "Seeing small things"): a 1920x1080 far view
tiled from vtest at its native size (lookout/clips/far_view.py, the van ≈ 72 px wide), re-
encoded as a 25 fps, 1 s GOP camera stream like the whole-mode one, with two kerb zones
(the vans of tiles (1, 1) and (0, 0)) and `detect: {mode: regions}`: each analysed
frame is the plan's crops, batched across cameras. `replay_regions` replays the 10 fps
far-view clip as fast as possible in regions mode, every frame analysed, so crops/s can
be compared with bare ONNX Runtime (benchmarks/README.md).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from lookout.base.paths import REPO_ROOT
from lookout.clips.far_view import far_view_clip
from lookout.clips.media import cached_h264_mp4
from lookout.config.app import AppConfig, CameraConfig, ModelConfig
from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.preprocess import Image
from lookout.detector.regions import RegionPlan
from lookout.runtime.analysis import build_analyser, camera_plan
from lookout.runtime.replay import ReplayPipeline
from lookout.runtime.services import open_cases
from lookout.streams.file_reader import FileReader

DetectMode = Literal["whole", "regions"]

MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
#: The van's kerb in vtest.avi, scaled to the 1920x1080 whole-mode stream.
VAN_ZONE_1080 = [[1500.0, 116.0], [1825.0, 116.0], [1825.0, 221.0], [1500.0, 221.0]]
#: The same kerb at vtest's native 768x576 (x1, y1, x2, y2): one far-view tile.
KERB = (600.0, 62.0, 730.0, 118.0)
#: Far-view frame and tile scale (1.0: vtest's native size, the van ≈ 72 px wide).
FAR_W, FAR_H, FAR_SCALE = 1920, 1080, 1.0
#: The tiles whose kerbs are the two zones of every regions-mode camera.
ZONE_TILES = ((1, 1), (0, 0))
#: The smallest object the far-view cameras must see: the `detect.min_object_px`
#: default (a far car), which plans crops at native resolution.
MIN_OBJECT_PX = 24.0
#: Far-view replay: frames per second of the clip, all analysed.
REPLAY_FPS = 10.0

_POLICY = {"type": "illegal_parking", "classes": ["car", "truck", "bus"], "dwell_s": 5}


def kerb_zone(tile: tuple[int, int], scale: float = FAR_SCALE) -> list[list[float]]:
    """The kerb polygon of far-view tile (column, row) in frame pixels."""
    tw, th = round(768 * scale), round(576 * scale)
    x1, y1, x2, y2 = (v * scale for v in KERB)
    dx, dy = tile[0] * tw, tile[1] * th
    return [[x1 + dx, y1 + dy], [x2 + dx, y1 + dy], [x2 + dx, y2 + dy], [x1 + dx, y2 + dy]]


def bench_camera(
    i: int, detect: DetectMode, *, motion: bool = False, analysis_fps: float = 1.0
) -> CameraConfig:
    """Simulated camera `i`: one kerb zone (whole mode, 1080p vtest) or two far-view
    kerb zones (regions mode)."""
    if detect == "whole":
        zones = [{"id": "no-parking", "polygon": VAN_ZONE_1080, "policies": [_POLICY]}]
        settings: dict[str, Any] = {"mode": "whole"}
    else:
        zones = [
            {"id": f"kerb-{c}{r}", "polygon": kerb_zone((c, r)), "policies": [_POLICY]}
            for c, r in ZONE_TILES
        ]
        settings = {"mode": "regions", "min_object_px": MIN_OBJECT_PX}
    return CameraConfig.model_validate(
        {
            "id": f"sim{i:03d}",
            "analysis_fps": analysis_fps,
            "motion": {"enabled": motion},
            "detect": settings,
            "zones": zones,
        }
    )


def regions_plan(input_size: int) -> RegionPlan:
    """The crops every regions-mode camera's 1920x1080 frame is detected on."""
    plan = camera_plan(bench_camera(0, "regions"), FAR_W, FAR_H, None, input_size)
    if plan is None:
        raise RuntimeError("the regions-mode camera has no region plan")
    return plan


def far_view_stream(seconds: float) -> Path:
    """The regions-mode camera stream: the 1920x1080 far view (scale 1) as 25 fps H.264
    with a 1 s GOP and no B-frames, `veryfast` like the whole-mode stream (cached)."""
    src = far_view_clip(FAR_W, FAR_H, FAR_SCALE)
    return cached_h264_mp4(
        src,
        "far_view_1080p25",
        width=FAR_W,
        height=FAR_H,
        fps=25.0,
        gop_s=1.0,
        seconds=seconds,
        preset="veryfast",
    )


def replay_clip(seconds: float) -> Path:
    """The 10 fps far-view clip the saturated replay analyses (cached)."""
    return far_view_clip(FAR_W, FAR_H, FAR_SCALE, seconds=seconds)


def sample_crops(clip: Path, plan: RegionPlan | None, count: int) -> list[Image]:
    """`count` detector images of real frames of `clip`, one frame per second: the
    plan's crops as the batcher hands them to the detector (None: whole frames)."""
    reader = FileReader(clip, "sample", analysis_fps=1.0, start_time=datetime.now(UTC))
    crops: list[Image] = []
    for frame in reader:
        if plan is None:
            crops.append(frame.picture)
        else:
            crops += [c.of(frame.picture) for c in plan.crops]
            crops += [frame.picture] if plan.full_frame else []
        if len(crops) >= count:
            break
    if not crops:
        raise RuntimeError(f"{clip}: no frame decoded")
    return [crops[i % len(crops)] for i in range(count)]


@dataclass(frozen=True, slots=True)
class RegionsReplay:
    """One saturated replay of the far-view clip in regions mode."""

    frames: int
    crops: int
    seconds: float
    cases: int
    preprocess_s: float = 0.0  # inside the detector: letterbox into the batch buffer
    inference_s: float = 0.0  # ONNX Runtime
    postprocess_s: float = 0.0  # decoding boxes, NMS

    @property
    def crops_per_s(self) -> float:
        return self.crops / self.seconds if self.seconds > 0 else 0.0

    def ms_per_crop(self) -> dict[str, float]:
        """Wall ms per crop in the detector's stages and everything else (decoding the
        detector waits for, merging, tracking, zones, cases)."""
        n = max(1, self.crops)
        stages = {
            "preprocess": self.preprocess_s,
            "inference": self.inference_s,
            "postprocess": self.postprocess_s,
        }
        stages["other"] = self.seconds - sum(stages.values())
        return {k: round(1000 * v / n, 2) for k, v in stages.items()}


def replay_regions(detector: OnnxDetector, batch: int, clip: Path) -> RegionsReplay:
    """Replay `clip` (10 fps, every frame analysed) through the replay pipeline in
    regions mode as fast as possible: decoding runs ahead on its own thread, the crops
    of `batch` frames go through `detector` together."""
    camera = bench_camera(0, "regions", analysis_fps=REPLAY_FPS)
    cfg = AppConfig(
        model=ModelConfig(manifest=str(MANIFEST), batch_size=batch),
        cameras=[camera],
    )
    with tempfile.TemporaryDirectory() as tmp:
        cases = open_cases(cfg, Path(tmp))  # closed by the pipeline's run
        analyser = build_analyser(
            cfg,
            camera.id,
            detector,
            cases=cases,
            out_dir=Path(tmp),
            grid=None,
            config_source="bench",
        )
        pipe = ReplayPipeline(cfg, analyser.camera, detector, analyser)
        t = detector.times
        before = (t.images, t.preprocess, t.inference, t.postprocess)
        reader = pipe.open_reader(clip, start=datetime(2026, 11, 26, 9, tzinfo=UTC))
        stats = pipe.run(reader)
        after = (t.images, t.preprocess, t.inference, t.postprocess)
    return RegionsReplay(
        stats.frames_inferred,
        int(after[0] - before[0]),
        stats.elapsed_s,
        len(stats.cases),
        *(a - b for a, b in zip(after[1:], before[1:], strict=True)),
    )
