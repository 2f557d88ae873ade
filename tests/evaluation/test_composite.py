"""Composited video scenarios (docs/EVALUATION.md, "Composited scenarios"): patches of
real pixels placed by their bottom-centre over a time window, the effects (lighting,
rain, shake), the scenario keys' one-line errors, and the reader that hands the
composited frames to the replay."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from lookout.base.errors import ConfigError
from lookout.base.yamlfile import load_model
from lookout.clips.composite import cut_patch, paste, rain, shake_offset, translate
from lookout.clips.media import vtest_avi
from lookout.evaluation.overlays import CompositedReader, Compositor, Lighting, Overlay
from lookout.evaluation.score import Scenario
from lookout.streams.file_reader import FileReader

START = datetime.fromisoformat("2026-11-26T09:00:00+08:00")


def _source(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A 120x80 picture whose every pixel differs from its neighbours."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)
    path = tmp_path / "source.png"
    cv2.imwrite(str(path), image)
    return path, image


def test_overlay_is_shown_only_in_its_window_at_its_place_with_the_source_pixels(
    tmp_path: Path,
) -> None:
    path, source = _source(tmp_path)
    ov = Overlay(source=str(path), box=(10, 20, 40, 60), at=(100, 150), from_s=5, to_s=9)
    comp = Compositor([ov], [], tmp_path, "test")
    frame = np.full((200, 300, 3), 7, np.uint8)
    assert np.array_equal(comp(frame, 4.9, 49), frame)
    assert np.array_equal(comp(frame, 9.1, 91), frame)
    shown = comp(frame, 5.0, 50)
    # 30x40 patch, bottom-centre at (100, 150): x 85..115, y 110..150.
    assert np.array_equal(shown[110:150, 85:115], source[20:60, 10:40])
    untouched = shown.copy()
    untouched[110:150, 85:115] = 7
    assert (untouched == 7).all()
    assert shown.shape == frame.shape and shown.dtype == np.uint8
    assert (frame == 7).all()  # the decoded picture itself is not written to


def test_scaled_patch_keeps_its_ground_point_and_feather_blends_its_edge() -> None:
    source = np.full((50, 40, 3), 200, np.uint8)
    patch = cut_patch(source, (0, 0, 40, 50), scale=2.0, feather=4)
    assert patch.size == (80, 100)
    assert patch.alpha[50, 40] == 1.0 and patch.alpha[0, 40] < 0.2
    out = paste(np.zeros((300, 300, 3), np.uint8), patch, (150, 250))
    ys, xs = np.nonzero(out[:, :, 0])
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (110, 189, 150, 249)
    assert out[200, 150, 0] == 200 and 0 < out[150, 150, 0] < 100


def test_patch_partly_outside_the_frame_is_cut_off() -> None:
    patch = cut_patch(np.full((20, 20, 3), 9, np.uint8), (0, 0, 20, 20))
    out = paste(np.zeros((50, 50, 3), np.uint8), patch, (2, 10))
    assert out.shape == (50, 50, 3)
    assert (out[0:10, 0:12] == 9).all() and out[10:, :].sum() == 0


def test_shake_offsets_are_bounded_seeded_and_move_the_picture() -> None:
    offsets = [shake_offset(5, i, 3) for i in range(400)]
    assert all(-3 <= dx <= 3 and -3 <= dy <= 3 for dx, dy in offsets)
    assert {dx for dx, _ in offsets} == set(range(-3, 4))
    assert offsets == [shake_offset(5, i, 3) for i in range(400)]
    assert shake_offset(5, 0, 0) == (0, 0)
    image = np.arange(100 * 80 * 3, dtype=np.uint32).reshape(100, 80, 3).astype(np.uint8)
    moved = translate(image, 2, -1)
    assert moved.shape == image.shape and moved.dtype == np.uint8
    assert np.array_equal(moved[10:90, 10:70], image[11:91, 8:68])


def test_lighting_ramps_between_its_ends_and_holds_outside() -> None:
    fx = Lighting(type="lighting", from_s=10, to_s=20, gain=(1.0, 0.5), offset=(0, -10))
    assert fx.at(0) == (1.0, 0.0) and fx.at(15) == (0.75, -5.0) and fx.at(30) == (0.5, -10.0)
    comp = Compositor([], [fx], Path("."), "test")
    dark = comp(np.full((4, 4, 3), 100, np.uint8), 30.0, 300)
    assert (dark == 40).all()


def test_rain_streaks_are_seeded_fresh_per_frame_and_keep_the_shape() -> None:
    image = np.full((120, 160, 3), 90, np.uint8)
    a = rain(image, np.random.default_rng((1, 0)))
    b = rain(image, np.random.default_rng((1, 0)))
    c = rain(image, np.random.default_rng((1, 1)))
    assert a.shape == image.shape and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.max() > 120  # bright streaks over a mid-grey picture


def _scenario(tmp_path: Path, overlay: str) -> Path:
    path = tmp_path / "sc.yaml"
    path.write_text(
        "name: x\nconfig: c.yaml\ncamera: c\nstart: '2026-11-26T09:00:00+08:00'\n"
        f"overlays:\n  - {overlay}\n"
    )
    return path


@pytest.mark.parametrize(
    ("overlay", "key"),
    [
        ("{source: a.png, box: [40, 10, 20, 30], at: [5, 5]}", "overlays[0]: box must be"),
        ("{source: a.png, box: [0, 0, 20, 30], at: [5, 5], scael: 2}", "overlays[0].scael"),
        ("{source: a.png, box: [0, 0, 20, 30]}", "overlays[0].at"),
        ("{source: a.png, box: [0, 0, 9, 9], at: [5, 5], from_s: 9, to_s: 3}", "to_s must be"),
    ],
)
def test_bad_overlay_is_one_line_naming_the_key(tmp_path: Path, overlay: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_model(_scenario(tmp_path, overlay), Scenario, "scenario")
    assert key in str(err.value) and "\n" not in str(err.value)


def test_bad_effect_names_its_key(tmp_path: Path) -> None:
    path = tmp_path / "sc.yaml"
    path.write_text(
        "name: x\nstart: '2026-11-26T09:00:00+08:00'\neffects:\n  - {type: shake, max_px: 0}\n"
    )
    with pytest.raises(ConfigError, match=r"effects\[0\]\.max_px"):
        load_model(path, Scenario, "scenario")


def test_missing_patch_source_is_one_line(tmp_path: Path) -> None:
    ov = Overlay(source="nope.png", box=(0, 0, 5, 5), at=(3, 3))
    with pytest.raises(ConfigError, match=r"sc.yaml: overlays\[0\].source: file not found"):
        Compositor([ov], [], tmp_path, "sc.yaml")


def test_reader_hands_on_composited_frames_of_the_same_size_index_and_time() -> None:
    video = vtest_avi()
    patch_source = str(video)
    ov = Overlay(source=patch_source, frame=0, box=(649, 40, 726, 100), at=(560, 330), from_s=1)
    reader = FileReader(video, "vtest", analysis_fps=2, start_time=START)
    comp = CompositedReader(reader, Compositor([ov], [], video.parent, "test"))
    plain = list(islice(iter(reader), 4))
    frames = list(islice(iter(comp), 4))
    assert [f.index for f in frames] == [f.index for f in plain]
    assert [f.pts_s for f in frames] == [f.pts_s for f in plain]
    for f, p in zip(frames, plain, strict=True):
        assert f.image.shape == p.image.shape == (576, 768, 3) and f.image.dtype == np.uint8
        region = np.s_[330 - 90 : 330, 560 - 58 : 560 + 58]
        same = np.array_equal(f.image[region], p.image[region])
        assert same == (f.pts_s < 1), f.pts_s
