"""Clips shaped like what cameras send (docs/TESTING.md "What the tests start") — H.264
with 4 slices per picture, H.265, AAC audio, a long and an irregular I-frame interval —
checked as files and as served by the local RTSP server (read with PyAV as the live
readers do).

The clips are short (3 s of vtest, cached) with the shapes of the full-length
`clip_*` fixtures (`CLIP_SHAPES`); the RTSP reads run in parallel, each across the
3 s loop point, so the RTSP part takes about 4 s.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import pytest

from lookout.streams.connection import ffmpeg_options
from lookout.streams.settings import StreamConfig
from tests.support.media import (
    CLIP_SHAPES,
    IRREGULAR_KEYFRAMES_S,
    ClipInfo,
    make_h264_mp4,
    probe_clip,
    start_rtsp_server,
    vtest_avi,
    vtest_clip,
    vtest_h264,
)

OPTIONS = ffmpeg_options(StreamConfig())  # what the live reader opens streams with
TIMEOUT = (5.0, 5.0)  # (open, read) seconds
FPS = 10.0
CLIP_S = 3.0
READ_UNTIL_S = 3.6  # past the loop point at 3.0 s
AAC_FRAME_S = 1024 / 16000


@dataclass(frozen=True)
class Shape:
    """A short clip's `vtest_clip` arguments and what it must hold."""

    kwargs: dict[str, Any]
    codec: str
    slices: int
    keyframes_s: Sequence[float]
    audio: bool = False

    def clip(self) -> Path:
        return vtest_clip(seconds=CLIP_S, **self.kwargs)


SHAPES: dict[str, Shape] = {
    "slices4": Shape(CLIP_SHAPES["slices4"], "h264", 4, (0, 1, 2)),
    "hevc": Shape(CLIP_SHAPES["hevc"], "hevc", 1, (0, 1, 2)),
    "audio": Shape(CLIP_SHAPES["audio"], "h264", 1, (0, 1, 2), audio=True),
    "hevc_audio": Shape(CLIP_SHAPES["hevc_audio"], "hevc", 4, (0, 1, 2), audio=True),
    # In 3 s: its only keyframe is the first (over RTSP: the loop point).
    "gop10": Shape(CLIP_SHAPES["gop10"], "h264", 1, (0,)),
    "irregular": Shape({"keyframes_at": (0, 0.3, 1.3, 2.5)}, "h264", 1, (0, 0.3, 1.3, 2.5)),
}
SAMPLE_ENTRY = {"h264": "avc1", "hevc": "hvc1"}


# -- the files ------------------------------------------------------------------------


def assert_shape(info: ClipInfo, shape: Shape, seconds: float) -> None:
    assert info.codec == shape.codec and info.tag == SAMPLE_ENTRY[shape.codec]
    assert info.size == (768, 576)
    assert info.frames == round(seconds * FPS)
    assert info.duration_s == pytest.approx(seconds)
    assert info.slices == {shape.slices}, "slices per picture"
    assert info.keyframes_s == pytest.approx(list(shape.keyframes_s))
    assert info.idr_keyframes == len(info.keyframes_s)  # every keyframe an IDR picture
    if not shape.audio:
        assert info.audio_codec is None and set(info.order) == {"v"}
        return
    assert (info.audio_codec, info.audio_rate, info.audio_channels) == ("aac", 16000, 1)
    assert info.audio_duration_s == pytest.approx(seconds, abs=1e-3)
    # Interleaved all along: never more than a few packets of one stream in a row.
    runs = info.order.replace("av", "a v").replace("va", "v a").split()
    assert max(len(r) for r in runs) <= 4, info.order


@pytest.mark.parametrize("name", list(SHAPES))
def test_clip_file_has_its_shape(name: str) -> None:
    shape = SHAPES[name]
    info = probe_clip(shape.clip())
    print(f"\n{name}: {info.codec} {info.tag} slices {info.slices} keyframes {info.keyframes_s}")
    assert_shape(info, shape, CLIP_S)


