"""Test clips made with PyAV, shaped like what cameras send, for benchmarks and tests.

`make_h264_mp4` re-encodes footage into an MP4 that streams without re-encoding
(GStreamer's `qtdemux ! h264parse ! rtph264pay`, or `h265parse ! rtph265pay`) and
decodes like a camera's stream. By default: H.264 (libx264), no B-frames, fixed GOP,
yuv420p, one slice per picture, no audio. Options give the other shapes real cameras
send: H.265 (`codec="hevc"`, libx265, tagged `hvc1`), several slices per picture
(`slices`), irregular I-frame intervals (`keyframes_at`) and an AAC audio track
(`audio="aac"`). `cached_h264_mp4` (and `vtest_h264`, `vtest_clip`, `make_1080p25`)
cache the result by the source's SHA-256 and the encoding parameters under
`$LOOKOUT_CACHE/media` (else `~/.cache/lookout/media`) or a folder the caller names.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np
from av.video.frame import PictureType

from lookout.base.paths import assets_dir, cache_dir

# Bump when the encoding recipe changes so stale cache entries are not reused.
_RECIPE = 3

Codec = Literal["h264", "hevc"]
AudioCodec = Literal["aac"]
CODECS: tuple[str, ...] = ("h264", "hevc")
AUDIO_CODECS: tuple[str, ...] = ("aac",)
# The audio track of `audio="aac"`: mono AAC-LC, a quiet 440 Hz tone (-30 dBFS).
AUDIO_RATE = 16000
AUDIO_TONE_HZ = 440.0
AUDIO_AMPLITUDE = 10 ** (-30 / 20)
_AUDIO_FRAME = 1024  # samples per AAC frame
# keyint with `keyframes_at`: no keyframe but the forced ones (x264/x265 "infinite").
_NO_KEYINT = 1 << 20


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
    codec: Codec = "h264",
    slices: int = 1,
    keyframes_at: Sequence[float] | None = None,
    audio: AudioCodec | None = None,
) -> Path:
    """Re-encode `src` (any format PyAV reads) to an H.264 (or H.265) MP4 at `dst`.

    Size defaults to the source's; `fps` defaults to the source's rate (frames are
    repeated or dropped to reach another rate); `seconds` cuts the clip. Every
    `fps * gop_s` frames is an IDR keyframe (no scene-cut or forced keyframes), no
    B-frames, yuv420p, main profile (`ultrafast` has no CABAC, so x264 signals it as
    Constrained Baseline), `moov` atom first. Written atomically; returns `dst`.
    About 3.5 s for vtest.avi (79.5 s) on 2 cores (H.265: 6 s, 15 s under load).

    - `codec="hevc"`: libx265 (main profile, closed GOP, IDR keyframes), sample entry
      `hvc1` (parameter sets in the `hvcC` box only), read by FFmpeg and by
      GStreamer's `qtdemux ! h265parse`.
    - `slices`: slices per picture (x264 / x265 `slices=N`, rows split evenly).
    - `keyframes_at`: the times (s) of the only IDR keyframes, instead of a fixed
      GOP: each is rounded to the nearest frame (the first frame is always one;
      times past the end are ignored). `gop_s` is then unused.
    - `audio="aac"`: adds a mono AAC-LC track (16 kHz, a quiet 440 Hz tone) as long
      as the video, interleaved with it.
    """
    if codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    if audio is not None and audio not in AUDIO_CODECS:
        raise ValueError(f"audio must be None or one of {AUDIO_CODECS}, got {audio!r}")
    if slices < 1:
        raise ValueError(f"slices must be >= 1, got {slices}")
    if keyframes_at is not None and any(not t >= 0 for t in keyframes_at):
        raise ValueError(f"keyframes_at wants times >= 0 s, got {list(keyframes_at)}")
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
            if keyframes_at is None:
                keyint = max(1, round(float(rate) * gop_s))
                forced: set[int] = set()
            else:
                keyint = _NO_KEYINT
                forced = {0} | {round(t * float(rate)) for t in keyframes_at}
            limit = None if seconds is None else round(seconds * float(rate))
            with av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                vout = out.add_stream("libx265" if codec == "hevc" else "libx264", rate=rate)
                vout.width = out_w
                vout.height = out_h
                vout.pix_fmt = "yuv420p"
                vout.codec_context.gop_size = keyint
                vout.codec_context.max_b_frames = 0
                # Frame threads: one slice per frame unless told (slice threads would
                # split each frame into one slice per thread).
                vout.codec_context.thread_type = "FRAME"
                vout.options = _video_options(codec, preset, keyint, slices, bool(forced))
                if codec == "hevc":
                    vout.codec_context.codec_tag = "hvc1"
                tone = None if audio is None else _Tone(out)
                written = 0
                for frame in _resampled(inp.decode(vin), rate, src_rate):
                    if limit is not None and written >= limit:
                        break
                    img = frame.reformat(width=out_w, height=out_h, format="yuv420p")
                    img.pts = written
                    # The source's own I-frames would force extra keyframes.
                    img.pict_type = PictureType.I if written in forced else PictureType.NONE
                    img.time_base = 1 / rate
                    out.mux(vout.encode(img))
                    written += 1
                    if tone is not None:
                        tone.fill(Fraction(written) / rate, last=False)
                if written == 0:
                    raise RuntimeError(f"{src}: no video frames decoded")
                out.mux(vout.encode(None))
                if tone is not None:
                    tone.fill(Fraction(written) / rate, last=True)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


def _video_options(
    codec: Codec, preset: str, keyint: int, slices: int, forced: bool
) -> dict[str, Any]:
    """Encoder options: a fixed GOP of `keyint` frames, no scene-cut keyframes, no
    B-frames; `forced`: frames flagged I become IDR (FFmpeg's `forced-idr`)."""
    if codec == "hevc":
        params = (
            f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:open-gop=0"
            f":slices={slices}:log-level=error"
        )
        return {"preset": preset, "profile": "main", "forced-idr": "1", "x265-params": params}
    params = f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0"
    if slices > 1:
        params += f":slices={slices}"
    options: dict[str, Any] = {
        "preset": preset,
        "profile": "main",
        "g": str(keyint),
        "keyint_min": str(keyint),
        "bf": "0",
        "sc_threshold": "0",
        "x264-params": params,
    }
    if forced:
        options["forced-idr"] = "1"
    return options


class _Tone:
    """The audio track of `audio="aac"`: a mono AAC stream of `out`, fed a quiet
    sine wave in whole AAC frames up to a given time (`fill`), so that the muxer
    interleaves it with the video."""

    def __init__(self, out: Any) -> None:
        self.stream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        self.stream.codec_context.bit_rate = 32000
        self.out = out
        self.samples = 0  # samples encoded so far

    def fill(self, until_s: Fraction, *, last: bool) -> None:
        """Encode the tone up to `until_s` (whole frames; `last`: to the sample, and
        flush the encoder)."""
        target = math.floor(until_s * AUDIO_RATE)
        while target - self.samples >= _AUDIO_FRAME or (last and target > self.samples):
            n = min(_AUDIO_FRAME, target - self.samples)
            t = (self.samples + np.arange(n)) / AUDIO_RATE
            wave = AUDIO_AMPLITUDE * np.sin(2 * np.pi * AUDIO_TONE_HZ * t)
            frame = av.AudioFrame.from_ndarray(
                wave.astype(np.float32).reshape(1, n), format="fltp", layout="mono"
            )
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.samples
            frame.time_base = Fraction(1, AUDIO_RATE)
            self.out.mux(self.stream.encode(frame))
            self.samples += n
        if last:
            self.out.mux(self.stream.encode(None))


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
    codec: Codec = "h264",
    slices: int = 1,
    keyframes_at: Sequence[float] | None = None,
    audio: AudioCodec | None = None,
) -> Path:
    """`make_h264_mp4` into `cache` (default `media_cache_dir()`) as `NAME-KEY.mp4`,
    KEY hashing the source's SHA-256 and every encoding parameter; an existing file
    is reused. Safe against concurrent sessions (written to a temp file, renamed)."""
    params: dict[str, Any] = {
        "recipe": _RECIPE,
        "src_sha256": _sha256(src),
        "width": width,
        "height": height,
        "fps": fps,
        "gop_s": gop_s,
        "seconds": seconds,
        "preset": preset,
    }
    # The newer options join the key only when set, so the default clips keep theirs.
    extra: dict[str, Any] = {
        "codec": codec if codec != "h264" else None,
        "slices": slices if slices != 1 else None,
        "keyframes_at": None if keyframes_at is None else [float(t) for t in keyframes_at],
        "audio": audio,
    }
    params.update({k: v for k, v in extra.items() if v is not None})
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
        codec=codec,
        slices=slices,
        keyframes_at=keyframes_at,
        audio=audio,
    )


