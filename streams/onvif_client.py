"""A synchronous facade over `onvif-zeep-async`: device info, media profiles, stream URIs, PTZ.

The library is asyncio-only; `OnvifClient` owns a private event loop in a daemon thread
(started by `open()`, stopped by `close()`) and runs every request there with a timeout
(`OnvifConfig.timeout_s`), so no call blocks forever. Failures (refused connection,
timeout, SOAP fault, bad credentials) become one-line `SourceError`s naming host:port
and the operation; the password never appears in them (it is sent as a WS-Security
digest, and redacted from messages in case a device echoes it). WSDL files ship with
the library, so nothing is fetched from the Internet; no WS-Discovery is sent.

    client = OnvifClient.open(cfg)          # GetServices (or GetCapabilities), GetDeviceInformation
    uri = client.stream_uri(cfg.profile)    # rtsp://...
    client.goto_preset("2"); client.status().moving
    client.close()
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any, TypeVar

from lookout.base.errors import SourceError
from lookout.streams.settings import OnvifConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
N = TypeVar("N", int, float)
_SETUP_TIMEOUT_S = 30.0  # parsing the bundled WSDL files (no network), first time ~0.3 s each
_GUARD_S = 2.0  # extra wait for the loop itself, beyond a request's own timeout


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    manufacturer: str
    model: str
    firmware: str
    serial: str


@dataclass(frozen=True, slots=True)
class MediaProfile:
    """A media profile; width/height of its video encoder (None when not reported)."""

    token: str
    name: str
    width: int | None
    height: int | None
    has_ptz: bool


@dataclass(frozen=True, slots=True)
class Preset:
    """A PTZ preset; position in the device's space (generic: pan/tilt -1..1, zoom 0..1)."""

    token: str
    name: str
    pan: float | None
    tilt: float | None
    zoom: float | None


@dataclass(frozen=True, slots=True)
class PtzStatus:
    """moving: MoveStatus PanTilt or Zoom is MOVING (False when the device omits it)."""

    moving: bool
    pan: float | None
    tilt: float | None
    zoom: float | None


class _LoopThread:
    """An asyncio loop in a daemon thread; `call` runs a coroutine there, bounded in time."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Result of `coro` run on the loop; TimeoutError after `timeout` seconds."""
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, timeout), self.loop)
        try:
            return future.result(timeout + _GUARD_S)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"no answer within {timeout:g} s") from None

    def stop(self, timeout: float = 2.0) -> None:
        if not self._thread.is_alive():
            return

        async def _drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.loop.shutdown_default_executor()

        try:
            asyncio.run_coroutine_threadsafe(_drain(), self.loop).result(timeout)
        except Exception:  # draining is best effort; the loop stops anyway
            log.debug("ONVIF loop drain did not finish", exc_info=True)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self.loop.close()


def _import_onvif() -> Any:
    """Import `onvif` without its import-time `logging.basicConfig(level=INFO)` taking effect."""
    root = logging.getLogger()
    guard = None if root.handlers else logging.NullHandler()
    if guard is not None:
        root.addHandler(guard)
    try:
        import onvif
    finally:
        if guard is not None:
            root.removeHandler(guard)
    return onvif


