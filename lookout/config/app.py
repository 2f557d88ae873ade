"""Configuration schema (pydantic v2) and the YAML loader.

Every model forbids unknown keys and describes every field. The loaded `AppConfig`
is frozen: configuration is never mutated at run time. Paths in the file are resolved
against the folder of the file (and `${LOOKOUT_ASSETS}` is expanded) by `load_config`.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from lookout.base.errors import ConfigError
from lookout.base.events import EventType
from lookout.base.ids import ID_ALPHABET, ID_PATTERN
from lookout.base.model import StrictModel
from lookout.base.secrets import expand_path
from lookout.base.yamlfile import load_model
from lookout.cases.settings import (
    CasesSettings,
    CodeEntry,
    DatasetConfig,
    DedupConfig,
    DeliveryConfig,
    EvidenceConfig,
    RedisStreamSinkConfig,
    RetentionConfig,
    SecondLookConfig,
    SinkConfig,
    SqliteSinkConfig,
    WebhookSinkConfig,
    default_codes,
    default_sinks,
)
from lookout.config.daemon import DaemonConfig
from lookout.config.fleet import ClusterConfig
from lookout.config.quality import QualityConfig
from lookout.detector.settings import DetectConfig, MotionConfig, TrackerConfig
from lookout.streams.settings import OnvifConfig, StreamConfig
from lookout.zones.policies import (
    ZoneConfig,
)
from lookout.zones.settings import CalibrationConfig, GridConfig, StaticObjectsConfig


class CameraConfig(StrictModel):
    """One camera: a live source or a recording, and its zones."""

    id: str = Field(
        min_length=1,
        max_length=64,
        pattern=ID_PATTERN,
        description=f"Camera id ({ID_ALPHABET}; lookout/base/ids.py).",
    )
    source: str | None = Field(
        default=None, description="Video file path or stream URL; replay takes the file given."
    )
    analysis_fps: float = Field(
        default=2.0, gt=0.0, le=60.0, description="Frames analysed per second of footage."
    )
    zones: list[ZoneConfig] = Field(default_factory=list, description="Zones of this camera.")
    calibration: dict[str, CalibrationConfig] = Field(
        default_factory=dict,
        description="Image ↔ ground calibration per PTZ preset token ('default' for a fixed "
        "camera or any preset without its own).",
    )
    motion: MotionConfig = Field(
        default_factory=MotionConfig, description="Motion-gated inference."
    )
    detect: DetectConfig = Field(
        default_factory=DetectConfig,
        description="Whole-frame or region detection (crops planned from the zones).",
    )
    preset_detect: dict[str, DetectConfig] = Field(
        default_factory=dict,
        description="Per PTZ preset token: a `detect` that replaces the camera's there (a "
        "far preset may need a smaller min_object_px than a near one).",
    )
    stream: StreamConfig = Field(
        default_factory=StreamConfig, description="Live stream options (daemon only)."
    )
    onvif: OnvifConfig | None = Field(
        default=None, description="ONVIF device: stream discovery when `source` is empty, PTZ."
    )
    static_objects: StaticObjectsConfig = Field(
        default_factory=StaticObjectsConfig,
        description="Scene model that finds what stays without a class name (static_object).",
    )
    quality: QualityConfig = Field(
        default_factory=QualityConfig,
        description="Video quality diagnosis: frozen, blur, occlusion, drift (daemon).",
    )

    @field_validator("calibration", "preset_detect", mode="before")
    @classmethod
    def _preset_keys(cls, value: Any) -> Any:
        for key in value if isinstance(value, dict) else ():
            # Presets name files and reach the console like ids (lookout/base/ids.py).
            key = str(key)
            if not 1 <= len(key) <= 64 or not re.fullmatch(ID_PATTERN, key):
                raise ValueError(f"preset {key[:80]!r}: use {ID_ALPHABET}")
        return value

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> CameraConfig:
        seen: set[tuple[str, str | None]] = set()
        for zone in self.zones:
            key = (zone.id, zone.preset)
            if key in seen:
                raise ValueError(f"duplicate zone id {zone.id!r}")
            seen.add(key)
        return self


class RuntimeConfig(StrictModel):
    """ONNX Runtime settings."""

    type: Literal["onnxruntime"] = Field(default="onnxruntime", description="Runtime backend.")
    providers: list[str] = Field(
        default_factory=lambda: ["CPUExecutionProvider"],
        min_length=1,
        description="Execution providers in order of preference: cpu, cuda, tensorrt/trt, "
        "openvino, coreml or full ONNX Runtime names; unavailable ones are skipped and CPU "
        "is always the last fallback.",
    )
    provider_options: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Options per provider, keyed by alias or full name (e.g. tensorrt: "
        "{trt_fp16_enable: 'True'}, cuda: {device_id: '1'}), merged over the defaults.",
    )
    engine_cache_dir: str | None = Field(
        default=None,
        description="TensorRT engine cache folder (relative: the config file); default "
        "<cache>/tensorrt.",
    )
    warmup: bool = Field(
        default=True, description="Run one zero batch at start so first frames are not slow."
    )

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, v: list[str]) -> list[str]:
        from lookout.base.errors import ModelError
        from lookout.detector.providers import resolve_name

        for name in v:
            try:
                resolve_name(name)
            except ModelError as exc:
                raise ValueError(str(exc)) from None
        return v

    # Bounded: ONNX Runtime takes a C int (a huge value was a TypeError, README
    # "Troubleshooting"), and more threads than any box has cores only slows it.
    intra_op_threads: int = Field(
        default=2, ge=0, le=1024, description="Threads inside one operator."
    )
    inter_op_threads: int = Field(default=1, ge=0, le=1024, description="Threads across operators.")
    allow_spinning: bool = Field(
        default=False,
        description="Let idle ONNX Runtime threads spin: lower latency on a dedicated box, "
        "slower when decoding shares the cores.",
    )


class ModelConfig(StrictModel):
    """The detector model and its thresholds."""

    manifest: str = Field(description="Path to the model manifest YAML (see models/).")
    confidence: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Minimum detection score kept by the detector."
    )
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0, description="IoU threshold of NMS.")
    batch_size: int = Field(default=4, ge=1, le=256, description="Frames per inference call.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Runtime settings.")


class SiteConfig(StrictModel):
    """The site: its time zone and the replay clock."""

    name: str = Field(default="site", description="Name of the site (shown in cases).")
    timezone: str = Field(default="Asia/Shanghai", description="IANA time zone of the site.")
    replay_start: datetime | None = Field(
        default=None,
        description="Wall-clock time of a replayed file's first frame (ISO 8601); without it "
        "the file's modification time is used.",
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {v!r}") from exc
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class AppConfig(StrictModel):
    """The whole configuration file."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="Site settings.")
    model: ModelConfig = Field(description="Detector model.")
    grid: GridConfig | None = Field(
        default=None, description="Unit grid cells: cases get grid_code and responsible unit."
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracker.")
    cameras: list[CameraConfig] = Field(min_length=1, description="Cameras.")
    codes: dict[EventType, CodeEntry] = Field(
        default_factory=default_codes, description="Event type → case-system code table."
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Case dedup.")
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="Delivery to remote sinks (daemon)."
    )
    daemon: DaemonConfig = Field(default_factory=DaemonConfig, description="`lookout run`.")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="Evidence.")
    dataset: DatasetConfig = Field(
        default_factory=DatasetConfig,
        description="Frames kept to learn from: each case's clean frame and detections.",
    )
    second_look: SecondLookConfig = Field(
        default_factory=SecondLookConfig,
        description="A second look at each case, learned from the operators' verdicts.",
    )
    sinks: list[SinkConfig] = Field(
        default_factory=default_sinks, description="Where draft cases go."
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig,
        description="How long evidence and outbox rows are kept (cases/retention.py).",
    )
    cluster: ClusterConfig | None = Field(
        default=None,
        description="Several boxes share the cameras through Redis leases (lookout/fleet/).",
    )
    _base_dir: Path = PrivateAttr(default=Path("."))

    @model_validator(mode="after")
    def _remote_sinks_need_the_outbox(self) -> AppConfig:
        remote = [s for s in self.sinks if isinstance(s, RedisStreamSinkConfig | WebhookSinkConfig)]
        if remote and not any(isinstance(s, SqliteSinkConfig) for s in self.sinks):
            raise ValueError(
                "sinks: redis_stream and webhook are fed from the sqlite outbox;"
                " add a {type: sqlite} sink"
            )
        names = [s.name for s in remote]
        if len(set(names)) != len(names):
            raise ValueError(f"sinks: remote sink names must be unique, got {names}")
        return self

    @model_validator(mode="after")
    def _unique_cameras(self) -> AppConfig:
        ids = Counter(c.id for c in self.cameras)  # not list.count: 10,000 cameras
        dupes = sorted(i for i, n in ids.items() if n > 1)
        if dupes:
            raise ValueError(f"duplicate camera id {dupes[0]!r}")
        for etype in {p.type for c in self.cameras for z in c.zones for p in z.policies}:
            if etype not in self.codes:
                raise ValueError(f"no entry in codes for event type {etype!r}")
        return self

    def cases_settings(self, out_dir: Path) -> CasesSettings:
        """What the cases layer needs of this config, paths resolved under `out_dir`."""
        return CasesSettings(
            codes={str(k): v for k, v in self.codes.items()},
            dedup=self.dedup,
            evidence=self.evidence,
            dataset=self.dataset,
            second_look=self.second_look,
            sinks=list(self.sinks),
            timezone=self.site.timezone,
            language=self.daemon.http.console.language,
            out_dir=str(out_dir),
        )

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        raise ConfigError(f"camera {camera_id!r} is not in the config (known: {known})")

    def path(self, value: str) -> Path:
        """Resolve a path written in the config file."""
        return expand_path(value, self._base_dir)


