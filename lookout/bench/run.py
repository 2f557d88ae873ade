"""`lookout bench`: the headline replays, the sweep, the scale search in both detect
modes, the floors, and the reports (lookout/bench/report.py); benchmarks/README.md
describes every part and key."""

from __future__ import annotations

import argparse
import os
import platform
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import onnxruntime as ort
from tqdm import tqdm

from lookout.base.paths import assets_dir
from lookout.bench.floor import (
    Floor,
    OtherLoad,
    crops_input,
    infer_cost,
    measure_floor,
    whole_input,
)
from lookout.bench.live import (
    DetectorPool,
    Result,
    Setting,
    bare_ort,
    replay_throughput,
    replay_vtest,
    run_live,
)
from lookout.bench.memory import measure as memory_slope
from lookout.bench.regions import (
    MIN_OBJECT_PX,
    ZONE_TILES,
    RegionsReplay,
    far_view_stream,
    regions_plan,
    replay_clip,
    replay_regions,
    sample_crops,
)
from lookout.bench.replay_floor import ReplayFloor, alternate, replay_floor
from lookout.bench.report import update_readme, write_reports
from lookout.bench.stationary import stationary_cost
from lookout.clips.media import make_1080p25
from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.preprocess import Image

#: Alternating runs of each replay and its floor (the ratio is their median).
REPLAY_FLOOR_RUNS = 3
#: The scale search never simulates more cameras than this.
MAX_CAMERAS = 160


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def _replay_row(threads: int, pipeline: float, bare: float) -> dict[str, Any]:
    return {
        "threads": threads,
        "pipeline_images_per_s": round(pipeline, 2),
        "bare_ort_images_per_s": round(bare, 2),
        "ratio": round(pipeline / bare, 3),
    }


def _counts(counts: list[int], limit: int = MAX_CAMERAS) -> Iterator[int]:
    """`counts`, then — for a search (two counts or more) — onwards by their last
    increment up to twice the last count (and `limit`): the search is not capped by
    its list when every listed count is sustained. A single count is measured alone."""
    yield from counts
    if len(counts) < 2:
        return
    step = max(1, counts[-1] - counts[-2])
    n = counts[-1] + step
    while n <= min(limit, 2 * counts[-1]):
        yield n
        n += step


def scale_search(
    measure: Callable[[int], Result], counts: list[int], step: int
) -> tuple[int, list[Result]]:
    """Cameras sustained: `counts` in order (continued past the list while sustained,
    see `_counts`) up to the first failure, then bisected
    between the last sustained count and that failure down to `step` cameras (0: not
    bisected). Returns the largest sustained count and every result, by camera count."""
    results: list[Result] = []
    ok, failed = 0, None
    for n in _counts(counts):
        results.append(measure(n))
        if not results[-1].sustained:
            failed = n
            break
        ok = n
    while failed is not None and step > 0 and failed - ok > step:
        mid = (ok + failed) // 2
        results.append(measure(mid))
        ok, failed = (mid, failed) if results[-1].sustained else (ok, mid)
    return ok, sorted(results, key=lambda r: r.setting.cameras)


def replay_vs_bare(
    detector: OnnxDetector, batch: int, clip: Path, crops: Sequence[Image], repeat: int
) -> tuple[RegionsReplay, float]:
    """Best of `repeat` alternating runs each of the saturated far-view replay and of
    bare ORT on crops, same detector (load from other processes only slows a run)."""
    best: RegionsReplay | None = None
    bare = 0.0
    for _ in range(max(1, repeat)):
        bare = max(bare, bare_ort(detector, batch, 3.0, crops))
        r = replay_regions(detector, batch, clip)
        if best is None or r.crops_per_s > best.crops_per_s:
            best = r
    assert best is not None
    return best, bare


