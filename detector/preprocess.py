"""Letterbox preprocessing straight into a slice of the model's NCHW input buffer.

Each image (a `Picture` of lookout/streams/picture.py, or a BGR HxWx3 uint8 array of
any size) is resized keeping its aspect ratio (INTER_LINEAR; a YUV picture is resized
in its planes and only the resized pixels are converted to BGR, docs/ARCHITECTURE.md
"Pictures"), placed at the top-left or centre of the model input,
padded with a constant, converted to the model's channel order and written as
float32 CHW multiplied by the manifest's `scale`. No intermediate float image is
allocated: the only temporary is the resized uint8 image.

The returned `Letterbox` records the per-axis scale and pad offsets so that
`postprocess.undo_letterbox` can map boxes back to original pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from lookout.streams.picture import BgrPicture, Picture

Placement = Literal["top_left", "center"]
#: What the detector takes: a picture, or a BGR array.
Image = Picture | np.ndarray
ColorOrder = Literal["bgr", "rgb"]


@dataclass(frozen=True, slots=True)
class Letterbox:
    """Geometry of one letterboxed image.

    Model-input pixel `(u, v)` corresponds to original pixel
    `((u - pad_x) / scale_x, (v - pad_y) / scale_y)`.

    Attributes:
        scale_x, scale_y: resized size / original size along each axis (equal up
            to rounding of the resized size to whole pixels).
        pad_x, pad_y: offset of the resized image inside the model input, pixels.
        width, height: original image size, pixels.
    """

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int
    width: int
    height: int


def letterbox_geometry(
    width: int, height: int, dst_width: int, dst_height: int, placement: Placement
) -> tuple[int, int, Letterbox]:
    """Resized size and letterbox geometry for a `width` x `height` image.

    Returns:
        (resized_width, resized_height, Letterbox)
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"image must be non-empty, got {width}x{height}")
    ratio = min(dst_width / width, dst_height / height)
    new_w = min(dst_width, max(1, round(width * ratio)))
    new_h = min(dst_height, max(1, round(height * ratio)))
    if placement == "center":
        pad_x, pad_y = (dst_width - new_w) // 2, (dst_height - new_h) // 2
    elif placement == "top_left":
        pad_x, pad_y = 0, 0
    else:  # pragma: no cover - guarded by the manifest's Literal
        raise ValueError(f"unknown letterbox placement {placement!r}")
    geometry = Letterbox(
        scale_x=new_w / width,
        scale_y=new_h / height,
        pad_x=pad_x,
        pad_y=pad_y,
        width=width,
        height=height,
    )
    return new_w, new_h, geometry


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError(f"image must be a uint8 numpy array, got {getattr(image, 'dtype', image)}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")


def _fill_border(out: np.ndarray, x0: int, y0: int, new_w: int, new_h: int, value: float) -> None:
    """Set everything in `out` (3, H, W) outside the rectangle to `value`."""
    y1, x1 = y0 + new_h, x0 + new_w
    if y0 > 0:
        out[:, :y0, :] = value
    if y1 < out.shape[1]:
        out[:, y1:, :] = value
    if x0 > 0:
        out[:, y0:y1, :x0] = value
    if x1 < out.shape[2]:
        out[:, y0:y1, x1:] = value


def letterbox_into(
    image: Image,
    out: np.ndarray,
    *,
    placement: Placement,
    color_order: ColorOrder,
    scale: float,
    pad_value: int = 114,
) -> Letterbox:
    """Letterbox one image into `out`.

    Args:
        image: a Picture, or a BGR image, shape (H, W, 3), uint8.
        out: destination, shape (3, dst_H, dst_W), float32 (a slice of the batch
            buffer; overwritten entirely).
        placement: "top_left" or "center".
        color_order: channel order the model expects, "bgr" or "rgb".
        scale: multiplier for 0..255 pixel values (1.0 or 1/255).
        pad_value: padding value in 0..255 units (scaled like the pixels).

    Returns:
        The geometry needed to map model-input boxes back to `image` pixels.
    """
    picture = as_picture(image)
    if out.ndim != 3 or out.shape[0] != 3 or out.dtype != np.float32:
        raise ValueError(f"out must be float32 (3, H, W), got {out.dtype} {out.shape}")
    dst_h, dst_w = int(out.shape[1]), int(out.shape[2])
    src_h, src_w = picture.height, picture.width
    new_w, new_h, geometry = letterbox_geometry(src_w, src_h, dst_w, dst_h, placement)
    resized = picture.bgr(size=(new_w, new_h))
    x0, y0 = geometry.pad_x, geometry.pad_y
    region = out[:, y0 : y0 + new_h, x0 : x0 + new_w]
    _to_planes(resized, region, color_order, scale)
    _fill_border(out, x0, y0, new_w, new_h, float(pad_value) * scale)
    return geometry


def as_picture(image: Image) -> Picture:
    """`image` as a Picture (a BGR array is wrapped, after a check)."""
    if isinstance(image, np.ndarray):
        _check_image(image)
        return BgrPicture(image)
    if not hasattr(image, "bgr"):
        raise TypeError(f"image must be a Picture or a uint8 array, got {type(image).__name__}")
    return image


def _to_planes(
    image: np.ndarray, region: np.ndarray, color_order: ColorOrder, scale: float
) -> None:
    """Write `image` (h, w, 3) uint8 BGR into `region` (3, h, w) float32 as the
    model's channel planes times `scale`.

    One contiguous float copy of the image, then `cv2.split` straight into the
    region's planes: about 3x faster than numpy's strided HWC -> CHW copy (0.16 against
    0.56 ms for a 416x416 crop), which ran on the inference thread for every crop
    (benchmarks/README.md, "Regions mode and the floor").
    """
    pixels = image.astype(np.float32)
    if scale != 1.0:
        pixels *= np.float32(scale)
    planes = [region[0], region[1], region[2]]
    if color_order == "rgb":
        planes.reverse()
    written = cv2.split(pixels, planes)
    if not all(w is p for w, p in zip(written, planes, strict=True)):
        # OpenCV could not write into the views (it never should for these shapes).
        np.copyto(region, pixels.transpose(2, 0, 1)[:: -1 if color_order == "rgb" else 1])


def letterbox_batch(
    images: Sequence[Image],
    out: np.ndarray,
    *,
    placement: Placement,
    color_order: ColorOrder,
    scale: float,
    pad_value: int = 114,
) -> list[Letterbox]:
    """Letterbox `images` into `out[:len(images)]`.

    Args:
        images: Pictures or BGR images, each (H_i, W_i, 3) uint8.
        out: batch buffer, shape (N >= len(images), 3, dst_H, dst_W), float32.

    Returns:
        One `Letterbox` per image, in order.
    """
    if out.ndim != 4 or out.shape[0] < len(images):
        raise ValueError(f"buffer of shape {out.shape} cannot hold {len(images)} images")
    return [
        letterbox_into(
            image,
            out[i],
            placement=placement,
            color_order=color_order,
            scale=scale,
            pad_value=pad_value,
        )
        for i, image in enumerate(images)
    ]
