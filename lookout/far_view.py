"""Far-view test clips: vtest.avi scaled and tiled into a tower camera's wide frame.

A rooftop camera sees a whole district; a car is 20-80 px wide in 1080p-4K. These
clips put vtest's scene (van ≈ 72 px wide at scale 1.0) into a `width` x `height`
canvas as a grid of tiles, so the parked van of tile (1, 1) is as small as a far
vehicle really is. Cached like the other clips (lookout/media.py), generated on
demand for the evaluation scenarios and the benchmark.
"""

from __future__ import annotations

import hashlib
import json
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from lookout.media import media_cache_dir, vtest_avi

#: vtest's parked white van (x1, y1, x2, y2) at its native 768x576.
VAN = (650.7, 43.0, 722.2, 102.4)
_RECIPE = 1


def van_box(scale: float, tile: tuple[int, int] = (1, 1)) -> tuple[float, float, float, float]:
    """Where the van of tile (column, row) is in a far-view frame at `scale`."""
    tw, th = round(768 * scale), round(576 * scale)
    dx, dy = tile[0] * tw, tile[1] * th
    x1, y1, x2, y2 = VAN
    return (x1 * scale + dx, y1 * scale + dy, x2 * scale + dx, y2 * scale + dy)


def far_view_clip(
    width: int, height: int, scale: float, *, seconds: float = 40.0, cache: Path | None = None
) -> Path:
    """vtest at `scale`, tiled into `width` x `height` (10 fps, 1 s GOP, H.264), cached
    as `far_view_WxH_sS-KEY.mp4`."""
    params = {"recipe": _RECIPE, "w": width, "h": height, "scale": scale, "s": seconds}
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    dst = (cache or media_cache_dir()) / f"far_view_{width}x{height}_s{scale:g}-{key}.mp4"
    if dst.is_file():
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp.mp4")
    tw, th = round(768 * scale), round(576 * scale)
    reps = (-(-height // th), -(-width // tw))
    try:
        with (
            av.open(str(vtest_avi())) as inp,
            av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"}) as out,
        ):
            rate = Fraction(10)
            v = out.add_stream("libx264", rate=rate)
            v.width, v.height, v.pix_fmt = width, height, "yuv420p"
            v.codec_context.gop_size = 10
            v.codec_context.max_b_frames = 0
            v.options = {"preset": "ultrafast", "x264-params": "keyint=10:scenecut=0:bframes=0"}
            for i, frame in enumerate(inp.decode(video=0)):
                if i >= seconds * 10:
                    break
                img = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                if scale != 1.0:
                    img = np.asarray(
                        cv2.resize(img, (tw, th), interpolation=cv2.INTER_AREA), dtype=np.uint8
                    )
                canvas = np.ascontiguousarray(np.tile(img, (*reps, 1))[:height, :width])
                vf = av.VideoFrame.from_ndarray(canvas, format="bgr24").reformat(format="yuv420p")
                vf.pts = i
                vf.time_base = 1 / rate
                out.mux(v.encode(vf))
            out.mux(v.encode(None))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst
