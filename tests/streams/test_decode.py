"""Whole pictures from packets (streams/decode.py) with the real decoder on real clips."""

from __future__ import annotations

import contextlib
import itertools
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import numpy as np
import pytest
from av.container import InputContainer
from av.video.stream import VideoStream

from lookout.clips.media import cached_h264_mp4, vtest_avi, vtest_clip
from lookout.streams.clock import Clock
from lookout.streams.decode import FullDecoder, SparseDecoder, access_units
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig


@pytest.fixture(scope="module")
def gop10() -> Path:
    """vtest, 25 s, H.264 with a 10 s I-frame interval (keyframes at 0, 10, 20 s)."""
    return cached_h264_mp4(vtest_avi(), "vtest_gop10", gop_s=10.0, seconds=25.0)


@pytest.fixture(scope="module")
def gop1() -> Path:
    return cached_h264_mp4(vtest_avi(), "vtest_gop1", gop_s=1.0, seconds=6.0)


def units(path: Path) -> tuple[list[av.Packet], VideoStream, InputContainer]:
    c = av.open(str(path))
    s = c.streams.video[0]
    return [p for p in c.demux(s) if p.size], s, c


def tsec(p: av.Packet) -> float:
    assert p.pts is not None and p.time_base is not None
    return float(p.pts * p.time_base)


