"""Configuration schema (pydantic v2) and the YAML loader.

Every model forbids unknown keys and describes every field. The loaded `AppConfig`
is frozen: configuration is never mutated at run time. Paths in the file are resolved
against the folder of the file (and `${LOOKOUT_ASSETS}` is expanded) by `load_config`.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from lookout.assets import expand_path
from lookout.cases.settings import (
    DedupStoreConfig,
    DeliveryConfig,
    RedisStreamSinkConfig,
    WebhookSinkConfig,
)
from lookout.detector.settings import MotionConfig, TrackerConfig
from lookout.errors import ConfigError
from lookout.streams.settings import DaemonConfig, OnvifConfig, StreamConfig
from lookout.yamlfile import load_model
from lookout.zones.settings import CalibrationConfig, GridConfig

EventType = Literal["illegal_parking", "street_vendor", "illegal_construction"]
EVENT_TYPES: tuple[str, ...] = ("illegal_parking", "street_vendor", "illegal_construction")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimeWindow(_Model):
    """A daily window in the site's local time; `end` before `start` wraps past midnight."""

    start: time = Field(description="Start of the window, local time (HH:MM).")
    end: time = Field(description="End of the window, local time (HH:MM).")

    def contains(self, t: time) -> bool:
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end


class PolicyConfig(_Model):
    """What counts as a violation in a zone."""

    type: EventType = Field(description="Event type this policy raises.")
    classes: list[str] = Field(
        default_factory=list,
        description="Model class names the policy watches (see the model manifest); not "
        "used by illegal_construction, which compares the view with a reference.",
    )
    min_confidence: float = Field(
        default=0.35, ge=0.0, le=1.0, description="Detections below this score are ignored."
    )
    dwell_s: float = Field(
        default=0.0,
        ge=0.0,
        description="Seconds an object must stay stationary in the zone to be a violation.",
    )
    survey_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="illegal_construction: compare the view with the reference at most this "
        "often (and on each PTZ visit of the preset).",
    )
    min_visits: int = Field(
        default=3, ge=1, description="illegal_construction: visits the change must be seen on."
    )
    min_span_h: float = Field(
        default=48.0, ge=0, description="illegal_construction: hours the change must span."
    )
    stationary_radius: float = Field(
        default=0.35,
        gt=0.0,
        description="An object is stationary while its ground point stays within this radius of "
        "where it stopped, as a fraction of its box height.",
    )
    allowed: list[TimeWindow] = Field(
        default_factory=list,
        description="Daily windows (site local time) when the activity is allowed: no case then.",
    )
    require_stall_objects: bool = Field(
        default=True,
        description="street_vendor: people without stall objects (support_classes) nearby "
        "are not a stall (waiting, chatting).",
    )
    support_classes: list[str] = Field(
        default_factory=list,
        description="Classes that make a case more likely when near the object (e.g. umbrella "
        "for a street vendor); they raise the case confidence.",
    )

    @model_validator(mode="after")
    def _classes_for_object_rules(self) -> PolicyConfig:
        if self.type != "illegal_construction" and not self.classes:
            raise ValueError(f"classes: {self.type} needs at least one class")
        return self


