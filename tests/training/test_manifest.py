"""The manifest `lookout train` writes beside an exported model (lookout/training/
manifest.py), from real Ultralytics ONNX files: class names from the metadata key
"names", the input size, roles from a mapping or from YOLOX-Nano's COCO roles, the
classes left without a role named for the user, and the result loaded by lookout's
own manifest loader and detector."""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import onnx
import pytest
import yaml

from lookout.base.errors import ConfigError, ModelError
from lookout.detector.manifest import load_manifest
from lookout.training.manifest import onnx_facts, plan_roles, write_manifest


@pytest.fixture()
def v8(assets: Path, tmp_path: Path) -> Path:
    """The Ultralytics YOLOv8n export (int8, COCO names in its metadata), in a run folder."""
    dest = tmp_path / "run" / "run.onnx"
    dest.parent.mkdir()
    shutil.copyfile(assets / "models" / "yolov8n_int8.onnx", dest)
    return dest


def renamed(src: Path, dest: Path, changes: dict[str, str]) -> Path:
    """A copy of `src` whose metadata "names" has some classes renamed."""
    model = onnx.load(str(src))
    for prop in model.metadata_props:
        if prop.key == "names":
            names = ast.literal_eval(prop.value)
            prop.value = repr({i: changes.get(n, n) for i, n in names.items()})
    onnx.save(model, str(dest))
    return dest


def test_facts_come_from_the_onnx_file(v8: Path) -> None:
    facts = onnx_facts(v8)
    assert len(facts.names) == 80 and facts.names[:3] == ("person", "bicycle", "car")
    assert (facts.input_width, facts.input_height) == (640, 640)
    assert facts.dynamic_batch is False  # this export fixed its batch to 1


def test_the_manifest_is_written_like_the_shipped_ones_and_loads(v8: Path) -> None:
    dest = v8.with_suffix(".yaml")
    facts, plan = write_manifest(v8, dest, note="a test")
    text = dest.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    shipped = yaml.safe_load(Path("models/yolov8n_int8.yaml").read_text(encoding="utf-8"))
    for key in ("layout", "input_width", "input_height", "color_order", "scale", "letterbox"):
        assert data[key] == shipped[key], key
    assert data["file"] == "run.onnx" and data["name"] == "run"
    assert data["class_names"] == [] and 'metadata key "names"' in text
    assert data["roles"] == shipped["roles"]  # YOLOX-Nano's COCO roles: the same mapping
    assert plan.unplaced == [] and "without a role" not in text
    manifest = load_manifest(dest).with_class_names(facts.names)
    assert manifest.resolve(["vehicle"], "t") == [2, 3, 5, 7]


def test_classes_coco_lacks_are_listed_for_the_user_to_place(v8: Path, tmp_path: Path) -> None:
    model = renamed(v8, tmp_path / "run" / "city.onnx", {"toothbrush": "cart", "kite": "tarp"})
    dest = tmp_path / "run" / "city.yaml"
    _, plan = write_manifest(model, dest)
    assert plan.unplaced == ["tarp", "cart"]
    text = dest.read_text(encoding="utf-8")
    assert "# Classes without a role yet" in text and "#   tarp, cart" in text
    assert load_manifest(dest).file == "city.onnx"


def test_a_roles_file_is_used_and_checked_against_the_classes(v8: Path, tmp_path: Path) -> None:
    model = renamed(v8, tmp_path / "run" / "city.onnx", {"toothbrush": "cart"})
    roles = tmp_path / "roles.yaml"
    roles.write_text("vehicle: [car, bus]\nstall_object: [cart, umbrella]\n", encoding="utf-8")
    dest = tmp_path / "run" / "city.yaml"
    _, plan = write_manifest(model, dest, roles_file=roles)
    assert yaml.safe_load(dest.read_text(encoding="utf-8"))["roles"] == {
        "vehicle": ["car", "bus"],
        "stall_object": ["cart", "umbrella"],
    }
    assert "person" in plan.unplaced and "cart" not in plan.unplaced
    # A class the model does not have: refused by the manifest loader, nothing left.
    roles.write_text("vehicle: [car, muck truck]\n", encoding="utf-8")
    with pytest.raises(ModelError, match="muck truck") as err:
        write_manifest(model, dest, roles_file=roles)
    assert "\n" not in str(err.value)
    assert not dest.exists()
    roles.write_text("vehicles: [car]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'vehicles' is not a role"):
        plan_roles(["car"], roles)


def test_a_model_without_names_or_in_another_layout_is_refused(
    assets: Path, tmp_path: Path
) -> None:
    yolox = tmp_path / "yolox.onnx"
    shutil.copyfile(assets / "models" / "yolox_nano.onnx", yolox)
    with pytest.raises(ModelError, match='no class names in the ONNX metadata key "names"'):
        onnx_facts(yolox)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not an ONNX model"):
        onnx_facts(bad)
