"""This box's part of the fleet: which cameras it holds, kept by a thread that beats,
renews, releases and acquires leases every `lease_ttl_s / 3` (docs/ARCHITECTURE.md
"Many boxes"; keys and tokens: lookout/fleet/leases.py).

The agent never starts or stops cameras itself: the daemon's main thread calls `sync`
(every 0.2 s), which adds and removes cameras through the daemon's own add/remove
path, as a reload does. Analysis is fenced at once: `fence(camera)` is None as soon as
the lease is lost or its local deadline (grant/renewal sent + 0.9 ttl, on the
monotonic clock) has passed, so a box that was paused past its ttl makes no case even
before its thread has run again, and the case manager's claim in Redis refuses a
stale token whatever this box believes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lookout.base.errors import ConfigError, LookoutError
from lookout.cases.dedup_store import Fence
from lookout.cases.redis_conn import describe_error, is_auth_error
from lookout.config.fleet import ClusterConfig
from lookout.fleet.leases import Box, LeaseStore, assign
from lookout.fleet.state import ClusterState

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from lookout.cases.manager import CaseManager
    from lookout.config.app import AppConfig
    from lookout.runtime.camera import CameraRuntime

log = logging.getLogger(__name__)

#: A lease counts as held locally until this fraction of the ttl after the request
#: that granted or renewed it was sent (Redis starts its ttl later than that).
LOCAL_VALIDITY = 0.9


@dataclass(frozen=True, slots=True)
class Held:
    """A lease this box holds."""

    token: int
    granted_ms: int  # Redis time of the grant
    valid_until: float  # monotonic deadline (see LOCAL_VALIDITY)


@dataclass(slots=True)
class AgentView:
    """What the last round saw (metrics, status): replaced whole after each round."""

    live: dict[str, Box] = field(default_factory=dict)
    desired: dict[str, str] = field(default_factory=dict)
    redis_ok: bool = False


class ClusterAgent:
    """Leases of this box (see the module docstring). `tick()` is one round."""

    def __init__(
        self,
        cfg: ClusterConfig,
        store: LeaseStore,
        cameras: Iterable[str],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.cfg = cfg
        self.store = store
        self.clock = clock
        self._cameras = sorted(cameras)
        self._held: dict[str, Held] = {}
        self._since_ms = 0
        self._seen = 0  # the largest token this box was given
        self.view = AgentView()
        self.stats: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one round at a time (thread, release_all)
        self._warned = False
        #: The camera state shared with other boxes (lookout/fleet/state.py); written
        #: again when a lease Redis lost is re-acquired.
        self.state: ClusterState | None = None

    @classmethod
    def open(cls, cfg: AppConfig) -> ClusterAgent:
        """The agent of a config with a `cluster:` section; fencing needs the Redis dedup
        store on the same server (ConfigError otherwise)."""
        cc = cfg.cluster
        assert cc is not None
        store = cfg.dedup.store
        if store.type != "redis" or store.url != cc.url:
            raise ConfigError(
                "cluster: needs dedup.store {type: redis} with the same url as cluster.url "
                "(cases are fenced by the lease tokens there)"
            )
        client, target = cc.connect()
        try:
            client.ping()
        except (redis.RedisError, OSError) as exc:
            if is_auth_error(exc):
                client.close()
                raise ConfigError(f"cluster.url: {describe_error(target, exc)}") from None
            log.warning("cluster: Redis not reachable yet: %s", describe_error(target, exc))
        lease_store = LeaseStore(client, cc.prefix, cc.lease_ttl_s)
        return cls(cc, lease_store, [c.id for c in cfg.cameras])

    # -- the thread ------------------------------------------------------------------
    def start(self) -> None:
        self.tick()  # the first round before cameras are looked at
        self._thread = threading.Thread(target=self._loop, name="cluster", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.renew_s):
            self.tick()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop renewing (leases stay until `release_all` or their ttl)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def set_cameras(self, cameras: Iterable[str]) -> None:
        """A reload changed the camera list: leases of removed cameras go next round."""
        self._cameras = sorted(cameras)

    # -- what the rest of the box asks -------------------------------------------------
    def held(self) -> set[str]:
        """Cameras whose lease this box holds now (within the local deadline)."""
        now = self.clock()
        return {c for c, h in self._held.items() if h.valid_until > now}

    def fence(self, camera_id: str) -> Fence | None:
        """The lease a case of this camera is made under; None when not held."""
        h = self._held.get(camera_id)
        if h is None or h.valid_until <= self.clock():
            return None
        return self.store.fence(camera_id, h.token)

    def sync(
        self, running: Collection[str], add: Callable[[str], None], remove: Callable[[str], None]
    ) -> None:
        """Bring the running cameras in line with the leases (daemon's main thread)."""
        held = self.held() & set(self._cameras)  # a camera a reload removed stays off
        for cid in sorted(set(running) - held):
            log.info("cluster: camera %s stops here (lease not held)", cid)
            remove(cid)
        for cid in sorted(held - set(running)):
            log.info("cluster: camera %s runs here (token %d)", cid, self._held[cid].token)
            try:
                add(cid)
            except LookoutError as exc:
                log.error("cluster: camera %s not started: %s", cid, exc)

    # -- one round ---------------------------------------------------------------------
    def tick(self) -> None:
        with self._lock:
            try:
                self._round()
                self._warned = False
            except (redis.RedisError, OSError) as exc:
                self.stats["redis_errors"] += 1
                self.view = replace(self.view, redis_ok=False)
                if not self._warned:  # once per outage
                    log.warning("cluster: Redis unavailable (%s); leases lapse locally", exc)
                    self._warned = True
                self._expire_local()

    def _expire_local(self) -> None:
        now = self.clock()
        for cid, h in list(self._held.items()):
            if h.valid_until <= now:
                self._lose(cid, "its lease ran out here")

    def _lose(self, cid: str, why: str) -> None:
        self._held = {k: v for k, v in self._held.items() if k != cid}
        self.stats["lost"] += 1
        log.warning("cluster: camera %s lost: %s", cid, why)

    def _keep(self, cid: str, held: Held) -> None:
        self._held = {**self._held, cid: held}

    def _round(self) -> None:
        cc, store, box = self.cfg, self.store, self.cfg.box_id
        self._expire_local()  # a paused box drops what ran out before it asks Redis
        grants = {c: h.granted_ms for c, h in self._held.items()}
        since = store.beat(box, cc.weight, grants, self._since_ms)
        # Its heartbeat was gone (first round, Redis restarted, paused past the ttl): this
        # round keeps what it holds and takes nothing new, so the other boxes' heartbeats
        # are back before cameras are shared out again.
        joining, self._since_ms = since != self._since_ms, since
        live, _gone = store.boxes()
        desired = assign(self._cameras, {b.id: b.weight for b in live.values()})
        for cid in sorted(self._held):
            self._renew(cid)
        if joining:
            self.view = AgentView(live=live, desired=desired, redis_ok=True)
            return
        self._move_back(desired, live)
        for cid in self._cameras:
            if desired.get(cid) == box and cid not in self._held:
                self._acquire(cid)
        self.view = AgentView(live=live, desired=desired, redis_ok=True)
        held = {c: h.granted_ms for c, h in self._held.items()}
        if held != grants:  # the heartbeat shows the load as it is now
            store.beat(box, cc.weight, held, self._since_ms)

    def _deadline(self, sent: float) -> float:
        return sent + LOCAL_VALIDITY * self.cfg.lease_ttl_s

    def _acquire(self, cid: str) -> bool:
        sent = self.clock()
        token = self.store.acquire(cid, self.cfg.box_id, self._seen)
        if token is None:
            return False
        self._seen = max(self._seen, token)
        self._keep(cid, Held(token, self.store.now_ms(), self._deadline(sent)))
        self.stats["acquired"] += 1
        return True

    def _renew(self, cid: str) -> None:
        h = self._held[cid]
        if cid not in self._cameras:  # removed from the config
            self.store.release(cid, self.cfg.box_id, h.token)
            self._held = {k: v for k, v in self._held.items() if k != cid}
            return
        sent = self.clock()
        got = self.store.renew(cid, self.cfg.box_id, h.token)
        if got == 1:
            self._keep(cid, replace(h, valid_until=self._deadline(sent)))
        elif got == 0:  # gone while still ours locally (Redis restarted): take it again
            self._held = {k: v for k, v in self._held.items() if k != cid}
            if self._acquire(cid):
                self.stats["reacquired"] += 1
                log.info("cluster: camera %s lease re-acquired (token %d)", cid, self._seen)
                if self.state is not None:
                    self.state.republish(cid)
            else:
                self._lose(cid, "another box took it")
        else:
            self._lose(cid, "another box holds its lease")

    def _move_back(self, desired: dict[str, str], live: dict[str, Box]) -> None:
        """One camera a round, fleet-wide gated, goes to a box that came back and has
        been alive for the hold-down."""
        now_ms = max((b.beat_ms for b in live.values()), default=0)
        for cid in sorted(self._held):
            owner = desired.get(cid)
            if owner is None or owner == self.cfg.box_id or owner not in live:
                continue
            if now_ms - live[owner].since_ms < self.cfg.hold_down_s * 1000:
                continue
            if not self.store.try_move(self.cfg.box_id, self.cfg.move_every_s):
                return
            h = self._held[cid]
            self._held = {k: v for k, v in self._held.items() if k != cid}
            self.store.release(cid, self.cfg.box_id, h.token)
            self.stats["moved"] += 1
            log.info("cluster: camera %s moves back to box %s", cid, owner)
            return

    def release_all(self) -> None:
        """Clean stop: compare-and-delete every lease and the heartbeat."""
        with self._lock:
            held, self._held = self._held, {}
            try:
                for cid, h in held.items():
                    self.store.release(cid, self.cfg.box_id, h.token)
                self.store.drop_beat(self.cfg.box_id)
            except (redis.RedisError, OSError) as exc:
                log.warning("cluster: leases not released (%s); they expire by ttl", exc)

    def adopt(self, rt: CameraRuntime) -> None:
        """A camera starts on this box: its stops are shared (cluster_state.py)."""
        if self.state is not None:
            self.state.adopt(rt)

    def close(self) -> None:
        self.store.r.close()


class ClusterCollector(Collector):
    """Prometheus families of this box's view of the fleet."""

    def __init__(
        self,
        agent: ClusterAgent,
        fenced: Callable[[], int],
        merged: Callable[[], int] = lambda: 0,
    ) -> None:
        self.agent = agent
        self.fenced = fenced
        self.merged = merged

    def collect(self) -> Iterable[Metric]:
        a, view = self.agent, self.agent.view
        held = a.held()
        live = GaugeMetricFamily("lookout_cluster_boxes_live", "Boxes with a live heartbeat.")
        live.add_metric([], float(len(view.live)))
        load = GaugeMetricFamily(
            "lookout_cluster_box_cameras", "Cameras each live box holds.", labels=["box"]
        )
        for b in view.live.values():
            load.add_metric([b.id], float(len(b.held)))
        mine = GaugeMetricFamily(
            "lookout_cluster_camera_held", "1 when this box holds the camera.", labels=["camera"]
        )
        for cid in a._cameras:
            mine.add_metric([cid], 1.0 if cid in held else 0.0)
        events = CounterMetricFamily(
            "lookout_cluster_leases",
            "Lease events of this box: acquired, reacquired, lost, moved.",
            labels=["event"],
        )
        for name in ("acquired", "reacquired", "lost", "moved"):
            events.add_metric([name], float(a.stats[name]))
        fenced = CounterMetricFamily(
            "lookout_cluster_cases_fenced", "Cases not made: the camera's lease was not held."
        )
        fenced.add_metric([], float(self.fenced()))
        shared = CounterMetricFamily(
            "lookout_cluster_shared_state",
            "Camera state shared between boxes: resumed (a stop took an earlier start "
            "from another box), merged (an event merged into another box's case), "
            "refused (a write the lease no longer allowed), errors.",
            labels=["event"],
        )
        st = a.state
        if st is not None:
            shared.add_metric(["resumed"], float(st.resumed))
            shared.add_metric(["merged"], float(self.merged()))
            shared.add_metric(["refused"], float(st.refused))
            shared.add_metric(["errors"], float(st.errors))
        redis_ok = GaugeMetricFamily("lookout_cluster_redis_up", "1 when the last round worked.")
        redis_ok.add_metric([], 1.0 if view.redis_ok else 0.0)
        yield from (live, load, mine, events, fenced, shared, redis_ok)


def attach(cfg: AppConfig, cases: CaseManager, registry: CollectorRegistry) -> ClusterAgent | None:
    """Set up the daemon's side of a config with `cluster:`: its cases fenced by the
    agent's leases, the agent's metrics in `registry`. The daemon starts the agent
    instead of starting every camera."""
    if cfg.cluster is None:
        return None
    agent = ClusterAgent.open(cfg)
    cases.fence = agent.fence
    deduper = cases.deduper
    agent.state = ClusterState(agent.store, agent.fence, deduper.cooldown.total_seconds())
    deduper.shared = agent.state  # an uncalibrated camera's cases move with it
    registry.register(ClusterCollector(agent, lambda: cases.fenced, lambda: deduper.shared_merges))
    log.info(
        "cluster: box %s (weight %g), lease ttl %.1f s",
        agent.cfg.box_id,
        agent.cfg.weight,
        agent.cfg.lease_ttl_s,
    )
    return agent
