"""The benchmark runner (`lookout bench`, also `benchmarks/run.py`).

It makes a 1080p25 H.264 stream (1 s GOP) from vtest.avi (whole mode) or from a far
view tiled from it (regions mode, lookout/bench/regions.py), simulates N cameras as file
sources paced in real time (started at staggered instants, like unsynchronised real
cameras), runs them through the daemon's own path — reader threads, drop-oldest
queues, the cross-camera micro-batcher, tracker, zones, cases — and measures
analysed frames/s, capture-to-result latency, dropped frames, CPU and peak RSS, with a
per-stage time breakdown. Bare ONNX Runtime is measured in the same run on the same
model, input size, batch and threads, and every throughput is reported as a ratio.
"""

from __future__ import annotations

import logging
import resource
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from lookout.base.paths import REPO_ROOT, assets_dir
from lookout.bench.floor import model_batch
from lookout.bench.regions import MANIFEST, DetectMode, bench_camera
from lookout.cases.manager import CaseManager
from lookout.config.app import AppConfig, ModelConfig
from lookout.detector.batcher import MicroBatcher
from lookout.detector.detections import Detections
from lookout.detector.manifest import load_manifest
from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.preprocess import Image
from lookout.runtime.analysis import CameraAnalyser, build_analyser
from lookout.runtime.replay import ReplayPipeline, ReplayStats
from lookout.runtime.services import load_app_grid, open_cases
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import DropPolicy, FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig

log = logging.getLogger(__name__)

#: Frames buffered per simulated camera (drop-oldest beyond that), as in a live config.
QUEUE_SIZE = 4
STAGES = (
    "demux",
    "decode",
    "convert",
    "preprocess",
    "inference",
    "postprocess",
    "tracking",
    "zones",
    "cases",
)


@dataclass(frozen=True, slots=True)
class Setting:
    """One point of the sweep."""

    cameras: int = 16
    batch: int = 8
    input_size: int = 416
    threads: int = 2
    decode: str = "keyframes"  # or "every_frame" (decode all, analyse 1 frame/s)
    motion: bool = False
    skip_loop_filter: bool = False
    detect: DetectMode = "whole"  # or "regions": far-view cameras, 2 zones each
    reader_nice: int = 0  # stream.reader_nice of the cameras
    queue_policy: DropPolicy = "drop_oldest"  # stream.queue_policy of the cameras

    def label(self) -> str:
        return (
            f"N={self.cameras} b={self.batch} in={self.input_size} t={self.threads} "
            f"{self.decode}{' motion' if self.motion else ''}"
            f"{' no-deblock' if self.skip_loop_filter else ''} {self.detect}"
            f"{f' nice {self.reader_nice}' if self.reader_nice else ''}"
            f"{' drop-newest' if self.queue_policy == 'drop_newest' else ''}"
        )


@dataclass(slots=True)
class Result:
    """Measured for one setting."""

    setting: Setting
    seconds: float
    analysed_per_s: float = 0.0
    inferred_per_s: float = 0.0
    images_per_s: float = 0.0  # detector images (crops in regions mode)
    expected_per_s: float = 0.0
    latency_p50_s: float = 0.0
    latency_p99_s: float = 0.0
    dropped: int = 0
    cpu_cores: float = 0.0
    peak_rss_mb: float = 0.0
    rss_samples_mb: list[float] = field(default_factory=list)  # every 0.25 s while measured
    bare_ort_images_per_s: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    cases: int = 0
    #: Oldest picture analysed: capture to result (the live promise of drop-oldest).
    latency_max_s: float = 0.0
    #: Longest wait between two analysed pictures of one camera (the slowest camera).
    max_interval_s: float = 0.0

    @property
    def sustained(self) -> bool:
        """Real time at 1 analysed frame/s per camera: all frames analysed, p99 < 2 s."""
        return (
            self.dropped == 0
            and self.latency_p99_s < 2.0
            and self.analysed_per_s >= 0.95 * self.expected_per_s
        )

    def row(self) -> dict[str, Any]:
        out = {**asdict(self.setting)}
        out.update(
            analysed_per_s=round(self.analysed_per_s, 2),
            inferred_per_s=round(self.inferred_per_s, 2),
            images_per_s=round(self.images_per_s, 2),
            bare_ort_images_per_s=round(self.bare_ort_images_per_s, 1),
            ratio=round(self.images_per_s / self.bare_ort_images_per_s, 3)
            if self.bare_ort_images_per_s
            else None,
            latency_p50_s=round(self.latency_p50_s, 3),
            latency_p99_s=round(self.latency_p99_s, 3),
            latency_max_s=round(self.latency_max_s, 3),
            max_interval_s=round(self.max_interval_s, 3),
            dropped=self.dropped,
            cpu_cores=round(self.cpu_cores, 2),
            peak_rss_mb=round(self.peak_rss_mb, 1),
            sustained=self.sustained,
            cases=self.cases,
        )
        out.update({f"ms_{k}": round(v, 3) for k, v in self.stage_ms.items()})
        return out


