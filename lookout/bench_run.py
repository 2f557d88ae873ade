"""`lookout bench`: the sweep, the scale search, and the reports (JSON, CSV, PNG plot,
the table in benchmarks/README.md)."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
from tqdm import tqdm

from lookout.base.paths import REPO_ROOT
from lookout.bench import DetectorPool, Result, Setting, bare_ort, replay_throughput, run_live
from lookout.media import make_1080p25

README = REPO_ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, default=Path("out/bench"), help="Report folder.")
    p.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per point.")
    p.add_argument("--clip-seconds", type=float, default=20.0, help="Length of the 1080p clip.")
    p.add_argument("--base-cameras", type=int, default=16, help="Cameras in the sweep.")
    p.add_argument("--batches", default="1,4,8", help="Batch sizes to sweep.")
    p.add_argument("--inputs", default="320,416", help="Input sizes to sweep.")
    p.add_argument("--threads", default="1,2", help="ORT intra-op threads to sweep.")
    p.add_argument(
        "--scale",
        default="16,24,32,40,48,56",
        help="Camera counts for the scale search (stops at the first failure).",
    )
    p.add_argument("--scale-input", type=int, default=320, help="Input size for the scale search.")
    p.add_argument(
        "--scale-motion",
        action="store_true",
        help="Motion gating on in the scale search (reported separately).",
    )
    p.add_argument(
        "--scale-deblock",
        action="store_true",
        help="Keep H.264 deblocking in the scale search (default: skipped, ~15%% less decode).",
    )
    p.add_argument("--no-sweep", action="store_true", help="Only the headline and scale.")
    p.add_argument(
        "--update-readme",
        action="store_true",
        help="Rewrite the results table in benchmarks/README.md.",
    )


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    clip = make_1080p25(seconds=args.clip_seconds)
    pool = DetectorPool()
    base = Setting(cameras=args.base_cameras)
    points: list[Setting] = []
    if not args.no_sweep:
        points += [Setting(cameras=base.cameras, batch=b) for b in _ints(args.batches)]
        points += [Setting(cameras=base.cameras, input_size=i) for i in _ints(args.inputs)]
        points += [Setting(cameras=base.cameras, threads=t) for t in _ints(args.threads)]
        points += [
            Setting(cameras=base.cameras, decode="every_frame"),
            Setting(cameras=base.cameras, motion=True),
            Setting(cameras=base.cameras, skip_loop_filter=True),
        ]
    points = list(dict.fromkeys(points))  # unique, in order
    scale = [
        Setting(
            cameras=n,
            input_size=args.scale_input,
            skip_loop_filter=not args.scale_deblock,
            motion=args.scale_motion,
        )
        for n in _ints(args.scale)
    ]
    results: list[Result] = []
    bar = tqdm(total=1 + len(points) + len(scale), unit="run", desc="bench")
    # Headline: replay throughput against bare ORT on the same detector.
    det = pool.get(base)
    ort_ips = bare_ort(det, base.batch, 3.0)
    replay_ips, replay_speed = replay_throughput(det, base.batch)
    replays = [
        {
            "threads": base.threads,
            "pipeline_images_per_s": round(replay_ips, 2),
            "bare_ort_images_per_s": round(ort_ips, 2),
            "ratio": round(replay_ips / ort_ips, 3),
        }
    ]
    for t in _ints(args.threads):
        if t == base.threads:
            continue
        d = pool.get(Setting(cameras=base.cameras, threads=t))
        o = bare_ort(d, base.batch, 3.0)
        p, _ = replay_throughput(d, base.batch)
        replays.append(
            {
                "threads": t,
                "pipeline_images_per_s": round(p, 2),
                "bare_ort_images_per_s": round(o, 2),
                "ratio": round(p / o, 3),
            }
        )
    bar.update(1)
    for s in points:
        bar.set_postfix_str(s.label())
        d = pool.get(s)
        bare = bare_ort(d, s.batch, 2.0)
        r = run_live(s, clip, d, seconds=args.seconds)
        r.bare_ort_images_per_s = bare
        results.append(r)
        bar.update(1)
    sustained = 0
    scale_results: list[Result] = []
    for s in scale:
        bar.set_postfix_str(s.label())
        d = pool.get(s)
        r = run_live(s, clip, d, seconds=args.seconds)
        r.bare_ort_images_per_s = bare_ort(d, s.batch, 2.0)
        scale_results.append(r)
        bar.update(1)
        if not r.sustained:
            break
        sustained = s.cameras
    bar.close()
    report = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "onnxruntime": ort.__version__,
        "model": "yolox_nano",
        "base": asdict(base),
        "pipeline_images_per_s": round(replay_ips, 2),
        "bare_ort_images_per_s": round(ort_ips, 2),
        "ratio": round(replay_ips / ort_ips, 3),
        "replay_speed_x_realtime": round(replay_speed, 1),
        "cameras_sustained": sustained,
        "replay": replays,
        "sweep": [r.row() for r in results],
        "scale": [r.row() for r in scale_results],
    }
    write_reports(report, args.out)
    if args.update_readme:
        update_readme(report, args.out)
    return report


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    rows = [{"part": "sweep", **r} for r in report["sweep"]]
    rows += [{"part": "scale", **r} for r in report["scale"]]
    if rows:
        with (out / "bench.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    plot(report["scale"], out / "bench.png")


def plot(scale: list[dict[str, Any]], path: Path, size: tuple[int, int] = (720, 420)) -> None:
    """Cameras vs analysed frames/s (blue) and p99 latency (red, right axis), drawn with
    OpenCV so the runner needs no plotting library."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, w - 60, 30, h - 50
    cv2.rectangle(img, (left, top), (right, bottom), (0, 0, 0), 1)
    cv2.putText(
        img,
        "cameras (1080p25, 1 analysed frame/s each)",
        (left + 120, h - 15),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.45,
        (0, 0, 0),
        1,
    )
    if scale:
        xs = [r["cameras"] for r in scale]
        ys = [r["analysed_per_s"] for r in scale]
        ls = [r["latency_p99_s"] for r in scale]
        xmax, ymax, lmax = max(xs) * 1.1, max(max(ys), max(xs)) * 1.1, max(2.5, max(ls) * 1.1)

        def px(x: float, y: float, ym: float) -> tuple[int, int]:
            return (int(left + (right - left) * x / xmax), int(bottom - (bottom - top) * y / ym))

        cv2.line(img, px(0, 0, ymax), px(xmax, xmax, ymax), (180, 180, 180), 1)  # ideal
        cv2.line(img, px(0, 2.0, lmax), px(xmax, 2.0, lmax), (200, 200, 255), 1)  # 2 s
        for series, ym, colour in ((ys, ymax, (200, 80, 0)), (ls, lmax, (0, 0, 200))):
            pts = [px(x, y, ym) for x, y in zip(xs, series, strict=True)]
            for a, b in itertools.pairwise(pts):
                cv2.line(img, a, b, colour, 2)
            for p in pts:
                cv2.circle(img, p, 4, colour, -1)
        for x in xs:
            cv2.putText(
                img,
                str(x),
                (px(x, 0, 1)[0] - 8, bottom + 16),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (0, 0, 0),
                1,
            )
        cv2.putText(
            img,
            f"analysed frames/s (max {max(ys):.0f})",
            (left + 5, top + 18),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (200, 80, 0),
            1,
        )
        cv2.putText(
            img,
            f"p99 latency s (max {max(ls):.2f}; line = 2 s)",
            (left + 5, top + 36),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            (0, 0, 200),
            1,
        )
    cv2.imwrite(str(path), img)


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {report['machine']}, onnxruntime {report['onnxruntime']}, {report['model']}.",
        "",
        f"- Replay of vtest.avi: **{report['pipeline_images_per_s']} images/s** vs bare ONNX "
        f"Runtime {report['bare_ort_images_per_s']} images/s at the same model, size, batch "
        f"and threads (ratio **{report['ratio']}**), {report['replay_speed_x_realtime']}x "
        "real time.",
        *(
            f"  - with {r['threads']} ORT thread(s): {r['pipeline_images_per_s']} vs "
            f"{r['bare_ort_images_per_s']} images/s, ratio **{r['ratio']}**"
            for r in report.get("replay", [])
        ),
        f"- Cameras sustained (1080p25, 1 analysed frame/s each, p99 < 2 s, no drops): "
        f"**{report['cameras_sustained']}**.",
        "",
        "| part | cameras | batch | input | threads | decode | motion | deblock | analysed/s | "
        "inferred/s ÷ bare ORT | p50 s | p99 s | dropped | CPU cores | RSS MB | ok |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for part in ("sweep", "scale"):
        for r in report[part]:
            lines.append(
                f"| {part} | {r['cameras']} | {r['batch']} | {r['input_size']} | {r['threads']} "
                f"| {r['decode']} | {'on' if r['motion'] else 'off'} "
                f"| {'off' if r['skip_loop_filter'] else 'on'} | {r['analysed_per_s']} "
                f"| {r['ratio']} | {r['latency_p50_s']} | {r['latency_p99_s']} | {r['dropped']} "
                f"| {r['cpu_cores']} | {r['peak_rss_mb']} | {'yes' if r['sustained'] else 'no'} |"
            )
    stages = report["scale"][-1] if report["scale"] else None
    if stages:
        parts = ", ".join(f"{k[3:]} {v}" for k, v in stages.items() if k.startswith("ms_"))
        lines += ["", f"Per analysed frame at {stages['cameras']} cameras (ms): {parts}."]
    return "\n".join(lines)


def update_readme(report: dict[str, Any], out: Path) -> None:
    text = README.read_text() if README.is_file() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    png = out / "bench.png"
    keep = REPO_ROOT / "benchmarks" / "bench.png"
    if png.is_file():
        keep.write_bytes(png.read_bytes())
    body = table(report) + "\n\n![scale](bench.png)\n"
    README.write_text(f"{head}{BEGIN}\n{body}{END}{tail}")
