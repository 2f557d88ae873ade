"""Configuration models of case delivery (remote sinks) and place-anchored dedup."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RedisStreamSinkConfig(_Model):
    """Deliver cases to a Redis Stream (XADD, idempotent by case id)."""

    type: Literal["redis_stream"] = Field(description="Sink kind.")
    url: str = Field(description="redis://[user:password@]host:port/db (loopback by default).")
    stream: str = Field(default="lookout:cases", description="Stream key.")
    maxlen: int = Field(default=100_000, ge=1, description="Approximate MAXLEN of the stream.")


class WebhookSinkConfig(_Model):
    """Deliver cases by HTTP POST with an Idempotency-Key header."""

    type: Literal["webhook"] = Field(description="Sink kind.")
    url: str = Field(description="Endpoint URL.")
    timeout_s: float = Field(default=5.0, gt=0, description="Request timeout.")
    evidence: Literal["path", "inline"] = Field(
        default="path", description="Evidence by relative path, or inline as base64."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")


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
