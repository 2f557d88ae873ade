"""Evidence pictures: the full frame with the zone and the box drawn, plus a crop; and,
with `dataset.keep`, the clean frame and all its detections to learn from
(docs/LEARNING.md), kept beside the evidence but never listed in the case JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lookout.base.i18n import Language
from lookout.cases.blur import for_evidence, private_dir, write_private
from lookout.cases.labels import Labels
from lookout.zones.events import ViolationEvent

ZONE_COLOUR = (0, 200, 255)  # BGR amber
BOX_COLOUR = (0, 0, 255)  # BGR red
STATIC_COLOUR = (255, 160, 0)  # BGR azure: what the scene model found staying


@dataclass(frozen=True, slots=True)
class EncodedPicture:
    """One evidence JPEG, encoded: its file name under `evidence/` and its bytes."""

    name: str
    data: bytes


def static_boxes(event: ViolationEvent) -> list[tuple[float, float, float, float]]:
    """The static objects (zones/stationary.py) of the event's frame that belong to it
    — its subjects, or inside its box — in pixels of the event's frame."""
    scene = event.scene
    if scene is None or scene.static is None or not scene.static.any():
        return []
    sx, sy = event.frame.width / scene.size[0], event.frame.height / scene.size[1]
    dets = scene.detections[scene.static]
    ids = {event.track_id, *event.subject_ids}
    ex1, ey1, ex2, ey2 = event.bbox
    out = []
    for box, tid in zip(dets.xyxy.astype(float), dets.tracker_id.tolist(), strict=True):
        x1, y1, x2, y2 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
        inside = x1 >= ex1 - 2 and y1 >= ey1 - 2 and x2 <= ex2 + 2 and y2 <= ey2 + 2
        if (tid >= 0 and tid in ids) or inside:
            out.append((x1, y1, x2, y2))
    return out


AROUND_MAX = 8
"""At most this many clean frames sampled around a case (`lookout replay --around`)."""


def around_paths(case_id: str, k: int) -> list[str]:
    """The `k`-th clean frame sampled around a case and its detections (1-based)."""
    return [f"evidence/{case_id}_around{k}_clean.jpg", f"evidence/{case_id}_around{k}_frame.json"]


def dataset_paths(case_id: str) -> list[str]:
    """The kept clean frame and detections of a case (`dataset.keep`), then those that
    replay sampled around it (`around_paths`), relative to the output folder (they
    exist only when kept)."""
    around = [p for k in range(1, AROUND_MAX + 1) for p in around_paths(case_id, k)]
    return [f"evidence/{case_id}_clean.jpg", f"evidence/{case_id}_frame.json", *around]


def frame_record(case_id: str, event: ViolationEvent) -> dict[str, object]:
    """`<case>_frame.json` (docs/LEARNING.md): the frame's detections with their class
    names and track ids, boxes scaled to the event's frame, and the case's subjects."""
    frame = event.frame
    detections: list[dict[str, object]] = []
    names: list[str] = []
    scene = event.scene
    if scene is not None:
        names = list(scene.names)
        sx, sy = frame.width / scene.size[0], frame.height / scene.size[1]
        d = scene.detections
        for i in range(len(d)):
            x1, y1, x2, y2 = (float(v) for v in d.xyxy[i])
            cid = int(d.class_id[i])
            detections.append(
                {
                    "class_id": cid,
                    "class_name": names[cid] if 0 <= cid < len(names) else str(cid),
                    "box": [round(v, 1) for v in (x1 * sx, y1 * sy, x2 * sx, y2 * sy)],
                    "confidence": round(float(d.confidence[i]), 4),
                    "track_id": int(d.tracker_id[i]),
                }
            )
    return {
        "version": 1,
        "case_id": case_id,
        "camera_id": event.camera_id,
        "preset": event.preset,
        "captured_at": frame.captured_at.isoformat(),
        "width": frame.width,
        "height": frame.height,
        "class_names": names,
        "detections": detections,
        "subjects": [event.track_id, *event.subject_ids],
    }


