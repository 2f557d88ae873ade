"""`lookout dataset export`: the clean frames kept with cases (`dataset: {keep: true}`,
docs/LEARNING.md "Keeping frames") as a YOLO-format dataset.

Each kept case has, beside its evidence, `evidence/<case_id>_clean.jpg` (the frame as
the camera sent it) and `evidence/<case_id>_frame.json` (all the frame's detections).
The export writes the Ultralytics layout (docs/LEARNING.md "Export"):

    DIR/images/{train,val}/<case_id>.jpg   DIR/labels/{train,val}/<case_id>.txt
    DIR/data.yaml   DIR/classes.txt   DIR/provenance.csv

A label line is `class_id cx cy w h`, normalised to the frame. A false alarm is a hard
negative: the detections the case was about (`subjects`) are left out of its labels,
the picture and its other detections stay. Train and val are split by camera and local
day, so frames of one camera on one day never sit on both sides. Frames replay sampled
around a case (`lookout replay --around`, lookout/dataset/around.py) are exported as
`<case_id>_a<k>` on their case's side.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

import yaml

from lookout.base.errors import LookoutError
from lookout.cases.blur import private_dir
from lookout.cases.evidence import AROUND_MAX, around_paths, dataset_paths
from lookout.cases.verdicts import CaseFilter, CaseReview, CaseRow
from lookout.zones.stationary import STATIC_CLASS

FRAME_VERSION = 1
VAL_FRACTION = 0.2
SPLITS = ("train", "val")
PROVENANCE_COLUMNS = (
    "image",
    "split",
    "case_id",
    "type",
    "verdict",
    "camera_id",
    "preset",
    "captured_at",
    "hard_negative",
)


class DatasetError(LookoutError):
    """A dataset that cannot be made or read (one line, exit 2)."""


@dataclass(frozen=True, slots=True)
class KeptDetection:
    class_id: int
    class_name: str
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the clean frame
    confidence: float
    track_id: int


@dataclass(frozen=True, slots=True)
class KeptFrame:
    """A case's `<case_id>_frame.json` (docs/LEARNING.md "Keeping frames")."""

    case_id: str
    camera_id: str
    preset: str | None
    captured_at: datetime
    width: int
    height: int
    class_names: tuple[str, ...]
    detections: tuple[KeptDetection, ...]
    subjects: frozenset[int]


def kept_paths(out_dir: Path, case_id: str) -> tuple[Path, Path]:
    """The clean frame and the frame's detections of a case under an output folder
    (as the case writer keeps them: lookout/cases/evidence.py `dataset_paths`)."""
    clean, record = dataset_paths(case_id)[:2]
    return out_dir / clean, out_dir / record


def around_kept(out_dir: Path, case_id: str) -> list[tuple[int, Path, Path]]:
    """The clean frames replay sampled around a case (`lookout replay --around`,
    lookout/dataset/around.py) that are on disk: (k, frame, detections)."""
    found = []
    for k in range(1, AROUND_MAX + 1):
        clean, record = (out_dir / p for p in around_paths(case_id, k))
        if clean.is_file() and record.is_file():
            found.append((k, clean, record))
    return found


