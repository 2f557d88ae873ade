"""The round-trip config writer (lookout.config.writer) and `lookout calibrate --write`:
comments and `${…}` references kept byte for byte, validation before writing, `.bak`,
atomic replace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.cli.main import main
from lookout.config.app import load_config
from lookout.config.writer import (
    ConfigDocument,
    edit_config,
    flow,
    parse_key_path,
    validate_config,
    write_document,
)

SECRET = "s3cr3t-Pa55word"
DEMO = yaml.safe_load((REPO_ROOT / "configs" / "demo.yaml").read_text())
POINTS = DEMO["cameras"][0]["calibration"]["default"]["points"]

# A site config as an operator keeps it: comments everywhere, a secret reference,
# ${LOOKOUT_ASSETS}, quoting, flow and block style. CALIBRATION is the section that
# `lookout calibrate --write` replaces (or inserts).
TEMPLATE = """\
# Site config of the demo campus.   Kept by hand: comments matter.
site:
  name: demo-campus     # shown in cases
  timezone: 'Asia/Shanghai'

model:
  manifest: {manifest}
  runtime: {{providers: [cpu], intra_op_threads: 2}}

cameras:
  - id: vtest
    source: ${{LOOKOUT_ASSETS}}/footage/vtest.avi
    onvif:
      host: 127.0.0.1
      username: operator
      password: ${{CAM_PW}}   # from the environment, never in this file
{calibration}    # Zones below were drawn on 2026-11-20.
    zones:
      - id: no-parking-building
        polygon: [[600, 62], [730, 62], [730, 118], [600, 118]]
        policies:
          - {{type: illegal_parking, classes: [car, truck], dwell_s: 20}}

# Draft cases go to the outbox only.
sinks:
  - {{type: sqlite, path: cases.db}}