def load_config(path: str | Path, *, text: str | None = None) -> AppConfig:
    """Read and validate a YAML config file; raise `ConfigError` with one line.
    `${VAR}` / `${file:PATH}` references in values are resolved (`lookout.base.secrets`).
    With `text`, validate that as the file's content without reading the file (the
    config writer checks an edit before it writes)."""
    p = Path(path)
    cfg = load_model(p, AppConfig, "config", text=text)
    cfg._base_dir = p.resolve().parent
    return _absolute_tls_files(_absolute_ca_files(cfg))


M = TypeVar("M", bound=BaseModel)


def _absolute_ca_files(cfg: AppConfig) -> AppConfig:
    """`ssl_ca_certs` (Redis over TLS) relative to the config file's folder, like every
    other path in it: the layers that open the connections never see the file."""

    def fix(model: M) -> M:
        ca = getattr(model, "ssl_ca_certs", None)
        if not ca or Path(ca).is_absolute():
            return model
        return model.model_copy(update={"ssl_ca_certs": str(cfg.path(ca))})

    store = fix(cfg.dedup.store)
    update: dict[str, Any] = {
        "sinks": [fix(s) for s in cfg.sinks],
        "dedup": cfg.dedup.model_copy(update={"store": store}),
    }
    if cfg.cluster is not None:
        update["cluster"] = fix(cfg.cluster)
    fixed = cfg.model_copy(update=update)
    fixed._base_dir = cfg._base_dir
    return fixed


def _absolute_tls_files(cfg: AppConfig) -> AppConfig:
    """`daemon.http.tls.cert` (and `key` when it names a file) relative to the config
    file's folder, as `_absolute_ca_files` does for the CA files."""
    http = cfg.daemon.http
    if http.tls is None:
        return cfg
    http = http.model_copy(update={"tls": http.tls.absolute(cfg.path)})
    fixed = cfg.model_copy(update={"daemon": cfg.daemon.model_copy(update={"http": http})})
    fixed._base_dir = cfg._base_dir
    return fixed
