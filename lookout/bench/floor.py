"""`cameras_floor` (benchmarks/README.md): how many cameras the cores could hold if decoding,
conversion and inference were all there was.

    floor = cores ÷ (decode of one keyframe + conversion to the model's input
                     + images per camera-frame × bare inference of one image)

Each part is measured alone, in the same run as the pipeline it is compared with, as
CPU time of this process (`time.process_time`): a core-second is what the cores have
to give, and CPU time counts every ONNX Runtime intra-op thread (2 threads that each
spend 20 ms on an image cost 40 ms, not the 20 ms of wall time) while staying close
to the truth on a machine others are loading. Decoding is single-threaded with the
reader's own options (keyframes mode: `thread_count = 1`, deblocking skipped or not),
so its CPU time is the decoder's. The conversion is the cheapest that yields what the
model is given from the decoded picture: the picture's planes resized to the
letterbox (whole mode) or to each crop's model size (regions mode) and only those
pixels converted to BGR (docs/ARCHITECTURE.md "Pictures"); the whole-frame BGR
conversion the readers made before is measured beside it (`convert_before_ms`).
Images per camera-frame: 1 in whole mode, the region
plan's crops (plus the full-frame pass, if any) in regions mode. The floor ignores
demuxing, letterboxing, decoding boxes, tracking, zones and Python, so a pipeline
reaches it only as those shrink (benchmarks/README.md).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from lookout.detector.onnx_model import OnnxDetector
from lookout.detector.preprocess import Image, Placement, letterbox_batch, letterbox_geometry
from lookout.detector.regions import Crop
from lookout.streams.picture import Picture, picture_of


def model_batch(detector: OnnxDetector, images: Sequence[Image], batch: int) -> np.ndarray:
    """A model input of `batch` items: `images` (repeated as needed) letterboxed once,
    as the pipeline does — what bare ONNX Runtime is timed on."""
    m = detector.manifest
    frames = [images[i % len(images)] for i in range(batch)]
    buf = np.empty((batch, 3, m.input_height, m.input_width), np.float32)
    letterbox_batch(
        frames,
        buf,
        placement=m.letterbox,
        color_order=m.color_order,
        scale=m.scale,
        pad_value=m.pad_value,
    )
    return buf


def cameras_floor(
    cores: float,
    decode_s: float,
    convert_s: float,
    infer_s_per_image: float,
    images_per_frame: float,
) -> float:
    """Cameras at 1 analysed frame/s that `cores` could hold: cores ÷ the core-seconds
    one camera-frame costs (all arguments in CPU seconds per keyframe / image)."""
    per_frame = decode_s + convert_s + images_per_frame * infer_s_per_image
    if cores <= 0 or per_frame <= 0:
        raise ValueError("cores and the cost of a camera-frame must be positive")
    return cores / per_frame


@dataclass(frozen=True, slots=True)
class Floor:
    """The parts of one mode's floor (CPU seconds) and the settings they were measured at."""

    mode: str
    cores: int
    decode_s: float
    convert_s: float
    infer_s_per_image: float
    images_per_frame: float
    input_size: int
    threads: int
    batch: int
    bare_ort_images_per_s: float  # wall-clock rate of the same inference loop
    #: The floors of the measurements this one is the mean of (`Floor.mean`).
    each: tuple[float, ...] = ()
    #: CPU seconds of the whole-frame BGR conversion the readers made before issue 28.
    convert_before_s: float = 0.0

    @classmethod
    def mean(cls, floors: Sequence[Floor]) -> Floor:
        """The parts averaged over measurements of one mode taken before and after its
        scale search: this machine's speed drifts by up to 20% within minutes, so a
        floor measured at one end of a search would compare with the other end."""
        n = len(floors)
        first = floors[0]
        return cls(
            mode=first.mode,
            cores=first.cores,
            decode_s=sum(f.decode_s for f in floors) / n,
            convert_s=sum(f.convert_s for f in floors) / n,
            infer_s_per_image=sum(f.infer_s_per_image for f in floors) / n,
            images_per_frame=first.images_per_frame,
            input_size=first.input_size,
            threads=first.threads,
            batch=first.batch,
            bare_ort_images_per_s=sum(f.bare_ort_images_per_s for f in floors) / n,
            each=tuple(round(f.cameras, 1) for f in floors),
            convert_before_s=sum(f.convert_before_s for f in floors) / n,
        )

    @property
    def cameras(self) -> float:
        return cameras_floor(
            self.cores, self.decode_s, self.convert_s, self.infer_s_per_image, self.images_per_frame
        )

    def row(self) -> dict[str, Any]:
        """The floor and its parts (milliseconds of CPU), for bench.json."""
        return {
            "mode": self.mode,
            "cores": self.cores,
            "cameras_floor": round(self.cameras, 1),
            "decode_ms": round(1000 * self.decode_s, 2),
            "convert_ms": round(1000 * self.convert_s, 2),
            "convert_before_ms": round(1000 * self.convert_before_s, 2),
            "infer_ms_per_image": round(1000 * self.infer_s_per_image, 2),
            "images_per_frame": self.images_per_frame,
            "frame_ms": round(
                1000
                * (self.decode_s + self.convert_s + self.images_per_frame * self.infer_s_per_image),
                2,
            ),
            "input_size": self.input_size,
            "threads": self.threads,
            "batch": self.batch,
            "bare_ort_images_per_s": round(self.bare_ort_images_per_s, 2),
            "cameras_floor_each": list(self.each),
        }


