"""Login throttling (docs/ACCOUNTS.md "Guessing"): per account and per address,

- after the n-th failure of an account within `window_s`, a try sooner than
  `delay_s * 2^(n-1)` seconds after it is refused at once (429, Retry-After);
- `account_failures` failures of an account, or `address_failures` from one address,
  within `window_s` lock it for `lockout_s`; every try meanwhile is refused at once.

A refused try computes no password hash: a flood of guesses costs the box almost
nothing. Tries for one account are serialised (an asyncio lock per account), so 20
guesses sent together are checked one after the other and the lockout stops the rest.
The counts live in the `SecurityStore` (lookout/console/session_store.py): they
survive a restart and a fleet shares them through Redis."""

from __future__ import annotations

import asyncio
import enum
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from starlette.concurrency import run_in_threadpool

from lookout.config.daemon import LoginThrottleConfig
from lookout.console.session_store import SecurityStore

T = TypeVar("T")
ACCOUNT, ADDRESS = "account", "address"


class Outcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # checked, wrong
    DELAYED = "delayed"  # refused: too soon after the last failure
    LOCKED = "locked"  # refused: account or address locked


@dataclass(frozen=True, slots=True)
class Gate:
    """Whether a try may be checked; if not, why and for how long."""

    outcome: Outcome | None  # None: go on and check
    retry_after_s: float = 0.0


class LoginThrottle:
    """Decides, before any hash, whether a login may be checked, and records results."""

    def __init__(
        self,
        store: SecurityStore,
        policy: LoginThrottleConfig,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._waiting: dict[str, int] = {}
        self._counts_lock = threading.Lock()
        #: Tries per outcome and lockouts per scope since start (/metrics).
        self.outcomes: dict[str, int] = {o.value: 0 for o in Outcome}
        self.lockouts: dict[str, int] = {ACCOUNT: 0, ADDRESS: 0}

    async def attempt(
        self, account: str, address: str, check: Callable[[], T | None]
    ) -> tuple[T | None, Gate]:
        """Run `check` (a password check, in the thread pool) unless throttled. Returns
        what it returned (None when wrong or refused) and the gate: its outcome says
        which."""
        key = account.casefold()
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:
                gate = await run_in_threadpool(self._gate, key, address)
                if gate.outcome is not None:
                    self._count(gate.outcome)
                    return None, gate
                result = await run_in_threadpool(check)
                if result is None:
                    gate = await run_in_threadpool(self._failed, key, address)
                else:
                    await run_in_threadpool(self.store.clear, ACCOUNT, key)
                    gate = Gate(Outcome.OK)
                self._count(gate.outcome or Outcome.WRONG)
                return result, gate
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # no task holds or waits for it
                del self._waiting[key]
                self._locks.pop(key, None)

    def _count(self, outcome: Outcome) -> None:
        with self._counts_lock:
            self.outcomes[outcome.value] += 1

    def _gate(self, key: str, address: str) -> Gate:
        now, p = self.clock(), self.policy
        for scope, who in ((ACCOUNT, key), (ADDRESS, address)):
            until = self.store.locked_until(scope, who, now)
            if until is not None:
                return Gate(Outcome.LOCKED, until - now)
        failed = self.store.failures(ACCOUNT, key, now, p.window_s)
        if failed.count and failed.last is not None and p.delay_s > 0:
            ready = failed.last + p.delay_s * 2 ** min(failed.count - 1, 16)
            if now < ready:
                return Gate(Outcome.DELAYED, ready - now)
        return Gate(None)

    def _failed(self, key: str, address: str) -> Gate:
        now, p = self.clock(), self.policy
        by_account = self.store.fail(ACCOUNT, key, now, p.window_s)
        by_address = self.store.fail(ADDRESS, address, now, p.window_s)
        out = Gate(Outcome.WRONG)
        for scope, who, n, limit in (
            (ACCOUNT, key, by_account.count, p.account_failures),
            (ADDRESS, address, by_address.count, p.address_failures),
        ):
            if n >= limit and p.lockout_s > 0:
                self.store.lock(scope, who, now + p.lockout_s)
                self.store.clear(scope, who)  # a new window after the lockout
                with self._counts_lock:
                    self.lockouts[scope] += 1
                out = Gate(Outcome.WRONG, p.lockout_s)
        return out

    def locked(self, account: str, address: str) -> bool:
        """Whether a try now would be refused as locked (for tests and the CLI)."""
        return self._gate(account.casefold(), address).outcome is Outcome.LOCKED
