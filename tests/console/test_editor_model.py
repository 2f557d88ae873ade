"""The zone editor's edits of a real config file, without a browser: per-field errors
from the config's own models, zone-by-zone edits that keep comments, `${…}`
references and untouched zones byte for byte, and the region plan and grid cells it
shows (the browser tests are in test_editor_browser.py)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT
from lookout.config.app import load_config
from lookout.config.writer import ConfigDocument, edit_config
from lookout.console.editor_model import (
    CalibrationEdit,
    ZoneEdit,
    apply_edit,
    check_calibration,
    check_edit,
    edited_camera,
    fit_json,
    grid_json,
    plan_json,
)
from lookout.zones.locate import load_grid

DEMO = REPO_ROOT / "configs" / "demo.yaml"
VAN = [[600, 62], [730, 62], [730, 118], [600, 118]]


@pytest.fixture()
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo config beside its grid, with a `${VAR}` secret and a second camera
    whose zones belong to PTZ presets."""
    monkeypatch.setenv("EDITOR_TEST_PW", "s3cret-pw")
    text = DEMO.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    text = text.replace(
        "codes:",
        """  - id: tower
    source: rtsp://127.0.0.1:8554/tower   # the tower on the roof
    zones:
      - id: kerb
        preset: "1"
        polygon: [[10, 10], [100, 10], [100, 80]]
        policies: [{type: illegal_parking, classes: [vehicle], dwell_s: 30}]

daemon:
  http:
    console: {require_login: true, operator_password: "${EDITOR_TEST_PW}"}

codes:""",
    )
    path = tmp_path / "site.yaml"
    path.write_text(text)
    (tmp_path / "demo-grid.geojson").write_text((DEMO.parent / "demo-grid.geojson").read_text())
    load_config(path)  # valid as written
    return path


def zone(zid: str, polygon: Sequence[Sequence[float]], **policy: object) -> dict[str, object]:
    pol = {"type": "illegal_parking", "classes": ["car", "truck"], "dwell_s": 20, **policy}
    return {"id": zid, "polygon": polygon, "policies": [pol]}


def save(path: Path, camera: str, edit: ZoneEdit) -> bool:
    checked = check_edit(edit)
    assert checked.ok, checked.errors

    def change(doc: ConfigDocument) -> None:
        apply_edit(doc, camera, edit, checked)

    return edit_config(path, change).changed


def test_self_crossing_polygon_is_an_error_beside_its_field() -> None:
    bow_tie = [[100, 100], [300, 300], [300, 100], [100, 300]]
    checked = check_edit(ZoneEdit(zones=[zone("ok", VAN), zone("bad", bow_tie)]))
    assert not checked.ok
    fields = dict(checked.errors)
    assert set(fields) == {"zones[1].polygon"}
    assert "Self-intersection" in fields["zones[1].polygon"]
    wrong = check_edit(ZoneEdit(zones=[zone("a", VAN, dwell_s=-1, min_confidence=2)]))
    assert {f for f, _ in wrong.errors} == {
        "zones[0].policies[0].dwell_s",
        "zones[0].policies[0].min_confidence",
    }
    dup = check_edit(ZoneEdit(zones=[zone("a", VAN), zone("a", VAN)]))
    assert dup.errors == [("zones[1].id", "duplicate zone id a")]
    detect = check_edit(ZoneEdit(detect={"mode": "tiles", "max_crops": 0}))
    assert {f for f, _ in detect.errors} == {"detect.mode", "detect.max_crops"}


