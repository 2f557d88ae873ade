"""Stationary-object detection: what stays in a camera's picture, as detections of the
synthetic class `static_object` (docs/DETECTION.md, "What stays").

A `StationaryDetector` serves one camera. It runs only for the zones whose policies
watch `static_object` (a street_vendor policy with its default stall objects, an
occupation policy): per (preset, frame size) it models the bounding crop of those
zones, grey at `work_px` at most (zones/scene.py: the frame's luma reduced, never a
BGR conversion), at most every `interval_s`. Each
standing blob becomes a detection of class `static_object` — appended after the
model's own classes, with the role `stall_object` (`analysis_classes`) — and is fed to
the tracker and the rules like any other detection; between two updates the last
ones stand.

Everything the detector boxes (people, vehicles) since the last update is masked, so
it never becomes background nor a static object. Each new visit of a PTZ preset is
registered onto that preset's scene with the construction alignment
(zones/alignment.py) before it is compared.

The empty scene is saved under `<references>/scene/` every `SAVE_EVERY_S` and read
back when the camera's analysis is built again (a restart, a reload), so a stall that
stands at that moment is not taken for the empty street.

An operator's verdict on a case about a static object reaches the scene model as a
request file under `<references>/scene/` (`request_absorb`, written by the case
review like construction's rebase request): the blobs under the case's box are then
absorbed into the empty scene. A case made on a blob holds it until then. Requests
can also come from `sources` (e.g. Redis in fleet mode, where the verdict may be given
on another box: docs/FLEET.md "State moves with a camera"), asked at each scene update;
a source that fails is logged once and the analysis goes on without it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from lookout.detector.detections import Detections
from lookout.streams.frame import Frame
from lookout.streams.grey import full_scale, limited_luma
from lookout.zones.alignment import align
from lookout.zones.policies import ZoneConfig
from lookout.zones.scene import SceneModel, SceneSettings
from lookout.zones.settings import StaticObjectsConfig

log = logging.getLogger(__name__)

STATIC_CLASS = "static_object"
#: Margin around the zones' bounding box that the scene model also watches.
_MARGIN = 0.08
#: How often (seconds of camera time) a scene's empty picture is saved beside the
#: references, so that a restart or a reload starts from it.
SAVE_EVERY_S = 300.0
#: Detections below this score do not mask the scene (noise would freeze it).
_FOREGROUND_SCORE = 0.25
Box = tuple[float, float, float, float]


def analysis_classes(
    class_names: Sequence[str], roles: Mapping[str, Sequence[str]] | None
) -> tuple[list[str], dict[str, list[str]]]:
    """The classes the analysis knows: the model's, then `static_object`; and the roles
    with `static_object` added to `stall_object` (a model naming its own class
    `static_object` keeps it, and no synthetic class is added)."""
    names = list(class_names)
    out = {k: list(v) for k, v in (roles or {}).items()}
    if STATIC_CLASS in names:
        return names, out
    out.setdefault("stall_object", []).append(STATIC_CLASS)
    return [*names, STATIC_CLASS], out


class ClassIds(Protocol):
    """Class names or roles → class ids (zones.rules.ClassResolver)."""

    def __call__(self, names: Sequence[str], where: str) -> np.ndarray: ...


def watching_zones(
    zones: Sequence[ZoneConfig], resolve: ClassIds, static_id: int
) -> list[ZoneConfig]:
    """The zones with a policy that watches `static_object` (as its objects or as the
    support of a stall)."""
    out = []
    for zone in zones:
        for policy in zone.policies:
            names = list(getattr(policy, "classes", [])) + list(
                getattr(policy, "support_classes", [])
            )
            if static_id in resolve(names, zone.id).tolist():
                out.append(zone)
                break
    return out


@dataclass(frozen=True, slots=True)
class AbsorbRequest:
    """An operator judged the case over `bbox` (frame pixels): absorb what stands there."""

    bbox: Box
    case_id: str
    by: str


#: Where absorb requests come from besides the request files: called with the camera
#: and the frame's preset, it returns (and consumes) the requests for that preset.
AbsorbSource = Callable[[str, str | None], list[AbsorbRequest]]
#: Case ids absorbed recently, remembered so that one request read twice (a file and a
#: source) is applied once.
_SEEN_CASES = 256


def absorb_dir(references: Path) -> Path:
    return references / "scene"


def request_absorb(
    references: Path,
    camera_id: str,
    preset: str | None,
    bbox: Sequence[float],
    *,
    case_id: str,
    by: str,
    at: datetime,
) -> Path:
    """Ask the camera's scene model to absorb what stands under `bbox` (frame pixels):
    an operator judged its case (written atomically, one file per case)."""
    folder = absorb_dir(references)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{camera_id}_{preset or 'default'}.{case_id}.absorb.json"
    body = {"bbox": [float(v) for v in bbox], "case_id": case_id, "by": by, "at": at.isoformat()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def scene_path(
    references: Path,
    camera_id: str,
    preset: str | None,
    crop: tuple[int, int, int, int],
    shape: tuple[int, int],
) -> Path:
    """Where a scene's empty picture is saved: named by its crop and work size, so a
    zone edit that changes them starts a new scene."""
    x1, y1, x2, y2 = crop
    name = f"{camera_id}_{preset or 'default'}_{x1}-{y1}-{x2}-{y2}_{shape[1]}x{shape[0]}.png"
    return absorb_dir(references) / name


@dataclass(slots=True)
class _View:
    """The scene of one (preset, frame size): crop, scale and model."""

    crop: tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels
    scale: float
    model: SceneModel
    last_update: float = -np.inf
    visit: NDArray[np.float64] | None = None  # this visit's registration (work px)
    new_visit: bool = True
    path: Path | None = None  # where its empty scene is saved
    saved: float = -np.inf

    def to_work(self, box: Sequence[float]) -> Box:
        x0, y0 = self.crop[0], self.crop[1]
        return (
            (box[0] - x0) * self.scale,
            (box[1] - y0) * self.scale,
            (box[2] - x0) * self.scale,
            (box[3] - y0) * self.scale,
        )

    def to_frame(self, box: Box) -> Box:
        x0, y0 = self.crop[0], self.crop[1]
        s = self.scale
        return (box[0] / s + x0, box[1] / s + y0, box[2] / s + x0, box[3] / s + y0)


class StationaryDetector:
    """Static objects of one camera (see the module docstring)."""

    def __init__(
        self,
        camera_id: str,
        zones: Sequence[ZoneConfig],
        settings: StaticObjectsConfig,
        static_id: int,
        references: Path | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.zones = list(zones)
        self.settings = settings
        self.static_id = static_id
        self.references = references
        self._views: dict[tuple[str | None, int, int], _View] = {}
        self._preset: object = object()  # the preset of the last frame (none yet)
        self._mask_boxes: list[NDArray[np.float32]] = []
        self._last = Detections.empty()
        #: Samples the scene models took (the benchmark divides their time by it).
        self.updates = 0
        #: Other sources of absorb requests (see the module docstring).
        self.sources: list[AbsorbSource] = []
        self._failing: set[int] = set()  # sources whose failure was logged
        self._absorbed: dict[str, None] = {}  # recent case ids, oldest first

    def _view(self, frame: Frame) -> _View | None:
        key = (frame.preset, frame.width, frame.height)
        view = self._views.get(key)
        if view is not None:
            return view
        polys = [z.polygon for z in self.zones if z.preset in (None, frame.preset) and z.polygon]
        if not polys:
            return None
        pts = np.concatenate([np.asarray(p, np.float64) for p in polys])
        x1, y1 = pts.min(axis=0)
        x2, y2 = pts.max(axis=0)
        mx, my = (x2 - x1) * _MARGIN, (y2 - y1) * _MARGIN
        crop = (
            max(0, int(x1 - mx)),
            max(0, int(y1 - my)),
            min(frame.width, int(np.ceil(x2 + mx))),
            min(frame.height, int(np.ceil(y2 + my))),
        )
        cw, ch = crop[2] - crop[0], crop[3] - crop[1]
        if cw < 8 or ch < 8:
            return None
        scale = min(1.0, self.settings.work_px / max(cw, ch))
        shape = (max(8, round(ch * scale)), max(8, round(cw * scale)))
        s = self.settings
        model = SceneModel(
            SceneSettings(
                static_s=s.static_s,
                absorb_s=s.absorb_s,
                learn_s=s.learn_s,
                min_area=max(4.0, s.min_area_px * scale * scale),
            ),
            shape,
        )
        view = self._views[key] = _View(crop, scale, model)
        if self.references is not None:
            view.path = scene_path(self.references, self.camera_id, frame.preset, crop, shape)
            empty = None
            if view.path.is_file():  # OpenCV warns on stderr about a missing file
                empty = cv2.imread(str(view.path), cv2.IMREAD_GRAYSCALE)
            if empty is not None and empty.shape == shape:
                model.seed(np.asarray(empty, np.uint8))
                log.info("camera %s: empty scene read from %s", self.camera_id, view.path)
        return view

    def detect(self, frame: Frame, dets: Detections) -> Detections:
        """Static objects in `frame` (class `static_object`, frame pixels); `dets` are
        the model's detections of the frame (masked from the scene)."""
        view = self._view(frame)
        if view is None:
            return Detections.empty()
        if frame.preset != self._preset:
            self._preset = frame.preset
            view.new_visit = True
            view.model.reset_short()
        keep = dets.confidence >= _FOREGROUND_SCORE
        if len(dets):
            keep &= dets.class_id != self.static_id
            self._mask_boxes.append(dets.xyxy[keep].astype(np.float32))
        t = frame.monotonic_s
        if t - view.last_update < self.settings.interval_s:
            return self._last
        view.last_update = t
        grey = self._sample(frame, view)
        foreground = self._foreground(view, grey.shape)
        self._consume_requests(frame, view)
        blobs = view.model.update(grey, t, foreground)
        self.updates += 1
        if view.path is not None and t - view.saved >= SAVE_EVERY_S:
            self._save(view, t)
        if not blobs:
            self._last = Detections.empty()
            return self._last
        boxes = np.array([view.to_frame(b.box) for b in blobs], np.float32)
        conf = np.array([min(0.99, b.score) for b in blobs], np.float32)
        self._last = Detections.create(boxes, conf, np.full(len(blobs), self.static_id))
        return self._last

    def _sample(self, frame: Frame, view: _View) -> NDArray[np.uint8]:
        x1, y1, x2, y2 = view.crop
        h, w = view.model.shape
        # The luma as decoded, reduced, then on the 0-255 grey scale: nothing converted.
        crop = frame.luma()[y1:y2, x1:x2]
        grey = np.asarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), np.uint8)
        grey = full_scale(grey, limited_luma(frame.picture))
        if view.new_visit:
            view.new_visit = False
            view.visit = None
            if frame.preset is not None and view.model.long is not None:
                # A PTZ preset's return is never exact: register this visit once.
                ref = np.clip(view.model.long, 0, 255).astype(np.uint8)
                al = align(ref, grey)
                view.visit = al.matrix if al.ok else None
        if view.visit is not None:
            grey = np.asarray(
                cv2.warpPerspective(grey, view.visit, (w, h), borderMode=cv2.BORDER_REPLICATE),
                np.uint8,
            )
        return grey

    def _foreground(self, view: _View, shape: tuple[int, ...]) -> NDArray[np.bool_]:
        """Work-resolution mask of what the detector boxed since the last update
        (boxes grown by 10%: shadows and loose edges)."""
        mask = np.zeros(shape[:2], np.uint8)
        for boxes in self._mask_boxes:
            for box in boxes:
                x1, y1, x2, y2 = view.to_work(box)
                gx, gy = 0.1 * (x2 - x1), 0.1 * (y2 - y1)
                cv2.rectangle(
                    mask,
                    (int(x1 - gx), int(y1 - gy)),
                    (int(np.ceil(x2 + gx)), int(np.ceil(y2 + gy))),
                    1,
                    thickness=-1,
                )
        self._mask_boxes.clear()
        if view.visit is not None:
            h, w = mask.shape
            warped = cv2.warpPerspective(mask, view.visit, (w, h), flags=cv2.INTER_NEAREST)
            return np.asarray(warped > 0)
        return np.asarray(mask > 0)

    def _save(self, view: _View, t: float) -> None:
        """Write the empty scene (atomically) once it is known everywhere: pixels under
        the detector's boxes at the start are not the empty street yet."""
        model = view.model
        if model.long is None or view.path is None or not model.known.all():
            return
        view.saved = t
        try:
            view.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = view.path.with_suffix(".tmp.png")
            cv2.imwrite(str(tmp), np.clip(model.long, 0, 255).astype(np.uint8))
            tmp.replace(view.path)
        except OSError as exc:  # a full disk: the scene is only not kept for a restart
            log.warning("camera %s: empty scene not saved (%s)", self.camera_id, exc)

    def work_shapes(self) -> list[tuple[int, int]]:
        """(height, width) of each scene model made so far."""
        return [view.model.shape for view in self._views.values()]

    def hold(self, frame: Frame, bbox: Sequence[float]) -> None:
        """A case was made about what stands under `bbox` (frame pixels): keep it
        until the verdict."""
        view = self._views.get((frame.preset, frame.width, frame.height))
        if view is not None:
            view.model.hold(view.to_work(bbox))

    def _consume_requests(self, frame: Frame, view: _View) -> None:
        requests = self._file_requests(frame.preset)
        for i, source in enumerate(self.sources):
            try:
                requests += source(self.camera_id, frame.preset)
                self._failing.discard(i)
            except Exception as exc:  # a source down (Redis) must not stop the analysis
                if i not in self._failing:
                    self._failing.add(i)
                    log.warning(
                        "camera %s: absorb requests unavailable (%s); retrying at each update",
                        self.camera_id,
                        exc,
                    )
        for req in requests:
            if req.case_id in self._absorbed:
                continue
            self._absorbed[req.case_id] = None
            while len(self._absorbed) > _SEEN_CASES:
                del self._absorbed[next(iter(self._absorbed))]
            n = view.model.absorb(view.to_work(req.bbox))
            log.info(
                "camera %s: %d static object(s) absorbed into the scene (case %s judged by %s)",
                self.camera_id,
                n,
                req.case_id,
                req.by,
            )

    def _file_requests(self, preset: str | None) -> list[AbsorbRequest]:
        """The request files of this camera and preset, read and deleted."""
        if self.references is None:
            return []
        folder = absorb_dir(self.references)
        if not folder.is_dir():
            return []
        out = []
        prefix = f"{self.camera_id}_{preset or 'default'}."
        for path in folder.glob(f"{prefix}*.absorb.json"):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                bbox = [float(v) for v in data["bbox"]][:4]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("%s: absorb request unreadable (%s); dropped", path, exc)
                path.unlink(missing_ok=True)
                continue
            path.unlink(missing_ok=True)
            if len(bbox) == 4:
                box = (bbox[0], bbox[1], bbox[2], bbox[3])
                case_id = str(data.get("case_id") or path.name)
                out.append(AbsorbRequest(box, case_id, str(data.get("by", "?"))))
        return out