class Cadence:
    """When each camera's analysed pictures came out and how old they were: the two
    bounds an overloaded box is judged on (benchmarks/README.md, "Overload")."""

    def __init__(self, cameras: int) -> None:
        self.cameras = cameras
        self._last: dict[int, float] = {}
        self._longest: dict[int, float] = {}
        self._start = 0.0
        self.oldest_s = 0.0

    def start(self, now: float) -> None:
        """Measuring starts: a camera's first wait runs from here."""
        self._start = now
        self._last.clear()
        self._longest.clear()
        self.oldest_s = 0.0

    def analysed(self, key: int, now: float, due: float) -> None:
        """Camera `key`'s picture, due at `due` (monotonic), was analysed at `now`."""
        gap = now - self._last.get(key, self._start)
        self._longest[key] = max(self._longest.get(key, 0.0), gap)
        self._last[key] = now
        self.oldest_s = max(self.oldest_s, now - due)

    def longest_wait(self, end: float) -> float:
        """The slowest camera's longest wait between analysed pictures, from the start
        to `end`: its first picture counts from the start, its last wait runs to `end`,
        and a camera with no picture waited the whole time."""
        worst = 0.0
        for key in range(self.cameras):
            last = self._last.get(key, self._start)
            worst = max(worst, self._longest.get(key, 0.0), end - last)
        return worst


class DetectorPool:
    """Detectors by (input size, threads, batch): built once per run of the sweep."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, int, int], OnnxDetector] = {}
        self.manifest = load_manifest(MANIFEST)

    def get(self, s: Setting) -> OnnxDetector:
        key = (s.input_size, s.threads, s.batch)
        if key not in self._cache:
            m = self.manifest
            resized = s.input_size != m.input_width or s.input_size != m.input_height
            if resized:
                m = m.model_copy(update={"input_width": s.input_size, "input_height": s.input_size})
            self._cache[key] = OnnxDetector.from_manifest(
                m, intra_op_threads=s.threads, max_batch=s.batch, dynamic_hw=resized
            )
        return self._cache[key]


def bare_ort(
    detector: OnnxDetector, batch: int, seconds: float, images: Sequence[Image] | None = None
) -> float:
    """Images/s of `infer_raw` alone on a real letterboxed batch of `images` (default:
    vtest frames)."""
    from lookout.streams.file_reader import FileReader

    if images is None:
        reader = FileReader(
            assets_dir() / "footage" / "vtest.avi",
            "bare",
            analysis_fps=1.0,
            start_time=datetime.now(UTC),
        )
        images = [f.picture for _, f in zip(range(batch), reader, strict=False)]
    buf = model_batch(detector, images, batch)
    detector.infer_raw(buf)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        detector.infer_raw(buf)
        n += batch
    return n / (time.perf_counter() - t0)


@contextmanager
def _cases(cfg: AppConfig, out: Path) -> Iterator[CaseManager]:
    manager = open_cases(cfg, out)
    try:
        yield manager
    finally:
        manager.close()


def run_live(
    s: Setting, clip: Path, detector: OnnxDetector, *, seconds: float, warmup_s: float = 3.0
) -> Result:
    """N paced file cameras through readers, queues, batcher and analysers."""
    stream = StreamConfig(
        analysis_mode="keyframes" if s.decode == "keyframes" else "rate",
        queue_size=QUEUE_SIZE,
        loop=True,
        stall_timeout_s=10,
        skip_loop_filter=s.skip_loop_filter,
        reader_nice=s.reader_nice,
        queue_policy=s.queue_policy,
    )
    latencies: list[float] = []
    cadence = Cadence(s.cameras)
    counts = {"analysed": 0, "inferred": 0}
    measuring = False
    cameras = [bench_camera(i, s.detect, motion=s.motion) for i in range(s.cameras)]
    cfg = AppConfig(model=ModelConfig(manifest=str(MANIFEST)), cameras=cameras)
    tz = cfg.site.tz
    with tempfile.TemporaryDirectory() as tmp, _cases(cfg, Path(tmp)) as cases:
        analysers: dict[int, CameraAnalyser] = {}
        readers: list[StreamReader] = []
        queues: dict[int, FrameQueue[Frame]] = {}
        signal_ev = threading.Event()
        for i, cam in enumerate(cameras):
            analysers[i] = build_analyser(
                cfg,
                cam.id,
                detector,
                cases=cases,
                out_dir=Path(tmp),
                grid=None,
                config_source="bench",
            )
            queues[i] = FrameQueue(stream.queue_size, stream.queue_policy, signal_ev)
            readers.append(
                StreamReader(cam.id, str(clip), stream, analysis_fps=1.0, tz=tz, queue=queues[i])
            )

        def deliver(key: int, frame: Frame, dets: Detections | None) -> None:
            analysers[key].process(frame, dets)
            if measuring:
                now = time.monotonic()
                latencies.append(now - frame.monotonic_s)
                cadence.analysed(key, now, frame.monotonic_s)
                counts["analysed"] += 1
                counts["inferred"] += dets is not None

        batcher: MicroBatcher[int] = MicroBatcher(
            detector.detect,
            deliver,
            max_batch=s.batch,
            max_wait_s=0.05,
            signal=signal_ev,
            gate=lambda k, f: analysers[k].needs_inference(f),
            plan=lambda k, f: analysers[k].region_plan(f),
            pipelined=True,
        )
        batcher.set_sources(queues)
        batcher.start()
        for r in readers:  # unsynchronised cameras: spread over 1 s
            r.start()
            time.sleep(1.0 / s.cameras)
        time.sleep(warmup_s)
        before = _snapshot(readers, detector, analysers, queues)
        cadence.start(time.monotonic())
        measuring = True
        cpu0, t0 = time.process_time(), time.perf_counter()
        rss = [_rss_mb()]
        while time.perf_counter() - t0 < seconds:  # sample this run's own RSS
            time.sleep(0.25)
            rss.append(_rss_mb())
        peak_rss = max(rss)
        measuring = False
        longest_wait = cadence.longest_wait(time.monotonic())
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        after = _snapshot(readers, detector, analysers, queues)
        for r in readers:
            r.stop()
        for r in readers:
            r.join(5)
        batcher.stop(5)
        n_cases = len(cases.cases)
    lat = np.array(latencies) if latencies else np.zeros(1)
    analysed = counts["analysed"]
    images = after["images"] - before["images"]
    stage = {k: 1000 * (after[k] - before[k]) / max(1, analysed) for k in STAGES}
    for k in ("preprocess", "inference", "postprocess"):  # per detector image
        stage[k] = 1000 * (after[k] - before[k]) / max(1, images)
    return Result(
        setting=s,
        seconds=wall,
        analysed_per_s=analysed / wall,
        inferred_per_s=counts["inferred"] / wall,
        images_per_s=images / wall,
        expected_per_s=float(s.cameras),
        latency_p50_s=float(np.percentile(lat, 50)),
        latency_p99_s=float(np.percentile(lat, 99)),
        dropped=int(after["dropped"] - before["dropped"]),
        cpu_cores=cpu / wall,
        peak_rss_mb=peak_rss,
        rss_samples_mb=rss,
        stage_ms=stage,
        cases=n_cases,
        latency_max_s=cadence.oldest_s,
        max_interval_s=longest_wait,
    )


def _rss_mb() -> float:
    """Resident memory of this process now (MiB), from /proc."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _snapshot(
    readers: list[StreamReader],
    det: OnnxDetector,
    analysers: dict[int, CameraAnalyser],
    queues: dict[int, FrameQueue[Frame]],
) -> dict[str, float]:
    return {
        "demux": sum(r.stats.demux_s for r in readers),
        "decode": sum(r.stats.decode_s for r in readers),
        "convert": sum(r.stats.convert_s for r in readers),
        "preprocess": det.times.preprocess,
        "inference": det.times.inference,
        "postprocess": det.times.postprocess,
        "images": det.times.images,
        "tracking": sum(a.times.tracking for a in analysers.values()),
        "zones": sum(a.times.zones for a in analysers.values()),
        "cases": sum(a.times.cases for a in analysers.values()),
        "dropped": sum(q.dropped for q in queues.values()),
    }


def replay_throughput(detector: OnnxDetector, batch: int) -> tuple[float, float]:
    """Replay of vtest.avi (demo config) through `detector` as fast as possible:
    returns (pipeline images/s, speed × real time)."""
    stats = replay_vtest(detector, batch)
    return stats.frames_inferred / stats.elapsed_s, stats.speed_x_realtime


def replay_vtest(detector: OnnxDetector, batch: int) -> ReplayStats:
    """What `replay_throughput` measures, as the replay's own statistics."""
    from lookout.config.app import load_config

    cfg = load_config(REPO_ROOT / "configs" / "demo.yaml")
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"batch_size": batch})})
    cfg._base_dir = REPO_ROOT / "configs"
    source = str(REPO_ROOT / "configs" / "demo.yaml")
    with tempfile.TemporaryDirectory() as tmp, _cases(cfg, Path(tmp)) as cases:
        # Exactly what `lookout replay` builds: ground zones, locator, references.
        analyser = build_analyser(
            cfg,
            cfg.cameras[0].id,
            detector,
            cases=cases,
            out_dir=Path(tmp),
            grid=load_app_grid(cfg, source),
            config_source=source,
        )
        pipe = ReplayPipeline(cfg, analyser.camera, detector, analyser)
        return pipe.run(pipe.open_reader(assets_dir() / "footage" / "vtest.avi"))