def test_a_drawn_zone_is_written_and_everything_else_kept(config: Path) -> None:
    before = config.read_text()
    cfg = load_config(config).camera("vtest")
    zones = [
        {**z.model_dump(mode="json", exclude={"preset", "ground_polygon"}), "original_id": z.id}
        for z in cfg.zones
        if z.id != "no-parking-building"
    ]
    drawn = zone("kerb-drawn", [[600, 62], [730, 62], [730.25, 118], [600, 118]])
    assert save(config, "vtest", ZoneEdit(zones=[*zones, drawn]))
    after = config.read_text()
    # The secret stays a reference; the comments of the file and of the kept zone stay.
    assert '"${EDITOR_TEST_PW}"' in after and "s3cret-pw" not in after
    for line in before.splitlines():
        if line.strip().startswith("#") and "Kerb in front" not in line:
            assert line in after, line
    assert "# The road and the walkway across the middle of the frame." in after
    assert "  - id: tower\n    source: rtsp://127.0.0.1:8554/tower   # the tower" in after
    assert "no-parking-building" not in after
    assert "polygon: [[600, 62], [730, 62], [730.2, 118], [600, 118]]" in after
    # Defaults the user did not change are not spelled out.
    written = yaml.safe_load(after)["cameras"][0]["zones"][1]
    assert written["policies"] == [
        {"type": "illegal_parking", "classes": ["car", "truck"], "dwell_s": 20}
    ]
    assert (config.parent / "site.yaml.bak").read_text() == before
    # The same edit again changes nothing and writes nothing.
    again = load_config(config).camera("vtest").zones
    same = [{**z.model_dump(mode="json"), "original_id": z.id} for z in again]
    for z in same:
        z.pop("preset"), z.pop("ground_polygon")
    assert not save(config, "vtest", ZoneEdit(zones=same))


def test_an_edit_touches_only_its_preset_and_changed_keys(config: Path) -> None:
    # Preset 2 of the tower gets a zone; preset 1's zone is untouched.
    assert save(config, "tower", ZoneEdit(preset="2", zones=[zone("gate", VAN)]))
    cam = load_config(config).camera("tower")
    assert [(z.id, z.preset) for z in cam.zones] == [("kerb", "1"), ("gate", "2")]
    text = config.read_text()
    assert "policies: [{type: illegal_parking, classes: [vehicle], dwell_s: 30}]" in text
    # Renaming a zone and changing one field keeps the zone's place and other keys.
    renamed = {**zone("gate-2", VAN, dwell_s=45), "original_id": "gate"}
    detect = {"mode": "regions", "min_object_px": 16, "overlap_px": 96, "full_frame": False}
    assert save(
        config, "tower", ZoneEdit(preset="2", zones=[renamed], detect=detect | {"max_crops": 12})
    )
    cam = load_config(config).camera("tower")
    assert [(z.id, z.preset, getattr(z.policies[0], "dwell_s", None)) for z in cam.zones] == [
        ("kerb", "1", 30.0),
        ("gate-2", "2", 45.0),
    ]
    assert cam.preset_detect["2"].mode == "regions" and cam.preset_detect["2"].min_object_px == 16
    assert "preset_detect" in config.read_text() and cam.detect.mode == "auto"
    # Deleting every zone of preset 2 leaves preset 1's.
    assert save(config, "tower", ZoneEdit(preset="2", zones=[]))
    assert [z.id for z in load_config(config).camera("tower").zones] == ["kerb"]


def test_a_file_that_would_not_load_is_not_written(config: Path) -> None:
    before = config.read_text()
    edit = ZoneEdit(zones=[zone("x", VAN, classes=["no-such-class-anywhere"])])
    checked = check_edit(edit)
    assert checked.ok  # the zone alone is fine; the whole file is checked on write

    def change(doc: ConfigDocument) -> None:
        apply_edit(doc, "nope", edit, checked)

    with pytest.raises(ConfigError, match="camera 'nope' is not in the config"):
        edit_config(config, change)
    assert config.read_text() == before and not (config.parent / "site.yaml.bak").exists()


