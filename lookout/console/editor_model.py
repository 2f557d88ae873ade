"""What the zone editor computes, apart from HTTP: the zones of one camera and preset
as the file has them, the check of an edit field by field, the region plan it gives,
the edit of the round-trip document, and the calibration fit with the grid cells it
projects onto the picture (docs/ARCHITECTURE.md, "The zone editor").

An edit is checked with the same pydantic models as the config (`ZoneConfig`,
`DetectConfig`, `CalibrationConfig`), so each error names its field
(`zones[1].polygon`), its sentence in the page's language (`error_text`, editor.po;
pydantic's own words kept as the detail: docs/I18N.md); the write then validates the
whole file again (`lookout.config.writer`), so nothing reaches the disk that
`load_config` refuses.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from shapely.geometry import Polygon, box

from lookout.base.i18n import Language, t
from lookout.base.secrets import mask
from lookout.base.yamlfile import field_errors
from lookout.config.app import CameraConfig
from lookout.config.writer import ConfigDocument, flow, text_like
from lookout.detector.regions import SEEN_PX, RegionPlan
from lookout.detector.settings import DetectConfig
from lookout.runtime.analysis import camera_plan
from lookout.zones.calibration import Calibration
from lookout.zones.geo import GridIndex
from lookout.zones.locate import DEFAULT_PRESET, fit_calibration
from lookout.zones.policies import (
    ConstructionPolicy,
    NonMotorPolicy,
    OccupationPolicy,
    ParkingPolicy,
    VendorPolicy,
    ZoneConfig,
)
from lookout.zones.settings import CalibrationConfig

#: Keys of a zone the editor edits; others (inertia_frames, …) stay as written.
EDITED_KEYS = ("id", "polygon", "grid_code", "policies")


class ZoneEdit(BaseModel):
    """The editor's zones of one camera and preset, and its detect settings."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    zones: list[dict[str, Any]] = Field(default_factory=list)
    detect: dict[str, Any] | None = None


class CalibrationEdit(BaseModel):
    """Clicked image points with their typed lon/lat, for one preset."""

    model_config = ConfigDict(extra="forbid")

    preset: str | None = None
    points: list[dict[str, Any]] = Field(default_factory=list)


@dataclass
class Checked:
    """An edit after the check: valid zones and detect settings, or errors per field."""

    zones: list[ZoneConfig] = field(default_factory=list)
    detect: DetectConfig | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def errors_json(self) -> list[dict[str, str]]:
        return [{"field": f, "message": mask(m)} for f, m in self.errors]


def preset_key(preset: str | None) -> str | None:
    return preset or None


def zone_json(zone: ZoneConfig) -> dict[str, Any]:
    """A zone as the editor edits it (JSON); map zones are shown, not edited."""
    return {
        "id": zone.id,
        "polygon": [[_num(x), _num(y)] for x, y in zone.polygon],
        "ground_polygon": zone.ground_polygon,
        "preset": zone.preset,
        "grid_code": zone.grid_code,
        "policies": [p.model_dump(mode="json") for p in zone.policies],
    }


def policy_defaults() -> dict[str, dict[str, Any]]:
    """Each policy type's defaults (the page shows them in empty fields)."""
    out = {}
    kinds = (ParkingPolicy, VendorPolicy, ConstructionPolicy, OccupationPolicy, NonMotorPolicy)
    for kind in kinds:
        name = kind.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
        out[name] = kind.model_validate({"type": name, "classes": ["-"]}).model_dump(mode="json")
    return out


#: pydantic's error types (ErrorDetails "type") -> the catalogue's sentence for them.
_ERROR_KINDS = {
    "missing": "missing",
    "extra_forbidden": "extra",
    "value_error": "value",
    "assertion_error": "value",
    "too_short": "too_short",
    "too_long": "too_long",
    "greater_than": "range",
    "greater_than_equal": "range",
    "less_than": "range",
    "less_than_equal": "range",
    "finite_number": "range",
    "literal_error": "choice",
    "enum": "choice",
    "union_tag_invalid": "choice",
    "string_too_short": "too_short",
    "string_too_long": "too_long",
    "string_pattern_mismatch": "value",
}


def error_text(lang: Language, kind: str, detail: str) -> str:
    """One field error's sentence in `lang`: a pydantic error type's catalogue text
    around pydantic's own words (`detail`); type and parsing errors share one."""
    name = _ERROR_KINDS.get(kind)
    if name is None:
        name = "type" if kind.endswith(("_type", "_parsing")) else "other"
    return t(lang, f"editor.error.{name}", detail=detail)


