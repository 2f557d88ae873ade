"""The diagnosis as other threads see it (`QualityState`, `QualityIssue`), the events it
logs (`QualityEvent`) and the hysteresis of one issue (`Hysteresis`). Everything here
is immutable except `Hysteresis`, which only the monitor's thread touches
(lookout/quality/monitor.py; docs/ARCHITECTURE.md, "Video quality diagnosis")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Literal

IssueKind = Literal["frozen", "blur", "occlusion", "drift"]
#: The issues diagnosed, in the order they are shown.
ISSUES: tuple[IssueKind, ...] = ("frozen", "blur", "occlusion", "drift")
#: Preset name of a fixed camera (frames without a PTZ preset).
DEFAULT_PRESET = "default"


@dataclass(frozen=True, slots=True)
class QualityIssue:
    """One issue of one camera preset, as last diagnosed.

    Attributes:
        kind: "frozen", "blur", "occlusion" or "drift".
        preset: PTZ preset token, "default" for a fixed camera.
        active: True while the issue lasts (from its start until its end).
        since: wall-clock time the condition began, while active; else None.
        measure: the latest measure (None before the first, e.g. while the baseline is
            learned): frozen — seconds the picture has not changed; blur — sharpness
            over the baseline's (1 = as sharp); occlusion — fraction (0–1) of the
            textured picture that is flat; drift — pixels the view is off the
            reference (`inf`: it cannot be aligned at all).
        measured_at: wall-clock time of that measure.
        threshold: the start threshold the measure is compared with (same unit).
        incidents: how many times the issue started since the camera started.
        last_ended: wall-clock time the last incident ended (its end condition began).
    """

    kind: IssueKind
    preset: str
    active: bool
    since: datetime | None
    measure: float | None
    measured_at: datetime | None
    threshold: float
    incidents: int
    last_ended: datetime | None


@dataclass(frozen=True, slots=True)
class QualityState:
    """Quality diagnosis of one camera: an immutable snapshot, safe to read from any
    thread (`CameraRuntime.quality`).

    Attributes:
        camera_id: the camera.
        enabled: False when `cameras[].quality.enabled` is off (no issues then).
        preset: preset of the last analysed frame ("default": fixed camera; None
            before the first frame).
        updated_at: wall-clock time of the last analysed frame.
        learning: True while that preset's baseline is being learned (no blur,
            occlusion or drift judged yet).
        issues: the four issues of the current preset, keyed by kind.
        presets: the issues of every preset seen, keyed by preset then kind.
    """

    camera_id: str
    enabled: bool
    preset: str | None = None
    updated_at: datetime | None = None
    learning: bool = False
    issues: Mapping[str, QualityIssue] = field(default_factory=lambda: MappingProxyType({}))
    presets: Mapping[str, Mapping[str, QualityIssue]] = field(
        default_factory=lambda: MappingProxyType({})
    )

    @property
    def active(self) -> tuple[QualityIssue, ...]:
        """Every active issue, of every preset."""
        return tuple(i for p in self.presets.values() for i in p.values() if i.active)


@dataclass(frozen=True, slots=True)
class QualityEvent:
    """An issue started or ended (what was logged)."""

    camera_id: str
    preset: str
    kind: IssueKind
    started: bool
    at: datetime
    measure: float | None
    message: str


class Hysteresis:
    """One issue of one preset: it starts when its start condition (`bad`) has held for
    `hold_s` and ends when its end condition (`good`) has held for `clear_s`, on the
    frames' monotonic time. A frame that meets neither (a measure between the two
    thresholds, or none) restarts both timers."""

    def __init__(self, kind: IssueKind, hold_s: float, clear_s: float, threshold: float) -> None:
        self.kind = kind
        self.hold_s = hold_s
        self.clear_s = clear_s
        self.threshold = threshold
        self.active = False
        self.since: datetime | None = None
        self.last_ended: datetime | None = None
        self.bad_since: float | None = None
        self.good_since: float | None = None
        self.measure: float | None = None
        self.measured_at: datetime | None = None
        self.incidents = 0
        #: Seconds the last incident lasted (from its condition's start to its end's).
        self.lasted_s = 0.0
        self._start_t = 0.0

    def update(
        self, t: float, wall: datetime, measure: float | None, bad: bool, good: bool
    ) -> bool | None:
        """Feed one measure; True when the issue starts, False when it ends."""
        self.measure, self.measured_at = measure, wall
        self.bad_since = (t if self.bad_since is None else self.bad_since) if bad else None
        self.good_since = (t if self.good_since is None else self.good_since) if good else None
        if not self.active and self.bad_since is not None and t - self.bad_since >= self.hold_s:
            self.active = True
            self.since = wall - timedelta(seconds=t - self.bad_since)
            self._start_t = self.bad_since
            self.incidents += 1
            return True
        if self.active and self.good_since is not None and t - self.good_since >= self.clear_s:
            self.active = False
            self.since = None
            self.last_ended = wall - timedelta(seconds=t - self.good_since)
            self.lasted_s = self.good_since - self._start_t
            return False
        return None

    def issue(self, preset: str) -> QualityIssue:
        """The issue as it stands, for the state other threads read."""
        return QualityIssue(
            self.kind,
            preset,
            self.active,
            self.since,
            self.measure,
            self.measured_at,
            self.threshold,
            self.incidents,
            self.last_ended,
        )