def test_plan_follows_the_zones_and_detect_settings(config: Path) -> None:
    cam = load_config(config).camera("vtest")
    whole = plan_json(cam, None, 768, 576, 416)
    assert whole["mode"] == "whole" and whole["images_per_frame"] == 1
    assert whole["smallest_px"] == pytest.approx(36 / (416 / 768), abs=0.1)
    edit = ZoneEdit(zones=[zone("kerb", VAN)], detect={"mode": "regions", "min_object_px": 20})
    regions = plan_json(edited_camera(cam, None, check_edit(edit)), None, 768, 576, 416)
    assert regions["mode"] == "regions" and len(regions["crops"]) == 1
    x, y, w, h = regions["crops"][0]
    assert x <= 600 and y <= 62 and x + w >= 730 and y + h >= 118
    assert regions["zones"] == {"kerb": {"crops": 1, "smallest_px": regions["smallest_px"]}}


def test_calibration_fit_matches_the_cli_and_projects_the_grid(config: Path) -> None:
    cfg = load_config(config)
    cam = cfg.camera("vtest")
    points = [p.model_dump(mode="json") for p in cam.calibration["default"].points]
    cal_cfg, errors = check_calibration(CalibrationEdit(points=points))
    assert cal_cfg is not None and not errors
    cal, fit = fit_json(cal_cfg, "test")
    assert fit["rms_px"] == pytest.approx(cal.rms_px, abs=1e-3) and fit["rms_px"] < 0.5
    grid = load_grid(cfg.grid, cfg.path(cfg.grid.geojson)) if cfg.grid else None
    cells = grid_json(grid, cal, 768, 576)
    assert {c["code"] for c in cells} == {"44030510100101", "44030510100102"}
    for c in cells:
        assert all(0 <= x <= 768 and 0 <= y <= 576 for x, y in c["polygon"])
    _, bad = check_calibration(CalibrationEdit(points=points[:2]))
    assert bad and bad[0][0] == "points"


def test_a_map_zone_is_kept_as_written_when_others_change(config: Path) -> None:
    ground = [[114.05, 22.54012], [114.0501, 22.54012], [114.0501, 22.5402], [114.05, 22.5402]]
    text = config.read_text().replace(
        "      - id: no-vending-road\n",
        f"      - id: kerb-on-the-map\n        ground_polygon: {ground}\n"
        "        policies: [{type: illegal_parking, classes: [vehicle]}]\n"
        "      - id: no-vending-road\n",
    )
    config.write_text(text)
    cam = load_config(config).camera("vtest")
    # What the page sends back: the map zone as it got it (no image polygon), plus a new zone.
    sent = [
        {**z.model_dump(mode="json", exclude={"preset"}), "original_id": z.id} for z in cam.zones
    ]
    assert sent[1]["id"] == "kerb-on-the-map" and sent[1]["polygon"] == []
    assert save(config, "vtest", ZoneEdit(zones=[*sent, zone("new", VAN)]))
    after = load_config(config).camera("vtest")
    assert [z.id for z in after.zones] == [
        "no-parking-building",
        "kerb-on-the-map",
        "no-vending-road",
        "new",
    ]
    assert after.zones[1].ground_polygon == [tuple(p) for p in ground]
    assert f"ground_polygon: {ground}" in config.read_text()


def test_field_errors_speak_the_pages_language() -> None:
    """docs/I18N.md: the sentence is the catalogue's, the key path and pydantic's own
    words stay as they are."""
    bow_tie = [[100, 100], [300, 300], [300, 100], [100, 300]]
    zh = dict(check_edit(ZoneEdit(zones=[zone("bad", bow_tie)]), "zh-CN").errors)
    assert zh["zones[0].polygon"].startswith("取值无效：") and "Self-intersection" in str(zh)
    no_policy = check_edit(ZoneEdit(zones=[{"id": "a", "polygon": VAN, "policies": []}]), "zh-CN")
    assert [(f, m[:5]) for f, m in no_policy.errors] == [("zones[0].policies", "数量不足：")]
    no_id = {k: v for k, v in zone("a", VAN).items() if k != "id"}
    assert ("zones[0].id", "必填") in check_edit(ZoneEdit(zones=[no_id]), "zh-CN").errors
    extra = check_edit(ZoneEdit(detect={"tiles": 3}), "zh-CN")
    assert extra.errors == [("detect.tiles", "不认识的配置项")]
    assert dict(check_edit(ZoneEdit(detect={"max_crops": 0}), "en").errors) == {
        "detect.max_crops": "out of range: Input should be greater than or equal to 1"
    }


