"""The replay's floor (benchmarks/README.md, "Replay floor"): the images/s a replay of a
file could reach if decoding, conversion and inference were all there was.

Bare ONNX Runtime is not the replay's ceiling: a replay at 2 analysed frames/s of a
10 fps file decodes every frame, which bare inference never pays. So, each part
measured alone as CPU time of this process, in the same run as the replay:

    decode   = CPU to decode every frame of the file (the replay decodes them all), with
               the replay's decoder threads (`decode_threads_beside`)
    convert  = CPU to make the model's input of each analysed frame from its picture
    infer    = CPU of bare inference per image × images the replay ran
    floor    = images ÷ max((decode + convert + infer) ÷ cores,
                            decode ÷ decoder threads,
                            images ÷ bare ORT images/s)

The first term spreads all the work over the cores; the second is the decoder's own
threads (one on 2 cores, where ORT's threads keep the others busy); the third is
inference's own wall time at the replay's threads and batch. Each is a time the replay
cannot beat, so the largest is too and the floor is an upper bound of its images/s.
`replay ÷ floor` then says how much the pipeline's own work (demuxing, tracking,
zones, Python, hand-offs) costs on top.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from lookout.bench.floor import Convert
from lookout.streams.file_reader import decode_threads_beside
from lookout.streams.picture import picture_of


@dataclass(frozen=True, slots=True)
class ReplayFloor:
    """The parts of a replay's floor (CPU seconds) and its images/s."""

    images: int
    frames_decoded: int
    decode_s: float
    convert_s: float
    infer_s: float
    bare_ort_images_per_s: float
    cores: int
    decode_threads: int = 1

    @property
    def seconds(self) -> float:
        total = (self.decode_s + self.convert_s + self.infer_s) / max(1, self.cores)
        inference_wall = self.images / self.bare_ort_images_per_s
        decoding = self.decode_s / max(1, min(self.decode_threads, self.cores))
        return max(total, decoding, inference_wall)

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def row(self, replay_images_per_s: float) -> dict[str, Any]:
        return {
            "floor_images_per_s": round(self.images_per_s, 2),
            "ratio_to_floor": round(replay_images_per_s / self.images_per_s, 3),
            "images": self.images,
            "frames_decoded": self.frames_decoded,
            "decode_s": round(self.decode_s, 3),
            "convert_s": round(self.convert_s, 3),
            "infer_s": round(self.infer_s, 3),
            "cores": self.cores,
            "decode_threads": self.decode_threads,
        }


def decode_and_convert(
    clip: Path, every: int, convert: Convert, threads: int = 1
) -> tuple[int, float, float]:
    """(frames decoded, CPU seconds of decoding them all with `threads` decoder threads
    (0: FFmpeg's choice) as the replay's reader does (lookout/streams/file_reader.py),
    CPU seconds of converting every `every`-th one to the model's input)."""
    decode = converted = 0.0
    n = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.thread_count = threads
        for packet in container.demux(stream):  # the last one flushes the decoder
            t0 = time.process_time()
            pictures = packet.decode()
            decode += time.process_time() - t0
            for vf in pictures:
                if n % every == 0:
                    t1 = time.process_time()
                    convert(picture_of(vf))
                    converted += time.process_time() - t1
                n += 1
    return n, decode, converted


def replay_floor(
    clip: Path,
    images: int,
    images_per_frame: float,
    convert: Convert,
    infer_s_per_image: float,
    bare_ort_images_per_s: float,
    ort_threads: int,
    cores: int | None = None,
) -> ReplayFloor:
    """The floor of a replay of `clip` that ran `images` detector images at
    `images_per_frame` per analysed frame; the inference parts come from
    `lookout.bench.floor.infer_cost` at the replay's threads (`ort_threads`) and batch,
    the decoder gets the threads the replay's reader gives it beside them."""
    frames = images / max(images_per_frame, 1e-9)
    with av.open(str(clip)) as container:
        total = container.streams.video[0].frames or 0
    every = max(1, round(total / frames)) if total and frames else 1
    threads = decode_threads_beside(ort_threads)  # 0: FFmpeg's choice, every core
    decoded, decode_s, convert_s = decode_and_convert(clip, every, convert, threads)
    analysed = len(range(0, decoded, every))
    convert_s *= frames / max(1, analysed)  # as many conversions as the replay made
    return ReplayFloor(
        images=images,
        frames_decoded=decoded,
        decode_s=decode_s,
        convert_s=convert_s,
        infer_s=infer_s_per_image * images,
        bare_ort_images_per_s=bare_ort_images_per_s,
        cores=cores or os.cpu_count() or 1,
        decode_threads=threads or cores or os.cpu_count() or 1,
    )


def against_floor(runs: Sequence[tuple[float, ReplayFloor]]) -> dict[str, Any]:
    """The replay ÷ its floor over alternating runs of (replay images/s, the floor measured
    just before it): the median ratio, every run's ratio in run order, and the parts of
    the median run."""
    if not runs:
        raise ValueError("no replay run")
    ratios = [ips / f.images_per_s if f.images_per_s > 0 else 0.0 for ips, f in runs]
    middle = sorted(range(len(runs)), key=lambda i: ratios[i])[(len(runs) - 1) // 2]
    ips, floor = runs[middle]
    return {
        **floor.row(ips),
        "replay_images_per_s": round(ips, 2),
        "ratio_to_floor": round(statistics.median(ratios), 3),
        "ratio_to_floor_runs": [round(r, 3) for r in ratios],
    }


def alternate(
    replay: Callable[[], tuple[int, float]],
    floor: Callable[[int], ReplayFloor],
    runs: int = 3,
) -> dict[str, Any]:
    """`runs` times: a replay (`replay()` gives its detector images and wall seconds),
    then its floor for those images (`floor(images)`, each part alone); `against_floor`
    of them. Alternating keeps a machine whose speed drifts comparing like with like."""
    pairs = []
    for _ in range(max(1, runs)):
        images, seconds = replay()
        pairs.append((images / seconds if seconds > 0 else 0.0, floor(images)))
    return against_floor(pairs)
