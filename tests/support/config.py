"""The one builder of lookout config files for the tests.

`write_config(folder, cameras, **sections)` writes a valid lookout YAML from dicts,
with a model section on the shared YOLOX manifest and a daemon section whose out_dir
is inside `folder` (the root conftest's `make_config` fixture is it bound to the
test's `tmp_path`). `demo_config()` is configs/demo.yaml as a dict to edit before
writing it so: `write_config(tmp_path, name="site.yaml", **cfg)`.

Tests whose point is the text of a config (comments kept, `${…}` references, odd or
hostile YAML, a key path in an error) write that text themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from lookout.base.paths import REPO_ROOT

YOLOX_MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
DEMO = REPO_ROOT / "configs" / "demo.yaml"
DEMO_GRID = REPO_ROOT / "configs" / "demo-grid.geojson"
#: The type of the `make_config` fixture: `write_config` bound to the test's tmp_path.
MakeConfig = Callable[..., Path]
#: About 41 m of longitude at the demo's latitude: the offset of a second tower.
SHIFT_DEG = 0.0004


def _plain(value: Any) -> Any:
    """`value` with every Path made a string (and tuples lists), for `yaml.safe_dump`."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def write_config(
    folder: Path,
    cameras: Sequence[Mapping[str, Any]],
    *,
    name: str = "lookout.yaml",
    **sections: Any,
) -> Path:
    """Write `folder / name`, a lookout config of `cameras` and the top-level `sections`
    (site, model, daemon, grid, sinks, delivery, dedup, cluster, ...), and return its path.

    Defaults: `model: {manifest: <repo>/models/yolox_nano.yaml}` and
    `daemon: {out_dir: <folder>/out, http: {enabled: false}}`. A `model` or `daemon`
    given is merged over its default one level deep (`daemon={"http": {"port": 8080}}`
    keeps the out_dir and replaces `http`); a section given as None is left out; every
    other section is written as given. Paths may be `Path` objects."""
    defaults: dict[str, dict[str, Any]] = {
        "model": {"manifest": str(YOLOX_MANIFEST)},
        "daemon": {"out_dir": str(folder / "out"), "http": {"enabled": False}},
    }
    cfg: dict[str, Any] = {}
    for key in {**defaults, **sections}:
        value = sections.get(key, defaults.get(key))
        if key in defaults and key in sections and isinstance(value, Mapping):
            value = {**defaults[key], **value}
        if value is not None:
            cfg[key] = value
    cfg["cameras"] = list(cameras)
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(_plain(cfg), allow_unicode=True), encoding="utf-8")
    return path


def demo_config() -> dict[str, Any]:
    """configs/demo.yaml as a dict (a fresh copy), its relative paths made absolute (the
    model manifest, the grid's GeoJSON) so that it can be written anywhere. The camera's
    source stays `${LOOKOUT_ASSETS}/footage/vtest.avi`."""
    cfg: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    cfg["model"]["manifest"] = str(YOLOX_MANIFEST)
    cfg["grid"]["geojson"] = str(DEMO_GRID)
    return cfg


def moved_east(camera: Mapping[str, Any], cam_id: str, dlon: float = SHIFT_DEG) -> dict[str, Any]:
    """A copy of `camera` (a camera of a config dict) named `cam_id` whose calibration
    points lie `dlon` degrees further east: the same footage seen from another tower, so
    what it sees stands at another place on the ground."""
    other = copy.deepcopy(dict(camera))
    other["id"] = cam_id
    for point in other["calibration"]["default"]["points"]:
        point["lonlat"][0] += dlon
    return other
