"""`lookout calibrate`: fit a camera preset's image ↔ ground homography from surveyed
point pairs, print the error of every point, and write the result into the config."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from typing import Any

import yaml

from lookout.config import load_config
from lookout.errors import ConfigError
from lookout.yamlfile import load_model, read_mapping
from lookout.zones.locate import DEFAULT_PRESET, fit_calibration
from lookout.zones.settings import CalibrationConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "points",
        type=Path,
        help="YAML with points: [{image: [x, y], lonlat: [lon, lat]}, ...] (>= 4).",
    )
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    p.add_argument("--camera", required=True, help="Camera id in the config.")
    p.add_argument(
        "--preset",
        default=DEFAULT_PRESET,
        help="PTZ preset token (default: 'default', a fixed camera).",
    )
    p.add_argument(
        "--write",
        action="store_true",
        help="Write the calibration into the config (the old file is kept as .bak).",
    )


def run(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    cfg.camera(args.camera)  # exists?
    cal_cfg = load_model(args.points, CalibrationConfig, "points")
    cal = fit_calibration(cal_cfg, str(args.points))
    px, m = cal.reprojection_errors_px(), cal.ground_errors_m()
    print(f"camera {args.camera}, preset {args.preset}: {len(cal_cfg.points)} point pairs")
    head = ("#", "image x", "image y", "lon", "lat", "err px", "err m")
    print(" ".join(f"{h:>{w}}" for h, w in zip(head, (3, 9, 9, 12, 11, 7, 7), strict=True)))
    for i, (p, e_px, e_m) in enumerate(zip(cal_cfg.points, px, m, strict=True)):
        print(
            f"{i:>3} {p.image[0]:>9.1f} {p.image[1]:>9.1f} {p.lonlat[0]:>12.7f} "
            f"{p.lonlat[1]:>11.7f} {e_px:>7.2f} {e_m:>7.3f}"
        )
    print(f"rms {cal.rms_px:.2f} px; worst {float(px.max()):.2f} px, {float(m.max()):.3f} m")
    if not args.write:
        print("(not written; add --write to store it in the config)")
        return 0
    data = read_mapping(args.config, "config")
    cameras = data.get("cameras") or []
    entry: dict[str, Any] = {
        "points": [{"image": list(p.image), "lonlat": list(p.lonlat)} for p in cal_cfg.points],
        "homography": [[float(v) for v in row] for row in cal.H],
        "origin": [cal.projection.lon0, cal.projection.lat0],
        "rms_px": round(cal.rms_px, 4),
    }
    for cam in cameras:
        if isinstance(cam, dict) and cam.get("id") == args.camera:
            cam.setdefault("calibration", {})[args.preset] = entry
            break
    else:  # cfg.camera() passed, so this cannot happen for a valid file
        raise ConfigError(f"{args.config}: camera {args.camera!r} not found")
    shutil.copy2(args.config, args.config.with_suffix(args.config.suffix + ".bak"))
    args.config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    load_config(args.config)  # the written file must still be valid
    print(f"written to {args.config} (previous version: {args.config}.bak; comments are not kept)")
    return 0
