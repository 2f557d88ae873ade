"""The latest picture of every camera and preset, as JPEG in memory, and what the
analysis saw on it (detections with track ids, region crops, motion).

The daemon calls `observe*` on its detector thread: they only keep references (the
frame, its tracked detections, its region plan), so they cost next to nothing. One
encoder thread turns the latest frame of a camera into a JPEG at most once per
`snapshot_interval_s`, and only while a browser asked within `active_for_s`
(`touch()`), converting only the pixels it shows at the size it shows them
(`max_width`); with no browser it encodes nothing, except once when a PTZ camera leaves
a preset (that preset's last frame becomes a JPEG and its raw picture is let go, so
memory holds one raw frame per camera). Requests read only this memory: a camera
that is down or silent still has its last good picture, with its age.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np

from lookout.cases.model import DraftCase
from lookout.detector.detections import Detections
from lookout.detector.regions import RegionPlan
from lookout.streams.frame import Frame
from lookout.streams.grey import full_scale, limited_luma

log = logging.getLogger(__name__)

#: Presets remembered per camera (the least recently seen is forgotten first).
MAX_PRESETS = 32
#: Width of the grey picture two successive snapshots are compared on for motion.
MOTION_WIDTH = 160


@dataclass(frozen=True, slots=True)
class Jpeg:
    """One encoded snapshot. `seq` grows with every encode of the camera; `seen_at`
    is the monotonic time its frame was analysed; sizes are the analysed frame's."""

    data: bytes
    seq: int
    seen_at: float
    captured_at: datetime
    width: int
    height: int
    preset: str | None


@dataclass(slots=True)
class _Slot:
    """One preset of one camera: its latest raw frame (until encoded and parked)."""

    frame: Frame | None = None
    seen_at: float = 0.0
    jpeg: Jpeg | None = None
    jpeg_encoded: float = -1e9  # monotonic time of the last encode


@dataclass(slots=True)
class Overlay:
    """The debug overlay of a camera's latest analysed frame, in frame pixels."""

    width: int = 0
    height: int = 0
    preset: str | None = None
    tracked: Detections = field(default_factory=Detections.empty)
    plan: RegionPlan | None = None
    gated: bool = False
    motion: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Camera:
    slots: dict[str | None, _Slot] = field(default_factory=dict)
    preset: str | None = None
    overlay: Overlay = field(default_factory=Overlay)
    analysed: deque[float] = field(default_factory=lambda: deque(maxlen=64))
    last_case: DraftCase | None = None
    seq: int = 0
    small: np.ndarray | None = None  # grey picture of the last encode (motion)


