"""Decode raw YOLOX / Ultralytics outputs into per-image `Detections`.

Steps per image: decode to (boxes in model-input pixels, best-class score, class id),
drop candidates below the confidence threshold, class-aware NMS
(`cv2.dnn.NMSBoxesBatched`), map boxes back through the letterbox, clip to the image.

Layouts (N = batch, A = anchors, C = classes):
- yolox: (N, A, 5 + C) float32 = (raw_cx, raw_cy, raw_w, raw_h, objectness, C class
  scores), sigmoids applied, boxes not decoded: per stride-8/16/32 grid cell
  `xy = (raw_xy + grid_xy) * stride`, `wh = exp(raw_wh) * stride`; score = obj * cls.
- ultralytics: (N, 4 + C, A) float32 = (cx, cy, w, h, C class scores), boxes already
  in model-input pixels, no objectness.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Literal

import cv2
import numpy as np

from lookout.detector.detections import Detections
from lookout.detector.preprocess import Letterbox

Layout = Literal["yolox", "ultralytics"]
YOLOX_STRIDES: tuple[int, ...] = (8, 16, 32)

# OpenCV's stubs declare Python sequences; numpy arrays are accepted (and faster).
_nms_boxes_batched: Callable[..., Any] = cv2.dnn.NMSBoxesBatched

# A decoded candidate set: boxes xyxy (M, 4) float32 in model-input pixels,
# scores (M,) float32, class ids (M,) int32.
Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


@lru_cache(maxsize=16)
def yolox_grid(
    input_height: int, input_width: int, strides: tuple[int, ...] = YOLOX_STRIDES
) -> tuple[np.ndarray, np.ndarray]:
    """Anchor grid for a YOLOX head, built once per input size.

    Returns:
        (grid, stride): grid (A, 2) float32 cell (x, y) indices, stride (A, 1) float32,
        in the model's anchor order (stride by stride, row-major within a stride).
        Read-only arrays (they are shared through the cache).
    """
    grids, expanded = [], []
    for stride in strides:
        h, w = input_height // stride, input_width // stride
        yv, xv = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        grids.append(np.stack((xv, yv), axis=2).reshape(-1, 2))
        expanded.append(np.full((h * w, 1), stride))
    grid = np.concatenate(grids).astype(np.float32)
    stride_col = np.concatenate(expanded).astype(np.float32)
    grid.flags.writeable = False
    stride_col.flags.writeable = False
    return grid, stride_col


def _cxcywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """(M, 4) centre/size boxes -> (M, 4) float32 corner boxes."""
    half = cxcywh[:, 2:4] * 0.5
    return np.concatenate((cxcywh[:, :2] - half, cxcywh[:, :2] + half), axis=1).astype(
        np.float32, copy=False
    )


def decode_yolox(
    raw: np.ndarray, input_height: int, input_width: int, conf_threshold: float
) -> list[Candidates]:
    """Decode a YOLOX output.

    Args:
        raw: (N, A, 5 + C) float32.
        input_height, input_width: model input size (defines the anchor grid).
        conf_threshold: keep anchors whose obj * best class score >= this.

    Returns:
        Per image: (boxes xyxy (M, 4) float32 in input pixels, scores (M,) float32,
        class ids (M,) int32).
    """
    if raw.ndim != 3 or raw.shape[2] < 6:
        raise ValueError(f"YOLOX output must be (N, A, 5 + C), got {raw.shape}")
    grid, stride = yolox_grid(input_height, input_width)
    if raw.shape[1] != grid.shape[0]:
        raise ValueError(
            f"YOLOX output has {raw.shape[1]} anchors, expected {grid.shape[0]} for a "
            f"{input_width}x{input_height} input"
        )
    results: list[Candidates] = []
    for pred in raw:
        # YOLOX exports sigmoid scores, so obj * class score <= obj: anchors whose
        # objectness is below the threshold cannot pass it, and the argmax over the
        # classes runs on the few that can (about 2% on real crops; 5x faster).
        cand = np.flatnonzero(pred[:, 4] >= conf_threshold)
        cls_scores = pred[cand, 5:]
        class_id = cls_scores.argmax(axis=1)
        score = pred[cand, 4] * cls_scores[np.arange(len(cand)), class_id]
        passed = score >= conf_threshold
        keep, score, class_id = cand[passed], score[passed], class_id[passed]
        sel = pred[keep]
        xy = (sel[:, :2] + grid[keep]) * stride[keep]
        wh = np.exp(sel[:, 2:4]) * stride[keep]
        boxes = _cxcywh_to_xyxy(np.concatenate((xy, wh), axis=1))
        results.append((boxes, score.astype(np.float32), class_id.astype(np.int32)))
    return results


def decode_ultralytics(raw: np.ndarray, conf_threshold: float) -> list[Candidates]:
    """Decode an Ultralytics detection output.

    Args:
        raw: (N, 4 + C, A) float32.
        conf_threshold: keep anchors whose best class score >= this.

    Returns:
        Per image: (boxes xyxy (M, 4) float32 in input pixels, scores (M,) float32,
        class ids (M,) int32).
    """
    if raw.ndim != 3 or raw.shape[1] < 5:
        raise ValueError(f"Ultralytics output must be (N, 4 + C, A), got {raw.shape}")
    results: list[Candidates] = []
    for pred in raw:
        cls_scores = pred[4:]  # (C, A)
        class_id = cls_scores.argmax(axis=0)
        score = np.take_along_axis(cls_scores, class_id[None, :], axis=0)[0]
        keep = np.flatnonzero(score >= conf_threshold)
        boxes = _cxcywh_to_xyxy(pred[:4, keep].T)
        results.append((boxes, score[keep].astype(np.float32), class_id[keep].astype(np.int32)))
    return results


def nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    max_detections: int = 300,
) -> np.ndarray:
    """Class-aware non-maximum suppression (boxes of different classes never
    suppress each other), via `cv2.dnn.NMSBoxesBatched`.

    Args:
        xyxy: (M, 4) float32 boxes.
        scores: (M,) float32.
        class_ids: (M,) int.
        iou_threshold: suppress a box whose IoU with a better box of the same class
            exceeds this.
        max_detections: keep at most this many boxes (highest scores).

    Returns:
        Kept indices into the inputs, (K,) int64, by decreasing score.
    """
    if len(xyxy) == 0:
        return np.zeros(0, dtype=np.int64)
    xywh = np.asarray(xyxy, dtype=np.float32).copy()
    xywh[:, 2:] -= xywh[:, :2]
    keep = _nms_boxes_batched(
        xywh,
        np.asarray(scores, dtype=np.float32),
        np.asarray(class_ids, dtype=np.int32),
        0.0,
        float(iou_threshold),
        top_k=int(max_detections),
    )
    return np.asarray(keep, dtype=np.int64).reshape(-1)


def undo_letterbox(xyxy: np.ndarray, geometry: Letterbox) -> np.ndarray:
    """Map boxes from model-input pixels to original-image pixels, clipped to it.

    Args:
        xyxy: (M, 4) float32 boxes in model-input pixels.
        geometry: the image's letterbox geometry.

    Returns:
        (M, 4) float32 boxes within [0, width] x [0, height].
    """
    out = np.asarray(xyxy, dtype=np.float32).copy()
    out[:, 0::2] = (out[:, 0::2] - geometry.pad_x) / geometry.scale_x
    out[:, 1::2] = (out[:, 1::2] - geometry.pad_y) / geometry.scale_y
    np.clip(out[:, 0::2], 0, geometry.width, out=out[:, 0::2])
    np.clip(out[:, 1::2], 0, geometry.height, out=out[:, 1::2])
    return out


def postprocess(
    raw: np.ndarray,
    *,
    layout: Layout,
    geometries: list[Letterbox],
    input_height: int,
    input_width: int,
    conf_threshold: float,
    iou_threshold: float,
    max_detections: int = 300,
) -> list[Detections]:
    """Raw model output -> one `Detections` per image, boxes in original pixels.

    Args:
        raw: model output for the batch (layout described in the module docstring);
            its first dimension must equal `len(geometries)`.
        geometries: letterbox geometry of each image, in batch order.

    Returns:
        Per image `Detections` (xyxy float32 (K, 4), confidence float32, class_id
        int32), sorted by decreasing confidence.
    """
    if raw.shape[0] != len(geometries):
        raise ValueError(f"output batch {raw.shape[0]} != {len(geometries)} images")
    if layout == "yolox":
        candidates = decode_yolox(raw, input_height, input_width, conf_threshold)
    else:
        candidates = decode_ultralytics(raw, conf_threshold)
    results = []
    for (boxes, scores, class_ids), geometry in zip(candidates, geometries, strict=True):
        keep = nms(boxes, scores, class_ids, iou_threshold, max_detections)
        results.append(
            Detections.create(
                xyxy=undo_letterbox(boxes[keep], geometry),
                confidence=scores[keep],
                class_id=class_ids[keep],
            )
        )
    return results