def read_frame(path: Path) -> KeptFrame:
    """Parse a `_frame.json`; a file that does not follow version 1 is a DatasetError."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("version") != FRAME_VERSION:
            raise ValueError(f"version {raw.get('version')!r}, expected {FRAME_VERSION}")
        names = tuple(str(n) for n in raw["class_names"])
        dets = tuple(
            KeptDetection(
                class_id=int(d["class_id"]),
                class_name=str(d["class_name"]),
                box=(
                    float(d["box"][0]),
                    float(d["box"][1]),
                    float(d["box"][2]),
                    float(d["box"][3]),
                ),
                confidence=float(d["confidence"]),
                track_id=int(d["track_id"]),
            )
            for d in raw["detections"]
        )
        frame = KeptFrame(
            case_id=str(raw["case_id"]),
            camera_id=str(raw["camera_id"]),
            preset=None if raw.get("preset") is None else str(raw["preset"]),
            captured_at=datetime.fromisoformat(raw["captured_at"]),
            width=int(raw["width"]),
            height=int(raw["height"]),
            class_names=names,
            detections=dets,
            subjects=frozenset(int(t) for t in raw.get("subjects", [])),
        )
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise DatasetError(f"{path}: not a kept frame ({exc})") from None
    if frame.width <= 0 or frame.height <= 0:
        raise DatasetError(f"{path}: frame size {frame.width}x{frame.height}")
    for d in frame.detections:
        if not 0 <= d.class_id < len(names):
            raise DatasetError(f"{path}: class_id {d.class_id} outside class_names")
    return frame


def yolo_line(class_id: int, box: Sequence[float], width: int, height: int) -> str | None:
    """`class_id cx cy w h`, normalised and clipped to the frame, 6 decimals; None for
    a box with nothing left inside the frame."""
    x1 = min(max(box[0], 0.0), width)
    y1 = min(max(box[1], 0.0), height)
    x2 = min(max(box[2], 0.0), width)
    y2 = min(max(box[3], 0.0), height)
    w, h = (x2 - x1) / width, (y2 - y1) / height
    if round(w, 6) <= 0 or round(h, 6) <= 0:
        return None
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def split_of_groups(groups: dict[tuple[str, date], int]) -> dict[tuple[str, date], str]:
    """Camera-day group → "train" or "val": a hash of "camera|day" puts about
    VAL_FRACTION of the groups in val, the same way on every run. With two groups or
    more neither side stays empty: the smallest group goes to val (the largest to
    train) when the hash gave none."""
    split: dict[tuple[str, date], str] = {}
    for camera, day in groups:
        digest = hashlib.sha256(f"{camera}|{day.isoformat()}".encode()).digest()
        share = int.from_bytes(digest[:8], "big") / 2**64
        split[(camera, day)] = "val" if share < VAL_FRACTION else "train"
    if len(groups) >= 2:
        by_size = sorted(groups, key=lambda g: (groups[g], g[0], g[1]))
        if "val" not in split.values():
            split[by_size[0]] = "val"
        if "train" not in split.values():
            split[by_size[-1]] = "train"
    return split


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote."""

    dest: Path
    images: int
    labels: int
    hard_negatives: int
    train: int
    val: int
    skipped: int  # cases of the period without kept frames
    class_names: tuple[str, ...]

    def line(self) -> str:
        return (
            f"{self.images} image(s), {self.labels} label(s), {self.hard_negatives} hard"
            f" negative(s); train {self.train}, val {self.val}; {self.skipped} case(s)"
            f" without kept frames skipped; wrote {self.dest}"
        )


@dataclass(frozen=True, slots=True)
class _Item:
    row: CaseRow
    frame: KeptFrame
    clean: Path
    day: date  # the case's local day: frames sampled around it share its side
    name: str  # the image's file stem: the case id, `<id>_a<k>` for a sampled frame


def _select(
    review: CaseReview,
    out_dir: Path,
    start: datetime,
    end: datetime,
    types: Sequence[str],
    cameras: Sequence[str],
    tz: tzinfo,
) -> tuple[list[_Item], int]:
    items: list[_Item] = []
    skipped = 0
    for row in review.cases(CaseFilter(since=start, until=end)):
        case = row.case
        if (types and case.type not in types) or (cameras and case.camera_id not in cameras):
            continue
        clean, meta = kept_paths(out_dir, case.id)
        if not (clean.is_file() and meta.is_file()):
            skipped += 1
            continue
        frame = read_frame(meta)
        day = frame.captured_at.astimezone(tz).date()
        items.append(_Item(row, frame, clean, day, case.id))
        for k, around_clean, around_meta in around_kept(out_dir, case.id):
            sampled = read_frame(around_meta)
            items.append(_Item(row, sampled, around_clean, day, f"{case.id}_a{k}"))
    return items, skipped


