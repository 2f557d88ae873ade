"""`lookout replay VIDEO --config FILE [--camera ID] [--out DIR]`: analyse a recorded file
as fast as it decodes, with a progress bar; write every draft case to `OUT/cases.jsonl`,
the outbox `OUT/cases.db` and evidence under `OUT/evidence/`; print a summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lookout.base.errors import LookoutError
from lookout.cli.parsing import iso_time
from lookout.config.app import load_config


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("video", type=Path, help="Video file (anything FFmpeg reads).")
    p.add_argument("--config", required=True, type=Path, help="Configuration YAML.")
    p.add_argument("--camera", help="Camera id in the config (needed when it has several).")
    p.add_argument("--out", type=Path, default=Path("out"), help="Output folder (default: out).")
    p.add_argument("--start", type=iso_time, help="Wall-clock time of the first frame (ISO 8601).")
    p.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="Always show the progress bar (default: only on a terminal).",
    )
    p.add_argument(
        "--no-progress", dest="progress", action="store_false", help="Never show the progress bar."
    )
    p.add_argument(
        "--around",
        type=int,
        default=0,
        metavar="N",
        help="With dataset.keep: also keep N clean frames (1..8) around each new case, "
        "sampled from the file (docs/LEARNING.md).",
    )
    p.add_argument(
        "--around-spread",
        type=float,
        default=10.0,
        metavar="S",
        help="...at most S seconds before and after the case's frame (default 10).",
    )


def _choose_camera(cfg_cameras: Sequence[str], wanted: str | None, config: Path) -> str:
    if wanted is not None:
        if wanted not in cfg_cameras:
            raise LookoutError(
                f"{config}: --camera {wanted!r} is not in the config "
                f"(known: {', '.join(cfg_cameras)})"
            )
        return wanted
    if len(cfg_cameras) == 1:
        return cfg_cameras[0]
    raise LookoutError(
        f"{config}: the config has {len(cfg_cameras)} cameras; choose one with --camera "
        f"({', '.join(cfg_cameras)})"
    )


def _check_around(args: argparse.Namespace, keep: bool) -> None:
    if not args.around:
        return
    from lookout.cases.evidence import AROUND_MAX

    if not 1 <= args.around <= AROUND_MAX:
        raise LookoutError(f"--around {args.around}: must be within 1..{AROUND_MAX}")
    if args.around_spread <= 0:
        raise LookoutError(f"--around-spread {args.around_spread:g}: must be above 0")
    if not keep:
        raise LookoutError(
            f"{args.config}: --around needs dataset: {{keep: true}} (the frames are kept"
            " beside each case's own)"
        )


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lookout.runtime.replay import ReplayPipeline
    from lookout.streams.file_reader import FileReader

    video: Path = args.video
    FileReader.probe(video)  # fail fast on a missing or unreadable file
    cfg = load_config(args.config)
    camera_id = _choose_camera([c.id for c in cfg.cameras], args.camera, args.config)
    _check_around(args, cfg.dataset.keep)
    pipeline = ReplayPipeline.from_config(cfg, camera_id, args.out, config_source=str(args.config))
    reader = pipeline.open_reader(video, args.start)
    total = None
    if reader.info.duration_s:
        total = int(reader.info.duration_s * min(pipeline.camera.analysis_fps, reader.info.fps)) + 1
    disable = None if args.progress is None else not args.progress
    with tqdm(
        total=total,
        unit="frame",
        desc=f"replay {camera_id}",
        disable=disable,
        file=sys.stderr,
        leave=False,
    ) as bar:
        stats = pipeline.run(reader, on_frame=lambda _f: bar.update(1))
    by_type = ", ".join(f"{k}={v}" for k, v in sorted(stats.cases_by_type.items())) or "none"
    print(
        f"video:           {video} ({reader.info.codec} {reader.info.width}x{reader.info.height}"
        f" @ {reader.info.fps:g} fps)"
    )
    print(f"camera:          {camera_id}")
    print(f"frames read:     {stats.frames_read}")
    if reader.decode_errors:
        # Damaged footage is replayed as far as it decodes; the damage is counted here.
        print(
            f"damaged:         {reader.decode_errors} decoder error(s): pictures concealed "
            "or skipped (-vv names them)"
        )
    print(
        f"frames analysed: {stats.frames_analysed} ({stats.frames_inferred} through the detector"
        f" in {stats.inference_calls} calls)"
    )
    print(f"detections:      {stats.detections}")
    held = f", {stats.held} held by the second look" if stats.held else ""
    print(
        f"cases:           {len(stats.cases)} new ({by_type}{held}); "
        f"{stats.merged_events} repeat events merged"
    )
    print(
        f"speed:           {stats.speed_x_realtime:.1f}x real time, "
        f"{stats.analysed_fps:.1f} analysed frames/s ({stats.elapsed_s:.2f} s)"
    )
    if args.around:
        from lookout.dataset.around import sample_around

        kept = sample_around(
            video,
            stats.cases,
            out_dir=args.out,
            detector=pipeline.detector,
            start_time=reader.start_time,
            count=args.around,
            spread_s=args.around_spread,
            jpeg_quality=cfg.dataset.jpeg_quality,
        )
        print(f"kept around:     {kept} clean frame(s) around {len(stats.cases)} case(s)")
    print(f"output:          {args.out / 'cases.jsonl'}, {args.out / 'evidence'}/")
    return 0
