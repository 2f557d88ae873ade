"""Clips of the live faults cameras send (issue 15), for tests/integration/test_live_faults.py.

- `smart_fps_clip`: vtest.avi as H.264 whose frame rate drops when "nothing moves",
  as cameras with a smart codec / smart FPS send it: segments of `(seconds, fps)`,
  frame times taken from the segments (variable frame timing in the MP4's `stts`), IDR
  keyframes only where listed (the GOP stretches in the slow segments too).
- `garbage_clip`: a valid H.264 clip whose pictures between two times carry random
  slice data (NAL unit headers kept, so the stream still parses and is sent): a camera
  whose encoder starts sending garbage in the middle of a valid session, then recovers.

Both are cached by their parameters under `media_cache_dir()` (like `lookout.clips.media`),
written to a temp file and renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from lookout.clips.media import media_cache_dir, vtest_avi

#: Time base of the variable-rate clips' frame times (ms).
_TB = Fraction(1, 1000)


def _cached(name: str, params: dict[str, object], cache: Path | None) -> tuple[Path, Path]:
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    dst = (cache or media_cache_dir()) / f"{name}-{key}.mp4"
    dst.parent.mkdir(parents=True, exist_ok=True)
    return dst, dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")


def frame_times(segments: Sequence[tuple[float, float]]) -> list[float]:
    """Frame times (s) of consecutive `(seconds, fps)` segments."""
    times: list[float] = []
    start = 0.0
    for seconds, fps in segments:
        n = round(seconds * fps)
        times += [start + i / fps for i in range(n)]
        start += seconds
    return times


def smart_fps_clip(
    segments: Sequence[tuple[float, float]],
    keyframes_at: Sequence[float],
    *,
    cache: Path | None = None,
) -> Path:
    """vtest.avi (768x576) re-encoded to H.264 with the frame timing of `segments`,
    e.g. `[(4, 25), (12, 1), (4, 25)]`: 4 s at 25 fps, 12 s at 1 fps, 4 s at 25 fps.
    Each frame shows the source picture of its time (vtest is 10 fps); IDR keyframes
    at the frames nearest `keyframes_at` only; no B-frames; 1 ms time base."""
    params = {"v": 1, "segments": [list(s) for s in segments], "kf": list(keyframes_at)}
    dst, tmp = _cached("smart_fps", params, cache)
    if dst.is_file():
        return dst
    times = frame_times(segments)
    forced = {min(range(len(times)), key=lambda i: abs(times[i] - k)) for k in keyframes_at}
    forced.add(0)
    try:
        with av.open(str(vtest_avi())) as inp:
            src = [f.to_ndarray(format="yuv420p") for f in inp.decode(video=0)]
        with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
            stream = out.add_stream("libx264", rate=25)
            stream.width, stream.height = 768, 576
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = _TB
            stream.time_base = _TB
            stream.codec_context.max_b_frames = 0
            stream.options = {
                "preset": "ultrafast",
                "forced-idr": "1",
                "x264-params": "keyint=100000:min-keyint=100000:scenecut=0:bframes=0",
            }
            for i, t in enumerate(times):
                img = av.VideoFrame.from_ndarray(src[min(len(src) - 1, int(t * 10))], "yuv420p")
                img.pts = round(t / _TB)
                img.time_base = _TB
                img.pict_type = PictureType.I if i in forced else PictureType.NONE
                out.mux(stream.encode(img))
            out.mux(stream.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def garbage_clip(
    src: Path, bad_from_s: float, bad_to_s: float, *, seed: int = 15, cache: Path | None = None
) -> Path:
    """`src` (an H.264 MP4 from `lookout.clips.media`) remuxed with the slice data of every
    picture in [bad_from_s, bad_to_s) replaced by random bytes: each NAL unit keeps its
    length and its first two bytes (the NAL header and the start of the slice header),
    the rest is noise. Parameter sets and every other picture are untouched."""
    params = {"v": 1, "src": src.name, "from": bad_from_s, "to": bad_to_s, "seed": seed}
    dst, tmp = _cached("garbage", params, cache)
    if dst.is_file():
        return dst
    rng = random.Random(seed)
    try:
        with (
            av.open(str(src)) as inp,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            vin = inp.streams.video[0]
            vout = out.add_stream_from_template(vin)
            tb = vin.time_base or Fraction(1, 90000)
            for packet in inp.demux(vin):
                if packet.size == 0 or packet.pts is None:
                    continue
                t = float(packet.pts * tb)
                data = bytes(packet)
                if bad_from_s <= t < bad_to_s:
                    data = _scramble(data, rng)
                new = av.Packet(data)
                new.pts, new.dts = packet.pts, packet.dts
                new.duration = packet.duration
                new.time_base = packet.time_base
                new.is_keyframe = packet.is_keyframe
                new.stream = vout
                out.mux(new)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _scramble(sample: bytes, rng: random.Random) -> bytes:
    """Random payload in every NAL unit of a length-prefixed (4-byte) sample."""
    out = bytearray()
    pos = 0
    while pos + 4 <= len(sample):
        n = int.from_bytes(sample[pos : pos + 4], "big")
        unit = sample[pos + 4 : pos + 4 + n]
        if (unit[0] & 0x1F) in (1, 5) and n > 2:  # slices: keep the header, noise after
            unit = unit[:2] + rng.randbytes(n - 2)
        out += sample[pos : pos + 4] + unit
        pos += 4 + n
    return bytes(out)
