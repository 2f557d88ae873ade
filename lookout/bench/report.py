"""`lookout bench` reports: bench.json, bench.csv, the scale plot (bench.png) and the
results table in benchmarks/README.md (between `<!-- bench:begin -->` and
`<!-- bench:end -->`, rewritten by `--update-readme`)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from lookout.base.paths import REPO_ROOT

README = REPO_ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PARTS = ("sweep", "scale", "regions")


def _rows(report: dict[str, Any], part: str) -> list[dict[str, Any]]:
    """The live-run rows of one part (regions rows live under `regions.scale`)."""
    if part == "regions":
        return list(report.get("regions", {}).get("scale", []))
    return list(report.get(part, []))


def write_reports(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(report, indent=2))
    rows = [{"part": part, **r} for part in PARTS for r in _rows(report, part)]
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
    """The results section of benchmarks/README.md: headline, regions, floors, rows."""
    reg = report.get("regions")
    lines = [
        f"Machine: {report['machine']}, onnxruntime {report['onnxruntime']}, {report['model']}"
        f"; other processes used {report.get('other_cores')} cores on average during the run.",
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
    ]
    if reg:
        lines += [
            f"- Regions mode (1920x1080 far view, {reg['zones_per_camera']} zones per camera, "
            f"**{reg['crops_per_frame']} crops per frame** of {reg['crop_px']} px at input "
            f"{reg['input_size']}): cameras sustained **{reg['cameras_sustained']}**; "
            f"saturated replay of the far-view clip **{reg['replay_crops_per_s']} crops/s** vs "
            f"bare ONNX Runtime {reg['bare_ort_images_per_s']} images/s on crops at batch "
            f"{reg['batch']} and {reg['threads']} ORT thread(s) (ratio **{reg['ratio']}**).",
        ]
    lines += [*_replay_floor_lines(report), *_floor_lines(report), *_memory_lines(report)]
    lines += ["", *_row_lines(report)]
    stages = report["scale"][-1] if report["scale"] else None
    if stages:
        parts = ", ".join(f"{k[3:]} {v}" for k, v in stages.items() if k.startswith("ms_"))
        lines += [
            "",
            f"Per analysed frame at {stages['cameras']} cameras, whole mode (ms; preprocess, "
            f"inference and postprocess per detector image): {parts}.",
        ]
    return "\n".join(lines)


def _each(values: list[float] | None) -> str:
    return f" ({', '.join(str(v) for v in values)})" if values and len(values) > 1 else ""


def _stationary_line(st: dict[str, Any] | None) -> list[str]:
    """The scene model's cost against the whole-mode floor's frame (issue 24's bound:
    at most 10%), when the run measured it."""
    if not st:
        return []
    return [
        f"- Stationary-object detector (one vendor zone per camera, scene model at "
        f"{st['work_px'][1]}x{st['work_px'][0]} px): **{st['ms_per_frame']} ms** of CPU per "
        f"camera-frame, **{st['share_of_floor_frame']:.1%}** of the whole-mode floor's "
        f"{st['floor_frame_ms']} ms frame."
    ]


def _replay_floor_lines(report: dict[str, Any]) -> list[str]:
    """Each replay against its own floor (lookout/bench/replay_floor.py), beside its
    ratio to bare ORT."""
    v, r = report.get("replay_floor"), (report.get("regions") or {}).get("replay_floor")
    if not v:
        return []
    runs = v.get("ratio_to_floor_runs", [])
    line = (
        f"- Replay ÷ its floor (decode of every frame + conversion + bare inference of the "
        f"analysed images, each alone; median of {len(runs)} alternating runs): vtest "
        f"**{v['ratio_to_floor']}**{_each(runs)} (÷ bare ORT {report['ratio']})"
    )
    if r:
        line += (
            f", far view **{r['ratio_to_floor']}**{_each(r.get('ratio_to_floor_runs'))} "
            f"(÷ bare ORT {report['regions']['ratio']})"
        )
    return [line + "."]


def _memory_lines(report: dict[str, Any]) -> list[str]:
    m = report.get("memory")
    if not m:
        return []
    counts = ", ".join(f"{p['cameras']}: {p['rss_mb']} MB" for p in m["points"])
    return [
        "",
        f"Memory: **{m['mb_per_camera']} MB per 1080p camera** (RSS slope over {counts}; "
        f"r² {m['r2']}; intercept {m['intercept_mb']} MB).",
    ]


def _floor_lines(report: dict[str, Any]) -> list[str]:
    floor = report.get("floor")
    if not floor:
        return []
    out = [
        f"- `cameras_floor` ({floor['cores']} cores ÷ CPU of one keyframe decode + conversion "
        "+ bare inference of a camera-frame's images, each measured alone): "
        f"whole **{report['cameras_floor']}** (sustained ÷ floor "
        f"**{report['cameras_sustained_ratio']}**), regions "
        f"**{report['regions']['cameras_floor']}** (sustained ÷ floor "
        f"**{report['regions']['ratio_to_floor']}**).",
        *_stationary_line(report.get("stationary")),
        "",
        "| mode | input | threads | decode ms | convert ms (before: whole-frame BGR) "
        "| inference ms/image | "
        "images/frame | floor ms/frame | pipeline ms/frame | floor (before, after) | "
        "sustained | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    sustained = {
        "whole": (report["cameras_sustained"], report["cameras_sustained_ratio"]),
        "regions": (
            report["regions"]["cameras_sustained"],
            report["regions"]["ratio_to_floor"],
        ),
    }
    for mode in ("whole", "regions"):
        f = floor[mode]
        n, ratio = sustained[mode]
        out.append(
            f"| {mode} | {f['input_size']} | {f['threads']} | {f['decode_ms']} "
            f"| {f['convert_ms']} ({f.get('convert_before_ms')}) | {f['infer_ms_per_image']} "
            f"| {f['images_per_frame']} "
            f"| {f['frame_ms']} | {f.get('pipeline_frame_ms')} | {f['cameras_floor']}"
            f"{_each(f.get('cameras_floor_each'))} | {n} | {ratio} |"
        )
    return out


def _row_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        "| part | cameras | detect | batch | input | threads | decode | motion | deblock "
        "| analysed/s | images/s ÷ bare ORT | p50 s | p99 s | dropped | CPU cores | RSS MB "
        "| ok | other cores |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for part in PARTS:
        for r in _rows(report, part):
            lines.append(
                f"| {part} | {r['cameras']} | {r.get('detect', 'whole')} | {r['batch']} "
                f"| {r['input_size']} | {r['threads']} | {r['decode']} "
                f"| {'on' if r['motion'] else 'off'} "
                f"| {'off' if r['skip_loop_filter'] else 'on'} | {r['analysed_per_s']} "
                f"| {r['ratio']} | {r['latency_p50_s']} | {r['latency_p99_s']} | {r['dropped']} "
                f"| {r['cpu_cores']} | {r['peak_rss_mb']} | {'yes' if r['sustained'] else 'no'} "
                f"| {r.get('other_cores')} |"
            )
    return lines


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