class EvidenceWriter:
    """Writes evidence JPEGs under `root/evidence/` and returns paths relative to `root`.
    `blur`: `evidence.blur` (cases/blur.py); files 0640, the folder 0750. The labels
    are in `language`, drawn with `font` (`evidence.font`) when it is Chinese; `codes`
    (type → case-system code) label a case when Chinese has no font (cases/labels.py)."""

    def __init__(
        self,
        root: Path,
        *,
        jpeg_quality: int = 88,
        crop_margin: float = 0.5,
        blur: tuple[str, ...] = (),
        dataset_quality: int | None = None,
        language: Language = "en",
        font: str | None = None,
        codes: Mapping[str, str] | None = None,
    ) -> None:
        """`dataset_quality`: keep each case's clean frame (at this JPEG quality) and its
        detections (`dataset.keep`); None: do not."""
        self.root = root
        self.folder = root / "evidence"
        self.jpeg_quality = jpeg_quality
        self.crop_margin = crop_margin
        self.blur = blur
        self.dataset_quality = dataset_quality
        self.labels = Labels(language, font=font, codes=codes)

    def annotate(self, event: ViolationEvent) -> np.ndarray:
        """Copy of the event frame with the zone polygon and the object box drawn.

        Returns a BGR uint8 array of the frame's shape.
        """
        img = event.frame.image.copy()
        poly = np.round(np.array(event.polygon, dtype=np.float32)).astype(np.int32)
        overlay = img.copy()
        cv2.fillPoly(overlay, [poly], ZONE_COLOUR)
        cv2.addWeighted(overlay, 0.18, img, 0.82, 0, dst=img)
        cv2.polylines(img, [poly], isClosed=True, color=ZONE_COLOUR, thickness=2)
        for box in static_boxes(event):  # the stall's goods, the thing left on the road
            self.labels.box(img, box, self.labels.static(), STATIC_COLOUR, thickness=1)
        label = self.labels.case(event.type, event.class_name, event.dwell_s)
        self.labels.box(img, event.bbox, label, BOX_COLOUR, thickness=2)
        stamp = event.confirmed_at.isoformat(timespec="seconds") + f"  {event.camera_id}"
        (sw, sh), sb = cv2.getTextSize(stamp, cv2.FONT_HERSHEY_SIMPLEX, 0.5, 1)
        cv2.rectangle(img, (4, 4), (12 + sw, 12 + sh + sb), (0, 0, 0), -1)
        cv2.putText(img, stamp, (8, 8 + sh), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1)
        return img

    def crop(self, event: ViolationEvent) -> np.ndarray:
        """The object with a margin, from the unannotated frame (BGR uint8)."""
        img = event.frame.image
        h, w = img.shape[:2]
        x1, y1, x2, y2 = event.bbox
        mx, my = (x2 - x1) * self.crop_margin, (y2 - y1) * self.crop_margin
        cx1, cy1 = max(0, int(x1 - mx)), max(0, int(y1 - my))
        cx2, cy2 = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
        if cx2 <= cx1 or cy2 <= cy1:
            return img.copy()
        return img[cy1:cy2, cx1:cx2].copy()

    def paths(self, case_id: str, pair: bool = False) -> list[str]:
        """The evidence paths `write` produces for a case, relative to root."""
        suffixes = ("full", "crop", "before", "after") if pair else ("full", "crop")
        return [f"evidence/{case_id}_{suffix}.jpg" for suffix in suffixes]

    def encode(self, case_id: str, event: ViolationEvent) -> list[EncodedPicture]:
        """The case's evidence JPEGs in memory (`full`, `crop`, and `before`/`after` when
        the event has them), ready for `store`."""
        params = [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]
        kept = self._dataset(case_id, event) if self.dataset_quality is not None else []
        event = for_evidence(event, self.blur)  # bystanders blurred (cases/blur.py)
        pictures = [("full", self.annotate(event)), ("crop", self.crop(event))]
        if event.before is not None and event.after is not None:
            pictures += [("before", event.before), ("after", event.after)]
        out = []
        for suffix, img in pictures:
            name = f"{case_id}_{suffix}.jpg"
            ok, buf = cv2.imencode(".jpg", img, params)
            if not ok:
                raise OSError(f"JPEG encoding failed for {name}")
            out.append(EncodedPicture(name, buf.tobytes()))
        return out + kept

    def _dataset(self, case_id: str, event: ViolationEvent) -> list[EncodedPicture]:
        """The clean frame (as the camera sent it: nothing drawn, nothing blurred) and a
        JSON of all the frame's detections, boxes in that frame's pixels."""
        assert self.dataset_quality is not None
        params = [cv2.IMWRITE_JPEG_QUALITY, self.dataset_quality]
        ok, buf = cv2.imencode(".jpg", event.frame.image, params)
        if not ok:
            raise OSError(f"JPEG encoding failed for {case_id}_clean.jpg")
        body = json.dumps(frame_record(case_id, event), ensure_ascii=False).encode("utf-8")
        return [
            EncodedPicture(f"{case_id}_clean.jpg", buf.tobytes()),
            EncodedPicture(f"{case_id}_frame.json", body),
        ]

    def store(self, pictures: list[EncodedPicture]) -> list[str]:
        """Write encoded pictures (atomically: a temporary file, then a rename); return
        their paths relative to root. On OSError (a full disk) nothing half-written is
        left behind, and the pictures can be stored again later."""
        private_dir(self.folder)  # 0750
        out = []
        for pic in pictures:
            path = self.folder / pic.name
            tmp = path.with_suffix(".jpg.tmp")
            try:
                write_private(tmp, pic.data)  # 0640
                tmp.replace(path)
            except OSError:
                tmp.unlink(missing_ok=True)
                raise
            out.append(path.relative_to(self.root).as_posix())
        return out

    def write(self, case_id: str, event: ViolationEvent) -> list[str]:
        """Encode and store a case's evidence; return the paths relative to root."""
        return self.store(self.encode(case_id, event))
