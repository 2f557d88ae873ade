"""`cluster:` — several boxes share the config's cameras through Redis leases
(lookout/fleet/; docs/ARCHITECTURE.md "Many boxes")."""

from __future__ import annotations

import redis
from pydantic import Field

from lookout.base.errors import ConfigError
from lookout.base.model import StrictModel
from lookout.cases.redis_conn import RedisTarget, open_redis


class ClusterConfig(StrictModel):
    """`cluster:` — this box shares the config's cameras with other boxes through Redis
    leases (docs/FLEET.md)."""

    url: str = Field(
        description="Redis URL shared by every box, e.g. ${LOOKOUT_CLUSTER_REDIS}: redis:// "
        "or rediss://, credentials in the URL; the same server as dedup.store.url (cases "
        "are fenced there)."
    )
    ssl_ca_certs: str | None = Field(
        default=None, description="CA file of a rediss:// server (default: system CAs)."
    )
    box_id: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="This box's id, unique."
    )
    weight: float = Field(
        default=1.0,
        gt=0,
        le=1000,
        description="Capacity: a box of weight 2 gets about twice "
        "the cameras of a box of weight 1.",
    )
    lease_ttl_s: float = Field(
        default=10.0,
        ge=1.0,
        le=300.0,
        description="Lease and heartbeat lifetime: a dead box's cameras move after this; "
        "leases are renewed every third of it.",
    )
    hold_down_s: float = Field(
        default=30.0,
        ge=0,
        description="A box that comes back gets its cameras back only after it has been "
        "alive this long.",
    )
    move_every_s: float = Field(
        default=10.0,
        ge=0,
        description="Cameras moving back to a returning box: at most one per this many "
        "seconds, fleet-wide.",
    )
    prefix: str = Field(default="lookout", min_length=1, description="Redis key prefix.")

    @property
    def renew_s(self) -> float:
        return self.lease_ttl_s / 3

    def connect(self) -> tuple[redis.Redis, RedisTarget]:
        """A client for `url` (nothing sent yet) and its target; a bad URL is one line
        naming `cluster.url`, without the password (the agent and `lookout cluster`)."""
        try:
            return open_redis(
                self.url, ssl_ca_certs=self.ssl_ca_certs, timeout_s=2.0, decode_responses=True
            )
        except ValueError as exc:
            raise ConfigError(f"cluster.url: {exc}") from None
