"""From packets to whole pictures: access units, corrupt pictures, keyframe-first decoding.

Three things real cameras do that a naive `packet.decode()` loop gets wrong
(docs/ARCHITECTURE.md, "Live streams"):

- **Several slices per picture.** Over RTSP, FFmpeg can hand one picture over as
  several packets with the same timestamp (one per slice group). Decoding each as a
  picture yields 2–4 partial pictures per keyframe. `access_units` joins consecutive
  packets of one timestamp into one packet before anything is decoded.
- **Pictures that are not whole.** A client that joins mid-picture, or a lost RTP
  packet, gives a picture the decoder had to conceal (`VideoFrame.is_corrupt`), and
  every picture predicted from it is damaged too. Both decoders drop such pictures
  until the next clean keyframe, and count them.
- **Long and irregular I-frame intervals.** Cameras stretch the GOP up to 10 s in
  static scenes. `SparseDecoder` (the `keyframes` analysis mode) decodes a keyframe
  when one is due and otherwise keeps the GOP's packets since the last decode, and
  decodes forward through them only when an analysed picture is due. On a short GOP
  that is keyframes only; on a long one the analysis rate still holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import av

log = logging.getLogger(__name__)

#: Packets kept while waiting for the next due picture; beyond this they are decoded
#: at once (pictures discarded), so memory stays bounded whatever the GOP length.
MAX_PENDING_BYTES = 32 * 1024 * 1024
#: Timestamp rounding absorbed when deciding whether a picture is due (seconds).
_ROUNDING_S = 0.002
#: A joined access unit larger than this is passed on as it is (a broken stream).
MAX_UNIT_BYTES = 16 * 1024 * 1024


def _join(parts: list[av.Packet]) -> av.Packet:
    first, last = parts[0], parts[-1]
    if len(parts) == 1:
        return first
    joined = av.Packet(b"".join(bytes(p) for p in parts))
    joined.pts = last.pts  # (the first part of the stream's first picture has none)
    joined.dts = last.dts
    joined.duration = last.duration
    joined.time_base = first.time_base
    joined.is_keyframe = any(p.is_keyframe for p in parts)
    return joined


def access_units(packets: Iterable[av.Packet]) -> Iterator[av.Packet]:
    """Join consecutive packets that share a timestamp into one packet per picture.

    A unit is passed on when the next picture's first packet arrives (one picture of
    latency) or at the end. Empty packets (demuxer flushes) are skipped; packets
    without a timestamp are units of their own. A unit without a timestamp (FFmpeg's
    first picture over RTSP) is given the next one's minus its own duration.
    """
    pending: list[av.Packet] = []
    size = 0
    for packet in packets:
        if packet.size == 0:
            continue
        same = (
            bool(pending)
            and packet.pts is not None
            and (
                (packet.pts == pending[0].pts and packet.dts == pending[0].dts)
                # The stream's first picture: FFmpeg gives its first part no timestamp.
                or (pending[0].pts is None and pending[0].is_keyframe and packet.is_keyframe)
            )
        )
        if same and size + packet.size <= MAX_UNIT_BYTES:
            pending.append(packet)
            size += packet.size
            continue
        if pending:
            unit = _join(pending)
            if unit.pts is None and packet.pts is not None and unit.duration:
                unit.pts = packet.pts - unit.duration
                if unit.dts is None and packet.dts is not None:
                    unit.dts = packet.dts - unit.duration
            yield unit
        pending = [packet]
        size = packet.size
    if pending:
        yield _join(pending)


@dataclass(slots=True)
class DecodeStats:
    """Counters of one session's decoding."""

    units: int = 0  # pictures received (access units)
    decoded: int = 0  # pictures the decoder produced
    corrupt_dropped: int = 0  # refused or concealed pictures, and those predicted from them
    errors: int = 0  # packets the decoder refused (counted in corrupt_dropped too)
    shed: int = 0  # due pictures not decoded: nobody could take them (keyframes mode)


