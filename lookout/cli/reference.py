"""`lookout reference capture`: take a camera's current view as the reference of its
preset — at commissioning, after the view was re-aimed on purpose, or after an operator
rejected or closed a construction case.

Two kinds of file are written under `<out>/references/`: the preset's view reference
(`views/<camera>_<preset>.jpg`), against which video quality diagnosis measures drift
and learns its baseline (lookout/quality/monitor.py), for every camera and preset; and one per
construction-watch zone of the preset (`<camera>_<preset>_<zone>.jpg`). A running
daemon picks new files up at its next drift check or survey; without a view reference
it takes one itself after learning a preset (docs/ARCHITECTURE.md, "Video quality
diagnosis")."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2

from lookout.base.errors import ConfigError, SourceError
from lookout.cli.parsing import subcommands
from lookout.config.app import load_config
from lookout.quality.measures import save_view_reference, view_reference_path
from lookout.runtime.grab import grab
from lookout.streams.connection import is_file_source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    p = subcommands(parser, "reference_command").add_parser(
        "capture", help="Take the camera's current view as the reference."
    )
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    p.add_argument("--camera", required=True, help="Camera id in the config.")
    p.add_argument("--preset", help="PTZ preset the camera is at (default: fixed camera).")
    p.add_argument("--source", help="Video file or stream URL (default: the camera's).")
    p.add_argument("--out", type=Path, help="Output folder (default: daemon.out_dir).")
    p.add_argument("--timeout", type=float, default=20.0, help="Seconds to wait for a frame.")


def run(args: argparse.Namespace) -> int:
    """`reference capture` (its only subcommand)."""
    cfg = load_config(args.config)
    cam = cfg.camera(args.camera)
    # The preset token is part of the file names written (docs/OPERATIONS.md "Troubleshooting").
    if args.preset is not None and any(c in args.preset for c in "/\\\0"):
        raise ConfigError(f"--preset {args.preset!r}: a preset token cannot hold / or \\")
    zones = [
        z
        for z in cam.zones
        if z.preset == args.preset and any(p.type == "illegal_construction" for p in z.policies)
    ]
    source = args.source or cam.source
    if not source:
        raise ConfigError(f"{args.config}: camera {cam.id} has no source; give --source")
    if is_file_source(source) and not args.source:
        source = str(cfg.path(source))
    frame = grab(source, cam.id, args.timeout, cam.stream)
    out = (args.out or cfg.path(cfg.daemon.out_dir)) / "references"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"{out}: cannot make the folder ({exc.strerror})") from None
    view = view_reference_path(out, cam.id, args.preset or "default")
    save_view_reference(view, frame.image)
    print(f"view reference for {cam.id} preset {args.preset or 'default'}: {view}")
    for zone in zones:
        path = out / f"{cam.id}_{args.preset or 'default'}_{zone.id}.jpg"
        tmp = path.with_suffix(".tmp.jpg")
        cv2.imwrite(str(tmp), frame.image)
        tmp.replace(path)
        print(f"reference for {cam.id} zone {zone.id}: {path}")
    return 0