class SnapshotStore:
    """Per camera: JPEG per preset, overlay, analysed-frame times, last case."""

    def __init__(
        self,
        *,
        interval_s: float = 1.0,
        active_for_s: float = 10.0,
        max_width: int = 1280,
        quality: int = 80,
    ) -> None:
        self.interval_s = interval_s
        self.active_for_s = active_for_s
        self.max_width = max_width
        self.quality = quality
        self._cams: dict[str, _Camera] = {}
        self._lock = threading.Lock()
        self._asked_at = -1e9
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.encodes = 0

    # -- the daemon's side (detector thread) ------------------------------------------
    def _cam(self, camera_id: str) -> _Camera:
        cam = self._cams.get(camera_id)
        if cam is None:
            cam = self._cams[camera_id] = _Camera()
        return cam

    def observe(
        self, frame: Frame, tracked: Detections, cases: list[DraftCase], gated: bool = False
    ) -> None:
        """A frame was analysed: keep references to it and its tracked detections."""
        now = time.monotonic()
        with self._lock:
            cam = self._cam(frame.camera_id)
            if frame.preset != cam.preset:
                self._wake.set()  # park the preset it left
            cam.preset = frame.preset
            slot = cam.slots.pop(frame.preset, None) or _Slot()
            cam.slots[frame.preset] = slot  # most recently seen last
            if len(cam.slots) > MAX_PRESETS:
                del cam.slots[next(iter(cam.slots))]
            slot.frame, slot.seen_at = frame, now
            ov = cam.overlay
            keep_plan = ov.preset == frame.preset and (ov.width, ov.height) == (
                frame.width,
                frame.height,
            )
            cam.overlay = Overlay(
                frame.width,
                frame.height,
                frame.preset,
                tracked,
                ov.plan if keep_plan else None,
                gated,
                ov.motion if keep_plan else [],
            )
            cam.analysed.append(now)
            if cases:
                cam.last_case = cases[-1]

    def observe_plan(self, camera_id: str, plan: RegionPlan | None) -> None:
        """The region plan the detector ran for a camera's latest frame (with the crops
        found still marked)."""
        with self._lock:
            self._cam(camera_id).overlay.plan = plan

    def retain(self, camera_ids: set[str]) -> None:
        """Forget cameras no longer configured."""
        with self._lock:
            for cid in [c for c in self._cams if c not in camera_ids]:
                del self._cams[cid]

    # -- the console's side (requests) -------------------------------------------------
    def touch(self) -> None:
        """A browser asked: encode while it keeps asking."""
        first = not self.active
        self._asked_at = time.monotonic()
        if first:
            self._wake.set()

    @property
    def active(self) -> bool:
        return time.monotonic() - self._asked_at < self.active_for_s

    def jpeg(
        self, camera_id: str, preset: str | None = None, *, current: bool = True
    ) -> Jpeg | None:
        """The latest JPEG of a camera (its current preset, or `preset`)."""
        with self._lock:
            cam = self._cams.get(camera_id)
            if cam is None:
                return None
            key = cam.preset if current else preset
            slot = cam.slots.get(key)
            return None if slot is None else slot.jpeg

    def pending(self, camera_id: str) -> bool:
        """True when a raw frame is waiting for its first encode."""
        with self._lock:
            cam = self._cams.get(camera_id)
            slot = None if cam is None else cam.slots.get(cam.preset)
            return slot is not None and slot.frame is not None and slot.jpeg is None

    def presets(self, camera_id: str) -> list[str | None]:
        with self._lock:
            cam = self._cams.get(camera_id)
            return [] if cam is None else [p for p, s in cam.slots.items() if s.jpeg or s.frame]

    def overlay(self, camera_id: str) -> Overlay | None:
        with self._lock:
            cam = self._cams.get(camera_id)
            return None if cam is None else cam.overlay

    def last_case(self, camera_id: str) -> DraftCase | None:
        with self._lock:
            cam = self._cams.get(camera_id)
            return None if cam is None else cam.last_case

    def analysed_fps(self, camera_id: str, window_s: float = 10.0) -> float:
        """Frames analysed per second over the last `window_s`."""
        now = time.monotonic()
        with self._lock:
            cam = self._cams.get(camera_id)
            times = [] if cam is None else [t for t in cam.analysed if now - t <= window_s]
        if len(times) < 2:
            return 0.0
        span = max(now - times[0], times[-1] - times[0], 1e-6)
        return round((len(times) - 1) / span, 2) if span > 0 else 0.0

    def seen_at(self, camera_id: str) -> float | None:
        """Monotonic time of the camera's latest analysed frame."""
        with self._lock:
            cam = self._cams.get(camera_id)
            slot = None if cam is None else cam.slots.get(cam.preset)
            return None if slot is None or slot.seen_at == 0.0 else slot.seen_at

    def full_frame(self, camera_id: str) -> Frame | None:
        """The latest raw frame of the camera's current preset, if still held."""
        with self._lock:
            cam = self._cams.get(camera_id)
            slot = None if cam is None else cam.slots.get(cam.preset)
            return None if slot is None else slot.frame

    # -- the encoder thread ------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="console-snapshots", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.encode_due()
            except Exception:  # a bad picture must not end the console
                log.exception("console: snapshot encoding failed")
            if self.active:
                self._stop.wait(min(0.25, self.interval_s / 2))
            else:
                self._wake.wait(5.0)
            self._wake.clear()

    def encode_due(self) -> int:
        """Encode what is due now; returns how many JPEGs were made."""
        now = time.monotonic()
        active = self.active
        work: list[tuple[str, _Slot, Frame, float, bool]] = []
        with self._lock:
            for cid, cam in self._cams.items():
                for preset, slot in cam.slots.items():
                    frame = slot.frame
                    if frame is None:
                        continue
                    park = preset != cam.preset
                    stale = slot.jpeg is None or slot.jpeg.seen_at < slot.seen_at
                    due = slot.jpeg is None or now - slot.jpeg_encoded >= self.interval_s
                    if park or (active and stale and due):
                        work.append((cid, slot, frame, slot.seen_at, park))
        for cid, slot, frame, seen_at, park in work:
            self._encode(cid, slot, frame, seen_at, park)
        return len(work)

    def encode_now(self, camera_id: str) -> Jpeg | None:
        """Encode the camera's latest frame at once (full size, for saving)."""
        frame = self.full_frame(camera_id)
        if frame is None:
            return self.jpeg(camera_id)
        # Converted for this JPEG only: `frame.image` would keep a BGR copy in the slot.
        ok, buf = cv2.imencode(".jpg", frame.bgr(), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            return None
        return Jpeg(
            buf.tobytes(), -1, 0.0, frame.captured_at, frame.width, frame.height, frame.preset
        )

    def _encode(
        self, camera_id: str, slot: _Slot, frame: Frame, seen_at: float, park: bool
    ) -> None:
        # Only the pixels shown are converted, at the size shown (streams/picture.py).
        image = frame.bgr(size=self.shown_size(frame.width, frame.height))
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        motion = None if park else self._motion(camera_id, frame)
        self.encodes += 1
        with self._lock:
            cam = self._cams.get(camera_id)
            if cam is None:
                return
            cam.seq += 1
            slot.jpeg = Jpeg(
                buf.tobytes(),
                cam.seq,
                seen_at,
                frame.captured_at,
                frame.width,
                frame.height,
                frame.preset,
            )
            slot.jpeg_encoded = time.monotonic()
            if park and slot.frame is frame:
                slot.frame = None  # parked: only the JPEG stays
            if motion is not None and cam.overlay.preset == frame.preset:
                cam.overlay.motion = motion

    def shown_size(self, width: int, height: int) -> tuple[int, int]:
        """The size a live snapshot is encoded at: the frame's, scaled to `max_width`."""
        if width <= self.max_width:
            return width, height
        return self.max_width, max(1, round(height * self.max_width / width))

    def _motion(self, camera_id: str, frame: Frame) -> list[tuple[int, int, int, int]]:
        """Boxes (frame pixels) of what changed since the camera's previous snapshot,
        compared on the frame's luma reduced (0-255 grey scale, streams/grey.py)."""
        h = max(1, round(frame.height * MOTION_WIDTH / frame.width))
        small = cv2.resize(frame.luma(), (MOTION_WIDTH, h), interpolation=cv2.INTER_AREA)
        small = full_scale(np.asarray(small, np.uint8), limited_luma(frame.picture))
        small = cv2.GaussianBlur(small, (5, 5), 0)
        with self._lock:
            cam = self._cams.get(camera_id)
            prev, cam_ok = (cam.small, True) if cam is not None else (None, False)
            if cam_ok and cam is not None:
                cam.small = small
        if prev is None or prev.shape != small.shape:
            return []
        diff = cv2.threshold(cv2.absdiff(prev, small), 25, 255, cv2.THRESH_BINARY)[1]
        diff = cv2.dilate(diff, np.ones((3, 3), np.uint8), iterations=2)
        contours, _ = cv2.findContours(diff, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        fx = frame.width / MOTION_WIDTH
        fy = frame.height / h
        boxes = []
        for c in contours:
            x, y, w, hh = cv2.boundingRect(c)
            if w * hh >= 4:
                boxes.append((round(x * fx), round(y * fy), round(w * fx), round(hh * fy)))
        return sorted(boxes, key=lambda b: -b[2] * b[3])[:32]
