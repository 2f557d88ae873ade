"""The quality monitor reads a frame's luma, never its BGR conversion: on YUV frames
(limited and full range) its measures are those of the same pictures as BGR within a
level or two of grey, and a reference view saved as a colour JPEG serves YUV frames
(limited-range luma is put on the 0-255 grey scale, streams/grey.py)."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from lookout.quality.measures import measure_frame
from lookout.streams.frame import Frame
from lookout.streams.grey import limited_luma
from tests.support.helpers import T0
from tests.support.pictures import KINDS, as_picture
from tests.support.quality_frames import CAM, Feed, Image, decode, looped, monitor


@pytest.fixture(scope="module")
def vtest(assets: Path) -> list[Image]:
    return decode(assets / "footage" / "vtest.avi", 10)


@pytest.mark.parametrize("kind", KINDS[1:])
def test_the_measures_of_a_frame_s_luma_are_those_of_its_bgr(vtest: list[Image], kind: str) -> None:
    for image in vtest[::8]:
        picture = as_picture(image, kind)
        frame = Frame(CAM, 0, 0.0, T0, 0.0, picture=picture)
        assert frame.luma() is picture.luma()  # no conversion, no copy
        got = measure_frame(frame.luma(), limited=limited_luma(frame.picture))
        want = measure_frame(image)
        diff = np.abs(got.thumb.astype(int) - want.thumb.astype(int))
        assert diff.mean() < 0.6 and diff.max() <= 3, (diff.mean(), diff.max())
        np.testing.assert_allclose(got.mean, want.mean, atol=0.6)
        np.testing.assert_allclose(got.std, want.std, atol=0.5, rtol=0.02)
        np.testing.assert_allclose(got.detail, want.detail, atol=1e-4, rtol=0.1)


def _normal(vtest: list[Image], kind: str) -> dict[str, float | None]:
    Feed.kind = kind
    try:
        feed = Feed(monitor(Path(tempfile.mkdtemp())))
        feed(looped(vtest, 300))
    finally:
        Feed.kind = "bgr"
    assert feed.events == []
    return {k: i.measure for k, i in feed.monitor.state.issues.items()}


def test_the_verdict_numbers_of_yuv_frames_are_those_of_bgr(vtest: list[Image]) -> None:
    """Five minutes of the normal stream: sharpness within 0.02 of the BGR frames',
    the covered share the same, drift within half a pixel."""
    want = _normal(vtest, "bgr")
    for kind in KINDS[1:]:
        got = _normal(vtest, kind)
        assert got["frozen"] == want["frozen"] == 0.0
        assert got["blur"] == pytest.approx(want["blur"], abs=0.02), kind
        assert got["occlusion"] == pytest.approx(want["occlusion"], abs=0.01), kind
        assert got["drift"] == pytest.approx(want["drift"], abs=0.5), kind


def test_a_colour_reference_view_serves_limited_range_yuv_frames(
    vtest: list[Image], tmp_path: Path
) -> None:
    """The reference is a colour JPEG (0-255 grey); a yuv420p camera's luma is 16-235.
    Unexpanded, the same view would read as 0.78 of the reference's sharpness."""
    Feed.kind = "bgr"
    first = Feed(monitor(tmp_path))
    first(looped(vtest, 15))
    again = monitor(tmp_path)
    for t, image in enumerate(looped(vtest, 60, start=15)):
        at = T0 + timedelta(seconds=t)
        picture = as_picture(image, "yuv420p")
        assert again.observe(Frame(CAM, t, t, at, t, picture=picture)) == []
    issues = again.state.issues
    assert not again.state.learning
    assert issues["blur"].measure is not None and 0.9 < issues["blur"].measure < 1.15
    assert issues["occlusion"].measure == pytest.approx(0.0, abs=0.02)
    assert issues["drift"].measure is not None and issues["drift"].measure < 1.0
