"""A model manifest (models/README.md) for an ONNX file Ultralytics exported: what
`lookout train` writes beside the model it made (docs/LEARNING.md "From a dataset to a
model"), in the form of models/yolov8n_int8.yaml.

The facts come from the ONNX file itself: the class names from its metadata key
`names` (the manifest leaves `class_names` empty, so the detector reads them from the
same place), the input size from the metadata key `imgsz` (else the input's shape),
and the output checked to be Ultralytics' layout `(N, 4 + classes, anchors)`. The
roles come from a mapping file the user gives, else from models/yolox_nano.yaml for
the COCO names; a class COCO does not have is listed in a comment for the user to
place. The written manifest is then loaded the way a config loads it — the manifest
loader, then the detector on it — so a manifest that lookout would refuse is never
left looking finished.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lookout.base.errors import ConfigError, ModelError
from lookout.base.paths import REPO_ROOT
from lookout.detector.manifest import ROLES, Role, as_role, load_manifest
from lookout.detector.onnx_model import OnnxDetector, class_names_from_metadata

REFERENCE_MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
"""The COCO class names and the roles they play (models/README.md, "Roles")."""


@dataclass(frozen=True, slots=True)
class OnnxFacts:
    """What a manifest needs to know about an Ultralytics ONNX export."""

    names: tuple[str, ...]
    input_width: int
    input_height: int
    dynamic_batch: bool


@dataclass(frozen=True, slots=True)
class RolePlan:
    """The roles to write, where they came from, and the classes left without one."""

    roles: dict[Role, list[str]]
    source: str
    unplaced: list[str] = field(default_factory=list)


def _dims(value_info: Any) -> list[int | str]:
    return [
        d.dim_value if d.HasField("dim_value") else d.dim_param
        for d in value_info.type.tensor_type.shape.dim
    ]


def onnx_facts(path: Path) -> OnnxFacts:
    """Class names, input size and batch dimension of an Ultralytics ONNX export.

    Raises:
        ModelError: not ONNX, no class names in its metadata, or not the Ultralytics
            detection layout.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises its own DecodeError and OSError alike
        raise ModelError(f"{path}: not an ONNX model ({exc})") from None
    metadata = {p.key: p.value for p in model.metadata_props}
    names = class_names_from_metadata(metadata)
    if not names:
        raise ModelError(f'{path}: no class names in the ONNX metadata key "names"')
    inputs = _dims(model.graph.input[0])
    outputs = _dims(model.graph.output[0])
    if len(inputs) != 4 or len(outputs) != 3 or outputs[1] != 4 + len(names):
        raise ModelError(
            f"{path}: output {outputs} is not Ultralytics' detection layout (N, 4 + "
            f"{len(names)} classes, anchors); an end-to-end head (YOLO26) is not supported"
        )
    height = width = None
    try:
        size = ast.literal_eval(metadata.get("imgsz", ""))
        height, width = int(size[0]), int(size[1])
    except (ValueError, SyntaxError, TypeError, IndexError):
        if isinstance(inputs[2], int) and isinstance(inputs[3], int):
            height, width = inputs[2], inputs[3]
    if not height or not width:
        raise ModelError(f'{path}: no input size in the metadata key "imgsz" nor the input')
    return OnnxFacts(tuple(names), width, height, dynamic_batch=not isinstance(inputs[0], int))


def _roles_mapping(raw: Any, where: str) -> dict[Role, list[str]]:
    if isinstance(raw, Mapping) and "roles" in raw:
        raw = raw["roles"]  # a manifest's roles, or a file with a roles: key
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping of role to class names")
    roles: dict[Role, list[str]] = {}
    for key, names in raw.items():
        role = as_role(str(key))
        if role is None:
            raise ConfigError(f"{where}: {key!r} is not a role ({', '.join(ROLES)})")
        if names is None:
            names = []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{where}: {key}: expected a list of class names")
        roles[role] = list(names)
    return roles