def reference(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(c.streams.video[0])]


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an MP4 (4-byte length-prefixed) packet, without prefixes."""
    out, i = [], 0
    while i + 4 <= len(data):
        n = int.from_bytes(data[i : i + 4], "big")
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out


def avcc(nals: list[bytes]) -> bytes:
    return b"".join(len(n).to_bytes(4, "big") + n for n in nals)


def packet_like(data: bytes, like: av.Packet) -> av.Packet:
    p = av.Packet(data)
    p.pts, p.dts, p.time_base = like.pts, like.dts, like.time_base
    p.is_keyframe = like.is_keyframe
    return p


def split_slices(packet: av.Packet) -> list[av.Packet]:
    """One packet per slice (other NAL units go with the next slice), all with the
    picture's timestamp: how FFmpeg's RTSP demuxer can hand over a multi-slice picture."""
    parts: list[list[bytes]] = [[]]
    for nal in nal_units(bytes(packet)):
        parts[-1].append(nal)
        if nal[0] & 0x1F in (1, 5):  # a coded slice ends a part
            parts.append([])
    return [packet_like(avcc(p), packet) for p in parts if p]


@pytest.fixture(scope="module")
def slices4() -> Path:
    return vtest_clip(slices=4, seconds=3.0)


def test_split_pictures_are_joined_back_into_one(slices4: Path) -> None:
    ref = reference(slices4)
    packets, stream, c = units(slices4)
    with c:
        split = list(itertools.chain.from_iterable(split_slices(p) for p in packets))
        assert len(split) == 4 * len(packets)  # 4 slices per picture
        joined = list(access_units(split))
        assert [u.pts for u in joined] == [p.pts for p in packets]
        assert [bytes(u) for u in joined] == [bytes(p) for p in packets]
        assert [u.is_keyframe for u in joined] == [p.is_keyframe for p in packets]
        stream.thread_count = 1
        dec = FullDecoder(stream.codec_context.decode)
        pictures = [vf.to_ndarray(format="bgr24") for u in joined for vf in dec.push(u, 0.0)]
    assert len(pictures) == len(ref)
    assert all(np.array_equal(a, b) for a, b in zip(pictures, ref, strict=True))


def test_split_pictures_decoded_as_they_come_are_partial(slices4: Path) -> None:
    """What the reader did before joining: several pictures per keyframe, damaged."""
    packets, stream, c = units(slices4)
    with c:
        stream.thread_count = 1
        out = []
        for part in split_slices(packets[0]):
            with contextlib.suppress(av.error.InvalidDataError):
                out += stream.codec_context.decode(part)
    assert len(out) != 1 or out[0].is_corrupt


def test_sparse_decoding_keeps_the_rate_on_a_10s_gop(gop10: Path) -> None:
    ref = reference(gop10)
    packets, stream, c = units(gop10)
    with c:
        stream.thread_count = 1
        dec = SparseDecoder(stream.codec_context.decode, fps=1.0)
        picked = []
        for p in packets:
            vf = dec.push(p, tsec(p))
            if vf is not None:
                picked.append((float(vf.time), vf.to_ndarray(format="bgr24")))
    times = [t for t, _ in picked]
    assert times == pytest.approx([float(i) for i in range(25)]), times  # 1/s, 0..24 s
    for t, img in picked:  # pixel-equal to decoding the file
        assert np.array_equal(img, ref[round(t * 10)])
    # It decoded forward only as far as the last due picture of each GOP.
    assert dec.stats.decoded < len(packets) and dec.stats.units == len(packets)


def test_sparse_decoding_on_a_short_gop_decodes_keyframes_only(gop1: Path) -> None:
    packets, stream, c = units(gop1)
    with c:
        dec = SparseDecoder(stream.codec_context.decode, fps=1.0)
        got = [dec.push(p, tsec(p)) for p in packets]
    keys = sum(p.is_keyframe for p in packets)
    assert sum(g is not None for g in got) == keys == 6
    assert dec.stats.decoded == keys


def test_a_due_picture_nobody_can_take_is_not_decoded(gop10: Path) -> None:
    """`take=False` (the reader's queue is full): the due picture is counted as shed,
    nothing is decoded, and the schedule goes on: the next due picture is the one a
    second later, decoded forward from the keyframe, pixel-equal to the file."""
    ref = reference(gop10)
    packets, stream, c = units(gop10)
    with c:
        stream.thread_count = 1
        dec = SparseDecoder(stream.codec_context.decode, fps=1.0)
        picked: list[tuple[float, np.ndarray]] = []
        for p in packets:
            t = tsec(p)
            vf = dec.push(p, t, take=not 2.9 < t < 5.5)  # 3, 4 and 5 s: queue full
            if vf is not None:
                picked.append((float(vf.time), vf.to_ndarray(format="bgr24")))
            if t >= 8.0:
                break
    assert [t for t, _ in picked] == pytest.approx([0, 1, 2, 6, 7, 8])
    assert dec.stats.shed == 3
    for t, img in picked:
        assert np.array_equal(img, ref[round(t * 10)])
    # On a 10 s GOP every picture is a reference: those of the shed seconds are still
    # decoded on the way to 6 s (all 81 up to 8 s). What is spared is the picture's
    # way on (conversion, analysis); on a short GOP the decode itself (next test).
    assert dec.stats.decoded == 81


def test_a_shed_keyframe_is_not_decoded(gop1: Path) -> None:
    packets, stream, c = units(gop1)
    with c:
        dec = SparseDecoder(stream.codec_context.decode, fps=1.0)
        got = [dec.push(p, tsec(p), take=not 1.5 < tsec(p) < 3.5) for p in packets]
    assert [round(float(g.time)) for g in got if g is not None] == [0, 1, 4, 5]
    assert dec.stats.shed == 2 and dec.stats.decoded == 4


def test_pending_packets_stay_bounded(gop10: Path) -> None:
    packets, stream, c = units(gop10)
    with c:
        dec = SparseDecoder(stream.codec_context.decode, fps=0.05, max_pending_bytes=200_000)
        for p in packets:
            dec.push(p, tsec(p))
            assert dec._pending_bytes <= 200_000 + p.size


def test_a_cut_keyframe_and_its_gop_are_dropped(gop1: Path) -> None:
    packets, stream, c = units(gop1)
    with c:
        first = packets[0]
        nals = nal_units(bytes(first))
        # The picture's slice data stops at a third, as when a client joins mid-picture.
        nals[-1] = nals[-1][: len(nals[-1]) // 3]
        cut = packet_like(avcc(nals), first)
        stream.thread_count = 1
        dec = FullDecoder(stream.codec_context.decode)
        out = [vf for p in [cut, *packets[1:]] for vf in dec.push(p, 0.0)]
    # The first GOP (10 pictures) is damaged: nothing of it comes out, the rest does.
    assert min(vf.pts or 0 for vf in out) == packets[10].pts
    assert len(out) == len(packets) - 10
    assert dec.stats.corrupt_dropped == 10


def test_reader_takes_its_clocks_from_the_injected_clock(gop1: Path) -> None:
    """Wall clock jumps +1 h mid-stream: captured_at jumps, monotonic_s does not."""
    wall = [datetime(2026, 11, 26, 1, 0, tzinfo=UTC)]
    mono = [100.0]

    def tick() -> float:
        mono[0] += 0.01
        return mono[0]

    def now() -> datetime:
        return wall[0] + timedelta(seconds=mono[0] - 100.0)

    q: FrameQueue[Frame] = FrameQueue(100)
    r = StreamReader(
        "cam",
        str(gop1),
        StreamConfig(analysis_mode="every_nth", every_n=1),
        analysis_fps=10.0,
        tz=ZoneInfo("Asia/Shanghai"),
        queue=q,
        realtime=False,
        clock=Clock(monotonic=tick, wall=now),
    )
    r.start()
    frames: list[Frame] = []
    end = time.monotonic() + 20
    while len(frames) < 40 and time.monotonic() < end:
        f = q.get(timeout=0.2)
        if f is None:
            continue
        frames.append(f)
        if len(frames) == 20:
            wall[0] += timedelta(hours=1)
    r.stop()
    assert r.join(5)
    assert len(frames) == 40
    mono_gaps = [b.monotonic_s - a.monotonic_s for a, b in itertools.pairwise(frames)]
    wall_gaps = [
        (b.captured_at - a.captured_at).total_seconds() for a, b in itertools.pairwise(frames)
    ]
    assert max(mono_gaps) < 1.0
    assert max(wall_gaps) > 3000  # the jump shows in timestamps only
    assert frames[0].captured_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("fps", [0.1, 0.2])
def test_a_low_rate_on_a_long_gop_waits_for_keyframes(gop10: Path, fps: float) -> None:
    # At 0.1 frame/s a 10 s GOP needs keyframes only; the picture just before a
    # keyframe must not take its slot (and cost a decode of the whole GOP).
    packets, stream, c = units(gop10)
    with c:
        dec = SparseDecoder(stream.codec_context.decode, fps=fps)
        got = [vf for p in packets if (vf := dec.push(p, tsec(p))) is not None]
    keys = sum(p.is_keyframe for p in packets)  # 3: at 0, 10, 20 s
    if fps == 0.1:
        assert len(got) == keys == 3 and dec.stats.decoded == keys
    else:  # due at 0, 5, 10, 15, 20 s: forward to 5 and 15 s only
        assert len(got) == 5 and dec.stats.decoded == keys + 2 * 50


def test_a_gop_a_little_longer_than_the_period_costs_keyframes_only() -> None:
    # 1.1 s GOP at 1 frame/s: once the interval is known, a due picture waits 0.1 s
    # for the keyframe instead of decoding the GOP forward.
    clip = cached_h264_mp4(vtest_avi(), "vtest_gop1.1", gop_s=1.1, seconds=12.0)
    packets, stream, c = units(clip)
    with c:
        dec = SparseDecoder(stream.codec_context.decode, fps=1.0)
        got = [vf for p in packets if (vf := dec.push(p, tsec(p))) is not None]
    keys = [tsec(p) for p in packets if p.is_keyframe]
    assert len(keys) == 11
    # The first interval is unknown: one forward decode (to 1.0 s), then keyframes.
    assert dec.stats.decoded <= len(keys) + 10, dec.stats
    assert [round(float(vf.time), 1) for vf in got] == pytest.approx([0.0, 1.0, *keys[2:]])