def _pipeline_ms(rows: list[Result], sustained: int) -> float | None:
    """CPU ms per analysed camera-frame of the whole process at the largest sustained
    count (what the floor's parts are compared with)."""
    row = next((r for r in rows if r.setting.cameras == sustained), None)
    if row is None or not row.analysed_per_s:
        return None
    return round(1000 * row.cpu_cores / row.analysed_per_s, 2)


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    run_load = OtherLoad()
    clip = make_1080p25(seconds=args.clip_seconds)
    far_clip = far_view_stream(args.clip_seconds)
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
    whole = Setting(
        input_size=args.scale_input,
        skip_loop_filter=not args.scale_deblock,
        motion=args.scale_motion,
        reader_nice=args.reader_nice,
    )
    regions = replace(whole, input_size=args.regions_input, detect="regions")
    plan = regions_plan(args.regions_input)
    crops = sample_crops(far_clip, plan, base.batch)
    frames = sample_crops(clip, None, base.batch)
    n_scale = len(_ints(args.scale)) + len(_ints(args.regions_scale))
    bar = tqdm(total=3 + len(points) + n_scale, unit="run", desc="bench")
    # Headline: replay throughput against bare ORT on the same detector.
    det = pool.get(base)
    ort_ips = bare_ort(det, base.batch, 3.0)
    replay_ips, replay_speed = replay_throughput(det, base.batch)
    replays = [_replay_row(base.threads, replay_ips, ort_ips)]
    for t in _ints(args.threads):
        if t == base.threads:
            continue
        d = pool.get(Setting(cameras=base.cameras, threads=t))
        o = bare_ort(d, base.batch, 3.0)
        p, _ = replay_throughput(d, base.batch)
        replays.append(_replay_row(t, p, o))
    # The replay against its own floor, decoding every frame counted (replay_floor.py):
    # replay and floor alternating, the median of 3.
    vtest = assets_dir() / "footage" / "vtest.avi"
    vtest_frames = sample_crops(vtest, None, base.batch)

    def vtest_replay() -> tuple[int, float]:
        st = replay_vtest(det, base.batch)
        return st.frames_inferred, st.elapsed_s

    def vtest_floor(images: int) -> ReplayFloor:
        infer_s, infer_ips = infer_cost(det, vtest_frames, base.batch, 3.0)
        m = det.manifest
        convert = whole_input(m.input_width, m.input_height, m.letterbox)
        return replay_floor(vtest, images, 1.0, convert, infer_s, infer_ips, base.threads)

    v_floor = alternate(vtest_replay, vtest_floor, REPLAY_FLOOR_RUNS)
    bar.update(1)
    # Saturated replay of the far-view clip in regions mode, against bare ORT on crops.
    rd = pool.get(replace(regions, threads=args.regions_threads, batch=base.batch))
    far_replay = replay_clip(args.replay_seconds)
    r_replay, r_ort = replay_vs_bare(rd, base.batch, far_replay, crops, args.replay_repeat)
    far_frames: list[int] = []

    def far_replay_run() -> tuple[int, float]:
        r = replay_regions(rd, base.batch, far_replay)
        far_frames.append(r.frames)
        return r.crops, r.seconds

    def far_floor(images: int) -> ReplayFloor:
        infer_s, infer_ips = infer_cost(rd, crops, base.batch, 3.0)
        per_frame = images / max(1, far_frames[-1])
        convert = crops_input(plan.crops, rd.crop_size)
        return replay_floor(
            far_replay, images, per_frame, convert, infer_s, infer_ips, args.regions_threads
        )

    r_floor = alternate(far_replay_run, far_floor, REPLAY_FLOOR_RUNS)
    bar.update(1)
    results: list[Result] = []
    other: dict[int, float | None] = {}  # other processes' cores during each live run
    for s in points:
        bar.set_postfix_str(s.label())
        d = pool.get(s)
        bare = bare_ort(d, s.batch, 2.0)
        load = OtherLoad()
        r = run_live(s, clip, d, seconds=args.seconds)
        other[id(r)] = load.cores()
        r.bare_ort_images_per_s = bare
        results.append(r)
        bar.update(1)

    def measure(setting: Setting) -> Callable[[int], Result]:
        def one(n: int) -> Result:
            s = replace(setting, cameras=n)
            bar.set_postfix_str(s.label())
            d = pool.get(s)
            regional = s.detect == "regions"
            load = OtherLoad()
            r = run_live(s, far_clip if regional else clip, d, seconds=args.seconds)
            other[id(r)] = load.cores()
            r.bare_ort_images_per_s = bare_ort(d, s.batch, 2.0, crops if regional else None)
            bar.update(1)
            return r

        return one

    def floor(mode: str) -> Floor:
        bar.set_postfix_str(f"floor {mode}")
        if mode == "whole":
            s, source, images, per_frame = whole, clip, frames, 1
        else:
            s, source, images, per_frame = regions, far_clip, crops, plan.images_per_frame
        det = pool.get(s)
        m = det.manifest
        convert = (
            whole_input(m.input_width, m.input_height, m.letterbox)
            if mode == "whole"
            else crops_input(plan.crops, det.crop_size)
        )
        return measure_floor(
            mode,
            source,
            det,
            images,
            images_per_frame=per_frame,
            batch=s.batch,
            threads=s.threads,
            skip_loop_filter=s.skip_loop_filter,
            convert=convert,
        )

    # Each mode's floor, each part alone, with its search's own settings, measured just
    # before and just after that search and averaged (`Floor.mean`).
    before = floor("whole")
    sustained, scale_rows = scale_search(measure(whole), _ints(args.scale), args.scale_step)
    floors = {"whole": Floor.mean([before, floor("whole")])}
    before = floor("regions")
    r_sustained, r_rows = scale_search(measure(regions), _ints(args.regions_scale), args.scale_step)
    floors["regions"] = Floor.mean([before, floor("regions")])
    bar.set_postfix_str("stationary objects")
    static = stationary_cost(clip, det.class_names, det.roles)
    bar.update(1)
    bar.close()

    def rows(rs: list[Result]) -> list[dict[str, Any]]:
        return [{**r.row(), "other_cores": other.get(id(r))} for r in rs]

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
        "cameras_floor": round(floors["whole"].cameras, 1),
        "cameras_sustained_ratio": _ratio(sustained, floors["whole"]),
        "other_cores": run_load.cores(),
        "replay": replays,
        "replay_floor": v_floor,
        "floor": {
            "cores": floors["whole"].cores,
            "whole": {
                **floors["whole"].row(),
                "pipeline_frame_ms": _pipeline_ms(scale_rows, sustained),
            },
            "regions": {
                **floors["regions"].row(),
                "pipeline_frame_ms": _pipeline_ms(r_rows, r_sustained),
            },
        },
        "regions": {
            "crops_per_frame": plan.images_per_frame,
            "crop_px": plan.crops[0].width if plan.crops else None,
            "plan_scale": round(plan.scale, 3),
            "zones_per_camera": len(ZONE_TILES),
            "min_object_px": MIN_OBJECT_PX,
            "input_size": args.regions_input,
            "cameras_sustained": r_sustained,
            "cameras_floor": round(floors["regions"].cameras, 1),
            "ratio_to_floor": _ratio(r_sustained, floors["regions"]),
            "replay_crops_per_s": round(r_replay.crops_per_s, 2),
            "replay_floor": r_floor,
            "replay_crops_per_frame": round(r_replay.crops / max(1, r_replay.frames), 3),
            "replay_cases": r_replay.cases,
            "replay_ms_per_crop": r_replay.ms_per_crop(),
            "bare_ort_images_per_s": round(r_ort, 2),
            "ratio": round(r_replay.crops_per_s / r_ort, 3),
            "threads": args.regions_threads,
            "batch": base.batch,
            "scale": rows(r_rows),
        },
        "sweep": rows(results),
        "scale": rows(scale_rows),
        "stationary": static.row(floors["whole"].row()["frame_ms"]),
        "memory": memory_slope(tuple(_ints(args.memory))).row() if args.memory else None,
    }
    write_reports(report, args.out)
    if args.update_readme:
        update_readme(report, args.out)
    print(summary(report))
    return report


