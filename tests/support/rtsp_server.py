"""A local RTSP server for tests, run with the system `/usr/bin/python3`.

Debian's GStreamer RTSP server (python3-gi, gir1.2-gst-rtsp-server-1.0) serves each
`--mount /path=FILE.mp4` (H.264 in MP4) without re-encoding:

    filesrc ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1

One pipeline per client (a shared media would seek every viewer back to the start
when a new one joins). Each pipeline loops forever: the demuxer plays in segment
mode, and at SEGMENT_DONE a non-flushing segment seek goes back to the start; every
new pass is shifted forward by the time already played (its SEGMENT event, as the
payloader sees it, gets that running time as its base), so the running time, and
the RTP timestamps rtph264pay makes from it, keep increasing one frame apart across
the loop point (a client's pts go 2.9, 3.0, 3.1 s ... for a 3 s clip).

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


def launch_line(path: str) -> str:
    """The gst-launch description of one mount's pipeline (location quoted)."""
    location = path.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{location}" ! qtdemux name=demux '
        "! h264parse name=parse "
        "! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    )


class Looper:
    """Loops one client's pipeline and keeps its running time increasing.

    The demuxer plays in segment mode (`start()` once prerolled; a flushing seek
    from the RTSP media, e.g. a PLAY with a Range, gets the SEGMENT flag added), and
    each SEGMENT_DONE triggers a non-flushing segment seek back to 0 (`loop()`). A
    probe on the parser's source pad replaces the SEGMENT event of every new pass
    with one whose base is the running time already played, so the running time of
    the buffers, and the payloader's RTP timestamps made from it, keep increasing
    across the loop point (the pipeline clock keeps pacing it in real time).
    """

    def __init__(self, bin_: Gst.Bin) -> None:
        self.demux = bin_.get_by_name("demux")
        parse = bin_.get_by_name("parse")
        self.lock = threading.Lock()
        self.passes = 0
        self.looping = False  # a loop seek was sent; its SEGMENT starts a new pass
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
        """Remove the probes (they reference this object: a cycle through C)."""
        for pad, probe_id in self.probes:
            pad.remove_probe(probe_id)
        self.probes = []
        self.demux = None

    def start(self) -> None:
        """Put the demuxer into segment mode (a flushing segment seek to 0)."""
        self._seek(Gst.SeekFlags.FLUSH | SEGMENT_SEEK)

    def loop(self) -> None:
        """At SEGMENT_DONE: back to the start, non-flushing, in segment mode."""
        with self.lock:
            self.looping = True
        self._seek(SEGMENT_SEEK)

    def _seek(self, flags: Gst.SeekFlags) -> None:
        demux = self.demux
        if demux is not None and not demux.seek(
            1.0, Gst.Format.TIME, flags, Gst.SeekType.SET, 0, Gst.SeekType.NONE, -1
        ):
            log(f"seek with {flags} failed")

    def _upstream(self, pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
        event = info.get_event()
        if event is None or event.type != Gst.EventType.SEEK:
            return Gst.PadProbeReturn.OK
        rate, fmt, flags, start_type, start, stop_type, stop = event.parse_seek()
        if flags & SEGMENT_SEEK:
            return Gst.PadProbeReturn.OK
        # Keep segment mode, or the demuxer would end with EOS instead of looping.
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
        with self.lock:
            looping, self.looping = self.looping, False
        prev = self.segment
        if not looping or prev is None:
            # Preroll or a flushing seek: a fresh timeline, passed on as it is.
            self.segment = seg
            self.end = seg.start
            return Gst.PadProbeReturn.OK
        # A new pass starts where the previous one's running time ended.
        played = prev.stop if prev.stop != Gst.CLOCK_TIME_NONE else self.end
        new = seg.copy()
        new.base = prev.to_running_time(Gst.Format.TIME, played)
        self.passes += 1
        self.segment = new
        self.end = new.start
        log(f"loop pass {self.passes}: running time continues at {new.base / Gst.SECOND:.3f}s")
        replacement = Gst.Event.new_segment(new)
        replacement.set_seqnum(event.get_seqnum())
        self.pushing = True
        try:
            pad.push_event(replacement)
        finally:
            self.pushing = False
        return Gst.PadProbeReturn.DROP


class LoopingMedia(GstRtspServer.RTSPMedia):
    """An RTSPMedia whose stream loops forever (see Looper)."""

    looper: Looper | None = None

    def do_handle_message(self, message: Gst.Message) -> bool:
        if message.type == Gst.MessageType.SEGMENT_DONE and self.looper is not None:
            self.looper.loop()
            return True
        return GstRtspServer.RTSPMedia.do_handle_message(self, message)


def make_factory(path: str, *, auth: bool) -> GstRtspServer.RTSPMediaFactory:
    """A non-shared factory: every client gets its own looping pipeline."""
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(path))
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

        def on_prepared(_media: LoopingMedia) -> None:
            looper.start()

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
        help="serve FILE.mp4 (H.264) at rtsp://127.0.0.1:PORT/PATH (repeatable)",
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
        mounts.append((path, os.path.abspath(file)))
    args.mounts = mounts
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    for path, file in args.mounts:
        mounts.add_factory(path, make_factory(file, auth=args.user is not None))
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
