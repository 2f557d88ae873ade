"""MotionGate on synthetic frames with explicit timestamps, and on real footage."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookout.detector.motion import MotionConfig, MotionDecision, MotionGate
from lookout.detector.preprocess import Image
from lookout.streams.file_reader import FileReader
from lookout.streams.frame import Frame
from lookout.streams.picture import BgrPicture, Picture, YuvPicture
from tests.support.pictures import KINDS, Counting, as_picture, full_range_yuv

H, W = 240, 320
ON = MotionConfig(enabled=True, max_interval_s=5.0)


def scene(shape: tuple[int, int] = (H, W)) -> np.ndarray:
    """A static, textured, noise-free BGR scene (H, W, 3) uint8: smooth gradients."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    # Coordinates relative to the frame so a larger rendering shows the same view.
    u, v = x / w, y / h
    b = 60 + 80 * u
    g = 90 + 60 * v
    r = 100 + 40 * np.sin(6.0 * u) * np.cos(4.0 * v)
    return np.clip(np.dstack([b, g, r]), 0, 255).astype(np.uint8)


def with_square(base: np.ndarray, x: int, y: int, size: int = 40) -> np.ndarray:
    """`base` with a bright square whose top-left corner is (x, y)."""
    img = base.copy()
    img[y : y + size, x : x + size] = (250, 250, 250)
    return img


def run_sequence(
    gate: MotionGate,
    frames: list[np.ndarray],
    step_s: float = 0.5,
    t0: float = 0.0,
    kind: str | None = None,
) -> list[MotionDecision]:
    """The gate's decisions on `frames` (BGR arrays), handed over as they are or as
    pictures of `kind` (tests/support/pictures.py: BGR, yuv420p, yuvj420p)."""
    images: list[Image] = (
        list(frames) if kind is None else [as_picture(img, kind) for img in frames]
    )
    return [gate.update(img, t0 + i * step_s) for i, img in enumerate(images)]


# -- settings and geometry --------------------------------------------------------------


def test_defaults_are_disabled_and_documented_values() -> None:
    s = MotionConfig()
    assert (s.enabled, s.width, s.threshold, s.min_area) == (False, 96, 25, 0.002)
    assert (s.alpha, s.max_interval_s, s.blur) == (0.2, 5.0, 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"width": 2},
        {"threshold": 256},
        {"threshold": -1},
        {"min_area": 1.5},
        {"alpha": 0.0},
        {"alpha": 1.5},
        {"max_interval_s": -1.0},
        {"max_interval_s": float("nan")},
        {"blur": 4},
        {"blur": -1},
    ],
)
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        MotionConfig(**kwargs)  # type: ignore[arg-type]


def test_polygon_with_fewer_than_three_points_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        MotionGate(ON, (H, W), [[(0.0, 0.0), (10.0, 10.0)]])
    with pytest.raises(ValueError, match="positive"):
        MotionGate(ON, (0, W))


@pytest.mark.parametrize(
    ("shape", "small"),
    [
        ((240, 320), (72, 96)),
        ((576, 768), (72, 96)),
        ((1080, 1920), (54, 96)),
        ((50, 60), (50, 60)),
    ],
)
@pytest.mark.parametrize("kind", [None, *KINDS])
def test_small_grey_shape_dtype_and_values(
    shape: tuple[int, int], small: tuple[int, int], kind: str | None
) -> None:
    """The same grey levels from a BGR frame and from a YUV picture's luma (expanded to
    0-255 for limited range), within a level."""
    gate = MotionGate(ON, shape)
    img = np.empty((*shape, 3), dtype=np.uint8)
    img[:] = (30, 120, 200)  # BGR
    grey = gate.small_grey(img if kind is None else as_picture(img, kind))
    assert grey.shape == small == gate.small_shape
    assert grey.dtype == np.float32
    expected = 0.114 * 30 + 0.587 * 120 + 0.299 * 200  # ITU-R BT.601 luma
    np.testing.assert_allclose(grey, expected, atol=1.0)


def test_small_grey_keeps_a_left_right_split() -> None:
    gate = MotionGate(ON, (1080, 1920))
    img = np.zeros((1080, 1920, 3), dtype=np.uint8)
    img[:, :960] = 200
    grey = gate.small_grey(img)
    assert np.all(grey[:, :48] > 190) and np.all(grey[:, 48:] < 10)


