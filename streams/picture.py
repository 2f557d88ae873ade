"""A decoded picture in the form the decoder handed it over, converted to BGR only
where and at the size a consumer needs it (docs/ARCHITECTURE.md, "Pictures").

A camera's decoder gives planar YUV 4:2:0 (`yuv420p`, `yuvj420p`) or NV12; converting
a whole 1080p picture to BGR costs 1–1.5 ms and doubles what a queued frame holds
(6.2 MB against 3.1 MB). So a `YuvPicture` keeps the planes (views of the decoder's
buffers, no copy) and:

- `luma()` is the Y plane itself: the quality monitor, the motion gates and the
  stationary-object scene models read grey pictures and need no conversion at all;
- `bgr(region, size)` crops the planes to `region`, resizes them to `size` first, and
  converts only the pixels that come out: the detector's letterbox of a 1080p picture
  converts 416x234 pixels, a region crop only the crop;
- `image()` (the whole picture in BGR) is converted once and kept, for the evidence of
  a case and rare consumers; no hot path calls it.

A `BgrPicture` wraps a BGR array (tests, composited scenes, recorded images) behind
the same interface. Full-range YUV (`yuvj420p`, many IP cameras) is mapped to the
limited range OpenCV's conversion expects after the resize, on the output pixels only.
Any other pixel format (4:2:2, 4:4:4, 10-bit, grey) is converted once to `yuv420p` by
the reader (`from_video_frame`)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import cv2
import numpy as np

#: (x, y, width, height) in source pixels.
Region = tuple[int, int, int, int]
#: (width, height) of an output picture.
Size = tuple[int, int]
#: Pixel formats kept as they are; everything else is converted once to yuv420p.
NATIVE_FORMATS = ("yuv420p", "yuvj420p", "nv12")
#: Full range (0-255) to the limited range (16-235 luma, 16-240 chroma) of BT.601/709.
_LUMA_TO_LIMITED = np.round(np.arange(256) * 219 / 255 + 16).astype(np.uint8)
_CHROMA_TO_LIMITED = np.round((np.arange(256) - 128) * 224 / 255 + 128).astype(np.uint8)


class Picture(Protocol):
    """What every consumer of a frame's pixels uses."""

    width: int
    height: int

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        """BGR (h, w, 3) uint8 of `region` (default: all) resized to `size` (default:
        the region's size)."""
        ...

    def luma(self) -> np.ndarray:
        """The grey picture (H, W) uint8; may be a view: do not write into it."""
        ...

    def image(self) -> np.ndarray:
        """The whole picture in BGR, converted once and kept."""
        ...

    @property
    def nbytes(self) -> int:
        """Bytes of pixels this picture holds (what a queued frame costs)."""
        ...


def _check_region(region: Region | None, width: int, height: int) -> Region:
    if region is None:
        return (0, 0, width, height)
    x, y, w, h = (int(v) for v in region)
    if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ValueError(f"region {region} is not inside the {width}x{height} picture")
    return (x, y, w, h)


class BgrPicture:
    """A BGR array as a Picture."""

    __slots__ = ("_bgr", "_luma", "height", "width")

    def __init__(self, image: np.ndarray) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"Frame.image must be HxWx3 uint8, got shape {image.shape} dtype {image.dtype}"
            )
        self._bgr = image
        self._luma: np.ndarray | None = None
        self.height, self.width = int(image.shape[0]), int(image.shape[1])

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        x, y, w, h = _check_region(region, self.width, self.height)
        view = self._bgr[y : y + h, x : x + w]
        if size is None or (int(size[0]), int(size[1])) == (w, h):
            return view
        return cv2.resize(view, (int(size[0]), int(size[1])), interpolation=cv2.INTER_LINEAR)

    def luma(self) -> np.ndarray:
        if self._luma is None:
            self._luma = cv2.cvtColor(self._bgr, cv2.COLOR_BGR2GRAY)
        return self._luma

    def image(self) -> np.ndarray:
        return self._bgr

    @property
    def nbytes(self) -> int:
        return int(self._bgr.nbytes) + (0 if self._luma is None else int(self._luma.nbytes))


