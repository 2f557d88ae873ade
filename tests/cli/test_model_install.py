"""`lookout model install B --config FILE` (lookout/cli/model.py): a model goes into a
config only after `model compare` found it no worse, through the round-trip writer
(comments kept, `.bak` left); a model that loses, or lacks a class the zones name,
leaves the file as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lookout.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "vtest-parking.yaml"

pytestmark = pytest.mark.slow


def manifest(tmp_path: Path, name: str, **changes: object) -> Path:
    """models/yolox_nano.yaml under another name, the model file absolute, `changes`
    applied."""
    data = yaml.safe_load((ROOT / "models" / "yolox_nano.yaml").read_text())
    data.update(name=name, **changes)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture()
def site(tmp_path: Path, assets: Path) -> Path:
    """configs/demo.yaml beside its grid, its model named by an absolute path."""
    for name in ("demo.yaml", "demo-grid.geojson"):
        shutil.copy(ROOT / "configs" / name, tmp_path / name)
    path = tmp_path / "demo.yaml"
    text = path.read_text().replace(
        "../models/yolox_nano.yaml", str(ROOT / "models/yolox_nano.yaml")
    )
    path.write_text(text)
    return path


def test_install_after_compare_keeps_the_file_as_written(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = site.read_text()
    same = manifest(tmp_path, "city_same")
    argv = ["model", "install", str(same), "--config", str(site), "--scenarios", str(SCENARIO)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| vtest-parking | illegal_parking |" in out and "installed:" in out, out
    after = site.read_text()
    assert "manifest: city_same.yaml" in after
    # Only that value changed: every comment and every other line is as it was.
    changed = [
        (a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b
    ]
    assert len(changed) == 1 and changed[0][1].strip() == "manifest: city_same.yaml"
    assert (tmp_path / "demo.yaml.bak").read_text() == before


def test_a_model_that_loses_is_not_installed(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = site.read_text()
    # The same network fed pixels scaled to 0..1 instead of 0..255: it sees no van.
    blind = manifest(tmp_path, "city_blind", scale="1/255")
    argv = ["model", "install", str(blind), "--config", str(site), "--scenarios", str(SCENARIO)]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "B LOSES: vtest-parking illegal_parking" in out and "not installed" in out, out
    assert site.read_text() == before and not (tmp_path / "demo.yaml.bak").exists()


def test_a_model_without_the_zones_classes_is_refused_before_comparing(
    site: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load((ROOT / "models" / "yolox_nano.yaml").read_text())
    names = ["auto" if n == "car" else n for n in data["class_names"]]
    roles = {k: [("auto" if n == "car" else n) for n in v] for k, v in data["roles"].items()}
    roles["vehicle"] = [n for n in roles["vehicle"] if n != "auto"]
    other = manifest(tmp_path, "city_other", class_names=names, roles=roles)
    before = site.read_text()
    argv = ["model", "install", str(other), "--config", str(site), "--scenarios", str(SCENARIO)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "car" in err, err
    assert site.read_text() == before