def vtest_h264(cache: Path | None = None, *, seconds: float | None = None) -> Path:
    """`vtest.avi` as H.264 MP4 at its native 768x576, 10 fps, 1 s GOP (795 frames,
    79.5 s; `seconds` cuts it). Cached; about 3.5 s to make on 2 cores."""
    name = "vtest_h264" if seconds is None else f"vtest_h264_{seconds:g}s"
    return cached_h264_mp4(vtest_avi(), name, cache=cache, gop_s=1.0, seconds=seconds)


def vtest_clip(
    *,
    seconds: float | None = None,
    codec: Codec = "h264",
    slices: int = 1,
    gop_s: float = 1.0,
    keyframes_at: Sequence[float] | None = None,
    audio: AudioCodec | None = None,
    cache: Path | None = None,
) -> Path:
    """`vtest.avi` at its native 768x576, 10 fps in any shape `make_h264_mp4` makes
    (79.5 s unless `seconds` cuts it). Cached, named after its shape, e.g.
    `vtest_hevc_s4_aac_3s-KEY.mp4`; with every default it is `vtest_h264()`."""
    parts = [f"vtest_{codec}"]
    if slices != 1:
        parts.append(f"s{slices}")
    if keyframes_at is not None:
        parts.append("kf" + hashlib.sha256(repr(list(keyframes_at)).encode()).hexdigest()[:6])
    elif gop_s != 1.0:
        parts.append(f"gop{gop_s:g}")
    if audio is not None:
        parts.append(audio)
    if seconds is not None:
        parts.append(f"{seconds:g}s")
    return cached_h264_mp4(
        vtest_avi(),
        "_".join(parts),
        cache=cache,
        gop_s=gop_s,
        seconds=seconds,
        codec=codec,
        slices=slices,
        keyframes_at=keyframes_at,
        audio=audio,
    )


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