class YuvPicture:
    """Planar YUV 4:2:0: `y` (H, W), and either `u`, `v` (ceil(H/2), ceil(W/2)) or an
    interleaved `uv` (ceil(H/2), ceil(W/2), 2) for NV12. The planes may be views of a
    decoder buffer; `owner` keeps that buffer alive as long as the picture lives."""

    __slots__ = ("_cache", "_lock", "full_range", "height", "owner", "u", "uv", "v", "width", "y")

    def __init__(
        self,
        y: np.ndarray,
        u: np.ndarray | None = None,
        v: np.ndarray | None = None,
        *,
        uv: np.ndarray | None = None,
        full_range: bool = False,
        owner: Any = None,
    ) -> None:
        self.y, self.u, self.v, self.uv = y, u, v, uv
        self.height, self.width = int(y.shape[0]), int(y.shape[1])
        ch, cw = (self.height + 1) // 2, (self.width + 1) // 2
        chroma = [p for p in (u, v) if p is not None] if uv is None else [uv]
        if len(chroma) != (1 if uv is not None else 2) or any(
            p.shape[:2] != (ch, cw) for p in chroma
        ):
            raise ValueError(f"chroma planes do not fit a {self.width}x{self.height} 4:2:0 picture")
        self.full_range = full_range
        self.owner = owner
        self._cache: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_i420(cls, buffer: np.ndarray, width: int, height: int) -> YuvPicture:
        """From OpenCV's packed I420 layout ((H * 3/2, W), even W and H)."""
        flat = buffer.reshape(-1)
        n, q = width * height, (width // 2) * (height // 2)
        y = flat[:n].reshape(height, width)
        u = flat[n : n + q].reshape(height // 2, width // 2)
        v = flat[n + q : n + 2 * q].reshape(height // 2, width // 2)
        return cls(y, u, v, owner=buffer)

    @classmethod
    def from_bgr(cls, image: np.ndarray) -> YuvPicture:
        """The 4:2:0 picture of a BGR image of even size (tests, simulated cameras)."""
        h, w = image.shape[:2]
        return cls.from_i420(cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), w, h)

    # -- what consumers read ---------------------------------------------------------------
    def luma(self) -> np.ndarray:
        return self.y

    def image(self) -> np.ndarray:
        with self._lock:
            if self._cache is None:
                self._cache = self.bgr()
            return self._cache

    @property
    def nbytes(self) -> int:
        planes = [p for p in (self.y, self.u, self.v, self.uv, self._cache) if p is not None]
        return int(sum(p.nbytes for p in planes))

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        x, y, w, h = _check_region(region, self.width, self.height)
        out_w, out_h = (w, h) if size is None else (int(size[0]), int(size[1]))
        if out_w <= 0 or out_h <= 0:
            raise ValueError(f"size {size} is empty")
        # 4:2:0 converts in even sizes: one more column or row, taken off after.
        even_w, even_h = out_w + (out_w & 1), out_h + (out_h & 1)
        packed = np.empty((even_h * 3 // 2, even_w), np.uint8)
        flat = packed.reshape(-1)
        cw, ch = even_w // 2, even_h // 2
        same = (x, y, out_w, out_h) == (0, 0, self.width, self.height)
        if same and (even_w, even_h) == (out_w, out_h):  # the whole picture as it is
            np.copyto(packed[:even_h], self.y)
            chroma = [self.uv] if self.uv is not None else [self.u, self.v]
            at = even_w * even_h
            for plane in chroma:
                assert plane is not None
                n = plane.size
                np.copyto(flat[at : at + n].reshape(plane.shape), plane)
                at += n
        else:
            sx, sy = w / out_w, h / out_h
            # Output pixel (i, j) samples source (x + (i + .5) sx - .5, ...), as
            # cv2.resize's INTER_LINEAR does; a chroma sample covers a 2x2 luma block.
            luma = np.array([[sx, 0, x + 0.5 * sx - 0.5], [0, sy, y + 0.5 * sy - 0.5]], np.float64)
            chroma_m = np.array(
                [[sx, 0, (sx + x) / 2 - 0.5], [0, sy, (sy + y) / 2 - 0.5]], np.float64
            )
            _warp_into(self.y, luma, packed[:even_h])
            at = even_w * even_h
            if self.uv is not None:
                _warp_into(self.uv, chroma_m, flat[at : at + cw * ch * 2].reshape(ch, cw, 2))
            else:
                assert self.u is not None and self.v is not None
                _warp_into(self.u, chroma_m, flat[at : at + cw * ch].reshape(ch, cw))
                _warp_into(self.v, chroma_m, flat[at + cw * ch : at + 2 * cw * ch].reshape(ch, cw))
        if self.full_range:
            cv2.LUT(packed[:even_h], _LUMA_TO_LIMITED, dst=packed[:even_h])
            chroma_flat = flat[even_w * even_h :]
            cv2.LUT(chroma_flat, _CHROMA_TO_LIMITED, dst=chroma_flat)
        code = cv2.COLOR_YUV2BGR_NV12 if self.uv is not None else cv2.COLOR_YUV2BGR_I420
        bgr = cv2.cvtColor(packed, code)
        if (even_w, even_h) != (out_w, out_h):
            bgr = np.ascontiguousarray(bgr[:out_h, :out_w])
        return bgr


def _warp_into(src: np.ndarray, matrix: np.ndarray, dst: np.ndarray) -> None:
    """`dst[j, i] = src(matrix @ (i, j, 1))`, bilinear, edges repeated."""
    out = cv2.warpAffine(
        src,
        matrix,
        (dst.shape[1], dst.shape[0]),
        dst=dst,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    if out is not dst and not np.shares_memory(out, dst):  # never for these shapes
        np.copyto(dst, out.reshape(dst.shape))


class Cropped:
    """A region of a picture as a picture of its own (a detector's crop): `bgr` converts
    only from the region; `luma` is a view of the region's grey pixels."""

    __slots__ = ("height", "picture", "region", "width")

    def __init__(self, picture: Picture, region: Region) -> None:
        self.picture = picture
        self.region = _check_region(region, picture.width, picture.height)
        self.width, self.height = self.region[2], self.region[3]

    def bgr(self, region: Region | None = None, size: Size | None = None) -> np.ndarray:
        x, y, w, h = _check_region(region, self.width, self.height)
        rx, ry = self.region[0], self.region[1]
        return self.picture.bgr((rx + x, ry + y, w, h), size)

    def luma(self) -> np.ndarray:
        x, y, w, h = self.region
        return self.picture.luma()[y : y + h, x : x + w]

    def image(self) -> np.ndarray:
        return self.bgr()

    @property
    def nbytes(self) -> int:
        return self.picture.nbytes


def _plane(vf: Any, i: int, rows: int, cols: int, channels: int = 1) -> np.ndarray:
    """Plane `i` of a PyAV frame as a (rows, cols[, channels]) view of its buffer."""
    plane = vf.planes[i]
    flat = np.frombuffer(plane, np.uint8)
    view = flat[: rows * plane.line_size].reshape(rows, plane.line_size)[:, : cols * channels]
    return view.reshape(rows, cols, channels) if channels > 1 else view


def is_native(vf: Any) -> bool:
    """Whether a decoded frame's pixel format is kept as it is (no conversion at all)."""
    return str(vf.format.name) in NATIVE_FORMATS


def describe(vf: Any) -> str:
    """One line on a stream's pictures: what they are and what the reader does."""
    what = f"{vf.format.name} {vf.width}x{vf.height}"
    if is_native(vf):
        return f"{what}, kept as decoded (converted only where needed)"
    return f"{what}, converted to yuv420p once per picture"


def picture_of(vf: Any) -> YuvPicture:
    """The picture of a PyAV `VideoFrame`: its planes as views (no copy) for yuv420p,
    yuvj420p and NV12; any other format converted once to yuv420p (swscale). The
    frame is kept as the planes' owner."""
    if not is_native(vf):
        vf = vf.reformat(format="yuv420p")
    w, h = int(vf.width), int(vf.height)
    cw, ch = (w + 1) // 2, (h + 1) // 2
    name = str(vf.format.name)
    full = name == "yuvj420p" or int(getattr(vf, "color_range", 0) or 0) == 2  # AVCOL_RANGE_JPEG
    y = _plane(vf, 0, h, w)
    if name == "nv12":
        return YuvPicture(y, uv=_plane(vf, 1, ch, cw, 2), full_range=full, owner=vf)
    return YuvPicture(y, _plane(vf, 1, ch, cw), _plane(vf, 2, ch, cw), full_range=full, owner=vf)
