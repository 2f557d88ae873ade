"""`lookout console`: the console on a recorded file, and its one-line config errors."""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from lookout.cli.main import main
from lookout.console.auth import PasswordHash
from tests.console.conftest import start_lookout
from tests.support.config import write_config
from tests.support.helpers import free_port, wait_until

SECRET = "pw-9f3k"


def config(tmp_path: Path, http: dict[str, Any] | None = None, source: str | None = None) -> Path:
    """A site with camera `cam1` (an RTSP source with a password unless `source`) and
    the daemon's HTTP settings `http`."""
    cam1 = {
        "id": "cam1",
        "source": source or f"rtsp://op:{SECRET}@127.0.0.1:9/cam",
        "zones": [
            {
                "id": "no-parking",
                "polygon": [[600, 62], [730, 62], [730, 118], [600, 118]],
                "policies": [
                    {"type": "illegal_parking", "classes": ["car", "truck", "bus"], "dwell_s": 4}
                ],
            }
        ],
    }
    return write_config(
        tmp_path,
        [cam1],
        name="site.yaml",
        site={"timezone": "Asia/Shanghai"},
        daemon={"out_dir": str(tmp_path / "site-out"), "http": http or {}},
    )


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return bytes(resp.read())


@pytest.mark.slow
def test_console_replays_a_file_in_a_loop_through_the_analysis(
    tmp_path: Path, assets: Path
) -> None:
    port = free_port()
    out = tmp_path / "demo"
    cfg = config(tmp_path)
    video = assets / "footage" / "vtest.avi"
    args = ["console", "--config", str(cfg), "--source", str(video)]
    proc = start_lookout([*args, "--port", str(port), "--out", str(out)], tmp_path, port)
    base = f"http://127.0.0.1:{port}"
    try:

        def tracked() -> bool:
            d = json.loads(get(base + "/api/cameras/cam1"))
            ov = d["overlay"]
            return (
                d["state"] == "streaming" and ov and any(x["track"] >= 0 for x in ov["detections"])
            )

        assert wait_until(tracked, 60), proc.log()[-3000:]
        assert get(base + "/api/cameras/cam1/snapshot.jpg")[:2] == b"\xff\xd8"
        cams = json.loads(get(base + "/api/cameras"))["cameras"]
        assert cams[0]["source"] == str(video) and cams[0]["fps"] > 0
    finally:
        code = proc.stop()
    log = proc.log()
    assert code == 0, log[-3000:]
    assert (out / "console.db").is_file() and not (tmp_path / "site-out").exists()
    assert SECRET not in log and "Traceback" not in log


def test_an_open_address_without_a_password_is_one_line_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = config(tmp_path, {"console": {"require_login": True, "users_file": ""}})
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "daemon.http" in err and "users_file or operator_password: required" in err
    # A users file nobody in which may act: refused when the console starts.
    cfg = config(tmp_path, {"console": {"require_login": True}})
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nobody can act" in err
    console = {"require_login": True, "operator_password": "${NOPE_UNSET}"}
    cfg = config(tmp_path, {"console": console})
    assert main(["run", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert "daemon.http.console.operator_password" in err and "NOPE_UNSET" in err


def test_console_needs_a_recording_for_a_live_camera(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["console", "--config", str(config(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert "cameras[cam1].source: not a recorded file" in err and SECRET not in err
    missing = tmp_path / "nope.mp4"
    cfg = config(tmp_path)
    assert main(["console", "--config", str(cfg), "--source", str(missing)]) == 2
    assert "nope.mp4" in capsys.readouterr().err


def test_hash_password_prints_a_config_value(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse\n"))
    assert main(["console", "--hash-password"]) == 0
    value = capsys.readouterr().out.strip()
    assert value.startswith("scrypt$") and "correct" not in value
    assert PasswordHash.parse(value, "k").matches("correct horse")
