"""Pictures as decoded (lookout/streams/picture.py, docs/ARCHITECTURE.md "Pictures"):
every conversion path against OpenCV's full-frame conversion on real frames of the
shared footage — whole, letterboxed at both model sizes, crops at the edges and at odd
offsets, crops resized — for yuv420p, NV12 and full range; odd sizes against PyAV's own
conversion; planes kept as views of the decoder's buffer; other pixel formats converted
once, with one log line per stream."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from lookout.detector.preprocess import letterbox_geometry
from lookout.streams.file_reader import FileReader
from lookout.streams.picture import Cropped, YuvPicture, picture_of

W, H = 768, 576  # vtest.avi


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(a.astype(np.int16) - b.astype(np.int16))))


@pytest.fixture(scope="module")
def decoded(assets: Path) -> Any:
    """Frame 30 of vtest.avi as the decoder gives it (yuv420p)."""
    with av.open(str(assets / "footage" / "vtest.avi")) as c:
        for i, vf in enumerate(c.decode(video=0)):
            if i == 30:
                return vf
    raise AssertionError("vtest.avi too short")


def opencv_full(vf: Any) -> np.ndarray:
    """OpenCV's whole-frame conversion of a yuv420p frame (the reference)."""
    packed = vf.to_ndarray(format="yuv420p")  # (H * 3/2, W): OpenCV's I420 layout
    assert packed.shape == (vf.height * 3 // 2, vf.width)
    return np.asarray(cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420))


LETTERBOX = [letterbox_geometry(W, H, s, s, "center")[:2] for s in (416, 320)]
REGIONS: list[tuple[tuple[int, int, int, int] | None, tuple[int, int] | None]] = [
    (None, None),
    (None, LETTERBOX[0]),
    (None, LETTERBOX[1]),
    ((0, 0, 101, 77), None),  # top-left corner
    ((W - 101, H - 81, 101, 81), None),  # bottom-right corner, odd offsets
    ((101, 37, 301, 211), None),  # odd offset inside
    ((101, 37, 301, 211), (150, 105)),  # odd offset, downscaled
    ((467, 371, 301, 205), (416, 283)),  # to the right/bottom edge, upscaled
    ((W - 100, H - 80, 100, 80), (416, 333)),  # a small edge crop to a model size
]


@pytest.mark.parametrize(("region", "size"), REGIONS)
def test_each_path_matches_opencvs_full_conversion(
    decoded: Any, region: tuple[int, int, int, int] | None, size: tuple[int, int] | None
) -> None:
    picture = picture_of(decoded)
    full = opencv_full(decoded)
    x, y, w, h = region or (0, 0, W, H)
    want = full[y : y + h, x : x + w]
    if size is not None:
        want = cv2.resize(want, size, interpolation=cv2.INTER_LINEAR)
    got = picture.bgr(region, size)
    assert got.shape == want.shape and got.dtype == np.uint8
    p, m = psnr(got, want), mad(got, want)
    print(f"\n{region} -> {size}: PSNR {p:.1f} dB, mean abs diff {m:.2f}")
    assert p >= 35.0 and m <= 2.5
    if region is None and size is None:
        assert p == 99.0  # the whole picture is OpenCV's conversion exactly


def test_a_cropped_picture_converts_inside_its_region(decoded: Any) -> None:
    picture = picture_of(decoded)
    crop = Cropped(picture, (101, 37, 301, 211))
    assert (crop.width, crop.height) == (301, 211)
    np.testing.assert_array_equal(crop.bgr(), picture.bgr((101, 37, 301, 211)))
    np.testing.assert_array_equal(crop.luma(), picture.luma()[37:248, 101:402])


@pytest.mark.parametrize("fmt", ["nv12", "yuvj420p"])
def test_nv12_and_full_range_match_ffmpegs_conversion(decoded: Any, fmt: str) -> None:
    vf = decoded.reformat(format=fmt)
    picture = picture_of(vf)
    assert picture.full_range is (fmt == "yuvj420p")
    want = vf.to_ndarray(format="bgr24")
    for region, size in REGIONS[:3]:
        got = picture.bgr(region, size)
        ref = want if size is None else cv2.resize(want, size, interpolation=cv2.INTER_LINEAR)
        assert psnr(got, ref) >= 35.0, (fmt, size, psnr(got, ref))


def test_the_planes_are_views_of_the_decoders_buffer(decoded: Any) -> None:
    picture = picture_of(decoded)
    assert np.shares_memory(picture.y, np.frombuffer(decoded.planes[0], np.uint8))
    assert picture.owner is decoded and picture.luma() is picture.y
    assert picture.nbytes == W * H * 3 // 2  # 4:2:0: what a queued frame holds
    whole = picture.image()
    assert picture.image() is whole  # converted once and kept
    assert picture.nbytes == W * H * 3 // 2 + W * H * 3


def test_odd_sizes_match_pyavs_conversion(decoded: Any) -> None:
    vf = decoded.reformat(width=641, height=359, format="yuv420p")
    picture = picture_of(vf)
    assert (picture.width, picture.height) == (641, 359)
    assert picture.u is not None and picture.u.shape == (180, 321)
    want = vf.to_ndarray(format="bgr24")
    assert psnr(picture.bgr(), want) >= 35.0
    edge = (641 - 99, 359 - 77, 99, 77)
    got = picture.bgr(edge)
    assert psnr(got, want[359 - 77 :, 641 - 99 :]) >= 35.0
    size = letterbox_geometry(641, 359, 416, 416, "top_left")[:2]
    ref = cv2.resize(want, size, interpolation=cv2.INTER_LINEAR)
    assert psnr(picture.bgr(size=size), ref) >= 35.0


@pytest.mark.parametrize("fmt", ["yuv444p", "yuv422p", "gray"])
def test_other_formats_are_converted_once_to_420(decoded: Any, fmt: str) -> None:
    vf = decoded.reformat(format=fmt)
    picture = picture_of(vf)
    assert isinstance(picture, YuvPicture) and picture.u is not None
    want = vf.reformat(format="yuv420p").to_ndarray(format="bgr24")
    assert psnr(picture.bgr(), want) >= 40.0


def test_a_444_stream_is_read_and_said_once(
    decoded: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A 4:4:4 H.264 file made from real frames: the reader converts each picture to
    4:2:0 and says so in one line."""
    path = tmp_path / "yuv444.mp4"
    source = decoded.to_ndarray(format="bgr24")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv444p"
        stream.time_base = Fraction(1, 10)
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.roll(source, 4 * i, axis=1), format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame.reformat(format="yuv444p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    caplog.set_level(logging.INFO, logger="lookout.streams.file_reader")
    reader = FileReader(path, "cam444", analysis_fps=10.0, start_time=datetime.now(UTC))
    frames = list(reader)
    assert len(frames) == 12
    lines = [r.getMessage() for r in caplog.records if "yuv444p" in r.getMessage()]
    assert lines == [f"{path.name}: yuv444p {W}x{H}, converted to yuv420p once per picture"]
    assert psnr(frames[0].image, source) >= 30.0
