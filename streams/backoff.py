"""Reconnect delays: exponential growth, a cap, and jitter.

Jitter spreads retries of many cameras that failed together (a storm takes out a
whole rooftop), so they do not reconnect in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lookout.streams.settings import BackoffConfig


class Backoff:
    """Delay sequence: initial × multiplier^n, capped, each ± jitter; `reset()` after a
    success."""

    def __init__(self, cfg: BackoffConfig, rng: Callable[[], float] = random.random) -> None:
        self.cfg = cfg
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        base = min(self.cfg.max_s, self.cfg.initial_s * self.cfg.multiplier**self.failures)
        self.failures += 1
        spread = base * self.cfg.jitter
        delay = base - spread + 2 * spread * self._rng()
        return max(0.0, min(delay, self.cfg.max_s * (1 + self.cfg.jitter)))

    def reset(self) -> None:
        self.failures = 0
