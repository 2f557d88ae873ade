"""`lookout dataset import`: a labelled set back from the labelling tool, checked line
by line before anyone trains on it (docs/LEARNING.md "Import check").

Three layouts are read (docs/LEARNING.md "Formats"):

- Ultralytics (`lookout dataset export` itself, CVAT "Ultralytics YOLO Detection"):
  `data.yaml` with `names` and the `train`/`val`/`test` image folders (or `.txt`
  lists of images) relative to `path`; labels where `images` becomes `labels`.
- CVAT "YOLO 1.1": `obj.names` (one class a line), `obj.data` (`classes = N`, ...),
  `obj_<subset>_data/` holding each image beside its `.txt`.
- Label Studio "YOLO": `classes.txt`, `images/`, `labels/`.

Every label line must be `class cx cy w h`: an integer class within the names, four
numbers relative to the image, the box inside [0, 1] and not empty. A label file needs
its image; an image without a label file is a background image (allowed, counted).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lookout.dataset.export import DatasetError

#: What Ultralytics reads as images (docs/LEARNING.md "Formats").
IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"}
)
EPS = 1e-6  # six decimals of rounding at the edges


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # relative to the dataset folder
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Part:
    """One subset: where its images are and where their labels are."""

    name: str
    images: tuple[Path, ...]  # image files
    label_dir: Path | None  # None: each label beside its image
    image_root: Path


@dataclass
class CheckResult:
    root: Path
    layout: str
    names: list[str]
    images: int = 0
    background: int = 0
    boxes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"{self.root} ({self.layout}): {self.images} image(s), {self.background}"
            f" background, {self.boxes} box(es), {len(self.names)} class(es);"
            f" {len(self.problems)} problem(s)"
        )


def _names_yaml(raw: Any, path: Path) -> list[str]:
    names = raw.get("names") if isinstance(raw, dict) else None
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        try:
            ids = sorted(int(k) for k in names)
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: names keys must be class ids") from None
        if ids != list(range(len(ids))):
            raise DatasetError(f"{path}: names ids must be 0..{len(ids) - 1}")
        return [str(names[k] if k in names else names[str(k)]) for k in ids]
    raise DatasetError(f"{path}: no class names (names:)")


def _names_lines(path: Path) -> list[str]:
    names = [n.strip() for n in path.read_text(encoding="utf-8").splitlines() if n.strip()]
    if not names:
        raise DatasetError(f"{path}: no class names")
    return names


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _label_dir(image_dir: Path) -> Path:
    """Ultralytics' rule: the last `images` folder of the path becomes `labels`."""
    parts = list(image_dir.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            return Path(*parts)
    return image_dir


def _ultralytics(root: Path) -> tuple[list[str], list[Part]]:
    path = root / "data.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from None
    names = _names_yaml(raw, path)
    base = Path(str(raw.get("path") or "."))
    base = base if base.is_absolute() else root / base
    parts: list[Part] = []
    for subset in ("train", "val", "test"):
        entry = raw.get(subset)
        for item in entry if isinstance(entry, list) else [entry] if entry else []:
            where = base / str(item)
            if where.suffix == ".txt" and where.is_file():
                listed = [base / x.strip() for x in where.read_text().splitlines() if x.strip()]
                for image_dir in sorted({p.parent for p in listed}):
                    images = tuple(p for p in listed if p.parent == image_dir and p.is_file())
                    parts.append(Part(subset, images, _label_dir(image_dir), image_dir))
            elif where.is_dir():
                parts.append(Part(subset, tuple(_images_in(where)), _label_dir(where), where))
            else:
                raise DatasetError(f"{path}: {subset}: {where} not found")
    if not parts:
        raise DatasetError(f"{path}: no train or val images named")
    return names, parts


def _cvat(root: Path) -> tuple[list[str], list[Part]]:
    names = _names_lines(root / "obj.names")
    parts = [
        Part(d.name[4:-5], tuple(_images_in(d)), None, d)
        for d in sorted(root.glob("obj_*_data"))
        if d.is_dir()
    ]
    if not parts:
        raise DatasetError(f"{root}: no obj_<subset>_data folder")
    return names, parts


def _label_studio(root: Path) -> tuple[list[str], list[Part]]:
    names = _names_lines(root / "classes.txt")
    return names, [
        Part("all", tuple(_images_in(root / "images")), root / "labels", root / "images")
    ]


def _obj_data(root: Path, names: Sequence[str]) -> list[Problem]:
    path = root / "obj.data"
    if not path.is_file():
        return []
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        m = re.fullmatch(r"\s*classes\s*=\s*(\S+)\s*", text)
        if m and m.group(1) != str(len(names)):
            return [
                Problem("obj.data", n, f"classes = {m.group(1)} but obj.names has {len(names)}")
            ]
    return []


def check_lines(text: str, n_classes: int) -> Iterable[tuple[int, str | None]]:
    """(line number, problem or None for a good box) of every non-blank line."""
    for n, raw in enumerate(text.splitlines(), 1):
        fields = raw.split()
        if not fields:
            continue
        if len(fields) != 5:
            yield n, f"{len(fields)} numbers, expected 5 (class cx cy w h)"
            continue
        try:
            cls_f, cx, cy, w, h = (float(x) for x in fields)
        except ValueError:
            yield n, f"not a number in {raw.strip()!r}"
            continue
        if not cls_f.is_integer():
            yield n, f"class {fields[0]} is not an integer"
        elif not 0 <= int(cls_f) < n_classes:
            yield n, f"class {int(cls_f)} is not in names ({n_classes} classes)"
        elif w <= 0 or h <= 0:
            yield n, f"empty box (width {fields[3]}, height {fields[4]})"
        elif not all(0 <= v <= 1 for v in (cx, cy, w, h)):
            yield n, f"box outside [0, 1] ({' '.join(fields[1:])})"
        elif cx - w / 2 < -EPS or cy - h / 2 < -EPS or cx + w / 2 > 1 + EPS or cy + h / 2 > 1 + EPS:
            yield n, f"box reaches outside the image ({' '.join(fields[1:])})"
        else:
            yield n, None


def detect_layout(root: Path) -> str:
    if (root / "data.yaml").is_file():
        return "ultralytics"
    if (root / "obj.names").is_file():
        return "cvat-yolo-1.1"
    if (root / "classes.txt").is_file():
        return "label-studio-yolo"
    raise DatasetError(f"{root}: no data.yaml, obj.names or classes.txt: no class names")


def check_dataset(root: Path) -> CheckResult:
    """Check every label file and image of a dataset folder; DatasetError when the folder
    or its names cannot be used at all."""
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder")
    layout = detect_layout(root)
    reader = {"ultralytics": _ultralytics, "cvat-yolo-1.1": _cvat}.get(layout, _label_studio)
    names, parts = reader(root)
    result = CheckResult(root, layout, names)
    result.problems += _obj_data(root, names) if layout == "cvat-yolo-1.1" else []

    def rel(p: Path) -> str:
        try:
            return p.relative_to(root).as_posix()
        except ValueError:
            return p.as_posix()

    for part in parts:
        label_root = part.label_dir or part.image_root
        stems: set[Path] = set()
        for image in part.images:
            stem = image.relative_to(part.image_root).with_suffix("")
            stems.add(stem)
            result.images += 1
            label = label_root / stem.with_suffix(".txt")
            if not label.is_file():
                result.background += 1
                continue
            text = label.read_text(encoding="utf-8", errors="replace")
            found = list(check_lines(text, len(names)))
            if not found:
                result.background += 1
            for n, problem in found:
                if problem is None:
                    result.boxes += 1
                else:
                    result.problems.append(Problem(rel(label), n, problem))
        if label_root.is_dir():
            for label in sorted(label_root.rglob("*.txt")):
                stem = label.relative_to(label_root).with_suffix("")
                if stem not in stems:
                    result.problems.append(
                        Problem(rel(label), None, "no image for this label file")
                    )
    return result
