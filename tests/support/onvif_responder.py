"""A small ONVIF device for tests: SOAP 1.2 over HTTP on 127.0.0.1, standard library only.

It answers what `onvif-zeep-async` sends: device (GetServices, GetCapabilities,
GetSystemDateAndTime, GetDeviceInformation), media (GetProfiles, GetStreamUri) and PTZ
(GetPresets, GotoPreset, GetStatus, Stop). Operations are matched by the local name of
the first child of the SOAP Body, whatever its namespace prefix. A GotoPreset starts a
simulated move of `move_s` seconds (MoveStatus MOVING, interpolated position); an own
tour (`start_tour`) moves the camera by itself, for 'follow' tests. WS-UsernameToken
credentials are checked (digest or text) unless `check_auth=False`; like real cameras,
the discovery operations are allowed without them. Unknown operations get a SOAP fault.
Every request is recorded in `calls`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape, quoteattr

ENV = "http://www.w3.org/2003/05/soap-envelope"
NS = {
    "env": ENV,
    "tds": "http://www.onvif.org/ver10/device/wsdl",
    "trt": "http://www.onvif.org/ver10/media/wsdl",
    "tptz": "http://www.onvif.org/ver20/ptz/wsdl",
    "tt": "http://www.onvif.org/ver10/schema",
    "ter": "http://www.onvif.org/ver10/error",
}
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
PAN_TILT_SPACE = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace"
ZOOM_SPACE = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace"
# Allowed without credentials (ONVIF Core, PRE_AUTH), as on real cameras.
PRE_AUTH = frozenset(
    {"GetSystemDateAndTime", "GetServices", "GetCapabilities", "GetWsdlUrl", "GetHostname"}
)

Position = tuple[float, float, float]


@dataclass(frozen=True)
class SimPreset:
    token: str
    name: str
    position: Position


@dataclass(frozen=True)
class SimProfile:
    token: str
    name: str
    width: int
    height: int


@dataclass(frozen=True)
class RecordedCall:
    """One request: the operation, its leaf arguments (local name -> text), the user."""

    operation: str
    args: dict[str, str]
    username: str | None


DEFAULT_PRESETS = (
    SimPreset("1", "A", (0.0, 0.0, 0.0)),
    SimPreset("2", "B", (0.5, 0.1, 0.2)),
    SimPreset("3", "C", (-0.5, -0.1, 0.0)),
)
DEFAULT_PROFILES = (
    SimProfile("profile_main", "main", 1920, 1080),
    SimProfile("profile_sub", "sub", 640, 360),
)


class SoapFault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, http_status: int = 400) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.http_status = code, subcode, reason, http_status


@dataclass
class _Move:
    start: Position
    end: Position
    t0: float
    duration: float

    def at(self, now: float) -> tuple[Position, bool]:
        if now < self.t0:
            # Before this move began the camera stood where it starts (a test asking
            # about a picture older than the latest GotoPreset: analysis lags).
            return self.start, False
        if self.duration <= 0 or now >= self.t0 + self.duration:
            return self.end, False
        f = max(0.0, (now - self.t0) / self.duration)
        pos = tuple(a + (b - a) * f for a, b in zip(self.start, self.end, strict=True))
        return (pos[0], pos[1], pos[2]), True


@dataclass
class _Tour:
    stops: list[tuple[str, float]]  # (preset token, dwell seconds)
    index: int = 0
    dwell_until: float | None = None  # set once the move to stops[index] has ended


@dataclass
class OnvifResponder:
    """The simulated camera. Use as a context manager, or call start()/stop()."""

    username: str = "admin"
    password: str = "secret"
    check_auth: bool = True
    move_s: float = 0.5
    presets: tuple[SimPreset, ...] = DEFAULT_PRESETS
    profiles: tuple[SimProfile, ...] = DEFAULT_PROFILES
    stream_uris: dict[str, str] = field(default_factory=dict)  # profile token -> URI
    get_services: bool = True  # False: fault like old devices, so clients use GetCapabilities
    ptz: bool = True  # False: a fixed camera (no PTZ service, no PTZConfiguration)
    delay_s: float = 0.0  # answer every request this late (timeout tests)
    clock: Callable[[], float] = time.monotonic
    calls: list[RecordedCall] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._move = _Move(self.presets[0].position, self.presets[0].position, 0.0, 0.0)
        self._tour: _Tour | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> OnvifResponder:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="onvif-responder"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def __enter__(self) -> OnvifResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "responder not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def operations(self) -> list[str]:
        with self._lock:
            return [c.operation for c in self.calls]

    # -- simulation ------------------------------------------------------------------
    def preset(self, token: str) -> SimPreset:
        for p in self.presets:
            if p.token == token:
                return p
        raise SoapFault("env:Sender", "ter:NoToken", f"no preset {token!r}")

    def goto(self, token: str, now: float | None = None) -> None:
        """Start a move to a preset (as GotoPreset does, which also ends an own tour)."""
        with self._lock:
            self._tour = None
            self._goto_locked(self.preset(token).position, self.clock() if now is None else now)

    def _goto_locked(self, target: Position, now: float) -> None:
        pos, _ = self._move.at(now)
        self._move = _Move(pos, target, now, self.move_s)

    def start_tour(self, stops: list[tuple[str, float]]) -> None:
        """Move through (preset token, dwell seconds) stops by itself, forever."""
        for token, _ in stops:
            self.preset(token)
        with self._lock:
            self._tour = _Tour(list(stops))
            self._goto_locked(self.preset(stops[0][0]).position, self.clock())

    def stop_tour(self) -> None:
        with self._lock:
            self._tour = None

    def state(self, now: float | None = None) -> tuple[Position, bool]:
        """(pan, tilt, zoom), moving — advancing the own tour lazily."""
        with self._lock:
            t = self.clock() if now is None else now
            self._advance_tour_locked(t)
            pos, moving = self._move.at(t)
            # As GetStatus reports it: a "move" to where the camera already is (a
            # GotoPreset of the current preset) is no movement.
            return pos, moving and self._move.end != self._move.start

    def _advance_tour_locked(self, now: float) -> None:
        tour = self._tour
        while tour is not None:
            move_end = self._move.t0 + self._move.duration
            if tour.dwell_until is None:
                if now < move_end:
                    return
                tour.dwell_until = move_end + tour.stops[tour.index][1]
            if now < tour.dwell_until:
                return
            start = tour.dwell_until
            tour.index = (tour.index + 1) % len(tour.stops)
            tour.dwell_until = None
            target = self.preset(tour.stops[tour.index][0]).position
            self._move = _Move(self._move.end, target, start, self.move_s)

    # -- SOAP ------------------------------------------------------------------------
    def handle(self, body: bytes) -> tuple[int, str]:
        """Answer one SOAP request: (HTTP status, envelope)."""
        try:
            root = ET.fromstring(body)
            soap_body = next((e for e in root if _local(e.tag) == "Body"), None)
            if soap_body is None or len(soap_body) == 0:
                raise SoapFault("env:Sender", "ter:InvalidArgVal", "no SOAP Body")
            request = soap_body[0]
            op = _local(request.tag)
            user = _username(root)
            args = {_local(e.tag): (e.text or "").strip() for e in request.iter() if len(e) == 0}
            args.pop(op, None)
            with self._lock:
                self.calls.append(RecordedCall(op, args, user))
            if self.delay_s:
                self._closing.wait(self.delay_s)
            if self.check_auth and op not in PRE_AUTH and not self._authorized(root):
                raise SoapFault("env:Sender", "ter:NotAuthorized", "Sender not Authorized")
            answer = getattr(self, f"_op_{op}", None)
            if answer is None:
                raise SoapFault(
                    "env:Receiver", "ter:ActionNotSupported", f"{op} not supported", 500
                )
            return 200, _envelope(answer(args))
        except SoapFault as fault:
            return fault.http_status, _envelope(_fault_xml(fault))
        except ET.ParseError as exc:
            return 400, _envelope(_fault_xml(SoapFault("env:Sender", "ter:WellFormed", str(exc))))

    def _authorized(self, root: ET.Element) -> bool:
        token = root.find(f".//{{{WSSE}}}UsernameToken")
        if token is None:
            return False
        user = token.findtext(f"{{{WSSE}}}Username", "")
        pw = token.find(f"{{{WSSE}}}Password")
        if user != self.username or pw is None:
            return False
        given = (pw.text or "").strip()
        if pw.get("Type", "").endswith("#PasswordDigest"):
            nonce = base64.b64decode(token.findtext(f"{{{WSSE}}}Nonce", ""))
            created = token.findtext(f"{{{WSU}}}Created", "")
            digest = hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
            return base64.b64encode(digest).decode() == given
        return given == self.password

    def _op_GetServices(self, args: dict[str, str]) -> str:
        if not self.get_services:
            raise SoapFault("env:Receiver", "ter:ActionNotSupported", "GetServices", 500)
        rows = [("tds", "device"), ("trt", "media")] + ([("tptz", "ptz")] if self.ptz else [])
        services = "".join(
            f"<tds:Service><tds:Namespace>{NS[p]}</tds:Namespace>"
            f"<tds:XAddr>{self.base_url}/onvif/{name}_service</tds:XAddr>"
            "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>"
            "</tds:Service>"
            for p, name in rows
        )
        return f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"

    def _op_GetCapabilities(self, args: dict[str, str]) -> str:
        u = self.base_url
        return (
            "<tds:GetCapabilitiesResponse><tds:Capabilities>"
            f"<tt:Device><tt:XAddr>{u}/onvif/device_service</tt:XAddr></tt:Device>"
            f"<tt:Media><tt:XAddr>{u}/onvif/media_service</tt:XAddr></tt:Media>"
            + (f"<tt:PTZ><tt:XAddr>{u}/onvif/ptz_service</tt:XAddr></tt:PTZ>" if self.ptz else "")
            + "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        )

    def _op_GetSystemDateAndTime(self, args: dict[str, str]) -> str:
        n = datetime.now(UTC)
        return (
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
            "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
            "<tt:TimeZone><tt:TZ>CST-8</tt:TZ></tt:TimeZone><tt:UTCDateTime>"
            f"<tt:Time><tt:Hour>{n.hour}</tt:Hour><tt:Minute>{n.minute}</tt:Minute>"
            f"<tt:Second>{n.second}</tt:Second></tt:Time><tt:Date><tt:Year>{n.year}</tt:Year>"
            f"<tt:Month>{n.month}</tt:Month><tt:Day>{n.day}</tt:Day></tt:Date>"
            "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        )

    def _op_GetDeviceInformation(self, args: dict[str, str]) -> str:
        return (
            "<tds:GetDeviceInformationResponse><tds:Manufacturer>Lookout Test</tds:Manufacturer>"
            "<tds:Model>SimTower-1</tds:Model><tds:FirmwareVersion>1.2.3</tds:FirmwareVersion>"
            "<tds:SerialNumber>SN0001</tds:SerialNumber><tds:HardwareId>HW1</tds:HardwareId>"
            "</tds:GetDeviceInformationResponse>"
        )

    def _op_GetProfiles(self, args: dict[str, str]) -> str:
        out = []
        for p in self.profiles:
            out.append(
                f'<trt:Profiles token={quoteattr(p.token)} fixed="true">'
                f"<tt:Name>{escape(p.name)}</tt:Name>"
                '<tt:VideoSourceConfiguration token="vsc"><tt:Name>vsc</tt:Name>'
                "<tt:UseCount>2</tt:UseCount><tt:SourceToken>vs</tt:SourceToken>"
                '<tt:Bounds x="0" y="0" width="1920" height="1080"/>'
                "</tt:VideoSourceConfiguration>"
                f'<tt:VideoEncoderConfiguration token="vec_{escape(p.token)}">'
                f"<tt:Name>{escape(p.name)}</tt:Name><tt:UseCount>1</tt:UseCount>"
                "<tt:Encoding>H264</tt:Encoding>"
                f"<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height>"
                "</tt:Resolution><tt:Quality>4</tt:Quality>"
                "<tt:SessionTimeout>PT60S</tt:SessionTimeout>"
                "</tt:VideoEncoderConfiguration>"
                + (_PTZ_CONFIGURATION if self.ptz else "")
                + "</trt:Profiles>"
            )
        return f"<trt:GetProfilesResponse>{''.join(out)}</trt:GetProfilesResponse>"

    def _op_GetStreamUri(self, args: dict[str, str]) -> str:
        token = args.get("ProfileToken", "")
        if token not in {p.token for p in self.profiles}:
            raise SoapFault("env:Sender", "ter:NoProfile", f"no profile {token!r}")
        uri = self.stream_uris.get(token, f"rtsp://127.0.0.1:8554/{token}")
        return (
            "<trt:GetStreamUriResponse><trt:MediaUri>"
            f"<tt:Uri>{escape(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
            "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
            "</trt:MediaUri></trt:GetStreamUriResponse>"
        )

    def _op_GetPresets(self, args: dict[str, str]) -> str:
        rows = "".join(
            f"<tptz:Preset token={quoteattr(p.token)}><tt:Name>{escape(p.name)}</tt:Name>"
            f"<tt:PTZPosition>{_position_xml(p.position)}</tt:PTZPosition></tptz:Preset>"
            for p in self.presets
        )
        return f"<tptz:GetPresetsResponse>{rows}</tptz:GetPresetsResponse>"

    def _op_GotoPreset(self, args: dict[str, str]) -> str:
        self.goto(args.get("PresetToken", ""))
        return "<tptz:GotoPresetResponse/>"

    def _op_Stop(self, args: dict[str, str]) -> str:
        with self._lock:
            self._tour = None
            now = self.clock()
            pos, _ = self._move.at(now)
            self._move = _Move(pos, pos, now, 0.0)
        return "<tptz:StopResponse/>"

    def _op_GetStatus(self, args: dict[str, str]) -> str:
        with self._lock:
            now = self.clock()
            self._advance_tour_locked(now)
            pos, moving = self._move.at(now)
            end, start = self._move.end, self._move.start
        pt_moving = moving and end[:2] != start[:2]
        zoom_moving = moving and end[2] != start[2]
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            "<tptz:GetStatusResponse><tptz:PTZStatus>"
            f"<tt:Position>{_position_xml(pos)}</tt:Position><tt:MoveStatus>"
            f"<tt:PanTilt>{'MOVING' if pt_moving else 'IDLE'}</tt:PanTilt>"
            f"<tt:Zoom>{'MOVING' if zoom_moving else 'IDLE'}</tt:Zoom></tt:MoveStatus>"
            f"<tt:UtcTime>{stamp}</tt:UtcTime></tptz:PTZStatus></tptz:GetStatusResponse>"
        )


_PTZ_CONFIGURATION = (
    '<tt:PTZConfiguration token="ptz0"><tt:Name>ptz</tt:Name>'
    "<tt:UseCount>2</tt:UseCount><tt:NodeToken>node0</tt:NodeToken></tt:PTZConfiguration>"
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _username(root: ET.Element) -> str | None:
    return root.findtext(f".//{{{WSSE}}}UsernameToken/{{{WSSE}}}Username")


def _position_xml(pos: Position) -> str:
    return (
        f'<tt:PanTilt x="{pos[0]:.6f}" y="{pos[1]:.6f}" space="{PAN_TILT_SPACE}"/>'
        f'<tt:Zoom x="{pos[2]:.6f}" space="{ZOOM_SPACE}"/>'
    )


def _fault_xml(fault: SoapFault) -> str:
    return (
        f"<env:Fault><env:Code><env:Value>{fault.code}</env:Value>"
        f"<env:Subcode><env:Value>{fault.subcode}</env:Value></env:Subcode></env:Code>"
        f'<env:Reason><env:Text xml:lang="en">{escape(fault.reason)}</env:Text></env:Reason>'
        "</env:Fault>"
    )


def _envelope(body: str) -> str:
    decl = " ".join(f'xmlns:{p}="{u}"' for p, u in NS.items())
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><env:Envelope {decl}>'
        f"<env:Body>{body}</env:Body></env:Envelope>"
    )


def _handler_for(responder: OnvifResponder) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10.0  # idle keep-alive connections end

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, text = responder.handle(self.rfile.read(length))
            data = text.encode("utf-8")
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout tests)
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler
