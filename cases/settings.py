"""Settings the cases layer owns: codes, dedup, evidence, sinks, delivery and retention
(YAML `codes`, `dedup`, `evidence`, `sinks`, `delivery`, `retention`). lookout/config/app.py
only composes them into the application config."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator

from lookout.base.backoff import BackoffConfig
from lookout.base.events import EventType
from lookout.base.i18n import Language
from lookout.base.model import StrictModel


class _RedisTls(StrictModel):
    """`ssl_ca_certs` only with a rediss:// URL (lookout/cases/redis_conn.py)."""

    @model_validator(mode="after")
    def _ca_needs_tls(self) -> _RedisTls:
        url = getattr(self, "url", None)
        if getattr(self, "ssl_ca_certs", None) and not (url or "").startswith("rediss://"):
            raise ValueError("ssl_ca_certs is for TLS: the url must start with rediss://")
        return self


class RedisStreamSinkConfig(_RedisTls):
    """Deliver cases to a Redis Stream (XADD, idempotent by case id)."""

    type: Literal["redis_stream"] = Field(description="Sink kind.")
    url: str = Field(
        description=(
            "redis://[user:password@]host:port/db, or rediss:// for TLS; write the password"
            " as ${ENV} or ${file:PATH} (lookout/cases/redis_conn.py)."
        )
    )
    ssl_ca_certs: str | None = Field(
        default=None, description="rediss:// only: CA certificate file (PEM) of the server."
    )
    stream: str = Field(default="lookout:cases", description="Stream key.")
    maxlen: int = Field(default=100_000, ge=1, description="Approximate MAXLEN of the stream.")
    name: str = Field(default="redis", min_length=1, description="Sink name (delivery state).")
    socket_timeout_s: float = Field(default=2.0, gt=0, description="Redis socket timeout.")
    dedup_ttl_s: int = Field(
        default=7 * 86400, ge=1, description="How long a delivered case id is remembered."
    )


class WebhookSinkConfig(StrictModel):
    """Deliver cases by HTTP POST with an Idempotency-Key header."""

    type: Literal["webhook"] = Field(description="Sink kind.")
    url: str = Field(description="Endpoint URL.")
    timeout_s: float = Field(default=5.0, gt=0, description="Request timeout.")
    evidence: Literal["path", "inline"] = Field(
        default="path", description="Evidence by relative path, or inline as base64."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    name: str = Field(default="webhook", min_length=1, description="Sink name (delivery state).")
    status_url: str | None = Field(
        default=None,
        description="Endpoint of status updates (docs/CASE_STATUS.md); default: `url`.",
    )
    secret: SecretStr | None = Field(
        default=None,
        description=(
            "HMAC-SHA256 key: each request is signed (X-Lookout-Timestamp,"
            " X-Lookout-Signature; lookout/cases/webhook.py). Give it as ${ENV} or"
            " ${file:PATH}, never written in the YAML."
        ),
    )


class DeliveryConfig(StrictModel):
    """The worker that delivers outbox cases to the remote sinks."""

    backoff: BackoffConfig = Field(
        default_factory=lambda: BackoffConfig(initial_s=1.0, max_s=60.0),
        description="Retry delays per sink after a failure.",
    )
    poll_s: float = Field(default=0.5, gt=0, description="How often to look for due cases.")
    batch: int = Field(default=50, ge=1, description="Cases per delivery round and sink.")
    rescan_s: float = Field(default=300.0, gt=0, description="Full outbox rescan interval.")


class DedupStoreConfig(_RedisTls):
    """Where place-anchored dedup keeps its places (for calibrated cameras)."""

    type: Literal["sqlite", "redis"] = Field(
        default="sqlite", description="sqlite: this box only; redis: shared by every box."
    )
    path: str = Field(default="dedup.db", description="SQLite file (relative: the output folder).")
    url: str | None = Field(
        default=None,
        description="Redis URL for type redis: redis:// or rediss:// (TLS), AUTH as ${ENV}.",
    )
    ssl_ca_certs: str | None = Field(
        default=None, description="rediss:// only: CA certificate file (PEM) of the server."
    )
    radius_m: float = Field(
        default=5.0, gt=0, description="Cases of one type closer than this are one case."
    )


class CodeEntry(StrictModel):
    """Case-system classification of one event type."""

    code: str = Field(description="Event code of the case system (e.g. 大类+小类).")
    name: str = Field(description="Human-readable name of the event category.")


def default_codes() -> dict[EventType, CodeEntry]:
    return {
        "illegal_parking": CodeEntry(code="09001", name="机动车乱停放"),
        "street_vendor": CodeEntry(code="09006", name="占道经营"),
        "illegal_construction": CodeEntry(code="10001", name="违法建设"),
        "occupation": CodeEntry(code="09008", name="占道堆物"),
        "non_motor_parking": CodeEntry(code="09002", name="非机动车乱停放"),
    }


class DedupConfig(StrictModel):
    """How repeated events become one case."""

    cooldown_s: float = Field(
        default=1800.0, ge=0, description="An event matching a case seen this recently merges."
    )
    iou: float = Field(
        default=0.3, gt=0, le=1, description="Box overlap (IoU) that means the same place."
    )
    store: DedupStoreConfig = Field(
        default_factory=DedupStoreConfig,
        description="Place-anchored dedup on the ground (cameras with a calibration).",
    )
    false_alarm_s: float = Field(
        default=7 * 86400.0,
        ge=0,
        description=(
            "An operator's false alarm keeps its place quiet this long after its latest"
            " sighting: no case of its type there (docs/CASE_STATUS.md)."
        ),
    )


class EvidenceConfig(StrictModel):
    """Evidence pictures attached to each case."""

    jpeg_quality: int = Field(default=88, ge=10, le=100, description="JPEG quality.")
    crop_margin: float = Field(
        default=0.5, ge=0, description="Margin around the crop, as a fraction of the box size."
    )
    blur: list[Literal["bystanders"]] = Field(
        default_factory=list,
        description=(
            "Privacy: `bystanders` blurs people who are not the subject of the case"
            " (the detector's person boxes; lookout/cases/blur.py)."
        ),
    )
    font: str | None = Field(
        default=None,
        description=(
            "Font file (TTF/OTF/TTC) for labels in Chinese; default: a Noto CJK font found"
            " by fontconfig (docs/I18N.md)."
        ),
    )


class DatasetConfig(StrictModel):
    """Frames kept to learn from (docs/LEARNING.md): with `keep`, every new case also
    stores its clean frame and all that frame's detections beside its evidence (same
    access rules and retention; never sent to a sink)."""

    keep: bool = Field(
        default=False,
        description="Keep each case's clean frame (no drawing, no blur) and its detections "
        "for `lookout dataset export`.",
    )
    jpeg_quality: int = Field(
        default=95, ge=10, le=100, description="JPEG quality of the kept clean frames."
    )


class SecondLookConfig(StrictModel):
    """The second look (docs/LEARNING.md, "The second look"): every new case's box is
    embedded with the detector's own backbone and stored; once `lookout verdicts learn`
    fitted a type on the operators' verdicts, a case it scores as a false alarm at
    `threshold` or above is held (kept in the outbox, delivered to no sink)."""

    enabled: bool = Field(
        default=True,
        description="Embed new cases and hold those a fit scores as false alarms.",
    )
    threshold: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="False-alarm probability at or above which a case is held.",
    )
    min_verdicts: int = Field(
        default=10,
        ge=2,
        description="A type is fitted only with at least this many confirmed and this many "
        "false-alarm verdicts.",
    )
    refit_s: float = Field(
        default=86400.0,
        ge=0,
        description="The daemon refits this often (seconds); 0: only `lookout verdicts learn`.",
    )
    file: str = Field(
        default="second_look.json",
        description="The fit, beside the outbox (relative: the output folder).",
    )


class SqliteSinkConfig(StrictModel):
    """Embedded SQLite outbox (the default sink)."""

    type: Literal["sqlite"] = Field(description="Sink kind.")
    path: str = Field(
        default="cases.db", description="Database file; relative paths go under the output dir."
    )


class JsonlSinkConfig(StrictModel):
    """One JSON object per line, appended; ids already in the file are not written again."""

    type: Literal["jsonl"] = Field(description="Sink kind.")
    path: str = Field(
        default="cases.jsonl", description="File; relative paths go under the output dir."
    )


SinkConfig = Annotated[
    SqliteSinkConfig | JsonlSinkConfig | RedisStreamSinkConfig | WebhookSinkConfig,
    Field(discriminator="type"),
]


def default_sinks() -> list[
    SqliteSinkConfig | JsonlSinkConfig | RedisStreamSinkConfig | WebhookSinkConfig
]:
    return [SqliteSinkConfig(type="sqlite"), JsonlSinkConfig(type="jsonl")]


class CasesSettings(StrictModel):
    """Everything the case stage needs, as the application hands it over (paths
    already resolved): codes, dedup, evidence, the local sinks, the site's time zone."""

    codes: dict[str, CodeEntry] = Field(description="Event type → case-system code.")
    dedup: DedupConfig = Field(description="Dedup settings.")
    evidence: EvidenceConfig = Field(description="Evidence settings.")
    dataset: DatasetConfig = Field(
        default_factory=DatasetConfig, description="Frames kept to learn from."
    )
    second_look: SecondLookConfig = Field(
        default_factory=SecondLookConfig, description="The second look learned from verdicts."
    )
    sinks: list[SinkConfig] = Field(description="Sinks (remote ones are fed by the outbox).")
    timezone: str = Field(description="IANA time zone of the site.")
    language: Language = Field(
        default="en", description="The site's language (evidence labels; docs/I18N.md)."
    )
    out_dir: str = Field(description="Output folder: outbox, evidence, dedup store.")


class RetentionConfig(StrictModel):
    """How long evidence and outbox rows are kept (YAML `retention`, cases/retention.py).
    Undelivered cases and their evidence are never deleted."""

    enabled: bool = Field(default=True, description="Run retention in the daemon.")
    max_days: float | None = Field(
        default=90.0,
        gt=0,
        description="Delete delivered cases (row and evidence) confirmed more than this many "
        "days ago; null: no age limit.",
    )
    max_gb: float | None = Field(
        default=None,
        gt=0,
        description="Delete evidence while evidence and outbox use more than this many GB "
        "(finished cases first, then the oldest); null: no size limit.",
    )
    min_free_gb: float | None = Field(
        default=1.0,
        ge=0,
        description="Delete evidence while the output folder's disk has less than this many "
        "GB free; null: no free-space floor.",
    )
    interval_s: float = Field(
        default=600.0, ge=1, description="Seconds between two retention runs of the daemon."
    )
