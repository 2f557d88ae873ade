"""The image measures of video quality diagnosis, on small grey pictures.

Every analysed frame's luma (no colour conversion: streams/picture.py) is reduced once
to a small grey picture (`measure_frame`, about 0.3 ms for any input size) on the
0-255 scale (limited-range luma expanded after the reduction, streams/grey.py) and a
coarse grid of blocks over it: per block the mean, the
standard deviation (texture) and the Laplacian energy (fine detail). The diagnosis
(lookout/quality/monitor.py) compares these with the preset's baseline; drift compares the view
with the preset's reference snapshot using the construction alignment
(`zones/alignment.py` `align`) on a reduced copy. See docs/ARCHITECTURE.md, "Video
quality diagnosis".
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.streams.grey import full_scale
from lookout.zones.alignment import align

log = logging.getLogger(__name__)

#: Width of the small grey picture (an integer reduction of the frame, 320–639 px).
SMALL_WIDTH = 320
#: Columns of the block grid (rows follow the aspect ratio).
GRID_COLUMNS = 16
#: A pixel whose grey level moved by at least this much counts as changed (frozen).
CHANGE_LEVEL = 5
#: Largest side of the copies that drift alignment works on.
DRIFT_WIDTH = 640
#: A baseline block at least this many times `occlusion_std` is textured.
TEXTURED_FACTOR = 2.0
#: Blur and occlusion need at least this many textured blocks in the baseline.
MIN_TEXTURED_BLOCKS = 8
#: Drift needs this fraction of textured blocks: on a featureless view (asphalt, sea,
#: sky) alignment fails or wanders by several pixels with the traffic.
MIN_DRIFT_TEXTURE = 0.25

Grid = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class FrameMeasures:
    """One frame reduced for diagnosis.

    Attributes:
        thumb: the small grey picture halved again (160–320 px wide, uint8): the one
            compared over time for a frozen picture (averaging damps the re-encoding
            noise of a repeated picture more than real change).
        mean: per-block mean grey level, rows x GRID_COLUMNS float32.
        std: per-block grey standard deviation (texture), same shape.
        detail: per-block Laplacian energy divided by the squared picture brightness
            (so a darker or brighter exposure of the same view keeps its value).
    """

    thumb: NDArray[np.uint8]
    mean: Grid
    std: Grid
    detail: Grid


def small_grey(
    image: NDArray[np.uint8], width: int = SMALL_WIDTH, *, limited: bool = False
) -> NDArray[np.uint8]:
    """A frame's grey picture (HxW luma, or HxWx3 BGR) reduced by the integer factor
    that brings it nearest above `width`, on the 0-255 grey scale (`limited`: the luma
    is limited-range Y, expanded after the reduction, streams/grey.py). Large frames
    are first sampled (nearest) to twice that size, so the cost does not grow with the
    frame (4K: ~0.3 ms)."""
    h, w = image.shape[:2]
    k = max(1, w // width)
    tw, th = max(1, w // k), max(1, h // k)
    if k >= 4:
        image = np.asarray(
            cv2.resize(image, (2 * tw, 2 * th), interpolation=cv2.INTER_NEAREST), np.uint8
        )
        k = 2
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    grey = np.asarray(grey, np.uint8)
    if k > 1:
        grey = np.asarray(cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA), np.uint8)
    return full_scale(grey, limited)


def _grid_shape(grey: NDArray[np.uint8]) -> tuple[int, int]:
    h, w = grey.shape
    return GRID_COLUMNS, max(1, round(GRID_COLUMNS * h / w))


def measure_frame(image: NDArray[np.uint8], *, limited: bool = False) -> FrameMeasures:
    """The small grey picture and its block grid of one frame: its luma (`limited`:
    limited-range Y) or, for a picture read from a file, BGR."""
    grey = small_grey(image, limited=limited)
    size = _grid_shape(grey)
    g = grey.astype(np.float32)
    mean = cv2.resize(g, size, interpolation=cv2.INTER_AREA)
    sq = cv2.resize(g * g, size, interpolation=cv2.INTER_AREA)
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    lap = cv2.Laplacian(g, cv2.CV_32F)
    energy = cv2.resize(lap * lap, size, interpolation=cv2.INTER_AREA)
    brightness = float(g.mean()) + 10.0
    half = (max(1, grey.shape[1] // 2), max(1, grey.shape[0] // 2))
    return FrameMeasures(
        thumb=np.asarray(cv2.resize(grey, half, interpolation=cv2.INTER_AREA), np.uint8),
        mean=np.asarray(mean, np.float32),
        std=np.asarray(std, np.float32),
        detail=np.asarray(energy / (brightness * brightness), np.float32),
    )


@dataclass(frozen=True, slots=True)
class Baseline:
    """What a preset looks like in good conditions: block texture and detail.

    Attributes:
        std: per-block texture (median over the learning frames, or the reference's).
        detail: per-block detail, same shape.
        textured: blocks whose texture is well above `occlusion_std`: blur and
            occlusion are judged on them (sky, asphalt and walls are naturally flat).
    """

    std: Grid
    detail: Grid
    textured: NDArray[np.bool_]

    @classmethod
    def learn(cls, frames: list[FrameMeasures], occlusion_std: float) -> Baseline:
        """The per-block median of some frames (moving objects are outvoted)."""
        std = np.median(np.stack([f.std for f in frames]), axis=0).astype(np.float32)
        detail = np.median(np.stack([f.detail for f in frames]), axis=0).astype(np.float32)
        return cls(std, detail, std >= TEXTURED_FACTOR * occlusion_std)

    @property
    def texture(self) -> float:
        """Fraction of the blocks that are textured."""
        return float(self.textured.mean())

    def fits(self, m: FrameMeasures) -> bool:
        return self.std.shape == m.std.shape


def changed_fraction(a: NDArray[np.uint8], b: NDArray[np.uint8]) -> float:
    """Fraction of pixels of two thumbnails that differ by CHANGE_LEVEL or
    more. A frozen encoder repeats a picture exactly, or re-encodes it with changes of
    a level or two; a live view changes far more (noise, light, anything moving)."""
    if a.shape != b.shape:
        return 1.0
    diff = cv2.absdiff(a, b)
    return float(np.count_nonzero(diff >= CHANGE_LEVEL)) / float(diff.size)


def covered_fraction(m: FrameMeasures, base: Baseline, occlusion_std: float) -> float | None:
    """Fraction of the baseline's textured blocks that are flat now (a covered lens is
    flat nearly everywhere); None when the view has too little texture to judge."""
    if not base.fits(m) or int(base.textured.sum()) < MIN_TEXTURED_BLOCKS:
        return None
    flat = m.std[base.textured] < occlusion_std
    return float(flat.mean())


def sharpness_ratio(m: FrameMeasures, base: Baseline) -> float | None:
    """Detail now over the baseline's, the median over textured blocks (a car passing
    changes a few blocks, rain or fog on the dome all of them); None when the view has
    too little texture to judge."""
    if not base.fits(m) or int(base.textured.sum()) < MIN_TEXTURED_BLOCKS:
        return None
    ratios = m.detail[base.textured] / np.maximum(base.detail[base.textured], 1e-9)
    return float(np.median(ratios))


@dataclass(frozen=True, slots=True)
class ViewReference:
    """A preset's reference snapshot as drift alignment uses it.

    Attributes:
        image: the snapshot's grey picture reduced by `factor`, uint8 on the 0-255
            scale (at most DRIFT_WIDTH wide): alignment works on grey only.
        factor: integer reduction from frame pixels.
        shape: (H, W) of the frames it belongs to.
        measures: the full snapshot measured as a frame (the preset's baseline).
    """

    image: NDArray[np.uint8]
    factor: int
    shape: tuple[int, int]
    measures: FrameMeasures

    @classmethod
    def of(cls, image: NDArray[np.uint8], *, limited: bool = False) -> ViewReference:
        """From a frame's luma (`limited`: limited-range Y) or a BGR snapshot."""
        h, w = image.shape[:2]
        k = max(1, math.ceil(w / DRIFT_WIDTH))
        grey = _grey(image)
        reduced = full_scale(_reduce(grey, k), limited)
        return cls(reduced, k, (h, w), measure_frame(grey, limited=limited))


def fit_reference(image: NDArray[np.uint8], shape: tuple[int, int]) -> NDArray[np.uint8] | None:
    """A reference snapshot at the frames' (H, W): as is, resized when only the
    resolution differs (e.g. taken on the main stream), None when the aspect differs."""
    h, w = image.shape[:2]
    if (h, w) == shape:
        return image
    if abs(w / h - shape[1] / shape[0]) > 0.01 * shape[1] / shape[0]:
        return None
    size = (shape[1], shape[0])
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def _grey(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


def _reduce(image: NDArray[np.uint8], k: int) -> NDArray[np.uint8]:
    if k == 1:
        return image
    h, w = image.shape[:2]
    size = (max(1, w // k), max(1, h // k))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)


def drift_px(ref: ViewReference, image: NDArray[np.uint8], *, limited: bool = False) -> float:
    """How far (frame pixels) the view moved from the reference: the largest shift of
    the frame's corners under the alignment transform; infinite when the view cannot
    be aligned at all (turned away, or a different place). `image` is the frame's
    luma (`limited`: limited-range Y) or BGR."""
    current = full_scale(_reduce(_grey(image), ref.factor), limited)
    if current.shape != ref.image.shape:
        return math.inf
    try:
        al = align(ref.image, current)
    except cv2.error as exc:
        log.debug("drift alignment failed: %s", exc)
        return math.inf
    if not al.ok:
        return math.inf
    h, w = ref.image.shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, al.matrix).reshape(-1, 2)
    shift = np.linalg.norm(moved - corners.reshape(-1, 2), axis=1)
    return float(shift.max()) * ref.factor


def view_reference_path(references: Path, camera_id: str, preset: str) -> Path:
    """`<references>/views/<camera>_<preset>.jpg`, the preset's reference snapshot
    (characters other than letters, digits and `_.-` in a preset token become `_`)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", preset) or "_"
    return references / "views" / f"{camera_id}_{safe}.jpg"


def save_view_reference(path: Path, image: NDArray[np.uint8]) -> None:
    """Write a reference snapshot atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.jpg")
    if not cv2.imwrite(str(tmp), image, [cv2.IMWRITE_JPEG_QUALITY, 95]):
        raise OSError(f"{tmp}: cannot write")
    tmp.replace(path)


def load_view_reference(path: Path) -> NDArray[np.uint8] | None:
    """The snapshot at `path` as BGR uint8, or None when there is none (or unreadable)."""
    if not path.is_file():
        return None
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, np.uint8)
