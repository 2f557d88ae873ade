"""Bare ONNX Runtime throughput of YOLOX-Nano per execution provider and batch size.

    python benchmarks/gpu_providers.py [--model PATH] [--providers tensorrt,cuda,cpu]
        [--batches 1,2,4,8,16,32] [--regions-cameras 4,8,16,32] [--seconds 3]
        [--threads 0] [--fp16] [--engine-cache DIR] [--json out/bench/gpu_providers.json]

(`benchmarks/gpu_providers.sh` sets up onnxruntime-gpu in a venv and runs this.)

For each provider the model (made dynamic-batch by `prepare_model`) is loaded once
through `OnnxDetector.from_manifest` with that provider first (TensorRT as
`tensorrt, cuda`, so nodes TensorRT cannot take stay on the GPU), warmed up at the
largest batch (for TensorRT this builds the engine; the time is reported), then for
every batch size run a few more times and timed in a loop of `--seconds`. Inputs are
real letterboxed frames in host memory, as the pipeline feeds them, so the GPU
numbers include the host-to-device copy of the batch and the copy of the output back.

The regions workload (benchmarks/README.md, "Regions mode and the floor") is what the
micro-batcher sends for far-view cameras in regions mode: the crops of a 1920x1080
frame tiled from vtest.avi, planned from the benchmark cameras' two kerb zones
(lookout/bench/regions.py), crops per frame x cameras images per batch (batch 8-64 for
4-32 cameras at 2 crops per frame); camera-frames/s = images/s ÷ crops per frame.
Providers this ONNX Runtime build lacks, or that fail to start, are reported as such
and not timed. Prints a markdown table; writes JSON.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from lookout.base.errors import LookoutError
from lookout.base.paths import REPO_ROOT, assets_dir
from lookout.bench.regions import FAR_H, FAR_SCALE, FAR_W, regions_plan
from lookout.detector.manifest import ModelManifest, load_manifest
from lookout.detector.onnx_model import OnnxDetector, prepare_model
from lookout.detector.preprocess import letterbox_batch
from lookout.detector.providers import CPU, CUDA, resolve_name

# Provider alias -> preference list passed to the detector.
CHAINS: dict[str, list[str]] = {
    "tensorrt": ["tensorrt", "cuda"],
    "cuda": ["cuda"],
    "cpu": ["cpu"],
}


def gpu_name() -> str | None:
    """Names of the NVIDIA GPUs from nvidia-smi (None when there is none)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    names = [line.strip() for line in out.splitlines() if line.strip()]
    return ", ".join(names) or None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} CPUs)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} CPUs)"


def preload_gpu_libraries() -> None:
    """Let onnxruntime-gpu (>= 1.21) load CUDA/cuDNN from the nvidia-* pip wheels."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None or CUDA not in ort.get_available_providers():
        return
    try:
        preload()
    except Exception as exc:  # the libraries may come from the system instead
        print(f"note: onnxruntime.preload_dlls() failed: {exc}", file=sys.stderr)


def sample_batch(manifest: ModelManifest, size: int) -> np.ndarray:
    """`size` letterboxed copies of the assets' dog.jpg (noise when it is missing)."""
    image = cv2.imread(str(assets_dir() / "images" / "dog.jpg"))
    if image is None:
        image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    buf = np.empty((size, 3, manifest.input_height, manifest.input_width), np.float32)
    letterbox_batch(
        [image] * size,
        buf,
        placement=manifest.letterbox,
        color_order=manifest.color_order,
        scale=manifest.scale,
        pad_value=manifest.pad_value,
    )
    return buf


