"""The two clocks of lookout (docs/ARCHITECTURE.md, "Time").

- **Durations** (dwell, stationarity, track expiry, motion re-checks) come from a
  clock that never jumps: the stream's own timestamps in replay, `time.monotonic()`
  in live operation. They travel as `Frame.monotonic_s`.
- **Case timestamps** are wall-clock times in the site's time zone
  (`Frame.captured_at`): start time + footage time in replay, the wall clock at
  arrival in live operation. A wall clock that jumps (NTP step, DST, a box whose
  RTC was wrong) moves the timestamps of cases, never their dwell.

Readers take a `Clock` so tests can move either clock on their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Clock:
    """`monotonic()` for durations, `wall()` (timezone-aware) for timestamps."""

    monotonic: Callable[[], float] = field(default=time.monotonic)
    wall: Callable[[], datetime] = field(default=_utc_now)

    def now(self, tz: tzinfo) -> datetime:
        """The wall clock in `tz`."""
        return self.wall().astimezone(tz)


SYSTEM_CLOCK = Clock()
