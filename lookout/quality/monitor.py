"""Video quality diagnosis (视频质量诊断) of one camera, per PTZ preset: a frozen
picture, blur (rain or fog on the dome), occlusion (a covered lens) and drift from the
preset's view.

`QualityMonitor.observe` runs on every analysed frame (CameraRuntime.process) and
costs well under a millisecond (measures: lookout/quality/measures.py); it reads the
frame's luma only, never converting the frame to BGR except once to save a preset's
reference view. Only drift aligns the view with the preset's reference snapshot,
every `drift_interval_s`. Each issue has hysteresis: it starts when its start
condition has held for its hold time and ends when its end condition has held for
`clear_s`, both on the frames' monotonic time (docs/ARCHITECTURE.md, "Time"). A start
and an end are each logged once, counted and kept in `QualityMonitor.state`, an
immutable `QualityState` other threads read (the metrics collector, the console). See
docs/ARCHITECTURE.md, "Video quality diagnosis".
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import numpy as np
from numpy.typing import NDArray

from lookout.config.quality import QualityConfig
from lookout.quality.measures import (
    MIN_DRIFT_TEXTURE,
    Baseline,
    FrameMeasures,
    ViewReference,
    changed_fraction,
    covered_fraction,
    drift_px,
    fit_reference,
    load_view_reference,
    measure_frame,
    save_view_reference,
    sharpness_ratio,
    view_reference_path,
)
from lookout.quality.state import (
    DEFAULT_PRESET,
    ISSUES,
    Hysteresis,
    IssueKind,
    QualityEvent,
    QualityIssue,
    QualityState,
)
from lookout.streams.frame import Frame
from lookout.streams.grey import limited_luma

__all__ = [
    "DEFAULT_PRESET",
    "ISSUES",
    "IssueKind",
    "QualityEvent",
    "QualityIssue",
    "QualityMonitor",
    "QualityState",
]

log = logging.getLogger(__name__)

#: Presets remembered per camera (the least recently seen is forgotten beyond this).
MAX_PRESETS = 32


class _Preset:
    """Diagnosis state of one preset: trackers, frozen anchor, baseline, reference."""

    def __init__(self, cfg: QualityConfig, path: Path | None) -> None:
        self.trackers: dict[str, Hysteresis] = {
            "frozen": Hysteresis("frozen", cfg.frozen_s, cfg.clear_s, cfg.frozen_s),
            "blur": Hysteresis("blur", cfg.blur_s, cfg.clear_s, cfg.blur_ratio),
            "occlusion": Hysteresis(
                "occlusion", cfg.occlusion_s, cfg.clear_s, cfg.occlusion_fraction
            ),
            "drift": Hysteresis("drift", cfg.drift_s, cfg.clear_s, cfg.drift_px),
        }
        self.path = path
        self.loaded = False
        self.mtime: float | None = None
        self.anchor: NDArray[np.uint8] | None = None
        self.anchor_t = 0.0
        self.learning: list[FrameMeasures] = []
        self.baseline: Baseline | None = None
        self.reference: ViewReference | None = None
        self.last_drift: float | None = None
        #: (width, height) of the frames this state was learnt on.
        self.size: tuple[int, int] | None = None


class QualityMonitor:
    """Diagnoses one camera's analysed frames; call `observe` from one thread.

    Reference snapshots live in `<references>/views/<camera>_<preset>.jpg` (taken by
    `lookout reference capture`, or by the monitor itself at the end of a preset's
    learning when there is none); without `references` nothing is read or written."""

    def __init__(self, camera_id: str, cfg: QualityConfig, references: Path | None) -> None:
        self.camera_id = camera_id
        self.cfg = cfg
        self.references = references
        self._presets: OrderedDict[str, _Preset] = OrderedDict()
        #: The latest diagnosis; replaced (never changed) after each frame.
        self.state = QualityState(camera_id, cfg.enabled)

    def observe(self, frame: Frame) -> list[QualityEvent]:
        """Diagnose one analysed frame; returns the issues that started or ended."""
        if not self.cfg.enabled:
            return []
        key = frame.preset or DEFAULT_PRESET
        ps = self._preset(key)
        size = (frame.width, frame.height)
        if ps.size is not None and ps.size != size:
            # Another picture size (the camera switched profile): start learning anew.
            ps = self._presets[key] = _Preset(self.cfg, ps.path)
        ps.size = size
        if not ps.loaded:
            ps.loaded = True
            self._load_reference(key, ps, frame)
        m = measure_frame(frame.luma(), limited=limited_luma(frame.picture))
        t, wall = frame.monotonic_s, frame.captured_at
        if ps.baseline is None:
            events = self._frozen(key, ps, m, t, wall, covered=False)
            self._learn(key, ps, m, frame)
        else:
            covered = covered_fraction(m, ps.baseline, self.cfg.occlusion_std)
            occluded = covered is not None and covered >= self.cfg.occlusion_fraction
            events = self._frozen(key, ps, m, t, wall, covered=occluded)
            events += self._judge(key, ps, m, frame, covered)
        self._publish(key, wall, learning=ps.baseline is None)
        return events

    # -- per issue -----------------------------------------------------------------------
    def _frozen(
        self, key: str, ps: _Preset, m: FrameMeasures, t: float, wall: datetime, *, covered: bool
    ) -> list[QualityEvent]:
        """Still while the picture stays within `frozen_change` of the anchor, the first
        picture of the still run (of the frozen picture while the issue lasts). A
        covered lens shows a still picture too: covered frames are occlusion's, and
        neither start nor end a frozen picture."""
        tr = ps.trackers["frozen"]
        if ps.anchor is None or ps.anchor.shape != m.thumb.shape:
            ps.anchor, ps.anchor_t = m.thumb, t
        still = changed_fraction(ps.anchor, m.thumb) < self.cfg.frozen_change
        if (covered or not still) and not tr.active:
            ps.anchor, ps.anchor_t = m.thumb, t
        elif still and not covered and tr.bad_since is None:
            tr.bad_since = ps.anchor_t  # the picture has not changed since the anchor's
        went = tr.update(t, wall, None, still and not covered, not still and not covered)
        tr.measure = 0.0 if tr.bad_since is None else t - tr.bad_since
        if went is False:
            ps.anchor, ps.anchor_t = m.thumb, t
        return self._event(key, tr, went, wall)

    def _judge(
        self, key: str, ps: _Preset, m: FrameMeasures, frame: Frame, covered: float | None
    ) -> list[QualityEvent]:
        """Occlusion and blur on every frame, drift every `drift_interval_s`."""
        cfg, base = self.cfg, ps.baseline
        assert base is not None
        t, wall = frame.monotonic_s, frame.captured_at
        occluded = covered is not None and covered >= cfg.occlusion_fraction
        tr = ps.trackers["occlusion"]
        went = tr.update(
            t,
            wall,
            covered,
            occluded,
            covered is not None and covered < cfg.occlusion_end_fraction,
        )
        events = self._event(key, tr, went, wall)
        # A covered lens is not also blurred: sharpness is judged on uncovered frames.
        ratio = None if occluded else sharpness_ratio(m, base)
        blurred = ratio is not None and ratio < cfg.blur_ratio
        tr = ps.trackers["blur"]
        went = tr.update(t, wall, ratio, blurred, ratio is not None and ratio >= cfg.blur_end_ratio)
        events += self._event(key, tr, went, wall)
        due = ps.last_drift is None or t - ps.last_drift >= cfg.drift_interval_s
        if due and not occluded and not blurred:
            ps.last_drift = t
            self._refresh_reference(key, ps, frame)
            if ps.reference is not None and base.texture >= MIN_DRIFT_TEXTURE:
                px = drift_px(ps.reference, frame.luma(), limited=limited_luma(frame.picture))
                tr = ps.trackers["drift"]
                went = tr.update(t, wall, px, px >= cfg.drift_px, px < cfg.drift_end_px)
                events += self._event(key, tr, went, wall)
        return events

    # -- baseline and reference ------------------------------------------------------------
    def _learn(self, key: str, ps: _Preset, m: FrameMeasures, frame: Frame) -> None:
        ps.learning.append(m)
        if len(ps.learning) < self.cfg.learn_frames:
            return
        ps.baseline = Baseline.learn(ps.learning, self.cfg.occlusion_std)
        ps.learning = []
        if ps.reference is None:
            ps.reference = ViewReference.of(frame.luma(), limited=limited_luma(frame.picture))
            if ps.path is not None and not ps.path.exists():
                try:  # the file is the colour picture (once per preset)
                    save_view_reference(ps.path, frame.image)
                    ps.mtime = ps.path.stat().st_mtime
                    log.info(
                        "camera %s preset %s: reference view taken: %s", *self._at(key), ps.path
                    )
                except OSError as exc:
                    log.warning("camera %s preset %s: reference not saved: %s", *self._at(key), exc)

    def _load_reference(self, key: str, ps: _Preset, frame: Frame) -> bool:
        """Use the reference file of the preset (baseline and drift) if it fits."""
        if ps.path is None:
            return False
        image = load_view_reference(ps.path)
        if image is None:
            return False
        ps.mtime = ps.path.stat().st_mtime
        fitted = fit_reference(image, (frame.height, frame.width))
        if fitted is None:
            log.warning(
                "camera %s preset %s: reference %s is %dx%d, frames are %dx%d: not used",
                *self._at(key),
                ps.path,
                image.shape[1],
                image.shape[0],
                frame.width,
                frame.height,
            )
            return False
        ps.reference = ViewReference.of(fitted)
        ps.baseline = Baseline.learn([ps.reference.measures], self.cfg.occlusion_std)
        ps.learning = []
        return True

    def _refresh_reference(self, key: str, ps: _Preset, frame: Frame) -> None:
        """A new reference file (`lookout reference capture`, e.g. after the view was
        re-aimed on purpose) replaces the reference and the baseline."""
        if ps.path is None or not ps.path.is_file():
            return
        if ps.path.stat().st_mtime != ps.mtime and self._load_reference(key, ps, frame):
            log.info("camera %s preset %s: new reference from %s", *self._at(key), ps.path)

    # -- bookkeeping ------------------------------------------------------------------------
    def _preset(self, key: str) -> _Preset:
        ps = self._presets.get(key)
        if ps is None:
            path = (
                None
                if self.references is None
                else view_reference_path(self.references, self.camera_id, key)
            )
            ps = self._presets[key] = _Preset(self.cfg, path)
            while len(self._presets) > MAX_PRESETS:
                self._presets.popitem(last=False)
        self._presets.move_to_end(key)
        return ps

    def _at(self, key: str) -> tuple[str, str]:
        return self.camera_id, key

    def _event(
        self, key: str, tr: Hysteresis, went: bool | None, wall: datetime
    ) -> list[QualityEvent]:
        if went is None:
            return []
        text = _describe(tr, self.cfg)
        if went:
            message = f"{tr.kind} started: {text}"
            log.warning("camera %s preset %s: %s", self.camera_id, key, message)
        else:
            message = f"{tr.kind} ended after {tr.lasted_s:.0f} s: {text}"
            log.info("camera %s preset %s: %s", self.camera_id, key, message)
        return [QualityEvent(self.camera_id, key, tr.kind, went, wall, tr.measure, message)]

    def _publish(self, key: str, wall: datetime, *, learning: bool) -> None:
        presets: dict[str, Mapping[str, QualityIssue]] = {
            name: MappingProxyType({k: tr.issue(name) for k, tr in ps.trackers.items()})
            for name, ps in self._presets.items()
        }
        self.state = QualityState(
            self.camera_id,
            True,
            key,
            wall,
            learning,
            presets[key],
            MappingProxyType(presets),
        )


def _describe(tr: Hysteresis, cfg: QualityConfig) -> str:
    """The measure of an issue in words, with its thresholds (one log line)."""
    v = tr.measure
    if tr.kind == "frozen":
        if not tr.active:
            return "the picture changes again"
        return f"picture unchanged for {v or 0.0:.0f} s (starts at {cfg.frozen_s:g} s)"
    if v is None:
        return "not measured"
    if tr.kind == "blur":
        return (
            f"sharpness {v:.2f} of the baseline (starts below {cfg.blur_ratio:g}, "
            f"ends above {cfg.blur_end_ratio:g})"
        )
    if tr.kind == "occlusion":
        return (
            f"{v:.0%} of the textured picture flat (starts at {cfg.occlusion_fraction:.0%}, "
            f"ends below {cfg.occlusion_end_fraction:.0%})"
        )
    if math.isinf(v):
        return "the view does not align with the preset reference"
    return (
        f"view {v:.1f} px off the preset reference (starts at {cfg.drift_px:g} px, "
        f"ends below {cfg.drift_end_px:g} px)"
    )