def _same_names(items: Sequence[_Item]) -> tuple[str, ...]:
    names = items[0].frame.class_names
    for item in items[1:]:
        if item.frame.class_names != names:
            raise DatasetError(
                f"case {item.row.case.id}: class names {list(item.frame.class_names)} differ"
                f" from case {items[0].row.case.id}'s {list(names)}; export one model's"
                " frames at a time (--from/--to)"
            )
    return names


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)


def data_yaml(names: Sequence[str]) -> str:
    """The Ultralytics dataset file: root, splits relative to it, class names."""
    body = yaml.safe_dump(
        {
            "path": ".",
            "train": "images/train",
            "val": "images/val",
            "names": dict(enumerate(names)),
        },
        sort_keys=False,
        allow_unicode=True,
    )
    return "# lookout dataset export (docs/LEARNING.md)\n" + body


def export_dataset(
    review: CaseReview,
    out_dir: Path,
    dest: Path,
    *,
    start: datetime,
    end: datetime,
    tz: tzinfo,
    types: Sequence[str] = (),
    cameras: Sequence[str] = (),
) -> ExportSummary:
    """Write the dataset of the kept cases confirmed in [start, end) to `dest` (new or
    empty). `out_dir` holds the evidence folder; verdicts come from `review`."""
    if start >= end:
        raise DatasetError(f"--from {start.isoformat()} is not before --to {end.isoformat()}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DatasetError(f"{dest}: exists and is not an empty folder")
    items, skipped = _select(review, out_dir, start, end, types, cameras, tz)
    if not items:
        raise DatasetError(
            f"no case with kept frames from {start.isoformat()} to {end.isoformat()}"
            f" ({skipped} without; is dataset.keep on?)"
        )
    names = _same_names(items)
    # The scene model's static_object is no class of the model (docs/LEARNING.md,
    # "Formats"): its boxes are not labels, and it is not a class name of the set.
    names = tuple(n for n in names if n != STATIC_CLASS)
    groups = Counter((i.frame.camera_id, i.day) for i in items if i.name == i.row.case.id)
    split = split_of_groups(dict(groups))
    private_dir(dest)
    for s in SPLITS:
        private_dir(dest / "images" / s)
        private_dir(dest / "labels" / s)
    rows: list[dict[str, str]] = []
    labels = hard = 0
    counts = Counter[str]()
    for item in items:
        case, frame = item.row.case, item.frame
        s = split[(frame.camera_id, item.day)]
        counts[s] += 1
        hard_negative = item.row.status == "false_alarm"
        lines = []
        for d in frame.detections:
            if (hard_negative and d.track_id in frame.subjects) or d.class_name == STATIC_CLASS:
                continue
            line = yolo_line(d.class_id, d.box, frame.width, frame.height)
            if line is not None:
                lines.append(line)
        labels += len(lines)
        hard += hard_negative
        image = f"images/{s}/{item.name}.jpg"
        shutil.copyfile(item.clean, dest / image)
        (dest / image).chmod(0o640)
        _write_text(dest / "labels" / s / f"{item.name}.txt", "".join(f"{x}\n" for x in lines))
        rows.append(
            {
                "image": image,
                "split": s,
                "case_id": case.id,
                "type": case.type,
                "verdict": "none" if item.row.status == "draft" else item.row.status,
                "camera_id": frame.camera_id,
                "preset": frame.preset or "",
                "captured_at": frame.captured_at.isoformat(),
                "hard_negative": "true" if hard_negative else "false",
            }
        )
    _write_text(dest / "data.yaml", data_yaml(names))
    _write_text(dest / "classes.txt", "".join(f"{n}\n" for n in names))
    with (dest / "provenance.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=PROVENANCE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (dest / "provenance.csv").chmod(0o640)
    return ExportSummary(
        dest=dest,
        images=len(items),
        labels=labels,
        hard_negatives=hard,
        train=counts["train"],
        val=counts["val"],
        skipped=skipped,
        class_names=names,
    )
