"""Model manifests: a small YAML file beside each model describing how to feed it.

A manifest names the ONNX file and its input convention (size, colour order, pixel
scale, letterbox placement) and output layout, so that any YOLOX- or
Ultralytics-layout detector can be used without code changes::

    name: yolox_nano
    file: ${LOOKOUT_ASSETS}/models/yolox_nano.onnx
    layout: yolox
    input_width: 416
    input_height: 416
    color_order: bgr
    scale: 1.0
    letterbox: top_left
    class_names: [person, bicycle, car, ...]
    roles:
      vehicle: [car, truck, bus, motorcycle]
      person: [person]
      stall_object: [umbrella]
      structure: []

`roles` says what each class means to the zone rules (`Role`: vehicle, person,
stall_object, structure, non_motor), so that a zone policy can name a role instead of a model's
own class names and keep working when the model changes. `ModelManifest.resolve()`
turns a list mixing class and role names into class indices.

`load_manifest()` turns every user mistake (missing file, invalid YAML, unknown key,
bad value, missing model file) into a one-line `ConfigError` / `ModelError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal, cast, get_args

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from lookout.base.errors import ConfigError, ModelError
from lookout.base.model import StrictModel
from lookout.base.secrets import expand_path
from lookout.base.yamlfile import format_validation_error, load_model

Layout = Literal["yolox", "ultralytics"]
ColorOrder = Literal["bgr", "rgb"]
Placement = Literal["top_left", "center"]

Role = Literal["vehicle", "person", "stall_object", "structure", "non_motor"]
"""What a class means to the zone rules, whatever the model calls it."""

ROLES: tuple[Role, ...] = get_args(Role)


def as_role(name: str) -> Role | None:
    """`name` as a `Role`, or None if it is not one."""
    return cast(Role, name) if name in ROLES else None


def _roles_problem(roles: dict[Role, list[str]], class_names: list[str]) -> str | None:
    """The first thing wrong with `roles` (checked against `class_names` unless that
    is empty, i.e. the names come from the ONNX metadata later), or None."""
    owner: dict[str, Role] = {}
    for role, names in roles.items():
        for name in names:
            if name in owner:
                if owner[name] == role:
                    return f"{role}: class {name!r} is listed twice"
                return f"class {name!r} has two roles: {owner[name]} and {role}"
            owner[name] = role
    if not class_names:
        return None
    known = set(class_names)
    for role, names in roles.items():
        for name in names:
            if name not in known:
                return f"{role}: class {name!r} is not in class_names"
    for name in class_names:
        same = as_role(name)
        # A class spelled like a role belongs to that role (or to none while the role
        # is empty), so that naming it in a policy means one thing either way.
        if same is None:
            continue
        if name in owner and owner[name] != same:
            return (
                f"{owner[name]}: class {name!r} has the name of a role, so it can only "
                f"be listed under {same}"
            )
        if roles.get(same) and name not in owner:
            return f"{same}: the class {name!r} of the same name must be listed too"
    return None


class ModelManifest(StrictModel):
    """How to run one detection model. Immutable once loaded."""

    name: str = Field(min_length=1, description="Short model name used in logs and metrics.")
    file: str = Field(
        min_length=1,
        description=(
            "Path to the .onnx file. Relative paths are resolved against the manifest's "
            "folder; ${LOOKOUT_ASSETS} and ${LOOKOUT_ROOT} are expanded."
        ),
    )
    layout: Layout = Field(
        description=(
            "Output layout: 'yolox' = (N, anchors, 5 + classes) with undecoded boxes and "
            "objectness; 'ultralytics' = (N, 4 + classes, anchors) with decoded boxes."
        )
    )
    input_width: int = Field(gt=0, description="Model input width in pixels.")
    input_height: int = Field(gt=0, description="Model input height in pixels.")
    color_order: ColorOrder = Field(description="Channel order the model expects: bgr or rgb.")
    scale: float = Field(
        gt=0,
        description=(
            "Factor applied to 0..255 pixel values: 1.0 for YOLOX, 1/255 for Ultralytics. "
            "A fraction written as a string ('1/255') is accepted."
        ),
    )
    letterbox: Placement = Field(
        description=(
            "Where the resized image sits in the padded input: 'top_left' (YOLOX) or "
            "'center' (Ultralytics)."
        )
    )
    pad_value: int = Field(
        default=114, ge=0, le=255, description="Pixel value (0..255) of the letterbox padding."
    )
    class_names: list[str] = Field(
        default_factory=list,
        description=(
            "Class names in model output order. Leave empty to read them from the ONNX "
            "metadata key 'names' (Ultralytics exports carry it)."
        ),
    )
    roles: dict[Role, list[str]] = Field(
        default_factory=dict,
        description=(
            "What the classes mean to the zone rules: role (vehicle, person, stall_object, "
            "structure, non_motor) -> the class names that play it. A class has at most one "
            "role; a role may be empty or left out. Zone policies may name roles besides "
            "classes."
        ),
    )
    embedding_output: str | None = Field(
        default=None,
        description=(
            "Graph tensor the second look pools its embeddings from (docs/LEARNING.md, "
            "'The second look'). Default: the input of the first Resize/Upsample node, "
            "where the backbone ends and the feature pyramid begins."
        ),
    )

    _base_dir: Path | None = PrivateAttr(default=None)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("scale", mode="before")
    @classmethod
    def _parse_fraction(cls, value: Any) -> Any:
        """Accept '1/255' style strings besides plain numbers."""
        if isinstance(value, str) and "/" in value:
            try:
                return float(Fraction(value.replace(" ", "")))
            except (ValueError, ZeroDivisionError) as exc:
                raise ValueError(f"not a number or fraction: {value!r}") from exc
        return value

    @field_validator("roles", mode="before")
    @classmethod
    def _empty_roles(cls, value: Any) -> Any:
        """`roles:` or `structure:` with nothing after it means no classes."""
        if value is None:
            return {}
        if isinstance(value, dict):
            return {key: [] if names is None else names for key, names in value.items()}
        return value

    @field_validator("roles")
    @classmethod
    def _check_roles(
        cls, roles: dict[Role, list[str]], info: ValidationInfo
    ) -> dict[Role, list[str]]:
        problem = _roles_problem(roles, info.data.get("class_names") or [])
        if problem is not None:
            raise ValueError(problem)
        return roles

    @property
    def source(self) -> Path | None:
        """The manifest file this was read from (None for one built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Folder against which a relative `file` is resolved (the manifest's folder,
        or the working directory for a manifest built in code)."""
        return self._base_dir if self._base_dir is not None else Path.cwd()

    @property
    def model_path(self) -> Path:
        """Absolute path of the ONNX file (may not exist; `load_manifest` checks)."""
        return expand_path(self.file, self.base_dir)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the model input."""
        return self.input_width, self.input_height

    def with_base_dir(self, base_dir: Path) -> ModelManifest:
        """A copy whose relative `file` resolves against `base_dir`."""
        copy = self.model_copy()
        copy._base_dir = Path(base_dir)
        return copy

    def with_class_names(self, class_names: Sequence[str]) -> ModelManifest:
        """A copy whose `class_names` are `class_names` (those the detector read from
        the ONNX metadata when the manifest leaves them empty), with `roles` checked
        against them.

        Raises:
            ModelError: a class in `roles` is not among `class_names` (one line naming
                the manifest file and `roles`).
        """
        data = self.model_dump()
        data["class_names"] = list(class_names)
        try:
            copy = type(self).model_validate(data)
        except ValidationError as exc:
            message = format_validation_error(self._where(), exc)
            raise ModelError(f"{message} (class names read from {self.model_path.name})") from None
        copy._base_dir = self._base_dir
        copy._source = self._source
        return copy

    def classes_for(self, role: str) -> list[str]:
        """The class names that play `role` (as listed; [] if the role is empty).

        Raises:
            ValueError: `role` is not one of `ROLES`.
        """
        checked = as_role(role)
        if checked is None:
            raise ValueError(f"{role!r} is not a role; roles are {', '.join(ROLES)}")
        return list(self.roles.get(checked, []))

    def role_of(self, class_name: str) -> Role | None:
        """The role of class `class_name`, or None if it has none."""
        for role, names in self.roles.items():
            if class_name in names:
                return role
        return None

    def resolve(self, names: Sequence[str], where: str) -> list[int]:
        """Class indices (sorted, unique) for `names`, a mix of class and role names.

        A role name stands for the classes listed under it; a name that is both a role
        and a class (COCO's `person`) means the role's classes, which then include
        that class, or the class alone while the role is empty. An empty role
        contributes nothing: naming it beside other classes or roles is fine (a config
        written for a model with structures still runs on COCO), but if nothing named
        has a class the policy could never fire, so that is an error. `where` (the
        config key path) starts each message. An empty `names` gives [].

        Raises:
            ConfigError: a name is neither a class of the model nor a role, or every
                name is an empty role.
            ModelError: the manifest has no class names yet (they come from the ONNX
                metadata: resolve on `with_class_names(detector.class_names)`).
        """
        if not self.class_names:
            raise ModelError(
                f"{self._where()}: class_names: empty, so names cannot be resolved; the "
                "detector reads them from the model (use with_class_names)"
            )
        index: dict[str, int] = {}
        for i, name in enumerate(self.class_names):
            index.setdefault(name, i)  # the first of duplicate names, as the detector
        ids: set[int] = set()
        empty: list[str] = []
        for name in names:
            role = as_role(name)
            if role is not None and self.roles.get(role):
                ids.update(index[c] for c in self.roles[role])
            elif name in index:
                ids.add(index[name])
            elif role is not None:
                empty.append(role)
            else:
                raise ConfigError(
                    f"{where}: class {name!r} is unknown to the model {self.name} and is "
                    f"not a role ({', '.join(ROLES)})"
                )
        if empty and not ids:
            listed = ", ".join(repr(r) for r in dict.fromkeys(empty))
            verb = "has" if len(set(empty)) == 1 else "have"
            noun = "role" if len(set(empty)) == 1 else "roles"
            raise ConfigError(
                f"{where}: {noun} {listed} {verb} no classes in model {self.name} "
                f"(see roles in {self._where()})"
            )
        return sorted(ids)

    def _where(self) -> str:
        return str(self._source) if self._source is not None else f"manifest {self.name}"


def load_manifest(path: Path) -> ModelManifest:
    """Read and validate a manifest; check that its model file exists.

    Raises:
        ConfigError: the manifest is missing, not YAML, not a mapping, or invalid.
        ModelError: the model file it names does not exist.
    """
    path = Path(path)
    manifest = load_model(path, ModelManifest, "manifest")
    manifest = manifest.with_base_dir(path.resolve().parent)
    manifest._source = path
    model_path = manifest.model_path
    if not model_path.is_file():
        raise ModelError(f"{path}: file: model file not found: {model_path}")
    return manifest
