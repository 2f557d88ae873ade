"""CPU per camera in each analysis mode, on 1080p25 H.264 streams with 1 s or longer GOPs.

    .venv/bin/python benchmarks/decode_modes.py [--seconds 60] [--gop 1 10]
        [--modes keyframes] [--repeat 2] [--json out/bench/decode_modes.json]

Runs the daemon's `StreamReader` over a file (not paced, so it measures CPU, not
wall time) in each analysis mode at 1 analysed frame/s and reports, per I-frame
interval (`--gop`, seconds) and mode: process CPU milliseconds per second of stream
(the CPU one camera costs; best of `--repeat`), its share of decoding every frame
(`every_frame_1fps`, always run) on the same clip, the frames that came out of the
reader and the pictures the decoder produced, per second of stream. The clips are
made once from vtest.avi with PyAV (libx264 veryfast, no B-frames; the 1 s GOP one is
`make_1080p25`'s). The script also runs against an older checkout put first on
PYTHONPATH (what differs between versions is read with getattr).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from lookout.base.paths import REPO_ROOT
from lookout.clips.media import cached_h264_mp4, make_1080p25, vtest_avi
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig

MODES: dict[str, dict[str, object]] = {
    "every_frame_1fps": {"analysis_mode": "rate"},  # decode all, convert 1 frame/s
    "every_nth_25": {"analysis_mode": "every_nth", "every_n": 25},
    "keyframes": {"analysis_mode": "keyframes"},
}


def clip_for(gop_s: float, seconds: float) -> Path:
    """The 1080p25 clip with a `gop_s` I-frame interval (1 s: `make_1080p25`'s)."""
    if gop_s == 1.0:
        return make_1080p25(seconds=seconds)
    return cached_h264_mp4(
        vtest_avi(),
        f"vtest_1080p25_gop{gop_s:g}",
        width=1920,
        height=1080,
        fps=25.0,
        gop_s=gop_s,
        seconds=seconds,
        preset="veryfast",
    )


def measure(clip: Path, mode: dict[str, object], seconds: float) -> dict[str, float]:
    cfg = StreamConfig(queue_size=1000, **mode)  # type: ignore[arg-type]
    q: FrameQueue[Frame] = FrameQueue(cfg.queue_size)
    reader = StreamReader(
        "bench", str(clip), cfg, analysis_fps=1.0, tz=ZoneInfo("UTC"), queue=q, realtime=False
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    reader.start()
    while reader.alive:
        reader.join(0.2)
        q.clear()
    cpu = time.process_time() - cpu0
    # Pictures the decoder produced: DecodeStats since b078979 (stats.pictures_delivered
    # counts only those handed on); before it, frames_received counted them.
    dstats = getattr(reader, "decoder_stats", None)
    decoded = dstats.decoded if dstats is not None else reader.stats.frames_received
    return {
        "cpu_ms_per_stream_s": 1000 * cpu / seconds,
        "analysed_per_stream_s": reader.stats.frames_sampled / seconds,
        "decoded_per_stream_s": decoded / seconds,
        "wall_s": time.perf_counter() - wall0,
        "frames_sampled": reader.stats.frames_sampled,
        "frames_decoded": decoded,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="Length of the test clips.")
    p.add_argument(
        "--gop", type=float, nargs="+", default=[1.0, 10.0], help="I-frame intervals, s."
    )
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", type=Path, default=REPO_ROOT / "out" / "bench" / "decode_modes.json")
    args = p.parse_args(argv)
    modes = ["every_frame_1fps", *(m for m in MODES if m in args.modes and m != "every_frame_1fps")]
    clips = {gop: clip_for(gop, args.seconds) for gop in args.gop}
    results: dict[float, dict[str, dict[str, float]]] = {gop: {} for gop in args.gop}
    for _ in range(args.repeat):  # alternate runs so machine noise hits all alike
        for gop, clip in clips.items():
            for name in modes:
                r = measure(clip, MODES[name], args.seconds)
                best = results[gop].get(name)
                if best is None or r["cpu_ms_per_stream_s"] < best["cpu_ms_per_stream_s"]:
                    results[gop][name] = r
    for by_mode in results.values():
        full = by_mode["every_frame_1fps"]["cpu_ms_per_stream_s"]
        for r in by_mode.values():
            r["share_of_every_frame"] = r["cpu_ms_per_stream_s"] / full
    out = {
        "reader": sys.modules[StreamReader.__module__].__file__,
        "seconds": args.seconds,
        "gops": {f"{g:g}": {"clip": str(clips[g]), "modes": results[g]} for g in args.gop},
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=2))
    print(f"reader: {sys.modules[StreamReader.__module__].__file__}, {args.seconds:g} s of stream")
    print(
        f"{'GOP s':>5} {'mode':<18} {'CPU ms/stream-s':>16} {'share':>6} {'analysed/s':>11}"
        f" {'decoded/s':>10}"
    )
    for gop, by_mode in results.items():
        for name, r in by_mode.items():
            print(
                f"{gop:>5g} {name:<18} {r['cpu_ms_per_stream_s']:>16.1f}"
                f" {r['share_of_every_frame']:>6.2f} {r['analysed_per_stream_s']:>11.2f}"
                f" {r['decoded_per_stream_s']:>10.2f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