def localised_errors(exc: ValidationError, data: Any, lang: Language) -> list[tuple[str, str]]:
    """`field_errors` with each sentence in `lang` (`error_text`)."""
    found = field_errors(exc, data)
    return [
        (key, error_text(lang, err["type"], msg))
        for (key, msg), err in zip(found, exc.errors(), strict=True)
    ]


def check_edit(edit: ZoneEdit, lang: Language = "en", grid: GridIndex | None = None) -> Checked:
    """Validate every zone and the detect settings; errors keyed by field path, their
    sentences in `lang`. With the daemon's `grid` (the config's `grid:` file), a zone's
    `grid_code` must be one of its cells, as at config load (lookout/runtime/services.py)."""
    out = Checked()
    preset = preset_key(edit.preset)
    seen: set[str] = set()
    for i, raw in enumerate(edit.zones):
        data = {k: v for k, v in raw.items() if k != "original_id"}
        data["preset"] = preset
        if data.get("ground_polygon"):  # a map zone: its image polygon is derived
            data.pop("polygon", None)
        else:
            data.pop("ground_polygon", None)
        try:
            zone = ZoneConfig.model_validate(data)
        except ValidationError as exc:
            found = localised_errors(exc, data, lang)
            out.errors += [(_under(f"zones[{i}]", k), m) for k, m in found]
            continue
        if zone.id in seen:
            out.errors.append((f"zones[{i}].id", t(lang, "editor.error.duplicate", id=zone.id)))
        if grid is not None and zone.grid_code is not None and grid.get(zone.grid_code) is None:
            text = t(lang, "editor.error.grid_code", code=zone.grid_code)
            out.errors.append((f"zones[{i}].grid_code", text))
        seen.add(zone.id)
        out.zones.append(zone)
    if edit.detect is not None:
        try:
            out.detect = DetectConfig.model_validate(edit.detect)
        except ValidationError as exc:
            found = localised_errors(exc, edit.detect, lang)
            out.errors += [(_under("detect", k), m) for k, m in found]
    return out


def _under(prefix: str, key: str) -> str:
    return prefix if key == "(top level)" else f"{prefix}.{key}"


def edited_camera(camera: CameraConfig, preset: str | None, checked: Checked) -> CameraConfig:
    """The camera with this preset's zones (and detect settings) replaced by the edit."""
    preset = preset_key(preset)
    zones = [z for z in camera.zones if z.preset != preset] + checked.zones
    update: dict[str, Any] = {"zones": zones}
    if checked.detect is not None:
        if preset is None:
            update["detect"] = checked.detect
        else:
            update["preset_detect"] = {**camera.preset_detect, preset: checked.detect}
    return camera.model_copy(update=update)


def effective_detect(camera: CameraConfig, preset: str | None) -> DetectConfig:
    return camera.preset_detect.get(preset, camera.detect) if preset else camera.detect


def plan_json(
    camera: CameraConfig, preset: str | None, width: int, height: int, input_size: int
) -> dict[str, Any]:
    """The region plan the analysis would make for these zones, and the smallest object
    each zone can see (frame pixels)."""
    preset = preset_key(preset)
    plan: RegionPlan | None = None
    if width > 0 and height > 0:
        plan = camera_plan(camera, width, height, preset, input_size, quiet=True)
    zones = [z for z in camera.zones if z.preset in (None, preset) and z.polygon]
    if plan is None:
        scale = min(1.0, input_size / max(width, height, 1))
        smallest = SEEN_PX / scale
        return {
            "mode": "whole",
            "images_per_frame": 1,
            "crops": [],
            "full_frame": True,
            "scale": round(scale, 3),
            "smallest_px": round(smallest, 1),
            "capped": False,
            "zones": {z.id: {"crops": 0, "smallest_px": round(smallest, 1)} for z in zones},
        }
    per_zone = {}
    for z in zones:
        shape = Polygon(z.polygon)
        n = sum(
            1 for c in plan.crops if shape.intersects(box(c.x, c.y, c.x + c.width, c.y + c.height))
        )
        per_zone[z.id] = {"crops": n, "smallest_px": round(plan.smallest_px, 1)}
    return {
        "mode": "regions",
        "images_per_frame": plan.images_per_frame,
        "crops": [[c.x, c.y, c.width, c.height] for c in plan.crops],
        "full_frame": plan.full_frame,
        "scale": round(plan.scale, 3),
        "smallest_px": round(plan.smallest_px, 1),
        "capped": plan.capped,
        "zones": per_zone,
    }


# -- writing --------------------------------------------------------------------------