class OtherLoad:
    """CPU the rest of the machine used while a measurement ran, in cores (from
    /proc/stat minus this process): a shared machine's other work slows a run, and a
    figure measured under it is flagged by this number rather than trusted."""

    def __init__(self) -> None:
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as fh:
                fields = [int(v) for v in fh.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)
        own = os.times()
        return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic()

    def cores(self) -> float | None:
        """Average cores used by other processes since construction (None: unknown)."""
        end = self._sample()
        if self._start is None or end is None or end[2] <= self._start[2]:
            return None
        other = (end[0] - self._start[0]) - (end[1] - self._start[1])
        return round(max(0.0, other) / (end[2] - self._start[2]), 2)


#: What the conversion part converts: the model's input from a decoded picture.
Convert = Callable[[Picture], object]


def whole_input(width: int, height: int, placement: Placement = "center") -> Convert:
    """The conversion of whole mode: the letterbox of the frame at the model's size."""

    def convert(picture: Picture) -> object:
        new_w, new_h, _ = letterbox_geometry(
            picture.width, picture.height, width, height, placement
        )
        return picture.bgr(size=(new_w, new_h))

    return convert


def crops_input(crops: Sequence[Crop], size: int) -> Convert:
    """The conversion of regions mode: each crop at its model size."""

    def convert(picture: Picture) -> object:
        out = []
        for c in crops:
            new_w, new_h, _ = letterbox_geometry(c.width, c.height, size, size, "center")
            out.append(picture.bgr((c.x, c.y, c.width, c.height), (new_w, new_h)))
        return out

    return convert


def keyframe_cost(
    clip: Path,
    *,
    skip_loop_filter: bool,
    convert: Convert | None = None,
    keyframes: int = 20,
    warmup: int = 2,
) -> tuple[float, float, float]:
    """CPU seconds to decode one keyframe of `clip`, to make the model's input from it
    (`convert` of the reader's picture, lookout/streams/picture.py `picture_of`; default
    the whole frame) and, for comparison, to convert it whole to BGR as the readers did
    before, each timed alone: keyframe packets only, decoded single-threaded as in
    keyframes mode, the clip looped until `keyframes` pictures came out after `warmup`
    uncounted ones (the first conversions also pay for fresh memory pages)."""
    convert = convert or (lambda picture: picture.bgr())
    decode = converted = before_s = 0.0
    done = -warmup
    while done < keyframes:
        before = done
        with av.open(str(clip)) as container:
            stream = container.streams.video[0]
            stream.thread_count = 1
            if skip_loop_filter:
                stream.codec_context.options = {"skip_loop_filter": "all"}
            ctx = stream.codec_context
            packets = (p for p in container.demux(stream) if p.is_keyframe and p.size)
            for packet in packets:
                t0 = time.process_time()
                pictures = ctx.decode(packet)
                took = time.process_time() - t0
                for vf in pictures:
                    t1 = time.process_time()
                    convert(picture_of(vf))
                    t2 = time.process_time()
                    vf.to_ndarray(format="bgr24")
                    if done >= 0:
                        decode += took / len(pictures)
                        converted += t2 - t1
                        before_s += time.process_time() - t2
                    done += 1
                if done >= keyframes:
                    break
        if done == before:
            raise RuntimeError(f"{clip}: no keyframe decoded")
    return decode / done, converted / done, before_s / done


def infer_cost(
    detector: OnnxDetector, images: Sequence[Image], batch: int, seconds: float
) -> tuple[float, float]:
    """(CPU seconds per image, wall images/s) of `infer_raw` alone on a batch of
    `images` letterboxed once (at least 3 calls, then for `seconds`)."""
    buf = model_batch(detector, images, batch)
    detector.infer_raw(buf)
    calls = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        detector.infer_raw(buf)
        calls += 1
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return cpu / (calls * batch), calls * batch / wall


def measure_floor(
    mode: str,
    clip: Path,
    detector: OnnxDetector,
    images: Sequence[Image],
    *,
    images_per_frame: float,
    batch: int,
    threads: int,
    skip_loop_filter: bool,
    convert: Convert | None = None,
    seconds: float = 3.0,
    cores: int | None = None,
) -> Floor:
    """One mode's floor: keyframes of the camera stream `clip`, inference on `images`
    (whole frames or crops) with `detector` at `batch`; `cores` default
    `os.cpu_count()`."""
    decode_s, convert_s, convert_before_s = keyframe_cost(
        clip, skip_loop_filter=skip_loop_filter, convert=convert
    )
    infer_s, ips = infer_cost(detector, images, batch, seconds)
    return Floor(
        mode=mode,
        cores=cores or os.cpu_count() or 1,
        decode_s=decode_s,
        convert_s=convert_s,
        infer_s_per_image=infer_s,
        images_per_frame=images_per_frame,
        input_size=detector.crop_size,
        threads=threads,
        batch=batch,
        bare_ort_images_per_s=ips,
        convert_before_s=convert_before_s,
    )
