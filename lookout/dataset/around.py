"""Clean frames sampled around each case from a recorded file (`lookout replay
--around N`, docs/LEARNING.md "Frames around a case").

A case keeps one clean frame (`dataset: {keep: true}`, lookout/cases/evidence.py). A
model learns more from the same scene a few seconds earlier and later — the subject a
little moved, other passers-by, other light — and a replay can go back to the file for
them. After the replay, for every new case that kept its frame, `N` frames at most
`spread_s` seconds before and after it are decoded again, run through the same
detector, and stored beside the case's own as `evidence/<id>_around<k>_clean.jpg` and
`<id>_around<k>_frame.json` (the same version-1 record, 0640, the same retention:
lookout/cases/evidence.py `dataset_paths`).

The case's subjects are carried over by place: a detection of the sampled frame that
overlaps a subject's box (IoU >= SUBJECT_IOU) gets the subject's track id, so that a
false alarm's object is left out of those frames' labels too (a hard negative). They
belong to the case: `lookout dataset export` puts them on the case's side of the
train/val split, so frames seconds apart never sit on both sides.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np

from lookout.cases.evidence import AROUND_MAX, EncodedPicture, EvidenceWriter, around_paths
from lookout.cases.model import DraftCase
from lookout.dataset.export import FRAME_VERSION, KeptFrame, kept_paths, read_frame
from lookout.detector.detections import Detections
from lookout.detector.onnx_model import OnnxDetector
from lookout.streams.file_reader import FileReader

log = logging.getLogger(__name__)

SUBJECT_IOU = 0.3


@dataclass(frozen=True, slots=True)
class Target:
    """One frame to keep: the `k`-th around `case`, wanted at `pts_s` in the file."""

    case: KeptFrame
    k: int
    pts_s: float
    offset_s: float


def offsets(count: int, spread_s: float) -> list[float]:
    """`count` offsets from the case's frame, alternately before and after it, evenly
    out to `spread_s`: 4 over 10 s gives -5, +5, -10, +10."""
    pairs = math.ceil(count / 2)
    out: list[float] = []
    for i in range(1, pairs + 1):
        d = spread_s * i / pairs
        out += [-d, d]
    return out[:count]


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def record(
    target: Target, captured_at: datetime, image: np.ndarray, dets: Detections
) -> dict[str, object]:
    """The `_frame.json` of a sampled frame: the detector's boxes with the case's class
    names, the case's subjects matched by place."""
    case = target.case
    subject_boxes = [(d.track_id, d.box) for d in case.detections if d.track_id in case.subjects]
    detections: list[dict[str, object]] = []
    subjects: set[int] = set()
    for i in range(len(dets)):
        box = [float(v) for v in dets.xyxy[i]]
        cid = int(dets.class_id[i])
        best = max(subject_boxes, key=lambda s: _iou(box, s[1]), default=None)
        track = -1
        if best is not None and best[0] >= 0 and _iou(box, best[1]) >= SUBJECT_IOU:
            track = best[0]
            subjects.add(track)
        detections.append(
            {
                "class_id": cid,
                "class_name": case.class_names[cid],
                "box": [round(v, 1) for v in box],
                "confidence": round(float(dets.confidence[i]), 4),
                "track_id": track,
            }
        )
    h, w = image.shape[:2]
    return {
        "version": FRAME_VERSION,
        "case_id": case.case_id,
        "camera_id": case.camera_id,
        "preset": case.preset,
        "captured_at": captured_at.isoformat(),
        "width": w,
        "height": h,
        "class_names": list(case.class_names),
        "detections": detections,
        "subjects": sorted(subjects),
        "around": {"k": target.k, "offset_s": round(target.offset_s, 3)},
    }


def plan(
    cases: Sequence[DraftCase],
    out_dir: Path,
    start_time: datetime,
    duration_s: float | None,
    count: int,
    spread_s: float,
    model_names: Sequence[str],
) -> list[Target]:
    """The frames to sample: for each case that kept its frame (with the same model's
    class names), `count` offsets inside the file."""
    targets: list[Target] = []
    for case in cases:
        _, meta = kept_paths(out_dir, case.id)
        if not meta.is_file():
            continue
        kept = read_frame(meta)
        if list(kept.class_names[: len(model_names)]) != list(model_names):
            log.warning("case %s: kept with other class names; nothing sampled", case.id)
            continue
        at = (kept.captured_at - start_time).total_seconds()
        k = 0
        for off in offsets(count, spread_s):
            t = at + off
            if t < 0 or (duration_s is not None and t > duration_s):
                continue
            k += 1
            targets.append(Target(kept, k, t, off))
    return sorted(targets, key=lambda t: t.pts_s)


def sample_around(
    video: Path,
    cases: Sequence[DraftCase],
    *,
    out_dir: Path,
    detector: OnnxDetector,
    start_time: datetime,
    count: int,
    spread_s: float,
    jpeg_quality: int = 95,
) -> int:
    """Decode `video` once more and keep up to `count` clean frames around each case
    (see the module's docstring); return how many were written."""
    if not 1 <= count <= AROUND_MAX:
        raise ValueError(f"count must be within 1..{AROUND_MAX}")
    probe = FileReader.probe(video)
    fps = probe.fps or 25.0
    targets = plan(
        cases, out_dir, start_time, probe.duration_s, count, spread_s, detector.class_names
    )
    if not targets:
        return 0
    camera = targets[0].case.camera_id
    reader = FileReader(video, camera, analysis_fps=fps * 4, start_time=start_time)
    writer = EvidenceWriter(out_dir)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    pending = list(targets)
    written = 0
    for frame in reader:  # every frame: the sampler's rate is above the file's
        due = [t for t in pending if frame.pts_s >= t.pts_s - 0.5 / fps]
        if not due:
            continue
        pending = [t for t in pending if t not in due]
        dets = detector.detect([frame.image])[0]
        ok, jpeg = cv2.imencode(".jpg", frame.image, params)
        if not ok:
            raise OSError(f"JPEG encoding failed for a frame of {video}")
        for target in due:
            clean, meta = around_paths(target.case.case_id, target.k)
            body = json.dumps(record(target, frame.captured_at, frame.image, dets))
            writer.store(
                [
                    EncodedPicture(Path(clean).name, jpeg.tobytes()),
                    EncodedPicture(Path(meta).name, body.encode("utf-8")),
                ]
            )
            written += 1
        if not pending:
            break
    return written
