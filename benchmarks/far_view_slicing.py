"""Region plans against SAHI-style slicing on the far-view clips: images per frame and
how often the parked van in the zone is found.

    .venv/bin/python benchmarks/far_view_slicing.py [SCENARIO ...] [--frames N]
        [--json out/bench/far_view_slicing.json]

For each far-view scenario (default: every scenarios/far-view-*.yaml) the analysed
frames of its clip (the camera's analysis_fps, as the replay takes them; the first
`--frames` of them if given, from a clip only as long as they need) are detected three
ways with the scenario config's model (lookout.runtime.analysis.build_detector):

- `whole`: the frame letterboxed into the model input (the "before");
- `regions`: the crops the analyser plans for the camera (lookout.runtime.analysis.camera_plan,
  the scenario config's `detect`);
- `sahi`: SAHI-style slicing of the whole frame, 416x416 tiles overlapping by 20%
  plus a full-frame pass (lookout.clips.far_view.sahi_plan; 19 images on 1080p, 85 on 4K).

Crops are merged by `merge_regions` as the micro-batcher merges them. The van counts
as found in a frame when a detection of the zone's policy classes (at their
min_confidence) overlaps its box by IoU >= 0.3 — the scenario's `seen` object, the
same test `lookout eval` reports as `detected_fraction`. Printed as a markdown table;
`--json` writes the rows. docs/ARCHITECTURE.md, "Seeing small things".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.base.secrets import expand_path
from lookout.base.yamlfile import load_model
from lookout.clips.far_view import PlanScore, far_view_clip, sahi_plan, score_plans, seen_target
from lookout.config.app import load_config
from lookout.detector.regions import RegionPlan
from lookout.evaluation.score import Scenario
from lookout.runtime.analysis import camera_plan
from lookout.runtime.services import build_detector
from lookout.streams.file_reader import FileReader
from lookout.zones.locate import project_ground_zones

METHODS = ("whole", "regions", "sahi")


@dataclass(slots=True)
class ClipRow:
    """One clip: its size, the van's width, and per method images per frame and the
    frames the van was found in."""

    scenario: str
    size: str
    van_px: float
    frames: int
    images_per_frame: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def rate(self, method: str) -> float:
        return self.found[method] / self.frames if self.frames else 0.0


def compare(path: Path, frames: int | None = None) -> ClipRow:
    """Detect the analysed frames of the far-view scenario at `path` whole, by its
    region plan and by SAHI-style slicing; count the frames the van was found in."""
    t0 = time.perf_counter()
    sc = load_model(path, Scenario, "scenario")
    if sc.far_view is None or sc.seen is None or sc.config is None or sc.camera is None:
        raise ConfigError(f"{path}: needs far_view, seen, config and camera")
    config = expand_path(sc.config, path.resolve().parent)
    cfg = load_config(config)
    camera = project_ground_zones(cfg.camera(sc.camera))  # as the analyser has it
    detector = build_detector(cfg, str(config))
    fv = sc.far_view
    target = seen_target(
        sc.seen, camera, detector.class_names, detector.roles, scale=fv.scale, where=str(path)
    )
    input_size = detector.crop_size
    plans: dict[str, RegionPlan | None] = {
        "whole": None,
        "regions": camera_plan(camera, fv.width, fv.height, None, input_size),
        "sahi": sahi_plan(fv.width, fv.height, input_size),
    }
    # With `frames`, only the seconds they need of the clip (made and cached on its own).
    seconds = fv.seconds if frames is None else min(fv.seconds, frames / camera.analysis_fps + 1)
    video = far_view_clip(fv.width, fv.height, fv.scale, seconds=math.ceil(seconds))
    reader = FileReader(video, camera.id, analysis_fps=camera.analysis_fps, start_time=sc.start)
    images = (f.image for f in islice(reader, frames))
    scores: dict[str, PlanScore] = score_plans(detector, images, plans, target)
    x1, _, x2, _ = target.box
    return ClipRow(
        scenario=sc.name,
        size=f"{fv.width}x{fv.height}",
        van_px=round(x2 - x1, 1),
        frames=scores["whole"].frames,
        images_per_frame={m: s.images_per_frame for m, s in scores.items()},
        found={m: s.found for m, s in scores.items()},
        seconds=round(time.perf_counter() - t0, 1),
    )


def table(rows: list[ClipRow]) -> str:
    head = " | ".join(f"{m} images/frame | {m} van found" for m in METHODS)
    lines = [
        f"| clip | van px | frames | {head} |",
        "|---|---|---|" + "---|" * (2 * len(METHODS)),
    ]
    for r in rows:
        cells = " | ".join(
            f"{r.images_per_frame[m]} | {r.found[m]}/{r.frames} ({r.rate(m):.0%})" for m in METHODS
        )
        lines.append(f"| {r.scenario} ({r.size}) | {r.van_px:g} | {r.frames} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument(
        "scenarios",
        nargs="*",
        type=Path,
        default=sorted((REPO_ROOT / "scenarios").glob("far-view-*.yaml")),
        help="Far-view scenario files (default: scenarios/far-view-*.yaml).",
    )
    p.add_argument("--frames", type=int, help="Analysed frames per clip (default: all).")
    p.add_argument("--json", type=Path, help="Write the rows as JSON here.")
    args = p.parse_args(argv)
    rows = []
    for path in args.scenarios:
        rows.append(compare(path, args.frames))
        print(f"{rows[-1].scenario}: {rows[-1].seconds} s", file=sys.stderr)
    print(table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
