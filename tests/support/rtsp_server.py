"""A local RTSP server for tests, run with the system `/usr/bin/python3`.

Debian's GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) serves each
`--mount /path=FILE.mp4` without re-encoding, shaped by what the MP4 holds (its
tracks' sample entries, read from the `moov` box at start-up, see `mp4_tracks`):

    H.264 (avc1/avc3):  filesrc ! qtdemux ! h264parse config-interval=-1 ! rtph264pay pt=96
    H.265 (hvc1/hev1):  ... ! h265parse config-interval=-1 ! rtph265pay pt=96
    plus, with an AAC (mp4a) track:  qtdemux.audio_0 ! queue ! aacparse ! rtpmp4gpay pt=97

(the video then gets a queue too). The parser, not the payloader, puts the parameter
sets in front of every IDR picture: once per picture, as cameras do (rtph264pay's
own config-interval=-1 would put them in front of every IDR *slice*, so a client
would see a multi-slice keyframe as one packet per slice).

One pipeline per client (a shared media would seek every viewer back to the start
when a new one joins). Each pipeline loops forever: the demuxer plays in segment
mode, and at SEGMENT_DONE a non-flushing segment seek goes back to the start; every
new pass of every stream is shifted forward by the time already played (its SEGMENT
event, as the payloader sees it, gets that running time as its base), so the running
time, and the RTP timestamps the payloaders make from it, keep increasing across the
loop point, one frame apart (a client's pts go 2.9, 3.0, 3.1 s ... for a 3 s clip),
video and audio in step. (qtdemux drops the last, partial AAC frame of a pass, so
the audio has a gap of about one frame at each loop point.)

Binds 127.0.0.1 only (GSocket sets SO_REUSEADDR, so a restart can reuse the port at
once). `--port 0` picks a free port. When listening, prints exactly one line
`READY <port>` on stdout. Exits cleanly on SIGTERM/SIGINT, and with `--watch-stdin`
when its stdin reaches EOF (the parent died). Optional basic auth with
`--user U --password P`.

Standalone on purpose: imports nothing from the project or its venv.

Exit codes: 2 bad arguments, 3 GStreamer RTSP server not available, 4 cannot bind.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

EXIT_NO_GSTREAMER = 3
EXIT_BIND_FAILED = 4

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as exc:
    print(
        f"rtsp_server: the GStreamer RTSP server is not available to {sys.executable}: {exc} "
        "(install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good "
        "gstreamer1.0-plugins-bad)",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(EXIT_NO_GSTREAMER)

# Before any GstRtspServer subclass is registered (its class init needs Gst's types).
Gst.init(None)

ROLE = "user"
SEGMENT_SEEK = Gst.SeekFlags.SEGMENT


def log(msg: str) -> None:
    print(f"rtsp_server: {msg}", file=sys.stderr, flush=True)


# Sample entry (codec) of an MP4 track -> its parse ! payload elements.
VIDEO_CHAINS = {
    "avc1": "h264parse name=parse{i} config-interval=-1 ! rtph264pay name=pay{i} pt={pt}",
    "avc3": "h264parse name=parse{i} config-interval=-1 ! rtph264pay name=pay{i} pt={pt}",
    "hvc1": "h265parse name=parse{i} config-interval=-1 ! rtph265pay name=pay{i} pt={pt}",
    "hev1": "h265parse name=parse{i} config-interval=-1 ! rtph265pay name=pay{i} pt={pt}",
}
# --params-per-slice: the payloader inserts the parameter sets before every IDR slice
# (rtph264pay config-interval=-1), so FFmpeg's parser cuts a multi-slice keyframe
# into one packet per slice, all with one timestamp — as some encoders send it.
PER_SLICE_CHAINS = {
    "avc1": "h264parse name=parse{i} ! rtph264pay name=pay{i} pt={pt} config-interval=-1",
    "avc3": "h264parse name=parse{i} ! rtph264pay name=pay{i} pt={pt} config-interval=-1",
    "hvc1": "h265parse name=parse{i} ! rtph265pay name=pay{i} pt={pt} config-interval=-1",
    "hev1": "h265parse name=parse{i} ! rtph265pay name=pay{i} pt={pt} config-interval=-1",
}
AUDIO_CHAINS = {
    "mp4a": "aacparse name=parse{i} ! rtpmp4gpay name=pay{i} pt={pt}",
}
# Containers whose boxes hold other boxes, on the way from the file to `stsd`.
_PATH_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


class MediaError(ValueError):
    """A file this server cannot stream (not an MP4, or no H.264/H.265 track)."""


def _boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the ISO-BMFF boxes in data[start:end]."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        head = 8
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
            head = 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            return
        yield kind, pos + head, pos + size
        pos += size


def _read_moov(path: str) -> bytes:
    """The `moov` box of an MP4 (at the start or the end of the file)."""
    with open(path, "rb") as fh:
        while True:
            head = fh.read(8)
            if len(head) < 8:
                raise MediaError(f"{path}: no moov box (not an MP4?)")
            size = int.from_bytes(head[:4], "big")
            head_len = 8
            if size == 1:
                size = int.from_bytes(fh.read(8), "big")
                head_len = 16
            elif size == 0:
                size = os.fstat(fh.fileno()).st_size - fh.tell() + 8
            if size < head_len:
                raise MediaError(f"{path}: corrupt box {head[4:8]!r}")
            if head[4:8] == b"moov":
                return fh.read(size - head_len)
            fh.seek(size - head_len, os.SEEK_CUR)


def mp4_tracks(path: str) -> list[tuple[str, str]]:
    """(handler, sample entry) of each track of an MP4, in file order, e.g.
    [("vide", "avc1"), ("soun", "mp4a")]: read from the `moov` box, a few ms."""
    moov = _read_moov(path)
    tracks: list[tuple[str, str]] = []
    for kind, a, b in _boxes(moov):
        if kind != b"trak":
            continue
        handler, entry = "", ""
        stack = [(a, b)]
        while stack:
            lo, hi = stack.pop()
            for sub, s, e in _boxes(moov, lo, hi):
                if sub in _PATH_BOXES:
                    stack.append((s, e))
                elif sub == b"hdlr":  # version/flags, pre_defined, handler_type
                    handler = moov[s + 8 : s + 12].decode("latin-1")
                elif sub == b"stsd":  # version/flags, entry_count, first entry
                    entry = moov[s + 12 : s + 16].decode("latin-1")
        tracks.append((handler, entry))
    return tracks


def launch_line(
    path: str, tracks: list[tuple[str, str]] | None = None, *, params_per_slice: bool = False
) -> str:
    """The gst-launch description of one mount's pipeline (location quoted): the first
    video track (H.264 or H.265) as pay0 (pt 96) and, when there is one, the first
    AAC audio track as pay1 (pt 97), both passed through as they are in the file.
    `tracks` defaults to `mp4_tracks(path)`; raises MediaError for other files."""
    if tracks is None:
        tracks = mp4_tracks(path)
    video = [entry for handler, entry in tracks if handler == "vide"]
    audio = [entry for handler, entry in tracks if handler == "soun"]
    if not video or video[0] not in VIDEO_CHAINS:
        raise MediaError(
            f"{path}: needs an H.264 or H.265 video track "
            f"({'/'.join(VIDEO_CHAINS)}), has {tracks or 'no tracks'}"
        )
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    head = f'filesrc location="{location}" ! qtdemux name=demux'
    chains = PER_SLICE_CHAINS if params_per_slice else VIDEO_CHAINS
    video_chain = chains[video[0]].format(i=0, pt=96)
    if not audio or audio[0] not in AUDIO_CHAINS:
        if audio:
            log(f"{path}: audio track {audio[0]!r} not served (only {'/'.join(AUDIO_CHAINS)})")
        return f"( {head} ! {video_chain} )"
    # Two branches: a queue each, so one never blocks the demuxer for the other.
    audio_chain = AUDIO_CHAINS[audio[0]].format(i=1, pt=97)
    return f"( {head} demux.video_0 ! queue ! {video_chain} demux.audio_0 ! queue ! {audio_chain} )"


class Branch:
    """One stream of a looping pipeline (probes on its parser's pads); keeps the
    running time of its buffers increasing across the loop point (see Looper)."""

    def __init__(self, looper: Looper, parse: Gst.Element) -> None:
        self.looper = looper
        self.name = parse.get_name()
        self.looping = False  # a loop seek was sent; the next SEGMENT starts a new pass
        self.segment: Gst.Segment | None = None  # the current pass, as sent downstream
        self.end = 0  # end (pts + duration) of the current pass's buffers so far
        self.pushing = False  # the probe is pushing its own replacement SEGMENT
        src, sink = parse.get_static_pad("src"), parse.get_static_pad("sink")
        self.probes = [
            (
                src,
                src.add_probe(
                    Gst.PadProbeType.BUFFER | Gst.PadProbeType.EVENT_DOWNSTREAM,
                    self._downstream,
                ),
            ),
            (sink, sink.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._upstream)),
        ]

    def close(self) -> None:
        """Remove the probes."""
        for pad, probe_id in self.probes:
            pad.remove_probe(probe_id)
        self.probes = []

    def _upstream(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        if event is None or event.type != Gst.EventType.SEEK:
            return Gst.PadProbeReturn.OK
        rate, fmt, flags, start_type, start, stop_type, stop = event.parse_seek()
        if flags & SEGMENT_SEEK:
            return Gst.PadProbeReturn.OK
        # Keep segment mode, or the demuxer would end with EOS instead of looping.
        # (Every branch sends the media's seek on; the demuxer drops the copies that
        # have the same seqnum.)
        seek = Gst.Event.new_seek(
            rate, fmt, flags | SEGMENT_SEEK, start_type, start, stop_type, stop
        )
        seek.set_seqnum(event.get_seqnum())
        pad.push_event(seek)
        return Gst.PadProbeReturn.DROP

    def _downstream(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        if info.type & Gst.PadProbeType.BUFFER:
            buf = info.get_buffer()
            if buf.pts != Gst.CLOCK_TIME_NONE:
                dur = buf.duration if buf.duration != Gst.CLOCK_TIME_NONE else 0
                self.end = max(self.end, buf.pts + dur)
            return Gst.PadProbeReturn.OK
        event = info.get_event()
        if event is None or event.type != Gst.EventType.SEGMENT or self.pushing:
            return Gst.PadProbeReturn.OK
        seg = event.parse_segment()
        if seg.format != Gst.Format.TIME:
            return Gst.PadProbeReturn.OK
        with self.looper.lock:
            looping, self.looping = self.looping, False
            done = self.looper.done_position
        prev = self.segment
        if not looping or prev is None:
            # Preroll or a flushing seek: a fresh timeline, passed on as it is.
            self.segment = seg
            self.end = seg.start
            return Gst.PadProbeReturn.OK
        # A new pass starts where the previous one ended: at the demuxer's end of
        # segment, a stream time (the file's timeline, the same for every branch, so
        # they stay in step; e.g. an AAC track's segment starts at 64 ms, its
        # encoder delay, at stream time 0), else at this branch's own segment stop
        # or last buffer's end.
        sign = 0
        if done != Gst.CLOCK_TIME_NONE:
            sign, played = prev.position_from_stream_time_full(Gst.Format.TIME, done)
        if sign <= 0:
            played = prev.stop if prev.stop != Gst.CLOCK_TIME_NONE else self.end
        sign, running = prev.to_running_time_full(Gst.Format.TIME, played)
        new = seg.copy()
        new.base = running if sign > 0 else prev.base
        self.segment = new
        self.end = new.start
        log(
            f"loop pass {self.looper.passes} {self.name}: "
            f"running time continues at {new.base / Gst.SECOND:.3f}s"
        )
        replacement = Gst.Event.new_segment(new)
        replacement.set_seqnum(event.get_seqnum())
        self.pushing = True
        try:
            pad.push_event(replacement)
        finally:
            self.pushing = False
        return Gst.PadProbeReturn.DROP


class Looper:
    """Loops one client's pipeline and keeps the running time of every stream
    increasing.

    The demuxer plays in segment mode (`start()` once prerolled; a flushing seek
    from the RTSP media, e.g. a PLAY with a Range, gets the SEGMENT flag added), and
    each SEGMENT_DONE triggers a non-flushing segment seek back to 0 (`loop()`). A
    probe on each parser's source pad (one `Branch` per stream: video, audio)
    replaces the SEGMENT event of every new pass with one whose base is the running
    time already played, so the running time of the buffers, and the payloaders'
    RTP timestamps made from it, keep increasing across the loop point (the
    pipeline clock keeps pacing it in real time).
    """

    def __init__(self, bin_: Gst.Bin) -> None:
        self.demux = bin_.get_by_name("demux")
        self.lock = threading.Lock()
        self.passes = 0
        self.done_position = Gst.CLOCK_TIME_NONE  # stream time of the last SEGMENT_DONE
        self.branches: list[Branch] = []
        i = 0
        while (parse := bin_.get_by_name(f"parse{i}")) is not None:
            self.branches.append(Branch(self, parse))
            i += 1

    def close(self) -> None:
        """Remove the probes (they reference this object: a cycle through C)."""
        for branch in self.branches:
            branch.close()
        self.branches = []
        self.demux = None

    def start(self) -> None:
        """Put the demuxer into segment mode (a flushing segment seek to 0)."""
        self._seek(Gst.SeekFlags.FLUSH | SEGMENT_SEEK)

    def loop(self, message: Gst.Message) -> None:
        """At SEGMENT_DONE: back to the start, non-flushing, in segment mode."""
        fmt, position = message.parse_segment_done()
        with self.lock:
            self.passes += 1
            self.done_position = position if fmt == Gst.Format.TIME else Gst.CLOCK_TIME_NONE
            for branch in self.branches:
                branch.looping = True
        self._seek(SEGMENT_SEEK)

    def _seek(self, flags: Gst.SeekFlags) -> None:
        demux = self.demux
        if demux is not None and not demux.seek(
            1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1
        ):
            log(f"seek with {flags} failed")


class LoopingMedia(GstRtspServer.RTSPMedia):
    """An RTSPMedia whose stream loops forever (see Looper)."""

    looper: Looper | None = None

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.SEGMENT_DONE and self.looper is not None:
            self.looper.loop(message)
            return True
        return GstRtspServer.RTSPMedia.do_handle_message(self, message)


def wait_segments(bin_: Gst.Bin, timeout_s: float) -> bool:
    """Wait until every payloader's source pad holds a segment again (what
    gst_rtsp_media_get_rates reads); False after `timeout_s`."""
    pads = []
    i = 0
    while (pay := bin_.get_by_name(f"pay{i}")) is not None:
        pads.append(pay.get_static_pad("src"))
        i += 1
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if all(p.get_sticky_event(Gst.EventType.SEGMENT, 0) is not None for p in pads):
            return True
        time.sleep(0.005)
    return False


def make_factory(launch: str, *, auth: bool) -> GstRtspServer.RTSPMediaFactory:
    """A non-shared factory for a `launch_line`: every client gets its own looping
    pipeline."""
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch)
    factory.set_shared(False)
    factory.set_media_gtype(LoopingMedia.__gtype__)
    if auth:
        factory.add_role_from_structure(
            Gst.Structure.new_from_string(
                f"{ROLE}, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )
        )

    def on_configure(_factory: GstRtspServer.RTSPMediaFactory, media: LoopingMedia) -> None:
        looper = Looper(media.get_element())
        media.looper = looper

        def on_prepared(media: LoopingMedia) -> None:
            looper.start()
            # The flushing seek takes the streams' segments away until data flows
            # again; a PLAY in between makes gst_rtsp_media_get_rates abort the
            # server (g_assert). Wait here, before DESCRIBE is answered, until every
            # payloader holds a segment again (0 aborts in 200 opens with both cores
            # busy, against 1-3 in 40 before).
            if not wait_segments(media.get_element(), 10.0):
                log("no segment on the payloaders 10 s after the segment seek")

        def on_unprepared(media: LoopingMedia) -> None:
            looper.close()
            media.looper = None

        media.connect("prepared", on_prepared)
        media.connect("unprepared", on_unprepared)

    factory.connect("media-configure", on_configure)
    return factory


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="/PATH=FILE.mp4",
        help="serve FILE.mp4 (H.264 or H.265, AAC audio if any) at "
        "rtsp://127.0.0.1:PORT/PATH (repeatable)",
    )
    p.add_argument(
        "--params-per-slice",
        action="store_true",
        help="parameter sets before every IDR slice (a keyframe reaches FFmpeg as one "
        "packet per slice)",
    )
    p.add_argument("--user", help="basic auth user (requires --password)")
    p.add_argument("--password", help="basic auth password")
    p.add_argument(
        "--watch-stdin",
        action="store_true",
        help="exit when stdin reaches EOF (the parent process died)",
    )
    args = p.parse_args(argv)
    if (args.user is None) != (args.password is None):
        p.error("--user and --password go together")
    if not args.mount:
        p.error("at least one --mount is needed")
    mounts: list[tuple[str, str]] = []
    for item in args.mount:
        path, sep, file = item.partition("=")
        if not sep or not path.startswith("/") or not file:
            p.error(f"--mount wants /PATH=FILE, got {item!r}")
        if not os.path.isfile(file):
            p.error(f"--mount {path}: no such file {file!r}")
        file = os.path.abspath(file)
        try:
            launch = launch_line(file, params_per_slice=args.params_per_slice)
        except (MediaError, OSError) as exc:
            p.error(f"--mount {path}: {exc}")
        mounts.append((path, launch))
    args.mounts = mounts
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for path, launch in args.mounts:
        log(f"{path}: {launch}")
        mounts.add_factory(path, make_factory(launch, auth=args.user is not None))
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", ROLE)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)

    # create_source binds and listens (GSocket sets SO_REUSEADDR), raising on failure.
    try:
        source = server.create_source(None)
    except GLib.Error as exc:
        log(f"cannot listen on 127.0.0.1:{args.port}: {exc.message}")
        return EXIT_BIND_FAILED
    source.attach(None)
    loop = GLib.MainLoop()

    def stop() -> bool:
        loop.quit()
        return GLib.SOURCE_REMOVE

    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, stop)
    if args.watch_stdin:

        def on_stdin(fd: int, _condition: GLib.IOCondition) -> bool:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if data:
                return GLib.SOURCE_CONTINUE
            log("stdin closed (parent gone)")
            return stop()

        GLib.io_add_watch(
            sys.stdin.fileno(),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            on_stdin,
        )
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    source.destroy()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