def test_region_mask_is_rasterised_at_small_size() -> None:
    left_half = [(0.0, 0.0), (W / 2, 0.0), (W / 2, float(H)), (0.0, float(H))]
    gate = MotionGate(ON, (H, W), [left_half])
    assert gate.mask.shape == (72, 96) and gate.mask.dtype == bool
    cols = np.asarray(gate.mask.any(axis=0))
    assert cols[:47].all() and not cols[50:].any()
    # A region thinner than one small pixel still watches at least one pixel.
    sliver = [(100.0, 100.0), (101.0, 100.0), (101.0, 101.0)]
    assert MotionGate(ON, (H, W), [sliver]).mask.sum() >= 1
    assert MotionGate(ON, (H, W)).mask.all()


# -- decisions ------------------------------------------------------------------------


def test_static_scene_first_runs_then_skips_until_max_interval() -> None:
    gate = MotionGate(ON, (H, W))
    img = scene()
    times = [0.0, 1.0, 2.0, 4.9, 5.0, 6.0, 9.99, 10.0, 10.5]
    decisions = [gate.update(img, t) for t in times]
    assert [d.reason for d in decisions] == [
        "first", "still", "still", "still", "interval", "still", "still", "interval", "still",
    ]  # fmt: skip
    assert [d.run_detector for d in decisions] == [
        True, False, False, False, True, False, False, True, False,
    ]  # fmt: skip
    assert all(not d.motion and d.changed_fraction == 0.0 for d in decisions)
    assert (gate.frames, gate.runs, gate.skips) == (9, 3, 6)


def test_interval_counts_from_the_last_run_of_any_reason() -> None:
    gate = MotionGate(ON, (H, W))
    base = scene()
    assert gate.update(base, 0.0).reason == "first"
    # A square appears at t=3 and stays: it triggers motion until the running average
    # absorbs it (a few frames at alpha=0.2), then the scene is still again.
    still = with_square(base, 100, 100)
    times = [3.0 + 0.25 * i for i in range(40)]  # 3.0 .. 12.75
    decisions = [gate.update(still, t) for t in times]
    reasons = [d.reason for d in decisions]
    n_motion = reasons.index("still")
    assert 1 <= n_motion <= 10
    assert set(reasons[:n_motion]) == {"motion"}
    last_motion_t = times[n_motion - 1]
    first_interval = reasons.index("interval")
    assert times[first_interval] == last_motion_t + ON.max_interval_s
    assert set(reasons[n_motion:first_interval]) == {"still"}


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_moving_square_runs_every_frame(kind: str | None) -> None:
    gate = MotionGate(ON, (H, W))
    base = scene()
    frames = [with_square(base, 10 + 30 * i, 20 + 15 * i) for i in range(9)]
    decisions = run_sequence(gate, frames, kind=kind)
    assert decisions[0].reason == "first"
    assert all(d.run_detector and d.motion and d.reason == "motion" for d in decisions[1:])
    # Old and new square positions both differ from the background: about 2 x 40x40 / 320x240.
    for d in decisions[1:]:
        assert 0.01 < d.changed_fraction < 0.1


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_small_global_flicker_is_not_motion(kind: str | None) -> None:
    gate = MotionGate(ON, (H, W))
    base = scene()
    brighter = np.clip(base.astype(np.int16) + 3, 0, 255).astype(np.uint8)
    frames = [base if i % 2 == 0 else brighter for i in range(12)]
    decisions = run_sequence(gate, frames, step_s=0.25, kind=kind)  # 2.75 s < max_interval_s
    assert decisions[0].reason == "first"
    assert all(d.reason == "still" and d.changed_fraction == 0.0 for d in decisions[1:])


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_motion_only_counts_inside_the_regions(kind: str | None) -> None:
    left_half = [(0.0, 0.0), (W / 2, 0.0), (W / 2, float(H)), (0.0, float(H))]
    gate = MotionGate(ON, (H, W), [left_half])
    base = scene()
    # A square moving down the right half: skipped.
    outside = [base] + [with_square(base, 230, 10 + 40 * i) for i in range(5)]
    decisions = run_sequence(gate, outside, kind=kind)
    assert decisions[0].reason == "first"
    assert all(not d.run_detector and d.reason == "still" for d in decisions[1:])
    assert all(d.changed_fraction == 0.0 for d in decisions[1:])
    # The same square moving down the left half: runs.
    inside = [with_square(base, 40, 10 + 40 * i) for i in range(5)]
    decisions = run_sequence(gate, inside, t0=3.0, kind=kind)
    assert all(d.run_detector and d.reason == "motion" for d in decisions)


