"""The replay's floor (benchmarks/README.md, "Replay floor"): the images/s a replay of a
file could reach if decoding, conversion and inference were all there was.

Bare ONNX Runtime is not the replay's ceiling: a replay at 2 analysed frames/s of a
10 fps file decodes every frame, which bare inference never pays. So, each part
measured alone as CPU time of this process, in the same run as the replay:

    decode   = CPU to decode every frame of the file (the replay decodes them all)
    convert  = CPU to make the model's input of each analysed frame from its picture
    infer    = CPU of bare inference per image × images the replay ran
    floor    = images ÷ max((decode + convert + infer) ÷ cores,
                            decode,                  # one decoding thread
                            images ÷ bare ORT images/s)

The first term spreads all the work over the cores; the second is the decoder's one
thread; the third is inference's own wall time at the replay's threads and batch.
`replay ÷ floor` then says how much the pipeline's own work (demuxing, tracking,
zones, Python, hand-offs) costs on top.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from lookout.bench.floor import Convert
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

    @property
    def seconds(self) -> float:
        total = (self.decode_s + self.convert_s + self.infer_s) / max(1, self.cores)
        inference_wall = self.images / self.bare_ort_images_per_s
        return max(total, self.decode_s, inference_wall)

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
        }


def decode_and_convert(clip: Path, every: int, convert: Convert) -> tuple[int, float, float]:
    """(frames decoded, CPU seconds of decoding them all single-threaded, CPU seconds of
    converting every `every`-th one to the model's input)."""
    decode = converted = 0.0
    n = 0
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        stream.thread_count = 1
        for packet in container.demux(stream):
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
    cores: int | None = None,
) -> ReplayFloor:
    """The floor of a replay of `clip` that ran `images` detector images at
    `images_per_frame` per analysed frame; the inference parts come from
    `lookout.bench.floor.infer_cost` at the replay's threads and batch."""
    frames = images / max(images_per_frame, 1e-9)
    with av.open(str(clip)) as container:
        total = container.streams.video[0].frames or 0
    every = max(1, round(total / frames)) if total and frames else 1
    decoded, decode_s, convert_s = decode_and_convert(clip, every, convert)
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
    )
