"""OnvifClient with the real onvif-zeep-async against the local SOAP responder."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from lookout.base.errors import SourceError
from lookout.streams.onvif_client import (
    DeviceInfo,
    MediaProfile,
    OnvifClient,
    Preset,
    _source_error,
)
from lookout.streams.settings import OnvifConfig
from tests.support.helpers import FakeClock, free_port
from tests.support.onvif_responder import OnvifResponder

PASSWORD = "s3cret-Pw!"
MAIN_URI = "rtsp://127.0.0.1:8554/main"
SUB_URI = "rtsp://127.0.0.1:8554/sub"


def config(port: int, **kw: object) -> OnvifConfig:
    base: dict[str, object] = {
        "host": "127.0.0.1",
        "port": port,
        "username": "admin",
        "password": SecretStr(PASSWORD),
        "timeout_s": 2.0,
    }
    return OnvifConfig.model_validate(base | kw)


@pytest.fixture
def responder() -> Iterator[OnvifResponder]:
    uris = {"profile_main": MAIN_URI, "profile_sub": SUB_URI}
    with OnvifResponder(password=PASSWORD, move_s=0.3, stream_uris=uris) as r:
        yield r


@pytest.fixture
def client(responder: OnvifResponder) -> Iterator[OnvifClient]:
    with OnvifClient.open(config(responder.port)) as c:
        yield c


def test_device_info_profiles_and_stream_uris(
    client: OnvifClient, responder: OnvifResponder
) -> None:
    assert client.device_info() == DeviceInfo("Lookout Test", "SimTower-1", "1.2.3", "SN0001")
    assert client.profiles() == [
        MediaProfile("profile_main", "main", 1920, 1080, True),
        MediaProfile("profile_sub", "sub", 640, 360, True),
    ]
    assert client.stream_uri(0) == MAIN_URI
    assert client.stream_uri(1) == SUB_URI
    ops = responder.operations
    assert ops[:2] == ["GetServices", "GetDeviceInformation"]  # no GetCapabilities needed
    uri_calls = [c for c in responder.calls if c.operation == "GetStreamUri"]
    assert [c.args["ProfileToken"] for c in uri_calls] == ["profile_main", "profile_sub"]
    assert uri_calls[0].args["Stream"] == "RTP-Unicast"
    assert uri_calls[0].args["Protocol"] == "RTSP"
    assert all(c.username == "admin" for c in responder.calls)
    assert ops.count("GetProfiles") == 1  # cached


def test_profile_index_out_of_range(client: OnvifClient) -> None:
    with pytest.raises(SourceError, match=r"profile index 2 out of range \(the device has 2"):
        client.stream_uri(2)


def test_devices_without_get_services_use_get_capabilities() -> None:
    with OnvifResponder(password=PASSWORD, get_services=False) as r:
        with OnvifClient.open(config(r.port)) as c:
            assert c.has_ptz
            assert c.stream_uri(0).startswith("rtsp://")
        assert r.operations[:3] == ["GetServices", "GetCapabilities", "GetDeviceInformation"]


def test_fixed_camera_has_no_ptz() -> None:
    with OnvifResponder(password=PASSWORD, ptz=False) as r, OnvifClient.open(config(r.port)) as c:
        assert not c.has_ptz
        assert [p.has_ptz for p in c.profiles()] == [False, False]
        with pytest.raises(SourceError, match="has no PTZ service"):
            c.presets()


def test_presets(client: OnvifClient) -> None:
    assert client.presets() == [
        Preset("1", "A", 0.0, 0.0, 0.0),
        Preset("2", "B", 0.5, 0.1, 0.2),
        Preset("3", "C", -0.5, -0.1, 0.0),
    ]


def test_goto_preset_moves_then_idles(client: OnvifClient, responder: OnvifResponder) -> None:
    clock = responder.clock = FakeClock()  # the move (0.3 s) goes by this clock only
    assert not client.status().moving
    client.goto_preset("2")
    clock.t += 0.1
    during = client.status()
    assert during.moving
    assert during.pan is not None and 0.0 < during.pan < 0.5
    clock.t += 0.25
    after = client.status()
    assert not after.moving
    assert (after.pan, after.tilt, after.zoom) == pytest.approx((0.5, 0.1, 0.2))
    goto = next(c for c in responder.calls if c.operation == "GotoPreset")
    assert goto.args == {"ProfileToken": "profile_main", "PresetToken": "2"}


def test_unknown_preset_is_a_clear_error(client: OnvifClient) -> None:
    with pytest.raises(
        SourceError, match=r"GotoPreset\(9\) on 127\.0\.0\.1:\d+ failed: SOAP fault"
    ):
        client.goto_preset("9")


@pytest.mark.parametrize(
    ("user", "password"), [("admin", "wrong-password-42"), ("mallory", PASSWORD)]
)
def test_bad_credentials(responder: OnvifResponder, user: str, password: str) -> None:
    cfg = config(responder.port, username=user, password=SecretStr(password))
    with pytest.raises(SourceError) as info:
        OnvifClient.open(cfg)
    msg = str(info.value)
    assert "\n" not in msg
    assert f"127.0.0.1:{responder.port}" in msg
    assert "GetDeviceInformation" in msg and "authentication failed" in msg
    assert password not in msg and PASSWORD not in msg


def test_refused_port_fails_fast() -> None:
    port = free_port()
    start = time.monotonic()
    with pytest.raises(SourceError) as info:
        OnvifClient.open(config(port, timeout_s=1.0))
    assert time.monotonic() - start < 2.0
    msg = str(info.value)
    assert f"127.0.0.1:{port}" in msg and "refused" in msg and "\n" not in msg


def test_silent_device_times_out() -> None:
    with OnvifResponder(password=PASSWORD, delay_s=3.0) as r:
        start = time.monotonic()
        with pytest.raises(SourceError, match=r"discovery .* failed: timed out after 0\.5 s"):
            OnvifClient.open(config(r.port, timeout_s=0.5))
        assert time.monotonic() - start < 1.5


def test_close_stops_the_loop_thread(responder: OnvifResponder) -> None:
    c = OnvifClient.open(config(responder.port))
    name = f"onvif-127.0.0.1:{responder.port}"
    assert any(t.name == name for t in threading.enumerate())
    c.close()
    c.close()  # idempotent
    assert not any(t.name == name for t in threading.enumerate())
    with pytest.raises(SourceError, match="client is closed"):
        c.status()


def test_error_messages_never_carry_the_password() -> None:
    cfg = config(80)
    err = _source_error(cfg, "GetStatus", RuntimeError(f"device said:\n{PASSWORD} is wrong"))
    assert PASSWORD not in str(err) and "***" in str(err) and "\n" not in str(err)
    assert str(err).startswith("ONVIF GetStatus on 127.0.0.1:80 failed:")


def test_importing_onvif_leaves_root_logging_alone() -> None:
    # onvif.client calls logging.basicConfig(level=INFO) at import; the facade hides that.
    code = (
        "import logging, sys; from streams.onvif_client import _import_onvif; "
        "assert 'onvif' not in sys.modules; _import_onvif(); root = logging.getLogger(); "
        "assert not root.handlers and root.level == logging.WARNING, root.handlers"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
