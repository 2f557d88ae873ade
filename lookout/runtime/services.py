"""What a replay, the daemon, the benchmark and the console open around a camera's
analysis: the detector, the grid cells, the case manager, retention and the case review
(docs/ARCHITECTURE.md, "A frame's journey"). Commands and the daemon call these; nothing
here parses arguments."""

from __future__ import annotations

import logging
from pathlib import Path

from lookout.base.errors import ConfigError, LookoutError
from lookout.cases.learn import RefitWorker
from lookout.cases.manager import CaseManager
from lookout.cases.remote import outbox_path
from lookout.cases.retention import Retention, RetentionWorker
from lookout.cases.second_look import SecondLook, fit_path
from lookout.cases.settings import RedisStreamSinkConfig, WebhookSinkConfig
from lookout.cases.verdicts import CaseReview
from lookout.config.app import AppConfig, load_config
from lookout.detector.embedding import embedding_output
from lookout.detector.manifest import load_manifest
from lookout.detector.onnx_model import OnnxDetector
from lookout.runtime.analysis import validate_app
from lookout.zones.geo import GridIndex
from lookout.zones.locate import check_grid_codes, load_grid

log = logging.getLogger(__name__)


def open_cases(cfg: AppConfig, out_dir: Path) -> CaseManager:
    """The case manager (local sinks, dedup store) writing under `out_dir`, with the
    second look at each new case unless the config turns it off."""
    manager = CaseManager.open(cfg.cases_settings(out_dir))
    manager.second_look = open_second_look(cfg, out_dir)
    return manager


def open_second_look(cfg: AppConfig, out_dir: Path) -> SecondLook | None:
    """The config's second look (docs/LEARNING.md, "The second look"); None when it is
    off, or when the model's backbone cannot be cut out (logged)."""
    if not cfg.second_look.enabled:
        return None
    try:
        manifest = load_manifest(cfg.path(cfg.model.manifest))
        return SecondLook.open(manifest, cfg.second_look, out_dir)
    except LookoutError as exc:
        log.warning("second look off: %s", exc)
        return None


def build_detector(cfg: AppConfig, config_source: str) -> OnnxDetector:
    """Load the manifest and model named by the config; check zone classes against it."""
    manifest_path = cfg.path(cfg.model.manifest)
    if not manifest_path.is_file():
        raise ConfigError(f"{config_source}: model.manifest: file not found: {manifest_path}")
    manifest = load_manifest(manifest_path)
    rt = cfg.model.runtime
    detector = OnnxDetector.from_manifest(
        manifest,
        conf_threshold=cfg.model.confidence,
        iou_threshold=cfg.model.nms_iou,
        intra_op_threads=rt.intra_op_threads,
        inter_op_threads=rt.inter_op_threads,
        allow_spinning=rt.allow_spinning,
        provider_options=rt.provider_options,
        engine_cache_dir=cfg.path(rt.engine_cache_dir) if rt.engine_cache_dir else None,
        warmup=rt.warmup,
        providers=tuple(rt.providers),
        max_batch=cfg.model.batch_size,
    )
    validate_app(cfg, detector.class_names, detector.roles, config_source)
    return detector


def load_app_grid(cfg: AppConfig, config_source: str) -> GridIndex | None:
    """The unit grid cells named by the config, loaded once per process, with every
    zone's `grid_code` checked against them (`check_app_grid`)."""
    if cfg.grid is None:
        return None
    try:
        grid = load_grid(cfg.grid, cfg.path(cfg.grid.geojson))
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: grid: {exc}") from None
    check_app_grid(cfg, grid, config_source)
    return grid


def check_app_grid(cfg: AppConfig, grid: GridIndex | None, config_source: str) -> None:
    """Each zone's `grid_code` is a cell of `grid` (the config's `grid:` file, loaded);
    one line naming the config file, camera, zone, key and grid file otherwise. Without
    a grid file a zone's code is kept as written (docs/RULES.md)."""
    if cfg.grid is None or grid is None:
        return
    try:
        check_grid_codes(cfg.cameras, grid, cfg.grid.geojson)
    except ConfigError as exc:
        raise ConfigError(f"{config_source}: {exc}") from None


def refit_worker(cfg: AppConfig, cases: CaseManager, out_dir: Path) -> RefitWorker | None:
    """The daemon's scheduled refit of the second look, on the backbone of the model in
    use (None when the second look is off, `second_look.refit_s` is 0, or without a
    SQLite outbox)."""
    sl = cfg.second_look
    path = outbox_path(cfg.sinks, out_dir)
    look = cases.second_look
    if look is None or sl.refit_s <= 0 or path is None:
        return None
    return RefitWorker(path, sl, fit_path(sl, out_dir), (look.model, look.embedder.output))


def current_backbone(cfg: AppConfig) -> tuple[str, str] | None:
    """(model name, backbone tensor) of the config's model: what new cases are embedded
    with; None when the model's backbone cannot be cut out."""
    try:
        manifest = load_manifest(cfg.path(cfg.model.manifest))
        return manifest.name, embedding_output(manifest)
    except LookoutError as exc:
        log.warning("second look: %s", exc)
        return None


def open_review(
    *, out: Path | None = None, db: Path | None = None, config: Path | AppConfig | None = None
) -> CaseReview:
    """The case review of a config (outbox, references, shared dedup store, time zone),
    of an outbox file, or of an output folder (default `out`)."""
    if config is not None:
        cfg = config if isinstance(config, AppConfig) else load_config(config)
        return CaseReview.from_settings(cfg.cases_settings(cfg.path(cfg.daemon.out_dir)))
    if db is not None:
        return CaseReview.open(db, references=db.parent / "references")
    folder = out if out is not None else Path("out")
    return CaseReview.open(folder / "cases.db", references=folder / "references")


def open_retention(cfg: AppConfig) -> Retention:
    """Retention of a config's outbox and evidence (`daemon.out_dir`): its remote sinks
    must have delivered a case before it may go; a false alarm's row stays while its
    quiet period (`dedup.false_alarm_s`) runs."""
    out_dir = cfg.path(cfg.daemon.out_dir)
    path = outbox_path(cfg.sinks, out_dir)
    if path is None:
        raise ConfigError("retention: needs the sqlite outbox (sinks: [{type: sqlite}, ...])")
    remote = [s.name for s in cfg.sinks if isinstance(s, RedisStreamSinkConfig | WebhookSinkConfig)]
    return Retention(
        cfg.retention,
        out_dir,
        path,
        remote,
        false_alarm_s=cfg.dedup.false_alarm_s,
    )


def retention_worker(cfg: AppConfig, cases: CaseManager) -> RetentionWorker | None:
    """The daemon's retention thread (None when `retention.enabled` is false or there is
    no SQLite outbox); a full disk met by the case writer runs it at once."""
    if not cfg.retention.enabled:
        return None
    try:
        retention = open_retention(cfg)
    except ConfigError as exc:
        log.warning("%s; evidence is never deleted", exc)
        return None
    worker = RetentionWorker(retention, cfg.retention.interval_s)
    cases.store.on_full = worker.wake
    return worker
