"""PTZ presets: which preset a tower camera is settled at, and the thread that knows it.

Nothing is analysed while the camera moves (docs/ARCHITECTURE.md, "A frame's
journey"), so frames carry the preset token from `PresetState.current()`, which is
None while the camera moves, while its position matches no preset, and for
`settle_s` after it arrives.

`PtzController` keeps a `PresetState` up to date, in one of two modes (`PtzConfig.mode`):

- drive: lookout moves the camera through `PtzConfig.tour` — GotoPreset, poll GetStatus
  every `poll_s` until it stops at the preset (at most `max_move_s`), settle, stay
  `stay_s`, next stop, forever. A stop names a preset by token or, failing that, by name.
- follow: the camera runs its own tour; GetStatus every `poll_s`, and the reported
  position is matched to the nearest preset within `position_tolerance`.

The client is anything with `presets()`, `goto_preset(token)` and `status()` (an
`OnvifClient`, or a fake in tests).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from lookout.streams.onvif_client import Preset, PtzStatus
from lookout.streams.settings import PtzConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]


class PtzClient(Protocol):
    def presets(self) -> list[Preset]: ...

    def goto_preset(self, token: str) -> None: ...

    def status(self) -> PtzStatus: ...


class PresetState:
    """Thread-safe: the preset the camera is settled at (None while moving or settling)."""

    def __init__(self, settle_s: float = 0.0, clock: Clock = time.monotonic) -> None:
        self._settle_s = settle_s
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._arrived_at = 0.0

    def current(self) -> str | None:
        """The preset token, once `settle_s` has passed since arrival; else None."""
        with self._lock:
            if self._token is None or self._clock() < self._arrived_at + self._settle_s:
                return None
            return self._token

    def settled_at(self, t: float) -> str | None:
        """The preset token if the camera has been settled there since monotonic time `t`
        or earlier (and still is): a picture that arrived at `t` shows that preset. A
        picture that arrived during the move, and is decoded only after the camera
        settled, gets None."""
        with self._lock:
            if self._token is None or t < self._arrived_at + self._settle_s:
                return None
            if self._clock() < self._arrived_at + self._settle_s:
                return None
            return self._token

    def set_moving(self) -> None:
        """The camera moves, or is at no known preset."""
        with self._lock:
            self._token = None

    def set_arrived(self, token: str, at_monotonic: float) -> None:
        """The camera stopped at `token` at `at_monotonic` (same clock as this state's)."""
        with self._lock:
            self._token = token
            self._arrived_at = at_monotonic


def resolve_preset(ref: str, presets: Sequence[Preset]) -> Preset | None:
    """The preset whose token is `ref`, else the one named `ref` (then case-insensitively)."""
    for match in (
        lambda p: p.token == ref,
        lambda p: p.name == ref,
        lambda p: p.name.casefold() == ref.casefold(),
    ):
        found = [p for p in presets if match(p)]
        if found:
            return found[0]
    return None


def _axis_gap(a: float, b: float, wraps: bool) -> float:
    d = abs(a - b)
    # Generic pan space is -1..1 and wraps on 360° cameras: 0.99 and -0.99 are close.
    return min(d, 2.0 - d) if wraps and abs(a) <= 1.0 and abs(b) <= 1.0 else d


def preset_distance(status: PtzStatus, preset: Preset) -> float | None:
    """Euclidean pan/tilt/zoom distance over the axes both report; None if none is shared."""
    pairs = [
        (status.pan, preset.pan, True),
        (status.tilt, preset.tilt, False),
        (status.zoom, preset.zoom, False),
    ]
    gaps = [_axis_gap(a, b, w) for a, b, w in pairs if a is not None and b is not None]
    return math.sqrt(sum(g * g for g in gaps)) if gaps else None


def nearest_preset(status: PtzStatus, presets: Sequence[Preset], tolerance: float) -> Preset | None:
    """The preset nearest to the reported position, if within `tolerance`."""
    best: tuple[float, Preset] | None = None
    for p in presets:
        d = preset_distance(status, p)
        if d is not None and d <= tolerance and (best is None or d < best[0]):
            best = (d, p)
    return None if best is None else best[1]


class PtzController:
    """A thread keeping `state` current (drive or follow); start() then stop()."""

    def __init__(
        self,
        client: PtzClient,
        cfg: PtzConfig,
        *,
        state: PresetState | None = None,
        camera_id: str = "camera",
        clock: Clock = time.monotonic,
        max_move_s: float = 30.0,
        retry_s: float = 5.0,
        preset_refresh_s: float = 300.0,
    ) -> None:
        if cfg.mode == "none":
            raise ValueError("PtzController needs ptz.mode 'drive' or 'follow'")
        self._client = client
        self._cfg = cfg
        self.state = state if state is not None else PresetState(cfg.settle_s, clock)
        self._camera = camera_id
        self._clock = clock
        self._max_move_s = max_move_s
        self._retry_s = retry_s
        self._refresh_s = preset_refresh_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._presets: list[Preset] = []
        self._presets_at: float | None = None
        self._where: tuple[str | None, str] = (None, "start")  # (token, why) last logged
        self._failing = False
        #: The preset the zone editor holds the camera at, until a monotonic time.
        self._hold: tuple[str, float] | None = None
        self._hold_lock = threading.Lock()
        self._wake = threading.Event()  # a new hold ends the current stay early

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("PtzController already started")
        self._thread = threading.Thread(target=self._run, name=f"ptz-{self._camera}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the thread; True if it ended within `timeout`. The state becomes None."""
        self._stop.set()
        self._wake.set()
        ended = True
        if self._thread is not None:
            self._thread.join(timeout)
            ended = not self._thread.is_alive()
        self.state.set_moving()
        return ended

    def hold(self, token: str, seconds: float) -> None:
        """Keep the camera at preset `token` for `seconds` (the zone editor's view of a
        preset). drive: the tour goes there next and pauses until the hold ends; follow:
        GotoPreset is sent now (the camera's own tour may move it on later). Raises
        SourceError when the camera cannot be asked."""
        if self._cfg.mode == "follow":
            self._client.goto_preset(token)
            return
        with self._hold_lock:
            self._hold = (token, self._clock() + seconds)
        self._wake.set()

    def _held(self) -> tuple[Preset, float] | None:
        """The held preset and the seconds left, while a hold lasts."""
        with self._hold_lock:
            hold = self._hold
        if hold is None:
            return None
        left = hold[1] - self._clock()
        preset = next((p for p in self._presets if p.token == hold[0]), None)
        if left <= 0 or preset is None:
            if preset is None and left > 0:
                log.warning("%s: hold at preset %s: no such preset", self._camera, hold[0])
            with self._hold_lock:
                if self._hold == hold:
                    self._hold = None
            return None
        return preset, left

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self._cfg.mode == "drive":
                    self._drive()
                else:
                    self._follow()
            except Exception:
                log.exception("%s: PTZ controller failed; restarting", self._camera)
                self.state.set_moving()
                self._stop.wait(self._retry_s)

    # -- drive ------------------------------------------------------------------------
    def _drive(self) -> None:
        stops = self._resolve_tour()
        while stops and not self._stop.is_set():
            for preset, stay_s in stops:
                while (held := self._held()) is not None:  # the zone editor's hold
                    if not self._visit(*held):
                        return
                if not self._visit(preset, stay_s):
                    return

    def _resolve_tour(self) -> list[tuple[Preset, float]]:
        """The tour's presets (retried until the camera lists them); [] once stopped."""
        while not self._stop.is_set():
            presets = self._load_presets(force=True)
            stops = []
            for stop in self._cfg.tour:
                found = resolve_preset(stop.preset, presets)
                if found is None:
                    known = ", ".join(f"{p.token} ({p.name})" for p in presets) or "none"
                    log.error(
                        "%s: tour stop %r is not a preset of the camera (presets: %s); skipped",
                        self._camera,
                        stop.preset,
                        known,
                    )
                else:
                    stops.append((found, stop.stay_s))
            if stops:
                return stops
            self._stop.wait(self._retry_s)
        return []

    def _visit(self, preset: Preset, stay_s: float) -> bool:
        """Go to `preset`, wait for arrival, settle and stay. False once stopped."""
        self._moved("moving to " + _label(preset))
        if self._call(lambda: self._client.goto_preset(preset.token), "GotoPreset") is _FAILED:
            return not self._stop.wait(self._retry_s)
        deadline = self._clock() + self._max_move_s
        last: PtzStatus | None = None
        while True:
            if self._stop.wait(self._cfg.poll_s):
                return False
            st = self._call(self._client.status, "GetStatus")
            if isinstance(st, PtzStatus):
                last = st
                d = preset_distance(st, preset)
                if not st.moving and (d is None or d <= self._cfg.position_tolerance):
                    break
            if self._clock() > deadline:
                gap = None if last is None else preset_distance(last, preset)
                log.warning(
                    "%s: did not arrive at %s within %.0f s (last status: %s, distance %s); "
                    "skipped",
                    self._camera,
                    _label(preset),
                    self._max_move_s,
                    last,
                    "unknown" if gap is None else f"{gap:.4f}",
                )
                return True
        arrived_at = self._clock()
        self._arrived(preset, arrived_at)
        end = arrived_at + self._cfg.settle_s + stay_s
        self._wake.clear()  # set by stop() and by a new hold
        if not self._stop.is_set():
            self._wake.wait(max(0.0, end - self._clock()))
        return not self._stop.is_set()

    # -- follow -----------------------------------------------------------------------
    def _follow(self) -> None:
        while not self._stop.is_set():
            self.follow_step()
            self._stop.wait(self._cfg.poll_s)

    def follow_step(self) -> str | None:
        """One poll of follow mode: read the position, update the state; the token or None."""
        presets = self._load_presets(force=False)
        st = self._call(self._client.status, "GetStatus")
        if not isinstance(st, PtzStatus):
            self._moved("position unknown (GetStatus failed)")
            return None
        if st.moving:
            self._moved("moving")
            return None
        match = nearest_preset(st, presets, self._cfg.position_tolerance)
        if match is None:
            self._moved("at no preset", f" (pan {st.pan}, tilt {st.tilt}, zoom {st.zoom})")
            return None
        if self._where[0] != match.token:
            self._arrived(match, self._clock())
        return match.token

    # -- shared -----------------------------------------------------------------------
    def _load_presets(self, *, force: bool) -> list[Preset]:
        now = self._clock()
        fresh = self._presets_at is not None and now - self._presets_at < self._refresh_s
        if force or not fresh:
            got = self._call(self._client.presets, "GetPresets")
            if isinstance(got, list):
                if got != self._presets:
                    names = ", ".join(_label(p) for p in got)
                    log.info("%s: %d PTZ presets: %s", self._camera, len(got), names)
                self._presets, self._presets_at = got, now
        return self._presets

    def _moved(self, why: str, detail: str = "") -> None:
        """No preset now; logs `why` (+ `detail`) when `why` changes."""
        self.state.set_moving()
        if self._where != (None, why):
            self._where = (None, why)
            log.info("%s: PTZ %s%s; not analysing", self._camera, why, detail)

    def _arrived(self, preset: Preset, at: float) -> None:
        self.state.set_arrived(preset.token, at)
        self._where = (preset.token, "arrived")
        log.info(
            "%s: PTZ at %s; analysing after %.1f s settle",
            self._camera,
            _label(preset),
            self._cfg.settle_s,
        )

    def _call(self, fn: Callable[[], T], op: str) -> T | object:
        """fn(), or _FAILED after logging (a warning once per run of failures)."""
        try:
            result = fn()
        except Exception as exc:
            if not self._failing:
                log.warning("%s: PTZ %s failed: %s", self._camera, op, exc)
            self._failing = True
            return _FAILED
        if self._failing:
            log.info("%s: PTZ requests work again", self._camera)
        self._failing = False
        return result


_FAILED = object()


def _label(p: Preset) -> str:
    return f"preset {p.name!r} (token {p.token})" if p.name != p.token else f"preset {p.token}"
