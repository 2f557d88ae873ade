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

`load_manifest()` turns every user mistake (missing file, invalid YAML, unknown key,
bad value, missing model file) into a one-line `ConfigError` / `ModelError`.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from lookout.assets import expand_path
from lookout.errors import ModelError
from lookout.yamlfile import load_model

Layout = Literal["yolox", "ultralytics"]
ColorOrder = Literal["bgr", "rgb"]
Placement = Literal["top_left", "center"]


class ModelManifest(BaseModel):
    """How to run one detection model. Immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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

    _base_dir: Path | None = PrivateAttr(default=None)

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


def load_manifest(path: Path) -> ModelManifest:
    """Read and validate a manifest; check that its model file exists.

    Raises:
        ConfigError: the manifest is missing, not YAML, not a mapping, or invalid.
        ModelError: the model file it names does not exist.
    """
    path = Path(path)
    manifest = load_model(path, ModelManifest, "manifest")
    manifest = manifest.with_base_dir(path.resolve().parent)
    model_path = manifest.model_path
    if not model_path.is_file():
        raise ModelError(f"{path}: file: model file not found: {model_path}")
    return manifest
