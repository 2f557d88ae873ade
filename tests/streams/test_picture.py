"""Pictures as decoded (lookout/streams/picture.py, docs/ARCHITECTURE.md "Pictures"):
every conversion path against OpenCV's full-frame conversion on real frames of the
shared footage — whole, letterboxed at both model sizes, crops at the edges and at odd
offsets, crops resized — for yuv420p, NV12 and full range; odd sizes (a decoded 641x359
MPEG-4 and MJPEG clip) against PyAV's own conversion; planes kept as views of the
decoder's buffer, still valid 30 frames on; other pixel formats converted once, with
one log line per stream. `-s` prints the PSNR and mean difference of each path."""

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


def opencv_nv12(vf: Any) -> np.ndarray:
    """OpenCV's whole-frame conversion of an NV12 frame (even sizes)."""
    y = np.frombuffer(vf.planes[0], np.uint8).reshape(vf.height, -1)[:, : vf.width]
    uv = np.frombuffer(vf.planes[1], np.uint8).reshape(vf.height // 2, -1)[:, : vf.width]
    return np.asarray(cv2.cvtColor(np.vstack([y, uv]), cv2.COLOR_YUV2BGR_NV12))


@pytest.mark.parametrize("fmt", ["nv12", "yuvj420p"])
def test_nv12_and_full_range_match_the_whole_frame_conversion(decoded: Any, fmt: str) -> None:
    """NV12 against OpenCV's whole-frame NV12 conversion; full range (yuvj420p, which
    OpenCV cannot convert) against FFmpeg's, on every region and size."""
    vf = decoded.reformat(format=fmt)
    picture = picture_of(vf)
    assert picture.full_range is (fmt == "yuvj420p")
    assert (picture.uv is not None) is (fmt == "nv12")
    full = opencv_nv12(vf) if fmt == "nv12" else vf.to_ndarray(format="bgr24")
    for region, size in REGIONS:
        x, y, w, h = region or (0, 0, W, H)
        want = full[y : y + h, x : x + w]
        if size is not None:
            want = cv2.resize(want, size, interpolation=cv2.INTER_LINEAR)
        got = picture.bgr(region, size)
        p, m = psnr(got, want), mad(got, want)
        print(f"\n{fmt} {region} -> {size}: PSNR {p:.1f} dB, mean abs diff {m:.2f}")
        assert p >= 35.0 and m <= 2.5, (fmt, region, size)


def test_a_full_range_yuv420p_frame_is_said_full_by_its_tag(decoded: Any) -> None:
    """yuv420p tagged JPEG (full) range, as some decoders hand full-range H.264 over."""
    vf = decoded.reformat(format="yuvj420p").reformat(format="yuv420p")  # a new frame
    vf.color_range = 2  # AVCOL_RANGE_JPEG: its planes are now read as full range
    picture = picture_of(vf)
    assert picture.full_range
    assert psnr(picture.bgr(), vf.to_ndarray(format="bgr24")) >= 35.0


def test_the_planes_are_views_of_the_decoders_buffer(decoded: Any) -> None:
    picture = picture_of(decoded)
    assert np.shares_memory(picture.y, np.frombuffer(decoded.planes[0], np.uint8))
    assert picture.owner is decoded and picture.luma() is picture.y
    assert picture.nbytes == W * H * 3 // 2  # 4:2:0: what a queued frame holds
    whole = picture.image()
    assert picture.image() is whole  # converted once and kept
    assert picture.nbytes == W * H * 3 // 2 + W * H * 3


def test_the_views_stay_valid_after_the_decoder_moves_on(assets: Path) -> None:
    """30 decoded frames kept as pictures: each still holds the pixels it was decoded
    with (the decoder does not reuse a buffer a VideoFrame still references)."""
    kept: list[tuple[YuvPicture, np.ndarray]] = []
    with av.open(str(assets / "footage" / "vtest.avi")) as c:
        for vf in c.decode(video=0):
            kept.append((picture_of(vf), vf.to_ndarray(format="yuv420p").copy()))
            if len(kept) == 30:
                break
    for picture, packed in kept:
        np.testing.assert_array_equal(picture.y, packed[:H])
        q = H // 4  # packed I420: each (H/2, W/2) chroma plane is H/4 rows of W
        np.testing.assert_array_equal(picture.u, packed[H : H + q].reshape(H // 2, W // 2))
        np.testing.assert_array_equal(picture.v, packed[H + q :].reshape(H // 2, W // 2))
    assert len({p.y.__array_interface__["data"][0] for p, _ in kept}) == 30


def test_a_1080p_picture_holds_its_planes(decoded: Any) -> None:
    vf = decoded.reformat(width=1920, height=1080, format="yuv420p")
    picture = picture_of(vf)
    assert np.shares_memory(picture.y, np.frombuffer(vf.planes[0], np.uint8))
    print(f"\n1080p picture: {picture.nbytes / 1e6:.2f} MB (BGR: {1920 * 1080 * 3 / 1e6:.2f} MB)")
    assert picture.nbytes == 1920 * 1080 * 3 // 2  # 3.1 MB


def odd_size_clip(assets: Path, folder: Path, codec: str, pix_fmt: str) -> Path:
    """10 vtest frames at 641x359 (x264 and x265 refuse odd 4:2:0 sizes, so the clips
    of tests/support/media.py cannot be odd): MPEG-4 part 2, or MJPEG (yuvj420p, the
    full-range odd-size stream of some IP cameras)."""
    path = folder / f"odd_{codec}.mkv"
    with av.open(str(assets / "footage" / "vtest.avi")) as c, av.open(str(path), "w") as out:
        stream: Any = out.add_stream(codec, rate=10)
        stream.width, stream.height, stream.pix_fmt = 641, 359, pix_fmt
        for i, vf in enumerate(c.decode(video=0)):
            if i == 10:
                break
            frame = vf.reformat(width=641, height=359, format=pix_fmt)
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.mark.parametrize(("codec", "pix_fmt"), [("mpeg4", "yuv420p"), ("mjpeg", "yuvj420p")])
def test_an_odd_size_clip_matches_pyavs_conversion(
    assets: Path, tmp_path: Path, codec: str, pix_fmt: str
) -> None:
    path = odd_size_clip(assets, tmp_path, codec, pix_fmt)
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    assert len(frames) == 10
    vf = frames[-1]
    assert (vf.width, vf.height, vf.format.name) == (641, 359, pix_fmt)
    picture = picture_of(vf)
    assert picture.full_range is (pix_fmt == "yuvj420p")
    assert picture.u is not None and picture.u.shape == (180, 321)
    want = vf.to_ndarray(format="bgr24")
    size = letterbox_geometry(641, 359, 416, 416, "center")[:2]
    for region, out in [
        (None, None),
        ((641 - 99, 359 - 77, 99, 77), None),  # the right/bottom edge, odd offsets
        ((0, 0, 641, 359), size),
        ((641 - 99, 359 - 77, 99, 77), (320, 249)),
    ]:
        x, y, w, h = region or (0, 0, 641, 359)
        ref: np.ndarray = want[y : y + h, x : x + w]
        if out is not None:
            ref = cv2.resize(ref, out, interpolation=cv2.INTER_LINEAR)
        got = picture.bgr(region, out)
        p, m = psnr(got, ref), mad(got, ref)
        print(f"\n{codec} 641x359 {region} -> {out}: PSNR {p:.1f} dB, mean abs diff {m:.2f}")
        assert p >= 35.0, (region, out, p)


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


@pytest.mark.parametrize("fmt", ["yuv444p", "yuv422p", "gray", "yuv420p10le", "rgb24"])
def test_other_formats_are_converted_once_to_420(decoded: Any, fmt: str) -> None:
    vf = decoded.reformat(format=fmt)
    picture = picture_of(vf)
    assert isinstance(picture, YuvPicture) and picture.u is not None
    assert picture.owner is not vf  # the yuv420p copy made once
    source = vf.to_ndarray(format="bgr24")  # the input's own BGR
    p = psnr(picture.bgr(), source)
    print(f"\n{fmt}: PSNR {p:.1f} dB against the source's BGR")
    assert p >= 30.0
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