"""
OLD_CALIBRATION = """\
    calibration:
      # Surveyed by GIS staff.
      default:
        points:
          - {image: [40, 560], lonlat: [114.0499356, 22.5400722]}
          - {image: [740, 560], lonlat: [114.0500666, 22.5400722]}   # moved? check
          - {image: [20, 250], lonlat: [114.0498852, 22.5401734]}
          - {image: [750, 240], lonlat: [114.0501181, 22.5401791]}
        homography: [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        rms_px: 9.5
"""


def new_calibration(
    header: str = "    calibration:\n      # Surveyed by GIS staff.\n", comments: bool = True
) -> str:
    # A line that did not change keeps its end-of-line comment.
    eol = {1: "   # moved? check"} if comments else {}
    rows = "".join(
        f"          - {{image: [{p['image'][0]}, {p['image'][1]}], "
        f"lonlat: [{p['lonlat'][0]}, {p['lonlat'][1]}]}}{eol.get(i, '')}\n"
        for i, p in enumerate(POINTS)
    )
    return f"{header}      default:\n        points:\n{rows}"


def site(calibration: str) -> str:
    manifest = REPO_ROOT / "models" / "yolox_nano.yaml"
    return TEMPLATE.format(manifest=manifest, calibration=calibration)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAM_PW", SECRET)


def calibrate(tmp_path: Path, config: Path) -> int:
    points = tmp_path / "points.yaml"
    points.write_text(yaml.safe_dump({"points": POINTS}))
    return main(["calibrate", str(points), "--config", str(config), "--camera", "vtest", "--write"])


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (OLD_CALIBRATION, new_calibration()),  # the preset is replaced
        ("", new_calibration("    calibration:\n", comments=False)),  # inserted before zones
    ],
    ids=["replace", "insert"],
)
def test_calibrate_write_keeps_comments_and_references(
    tmp_path: Path, before: str, after: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.yaml"
    original = site(before)
    config.write_text(original)
    assert calibrate(tmp_path, config) == 0
    out = capsys.readouterr().out
    assert "written to" in out and SECRET not in out
    text = config.read_text()
    # Byte for byte: only the calibration section differs; the secret stays a reference.
    assert text == site(after)
    assert "${CAM_PW}" in text and SECRET not in text
    assert (tmp_path / "site.yaml.bak").read_text() == original
    cfg = load_config(config)
    cal = cfg.cameras[0].calibration["default"]
    assert [list(p.image) for p in cal.points] == [p["image"] for p in POINTS]
    assert cal.homography is None and cal.rms_px is None  # only the points are written
    assert cfg.cameras[0].onvif is not None
    assert cfg.cameras[0].onvif.password.get_secret_value() == SECRET
    # No temporary files are left beside the config.
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "points.yaml",
        "site.yaml",
        "site.yaml.bak",
    ]


def test_calibrate_write_again_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(site(new_calibration()))
    assert calibrate(tmp_path, config) == 0
    assert "not rewritten" in capsys.readouterr().out
    assert config.read_text() == site(new_calibration())
    assert not (tmp_path / "site.yaml.bak").exists()


def test_invalid_edit_leaves_the_file_unchanged(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    original = site(OLD_CALIBRATION)
    config.write_text(original)
    stat = config.stat()

    def bad(doc: ConfigDocument) -> None:
        doc.set("cameras[0].analysis_fps", -1)

    with pytest.raises(ConfigError) as info:
        edit_config(config, bad)
    message = str(info.value)
    assert message.startswith(f"{config}: cameras[0].analysis_fps: ")
    assert "not written" in message and "\n" not in message and SECRET not in message
    assert config.read_text() == original and config.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site.yaml"]


def test_unset_secret_fails_validation_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(site(""))
    monkeypatch.delenv("CAM_PW")
    with pytest.raises(ConfigError, match=r"cameras\[0\]\.onvif\.password: environment variable"):
        edit_config(config, lambda doc: doc.set("site.name", "renamed"))
    assert config.read_text() == site("")


def test_set_zones_of_a_camera(tmp_path: Path) -> None:
    """The general API a zone editor uses: find the camera, set its zones."""
    config = tmp_path / "site.yaml"
    original = site("")
    config.write_text(original)
    zones = [
        {
            "id": "kerb",
            "polygon": flow([[0, 300], [200, 300], [200, 400], [0, 400]]),
            "policies": [flow({"type": "illegal_parking", "classes": ["car"], "dwell_s": 60})],
        }
    ]

    def set_zones(doc: ConfigDocument) -> None:
        doc.set(["cameras", doc.camera_index("vtest"), "zones"], zones)

    result = edit_config(config, set_zones)
    assert result.changed and result.backup == config.with_name("site.yaml.bak")
    assert [z.id for z in result.value.cameras[0].zones] == ["kerb"]
    old_zones = original[original.index("      - id: no-parking") : original.index("\n# Draft")]
    new_zones = (
        "      - id: kerb\n"
        "        polygon: [[0, 300], [200, 300], [200, 400], [0, 400]]\n"
        "        policies:\n"
        "          - {type: illegal_parking, classes: [car], dwell_s: 60}\n"
    )
    assert config.read_text() == original.replace(old_zones, new_zones)


def test_file_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    config = tmp_path / "site.yaml"
    config.write_text(site(""))
    doc = ConfigDocument.read(config)
    doc.set("site.name", "renamed")
    config.write_text(site("") + "# someone else's edit\n")
    with pytest.raises(ConfigError, match="changed by someone else"):
        write_document(doc, validate_config)
    assert config.read_text().endswith("# someone else's edit\n")


def test_symlinked_config_is_written_through(tmp_path: Path) -> None:
    target = tmp_path / "real.yaml"
    target.write_text(site(""))
    os.chmod(target, 0o640)
    link = tmp_path / "site.yaml"
    link.symlink_to(target)
    result = edit_config(link, lambda doc: doc.set("site.name", "renamed"))
    assert link.is_symlink() and result.path == target
    assert target.read_text() == site("").replace("name: demo-campus", "name: renamed    ")
    assert (target.stat().st_mode & 0o777) == 0o640
    assert (tmp_path / "real.yaml.bak").read_text() == site("")


@pytest.mark.parametrize("name", ["demo.yaml", "live-example.yaml"])
def test_shipped_configs_round_trip_exactly(name: str) -> None:
    doc = ConfigDocument.read(REPO_ROOT / "configs" / name)
    assert doc.exact and doc.render() == doc.original


def test_pyyaml_style_files_round_trip_exactly(tmp_path: Path) -> None:
    path = tmp_path / "dumped.yaml"
    path.write_text(yaml.safe_dump(DEMO, allow_unicode=True))
    doc = ConfigDocument.read(path)
    assert doc.exact and doc.render() == doc.original


def test_key_paths() -> None:
    assert parse_key_path("cameras[0].calibration.default") == [
        "cameras",
        0,
        "calibration",
        "default",
    ]
    assert parse_key_path(["cameras", 1, "calibration", "1.5"]) == [
        "cameras",
        1,
        "calibration",
        "1.5",
    ]
    with pytest.raises(ValueError):
        parse_key_path("cameras[x]")
