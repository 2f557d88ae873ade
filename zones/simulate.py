"""Simulated survey visits of a watched area, for evaluating illegal-construction rules:
a real frame re-visited over simulated days with lighting changes, PTZ return errors
(small shifts and rotations) and sensor noise, optionally with a structure composited
in from a given visit on: a drawn blue colour-steel shed, or a patch of real pixels (a
building cut from another picture) scaled into the shed's box. Deterministic for a
seed."""

from __future__ import annotations

from datetime import datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]


def rigid(
    angle_deg: float, dx: float, dy: float, shape: tuple[int, ...]
) -> npt.NDArray[np.float64]:
    """3x3 rotation about the image centre followed by a shift."""
    h, w = shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    m[:, 2] += np.array([dx, dy])
    return np.vstack([m, [0.0, 0.0, 1.0]])


def move(image: Image, m: npt.NDArray[np.float64]) -> Image:
    """Warp by a 3x3 rigid transform (a PTZ camera returning not quite to its preset)."""
    h, w = image.shape[:2]
    out = cv2.warpAffine(
        image, m[:2], (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(out, np.uint8)


def add_shed(
    image: Image, box: tuple[float, float, float, float], patch: Image | None = None
) -> Image:
    """Composite a structure into `box`: `patch` (real pixels, scaled to the box), else a
    drawn blue colour-steel shed (ribbed sheet, darker eave, dark outline)."""
    out = image.copy()
    x1, y1, x2, y2 = (int(v) for v in box)
    if patch is not None:
        size = (x2 - x1, y2 - y1)
        out[y1:y2, x1:x2] = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
        return out
    cv2.rectangle(out, (x1, y1), (x2, y2), (185, 115, 40), -1)
    for x in range(x1 + 4, x2, 8):
        cv2.line(out, (x, y1), (x, y2), (150, 90, 30), 2)
    cv2.rectangle(out, (x1, y1), (x2, y1 + 8), (120, 70, 25), -1)
    cv2.rectangle(out, (x1, y1), (x2, y2), (40, 30, 20), 2)
    return out


def lighting(image: Image, gain: float, offset: float, gamma: float) -> Image:
    """Exposure and time-of-day change: gain, offset, then gamma."""
    x = np.clip(image.astype(np.float32) * gain + offset, 0, 255) / 255.0
    return np.asarray(np.clip(255.0 * x**gamma, 0, 255), np.uint8)


def visits(
    frame: Image,
    start: datetime,
    *,
    shed: tuple[float, float, float, float] | None,
    shed_from: int = 2,
    shed_patch: Image | None = None,
    count: int = 9,
    every_h: float = 12.0,
    seed: int = 7,
) -> list[tuple[datetime, Image]]:
    """`count` visits `every_h` hours apart; the shed (if any) is there from visit
    `shed_from` on (`shed_patch`: real pixels instead of the drawn shed). Each visit:
    ±5 px / ±0.5° return error, random lighting, noise."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        at = start + timedelta(hours=every_h * k)
        scene = frame
        if shed is not None and k >= shed_from:
            scene = add_shed(frame, shed, shed_patch)
        m = rigid(rng.uniform(-0.5, 0.5), rng.uniform(-5, 5), rng.uniform(-5, 5), frame.shape)
        image = lighting(
            move(scene, m), rng.uniform(0.8, 1.2), rng.uniform(-30, 30), rng.uniform(0.8, 1.25)
        )
        noisy = image.astype(np.float32) + rng.normal(0.0, 3.0, image.shape)
        out.append((at, np.asarray(np.clip(noisy, 0, 255), np.uint8)))
    return out