@pytest.mark.parametrize("name", ["gop10", "irregular"])
def test_long_keyframe_intervals(name: str) -> None:
    """The first 30 s of the `clip_gop10` / `clip_irregular` shapes: keyframes only
    where asked (10 s apart; at IRREGULAR_KEYFRAMES_S, 0.3 s to 10 s apart)."""
    seconds = 30.0
    kwargs = CLIP_SHAPES[name]
    expected = (0, 10, 20) if name == "gop10" else [t for t in IRREGULAR_KEYFRAMES_S if t < 30]
    info = probe_clip(vtest_clip(seconds=seconds, **kwargs))
    assert_shape(info, Shape(kwargs, "h264", 1, expected), seconds)


def test_default_clip_is_unchanged(h264_clip_3s: Path) -> None:
    """With no shape option, `vtest_clip` is `vtest_h264` (same cache entry)."""
    assert vtest_clip(seconds=CLIP_S) == vtest_h264(seconds=CLIP_S) == h264_clip_3s
    assert_shape(probe_clip(h264_clip_3s), Shape({}, "h264", 1, (0, 1, 2)), CLIP_S)


@pytest.mark.parametrize(
    "kwargs",
    [{"codec": "vp9"}, {"audio": "mp3"}, {"slices": 0}, {"keyframes_at": [0, -1]}],
)
def test_bad_shape_options(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        make_h264_mp4(vtest_avi(), tmp_path / "x.mp4", seconds=1, **kwargs)
    assert not list(tmp_path.iterdir())


# -- served over RTSP -------------------------------------------------------------


@dataclass
class Packet:
    stream: str  # "video" / "audio"
    pts: float
    key: bool
    size: int
    data: bytes


@dataclass
class Served:
    open_s: float = 0.0
    video_codec: str = ""
    audio_codec: str | None = None
    audio_rate: int = 0
    packets: list[Packet] = field(default_factory=list)  # those with a pts
    decoded: list[tuple[float | None, int, int]] = field(default_factory=list)  # pts, w, h
    no_pts: int = 0  # packets without (the first one's pts can be None over RTSP)

    def video(self) -> list[Packet]:
        return [p for p in self.packets if p.stream == "video"]

    def audio(self) -> list[Packet]:
        return [p for p in self.packets if p.stream == "audio"]


def read_packets(url: str, max_wall_s: float = 12.0) -> Served:
    """Demux `url` (no decoding) until a video packet at READ_UNTIL_S or later."""
    got = Served()
    t0 = time.monotonic()
    with av.open(url, options=OPTIONS, timeout=TIMEOUT) as container:
        got.open_s = time.monotonic() - t0
        got.video_codec = container.streams.video[0].codec_context.name
        vstream = container.streams.video[0]
        if container.streams.audio:
            got.audio_codec = container.streams.audio[0].codec_context.name
            got.audio_rate = container.streams.audio[0].rate
        for packet in container.demux():
            if packet.size == 0:
                continue
            if packet.stream is vstream:  # (pictures before the first keyframe: none)
                for frame in vstream.decode(packet):
                    got.decoded.append((frame.time, frame.width, frame.height))
            if packet.pts is None or packet.time_base is None:
                got.no_pts += 1
                continue
            pts = float(packet.pts * packet.time_base)
            kind = packet.stream.type
            got.packets.append(Packet(kind, pts, packet.is_keyframe, packet.size, bytes(packet)))
            if kind == "video" and pts >= READ_UNTIL_S:
                break
            assert time.monotonic() - t0 < max_wall_s, f"{url}: too slow"
    return got


@pytest.fixture(scope="module")
def served() -> dict[str, Served]:
    """Every shape's short clip served by one RTSP server, read by one client each,
    all at once (about 4 s)."""
    clips = {name: shape.clip() for name, shape in SHAPES.items()}
    mounts = {f"/{name}": clip for name, clip in clips.items()}
    with start_rtsp_server(mounts) as server, ThreadPoolExecutor(len(clips)) as pool:
        futures = {name: pool.submit(read_packets, server.url(name)) for name in clips}
        return {name: future.result(timeout=20) for name, future in futures.items()}


def annexb_nal_types(data: bytes, hevc: bool) -> list[int]:
    """NAL unit types of an Annex B packet (start codes 00 00 01 / 00 00 00 01)."""
    types = []
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0 and pos + 3 < len(data):
        head = data[pos + 3]
        types.append((head >> 1) & 0x3F if hevc else head & 0x1F)
        pos = data.find(b"\x00\x00\x01", pos + 3)
    return types


def expected_keyframes(shape: Shape, first: float, last: float) -> list[float]:
    """Keyframe times of the looping clip between `first` and `last` (s)."""
    times = [n * CLIP_S + t for n in range(3) for t in shape.keyframes_s]
    return [t for t in times if first - 1e-3 <= t <= last + 1e-3]


@pytest.mark.parametrize("name", list(SHAPES))
def test_served_over_rtsp(served: dict[str, Served], name: str) -> None:
    """The codec, the audio track, one packet per picture (a keyframe's slices and
    parameter sets together), keyframes where the file has them, and pts one frame
    apart across the loop point."""
    shape, got = SHAPES[name], served[name]
    hevc = shape.codec == "hevc"
    video = got.video()
    print(
        f"\n{name}: open {got.open_s * 1000:.0f} ms, {len(video)} video packets "
        f"{video[0].pts:.2f}..{video[-1].pts:.2f} s, keyframes "
        f"{[(p.pts, p.size) for p in video if p.key]}, {len(got.decoded)} pictures decoded, "
        f"{len(got.audio())} audio packets"
    )
    assert got.open_s < 2.0
    assert got.video_codec == shape.codec
    # Every picture from the first keyframe on decodes (the parameter sets come in
    # band, as from a camera).
    first_key = next(p.pts for p in video if p.key)
    assert {(w, h) for _, w, h in got.decoded} == {(768, 576)}
    assert len(got.decoded) >= sum(1 for p in video if p.pts >= first_key) - 1
    steps = [b.pts - a.pts for a, b in pairwise(video)]
    assert steps and all(s == pytest.approx(1 / FPS, abs=2e-3) for s in steps), steps
    assert video[-1].pts >= READ_UNTIL_S
    keys = [p for p in video if p.key]
    assert [p.pts for p in keys] == pytest.approx(
        expected_keyframes(shape, video[0].pts, video[-1].pts), abs=2e-3
    )
    param_sets = {32, 33, 34} if hevc else {7, 8}  # VPS SPS PPS / SPS PPS
    for p in keys:
        types = annexb_nal_types(p.data, hevc)
        assert param_sets <= set(types[: len(param_sets)]), types
        vcl = [t for t in types if (t < 32 if hevc else 1 <= t <= 5)]
        assert vcl == [20 if hevc else 5] * shape.slices, types
    if not shape.audio:
        assert got.audio_codec is None
        return
    assert (got.audio_codec, got.audio_rate) == ("aac", 16000)
    audio = got.audio()
    gaps = [b.pts - a.pts for a, b in pairwise(audio)]
    # One AAC frame apart; at the loop point up to two (the pass's last, partial
    # frame is not sent).
    assert gaps and all(AAC_FRAME_S - 2e-3 <= g <= 2 * AAC_FRAME_S + 2e-3 for g in gaps), gaps
    # Audio keeps in step with the video across the loop point: its second pass
    # starts at 3.0 s too (the file's first AAC frame is at 0 s); and interleaved.
    assert min(p.pts for p in audio if p.pts > CLIP_S - 0.01) == pytest.approx(CLIP_S, abs=2e-3)
    assert audio[-1].pts == pytest.approx(video[-1].pts, abs=0.2)
    kinds = "".join(p.stream[0] for p in got.packets)
    runs = kinds.replace("av", "a v").replace("va", "v a").split()
    assert max(len(r) for r in runs) <= 4, kinds