def apply_edit(doc: ConfigDocument, camera_id: str, edit: ZoneEdit, checked: Checked) -> None:
    """Edit the round-trip document: this preset's zones become the edit's, zone by
    zone, so that untouched zones (and their comments) stay byte for byte; only keys
    whose value changed are written, and a policy keeps the keys it had (defaults the
    user did not change are not spelled out)."""
    index = doc.camera_index(camera_id)
    cam_path: list[str | int] = ["cameras", index]
    preset = preset_key(edit.preset)
    cam = doc.get(cam_path)
    if cam.get("zones") is None:
        doc.set([*cam_path, "zones"], [])
    seq = doc.get([*cam_path, "zones"])
    mine = {
        str(z.get("id")): j
        for j, z in enumerate(seq)
        if isinstance(z, dict) and _preset_of(z) == preset
    }
    kept: set[str] = set()
    for raw, zone in zip(edit.zones, checked.zones, strict=True):
        original = str(raw.get("original_id") or zone.id)
        if original in mine:
            kept.add(original)
            _update_zone(seq[mine[original]], zone)
        else:
            seq.append(_new_zone(zone))
    for zid, j in sorted(mine.items(), key=lambda kv: -kv[1]):
        if zid not in kept:
            del seq[j]
    if checked.detect is not None:
        key: list[str | int] = (
            [*cam_path, "detect"]
            if preset is None
            else [
                *cam_path,
                "preset_detect",
                preset,
            ]
        )
        current = _plain(_get(doc, key))
        wanted = _minimal(checked.detect.model_dump(mode="json"), current, DetectConfig())
        if wanted != (current or {}):
            if wanted:
                doc.set(key, flow(wanted), insert_before=["stream", "onvif", "quality", "zones"])
            elif current is not None:
                doc.delete(key)


def _preset_of(zone: dict[str, Any]) -> str | None:
    p = zone.get("preset")
    return None if p is None or p == "" else str(p)


def _get(doc: ConfigDocument, key: Sequence[str | int]) -> Any:
    try:
        return doc.get(key)
    except Exception:
        return None


def _plain(node: Any) -> Any:
    """ruamel's commented types → plain dicts and lists (for comparisons)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _minimal(
    wanted: dict[str, Any], current: Any, defaults: BaseModel, keep: tuple[str, ...] = ()
) -> dict[str, Any]:
    """`wanted` without the keys that hold their default and were not written before
    (`keep`: keys always written, and first among the new ones: a policy starts with
    its `type`, whatever order the model declares its fields in)."""
    had = current if isinstance(current, dict) else {}
    base = defaults.model_dump(mode="json")
    out = {k: v for k, v in wanted.items() if k in had or k in keep or base.get(k) != v}
    order = [k for k in had if k in out]
    order += [k for k in keep if k in out and k not in order]
    order += [k for k in out if k not in order]
    return {k: out[k] for k in order}


def _polygon(zone: ZoneConfig) -> Any:
    return flow([[_num(x), _num(y)] for x, y in zone.polygon])


def _policy_doc(policy: BaseModel, current: Any) -> Any:
    dumped = policy.model_dump(mode="json")
    required = _required(dumped)
    defaults = type(policy).model_validate({"type": dumped["type"], **required})
    wanted = _minimal(dumped, current, defaults, ("type", *required))
    if "allowed" in wanted:  # 18:00 as people write it, not 18:00:00
        wanted["allowed"] = [
            {k: str(t).removesuffix(":00") if str(t).count(":") == 2 else t for k, t in w.items()}
            for w in wanted["allowed"]
        ]
    for k, v in wanted.items():
        if isinstance(v, list):
            wanted[k] = flow(v)
        elif isinstance(v, float) and v.is_integer():
            wanted[k] = int(v)  # dwell_s: 300 as people write it, not 300.0
    return wanted


def _required(dumped: dict[str, Any]) -> dict[str, Any]:
    """Fields a policy model cannot default (parking's `classes`)."""
    return {"classes": dumped["classes"]} if "classes" in dumped else {}


def _update_zone(node: Any, zone: ZoneConfig) -> None:
    if node.get("id") != zone.id:
        node["id"] = zone.id
    if zone.polygon and _plain(node.get("polygon")) != [list(_pair(p)) for p in zone.polygon]:
        node["polygon"] = _polygon(zone)
    _update_grid_code(node, zone.grid_code)
    old = node.get("policies")
    old_plain = _plain(old) if isinstance(old, list) else []
    new: list[Any] = []
    for i, policy in enumerate(zone.policies):
        current = old_plain[i] if i < len(old_plain) else None
        if isinstance(current, dict) and current.get("type") != policy.type:
            current = None
        if current is not None and _same_policy(current, policy):
            new.append(old[i])  # unchanged: keep its node (style, comments)
        else:
            new.append(_policy_doc(policy, current))
    if len(new) != len(old_plain) or any(n is not o for n, o in zip(new, old or [], strict=False)):
        node["policies"] = new


def _same_policy(written: dict[str, Any], policy: BaseModel) -> bool:
    try:
        return type(policy).model_validate(written) == policy
    except ValidationError:
        return False


def _update_grid_code(node: Any, code: str | None) -> None:
    """The zone's `grid_code` as the edit has it, the rest of the zone as written: a
    changed code is replaced where it stands (its place among the keys, its comment and
    quotes kept), a removed one loses only its line, and a new one goes where
    docs/CONFIGURATION.md's example has it, after the polygon (else before `policies`,
    else last). (ruamel's `insert` of a key the map already holds deletes it first and
    then counts positions from before the delete: the key ended up after `policies`.)"""
    old = node.get("grid_code")
    if code == old:
        return
    if code is None:
        del node["grid_code"]
    elif "grid_code" in node:
        node["grid_code"] = text_like(old, code)
    else:
        node.insert(_grid_code_pos(node), "grid_code", text_like(None, code))


def _grid_code_pos(node: Any) -> int:
    keys = list(node)
    for after in ("polygon", "ground_polygon"):
        if after in keys:
            return keys.index(after) + 1
    return keys.index("policies") if "policies" in keys else len(keys)


def _new_zone(zone: ZoneConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"id": zone.id}
    if zone.preset is not None:
        out["preset"] = zone.preset
    out["polygon"] = _polygon(zone)
    if zone.grid_code is not None:
        out["grid_code"] = text_like(None, zone.grid_code)
    out["policies"] = [_policy_doc(p, None) for p in zone.policies]
    return out


def _pair(p: tuple[float, float]) -> tuple[int | float, int | float]:
    return _num(p[0]), _num(p[1])


def _num(v: float) -> int | float:
    """Pixels as written: 600 rather than 600.0, a tenth of a pixel at most."""
    r = round(float(v), 1)
    return int(r) if r.is_integer() else r


# -- calibration ----------------------------------------------------------------------


def calibration_key(preset: str | None) -> str:
    return preset_key(preset) or DEFAULT_PRESET


def check_calibration(
    edit: CalibrationEdit, lang: Language = "en"
) -> tuple[CalibrationConfig | None, list[tuple[str, str]]]:
    data = {"points": edit.points}
    try:
        return CalibrationConfig.model_validate(data), []
    except ValidationError as exc:
        return None, localised_errors(exc, data, lang)


def fit_json(cal_cfg: CalibrationConfig, where: str) -> tuple[Calibration, dict[str, Any]]:
    """The fit as `lookout calibrate` prints it: error of every point, rms and worst."""
    cal = fit_calibration(cal_cfg, where)
    px, m = cal.reprojection_errors_px(), cal.ground_errors_m()
    return cal, {
        "points": [
            {
                "image": list(p.image),
                "lonlat": list(p.lonlat),
                "err_px": round(float(e), 3),
                "err_m": round(float(g), 4),
            }
            for p, e, g in zip(cal_cfg.points, px, m, strict=True)
        ],
        "rms_px": round(cal.rms_px, 3),
        "worst_px": round(float(px.max()), 3),
        "worst_m": round(float(m.max()), 4),
    }


def grid_json(
    grid: GridIndex | None, cal: Calibration | None, width: int, height: int
) -> list[dict[str, Any]]:
    """Grid cells projected onto the picture through `cal` (the part in front of the
    camera and inside the frame), so an installer sees whether the fit is right."""
    if grid is None or cal is None or width <= 0 or height <= 0:
        return []
    frame = box(0, 0, width, height)
    out = []
    for cell in grid:
        polys = getattr(cell.polygon, "geoms", [cell.polygon])
        for poly in polys:
            ring = _densify(np.asarray(poly.exterior.coords, dtype=np.float64))
            img = cal.lonlat_to_image(ring)
            ok = np.isfinite(img).all(axis=1)
            if ok.sum() < 3:
                continue
            shape = Polygon(img[ok])
            if not shape.is_valid:
                shape = shape.buffer(0)
            part = shape.intersection(frame)
            if part.is_empty or part.area < 1.0:
                continue
            for piece in getattr(part, "geoms", [part]):
                if isinstance(piece, Polygon) and piece.area >= 1.0:
                    pts = [[round(x, 1), round(y, 1)] for x, y in piece.exterior.coords[:-1]]
                    out.append({"code": cell.code, "name": cell.name, "polygon": pts})
    return out


def _densify(ring: np.ndarray, steps: int = 8) -> np.ndarray:
    """Points along each edge: a straight map edge stays straight in the image, but
    clipping at the horizon needs points in between."""
    out = []
    for a, b in itertools.pairwise(ring):
        for f in np.linspace(0.0, 1.0, steps, endpoint=False):
            out.append(a + (b - a) * f)
    return np.asarray(out) if out else ring