def test_a_grid_code_must_be_a_cell_of_the_grid_file(config: Path) -> None:
    """Issue 27: with a `grid:` file a zone's grid code is one of its cells (the error
    beside the field, in the page's language, as at config load); without one the code
    is kept as written, but it is an id (lookout/base/ids.py) either way."""
    cfg = load_config(config)
    assert cfg.grid is not None
    grid = load_grid(cfg.grid, cfg.path(cfg.grid.geojson))
    typo = {**zone("kerb", VAN), "grid_code": "44030510100199"}
    cell = {**zone("road", VAN), "grid_code": "44030510100102"}
    checked = check_edit(ZoneEdit(zones=[cell, typo]), "en", grid)
    assert checked.errors == [
        ("zones[1].grid_code", "44030510100199 is not a cell of the grid file")
    ]
    zh = check_edit(ZoneEdit(zones=[typo]), "zh-CN", grid)
    assert zh.errors == [("zones[0].grid_code", "网格文件中没有编码为 44030510100199 的单元网格")]
    # Nothing reaches the file: the save path refuses an edit that is not ok.
    assert not checked.ok
    # No grid file: the code is kept as written.
    assert check_edit(ZoneEdit(zones=[typo])).zones[0].grid_code == "44030510100199"
    for bad in ("<b>1</b>", "4403 0510", ""):
        found = check_edit(ZoneEdit(zones=[{**zone("kerb", VAN), "grid_code": bad}]))
        assert [f for f, _ in found.errors] == ["zones[0].grid_code"], (bad, found.errors)


ODD_ORDER = f"""model: {{manifest: {REPO_ROOT / "models" / "yolox_nano.yaml"}}}
cameras:
  - id: cam
    zones:
      - grid_code: "44030510100101"   # the kerb's cell
        id: kerb
        # in frame pixels
        polygon: [[600, 62], [730, 62], [730, 118], [600, 118]]
        policies:
          - {{type: illegal_parking, classes: [car], dwell_s: 20}}
      - id: road
        polygon: [[0, 0], [100, 0], [100, 100]]
        policies: [{{type: illegal_parking, classes: [car]}}]
        grid_code: '44030510100102'
        # the last line of the file
"""


def test_a_grid_code_is_saved_in_its_place(tmp_path: Path) -> None:
    """Issue 27: the writer keeps key order (docs/CONSOLE.md, "Zone editor"). A changed
    grid code is replaced where it stands, with its comment and quotes; a removed one
    takes only its own line; a new one goes after the polygon."""
    path = tmp_path / "site.yaml"
    path.write_text(ODD_ORDER)
    zones = [
        {**z.model_dump(mode="json", exclude={"preset", "ground_polygon"}), "original_id": z.id}
        for z in load_config(path).camera("cam").zones
    ]
    zones[0]["grid_code"], zones[1]["grid_code"] = "44030510100109", "44030510100108"
    assert save(path, "cam", ZoneEdit(zones=zones))
    changed = ODD_ORDER.replace('"44030510100101"', '"44030510100109"')
    assert path.read_text() == changed.replace("'44030510100102'", "'44030510100108'")

    zones[0]["grid_code"] = None
    assert save(path, "cam", ZoneEdit(zones=zones))
    removed = changed.replace(
        '      - grid_code: "44030510100109"   # the kerb\'s cell\n        id:', "      - id:"
    )
    assert path.read_text() == removed.replace("'44030510100102'", "'44030510100108'")

    zones[0]["grid_code"] = "44030510100101"
    assert save(path, "cam", ZoneEdit(zones=zones))
    polygon = "        polygon: [[600, 62], [730, 62], [730, 118], [600, 118]]\n"
    added = removed.replace(polygon, polygon + '        grid_code: "44030510100101"\n')
    assert path.read_text() == added.replace("'44030510100102'", "'44030510100108'")