def test_min_area_is_a_fraction_of_the_watched_area() -> None:
    base = scene()
    moved = with_square(base, 100, 100, size=20)  # ~0.5% of the frame
    loose = MotionGate(MotionConfig(enabled=True, min_area=0.002), (H, W))
    strict = MotionGate(MotionConfig(enabled=True, min_area=0.05), (H, W))
    for gate in (loose, strict):
        gate.update(base, 0.0)
    assert loose.update(moved, 0.5).reason == "motion"
    d = strict.update(moved, 0.5)
    assert d.reason == "still" and 0.0 < d.changed_fraction < 0.05


def test_disabled_gate_always_runs() -> None:
    gate = MotionGate(MotionConfig(enabled=False), (H, W))
    img = scene()
    decisions = [gate.update(img, 0.1 * i) for i in range(5)]
    assert all(d.run_detector and d.reason == "disabled" for d in decisions)
    assert (gate.frames, gate.runs, gate.skips) == (5, 5, 0)


def test_resolution_change_resets_and_scales_regions() -> None:
    right_half = [(W / 2, 0.0), (float(W), 0.0), (float(W), float(H)), (W / 2, float(H))]
    gate = MotionGate(ON, (H, W), [right_half])
    assert gate.update(scene(), 0.0).reason == "first"
    assert gate.update(scene(), 1.0).reason == "still"
    big = (2 * H, 2 * W)  # the camera came back at twice the resolution
    d = gate.update(scene(big), 2.0)
    assert d.reason == "first" and d.run_detector
    assert gate.frame_shape == big and gate.small_shape == (72, 96)
    assert gate.update(scene(big), 2.5).reason == "still"
    # The region followed the frame: the right half is still the watched half.
    assert gate.update(with_square(scene(big), 100, 100, 80), 3.0).reason == "still"
    assert gate.update(with_square(scene(big), 500, 300, 80), 3.5).reason == "motion"
    assert (gate.frames, gate.runs, gate.skips) == (6, 3, 3)


def test_reset_makes_the_next_frame_first() -> None:
    gate = MotionGate(ON, (H, W))
    img = scene()
    gate.update(img, 0.0)
    assert gate.update(img, 1.0).reason == "still"
    gate.reset()
    assert gate.update(img, 1.5).reason == "first"
    assert gate.frames == 3  # counters are cumulative


def test_clock_going_backwards_runs_once_then_counts_from_there() -> None:
    gate = MotionGate(ON, (H, W))
    img = scene()
    gate.update(img, 100.0)
    assert gate.update(img, 101.0).reason == "still"
    assert gate.update(img, 3.0).reason == "interval"  # e.g. stream PTS restarted
    assert gate.update(img, 4.0).reason == "still"
    assert gate.update(img, 8.0).reason == "interval"


def test_rejects_a_non_bgr_image() -> None:
    gate = MotionGate(ON, (H, W))
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        gate.update(np.zeros((H, W), dtype=np.uint8), 0.0)


# -- real footage ---------------------------------------------------------------------