#: A codec context's `decode`: a packet in, pictures out; None drains the decoder.
Decode = Callable[[av.Packet | None], list[av.VideoFrame]]


class _Base:
    def __init__(self, decode: Decode, stats: DecodeStats | None = None) -> None:
        """`stats`: counters to add to (a reader keeps one across its sessions)."""
        self._decode = decode
        self.stats = stats if stats is not None else DecodeStats()
        #: False from a corrupt keyframe (or the start) until the next clean keyframe.
        self.clean = False

    def _run(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            pictures = self._decode(packet)
        except av.error.InvalidDataError:
            # A picture the decoder refused is a corrupt picture too, and every picture
            # predicted from it is damaged: drop them until the next clean keyframe.
            self.stats.errors += 1
            self.stats.corrupt_dropped += 1
            self.clean = False
            return []
        out = []
        for vf in pictures:
            self.stats.decoded += 1
            if vf.key_frame:
                self.clean = not vf.is_corrupt
            if vf.is_corrupt or not self.clean:
                self.stats.corrupt_dropped += 1
                continue
            out.append(vf)
        return out


class FullDecoder(_Base):
    """Decodes every picture (`rate` and `every_nth` modes); drops damaged ones."""

    def push(self, unit: av.Packet, t: float) -> list[av.VideoFrame]:
        self.stats.units += 1
        return self._run(unit)

    def drain(self) -> list[av.VideoFrame]:
        """The pictures still inside the decoder at the end of a file (frame threads
        hold one per thread); the decoder then takes nothing until it is flushed."""
        return self._run(None)


class SparseDecoder(_Base):
    """`keyframes` mode: decode as little as the analysis rate allows.

    `push` takes every access unit with its time `t` (seconds on the stream's axis)
    and returns the picture to analyse, or None. A picture is due every `1/fps` s:

    - a keyframe up to a quarter period early counts as due, and a taken keyframe
      re-anchors the schedule, so a GOP of about the period costs one keyframe decode
      per analysed picture (a 1.04 s GOP at 1 frame/s: keyframes only, 0.96/s);
    - a due picture that is not a keyframe waits for the next keyframe when one is
      expected (from the last interval) within a quarter period;
    - otherwise the units since the last decode, kept (bounded) for this, are
      decoded forward and the last picture is returned: on a 10 s GOP the rate holds.
    """

    def __init__(
        self,
        decode: Decode,
        fps: float,
        *,
        stats: DecodeStats | None = None,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        super().__init__(decode, stats)
        if fps <= 0:
            raise ValueError("analysis rate must be positive")
        self.period = 1.0 / fps
        self.max_pending_bytes = max_pending_bytes
        self._pending: list[av.Packet] = []
        self._pending_bytes = 0
        self._next: float | None = None
        self._last_t: float | None = None
        self._last_key: float | None = None
        self._key_interval: float | None = None
        self._owed = False  # a due picture is still inside the decoder (reordering)

    def _due(self, t: float, key: bool) -> bool:
        if self._next is None:
            return True
        # A keyframe may come up to a quarter period early; any other picture only by
        # timestamp rounding (else, at low rates, the picture just before a keyframe
        # would take its slot and cost a decode of the whole GOP).
        early = 0.25 * self.period if key else min(0.01 * self.period, _ROUNDING_S)
        return t + early >= self._next

    def _key_soon(self, t: float) -> bool:
        """The next keyframe is expected within a quarter period after `t`."""
        if self._last_key is None or self._key_interval is None:
            return False
        wait = self._last_key + self._key_interval - t
        return 0.0 < wait <= 0.25 * self.period

    def _advance(self, t: float, key: bool) -> None:
        if key or self._next is None:
            self._next = t + self.period
            return
        while self._next <= t + min(0.01 * self.period, _ROUNDING_S):
            self._next += self.period

    def _keyframe(self, t: float) -> None:
        if self._last_key is not None and t > self._last_key:
            self._key_interval = t - self._last_key
        self._last_key = t

    def push(self, unit: av.Packet, t: float, take: bool = True) -> av.VideoFrame | None:
        """`take` False: a picture due now is not decoded (the consumer's queue is full),
        the schedule moves on as if it had been, and `stats.shed` counts it."""
        self.stats.units += 1
        if self._last_t is not None and t < self._last_t - 1.0:
            # The stream's clock went back: start a new schedule.
            self._next = self._last_key = self._key_interval = None
        self._last_t = t
        key = bool(unit.is_keyframe)
        if key:
            self._keyframe(t)
            self._pending.clear()  # a keyframe needs nothing before it
            self._pending_bytes = 0
        elif not self._pending and not self.clean and not self._owed:
            # Nothing decodable before the first (clean) keyframe.
            self.stats.corrupt_dropped += 1
            return None
        self._pending.append(unit)
        self._pending_bytes += unit.size
        due = self._owed or (self._due(t, key) and (key or not self._key_soon(t)))
        if due and not take and not self._owed:
            self.stats.shed += 1
            self._advance(t, key)
            due = False
        if not due:
            if self._pending_bytes > self.max_pending_bytes:
                self._flush()
            return None
        pictures = self._flush()
        if pictures:  # the schedule follows pictures that came out, not damaged ones
            self._advance(t, key)
        # Nothing came out of a clean stream: the decoder holds it back (reordering),
        # so the next unit is decoded at once. After a corrupt keyframe: wait for a key.
        self._owed = not pictures and self.clean
        return pictures[-1] if pictures else None

    def drain(self) -> list[av.VideoFrame]:
        """At the end of a file: the due picture still inside the decoder, if any."""
        if not self._owed:
            return []
        self._owed = False
        pictures = self._run(None)
        return pictures[-1:]

    def _flush(self) -> list[av.VideoFrame]:
        units, self._pending, self._pending_bytes = self._pending, [], 0
        out: list[av.VideoFrame] = []
        for unit in units:
            out = self._run(unit) or out
        return out


# -- GPU-ready decoding -----------------------------------------------------------------
#: NVIDIA decoders of the FFmpeg bundled with PyAV, by the stream's codec.
NVDEC = {"h264": "h264_cuvid", "hevc": "hevc_cuvid"}
#: What each camera was last told it decodes with: logged once, again only on a change.
_said: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class DecoderChoice:
    """The decoder a session uses: its `decode`, FFmpeg name and whether it is NVDEC."""

    decode: Decode
    name: str
    nvdec: bool


def _say(camera_id: str, level: int, message: str) -> None:
    if _said.get(camera_id) != message:
        _said[camera_id] = message
        log.log(level, "camera %s: %s", camera_id, message)


def choose_decoder(stream: Any, wanted: str, camera_id: str) -> DecoderChoice:
    """The decoder for a video stream: `cpu` is the stream's own (FFmpeg's software
    decoder); `nvdec` opens NVIDIA's `h264_cuvid` / `hevc_cuvid` with the stream's
    parameters and falls back to cpu when the codec has none or it cannot be opened (no
    GPU, no driver). One log line per camera says what is used."""
    cpu = stream.codec_context
    if wanted != "nvdec":
        return DecoderChoice(cpu.decode, cpu.name, False)
    hw_name = NVDEC.get(cpu.name)
    if hw_name is None:
        why = f"no NVDEC decoder for {cpu.name}"
    else:
        try:
            ctx: Any = av.CodecContext.create(hw_name, "r")
            ctx.extradata = cpu.extradata
            ctx.width, ctx.height = cpu.width, cpu.height
            ctx.open()
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            why = f"{hw_name} unavailable ({type(exc).__name__}: {exc})"
        else:
            _say(camera_id, logging.INFO, f"decoder nvdec ({hw_name})")
            return DecoderChoice(ctx.decode, hw_name, True)
    _say(camera_id, logging.WARNING, f"decoder nvdec requested, using cpu ({cpu.name}): {why}")
    return DecoderChoice(cpu.decode, cpu.name, False)
