"""Class roles in model manifests: validation, lookups and the class/role resolver."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from lookout.base.errors import ConfigError, ModelError
from lookout.base.paths import REPO_ROOT
from lookout.detector.manifest import ROLES, ModelManifest, as_role, load_manifest
from lookout.detector.onnx_model import class_names_from_metadata

MODELS = REPO_ROOT / "models"

CUSTOM = """\
name: custom
file: net.onnx
layout: yolox
input_width: 416
input_height: 416
color_order: bgr
scale: 1.0
letterbox: top_left
class_names: [person, cart, tricycle]
"""

COCO_ROLES = {
    "vehicle": ["car", "truck", "bus", "motorcycle"],
    "person": ["person"],
    "stall_object": ["umbrella"],
    "structure": [],
    "non_motor": ["bicycle"],
}


def write(tmp_path: Path, text: str, name: str = "m.yaml") -> Path:
    (tmp_path / "net.onnx").write_bytes(b"x")
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def custom(tmp_path: Path, roles: str) -> ModelManifest:
    return load_manifest(write(tmp_path, CUSTOM + roles))


def assert_one_line(exc: pytest.ExceptionInfo[Exception], *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message


def test_roles_literal() -> None:
    assert ROLES == ("vehicle", "person", "stall_object", "structure", "non_motor")
    assert as_role("vehicle") == "vehicle" and as_role("car") is None


def test_shipped_yolox_manifest_has_roles(assets: Path) -> None:
    m = load_manifest(MODELS / "yolox_nano.yaml")
    assert m.roles == COCO_ROLES
    assert m.classes_for("vehicle") == ["car", "truck", "bus", "motorcycle"]
    assert m.classes_for("structure") == []
    assert m.role_of("umbrella") == "stall_object"
    assert m.role_of("person") == "person"
    assert m.role_of("bicycle") == "non_motor" and m.role_of("no such class") is None
    with pytest.raises(ValueError, match="not a role"):
        m.classes_for("car")


def test_shipped_ultralytics_manifest_roles_checked_against_metadata(assets: Path) -> None:
    m = load_manifest(MODELS / "yolov8n_int8.yaml")
    assert m.roles == COCO_ROLES and m.class_names == []
    with pytest.raises(ModelError) as exc:
        m.resolve(["vehicle"], "here")
    assert_one_line(exc, "yolov8n_int8.yaml", "class_names", "with_class_names")
    props = {p.key: p.value for p in onnx.load(str(m.model_path)).metadata_props}
    names = class_names_from_metadata(props)
    assert names is not None and len(names) == 80
    named = m.with_class_names(names)
    assert named.source == m.source and named.model_path == m.model_path
    yolox = load_manifest(MODELS / "yolox_nano.yaml")
    query = ["vehicle", "person", "stall_object", "dog"]
    assert named.resolve(query, "x") == yolox.resolve(query, "x")


def test_resolve_mixes_classes_and_roles(assets: Path) -> None:
    m = load_manifest(MODELS / "yolox_nano.yaml")
    idx = {name: i for i, name in enumerate(m.class_names)}
    assert m.resolve(["vehicle"], "x") == sorted(idx[c] for c in COCO_ROLES["vehicle"])
    got = m.resolve(["dog", "vehicle", "car", "umbrella", "bicycle"], "x")
    want = {idx[c] for c in ["dog", "car", "truck", "bus", "motorcycle", "umbrella", "bicycle"]}
    assert got == sorted(want)
    assert m.resolve(["person"], "x") == [idx["person"]]
    assert m.resolve([], "x") == []
    # An empty role beside something that has classes contributes nothing.
    assert m.resolve(["structure", "stall_object"], "x") == [idx["umbrella"]]


def test_resolve_unknown_name_names_the_place(assets: Path) -> None:
    m = load_manifest(MODELS / "yolox_nano.yaml")
    where = "cameras[cam1].zones[0].policies[2].support_classes"
    with pytest.raises(ConfigError) as exc:
        m.resolve(["person", "cartt"], where)
    assert_one_line(exc, where, "'cartt'", "unknown to the model yolox_nano", "not a role")


def test_resolve_only_empty_roles_is_an_error(assets: Path) -> None:
    m = load_manifest(MODELS / "yolox_nano.yaml")
    with pytest.raises(ConfigError) as exc:
        m.resolve(["structure"], "zones[0].classes")
    assert_one_line(exc, "zones[0].classes", "role 'structure' has no classes", "yolox_nano")


def test_custom_manifest_stall_objects(tmp_path: Path) -> None:
    m = custom(tmp_path, "roles:\n  stall_object: [cart, tricycle]\n")
    assert m.resolve(["stall_object"], "x") == [1, 2]
    assert m.resolve(["person", "stall_object"], "x") == [0, 1, 2]
    assert m.classes_for("person") == [] and m.role_of("person") is None
    with pytest.raises(ConfigError, match="role 'vehicle' has no classes in model custom"):
        m.resolve(["vehicle"], "x")
    with pytest.raises(ConfigError, match=r"roles 'vehicle', 'structure' have no classes"):
        m.resolve(["vehicle", "structure", "vehicle"], "x")


def test_roles_omitted_or_blank(tmp_path: Path) -> None:
    assert custom(tmp_path, "").roles == {}
    m = custom(tmp_path, "roles:\n  stall_object: [cart]\n  structure:\n")
    assert m.roles == {"stall_object": ["cart"], "structure": []}
    assert custom(tmp_path, "roles:\n").roles == {}


def test_class_in_two_roles_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, CUSTOM + "roles:\n  stall_object: [cart]\n  vehicle: [cart]\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "roles", "'cart' has two roles: stall_object and vehicle")


def test_class_listed_twice_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, CUSTOM + "roles:\n  stall_object: [cart, cart]\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "roles: stall_object: class 'cart' is listed twice")


def test_unknown_class_in_role_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, CUSTOM + "roles:\n  stall_object: [cart, umbrella]\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "roles: stall_object: class 'umbrella' is not in class_names")


def test_unknown_role_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, CUSTOM + "roles:\n  stall: [cart]\n")
    with pytest.raises(ConfigError) as exc:
        load_manifest(path)
    assert_one_line(exc, str(path), "roles.stall", "'stall_object'")


def test_class_named_like_a_role_stays_in_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="stall_object: class 'person' has the name of a role"):
        custom(tmp_path, "roles:\n  stall_object: [person]\n")
    text = CUSTOM.replace("[person, cart, tricycle]", "[person, pedestrian, cart]")
    with pytest.raises(ConfigError, match="person: the class 'person' of the same name must be"):
        load_manifest(write(tmp_path, text + "roles:\n  person: [pedestrian]\n"))
    m = load_manifest(write(tmp_path, text + "roles:\n  person: [person, pedestrian]\n"))
    assert m.resolve(["person"], "x") == [0, 1]


def test_with_class_names_checks_roles(tmp_path: Path) -> None:
    text = CUSTOM.replace("[person, cart, tricycle]", "[]")
    m = load_manifest(write(tmp_path, text + "roles:\n  stall_object: [cart]\n"))
    assert m.with_class_names(["person", "cart"]).resolve(["stall_object"], "x") == [1]
    with pytest.raises(ModelError) as exc:
        m.with_class_names(["person", "tricycle"])
    assert_one_line(exc, str(m.source), "roles: stall_object: class 'cart' is not in class_names")


def test_manifest_built_in_code() -> None:
    m = ModelManifest(
        name="code",
        file="net.onnx",
        layout="yolox",
        input_width=32,
        input_height=32,
        color_order="bgr",
        scale=1.0,
        letterbox="top_left",
        class_names=["person", "car", "car"],
        roles={"vehicle": ["car"]},
    )
    assert m.source is None
    assert m.resolve(["vehicle"], "x") == [1]  # the first of duplicate names
    with pytest.raises(ConfigError, match="see roles in manifest code"):
        m.resolve(["structure"], "x")
