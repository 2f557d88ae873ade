"""Build the outbox delivery worker and its remote sinks from the configuration; find
the outbox of a configuration."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lookout.cases.delivery import DeliveryWorker, RemoteSink
from lookout.cases.redis_stream import RedisStreamSink
from lookout.cases.settings import (
    DeliveryConfig,
    RedisStreamSinkConfig,
    SinkConfig,
    SqliteSinkConfig,
    WebhookSinkConfig,
)
from lookout.cases.webhook import WebhookSink


def outbox_path(sinks: Sequence[SinkConfig], out_dir: Path) -> Path | None:
    """The SQLite outbox file of the configured sinks (relative: under `out_dir`)."""
    for sink in sinks:
        if isinstance(sink, SqliteSinkConfig):
            p = Path(sink.path).expanduser()
            return p if p.is_absolute() else out_dir / p
    return None


def build_delivery(
    configured: Sequence[SinkConfig], d: DeliveryConfig, out_dir: Path
) -> DeliveryWorker | None:
    """The worker for the configured Redis Stream / webhook sinks, or None if none."""
    sinks: list[RemoteSink] = []
    for s in configured:
        if isinstance(s, RedisStreamSinkConfig):
            sinks.append(
                RedisStreamSink(
                    s.url,
                    s.stream,
                    s.maxlen,
                    s.socket_timeout_s,
                    s.dedup_ttl_s,
                    name=s.name,
                    ssl_ca_certs=s.ssl_ca_certs,
                )
            )
        elif isinstance(s, WebhookSinkConfig):
            sinks.append(
                WebhookSink(
                    s.url,
                    s.timeout_s,
                    s.headers,
                    s.evidence,
                    out_dir,
                    name=s.name,
                    status_url=s.status_url,
                    secret=s.secret.get_secret_value() if s.secret is not None else None,
                )
            )
    path = outbox_path(configured, out_dir)
    if not sinks or path is None:
        return None
    return DeliveryWorker(
        path, sinks, backoff=d.backoff, poll_s=d.poll_s, batch=d.batch, rescan_s=d.rescan_s
    )