def read_roles(path: Path) -> dict[Role, list[str]]:
    """A roles mapping file: `role: [class, ...]` lines, alone or under `roles:`."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML ({str(exc).splitlines()[0]})") from None
    return _roles_mapping(raw, str(path))


def plan_roles(names: Sequence[str], roles_file: Path | None = None) -> RolePlan:
    """The roles for a model's class names: those of `roles_file`, else the roles
    models/yolox_nano.yaml gives the COCO names among them. Classes that are not COCO
    names are `unplaced`, except one named like a role, which joins that role."""
    if roles_file is not None:
        roles = read_roles(roles_file)
        placed = {n for listed in roles.values() for n in listed}
        unplaced = [n for n in names if n not in placed]
        return RolePlan(roles, str(roles_file), unplaced)
    reference = yaml.safe_load(REFERENCE_MANIFEST.read_text(encoding="utf-8"))
    coco = set(reference["class_names"])
    known = set(names)
    base = _roles_mapping(reference["roles"], str(REFERENCE_MANIFEST))
    roles = {role: [n for n in listed if n in known] for role, listed in base.items()}
    unplaced = []
    for name in names:
        if name in coco:
            continue
        role = as_role(name)
        if role is not None:
            roles.setdefault(role, []).append(name)
        else:
            unplaced.append(name)
    return RolePlan(roles, "the COCO roles of models/yolox_nano.yaml", unplaced)


def manifest_text(name: str, onnx_file: str, facts: OnnxFacts, plan: RolePlan, note: str) -> str:
    """The manifest YAML, commented like the ones in models/."""
    lines = [
        f"# {name}: {note}",
        "# Made by `lookout train` (docs/LEARNING.md); Ultralytics models are AGPL-3.0.",
        "# Input: RGB, 0..1, letterbox centred, padded with 114.",
        '# Output "output0": (N, 4 + classes, anchors) = (cx, cy, w, h, class scores) in'
        " input pixels;",
        f"# batch {'dynamic' if facts.dynamic_batch else 'fixed'}.",
        f"name: {yaml.safe_dump(name, default_style=None).splitlines()[0]}",
        f"file: {yaml.safe_dump(onnx_file).splitlines()[0]}",
        "layout: ultralytics",
        f"input_width: {facts.input_width}",
        f"input_height: {facts.input_height}",
        "color_order: rgb",
        "scale: 0.00392156862745098  # 1/255",
        "letterbox: center",
        "pad_value: 114",
        f'# class_names omitted: read from the ONNX metadata key "names" ({len(facts.names)}'
        " classes).",
        "class_names: []",
        '# roles: what the classes mean to the zone rules (models/README.md, "Roles"),',
        f"# from {plan.source}.",
    ]
    if plan.unplaced:
        lines.append("# Classes without a role yet: list each under the role it plays, or leave")
        lines.append("# it out (a policy may still name it):")
        wrapped = textwrap.wrap(", ".join(plan.unplaced), width=84, break_on_hyphens=False)
        lines += [f"#   {line}" for line in wrapped]
    body = yaml.safe_dump(
        {"roles": {role: plan.roles[role] for role in ROLES if role in plan.roles}},
        default_flow_style=None,
        allow_unicode=True,
        sort_keys=False,
        width=1000,
    )
    return "\n".join(lines) + "\n" + body


def write_manifest(
    onnx_path: Path, dest: Path, *, roles_file: Path | None = None, note: str = ""
) -> tuple[OnnxFacts, RolePlan]:
    """Write the manifest of `onnx_path` to `dest` (its `file` relative to `dest`'s
    folder when the model sits there or below), then load it with lookout's manifest
    loader and detector.

    Raises:
        ModelError, ConfigError: the model is not usable or the roles do not fit its
            classes (one line; the manifest is removed).
    """
    facts = onnx_facts(onnx_path)
    plan = plan_roles(facts.names, roles_file)
    try:
        file = onnx_path.resolve().relative_to(dest.resolve().parent).as_posix()
    except ValueError:
        file = str(onnx_path.resolve())
    dest.write_text(manifest_text(dest.stem, file, facts, plan, note), encoding="utf-8")
    try:
        manifest = load_manifest(dest)
        detector = OnnxDetector.from_manifest(manifest, max_batch=2, warmup=True)
    except (ConfigError, ModelError):
        dest.unlink(missing_ok=True)
        raise
    if list(detector.class_names) != list(facts.names):
        dest.unlink(missing_ok=True)
        raise ModelError(f"{dest}: the detector read other class names than the metadata")
    return facts, plan
