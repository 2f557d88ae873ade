"""Configuration models of case delivery (remote sinks) and place-anchored dedup."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lookout.streams.settings import BackoffConfig


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedisStreamSinkConfig(_Model):
    """Deliver cases to a Redis Stream (XADD, idempotent by case id)."""

    type: Literal["redis_stream"] = Field(description="Sink kind.")
    url: str = Field(description="redis://[user:password@]host:port/db (loopback by default).")
    stream: str = Field(default="lookout:cases", description="Stream key.")
    maxlen: int = Field(default=100_000, ge=1, description="Approximate MAXLEN of the stream.")
    name: str = Field(default="redis", min_length=1, description="Sink name (delivery state).")
    socket_timeout_s: float = Field(default=2.0, gt=0, description="Redis socket timeout.")
    dedup_ttl_s: int = Field(
        default=7 * 86400, ge=1, description="How long a delivered case id is remembered."
    )


class WebhookSinkConfig(_Model):
    """Deliver cases by HTTP POST with an Idempotency-Key header."""

    type: Literal["webhook"] = Field(description="Sink kind.")
    url: str = Field(description="Endpoint URL.")
    timeout_s: float = Field(default=5.0, gt=0, description="Request timeout.")
    evidence: Literal["path", "inline"] = Field(
        default="path", description="Evidence by relative path, or inline as base64."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    name: str = Field(default="webhook", min_length=1, description="Sink name (delivery state).")


class DeliveryConfig(_Model):
    """The worker that delivers outbox cases to the remote sinks."""

    backoff: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Retry delays per sink after a failure.",
    )
    poll_s: float = Field(default=0.5, gt=0, description="How often to look for due cases.")
    batch: int = Field(default=50, ge=1, description="Cases per delivery round and sink.")
    rescan_s: float = Field(default=300.0, gt=0, description="Full outbox rescan interval.")


class DedupStoreConfig(_Model):
    """Where place-anchored dedup keeps its places (for calibrated cameras)."""

    type: Literal["sqlite", "redis"] = Field(
        default="sqlite", description="sqlite: this box only; redis: shared by every box."
    )
    path: str = Field(default="dedup.db", description="SQLite file (relative: the output folder).")
    url: str | None = Field(default=None, description="Redis URL for type redis.")
    radius_m: float = Field(
        default=5.0, gt=0, description="Cases of one type closer than this are one case."
    )
