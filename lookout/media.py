"""H.264 test clips made with PyAV, for benchmarks and tests.

`make_h264_mp4` re-encodes footage with libx264 (no B-frames, fixed GOP, yuv420p, one
slice per frame) into an MP4 that streams without re-encoding (GStreamer's
`qtdemux ! h264parse ! rtph264pay`) and decodes like a camera's stream.
`cached_h264_mp4` (and `vtest_h264`, `make_1080p25`) cache the result by the
source's SHA-256 and the encoding parameters under `$LOOKOUT_CACHE/media` (else
`~/.cache/lookout/media`) or a folder the caller names.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
from av.video.frame import PictureType

from lookout.assets import assets_dir, cache_dir

# Bump when the encoding recipe changes so stale cache entries are not reused.
_RECIPE = 3


def media_cache_dir() -> Path:
    """`$LOOKOUT_CACHE/media`, else `~/.cache/lookout/media` (read at call time)."""
    return cache_dir() / "media"


def vtest_avi() -> Path:
    """The shared `footage/vtest.avi` (768x576, 10 fps, 795 frames, MS-MPEG4)."""
    return assets_dir() / "footage" / "vtest.avi"


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def _sha256(path: Path) -> str:
    st = path.stat()
    memo_key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo_key not in _SHA_MEMO:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _SHA_MEMO[memo_key] = digest.hexdigest()
    return _SHA_MEMO[memo_key]


def make_h264_mp4(
    src: Path,
    dst: Path,
    *,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    gop_s: float = 1.0,
    seconds: float | None = None,
    preset: str = "ultrafast",
) -> Path:
    """Re-encode `src` (any format PyAV reads) to an H.264 MP4 at `dst`.

    Size defaults to the source's; `fps` defaults to the source's rate (frames are
    repeated or dropped to reach another rate); `seconds` cuts the clip. Every
    `fps * gop_s` frames is an IDR keyframe (no scene-cut or forced keyframes), no
    B-frames, yuv420p, one slice per frame, main profile (`ultrafast` has no CABAC,
    so x264 signals it as Constrained Baseline), `moov` atom first. Written
    atomically; returns `dst`. About 3.5 s for vtest.avi (79.5 s) on 2 cores.
    """
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")
    try:
        with av.open(str(src)) as inp:
            vin = inp.streams.video[0]
            vin.thread_type = "AUTO"
            src_rate = vin.average_rate or vin.guessed_rate or Fraction(25)
            rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(src_rate)
            out_w = width or vin.codec_context.width
            out_h = height or vin.codec_context.height
            keyint = max(1, round(float(rate) * gop_s))
            limit = None if seconds is None else round(seconds * float(rate))
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                vout = out.add_stream("libx264", rate=rate)
                vout.width = out_w
                vout.height = out_h
                vout.pix_fmt = "yuv420p"
                vout.codec_context.gop_size = keyint
                vout.codec_context.max_b_frames = 0
                # Frame threads: one slice per frame (slice threads would split each
                # frame into one slice per thread, like few real cameras do).
                vout.codec_context.thread_type = "FRAME"
                vout.options = {
                    "preset": preset,
                    "profile": "main",
                    "g": str(keyint),
                    "keyint_min": str(keyint),
                    "bf": "0",
                    "sc_threshold": "0",
                    "x264-params": f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0",
                }
                written = 0
                for frame in _resampled(inp.decode(vin), rate, src_rate):
                    if limit is not None and written >= limit:
                        break
                    img = frame.reformat(width=out_w, height=out_h, format="yuv420p")
                    img.pts = written
                    # The source's own I-frames would force extra x264 keyframes.
                    img.pict_type = PictureType.NONE
                    img.time_base = 1 / rate
                    out.mux(vout.encode(img))
                    written += 1
                if written == 0:
                    raise RuntimeError(f"{src}: no video frames decoded")
                out.mux(vout.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def cached_h264_mp4(
    src: Path,
    name: str,
    *,
    cache: Path | None = None,
    width: int | None = None,
    height: int | None = None,
    fps: float | None = None,
    gop_s: float = 1.0,
    seconds: float | None = None,
    preset: str = "ultrafast",
) -> Path:
    """`make_h264_mp4` into `cache` (default `media_cache_dir()`) as `NAME-KEY.mp4`,
    KEY hashing the source's SHA-256 and every encoding parameter; an existing file
    is reused. Safe against concurrent sessions (written to a temp file, renamed)."""
    params = {
        "recipe": _RECIPE,
        "src_sha256": _sha256(src),
        "width": width,
        "height": height,
        "fps": fps,
        "gop_s": gop_s,
        "seconds": seconds,
        "preset": preset,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    dst = (cache or media_cache_dir()) / f"{name}-{key}.mp4"
    if dst.is_file():
        return dst
    return make_h264_mp4(
        src,
        dst,
        width=width,
        height=height,
        fps=fps,
        gop_s=gop_s,
        seconds=seconds,
        preset=preset,
    )


def vtest_h264(cache: Path | None = None, *, seconds: float | None = None) -> Path:
    """`vtest.avi` as H.264 MP4 at its native 768x576, 10 fps, 1 s GOP (795 frames,
    79.5 s; `seconds` cuts it). Cached; about 3.5 s to make on 2 cores."""
    name = "vtest_h264" if seconds is None else f"vtest_h264_{seconds:g}s"
    return cached_h264_mp4(vtest_avi(), name, cache=cache, gop_s=1.0, seconds=seconds)


def make_1080p25(
    cache: Path | None = None,
    *,
    src: Path | None = None,
    seconds: float | None = None,
    preset: str = "veryfast",
) -> Path:
    """A 1920x1080, 25 fps, 1 s GOP H.264 MP4 for benchmarks: `src` (default
    `vtest.avi`, stretched from 4:3 and with frames repeated from 10 fps) upscaled.
    `veryfast` (CABAC, like a camera's main-profile stream) unless told otherwise.
    Cached; the full 79.5 s vtest takes a while to make the first time."""
    return cached_h264_mp4(
        src or vtest_avi(),
        "vtest_1080p25",
        cache=cache,
        width=1920,
        height=1080,
        fps=25.0,
        gop_s=1.0,
        seconds=seconds,
        preset=preset,
    )


def _resampled(
    frames: Iterator[av.VideoFrame], rate: Fraction, src_rate: Fraction
) -> Iterator[av.VideoFrame]:
    """Frames at `rate`: each output slot i (at i / rate seconds from the first frame)
    gets the source frame shown then (timing from pts, else index / src_rate)."""
    step = 1 / float(src_rate)
    out_i = 0
    t0: float | None = None
    for src_i, frame in enumerate(frames):
        t = frame.time if frame.time is not None else src_i * step
        if t0 is None:
            t0 = t
        while out_i / float(rate) < t - t0 + step - 1e-9:
            yield frame
            out_i += 1
