"""Hostile input files for tests/integration/test_hostile_inputs.py, made once per session.

Real footage (vtest.avi of the shared assets) re-encoded small with PyAV, then damaged
the way files arrive damaged: cut short, zeroed, bits flipped mid-stream, the index
(moov) lost; plus files that are not video at all and pictures of extreme sizes.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from lookout.base.paths import REPO_ROOT

SIZE = (320, 240)
FRAMES = 20
FPS = 10
MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"


@dataclass(frozen=True)
class Media:
    """Paths of the session's hostile files (all under `root`)."""

    root: Path
    ok: Path  # a good H.264 MP4, 320x240, 2 s
    ok_ts: Path  # the same in MPEG-TS (no index: damage stays local)
    empty: Path
    truncated: Path
    random: Path
    flipped: Path
    no_moov: Path
    audio_only: Path
    no_frames: Path
    tiny: Path
    huge: Path
    jpeg: Path
    truncated_onnx: Path
    model_assets: Path


def vtest_frames(assets: Path, n: int = FRAMES, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """The first `n` frames of vtest.avi, resized, as RGB arrays."""
    import cv2

    out: list[np.ndarray] = []
    with av.open(str(assets / "footage" / "vtest.avi")) as container:
        for vf in container.decode(video=0):
            rgb = vf.to_ndarray(format="rgb24")
            out.append(np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)))
            if len(out) == n:
                break
    return out


def encode(
    path: Path,
    frames: list[np.ndarray],
    *,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    h, w = frames[0].shape[:2] if frames else (SIZE[1], SIZE[0])
    with av.open(str(path), "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=FPS)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        stream.time_base = Fraction(1, FPS)
        if options:
            stream.options = {k: v for k, v in options.items()}
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            vf.pts = i
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def top_level_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """MP4 top-level boxes: type → (offset, size)."""
    boxes: dict[str, tuple[int, int]] = {}
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = len(data) - pos
        boxes[kind.decode("latin-1")] = (pos, size)
        pos += size
    return boxes


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        t = np.arange(16000, dtype=np.float32) / 16000
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, tone.size, 1024):
            chunk = tone[start : start + 1024].reshape(1, -1)
            af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            af.sample_rate = 16000
            af.pts = start
            for packet in stream.encode(af):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def build(root: Path, assets: Path) -> Media:
    import cv2

    root.mkdir(parents=True, exist_ok=True)
    frames = vtest_frames(assets)
    # A keyframe every 5 frames: bits flipped in one GOP leave later GOPs intact.
    x264 = {"g": "5", "bf": "0", "preset": "ultrafast"}
    ok = encode(root / "ok.mp4", frames, options=x264)
    ok_ts = encode(root / "ok.ts", frames, options=x264)
    data = ok.read_bytes()
    boxes = top_level_boxes(data)
    mdat_at, mdat_size = boxes["mdat"]

    empty = root / "empty.mp4"
    empty.write_bytes(b"")
    # MPEG-TS cut at 60%: the first 60% of the pictures are whole.
    ts = ok_ts.read_bytes()
    truncated = root / "truncated.ts"
    truncated.write_bytes(ts[: int(len(ts) * 0.6) // 188 * 188 + 100])
    rnd = random.Random(15)
    random_file = root / "random.mp4"
    random_file.write_bytes(rnd.randbytes(64 * 1024))
    # Bits flipped in the middle third of the H.264 payload (mdat), container intact.
    flipped_data = bytearray(data)
    lo, hi = mdat_at + 8 + mdat_size // 3, mdat_at + 2 * mdat_size // 3
    for _ in range(200):
        flipped_data[rnd.randrange(lo, hi)] ^= 1 << rnd.randrange(8)
    flipped = root / "flipped.mp4"
    flipped.write_bytes(bytes(flipped_data))
    moov_at, moov_size = boxes["moov"]
    no_moov = root / "no_moov.mp4"
    no_moov.write_bytes(data[:moov_at] + data[moov_at + moov_size :])

    audio_only = _audio_only(root / "audio_only.m4a")
    no_frames = encode(root / "no_frames.mp4", [])
    tiny = encode(
        root / "tiny.mkv", [np.full((1, 1, 3), 128, np.uint8)] * 3, codec="ffv1", pix_fmt="bgr0"
    )
    # 16K (15360x8640): one flat frame (plus noise) keeps the file small; decoding it
    # still makes a 400 MB picture.
    big = np.full((8640, 15360, 3), 90, np.uint8)
    big[4000:4640, 7000:8000] = 200
    huge = encode(
        root / "huge_16k.mp4",
        [big],
        options={"preset": "ultrafast", "x264-params": "level=6.2"},
    )
    del big
    jpeg = root / "photo.mp4"
    cv2.imwrite(str(root / "photo.jpg"), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    (root / "photo.jpg").rename(jpeg)

    # A model folder like the assets' (the manifest names ${LOOKOUT_ASSETS}/models/...)
    # whose ONNX file is cut at half.
    model_assets = root / "assets-cut"
    (model_assets / "models").mkdir(parents=True)
    onnx = (assets / "models" / "yolox_nano.onnx").read_bytes()
    truncated_onnx = model_assets / "models" / "yolox_nano.onnx"
    truncated_onnx.write_bytes(onnx[: len(onnx) // 2])
    return Media(
        root=root,
        ok=ok,
        ok_ts=ok_ts,
        empty=empty,
        truncated=truncated,
        random=random_file,
        flipped=flipped,
        no_moov=no_moov,
        audio_only=audio_only,
        no_frames=no_frames,
        tiny=tiny,
        huge=huge,
        jpeg=jpeg,
        truncated_onnx=truncated_onnx,
        model_assets=model_assets,
    )
