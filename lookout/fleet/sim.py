"""A fleet of cluster agents in one process, for the county-scale simulation
(benchmarks/cluster_sim.py) and its small test: the real `ClusterAgent` rounds and
`LeaseStore` scripts against a real Redis, no video.

Each simulated box is a `ClusterAgent` of its own (own id, weight, held leases,
monotonic deadlines); one thread runs their rounds on a shared schedule, each box
every `renew_s` with its own phase, as separate processes would. A box "dies" by no
longer running rounds (nothing is released: `kill -9`) and "comes back" as a fresh
agent with no memory (a restarted process). What Redis holds is the truth: the lease
of every camera is read back from Redis to measure balance and churn.
"""

from __future__ import annotations

import heapq
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import redis

from lookout.config.fleet import ClusterConfig
from lookout.fleet.agent import ClusterAgent
from lookout.fleet.leases import LeaseStore


@dataclass(frozen=True, slots=True)
class Balance:
    """Cameras per box against each box's fair share (cameras x weight / total)."""

    counts: dict[str, int]
    max_over_mean: float  # max count / mean count (unweighted view)
    min_over_mean: float
    max_over_share: float  # max count / its fair share (weighted view)
    min_over_share: float
    unheld: int


def balance(owners: Mapping[str, str | None], weights: Mapping[str, float]) -> Balance:
    counts = {b: 0 for b in weights}
    unheld = 0
    for box in owners.values():
        if box is None:
            unheld += 1
        else:
            counts[box] = counts.get(box, 0) + 1
    total_w = sum(weights.values())
    held = sum(counts.values())
    mean = statistics.fmean(counts.values())
    ratio = [counts[b] / (held * weights[b] / total_w) for b in weights]
    return Balance(
        counts,
        max(counts.values()) / mean,
        min(counts.values()) / mean,
        max(ratio),
        min(ratio),
        unheld,
    )


@dataclass(slots=True)
class Sample:
    """The fleet as Redis held it at one moment (seconds since the fleet started)."""

    t: float
    owners: dict[str, str | None]


@dataclass
class Fleet:
    """Boxes `weights` (id -> weight) sharing `cameras` through the Redis at `client`."""

    client: redis.Redis
    cameras: Sequence[str]
    weights: Mapping[str, float]
    ttl_s: float = 4.0
    hold_down_s: float = 4.0
    move_every_s: float = 0.5
    prefix: str = "sim"
    agents: dict[str, ClusterAgent] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    _due: list[tuple[float, int, str, ClusterAgent]] = field(default_factory=list)
    _seq: int = 0
    t0: float = field(default_factory=time.monotonic)
    round_s: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, box in enumerate(self.weights):
            self.start_box(box, phase=i / max(1, len(self.weights)))

    def _agent(self, box: str) -> ClusterAgent:
        cfg = ClusterConfig(
            url="redis://127.0.0.1",
            box_id=box,
            weight=self.weights[box],
            lease_ttl_s=self.ttl_s,
            hold_down_s=self.hold_down_s,
            move_every_s=self.move_every_s,
            prefix=self.prefix,
        )
        return ClusterAgent(cfg, LeaseStore(self.client, self.prefix, self.ttl_s), self.cameras)

    @property
    def renew_s(self) -> float:
        return self.ttl_s / 3

    def start_box(self, box: str, phase: float = 0.0) -> None:
        """A box (re)starts as a fresh process: a new agent, its first round now."""
        agent = self.agents[box] = self._agent(box)
        self._push(time.monotonic() + phase * self.renew_s, box, agent)

    def kill_box(self, box: str) -> set[str]:
        """`kill -9`: no more rounds, nothing released. Returns what Redis says it held."""
        del self.agents[box]
        return {c for c, b in self.owners().items() if b == box}

    def _push(self, at: float, box: str, agent: ClusterAgent) -> None:
        self._seq += 1
        heapq.heappush(self._due, (at, self._seq, box, agent))

    def owners(self) -> dict[str, str | None]:
        """Camera -> the box whose lease Redis holds (None: held by nobody)."""
        store = LeaseStore(self.client, self.prefix, self.ttl_s)
        return {s.camera_id: s.box_id for s in store.leases(list(self.cameras))}

    def run(
        self,
        seconds: float,
        until: Callable[[dict[str, str | None]], bool] | None = None,
        sample_every_s: float = 0.25,
    ) -> float | None:
        """Run rounds for up to `seconds`, sampling Redis; returns the seconds until
        `until(owners)` first held (None if it never did)."""
        start = time.monotonic()
        next_sample = start
        while (now := time.monotonic()) - start < seconds:
            if now >= next_sample:
                owners = self.owners()
                self.samples.append(Sample(now - self.t0, owners))
                next_sample = now + sample_every_s
                if until is not None and until(owners):
                    return now - start
            at, _, box, agent = self._due[0]
            if at > now:
                time.sleep(min(at, next_sample) - now)
                continue
            heapq.heappop(self._due)
            if self.agents.get(box) is not agent:  # killed: its schedule ends
                continue
            t = time.monotonic()
            agent.tick()
            self.round_s.append(time.monotonic() - t)
            self._push(max(at + self.renew_s, time.monotonic()), box, agent)
        return None

    def stop(self) -> None:
        for agent in self.agents.values():
            agent.release_all()
        self.agents.clear()


def moved(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> set[str]:
    """Cameras held by different boxes (both held) in the two snapshots."""
    return {c for c, b in after.items() if b is not None and before.get(c) not in (None, b)}


def steps(samples: Sequence[Sample], box: str) -> list[int]:
    """How many cameras `box` held in each sample."""
    return [Counter(s.owners.values())[box] for s in samples]