def _ratio(sustained: int, floor: Floor) -> float:
    return round(sustained / floor.cameras, 3)


def summary(report: dict[str, Any]) -> str:
    """The floor and regions figures in a few lines (the CLI prints the headline keys)."""
    r, f = report["regions"], report["floor"]
    return "\n".join(
        [
            f"cameras_floor: whole {report['cameras_floor']} (sustained "
            f"{report['cameras_sustained']}, ratio {report['cameras_sustained_ratio']}), "
            f"regions {r['cameras_floor']} (sustained {r['cameras_sustained']}, ratio "
            f"{r['ratio_to_floor']}); {f['cores']} cores",
            f"regions: {r['crops_per_frame']} crops/frame; replay {r['replay_crops_per_s']} "
            f"crops/s vs bare ORT {r['bare_ort_images_per_s']} images/s (ratio {r['ratio']}, "
            f"{r['threads']} ORT thread(s), batch {r['batch']})",
            f"replay ÷ its floor (median of {REPLAY_FLOOR_RUNS} alternating runs): vtest "
            f"{report['replay_floor']['ratio_to_floor']} "
            f"({report['replay_floor']['ratio_to_floor_runs']}), far view "
            f"{r['replay_floor']['ratio_to_floor']} ({r['replay_floor']['ratio_to_floor_runs']}); "
            f"beside bare ORT: vtest {report['ratio']}, far view {r['ratio']}",
            f"convert ms per frame: whole "
            f"{f['whole']['convert_ms']} (before: {f['whole']['convert_before_ms']}), "
            f"regions {f['regions']['convert_ms']} (before: {f['regions']['convert_before_ms']})",
            f"other processes used {report['other_cores']} cores on average during the run",
            *_stationary_summary(report.get("stationary")),
            *_memory_line(report.get("memory")),
        ]
    )


def _stationary_summary(st: dict[str, Any] | None) -> list[str]:
    if not st:
        return []
    return [
        f"stationary objects: {st['ms_per_frame']} ms CPU per camera-frame, "
        f"{st['share_of_floor_frame']} of the floor's {st['floor_frame_ms']} ms frame"
    ]


def _memory_line(m: dict[str, Any] | None) -> list[str]:
    if not m:
        return []
    counts = ", ".join(f"{p['cameras']}: {p['rss_mb']} MB" for p in m["points"])
    return [
        f"memory: {m['mb_per_camera']} MB per 1080p camera (keyframes; RSS slope over "
        f"{counts}; r2 {m['r2']})"
    ]
