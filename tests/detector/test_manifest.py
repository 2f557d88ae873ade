"""Model manifests: the shipped ones load; user mistakes become one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from lookout.base.errors import ConfigError, ModelError
from lookout.base.paths import REPO_ROOT
from lookout.detector.manifest import ModelManifest, load_manifest

MODELS = REPO_ROOT / "models"

VALID = """\
name: tiny
file: {file}
layout: yolox
input_width: 416
input_height: 416
color_order: bgr
scale: 1.0
letterbox: top_left
class_names: [a, b]
"""


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_one_line(exc: pytest.ExceptionInfo[Exception], *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_shipped_yolox_manifest(assets: Path) -> None:
    m = load_manifest(MODELS / "yolox_nano.yaml")
    assert m.model_path == (assets / "models" / "yolox_nano.onnx").resolve()
    assert (m.layout, m.input_size, m.color_order, m.scale) == ("yolox", (416, 416), "bgr", 1.0)
    assert m.letterbox == "top_left" and m.pad_value == 114
    assert len(m.class_names) == 80
    assert m.class_names[:9] == [
        "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    ]  # fmt: skip
    assert m.class_names[16] == "dog" and m.class_names[-1] == "toothbrush"


def test_shipped_ultralytics_manifest(assets: Path) -> None:
    m = load_manifest(MODELS / "yolov8n_int8.yaml")
    assert m.model_path == (assets / "models" / "yolov8n_int8.onnx").resolve()
    assert m.layout == "ultralytics" and m.letterbox == "center" and m.color_order == "rgb"
    assert m.scale == pytest.approx(1 / 255)
    assert m.class_names == []


def test_relative_file_resolves_against_manifest_folder(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.onnx").write_bytes(b"x")
    m = load_manifest(write(tmp_path / "sub", VALID.format(file="net.onnx")))
    assert m.model_path == (tmp_path / "sub" / "net.onnx").resolve()


def test_scale_fraction_string(tmp_path: Path) -> None:
    (tmp_path / "net.onnx").write_bytes(b"x")
    text = VALID.format(file="net.onnx").replace("scale: 1.0", "scale: 1/255")
    assert load_manifest(write(tmp_path, text)).scale == pytest.approx(1 / 255)


def test_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.format(file="net.onnx") + "colour: blue\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "colour", "unknown key")


def test_bad_value(tmp_path: Path) -> None:
    text = VALID.format(file="net.onnx").replace("layout: yolox", "layout: detr")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "layout")


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.format(file="nowhere/net.onnx"))
    with pytest.raises(ModelError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "model file not found", str(tmp_path / "nowhere" / "net.onnx"))


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "name: [unclosed\nfile: x\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "invalid YAML")


def test_not_a_mapping_and_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mapping"):
        load_manifest(write(tmp_path, "- a\n- b\n"))
    with pytest.raises(ConfigError, match="manifest file not found"):
        load_manifest(tmp_path / "absent.yaml")


def test_every_field_has_a_description() -> None:
    for name, field in ModelManifest.model_fields.items():
        assert field.description, name