def _check_polygon(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, got {len(points)}")
    poly = Polygon(points)
    if not poly.is_valid:
        raise ValueError(f"invalid polygon ({explain_validity(poly)})")
    if poly.area <= 0:
        raise ValueError("polygon has zero area")
    return points


class ZoneConfig(_Model):
    """A zone of one camera (and preset) with its policies: an image polygon, or a map
    polygon (lon/lat) that the camera's calibration projects into the image."""

    id: str = Field(min_length=1, description="Zone id, unique within the camera.")
    polygon: list[tuple[float, float]] = Field(
        default_factory=list,
        description="Polygon in image pixels of the camera's native resolution, [[x, y], ...].",
    )
    ground_polygon: list[tuple[float, float]] | None = Field(
        default=None,
        description="Or: the zone on the map, [[lon, lat], ...] (e.g. a no-parking street "
        "segment); needs a calibration of the camera (and preset).",
    )
    preset: str | None = Field(
        default=None, description="PTZ preset the zone belongs to; null for a fixed camera."
    )
    grid_code: str | None = Field(
        default=None, description="Unit grid cell (单元网格) code the zone lies in, if known."
    )
    inertia_frames: int = Field(
        default=3,
        ge=1,
        description="Consecutive analysed frames an object must be inside before it counts.",
    )
    policies: list[PolicyConfig] = Field(min_length=1, description="Policies of the zone.")

    @field_validator("polygon", "ground_polygon")
    @classmethod
    def _valid_polygon(
        cls, v: list[tuple[float, float]] | None
    ) -> list[tuple[float, float]] | None:
        return None if v is None else _check_polygon(v)

    @model_validator(mode="after")
    def _one_polygon(self) -> ZoneConfig:
        if self.ground_polygon is None and not self.polygon:
            raise ValueError("needs a polygon (image) or a ground_polygon (map)")
        if self.ground_polygon is not None and self.polygon:
            raise ValueError("give either polygon (image) or ground_polygon (map), not both")
        return self


class CameraConfig(_Model):
    """One camera: a live source or a recording, and its zones."""

    id: str = Field(
        min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Camera id (letters, digits, _.-)."
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
    stream: StreamConfig = Field(
        default_factory=StreamConfig, description="Live stream options (daemon only)."
    )
    onvif: OnvifConfig | None = Field(
        default=None, description="ONVIF device: stream discovery when `source` is empty, PTZ."
    )

    @model_validator(mode="after")
    def _unique_zone_ids(self) -> CameraConfig:
        seen: set[tuple[str, str | None]] = set()
        for zone in self.zones:
            key = (zone.id, zone.preset)
            if key in seen:
                raise ValueError(f"duplicate zone id {zone.id!r}")
            seen.add(key)
        return self


class RuntimeConfig(_Model):
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
        from lookout.detector.providers import resolve_name
        from lookout.errors import ModelError

        for name in v:
            try:
                resolve_name(name)
            except ModelError as exc:
                raise ValueError(str(exc)) from None
        return v

    intra_op_threads: int = Field(default=2, ge=0, description="Threads inside one operator.")
    inter_op_threads: int = Field(default=1, ge=0, description="Threads across operators.")
    allow_spinning: bool = Field(
        default=False,
        description="Let idle ONNX Runtime threads spin: lower latency on a dedicated box, "
        "slower when decoding shares the cores.",
    )


class ModelConfig(_Model):
    """The detector model and its thresholds."""

    manifest: str = Field(description="Path to the model manifest YAML (see models/).")
    confidence: float = Field(
        default=0.25, ge=0.0, le=1.0, description="Minimum detection score kept by the detector."
    )
    nms_iou: float = Field(default=0.45, gt=0.0, le=1.0, description="IoU threshold of NMS.")
    batch_size: int = Field(default=4, ge=1, le=256, description="Frames per inference call.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Runtime settings.")


class CodeEntry(_Model):
    """Case-system classification of one event type."""

    code: str = Field(description="Event code of the case system (e.g. 大类+小类).")
    name: str = Field(description="Human-readable name of the event category.")


def _default_codes() -> dict[EventType, CodeEntry]:
    return {
        "illegal_parking": CodeEntry(code="09001", name="机动车乱停放"),
        "street_vendor": CodeEntry(code="09006", name="占道经营"),
        "illegal_construction": CodeEntry(code="10001", name="违法建设"),
    }


class DedupConfig(_Model):
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


class EvidenceConfig(_Model):
    """Evidence pictures attached to each case."""

    jpeg_quality: int = Field(default=88, ge=10, le=100, description="JPEG quality.")
    crop_margin: float = Field(
        default=0.5, ge=0, description="Margin around the crop, as a fraction of the box size."
    )


class SqliteSinkConfig(_Model):
    """Embedded SQLite outbox (the default sink)."""

    type: Literal["sqlite"] = Field(description="Sink kind.")
    path: str = Field(
        default="cases.db", description="Database file; relative paths go under the output dir."
    )


class JsonlSinkConfig(_Model):
    """One JSON object per line, appended; ids already in the file are not written again."""

    type: Literal["jsonl"] = Field(description="Sink kind.")
    path: str = Field(
        default="cases.jsonl", description="File; relative paths go under the output dir."
    )


SinkConfig = Annotated[
    SqliteSinkConfig | JsonlSinkConfig | RedisStreamSinkConfig | WebhookSinkConfig,
    Field(discriminator="type"),
]


def _default_sinks() -> list[
    SqliteSinkConfig | JsonlSinkConfig | RedisStreamSinkConfig | WebhookSinkConfig
]:
    return [SqliteSinkConfig(type="sqlite"), JsonlSinkConfig(type="jsonl")]


class SiteConfig(_Model):
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


class AppConfig(_Model):
    """The whole configuration file."""

    site: SiteConfig = Field(default_factory=SiteConfig, description="Site settings.")
    model: ModelConfig = Field(description="Detector model.")
    grid: GridConfig | None = Field(
        default=None, description="Unit grid cells: cases get grid_code and responsible unit."
    )
    tracker: TrackerConfig = Field(default_factory=TrackerConfig, description="Tracker.")
    cameras: list[CameraConfig] = Field(min_length=1, description="Cameras.")
    codes: dict[EventType, CodeEntry] = Field(
        default_factory=_default_codes, description="Event type → case-system code table."
    )
    dedup: DedupConfig = Field(default_factory=DedupConfig, description="Case dedup.")
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig, description="Delivery to remote sinks (daemon)."
    )
    daemon: DaemonConfig = Field(default_factory=DaemonConfig, description="`lookout run`.")
    evidence: EvidenceConfig = Field(default_factory=EvidenceConfig, description="Evidence.")
    sinks: list[SinkConfig] = Field(
        default_factory=_default_sinks, description="Where draft cases go."
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
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera id {dupes[0]!r}")
        for etype in {p.type for c in self.cameras for z in c.zones for p in z.policies}:
            if etype not in self.codes:
                raise ValueError(f"no entry in codes for event type {etype!r}")
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        raise ConfigError(f"camera {camera_id!r} is not in the config (known: {known})")

    def path(self, value: str) -> Path:
        """Resolve a path written in the config file."""
        return expand_path(value, self._base_dir)


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a YAML config file; raise `ConfigError` with one line."""
    p = Path(path)
    cfg = load_model(p, AppConfig, "config")
    cfg._base_dir = p.resolve().parent
    return cfg
