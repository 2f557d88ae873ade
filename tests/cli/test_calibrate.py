"""`lookout calibrate`: the fit printed and written into the config, and too few
points refused in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lookout.cli.main import main
from lookout.config.app import load_config
from lookout.zones.locate import fit_calibration
from tests.support.config import demo_config, write_config


def setup(tmp_path: Path, n_points: int = 8) -> tuple[Path, Path]:
    """The demo config without its camera's calibration, and a points file of the first
    `n_points` of its ground control points."""
    demo = demo_config()
    points = demo["cameras"][0]["calibration"]["default"]["points"][:n_points]
    del demo["cameras"][0]["calibration"]
    cfg = write_config(tmp_path, name="site.yaml", **demo)
    pts = tmp_path / "points.yaml"
    pts.write_text(yaml.safe_dump({"points": points}))
    return cfg, pts


def test_calibrate_prints_errors_and_writes_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, pts = setup(tmp_path)
    assert load_config(cfg).cameras[0].calibration == {}
    assert main(["calibrate", str(pts), "--config", str(cfg), "--camera", "vtest", "--write"]) == 0
    out = capsys.readouterr().out
    rows = [ln for ln in out.splitlines() if ln.strip()[:1].isdigit()]
    assert len(rows) == 8 and all(float(r.split()[-2]) < 0.5 for r in rows)
    cal = load_config(cfg).cameras[0].calibration["default"]
    # Only the points are stored; the homography is refitted from them on load.
    assert len(cal.points) == 8 and cal.homography is None and cal.rms_px is None
    assert fit_calibration(cal, "written").rms_px < 0.5
    assert (tmp_path / "site.yaml.bak").is_file()


def test_calibrate_with_too_few_points_is_one_line_exit_2(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cfg, pts = setup(tmp_path, n_points=3)
    assert main(["calibrate", str(pts), "--config", str(cfg), "--camera", "vtest"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "points" in err[0] and "Traceback" not in err[0]
