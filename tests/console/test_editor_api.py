"""The zone editor's HTTP API with a stand-in daemon: roles and CSRF on every write,
field errors with the file untouched, a save that asks the daemon to reload, PTZ
refused on a fixed camera (the browser tests are in test_editor_browser.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.config.app import load_config
from lookout.config.daemon import HttpConfig
from lookout.console.server import ConsoleParts, open_console
from lookout.console.state import CameraInfo
from lookout.streams.frame import replace
from lookout.streams.onvif_client import Preset
from lookout.zones.geo import GridIndex
from lookout.zones.policies import NonMotorPolicy, OccupationPolicy
from tests.console.test_server import Client, FakeHost, snap
from tests.support.helpers import dets, frame

CONFIG = f"""# The site (a comment that must survive every save).
site: {{timezone: Asia/Shanghai}}
model: {{manifest: {REPO_ROOT / "models" / "yolox_nano.yaml"}}}
cameras:
  - id: cam1
    source: rtsp://127.0.0.1:8554/cam1
    zones:
      - id: z1   # the kerb
        polygon: [[10, 10], [100, 10], [100, 80]]
        policies: [{{type: illegal_parking, classes: [car], dwell_s: 5}}]
"""
ZONE = {
    "original_id": "z1",
    "id": "z1",
    "polygon": [[10, 10], [110, 10], [110, 90], [10, 90]],
    "policies": [{"type": "illegal_parking", "classes": ["car"], "dwell_s": 5}],
}


@dataclass
class FakeDaemon:
    """The EditorHost a test controls: a reload request counts at once."""

    config_path: Path
    grid: GridIndex | None = None
    reloads: int = 0
    last_reload_ok: bool = True
    gotos: list[str] = field(default_factory=list)

    def request_reload(self) -> None:
        load_config(self.config_path)  # what the daemon's reload would read
        self.reloads += 1

    def input_size(self) -> int:
        return 416

    def ptz_presets(self, camera_id: str) -> list[Preset] | None:
        return None

    def goto_preset(self, camera_id: str, token: str) -> None:
        raise ConfigError(f"camera {camera_id}: no PTZ control")

    def current_preset(self, camera_id: str) -> str | None:
        return None


@pytest.fixture()
def editor(tmp_path: Path) -> Iterator[tuple[ConsoleParts, FakeDaemon]]:
    path = tmp_path / "site.yaml"
    path.write_text(CONFIG)
    cam = load_config(path).camera("cam1")
    host = FakeHost([CameraInfo(cam, snap("cam1"))])
    daemon = FakeDaemon(path)
    http = HttpConfig.model_validate(
        {
            "port": 0,
            "console": {
                "require_login": True,
                "operator_password": "op-1",
                "viewer_password": "view-2",
            },
        }
    )
    parts = open_console(http, host, ["person", "car"], tmp_path, editor=daemon)
    parts.start()
    assert parts.store is not None
    img = np.zeros((120, 160, 3), np.uint8)
    parts.store.observe(replace(frame(1.0, camera="cam1"), image=img), dets(), [])
    yield parts, daemon
    parts.stop()


def post(c: Client, path: str, body: object, token: str | None) -> tuple[int, dict[str, object]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-CSRF-Token"] = token
    code, _, raw = c.call(path, json.dumps(body).encode(), headers)
    return code, json.loads(raw) if raw else {}


def test_editor_api_roles_errors_and_save(editor: tuple[ConsoleParts, FakeDaemon]) -> None:
    parts, daemon = editor
    path = daemon.config_path
    c = Client(parts.port)
    assert c.call("/editor")[0] == 303 and c.call("/api/editor/cam1")[0] == 401
    assert c.login("view-2") == 303
    token = c.csrf("/editor")
    state = json.loads(c.call("/api/editor/cam1")[2])
    assert state["zones"][0]["id"] == "z1" and state["frame"] == {"width": 160, "height": 120}
    assert state["plan"]["mode"] == "whole" and state["ptz"] is False
    # A viewer may preview but not save; nothing reaches the file.
    assert post(c, "/api/editor/cam1/preview", {"zones": [ZONE]}, token)[0] == 200
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [ZONE]}, token)
    assert code == 403 and "read-only" in str(body)
    assert path.read_text() == CONFIG

    c = Client(parts.port)
    assert c.login("op-1") == 303
    token = c.csrf("/editor")
    assert post(c, "/api/editor/cam1/zones", {"zones": [ZONE]}, None)[0] == 403  # no CSRF
    assert post(c, "/api/editor/nope/zones", {"zones": [ZONE]}, token)[0] == 404
    bow_tie = {**ZONE, "polygon": [[10, 10], [100, 100], [100, 10], [10, 100]]}
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [bow_tie]}, token)
    assert code == 422 and body["errors"][0]["field"] == "zones[0].polygon"  # type: ignore[index]
    assert path.read_text() == CONFIG and daemon.reloads == 0
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [ZONE]}, token)
    assert code == 200 and body["changed"] and body["reloaded"], body
    assert daemon.reloads == 1 and body["backup"] == "site.yaml.bak"
    text = path.read_text()
    assert "polygon: [[10, 10], [110, 10], [110, 90], [10, 90]]" in text
    assert "# The site (a comment that must survive every save)." in text
    assert "- id: z1   # the kerb" in text
    # The same zones again: nothing written, no reload.
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [ZONE]}, token)
    assert code == 200 and not body["changed"] and daemon.reloads == 1
    bad = c.call("/api/editor/cam1/goto", b"{not json", {"X-CSRF-Token": token})
    assert bad[0] == 400
    bad = c.call("/api/editor/cam1/zones", b"[1, 2", {"X-CSRF-Token": token})
    assert bad[0] == 400 and path.read_text().count("110, 90") == 1
    code, body = post(c, "/api/editor/cam1/goto", {"preset": "2"}, token)
    assert code == 409 and "no PTZ control" in str(body["error"])
    code, body = post(c, "/api/editor/cam1/fit", {"points": [{"image": [1, 2]}]}, token)
    assert code == 422 and str(body["errors"][0]["field"]).startswith("calibration")  # type: ignore[index]


#: The two policies of issue 24 in one zone: goods left on the walkway, bicycles massed.
OCCUPATION = {
    "type": "occupation",
    "classes": ["static_object"],
    "dwell_s": 300,
    "attended_radius": 2,
}
NON_MOTOR = {
    "type": "non_motor_parking",
    "classes": ["non_motor"],
    "dwell_s": 300,
    "min_count": 5,
    "allowed": [{"start": "07:00", "end": "09:00"}],
}
WALKWAY = {
    "original_id": None,
    "id": "walkway",
    "polygon": [[20, 20], [150, 20], [150, 110], [20, 110]],
    "policies": [OCCUPATION, NON_MOTOR],
}


def test_occupation_and_non_motor_policies_round_trip(
    editor: tuple[ConsoleParts, FakeDaemon],
) -> None:
    """docs/CONSOLE.md, "Zone editor": the occupation and non_motor_parking policies are
    offered with their defaults, saved through the round-trip writer (defaults not
    spelled out) and read back; a bad value is refused beside its field."""
    parts, daemon = editor
    path = daemon.config_path
    c = Client(parts.port)
    assert c.login("op-1") == 303
    token = c.csrf("/editor")
    state = json.loads(c.call("/api/editor/cam1")[2])
    assert "static_object" in state["classes"] and "non_motor" in state["roles"]
    defaults = state["policy_defaults"]
    assert defaults["occupation"]["attended_radius"] == 1.5
    assert defaults["non_motor_parking"]["min_count"] == 3
    assert defaults["non_motor_parking"]["quiet_s"] == 600

    bad = {**WALKWAY, "policies": [OCCUPATION, {**NON_MOTOR, "min_count": 0}]}
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [ZONE, bad]}, token)
    errors = {e["field"]: e["message"] for e in body["errors"]}  # type: ignore[attr-defined]
    assert code == 422 and list(errors) == ["zones[1].policies[1].min_count"], body
    assert "greater than or equal to 1" in errors["zones[1].policies[1].min_count"]
    assert path.read_text() == CONFIG and daemon.reloads == 0
    # The preview says the same without a write.
    code, body = post(c, "/api/editor/cam1/preview", {"zones": [ZONE, bad]}, token)
    assert code == 200 and [e["field"] for e in body["errors"]] == list(errors)  # type: ignore[attr-defined]

    code, body = post(c, "/api/editor/cam1/zones", {"zones": [ZONE, WALKWAY]}, token)
    assert code == 200 and body["changed"] and body["reloaded"], body
    text = path.read_text()
    assert "- id: z1   # the kerb" in text  # the other zone untouched
    written = yaml.safe_load(text)["cameras"][0]["zones"][1]
    assert written["policies"] == [OCCUPATION, NON_MOTOR]
    # As a person writes them: the type first, whole numbers without ".0".
    assert list(written["policies"][0]) == ["type", "classes", "dwell_s", "attended_radius"]
    assert "dwell_s: 300\n" in text and ".0" not in text.split("walkway")[1]
    occupation, non_motor = load_config(path).camera("cam1").zones[1].policies
    assert isinstance(occupation, OccupationPolicy) and occupation.person_classes == ["person"]
    assert isinstance(non_motor, NonMotorPolicy) and non_motor.min_count == 5
    assert non_motor.cluster_radius == 2.0 and non_motor.allowed[0].end == time(9, 0)
    # Read back as the page gets it, and saved again unchanged: nothing written.
    state = json.loads(c.call("/api/editor/cam1")[2])
    back = state["zones"][1]
    assert back["id"] == "walkway"
    assert [p["type"] for p in back["policies"]] == ["occupation", "non_motor_parking"]
    assert back["policies"][1]["min_count"] == 5 and back["policies"][1]["quiet_s"] == 600
    keys = ("id", "polygon", "policies")  # what the page sends back (editor.js `payload`)
    zones = [{"original_id": z["id"], **{k: z[k] for k in keys}} for z in state["zones"]]
    code, body = post(c, "/api/editor/cam1/zones", {"zones": zones}, token)
    assert code == 200 and not body["changed"] and daemon.reloads == 1


def test_a_grid_code_not_in_the_grid_file_is_refused(
    editor: tuple[ConsoleParts, FakeDaemon],
) -> None:
    """Issue 27: with the daemon's grid cells, a zone's grid code that is not one of
    them is an error beside its field in the preview and refuses the save, the file
    untouched, as the config load refuses it (lookout/runtime/services.py)."""
    parts, daemon = editor
    daemon.grid = GridIndex.load_geojson(REPO_ROOT / "configs" / "demo-grid.geojson")
    path = daemon.config_path
    c = Client(parts.port)
    assert c.login("op-1") == 303
    token = c.csrf("/editor")
    typo = {**ZONE, "grid_code": "44030510100199"}
    want = [
        {"field": "zones[0].grid_code", "message": "44030510100199 is not a cell of the grid file"}
    ]
    code, body = post(c, "/api/editor/cam1/preview", {"zones": [typo]}, token)
    assert code == 200 and body["errors"] == want
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [typo]}, token)
    assert code == 422 and body["errors"] == want
    assert path.read_text() == CONFIG and daemon.reloads == 0
    cell = {**ZONE, "grid_code": "44030510100101"}
    code, body = post(c, "/api/editor/cam1/zones", {"zones": [cell]}, token)
    assert code == 200 and body["changed"] and daemon.reloads == 1, body
    assert load_config(path).camera("cam1").zones[0].grid_code == "44030510100101"
