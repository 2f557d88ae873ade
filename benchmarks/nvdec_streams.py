"""N-stream decode plus inference on a GPU box: NVDEC (`h264_cuvid`, the decoder of the
FFmpeg bundled with PyAV, as `stream.decoder: nvdec` uses it) against the CPU decoder,
each feeding batched inference at batch 8-64.

    benchmarks/gpu_providers.sh runs it after the provider table; alone:
    python benchmarks/nvdec_streams.py [--streams 8,16,32,64] [--batches 8,16,32,64]
        [--seconds 10] [--provider cuda] [--decoders nvdec,cpu]

Each of N threads decodes its own copy of the 1080p25 H.264 benchmark clip (looped) as
fast as it can, keeps one picture per second of stream time (the analysis rate of a
camera) and hands it to a bounded queue; one inference thread letterboxes the pictures
in batches of B and runs ONNX Runtime. Per (decoder, N, B) it reports pictures decoded
per second, analysed pictures per second, and the cameras that would be sustained at 1
analysed frame/s (analysed/s, capped by N). On a machine without NVDEC the nvdec rows
say which decoder was really used (the fallback of lookout/streams/decode.py). Prints a
markdown table; writes out/bench/nvdec_streams.json.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lookout.base.paths import REPO_ROOT  # noqa: E402
from lookout.bench.regions import MANIFEST  # noqa: E402
from lookout.clips.media import make_1080p25  # noqa: E402
from lookout.detector.manifest import load_manifest  # noqa: E402
from lookout.detector.onnx_model import OnnxDetector  # noqa: E402
from lookout.streams.decode import choose_decoder  # noqa: E402


def decode_loop(
    clip: Path,
    decoder: str,
    out: queue.Queue[np.ndarray],
    stop: threading.Event,
    stats: dict[str, Any],
) -> None:
    """Decode `clip` forever with `decoder`; every second of stream time, one BGR picture
    to `out` (dropped when full: the camera would drop it too)."""
    while not stop.is_set():
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            choice = choose_decoder(stream, decoder, f"bench-{threading.get_ident()}")
            stats["used"] = choice.name
            next_t = 0.0
            for packet in container.demux(stream):
                if stop.is_set():
                    return
                for frame in choice.decode(packet):
                    stats["decoded"] += 1
                    t = float(frame.time or 0.0)
                    if t + 1e-6 >= next_t:
                        next_t = t + 1.0
                        try:
                            out.put_nowait(frame.to_ndarray(format="bgr24"))
                        except queue.Full:
                            stats["dropped"] += 1


def run_point(
    clip: Path, detector: OnnxDetector, decoder: str, streams: int, batch: int, seconds: float
) -> dict[str, Any]:
    pictures: queue.Queue[np.ndarray] = queue.Queue(maxsize=2 * batch)
    stop = threading.Event()
    stats: list[dict[str, Any]] = [
        {"decoded": 0, "dropped": 0, "used": "?"} for _ in range(streams)
    ]
    threads = [
        threading.Thread(target=decode_loop, args=(clip, decoder, pictures, stop, s), daemon=True)
        for s in stats
    ]
    for t in threads:
        t.start()
    analysed = 0
    time.sleep(2.0)  # decoders open, queues fill
    decoded0 = sum(s["decoded"] for s in stats)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        items: list[np.ndarray] = []
        while len(items) < batch and time.perf_counter() - t0 < seconds:
            try:
                items.append(pictures.get(timeout=0.05))
            except queue.Empty:
                if items:
                    break
        if items:
            detector.detect(items)
            analysed += len(items)
    wall = time.perf_counter() - t0
    decoded = sum(s["decoded"] for s in stats) - decoded0
    stop.set()
    for t in threads:
        t.join(5)
    used = sorted({str(s["used"]) for s in stats})
    return {
        "decoder": decoder,
        "used": ",".join(used),
        "streams": streams,
        "batch": batch,
        "decoded_per_s": round(decoded / wall, 1),
        "analysed_per_s": round(analysed / wall, 1),
        "cameras_at_1fps": round(min(float(streams), analysed / wall), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--streams", default="8,16,32,64")
    p.add_argument("--batches", default="8,16,32,64")
    p.add_argument("--decoders", default="nvdec,cpu")
    p.add_argument("--provider", default="cuda", help="ONNX Runtime provider (cuda, cpu, ...)")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--out", type=Path, default=REPO_ROOT / "out" / "bench" / "nvdec_streams.json")
    args = p.parse_args(argv)
    clip = make_1080p25(seconds=20.0)
    manifest = load_manifest(MANIFEST)
    batches = [int(b) for b in args.batches.split(",")]
    names = {"tensorrt": "TensorrtExecutionProvider", "cuda": "CUDAExecutionProvider"}
    chain = [names[args.provider]] if args.provider in names else []
    detector = OnnxDetector.from_manifest(
        manifest, providers=[*chain, "CPUExecutionProvider"], max_batch=max(batches)
    )
    rows = [
        run_point(clip, detector, d, int(n), b, args.seconds)
        for d in args.decoders.split(",")
        for n in args.streams.split(",")
        for b in batches
    ]
    report = {"provider": args.provider, "providers_used": detector.providers, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print("| decoder (used) | streams | batch | decoded/s | analysed/s | cameras at 1 fps |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['decoder']} ({r['used']}) | {r['streams']} | {r['batch']} | "
            f"{r['decoded_per_s']} | {r['analysed_per_s']} | {r['cameras_at_1fps']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
