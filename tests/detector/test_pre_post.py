"""Letterbox geometry and pixels, YOLOX/Ultralytics decoding, class-aware NMS."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lookout.detector.postprocess import (
    decode_ultralytics,
    decode_yolox,
    nms,
    postprocess,
    undo_letterbox,
    yolox_grid,
)
from lookout.detector.preprocess import (
    ColorOrder,
    Image,
    Letterbox,
    Placement,
    letterbox_batch,
    letterbox_geometry,
    letterbox_into,
)
from lookout.streams.picture import BgrPicture, Cropped
from tests.support.pictures import Counting, as_picture


@pytest.mark.parametrize("placement", ["top_left", "center"])
@pytest.mark.parametrize(("src", "dst"), [((300, 200), (416, 416)), ((200, 500), (640, 320))])
def test_letterbox_round_trip(
    placement: Placement, src: tuple[int, int], dst: tuple[int, int]
) -> None:
    """A bright rectangle found in the model input maps back onto itself."""
    (w, h), (dw, dh) = src, dst
    image = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = 40, 30, 150, 170
    image[y1:y2, x1:x2] = 255
    out = np.empty((3, dh, dw), np.float32)
    geo = letterbox_into(
        image,
        out,
        placement=placement,
        color_order="bgr",
        scale=1.0,
        pad_value=114,
    )
    ys, xs = np.nonzero(out[0] > 200)
    found = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], np.float32)
    back = undo_letterbox(found, geo)[0]
    tol = 1.5 / min(geo.scale_x, geo.scale_y)
    np.testing.assert_allclose(back, [x1, y1, x2, y2], atol=tol)
    if placement == "top_left":
        assert (geo.pad_x, geo.pad_y) == (0, 0)
    else:  # centred: the padding is split evenly
        new_w, new_h = round(w * geo.scale_x), round(h * geo.scale_y)
        assert abs((dw - new_w) - 2 * geo.pad_x) <= 1 and abs((dh - new_h) - 2 * geo.pad_y) <= 1


def test_letterbox_exact_mapping_and_clip() -> None:
    geo = Letterbox(scale_x=0.5, scale_y=0.5, pad_x=10, pad_y=20, width=100, height=80)
    boxes = np.array([[10, 20, 60, 60], [0, 0, 500, 500]], np.float32)
    np.testing.assert_allclose(undo_letterbox(boxes, geo), [[0, 0, 100, 80], [0, 0, 100, 80]])
    inside = np.array([[20, 30, 40, 50]], np.float32)
    np.testing.assert_allclose(undo_letterbox(inside, geo), [[20, 20, 60, 60]])


def test_letterbox_pixels_color_scale_and_padding() -> None:
    image = np.zeros((50, 100, 3), np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    buf = np.full((2, 3, 64, 64), -1.0, np.float32)
    geos = letterbox_batch(
        [image, image], buf, placement="center", color_order="rgb", scale=1 / 255, pad_value=114
    )
    assert geos[0] == geos[1]
    g = geos[0]
    assert (g.pad_x, g.pad_y, round(g.scale_x * 100), round(g.scale_y * 50)) == (0, 16, 64, 32)
    region = buf[0][:, 16:48, :]
    np.testing.assert_allclose(region[2], 1.0)  # blue lands in the last channel for RGB
    np.testing.assert_allclose(region[:2], 0.0)
    np.testing.assert_allclose(buf[0][:, :16], 114 / 255, rtol=1e-6)
    np.testing.assert_allclose(buf[0][:, 48:], 114 / 255, rtol=1e-6)


def test_letterbox_rejects_bad_images() -> None:
    buf = np.empty((3, 32, 32), np.float32)
    with pytest.raises(TypeError):
        letterbox_into(
            np.zeros((4, 4, 3), np.float32), buf, placement="center", color_order="bgr", scale=1.0
        )
    with pytest.raises(ValueError):
        letterbox_into(
            np.zeros((4, 4), np.uint8), buf, placement="center", color_order="bgr", scale=1.0
        )


def test_nms_is_class_aware() -> None:
    boxes = np.array([[0, 0, 100, 100], [5, 5, 105, 105], [2, 2, 100, 100]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    # Boxes 0 and 2 are the same class and overlap: 2 goes. Box 1 is another class.
    keep = nms(boxes, scores, np.array([0, 1, 0]), iou_threshold=0.45)
    assert sorted(keep.tolist()) == [0, 1]
    keep_same = nms(boxes, scores, np.array([3, 3, 3]), iou_threshold=0.45)
    assert keep_same.tolist() == [0]
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0), np.zeros(0), 0.5).shape == (0,)


def test_yolox_grid_and_decode() -> None:
    grid, stride = yolox_grid(64, 96)
    n8, n16, n32 = 8 * 12, 4 * 6, 2 * 3
    assert grid.shape == (n8 + n16 + n32, 2) and stride.shape == (grid.shape[0], 1)
    assert yolox_grid(64, 96)[0] is grid  # cached
    raw = np.zeros((1, grid.shape[0], 5 + 3), np.float32)
    a = n8 + 6 + 2  # stride 16, row 1, column 2
    raw[0, a, :4] = [0.5, 0.25, np.log(2.0), np.log(3.0)]
    raw[0, a, 4] = 0.9
    raw[0, a, 5:] = [0.1, 0.8, 0.3]
    boxes, scores, classes = decode_yolox(raw, 64, 96, conf_threshold=0.5)[0]
    cx, cy, bw, bh = (0.5 + 2) * 16, (0.25 + 1) * 16, 2.0 * 16, 3.0 * 16
    np.testing.assert_allclose(boxes, [[cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]])
    np.testing.assert_allclose(scores, [0.72])
    assert classes.tolist() == [1]


def test_ultralytics_decode_and_postprocess() -> None:
    raw = np.zeros((1, 4 + 2, 5), np.float32)
    raw[0, :4, 3] = [50, 40, 20, 10]  # cx, cy, w, h in input pixels
    raw[0, 4:, 3] = [0.2, 0.7]
    raw[0, 4:, 1] = [0.1, 0.1]  # below threshold
    boxes, scores, classes = decode_ultralytics(raw, conf_threshold=0.25)[0]
    np.testing.assert_allclose(boxes, [[40, 35, 60, 45]])
    assert classes.tolist() == [1] and scores.tolist() == pytest.approx([0.7])
    geo = Letterbox(scale_x=2.0, scale_y=2.0, pad_x=0, pad_y=10, width=40, height=40)
    (det,) = postprocess(
        raw,
        layout="ultralytics",
        geometries=[geo],
        input_height=100,
        input_width=100,
        conf_threshold=0.25,
        iou_threshold=0.45,
    )
    np.testing.assert_allclose(det.xyxy, [[20, 12.5, 30, 17.5]])
    assert det.class_id.dtype == np.int32 and det.confidence.dtype == np.float32


def _letterbox_reference(
    image: np.ndarray, size: int, placement: str, color_order: str, scale: float
) -> np.ndarray:
    """The plain numpy letterbox: resize, HWC -> CHW, channel order, scale, pad."""
    h, w = image.shape[:2]
    ratio = min(size / w, size / h)
    nw, nh = min(size, max(1, round(w * ratio))), min(size, max(1, round(h * ratio)))
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh))
    chw = resized.transpose(2, 0, 1).astype(np.float32)
    if color_order == "rgb":
        chw = chw[::-1]
    x0, y0 = ((size - nw) // 2, (size - nh) // 2) if placement == "center" else (0, 0)
    out = np.full((3, size, size), np.float32(114 * scale), np.float32)
    out[:, y0 : y0 + nh, x0 : x0 + nw] = chw * np.float32(scale)
    return out


@pytest.mark.parametrize("placement", ["top_left", "center"])
@pytest.mark.parametrize("color_order", ["bgr", "rgb"])
@pytest.mark.parametrize("scale", [1.0, 1 / 255])
def test_letterbox_equals_the_plain_numpy_letterbox(
    placement: Placement, color_order: ColorOrder, scale: float
) -> None:
    """Crops cut from a bigger frame (views, as the region batcher hands them over),
    odd sizes and whole frames: bit for bit what the plain numpy path gives."""
    rng = np.random.default_rng(7)
    frame = rng.integers(0, 256, (1080, 1920, 3), dtype=np.uint8)
    images = [
        frame[101:517, 301:717],  # a native-size 416 crop (no resize), a view
        frame[3:300, 5:416],  # narrower than the input: padded at the side
        frame[:37, :416],  # a thin strip
        rng.integers(0, 256, (333, 517, 3), dtype=np.uint8),  # resized, odd size
        frame,  # a whole 1080p frame
    ]
    buf = np.full((len(images), 3, 416, 416), -1.0, np.float32)
    letterbox_batch(images, buf, placement=placement, color_order=color_order, scale=scale)
    for image, got in zip(images, buf, strict=True):
        want = _letterbox_reference(image, 416, placement, color_order, scale)
        np.testing.assert_array_equal(got, want)


def test_a_bgr_picture_letterboxes_as_its_array(vtest_100: np.ndarray) -> None:
    """A BgrPicture (and a Cropped one) gives bit for bit the letterbox of its array."""
    frame = cv2.resize(vtest_100, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    picture = BgrPicture(frame)
    region = (301, 101, 416, 416)
    x, y, w, h = region
    pairs: list[tuple[Image, np.ndarray]] = [
        (picture, frame),
        (Cropped(picture, region), frame[y : y + h, x : x + w]),
        (Cropped(picture, (5, 3, 411, 297)), frame[3:300, 5:416]),
    ]
    placements: list[Placement] = ["top_left", "center"]
    for placement in placements:
        out = np.full((2, 3, 3, 416, 416), -1.0, np.float32)
        geos = [
            letterbox_batch(images, buf, placement=placement, color_order="rgb", scale=1 / 255)
            for images, buf in (([p for p, _ in pairs], out[0]), ([a for _, a in pairs], out[1]))
        ]
        assert geos[0] == geos[1]
        np.testing.assert_array_equal(out[0], out[1])


@pytest.mark.parametrize("kind", ["yuv420p", "yuvj420p"])
@pytest.mark.parametrize("size", [416, 320])
def test_a_yuv_picture_converts_only_the_letterboxed_pixels(
    vtest_100: np.ndarray, kind: str, size: int
) -> None:
    """A 1080p YUV picture is asked for its pixels once, at the resized size: nothing
    else is converted, and the model input is the letterbox of the picture's own BGR
    conversion within rounding (the planes are resized before the conversion)."""
    frame = cv2.resize(vtest_100, (1920, 1080), interpolation=cv2.INTER_LINEAR)
    yuv = as_picture(frame, kind)
    counted = Counting(yuv)
    got = np.empty((3, size, size), np.float32)
    geo = letterbox_into(counted, got, placement="center", color_order="bgr", scale=1.0)
    new_w, new_h, want_geo = letterbox_geometry(1920, 1080, size, size, "center")
    assert geo == want_geo
    assert counted.whole == 0 and counted.parts == [(None, (new_w, new_h))]
    want = np.empty_like(got)
    letterbox_into(yuv.image(), want, placement="center", color_order="bgr", scale=1.0)
    y0, y1 = geo.pad_y, geo.pad_y + new_h
    np.testing.assert_array_equal(got[:, :y0], want[:, :y0])  # the padding
    np.testing.assert_array_equal(got[:, y1:], want[:, y1:])
    diff = np.abs(got[:, y0:y1] - want[:, y0:y1])
    mse = float(np.mean(diff**2))
    psnr = 10 * np.log10(255.0**2 / mse)
    print(f"\n{kind} 1080p -> {new_w}x{new_h}: PSNR {psnr:.1f} dB, mean {diff.mean():.2f}")
    assert psnr >= 35.0 and float(diff.mean()) <= 2.5


def test_yolox_decode_equals_scoring_every_anchor() -> None:
    """Skipping anchors whose objectness is below the threshold changes nothing:
    sigmoid class scores are at most 1, so obj * class score cannot pass it."""
    rng = np.random.default_rng(11)
    grid, stride = yolox_grid(416, 416)
    raw = rng.normal(0, 1, (3, grid.shape[0], 5 + 80)).astype(np.float32)
    raw[..., 4:] = 1 / (1 + np.exp(-4 * raw[..., 4:]))  # sigmoid scores, many near 0 or 1
    raw[0, 10, 4], raw[0, 10, 5:] = 0.249, 1.0  # class score 1, objectness just below
    raw[0, 11, 4], raw[0, 11, 5:] = 0.9, 0.27  # objectness passes, the product does not
    raw[0, 12, 4], raw[0, 12, 5:] = 0.26, 0.0  # and one that passes exactly on class 30
    raw[0, 12, 5 + 30] = 1.0
    for conf in (0.05, 0.25, 0.6):
        got = decode_yolox(raw, 416, 416, conf)
        for pred, (boxes, scores, classes) in zip(raw, got, strict=True):
            cls = pred[:, 5:].argmax(axis=1)
            score = pred[:, 4] * pred[np.arange(len(pred)), 5 + cls]
            keep = np.flatnonzero(score >= conf)
            assert len(keep) > 0
            np.testing.assert_array_equal(scores, score[keep])
            np.testing.assert_array_equal(classes, cls[keep])
            xy = (pred[keep, :2] + grid[keep]) * stride[keep]
            wh = np.exp(pred[keep, 2:4]) * stride[keep]
            np.testing.assert_allclose(boxes[:, :2], xy - wh / 2, rtol=1e-6)
    first = decode_yolox(raw, 416, 416, 0.25)[0]
    kept = {(round(float(s), 4), int(c)) for s, c in zip(first[1], first[2], strict=True)}
    assert (0.26, 30) in kept and (round(0.9 * 0.27, 4), 0) not in kept
