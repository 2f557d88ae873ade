"""The per-camera `decoder: nvdec` setting: NVIDIA's decoder when it opens, else the
cpu decoder with one log line saying so (this machine has no GPU: the fallback)."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import av
import pytest

from lookout.streams.decode import NVDEC, FullDecoder, choose_decoder
from lookout.streams.frame import Frame
from lookout.streams.frame_queue import FrameQueue
from lookout.streams.live_reader import StreamReader
from lookout.streams.settings import StreamConfig
from tests.support.helpers import wait_until
from tests.support.media import vtest_h264


def _gpu() -> bool:
    try:
        ctx = av.CodecContext.create(NVDEC["h264"], "r")
        ctx.open()
    except (av.error.FFmpegError, OSError):
        return False
    return True


def test_nvdec_falls_back_to_cpu_with_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lookout.streams.decode")
    with av.open(str(vtest_h264())) as container:
        stream = container.streams.video[0]
        choice = choose_decoder(stream, "nvdec", "nv1")
        again = choose_decoder(stream, "nvdec", "nv1")  # a reconnect: no second line
        lines = [r.getMessage() for r in caplog.records]
        assert len(lines) == 1
        if _gpu():
            assert choice.nvdec and choice.name == "h264_cuvid"
            assert lines == ["camera nv1: decoder nvdec (h264_cuvid)"]
        else:
            assert not choice.nvdec and choice.name == "h264" and not again.nvdec
            assert lines[0].startswith(
                "camera nv1: decoder nvdec requested, using cpu (h264): h264_cuvid unavailable"
            )
            assert caplog.records[0].levelno == logging.WARNING
        decoder = FullDecoder(choice.decode)
        pictures = [p for pkt in container.demux(stream) for p in decoder.push(pkt, 0.0)][:5]
        assert pictures and pictures[0].width == 768  # whatever decodes, pictures come
        # cpu is silent, and a codec without an NVIDIA decoder says so.
        caplog.clear()
        assert not choose_decoder(stream, "cpu", "cpu1").nvdec
        assert caplog.records == []


def test_a_camera_set_to_nvdec_streams_on_this_machine(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="lookout.streams.decode")
    queue: FrameQueue[Frame] = FrameQueue(4)
    reader = StreamReader(
        "nv2",
        str(vtest_h264()),
        StreamConfig(decoder="nvdec"),
        analysis_fps=2.0,
        tz=ZoneInfo("UTC"),
        queue=queue,
    )
    reader.start()
    try:
        assert wait_until(lambda: queue.peek() is not None, 10), reader.stats.last_error
    finally:
        reader.stop()
        reader.join(5)
    said = [r.getMessage() for r in caplog.records if "nv2" in r.getMessage()]
    assert len(said) == 1 and "decoder nvdec" in said[0]