def test_vtest_parked_van_region_is_mostly_skipped(assets: Path) -> None:
    """vtest.avi (768x576, 79.5 s): people walk across the square, a van stands still
    top right. At 2 frames/s the van's parking strip is mostly still; the whole frame is not.
    The gates read the decoded luma (no conversion)."""
    reader = FileReader(
        assets / "footage" / "vtest.avi",
        "vtest",
        analysis_fps=2.0,
        start_time=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    )
    settings = MotionConfig(enabled=True, max_interval_s=5.0)
    strip = [[(600.0, 62.0), (730.0, 62.0), (730.0, 118.0), (600.0, 118.0)]]
    van = MotionGate(settings, (576, 768), strip)
    whole = MotionGate(settings, (576, 768))
    van_reasons: Counter[str] = Counter()
    whole_reasons: Counter[str] = Counter()
    elapsed: list[float] = []
    last_run = 0.0
    longest_gap = 0.0
    for frame in reader:  # the pictures as the reader hands them over (yuv420p planes)
        d = van.update(frame.picture, frame.pts_s)
        van_reasons[d.reason] += 1
        if d.run_detector:
            longest_gap = max(longest_gap, frame.pts_s - last_run)
            last_run = frame.pts_s
        start = time.perf_counter()
        d = whole.update(frame.picture, frame.pts_s)
        elapsed.append(time.perf_counter() - start)
        whole_reasons[d.reason] += 1

    n = van.frames
    assert n == whole.frames >= 150
    ms = 1e3 * float(np.median(elapsed))
    print(
        f"\nvtest 768x576, {n} frames at 2 fps: update {ms:.3f} ms median "
        f"({1e3 * float(np.mean(elapsed)):.3f} ms mean; cv2 threads {cv2.getNumThreads()})"
        f"\n  parking strip: runs {van.runs}, skips {van.skips}, {dict(van_reasons)}"
        f"\n  whole frame:   runs {whole.runs}, skips {whole.skips}, {dict(whole_reasons)}"
    )
    assert van.skips >= n / 2
    assert van_reasons["interval"] >= 5  # the still van is re-confirmed regularly
    assert longest_gap <= settings.max_interval_s + 1e-6
    assert whole.runs >= 0.9 * n
    assert ms < 5.0  # loose: measured ~0.4 ms on a 2-core machine


def _in_kind(frame: Frame, kind: str) -> Picture:
    """`frame`'s picture as the reader hands it over (yuv420p: the decoder's planes), as
    its BGR conversion, or as the full-range (yuvj420p) picture of that conversion."""
    if kind == "yuv420p":
        if isinstance(frame.picture, YuvPicture):
            return frame.picture
        return YuvPicture.from_bgr(frame.image)
    if kind == "bgr":
        return BgrPicture(frame.image)
    return full_range_yuv(frame.image)


def test_vtest_decisions_are_the_same_from_bgr_and_yuv_and_nothing_is_converted(
    assets: Path,
) -> None:
    """On real footage the gates decide the same whether a frame comes as BGR (what
    they measured before issue 28) or as yuv420p / yuvj420p planes: the luma expanded
    to 0-255 is BGR's grey within a level, the thresholds stay. A YUV picture is never
    converted to BGR, not even a part of it."""
    reader = FileReader(
        assets / "footage" / "vtest.avi",
        "vtest",
        analysis_fps=2.0,
        start_time=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    )
    settings = MotionConfig(enabled=True, max_interval_s=5.0)
    strip = [[(600.0, 62.0), (730.0, 62.0), (730.0, 118.0), (600.0, 118.0)]]
    gates = {
        k: (MotionGate(settings, (576, 768), strip), MotionGate(settings, (576, 768)))
        for k in KINDS
    }
    reasons: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    fractions: dict[str, list[float]] = {k: [] for k in KINDS}
    # Gates fed through a counting wrapper (which hides the picture's type, so their
    # grey levels are not compared): what a YUV picture has converted.
    probes = {k: MotionGate(settings, (576, 768)) for k in KINDS[1:]}
    converted = 0
    for frame in reader:
        for kind in KINDS:
            picture = _in_kind(frame, kind)
            van, whole = gates[kind]
            a, b = van.update(picture, frame.pts_s), whole.update(picture, frame.pts_s)
            reasons[kind].append((a.reason, b.reason))
            fractions[kind].append(b.changed_fraction)
            if kind in probes:
                counted = Counting(picture)
                probes[kind].update(counted, frame.pts_s)
                converted += counted.whole + len(counted.parts)
    n = len(reasons["bgr"])
    assert n >= 150
    assert converted == 0
    for kind in KINDS[1:]:
        differ = sum(x != y for x, y in zip(reasons["bgr"], reasons[kind], strict=True))
        worst = max(abs(x - y) for x, y in zip(fractions["bgr"], fractions[kind], strict=True))
        print(
            f"\n{kind}: {differ} of {n} decisions differ from BGR; "
            f"changed fraction within {worst:.4f}"
        )
        assert differ <= 2  # measured 0 of 159 (yuv420p and yuvj420p)
        assert worst < 0.01  # measured 0.0023 (yuv420p), 0.0006 (yuvj420p)
        assert [g.runs for g in gates[kind]] == pytest.approx([g.runs for g in gates["bgr"]], abs=2)
