"""Pure image operations for composited evaluation clips (docs/EVALUATION.md,
"Composited scenarios"): a patch of real pixels cut from a picture and pasted into
every frame, and the effects a camera's picture goes through over time (a lighting
ramp, rain streaks, a shaking mast).

A patch is real pixels only — a crop of a shared image or of a footage frame, scaled,
with an alpha that is 1 inside and falls to 0 over `feather` px at its edges (and,
optionally, a GrabCut mask of its own pixels, to take an object without its
background). It is placed by its bottom-centre (its ground point, where a thing
stands), so a scale change keeps it standing where it was put. Every operation
returns a new uint8 BGR picture of the size it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]
Alpha = npt.NDArray[np.float32]
Box = tuple[float, float, float, float]

#: Footage suffixes read as video (a frame index picks the picture); others are images.
VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mkv", ".mov", ".ts", ".webm"})


def read_picture(path: Path, frame: int = 0) -> Image:
    """Picture `frame` (0-based, every decoded frame counts) of a footage file, or the
    picture of an image file, as BGR uint8. ValueError: unreadable or too short."""
    if path.suffix.lower() in VIDEO_SUFFIXES:
        with av.open(str(path)) as container:
            for i, vf in enumerate(container.decode(video=0)):
                if i == frame:
                    return np.asarray(vf.to_ndarray(format="bgr24"), np.uint8)
        raise ValueError(f"{path}: has no frame {frame}")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: not a readable image")
    return np.asarray(image, np.uint8)


@dataclass(frozen=True, slots=True)
class Patch:
    """Scaled pixels and their alpha (same height and width)."""

    pixels: Image
    alpha: Alpha

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return int(self.pixels.shape[1]), int(self.pixels.shape[0])


def feather_alpha(width: int, height: int, feather: float) -> Alpha:
    """1 inside, falling linearly to 0 over `feather` px towards every edge."""
    if feather <= 0:
        return np.ones((height, width), np.float32)
    xs = np.arange(width, dtype=np.float32) + 0.5
    ys = np.arange(height, dtype=np.float32) + 0.5
    dx = np.minimum(xs, width - xs)
    dy = np.minimum(ys, height - ys)
    edge = np.minimum(dy[:, None], dx[None, :])
    return np.asarray(np.clip(edge / feather, 0.0, 1.0), np.float32)


def grabcut_mask(source: Image, box: tuple[int, int, int, int], iterations: int = 5) -> Alpha:
    """The foreground of `box` by GrabCut seeded with the box (its outside is
    background), as a 0/1 mask of the box's size. Deterministic (OpenCV's RNG seeded)."""
    x1, y1, x2, y2 = box
    mask = np.zeros(source.shape[:2], np.uint8)
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    cv2.grabCut(
        source, mask, (x1, y1, x2 - x1, y2 - y1), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT
    )
    fg = (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)
    return np.asarray(fg[y1:y2, x1:x2], np.float32)


def cut_patch(
    source: Image, box: Box, *, scale: float = 1.0, feather: float = 0.0, grabcut: bool = False
) -> Patch:
    """The pixels of `box` [x1, y1, x2, y2] of `source`, scaled by `scale`, with a
    feathered alpha (`feather` px at the scaled size), times a GrabCut mask if asked."""
    h, w = source.shape[:2]
    x1, y1 = max(0, round(box[0])), max(0, round(box[1]))
    x2, y2 = min(w, round(box[2])), min(h, round(box[3]))
    if x2 - x1 < 2 or y2 - y1 < 2:
        raise ValueError(f"box {list(box)} is outside the {w}x{h} source or under 2 px")
    crop = source[y1:y2, x1:x2]
    cut = grabcut_mask(source, (x1, y1, x2, y2)) if grabcut else None
    size = (max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    pixels = np.asarray(cv2.resize(crop, size, interpolation=interp), np.uint8)
    alpha = feather_alpha(size[0], size[1], feather)
    if cut is not None:
        soft = cv2.resize(cut, size, interpolation=cv2.INTER_LINEAR)
        if feather > 0:
            k = max(1.0, feather / 2)
            soft = cv2.GaussianBlur(soft, (0, 0), k)
        alpha = np.asarray(alpha * np.clip(soft, 0.0, 1.0), np.float32)
    return Patch(pixels, alpha)


def paste(image: Image, patch: Patch, at: tuple[float, float]) -> Image:
    """`image` with `patch` blended in by its alpha, its bottom-centre at `at` [x, y];
    the part outside the picture is cut off."""
    out = image.copy()
    pw, ph = patch.size
    x0 = round(at[0] - pw / 2)
    y0 = round(at[1] - ph)
    h, w = image.shape[:2]
    ix1, iy1, ix2, iy2 = max(0, x0), max(0, y0), min(w, x0 + pw), min(h, y0 + ph)
    if ix1 >= ix2 or iy1 >= iy2:
        return out
    px1, py1 = ix1 - x0, iy1 - y0
    src = patch.pixels[py1 : py1 + iy2 - iy1, px1 : px1 + ix2 - ix1].astype(np.float32)
    a = patch.alpha[py1 : py1 + iy2 - iy1, px1 : px1 + ix2 - ix1, None]
    dst = out[iy1:iy2, ix1:ix2].astype(np.float32)
    out[iy1:iy2, ix1:ix2] = np.clip(a * src + (1.0 - a) * dst + 0.5, 0, 255).astype(np.uint8)
    return out


def relight(image: Image, gain: float, offset: float) -> Image:
    """Exposure change: every channel times `gain` plus `offset`, clipped."""
    return np.asarray(np.clip(image.astype(np.float32) * gain + offset, 0, 255), np.uint8)


def rain(
    image: Image,
    rng: np.random.Generator,
    *,
    density: float = 0.002,
    length: int = 15,
    angle_deg: float = 10.0,
    strength: float = 0.35,
) -> Image:
    """Rain as an image effect: a sparse random field (`density` drops per pixel)
    smeared along the fall direction into streaks `length` px long, blended towards
    white by up to `strength`, over a slightly hazed picture. Fresh per call of `rng`."""
    h, w = image.shape[:2]
    drops = (rng.random((h, w)) < density).astype(np.float32)
    k = max(3, length | 1)
    kernel = np.zeros((k, k), np.float32)
    c = k // 2
    dx, dy = np.sin(np.radians(angle_deg)), np.cos(np.radians(angle_deg))
    for s in np.linspace(-c, c, 2 * k):
        kernel[round(c + s * dy), round(c + s * dx)] = 1.0
    kernel /= kernel.sum()
    streaks = cv2.filter2D(drops, -1, kernel)
    streaks = np.clip(streaks / max(float(streaks.max()), 1e-6), 0.0, 1.0)[:, :, None] * strength
    hazed = cv2.GaussianBlur(image, (0, 0), 0.8).astype(np.float32) * 0.92 + 255 * 0.04
    out = hazed * (1.0 - streaks) + 230.0 * streaks
    return np.asarray(np.clip(out, 0, 255), np.uint8)


def shake_offset(seed: int, index: int, max_px: int) -> tuple[int, int]:
    """The camera's displacement at frame `index`: integers in [-max_px, max_px],
    the same for a seed and index whatever frames were drawn before."""
    if max_px <= 0:
        return 0, 0
    rng = np.random.default_rng((seed, index))
    dx, dy = rng.integers(-max_px, max_px + 1, size=2)
    return int(dx), int(dy)


def translate(image: Image, dx: int, dy: int) -> Image:
    """The picture moved by (dx, dy) px, the uncovered border reflected."""
    h, w = image.shape[:2]
    matrix = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]])
    out = cv2.warpAffine(
        image, matrix, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, np.uint8)
