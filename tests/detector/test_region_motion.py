"""Per-region motion gating on real pixels: a tower view where one part of the scene
moves (vtest's walkers) and the rest stands still (a parked van), as H.264.

The clip tiles vtest at scale 0.5 into 1920x1080; tile (0, 0) plays the footage, every
other tile holds its first picture. Encoded with libx264 and decoded again, so the
still tiles carry real compression noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from lookout.clips.far_view import van_box
from lookout.clips.media import vtest_avi
from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.motion import MotionGate
from lookout.detector.preprocess import Image, as_picture, letterbox_batch
from lookout.detector.region_motion import RegionMotion
from lookout.detector.regions import Crop, RegionPlan, plan_regions
from lookout.detector.settings import MotionConfig
from lookout.streams.frame import Frame
from lookout.streams.picture import YuvPicture
from tests.support.pictures import Counting, full_range_yuv

FPS = 4
SECONDS = 12
W, H, SCALE = 1920, 1080, 0.5
TILE_W, TILE_H = round(768 * SCALE), round(576 * SCALE)
#: Where vtest's people walk, in tile (0, 0).
WALK_ZONE = [(40.0, 150.0), (340.0, 150.0), (340.0, 280.0), (40.0, 280.0)]


def _van_zone() -> list[tuple[float, float]]:
    x1, y1, x2, y2 = van_box(SCALE, (2, 2))
    return [(x1 - 12, y1 - 6), (x2 + 12, y1 - 6), (x2 + 12, y2 + 6), (x1 - 12, y2 + 6)]


@pytest.fixture(scope="module")
def frozen_view(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The composite clip (see the module docstring), 12 s at 4 fps, 1 s GOP."""
    dst = tmp_path_factory.mktemp("region-motion") / "frozen_view.mp4"
    reps = (-(-H // TILE_H), -(-W // TILE_W))
    with av.open(str(vtest_avi())) as inp, av.open(str(dst), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=FPS)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        v.options = {"preset": "ultrafast", "x264-params": f"keyint={FPS}:scenecut=0:bframes=0"}
        canvas: np.ndarray | None = None
        for i, frame in enumerate(inp.decode(video=0)):
            if i % 2:  # vtest is 10 fps; the clip plays it at 4 fps, 2.5x faster
                continue
            n = i // 2
            if n >= FPS * SECONDS:
                break
            src = frame.to_ndarray(format="bgr24")
            img = cv2.resize(src, (TILE_W, TILE_H), interpolation=cv2.INTER_AREA)
            if canvas is None:
                canvas = np.ascontiguousarray(np.tile(img, (*reps, 1))[:H, :W])
            canvas[:TILE_H, :TILE_W] = img
            vf = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
            vf.pts, vf.time_base = n, Fraction(1, FPS)
            out.mux(v.encode(vf))
        out.mux(v.encode(None))
    return dst


def _frames(path: Path, kind: str = "bgr") -> list[Image]:
    """The clip's pictures: BGR arrays, the decoder's 4:2:0 planes as the readers hand
    them over (the gates then read the luma, docs/ARCHITECTURE.md "Pictures"), or the
    full-range (yuvj420p) planes of the same pictures."""
    with av.open(str(path)) as c:
        if kind == "bgr":
            return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
        if kind == "yuvj420p":
            return [full_range_yuv(f.to_ndarray(format="bgr24")) for f in c.decode(video=0)]
        return [
            YuvPicture.from_i420(f.to_ndarray(format="yuv420p"), f.width, f.height)
            for f in c.decode(video=0)
        ]


@pytest.mark.parametrize("kind", ["bgr", "yuv420p", "yuvj420p"])
def test_each_crop_is_gated_on_its_own_and_small_walkers_count(
    frozen_view: Path, kind: str
) -> None:
    frames = _frames(frozen_view, kind)
    assert len(frames) == FPS * SECONDS
    zones = [WALK_ZONE, _van_zone()]
    plan = plan_regions(W, H, zones, input_size=416, min_object_px=24, overlap_px=96, max_crops=12)
    assert len(plan.crops) == 2
    walk, van = plan.crops  # sorted top to bottom: tile (0, 0) first
    assert walk.x < TILE_W and van.x > TILE_W
    settings = MotionConfig(enabled=True, max_interval_s=2.0)
    regions = RegionMotion(settings, plan.crops, plan.smallest_px)
    # Native crops see objects from 36 px; such an object spans 6 motion pixels.
    assert (plan.smallest_px, regions.factor) == (36.0, 6)
    whole = MotionGate(settings, (H, W), zones)
    runs, moving, whole_motion = [], [], []
    for n, image in enumerate(frames):
        d = regions.update(image, n / FPS)
        runs.append(d.run)
        moving.append(d.moving)
        whole_motion.append(whole.update(image, n / FPS).motion)
    walk_moving = np.mean([m[0] for m in moving[1:]])
    # The walkers (about 15 x 40 px) move the walkway crop in nearly every frame...
    assert walk_moving >= 0.8
    # ...while the still tile, compression noise and all, never counts as motion...
    assert not any(m[1] for m in moving)
    # ...and runs only on its re-check interval (2 s = every 8th frame), for the van.
    assert [n for n, r in enumerate(runs) if r[1]] == list(range(0, FPS * SECONDS, 2 * FPS))
    # A 96 px-wide motion image of the whole view misses the same walkers.
    assert np.mean(whole_motion[1:]) <= walk_moving / 2
    assert regions.runs + regions.skips == 2 * len(frames)


def test_a_1080p_picture_is_converted_only_inside_the_crops_at_the_models_size(
    frozen_view: Path,
) -> None:
    """The camera path on the decoded 1080p planes: the region gate reads the luma, the
    batcher hands the detector each crop as a `Cropped` picture, and the letterbox
    asks it for the crop at the model's size. Nothing else of the picture is
    converted, and the detector's input is the BGR frame's within rounding."""
    pictures = _frames(frozen_view, "yuv420p")[: FPS * 2]
    zones = [WALK_ZONE, _van_zone()]
    plan = plan_regions(W, H, zones, input_size=416, min_object_px=24, overlap_px=96, max_crops=12)
    regions = RegionMotion(
        MotionConfig(enabled=True, max_interval_s=2.0), plan.crops, plan.smallest_px
    )
    inputs: list[np.ndarray] = []

    def detect(images: Sequence[Image]) -> list[Detections]:
        buf = np.empty((len(images), 3, 416, 416), np.float32)
        letterbox_batch(images, buf, placement="top_left", color_order="bgr", scale=1.0)
        inputs.extend(buf)
        return [Detections.empty() for _ in images]

    batcher: MicroBatcher[str] = MicroBatcher(
        detect,
        lambda _k, _f, _d: None,
        max_batch=4,
        max_wait_s=0.0,
        gate=lambda _k, f: regions.update(f.picture, f.monotonic_s).any,
        plan=lambda _k, _f: plan,
    )
    counted = [Counting(p) for p in pictures if isinstance(p, YuvPicture)]
    for i, picture in enumerate(counted):
        frame = Frame("tower", i, i / FPS, datetime.now(UTC), i / FPS, picture=picture)
        batcher.run_batch([("tower", frame)])
    crops = [((c.x, c.y, c.width, c.height), (416, 416)) for c in plan.crops]
    assert all(c.width == c.height == 416 for c in plan.crops)  # native crops
    assert sum(p.whole for p in counted) == 0
    asked = [part for p in counted for part in p.parts]
    assert len(asked) == len(inputs) >= len(counted) and set(asked) <= set(crops)
    # The first frame's crops against the letterbox of its BGR conversion.
    first = counted[0].picture
    bgr = [c.view(first.image()) for c in plan.crops]
    want = np.empty((len(bgr), 3, 416, 416), np.float32)
    letterbox_batch(bgr, want, placement="top_left", color_order="bgr", scale=1.0)
    diffs = [float(np.mean(np.abs(got - ref))) for got, ref in zip(inputs, want, strict=False)]
    print(f"\n{len(asked)} crops converted; mean abs diff to BGR's letterbox {diffs}")
    assert max(diffs) < 2.0  # measured 1.30 and 0.78 (0-255 levels)


def _boxes(*rows: tuple[float, float, float, float]) -> Detections:
    xyxy = np.array(rows, dtype=np.float32).reshape(-1, 4)
    n = len(xyxy)
    return Detections.create(xyxy, np.full(n, 0.9, np.float32), np.zeros(n, np.int64))


def _frame(i: int) -> Frame:
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 40:] = i + 1  # the right crop's pixels say which frame they are
    return Frame("c", i, float(i), datetime.now(UTC), float(i), image)


def test_a_still_crop_is_not_inferred_and_its_last_boxes_stand() -> None:
    crops = (Crop(0, 0, 40, 40), Crop(40, 0, 40, 40))
    sizes: list[int] = []

    def detect(images: Sequence[Image]) -> list[Detections]:
        sizes.append(len(images))
        # An object at (5, 5) in crop coordinates, placed by the picture's value so a
        # reused box can be told from a fresh one.
        values = [int(as_picture(im).bgr()[0, 0, 0]) for im in images]
        return [_boxes((v, 5, v + 10, 15)) for v in values]

    got: list[Detections | None] = []
    still = [frozenset(), frozenset({1}), frozenset({0, 1}), frozenset({0})]
    batcher: MicroBatcher[str] = MicroBatcher(
        detect,
        lambda _k, _f, d: got.append(d),
        max_batch=4,
        max_wait_s=0.0,
        plan=lambda _k, f: RegionPlan(crops, False, 1.0, 36.0, still=still[f.index]),
    )
    for i in range(4):
        batcher.run_batch([("c", _frame(i))])
    # Both crops, then the left one only, then none (no detector call), then the right.
    assert sizes == [2, 1, 1]
    assert (batcher.stats.crops_run, batcher.stats.crops_reused) == (4, 4)
    right_x1 = [float(d.xyxy[d.xyxy[:, 0] >= 40][0, 0]) for d in got if d is not None]
    # The right crop's box is frame 0's (x1 = 40 + 1) until frame 3 runs it (40 + 4).
    assert right_x1 == [41.0, 41.0, 41.0, 44.0]
    # Left crop boxes in frame coordinates are there on every frame.
    assert all(int(np.count_nonzero(d.xyxy[:, 0] < 40)) == 1 for d in got if d is not None)


def test_a_still_crop_never_run_yet_runs_anyway() -> None:
    crops = (Crop(0, 0, 40, 40), Crop(40, 0, 40, 40))
    sizes: list[int] = []

    def detect(images: Sequence[Image]) -> list[Detections]:
        sizes.append(len(images))
        return [_boxes((1, 1, 9, 9)) for _ in images]

    batcher: MicroBatcher[str] = MicroBatcher(
        detect,
        lambda _k, _f, _d: None,
        max_batch=4,
        max_wait_s=0.0,
        plan=lambda _k, _f: RegionPlan(crops, False, 1.0, 36.0, still=frozenset({1})),
    )
    batcher.run_batch([("c", _frame(0))])
    assert sizes == [2]


def _replay(clip: Path, tmp: Path, motion: bool) -> tuple[int, int, int]:
    """Replay the composite clip with a no-parking zone on the still van and a
    walkway zone; returns (parking cases, crops run, crops reused)."""
    from lookout.base.paths import REPO_ROOT
    from lookout.config.app import load_config
    from lookout.runtime.replay import ReplayPipeline

    van = [[round(x), round(y)] for x, y in _van_zone()]
    walk = [[round(x), round(y)] for x, y in WALK_ZONE]
    manifest = REPO_ROOT / "models" / "yolox_nano.yaml"
    cfg_path = tmp / f"motion-{motion}.yaml"
    cfg_path.write_text(
        f"""
site: {{timezone: Asia/Shanghai, replay_start: "2026-11-26T09:00:00+08:00"}}
model: {{manifest: {manifest}}}
cameras:
  - id: tower
    analysis_fps: {FPS}
    detect: {{mode: regions, min_object_px: 24}}
    motion: {{enabled: {str(motion).lower()}, max_interval_s: 2}}
    zones:
      - id: kerb
        polygon: {van}
        policies:
          - {{type: illegal_parking, classes: [vehicle], min_confidence: 0.35, dwell_s: 6}}
      - id: walkway
        polygon: {walk}
        policies:
          - {{type: illegal_parking, classes: [vehicle], dwell_s: 6}}
sinks: [{{type: sqlite}}]
"""
    )
    out = tmp / f"out-{motion}"
    pipe = ReplayPipeline.from_config(
        load_config(cfg_path), "tower", out, config_source=str(cfg_path)
    )
    stats = pipe.run(pipe.open_reader(clip))
    return stats.cases_by_type["illegal_parking"], stats.crops_run, stats.crops_reused


def test_the_parked_van_is_confirmed_on_the_recheck_interval(
    frozen_view: Path, tmp_path: Path
) -> None:
    """With per-region gating the still van's crop runs every 2 s only, yet the dwell
    holds and gives the same one case as without gating; the walkway crop keeps
    running on its walkers."""
    cases, run, reused = _replay(frozen_view, tmp_path, motion=True)
    base_cases, base_run, base_reused = _replay(frozen_view, tmp_path, motion=False)
    assert (base_cases, base_reused) == (1, 0)
    assert base_run == 2 * FPS * SECONDS
    assert cases == 1
    # The van crop runs 6 times in 12 s (every 8th frame); the walkway crop every frame.
    assert reused == FPS * SECONDS - SECONDS // 2
    assert run + reused == 2 * FPS * SECONDS