class OnvifClient:
    """Blocking ONVIF access to one device. Thread-safe; build it with `open()`."""

    def __init__(
        self, cfg: OnvifConfig, runner: _LoopThread, camera: Any, services: dict[str, Any]
    ) -> None:
        self._cfg = cfg
        self._runner = runner
        self._camera = camera
        self._services = services  # "devicemgmt", "media" and, when the device has one, "ptz"
        self._lock = threading.Lock()
        self._profiles: list[MediaProfile] | None = None
        self._closed = False

    @classmethod
    def open(cls, cfg: OnvifConfig) -> OnvifClient:
        """Connect: discover service addresses, create the services, check the credentials.

        Raises SourceError (one line) when the device cannot be reached or refuses us.
        """
        onvif = _import_onvif()
        runner = _LoopThread(f"onvif-{cfg.host}:{cfg.port}")
        runner.start()
        camera: Any = None
        step = "setup"
        try:
            camera = runner.call(_make_camera(onvif, cfg), _SETUP_TIMEOUT_S)
            # Parse the WSDL first (local files), so the request timeout covers only the network.
            runner.call(camera.create_devicemgmt_service(), _SETUP_TIMEOUT_S)
            step = "service discovery (GetServices/GetCapabilities)"
            runner.call(camera.update_xaddrs(), cfg.timeout_s)
            services = {}
            for name in ("devicemgmt", "media", "ptz"):
                step = f"create {name} service"
                if name != "ptz" or camera.xaddrs.get(onvif.SERVICES["ptz"]["ns"]):
                    create = getattr(camera, f"create_{name}_service")
                    services[name] = runner.call(create(), _SETUP_TIMEOUT_S)
            client = cls(cfg, runner, camera, services)
            info = client.device_info()  # the first authenticated request: checks credentials
        except BaseException as exc:
            if camera is not None:
                _close_quietly(runner, camera)
            runner.stop()
            if isinstance(exc, Exception) and not isinstance(exc, SourceError):
                raise _source_error(cfg, step, exc) from None
            raise
        ptz = "with" if "ptz" in services else "without"
        log.info(
            "ONVIF %s:%s: %s %s, %s PTZ", cfg.host, cfg.port, info.manufacturer, info.model, ptz
        )
        return client

    # -- device and media -------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        r = self._request(
            "GetDeviceInformation", lambda: self._svc("devicemgmt").GetDeviceInformation()
        )
        return DeviceInfo(
            manufacturer=_text(r, "Manufacturer"),
            model=_text(r, "Model"),
            firmware=_text(r, "FirmwareVersion"),
            serial=_text(r, "SerialNumber"),
        )

    def profiles(self) -> list[MediaProfile]:
        """The media profiles, in device order (fetched once, then cached)."""
        with self._lock:
            if self._profiles is not None:
                return list(self._profiles)
        raw = self._request("GetProfiles", lambda: self._svc("media").GetProfiles())
        out = []
        for p in raw or []:
            res = getattr(getattr(p, "VideoEncoderConfiguration", None), "Resolution", None)
            out.append(
                MediaProfile(
                    token=str(p.token),
                    name=_text(p, "Name") or str(p.token),
                    width=_num(getattr(res, "Width", None), int),
                    height=_num(getattr(res, "Height", None), int),
                    has_ptz=getattr(p, "PTZConfiguration", None) is not None,
                )
            )
        with self._lock:
            self._profiles = out
        return list(out)

    def stream_uri(self, profile_index: int) -> str:
        """RTSP URI (RTP-Unicast over RTSP) of the profile at `profile_index`."""
        profiles = self.profiles()
        if not 0 <= profile_index < len(profiles):
            raise SourceError(
                f"ONVIF GetStreamUri on {self._where}: profile index {profile_index} out of "
                f"range (the device has {len(profiles)} profiles)"
            )
        media = self._svc("media")
        setup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        token = profiles[profile_index].token
        r = self._request(
            "GetStreamUri",
            lambda: media.GetStreamUri({"StreamSetup": setup, "ProfileToken": token}),
        )
        uri = _text(r, "Uri")
        if not uri:
            raise SourceError(f"ONVIF GetStreamUri on {self._where}: the device returned no URI")
        return uri

    # -- PTZ --------------------------------------------------------------------------
    @property
    def has_ptz(self) -> bool:
        return "ptz" in self._services

    def presets(self) -> list[Preset]:
        token = self._ptz_profile("GetPresets")
        raw = self._request(
            "GetPresets", lambda: self._svc("ptz").GetPresets({"ProfileToken": token})
        )
        out = []
        for p in raw or []:
            pan, tilt, zoom = _position(getattr(p, "PTZPosition", None))
            name = _text(p, "Name") or str(p.token)
            out.append(Preset(token=str(p.token), name=name, pan=pan, tilt=tilt, zoom=zoom))
        return out

    def goto_preset(self, token: str) -> None:
        profile = self._ptz_profile("GotoPreset")
        self._request(
            f"GotoPreset({token})",
            lambda: self._svc("ptz").GotoPreset({"ProfileToken": profile, "PresetToken": token}),
        )

    def status(self) -> PtzStatus:
        token = self._ptz_profile("GetStatus")
        r = self._request("GetStatus", lambda: self._svc("ptz").GetStatus({"ProfileToken": token}))
        pan, tilt, zoom = _position(getattr(r, "Position", None))
        move = getattr(r, "MoveStatus", None)
        moving = any(
            str(getattr(move, axis, "") or "").upper() == "MOVING" for axis in ("PanTilt", "Zoom")
        )
        return PtzStatus(moving=moving, pan=pan, tilt=tilt, zoom=zoom)

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP sessions and stop the loop thread (idempotent, bounded in time)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        _close_quietly(self._runner, self._camera)
        self._runner.stop()

    def __enter__(self) -> OnvifClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------
    @property
    def _where(self) -> str:
        return f"{self._cfg.host}:{self._cfg.port}"

    def _svc(self, name: str) -> Any:
        return self._services[name]

    def _ptz_profile(self, op: str) -> str:
        if not self.has_ptz:
            raise SourceError(f"ONVIF {op} on {self._where}: the device has no PTZ service")
        profiles = self.profiles()
        wanted = self._cfg.profile
        if wanted < len(profiles) and profiles[wanted].has_ptz:
            return profiles[wanted].token
        for p in profiles:
            if p.has_ptz:
                return p.token
        raise SourceError(f"ONVIF {op} on {self._where}: no media profile has a PTZ configuration")

    def _request(self, op: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._closed:
            raise SourceError(f"ONVIF {op} on {self._where}: the client is closed")
        try:
            return self._runner.call(make(), self._cfg.timeout_s)
        except Exception as exc:
            raise _source_error(self._cfg, op, exc) from None


async def _make_camera(onvif: Any, cfg: OnvifConfig) -> Any:
    # ONVIFCamera() builds aiohttp sessions (needs the running loop) and pops http(s)_proxy
    # from os.environ; put them back, other parts of the process may rely on them.
    saved = {k: os.environ[k] for k in ("http_proxy", "https_proxy") if k in os.environ}
    try:
        return onvif.ONVIFCamera(
            cfg.host,
            cfg.port,
            cfg.username,
            cfg.password.get_secret_value(),
            no_cache=True,  # no sqlite WSDL cache under ~/.cache; the WSDLs are local files
        )
    finally:
        os.environ.update(saved)


def _close_quietly(runner: _LoopThread, camera: Any) -> None:
    try:
        runner.call(camera.close(), 2.0)
    except Exception:
        log.debug("closing ONVIF sessions failed", exc_info=True)


def _source_error(cfg: OnvifConfig, op: str, exc: BaseException) -> SourceError:
    reason = " ".join(_describe(exc, cfg.timeout_s).split())
    secret = cfg.password.get_secret_value()
    if secret:
        reason = reason.replace(secret, "***")
    if len(reason) > 200:
        reason = reason[:197] + "..."
    return SourceError(f"ONVIF {op} on {cfg.host}:{cfg.port} failed: {reason}")


def _describe(exc: BaseException, timeout_s: float) -> str:
    """A short reason for an exception from onvif/zeep/aiohttp (no response bodies)."""
    import aiohttp
    import zeep.exceptions
    from onvif.exceptions import ONVIFAuthError, ONVIFError, ONVIFTimeoutError
    from onvif.util import is_auth_error

    cause = exc.__cause__ if isinstance(exc, ONVIFError) and exc.__cause__ else exc
    if isinstance(cause, ONVIFAuthError) or (
        isinstance(cause, zeep.exceptions.Fault) and is_auth_error(cause)
    ):
        return "authentication failed (NotAuthorized): check the ONVIF username and password"
    if isinstance(cause, FutureCancelled):
        return "cancelled: the client was closed"
    if isinstance(cause, TimeoutError | asyncio.TimeoutError | ONVIFTimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(cause, zeep.exceptions.Fault):
        codes = [getattr(c, "text", None) or str(c) for c in (cause.subcodes or [])]
        subcodes = [c.rsplit("}", 1)[-1].rsplit(":", 1)[-1] for c in codes]
        tail = f" ({', '.join(subcodes)})" if subcodes else ""
        return f"SOAP fault: {cause.message or 'no reason given'}{tail}"
    if isinstance(cause, zeep.exceptions.TransportError):
        if cause.status_code == 401:
            return "authentication failed (HTTP 401): check the ONVIF username and password"
        return f"HTTP {cause.status_code} from the device"
    if isinstance(cause, aiohttp.ClientConnectorError):
        err = cause.os_error
        return f"cannot connect ({os.strerror(err.errno) if err.errno else err})"
    if isinstance(cause, aiohttp.ClientError):
        return f"connection error: {type(cause).__name__} {cause}".strip()
    if isinstance(cause, ONVIFError):
        return str(cause)
    return f"{type(cause).__name__}: {cause}"


def _text(obj: Any, attr: str) -> str:
    value = getattr(obj, attr, None)
    return "" if value is None else str(value)


def _num(value: Any, kind: type[N]) -> N | None:
    try:
        return None if value is None else kind(value)
    except (TypeError, ValueError):
        return None


def _position(pos: Any) -> tuple[float | None, float | None, float | None]:
    """(pan, tilt, zoom) of a tt:PTZVector; None for what the device leaves out."""
    pt = getattr(pos, "PanTilt", None)
    zoom = getattr(pos, "Zoom", None)
    return (
        _num(getattr(pt, "x", None), float),
        _num(getattr(pt, "y", None), float),
        _num(getattr(zoom, "x", None), float),
    )