def far_view_crops(manifest: ModelManifest) -> list[np.ndarray]:
    """The regions plan's crops of one 1920x1080 far-view frame (vtest's first frame
    tiled at scale 1, as lookout/clips/far_view.py makes the clips; noise without vtest)."""
    ok, tile = cv2.VideoCapture(str(assets_dir() / "footage" / "vtest.avi")).read()
    if not ok:
        print("note: vtest.avi not found, regions crops are noise", file=sys.stderr)
        tile = np.random.default_rng(0).integers(0, 256, (576, 768, 3), dtype=np.uint8)
    if FAR_SCALE != 1.0:
        tile = cv2.resize(tile, None, fx=FAR_SCALE, fy=FAR_SCALE, interpolation=cv2.INTER_AREA)
    reps = (-(-FAR_H // tile.shape[0]), -(-FAR_W // tile.shape[1]), 1)
    frame = np.ascontiguousarray(np.tile(tile, reps)[:FAR_H, :FAR_W])
    plan = regions_plan(min(manifest.input_width, manifest.input_height))
    return [c.view(frame) for c in plan.crops] + ([frame] if plan.full_frame else [])


def crops_batch(manifest: ModelManifest, crops: list[np.ndarray], size: int) -> np.ndarray:
    """`size` crops (the frame's crops repeated, as from many cameras), letterboxed."""
    buf = np.empty((size, 3, manifest.input_height, manifest.input_width), np.float32)
    letterbox_batch(
        [crops[i % len(crops)] for i in range(size)],
        buf,
        placement=manifest.letterbox,
        color_order=manifest.color_order,
        scale=manifest.scale,
        pad_value=manifest.pad_value,
    )
    return buf


def time_batch(detector: OnnxDetector, batch: np.ndarray, seconds: float) -> dict[str, float]:
    for _ in range(3):
        detector.infer_raw(batch)
    laps: list[float] = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        detector.infer_raw(batch)
        now = time.perf_counter()
        laps.append(now - t0)
        if now - start >= seconds and len(laps) >= 3:
            break
    total = now - start
    return {
        "batch": int(batch.shape[0]),
        "runs": len(laps),
        "images_per_s": len(laps) * batch.shape[0] / total,
        "ms_per_batch_median": 1000.0 * statistics.median(laps),
        "ms_per_batch_p90": 1000.0 * sorted(laps)[int(0.9 * (len(laps) - 1))],
    }


def bench_provider(
    name: str,
    manifest: ModelManifest,
    batches: list[int],
    args: argparse.Namespace,
    crops: list[np.ndarray],
) -> dict[str, Any]:
    chain = CHAINS[name]
    wanted = resolve_name(name)
    result: dict[str, Any] = {"provider": wanted, "requested": chain, "batches": []}
    result["regions"] = []
    if wanted not in ort.get_available_providers():
        result["status"] = "unavailable"
        print(
            f"  {wanted} is not in this ONNX Runtime build (available: "
            f"{', '.join(ort.get_available_providers())}); install onnxruntime-gpu on a "
            "GPU machine (benchmarks/gpu_providers.sh): not timed",
            file=sys.stderr,
        )
        return result
    region_sizes = [len(crops) * n for n in args.regions_cameras]
    options: dict[str, dict[str, str]] = {}
    if name == "tensorrt" and args.fp16:
        options["tensorrt"] = {"trt_fp16_enable": "True"}
    try:
        detector = OnnxDetector.from_manifest(
            manifest,
            providers=chain,
            provider_options=options,
            engine_cache_dir=args.engine_cache,
            intra_op_threads=args.threads,
            max_batch=max(batches + region_sizes),
        )
    except LookoutError as exc:
        result["status"] = f"failed: {exc}"
        return result
    result["enabled"] = detector.providers
    result["warmup_s"] = detector.warmup_s
    if detector.providers[0] != wanted:
        result["status"] = "failed to start"
        return result
    result["status"] = "ok"
    for size in batches:
        print(f"  {wanted} batch {size} ...", file=sys.stderr, flush=True)
        result["batches"].append(time_batch(detector, sample_batch(manifest, size), args.seconds))
    for cameras, size in zip(args.regions_cameras, region_sizes, strict=True):
        print(f"  {wanted} regions: {cameras} cameras, batch {size} ...", file=sys.stderr)
        row = time_batch(detector, crops_batch(manifest, crops, size), args.seconds)
        row.update(
            cameras=cameras,
            crops_per_frame=len(crops),
            camera_frames_per_s=row["images_per_s"] / len(crops),
        )
        result["regions"].append(row)
    return result


def markdown(report: dict[str, Any]) -> str:
    cpu_rate = {
        b["batch"]: b["images_per_s"]
        for r in report["results"]
        if r["provider"] == CPU
        for b in r["batches"]
    }
    lines = [
        f"GPU: {report['gpu'] or 'none (nvidia-smi not found)'}; CPU: {report['cpu']}",
        f"onnxruntime {report['onnxruntime']} (available: "
        f"{', '.join(report['available_providers'])}); model {report['model_name']} "
        f"{report['input'][0]}x{report['input'][1]}; CPU threads "
        f"{report['threads'] or 'ORT default'}; {report['seconds']} s per row",
        "",
        "| provider | batch | images/s | ms/batch (median) | ms/batch (p90) | × CPU | warm-up s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        if r["status"] != "ok":
            lines.append(f"| {r['provider']} | – | {r['status']} | | | | |")
            continue
        for i, b in enumerate(r["batches"]):
            base = cpu_rate.get(b["batch"])
            ratio = f"{b['images_per_s'] / base:.2f}" if base else "–"
            warm = f"{r['warmup_s']:.2f}" if i == 0 else ""
            lines.append(
                f"| {r['provider']} | {b['batch']} | {b['images_per_s']:.1f} | "
                f"{b['ms_per_batch_median']:.2f} | {b['ms_per_batch_p90']:.2f} | {ratio} | "
                f"{warm} |"
            )
    lines += ["", *regions_markdown(report)]
    return "\n".join(lines)


def regions_markdown(report: dict[str, Any]) -> list[str]:
    """The regions workload: crops of far-view frames from N cameras per batch."""
    if not report["crops_per_frame"]:
        return []
    lines = [
        f"Regions workload: {report['crops_per_frame']} crops per 1920x1080 far-view frame; "
        "a batch holds the crops of N cameras; camera-frames/s = images/s ÷ crops per frame.",
        "",
        "| provider | cameras | batch | images/s | camera-frames/s | ms/batch (median) "
        "| ms/batch (p90) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        for b in r.get("regions", []):
            lines.append(
                f"| {r['provider']} | {b['cameras']} | {b['batch']} | {b['images_per_s']:.1f} | "
                f"{b['camera_frames_per_s']:.1f} | {b['ms_per_batch_median']:.2f} | "
                f"{b['ms_per_batch_p90']:.2f} |"
            )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        type=Path,
        default=assets_dir() / "models" / "yolox_nano.onnx",
        help="YOLOX-Nano .onnx (default ${LOOKOUT_ASSETS:-../shared/assets}/models/...)",
    )
    parser.add_argument("--providers", default="tensorrt,cuda,cpu", help="comma-separated")
    parser.add_argument("--batches", default="1,2,4,8,16,32", help="comma-separated")
    parser.add_argument(
        "--regions-cameras",
        default="4,8,16,32",
        help="regions workload: cameras per batch (batch = crops per frame x cameras; empty: skip)",
    )
    parser.add_argument("--seconds", type=float, default=3.0, help="timed loop per row")
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU intra-op threads (0 = ORT default)"
    )
    parser.add_argument("--fp16", action="store_true", help="TensorRT in FP16")
    parser.add_argument(
        "--engine-cache", type=Path, default=None, help="TensorRT engine cache folder"
    )
    parser.add_argument(
        "--json", type=Path, default=REPO_ROOT / "out" / "bench" / "gpu_providers.json"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)

    try:
        batches = sorted({int(b) for b in args.batches.split(",") if b.strip()})
        args.regions_cameras = [int(n) for n in args.regions_cameras.split(",") if n.strip()]
        names = [n.strip().lower() for n in args.providers.split(",") if n.strip()]
    except ValueError:
        parser.error("--batches and --regions-cameras must be comma-separated integers")
    unknown = [n for n in names if n not in CHAINS and n != "trt"]
    if unknown or not batches or batches[0] < 1 or any(n < 1 for n in args.regions_cameras):
        parser.error(f"--providers takes {', '.join(CHAINS)}; --batches positive integers")
    names = ["tensorrt" if n == "trt" else n for n in names]

    preload_gpu_libraries()
    try:
        prepared = prepare_model(args.model)
        base = load_manifest(REPO_ROOT / "models" / "yolox_nano.yaml")
    except LookoutError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    manifest = base.model_copy(update={"file": str(prepared.resolve())})
    crops = far_view_crops(manifest) if args.regions_cameras else []

    report: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "gpu": gpu_name(),
        "cpu": cpu_name(),
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "model": str(args.model),
        "prepared_model": str(prepared),
        "model_name": manifest.name,
        "input": [manifest.input_width, manifest.input_height],
        "threads": args.threads,
        "seconds": args.seconds,
        "fp16": args.fp16,
        "crops_per_frame": len(crops),
        "regions_cameras": args.regions_cameras,
        "results": [],
    }
    for name in names:
        print(f"{name}:", file=sys.stderr, flush=True)
        report["results"].append(bench_provider(name, manifest, batches, args, crops))

    table = markdown(report)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({**report, "table": table}, indent=2) + "\n")
    print(f"\nwrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
