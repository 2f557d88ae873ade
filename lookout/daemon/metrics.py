"""Prometheus metrics of the daemon (served at /metrics by the console server,
lookout/console/server.py).

Per-camera numbers are read from the live readers at scrape time by a custom
collector, so a camera removed by a reload simply disappears from the output.
Camera ids are the only labels: URLs (and their credentials) never become labels.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lookout.cases.retention import RetentionStats
from lookout.cases.spool import StorageStats
from lookout.detector.batcher import BatcherStats
from lookout.quality.state import ISSUES
from lookout.runtime.camera import CameraSnapshot
from lookout.streams.connection import ReaderState

log = logging.getLogger(__name__)


class CameraCollector(Collector):
    """Yields per-camera metric families from `snapshots()` at each scrape."""

    def __init__(self, snapshots: Callable[[], list[CameraSnapshot]]) -> None:
        self._snapshots = snapshots

    def collect(self) -> Iterable[Metric]:
        snaps = self._snapshots()
        state = GaugeMetricFamily(
            "lookout_camera_state",
            "1 for the reader state the camera is in.",
            labels=["camera", "state"],
        )
        counters = {
            "frames_received": "Pictures received from the source (decoded or not).",
            "pictures_decoded": "Pictures the decoder produced (keyframes mode decodes few).",
            "pictures_corrupt": "Damaged pictures dropped (cut or lost data, and pictures "
            "predicted from them, until the next clean keyframe).",
            "frames_analysed": "Frames run through the detector and rules.",
            "frames_dropped": "Frames dropped because analysis fell behind (drop-oldest).",
            "frames_skipped_moving": "Frames not analysed because the PTZ camera was moving.",
            "reconnects": "Reconnect attempts after a failure or stall.",
        }
        families = {
            name: CounterMetricFamily(f"lookout_camera_{name}", doc, labels=["camera"])
            for name, doc in counters.items()
        }
        depth = GaugeMetricFamily(
            "lookout_camera_queue_depth",
            "Frames waiting for analysis (at most stream.queue_size; drop-oldest beyond).",
            labels=["camera"],
        )
        since = GaugeMetricFamily(
            "lookout_camera_seconds_since_last_frame",
            "Seconds since the last decoded frame (absent before the first).",
            labels=["camera"],
        )
        for snap in snaps:
            for st in ReaderState:
                state.add_metric([snap.camera_id, st.value], 1.0 if snap.state == st.value else 0.0)
            for name, fam in families.items():
                fam.add_metric([snap.camera_id], float(getattr(snap, name)))
            depth.add_metric([snap.camera_id], float(snap.queue_depth))
            if snap.seconds_since_last_frame is not None:
                since.add_metric([snap.camera_id], snap.seconds_since_last_frame)
        yield state
        yield from families.values()
        yield depth
        yield since
        yield from _quality_families(snaps)


def _quality_families(snaps: list[CameraSnapshot]) -> Iterable[Metric]:
    """Video quality diagnosis per camera, preset ("default": fixed camera) and issue
    (frozen, blur, occlusion, drift)."""
    labels = ["camera", "preset", "issue"]
    issue = GaugeMetricFamily(
        "lookout_camera_quality_issue", "1 while a video quality issue lasts.", labels=labels
    )
    incidents = CounterMetricFamily(
        "lookout_camera_quality_incidents",
        "Video quality issues that started since the camera started.",
        labels=labels,
    )
    measure = GaugeMetricFamily(
        "lookout_camera_quality_measure",
        "Latest measure of each issue: frozen — seconds unchanged; blur — sharpness over "
        "the baseline's; occlusion — flat fraction of the textured picture; drift — "
        "pixels off the preset reference (+Inf: cannot be aligned).",
        labels=labels,
    )
    for snap in snaps:
        if snap.quality is None:
            continue
        for preset, issues in snap.quality.presets.items():
            for kind in ISSUES:
                q = issues[kind]
                key = [snap.camera_id, preset, kind]
                issue.add_metric(key, 1.0 if q.active else 0.0)
                incidents.add_metric(key, float(q.incidents))
                if q.measure is not None:
                    measure.add_metric(key, q.measure)
    yield issue
    yield incidents
    yield measure


class DeliveryCollector(Collector):
    """Outbox delivery state per remote sink, read at scrape time."""

    def __init__(self, stats: Callable[[], dict[str, dict[str, int]]]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        fam = GaugeMetricFamily(
            "lookout_deliveries",
            "Outbox cases per remote sink and delivery state.",
            labels=["sink", "state"],
        )
        for sink, states in self._stats().items():
            for state, n in states.items():
                fam.add_metric([sink, state], float(n))
        yield fam


class BatcherCollector(Collector):
    """Motion gating of the micro-batcher, read at scrape time."""

    def __init__(self, stats: Callable[[], BatcherStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[Metric]:
        s = self._stats()
        gated = CounterMetricFamily(
            "lookout_frames_gated",
            "Analysed frames that needed no inference (nothing moved in the zones).",
        )
        gated.add_metric([], float(s.gated))
        yield gated
        crops = CounterMetricFamily(
            "lookout_region_crops",
            "Region crops of analysed frames: run through the detector, or reused "
            "because nothing moved in them (per-region motion gating).",
            labels=["result"],
        )
        crops.add_metric(["run"], float(s.crops_run))
        crops.add_metric(["reused"], float(s.crops_reused))
        yield crops


class StorageCollector(Collector):
    """A full disk and retention (docs/OPERATIONS.md "Retention and full disks"): what
    waits in memory for the disk, what was written late or dropped, what retention
    deleted and why. Read at scrape time."""

    def __init__(
        self,
        storage: Callable[[], StorageStats],
        retention: Callable[[], RetentionStats | None],
    ) -> None:
        self._storage = storage
        self._retention = retention

    def collect(self) -> Iterable[Metric]:
        s = self._storage()
        gauges = {
            "evidence_pending": (
                "Cases whose evidence waits in memory for disk space.",
                s.evidence_pending,
            ),
            "evidence_pending_bytes": (
                "Bytes of encoded evidence waiting in memory.",
                s.evidence_pending_bytes,
            ),
            "cases_held": (
                "Cases waiting in memory: the outbox could not be written.",
                s.cases_held,
            ),
        }
        for name, (doc, value) in gauges.items():
            g = GaugeMetricFamily(f"lookout_{name}", doc)
            g.add_metric([], float(value))
            yield g
        counters = {
            "evidence_write_failures": (
                "Evidence writes that failed (a full disk).",
                s.evidence_write_failures,
            ),
            "evidence_written_late": (
                "Evidence written once space returned.",
                s.evidence_written_late,
            ),
            "evidence_dropped": (
                "Evidence given up: the memory bound was reached.",
                s.evidence_dropped,
            ),
            "outbox_write_failures": (
                "Case writes the outbox or a local sink refused.",
                s.outbox_write_failures,
            ),
            "cases_written_late": ("Held cases written once space returned.", s.cases_written_late),
            "cases_dropped": ("Held cases dropped: the memory bound was reached.", s.cases_dropped),
        }
        for name, (doc, value) in counters.items():
            c = CounterMetricFamily(f"lookout_{name}", doc)
            c.add_metric([], float(value))
            yield c
        r = self._retention()
        if r is None:
            return
        deleted = CounterMetricFamily(
            "lookout_retention_deleted",
            "Deleted by retention: whole cases or their evidence, by reason (age, size, "
            "free_space).",
            labels=["what", "reason"],
        )
        for what in ("case", "evidence"):
            for reason in ("age", "size", "free_space"):
                deleted.add_metric([what, reason], float(r.deleted[(what, reason)]))
        yield deleted
        freed = CounterMetricFamily(
            "lookout_retention_deleted_bytes",
            "Evidence bytes deleted, by reason.",
            labels=["reason"],
        )
        for reason in ("age", "size", "free_space"):
            freed.add_metric([reason], float(r.deleted_bytes[reason]))
        yield freed
        for name, doc, value in (
            (
                "retention_kept_undelivered",
                "Cases retention would delete but keeps: undelivered.",
                r.kept_undelivered,
            ),
            (
                "storage_used_bytes",
                "Evidence and outbox bytes at the last retention run.",
                r.used_bytes,
            ),
            (
                "storage_free_bytes",
                "Free bytes on the output folder's disk at the last run.",
                r.free_bytes,
            ),
        ):
            g = GaugeMetricFamily(f"lookout_{name}", doc)
            g.add_metric([], float(value))
            yield g
        failures = CounterMetricFamily("lookout_retention_failures", "Retention runs that failed.")
        failures.add_metric([], float(r.failures))
        yield failures


class SecondLookCollector(Collector):
    """The second look (docs/LEARNING.md): cases it held, and cases it scored, by type,
    since the daemon started. Read at scrape time."""

    def __init__(self, counts: Callable[[], tuple[Mapping[str, int], Mapping[str, int]]]):
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        held, scored = self._counts()
        for name, doc, values in (
            ("held", "Cases the second look held (not delivered), by type.", held),
            ("scored", "Cases the second look scored with a fit, by type.", scored),
        ):
            c = CounterMetricFamily(f"lookout_second_look_{name}", doc, labels=["type"])
            for ctype, n in sorted(dict(values).items()):
                c.add_metric([ctype], float(n))
            yield c


class LoginCollector(Collector):
    """Console logins (docs/ACCOUNTS.md "Guessing"): tries by outcome (ok, wrong,
    delayed, locked) and lockouts by scope (account, address) since the daemon started;
    nothing while no console runs. Read at scrape time."""

    def __init__(self, counts: Callable[[], tuple[Mapping[str, int], Mapping[str, int]] | None]):
        self._counts = counts

    def collect(self) -> Iterable[Metric]:
        counts = self._counts()
        if counts is None:
            return
        outcomes, lockouts = counts
        tries = CounterMetricFamily(
            "lookout_console_logins",
            "Console login tries by outcome (delayed and locked: refused without a hash).",
            labels=["outcome"],
        )
        for name, n in sorted(outcomes.items()):
            tries.add_metric([name], float(n))
        yield tries
        locks = CounterMetricFamily(
            "lookout_console_lockouts", "Lockouts after too many failures.", labels=["scope"]
        )
        for name, n in sorted(lockouts.items()):
            locks.add_metric([name], float(n))
        yield locks


class Metrics:
    """The daemon's registry: detector latency, cases emitted, cameras, deliveries."""

    def __init__(
        self,
        snapshots: Callable[[], list[CameraSnapshot]],
        deliveries: Callable[[], dict[str, dict[str, int]]] | None = None,
        batcher: Callable[[], BatcherStats] | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        self.detector_latency = Histogram(
            "lookout_detector_latency_seconds",
            "Wall time of one detector call (a batch).",
            buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0),
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "lookout_detector_batch_size",
            "Frames per detector call.",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.cases = Counter(
            "lookout_cases", "Draft cases emitted, by type.", ["type"], registry=self.registry
        )
        self.registry.register(CameraCollector(snapshots))
        if deliveries is not None:
            self.registry.register(DeliveryCollector(deliveries))
        if batcher is not None:
            self.registry.register(BatcherCollector(batcher))

    def render(self) -> bytes:
        return generate_latest(self.registry)
