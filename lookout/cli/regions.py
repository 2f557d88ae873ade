"""`lookout regions`: draw a camera's region plan on a real frame and say what it sees.

For an installer: which crops the detector runs on for a camera (and PTZ preset), how
many per frame, and the smallest object each zone can still see — before the camera
goes live (docs/ARCHITECTURE.md, "Seeing small things").
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from lookout.base.errors import ConfigError
from lookout.config.app import load_config
from lookout.detector.manifest import load_manifest
from lookout.detector.regions import SEEN_PX, RegionPlan
from lookout.streams.connection import is_file_source
from lookout.streams.frame import Frame
from lookout.zones.locate import project_ground_zones

ZONE_BGR = (0, 200, 255)
CROP_BGR = (255, 160, 0)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    p.add_argument("--camera", required=True, help="Camera id in the config.")
    p.add_argument("--preset", help="PTZ preset (default: a fixed camera).")
    p.add_argument("--source", help="Video file or stream URL (default: the camera's).")
    p.add_argument("--out", type=Path, default=Path("plan.png"), help="Picture to write.")
    p.add_argument("--timeout", type=float, default=20.0, help="Seconds to wait for a frame.")


def describe(plan: RegionPlan | None, frame: Frame, input_size: int) -> list[str]:
    """What the plan means, a line each."""
    if plan is None:
        scale = min(1.0, input_size / max(frame.width, frame.height))
        return [
            f"whole frame letterboxed into {input_size} px: 1 image per frame, "
            f"objects from about {SEEN_PX / scale:.0f} px"
        ]
    lines = [
        f"{len(plan.crops)} crop(s) per frame{' + the full frame' if plan.full_frame else ''} "
        f"at scale {plan.scale:.2f} (crop side {round(input_size / plan.scale)} px): "
        f"objects from about {plan.smallest_px:.0f} px"
    ]
    if plan.capped:
        lines.append("max_crops bound: a coarser scale than min_object_px asks for")
    return lines


def draw(
    frame: Frame, plan: RegionPlan | None, zones: list[list[tuple[float, float]]]
) -> np.ndarray:
    img = frame.image.copy()
    for c in plan.crops if plan is not None else ():
        cv2.rectangle(img, (c.x, c.y), (c.x + c.width - 1, c.y + c.height - 1), CROP_BGR, 2)
    for poly in zones:
        pts = np.round(np.asarray(poly)).astype(np.int32)
        cv2.polylines(img, [pts], True, ZONE_BGR, 2)
    return img


def run(args: argparse.Namespace) -> int:
    # The analysis stack (ONNX, SciPy) only when the command runs, not to build the parser.
    from lookout.runtime.analysis import camera_plan
    from lookout.runtime.grab import grab

    cfg = load_config(args.config)
    cam = project_ground_zones(cfg.camera(args.camera))
    source = args.source or cam.source
    if not source:
        raise ConfigError(f"{args.config}: camera {cam.id} has no source; give --source")
    if is_file_source(source) and not args.source:
        source = str(cfg.path(source))
    manifest_path = cfg.path(cfg.model.manifest)
    if not manifest_path.is_file():
        raise ConfigError(f"{args.config}: model.manifest: file not found: {manifest_path}")
    input_size = min(load_manifest(manifest_path).input_size)
    frame = grab(source, cam.id, args.timeout, cam.stream)
    if args.preset:
        frame = Frame(
            frame.camera_id,
            frame.index,
            frame.pts_s,
            frame.captured_at,
            frame.monotonic_s,
            frame.image,
            args.preset,
        )
    # The plan the daemon and replay make (CameraAnalyser.region_plan), without a model.
    plan = camera_plan(cam, frame.width, frame.height, frame.preset, input_size)
    zones = [z for z in cam.zones if z.preset in (None, frame.preset)]
    print(f"camera {cam.id} ({frame.width}x{frame.height}), preset {frame.preset or '-'}:")
    for line in describe(plan, frame, input_size):
        print(f"  {line}")
    for z in zones:
        n = 0
        if plan is not None:
            xs, ys = zip(*z.polygon, strict=True)
            n = sum(
                1
                for c in plan.crops
                if c.x < max(xs)
                and c.x + c.width > min(xs)
                and c.y < max(ys)
                and c.y + c.height > min(ys)
            )
        print(f"  zone {z.id}: {n if plan else 'whole frame'} crop(s)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(args.out), draw(frame, plan, [z.polygon for z in zones])):
        raise ConfigError(f"{args.out}: cannot write the picture")
    print(f"plan drawn on {args.out}")
    return 0
