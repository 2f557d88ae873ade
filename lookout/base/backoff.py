"""Reconnect delays: exponential growth, a cap, and jitter.

Jitter spreads retries of many cameras that failed together (a storm takes out a
whole rooftop), so they do not reconnect in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from pydantic import Field, model_validator

from lookout.base.model import StrictModel


class BackoffConfig(StrictModel):
    """Reconnect delays: exponential with jitter, so many cameras don't retry in lockstep."""

    initial_s: float = Field(default=0.5, gt=0, description="First delay after a failure.")
    max_s: float = Field(default=30.0, gt=0, description="Cap of the delay.")
    multiplier: float = Field(default=2.0, ge=1.0, description="Growth factor per failure.")
    jitter: float = Field(
        default=0.3, ge=0, le=1, description="Random spread, as a fraction of the delay (±)."
    )

    @model_validator(mode="after")
    def _order(self) -> BackoffConfig:
        if self.max_s < self.initial_s:
            raise ValueError("max_s must be at least initial_s")
        return self


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
