"""Privacy in evidence (docs/DELIVERY.md "Evidence privacy"): blur passers-by, keep the
evidence sharp, and keep the files private.

`evidence.blur: [bystanders]` blurs every person the detector saw in the frame who is
not the subject of the case, before the evidence is drawn and cropped. No new model:
the boxes are the detector's own (`ViolationEvent.scene`, set by the zone engine).

- Subject people stay sharp: the track ids the case is about (`track_id`, and for a
  street vendor the stall's people and stall objects, `subject_ids`).
- What the case is about stays sharp even where a bystander's box overlaps it: the
  subject's own boxes, the case box (except a stall's, which is the union of its group
  and can span passers-by), and in a parking case every vehicle box — vehicles and
  plates are the evidence.
- A bystander box is grown by `MARGIN` of its size (heads stick out of person boxes)
  and smoothed with a Gaussian whose kernel is half the box's shorter side, so no face
  detail is left at any box size.

Evidence folders are made 0750 and files 0640 (`private_dir`, `write_private`), set
explicitly, whatever the process umask.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from lookout.streams.frame import replace as replace_frame
from lookout.zones.events import Scene, ViolationEvent

BYSTANDERS = "bystanders"
DIR_MODE = 0o750
FILE_MODE = 0o640
#: A bystander box grows by this fraction of its width/height on each side.
MARGIN = 0.1
#: Persons inside a stall's case box by this much of their area count as the stall's
#: when its track ids are unknown (an event made without `subject_ids`).
INSIDE = 0.9

Box = tuple[int, int, int, int]


def for_evidence(event: ViolationEvent, blur: Collection[str]) -> ViolationEvent:
    """The event as evidence may show it: with `bystanders` in `blur`, its frame's
    bystanders blurred (a copy of the frame); otherwise the event itself."""
    if BYSTANDERS not in blur:
        return event
    boxes = bystander_boxes(event)
    if not boxes:
        return event
    image = blur_boxes(event.frame.image, boxes, keep_boxes(event))
    return replace(event, frame=replace_frame(event.frame, image=image))


def _scaled(event: ViolationEvent, mask: np.ndarray) -> np.ndarray:
    """Boxes of the scene's rows in `mask`, in pixels of the event's frame, (K, 4)
    float64. The scene may come from another stream of the camera (a sub-stream
    analysed, the main stream drawn): scale by the two frame sizes."""
    scene = event.scene
    if scene is None:
        return np.zeros((0, 4))
    sx = event.frame.width / scene.size[0]
    sy = event.frame.height / scene.size[1]
    return scene.detections.xyxy[mask].astype(np.float64) * (sx, sy, sx, sy)


def _subject_mask(event: ViolationEvent, scene: Scene) -> np.ndarray:
    """Rows of the scene that are the case's subjects (by track id)."""
    ids = np.array([event.track_id, *event.subject_ids], dtype=np.int64)
    tid = scene.detections.tracker_id
    return (tid >= 0) & np.isin(tid, ids)


def bystander_boxes(event: ViolationEvent) -> list[Box]:
    """Person boxes that are not the case's subjects, in frame pixels, grown by
    `MARGIN` and clipped to the frame."""
    scene = event.scene
    if scene is None:
        return []
    people = scene.person & ~_subject_mask(event, scene)
    boxes = _scaled(event, people)
    if event.type == "street_vendor" and not event.subject_ids and len(boxes):
        boxes = boxes[_inside(boxes, event.bbox) < INSIDE]
    w, h = event.frame.width, event.frame.height
    out: list[Box] = []
    for x1, y1, x2, y2 in boxes:
        mx, my = (x2 - x1) * MARGIN, (y2 - y1) * MARGIN
        box = _clip((x1 - mx, y1 - my, x2 + mx, y2 + my), w, h)
        if box is not None:
            out.append(box)
    return out


def keep_boxes(event: ViolationEvent) -> list[Box]:
    """What stays sharp even under a bystander's box (module docstring)."""
    scene = event.scene
    w, h = event.frame.width, event.frame.height
    rows: list[np.ndarray] = []
    if event.type != "street_vendor":
        rows.append(np.array([event.bbox], dtype=np.float64))
    if scene is not None:
        keep = _subject_mask(event, scene)
        if event.type == "illegal_parking":
            keep |= scene.vehicle
        rows.append(_scaled(event, keep))
    out: list[Box] = []
    for x1, y1, x2, y2 in np.concatenate(rows) if rows else []:
        box = _clip((x1, y1, x2, y2), w, h)
        if box is not None:
            out.append(box)
    return out


def blur_boxes(image: np.ndarray, boxes: list[Box], keep: list[Box]) -> np.ndarray:
    """A copy of `image` (H, W, 3 uint8) with each box smoothed, then the `keep` boxes
    put back as they were."""
    out = image.copy()
    for x1, y1, x2, y2 in boxes:
        roi = out[y1:y2, x1:x2]
        k = max(3, min(x2 - x1, y2 - y1) // 2) | 1  # odd
        out[y1:y2, x1:x2] = cv2.GaussianBlur(roi, (k, k), 0, borderType=cv2.BORDER_REPLICATE)
    for x1, y1, x2, y2 in keep:
        out[y1:y2, x1:x2] = image[y1:y2, x1:x2]
    return out


def _inside(boxes: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """Fraction of each box's area that lies inside `box`, (K,)."""
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    area = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-9)
    return np.asarray(ix * iy / area)


def _clip(box: tuple[float, float, float, float], w: int, h: int) -> Box | None:
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


def private_dir(path: Path) -> None:
    """Make the folder (and missing parents) and set it to 0750."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new or truncated file with mode 0640 (fchmod: the umask may
    have narrowed what `open` made, and an existing file keeps its old mode)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
