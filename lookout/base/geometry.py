"""Box geometry shared by the tracker, the zone rules and case dedup (one place)."""

from __future__ import annotations

import numpy as np

Box = tuple[float, float, float, float]


def _pairwise(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections (A, B) and areas (A,), (B,) of xyxy boxes a (A, 4) and b (B, 4)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0.0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=1)
    return inter, area_a, area_b


def box_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (A, 4) and b (B, 4), xyxy: shape (A, B), float64."""
    inter, area_a, area_b = _pairwise(a, b)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def box_ioss(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over the smaller box, xyxy: shape (A, B), float64."""
    inter, area_a, area_b = _pairwise(a, b)
    smaller = np.minimum(area_a[:, None], area_b[None, :])
    return np.divide(inter, smaller, out=np.zeros_like(inter), where=smaller > 0)


def box_iou(a: Box, b: Box) -> float:
    """IoU of two (x1, y1, x2, y2) boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
