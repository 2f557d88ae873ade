"""A zone's grid code against the config's grid file when the daemon starts and when
it reloads (issue 27; docs/RULES.md): a code that is not a cell of the file is one
line naming the config file, the camera, the zone, the key and the grid file, and a
reload that brings one keeps the running config."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml

from lookout.base.errors import ConfigError
from lookout.daemon.service import Daemon
from tests.support.config import DEMO_GRID, MakeConfig

ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]


def camera(source: Path, grid_code: str) -> dict[str, object]:
    policy = {"type": "illegal_parking", "classes": ["car"], "dwell_s": 4}
    zone = {"id": "kerb", "polygon": ZONE, "grid_code": grid_code, "policies": [policy]}
    return {"id": "cam-a", "source": str(source), "zones": [zone]}


def test_a_grid_code_not_in_the_grid_file_stops_the_start_and_a_reload(
    assets: Path, make_config: MakeConfig, caplog: pytest.LogCaptureFixture
) -> None:
    video = assets / "footage" / "vtest.avi"
    grid = {"geojson": str(DEMO_GRID)}
    path = make_config([camera(video, "44030510100199")], grid=grid)
    with pytest.raises(ConfigError) as info:
        Daemon.from_config(path)
    assert str(info.value) == (
        f"{path}: cameras[cam-a].zones[0].grid_code: '44030510100199' (zone 'kerb') "
        f"is not a cell of {DEMO_GRID}"
    )
    # Without a grid file the code is kept as written.
    make_config([camera(video, "44030510100199")])
    daemon = Daemon.from_config(path)
    daemon.cases.close()
    assert daemon.cfg.cameras[0].zones[0].grid_code == "44030510100199"

    make_config([camera(video, "44030510100102")], grid=grid)
    daemon = Daemon.from_config(path)
    try:
        assert daemon.grid is not None
        running = daemon.cfg
        # The same grid file, a zone's code changed to one it does not hold.
        cfg = yaml.safe_load(path.read_text())
        cfg["cameras"][0]["zones"][0]["grid_code"] = "44030510100199"
        path.write_text(yaml.safe_dump(cfg))
        with caplog.at_level(logging.ERROR, "lookout.daemon.service"):
            assert not daemon.reload()
        assert "reload rejected" in caplog.text and "zones[0].grid_code" in caplog.text
        assert daemon.cfg is running
    finally:
        daemon.cases.close()
