"""The stationary-object detector's cost in the benchmark (benchmarks/README.md): CPU
time per camera-frame of the scene model (zones/stationary.py) on the whole-mode
1080p camera with one vendor zone over vtest's walkway, measured alone like the
floor's parts (lookout/bench/floor.py) and compared with the floor's frame cost.

Each keyframe is one camera-frame at 1 analysed frame/s, so with the default
`interval_s` (2 s) every other frame updates the model; at more analysed frames per
second the share only falls (the model's updates stay at one per `interval_s`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np

from lookout.config.app import CameraConfig
from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.zones.rules import ClassResolver
from lookout.zones.stationary import (
    STATIC_CLASS,
    StationaryDetector,
    analysis_classes,
    watching_zones,
)

#: vtest's walkway (scenarios/configs/vtest-walkway.yaml) in the 1920x1080 bench stream,
#: which stretches vtest's 768x576 by 2.5 x 1.875.
VENDOR_ZONE_1080 = [
    [0.0, 346.9],
    [1600.0, 281.2],
    [1920.0, 375.0],
    [1920.0, 881.2],
    [1050.0, 618.8],
    [0.0, 450.0],
]
_T0 = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)


def vendor_camera() -> CameraConfig:
    """The whole-mode bench camera with one no-vending zone (stall objects: the model's
    and `static_object`) and the default scene-model settings."""
    return CameraConfig.model_validate(
        {
            "id": "sim-vendor",
            "zones": [
                {
                    "id": "no-vending",
                    "polygon": VENDOR_ZONE_1080,
                    "policies": [{"type": "street_vendor", "dwell_s": 60}],
                }
            ],
        }
    )


@dataclass(frozen=True, slots=True)
class StationaryCost:
    """CPU seconds per camera-frame of the scene model, and what it was measured on."""

    cpu_s: float
    frames: int
    work_shape: tuple[int, int]

    def row(self, floor_frame_ms: float) -> dict[str, Any]:
        ms = 1000 * self.cpu_s
        return {
            "ms_per_frame": round(ms, 3),
            "floor_frame_ms": round(floor_frame_ms, 2),
            "share_of_floor_frame": round(ms / floor_frame_ms, 4) if floor_frame_ms else None,
            "frames": self.frames,
            "work_px": list(self.work_shape),
            "zones_per_camera": 1,
        }


def stationary_cost(
    clip: Path, class_names: list[str], roles: dict[str, list[str]], *, frames: int = 30
) -> StationaryCost:
    """CPU time of `StationaryDetector.detect` per keyframe of `clip` (decoded and
    converted beforehand, untimed), one keyframe per second of camera time."""
    names, all_roles = analysis_classes(class_names, roles)
    static_id = names.index(STATIC_CLASS)
    cam = vendor_camera()
    zones = watching_zones(cam.zones, ClassResolver(names, all_roles), static_id)
    det = StationaryDetector(cam.id, zones, cam.static_objects, static_id)
    images: list[np.ndarray] = []
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.size:
                images += [vf.to_ndarray(format="bgr24") for vf in packet.decode()]
            if len(images) >= 8:
                break
    if not images:
        raise RuntimeError(f"{clip}: no keyframe decoded")
    cpu = 0.0
    warmup = 2
    for i in range(frames + warmup):
        t = float(i)
        frame = Frame(cam.id, i, t, _T0 + timedelta(seconds=t), t, images[i % len(images)])
        t0 = time.process_time()
        det.detect(frame, Detections.empty())
        if i >= warmup:
            cpu += time.process_time() - t0
    return StationaryCost(cpu / frames, frames, det.work_shapes()[0])
