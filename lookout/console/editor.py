"""The zone editor's endpoints: zones per camera and PTZ preset drawn on the snapshot,
policy and detect settings, the region plan as the zones change, PTZ moves, and the
calibration on the picture with the grid cells it projects (docs/ARCHITECTURE.md,
"The zone editor").

The editor edits the file the daemon was started with (`EditorHost.config_path`),
through the round-trip writer (lookout/config/writer.py: comments, order and `${…}`
references kept, validation before the write, temp file and rename, `.bak`), then asks
the daemon to reload through the SIGHUP path. An edit that does not validate is
refused with each error beside its field, and the file is not touched.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lookout.base.errors import LookoutError
from lookout.base.i18n import Language, t
from lookout.base.secrets import mask
from lookout.config.app import CameraConfig, load_config
from lookout.config.calibration import write_calibration
from lookout.config.writer import ConfigDocument, edit_config
from lookout.console.body import BadInput, json_object
from lookout.console.editor_model import (
    CalibrationEdit,
    ZoneEdit,
    apply_edit,
    calibration_key,
    check_calibration,
    check_edit,
    edited_camera,
    effective_detect,
    fit_json,
    grid_json,
    plan_json,
    policy_defaults,
    preset_key,
    zone_json,
)
from lookout.console.views import Console
from lookout.detector.manifest import ROLES
from lookout.streams.onvif_client import Preset
from lookout.zones.geo import GridIndex
from lookout.zones.locate import fit_calibration, project_ground_zones
from lookout.zones.settings import CalibrationConfig
from lookout.zones.stationary import analysis_classes

log = logging.getLogger(__name__)
B = TypeVar("B", bound=BaseModel)

#: How long a save waits for the daemon's reload to finish.
RELOAD_WAIT_S = 15.0
#: How long a PTZ move may take until the preset's settled picture is there.
GOTO_WAIT_S = 45.0


def suggested_classes(class_names: list[str]) -> list[str]:
    """The class names the policy fields offer: the analysis's, which always include
    `static_object`, the class of what a camera's scene model finds staying
    (docs/RULES.md, docs/DETECTION.md), whether or not the daemon passed it."""
    return analysis_classes(class_names, None)[0]


class EditorHost(Protocol):
    """What the editor needs from the daemon (lookout/daemon/service.py)."""

    config_path: Path
    grid: GridIndex | None
    reloads: int  # reloads run so far (accepted or refused)
    last_reload_ok: bool

    def request_reload(self) -> None: ...

    def input_size(self) -> int: ...

    def ptz_presets(self, camera_id: str) -> list[Preset] | None:
        """The camera's PTZ presets (None: no PTZ control); raises LookoutError."""
        ...

    def goto_preset(self, camera_id: str, token: str) -> None:
        """Send the camera to the preset and hold it there; raises LookoutError."""
        ...

    def current_preset(self, camera_id: str) -> str | None: ...


@dataclass
class Editor:
    """The editor's endpoints on top of the console (its access rules and snapshots)."""

    console: Console
    host: EditorHost
    _write_lock: threading.Lock = field(default_factory=threading.Lock)

    # -- helpers -------------------------------------------------------------------------
    def _camera(self, camera_id: str) -> CameraConfig:
        """The camera as the file has it now (not the running copy: the file is edited)."""
        return load_config(self.host.config_path).camera(camera_id)

    def _frame_size(self, camera_id: str, preset: str | None) -> tuple[int, int]:
        """The analysed frame's size at the preset: of its snapshot, else of the latest
        analysed frame (the same camera keeps its size across presets); (0, 0) before
        the first frame."""
        store = self.console.store
        jpeg = store.jpeg(camera_id, preset, current=False) or store.jpeg(camera_id)
        if jpeg is not None:
            return jpeg.width, jpeg.height
        overlay = store.overlay(camera_id)
        return (overlay.width, overlay.height) if overlay is not None else (0, 0)

    async def _body(self, request: Request, model: type[B]) -> B | Response:
        try:
            return model.model_validate(await json_object(request))
        except BadInput as exc:
            lang = self.console.lang(request)
            text = t(lang, "server.bad_input", field=exc.field, reason=exc.reason)
            return JSONResponse({"error": text[:300]}, status_code=400)
        except (ValidationError, ValueError) as exc:
            text = t(self.console.lang(request), "editor.error.bad_request", detail=str(exc))
            return JSONResponse({"error": text[:300]}, status_code=400)

    def _failed(self, request: Request, exc: Exception, status: int) -> JSONResponse:
        """A refusal from below (PTZ, the config file): its own words, masked, inside a
        sentence of the page's language."""
        text = t(self.console.lang(request), "editor.error.failed", detail=mask(str(exc)))
        return JSONResponse({"error": text}, status_code=status)

    def _no_camera(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {"error": t(self.console.lang(request), "editor.error.no_camera")}, status_code=404
        )

    def _known(self, request: Request) -> str | None:
        cid = request.path_params["camera"]
        return cid if cid in self.console.board.cameras else None

    async def _posted(
        self, request: Request, model: type[B], *, act: bool
    ) -> tuple[str, B] | Response:
        """A POST's checks in order — CSRF and role (`act`: operator), a known camera,
        a body of `model` — and its camera and body, or the answer refusing it."""
        if denied := await self.console.guard_post(request, act=act):
            return denied
        cid = self._known(request)
        if cid is None:
            return self._no_camera(request)
        body = await self._body(request, model)
        return body if isinstance(body, Response) else (cid, body)

    async def _posted_calibration(
        self, request: Request, *, act: bool
    ) -> tuple[str, CalibrationEdit, CalibrationConfig] | Response:
        """`_posted` for a calibration edit, then its points checked: the camera, the
        edit and its calibration, or the answer refusing it (each field's error)."""
        posted = await self._posted(request, CalibrationEdit, act=act)
        if isinstance(posted, Response):
            return posted
        cid, edit = posted
        cal_cfg, errors = check_calibration(edit, self.console.lang(request))
        if cal_cfg is not None:
            return cid, edit, cal_cfg
        fields = [{"field": f"calibration.{k}", "message": mask(m)} for k, m in errors]
        return JSONResponse({"errors": fields}, status_code=422)

    # -- page and state ------------------------------------------------------------------
    async def editor_page(self, request: Request) -> Response:
        c = self.console
        return c.guard_page(request) or c.render("editor.html", request)

    async def api_state(self, request: Request) -> Response:
        if denied := self.console.guard_api(request):
            return denied
        cid = self._known(request)
        if cid is None:
            return self._no_camera(request)
        self.console.store.touch()
        preset = preset_key(request.query_params.get("preset"))
        try:
            body = await run_in_threadpool(self._state, cid, preset)
        except LookoutError as exc:
            return self._failed(request, exc, 409)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _state(self, cid: str, preset: str | None) -> dict[str, Any]:
        cam = self._camera(cid)
        width, height = self._frame_size(cid, preset)
        presets: list[dict[str, str]] = []
        ptz_error = None
        try:
            found = self.host.ptz_presets(cid)
        except LookoutError as exc:
            found, ptz_error = [], mask(str(exc))
        ptz = found is not None
        for p in found or []:
            presets.append({"token": p.token, "name": p.name})
        known = {p["token"] for p in presets}
        written = {z.preset for z in cam.zones if z.preset} | set(cam.preset_detect)
        written |= {k for k in cam.calibration if k != "default"}
        presets += [{"token": t, "name": t} for t in sorted(written - known)]
        key = calibration_key(preset)
        cal_cfg = cam.calibration.get(key) or cam.calibration.get("default")
        cal = fit = None
        if cal_cfg is not None:
            cal, fit = fit_json(cal_cfg, f"cameras[{cid}].calibration.{key}")
        input_size = self.host.input_size()
        shown: dict[str, list[tuple[float, float]]] = {}  # map zones, as the camera sees them
        if any(z.ground_polygon for z in cam.zones):
            try:
                projected = project_ground_zones(cam).zones
                shown = {z.id: z.polygon for z in projected if z.preset == preset}
            except LookoutError:
                pass  # no calibration for this preset yet: the map zone is not drawn
        return {
            "camera": cid,
            "config": self.host.config_path.name,
            "preset": preset,
            "current_preset": self.host.current_preset(cid),
            "ptz": ptz,
            "ptz_error": ptz_error,
            "presets": presets,
            "frame": {"width": width, "height": height},
            "zones": [
                {**zone_json(z), "shown": shown.get(z.id, [])}
                for z in cam.zones
                if z.preset == preset
            ],
            "detect": effective_detect(cam, preset).model_dump(mode="json"),
            "detect_own": preset is None or preset in cam.preset_detect,
            "classes": suggested_classes(self.console.class_names),
            "roles": list(ROLES),
            "policy_defaults": policy_defaults(),
            "plan": plan_json(cam, preset, width, height, input_size),
            "calibration": {"key": key, "fit": fit, "own": key in cam.calibration},
            "grid": grid_json(self.host.grid, cal, width, height),
        }

    # -- zones ---------------------------------------------------------------------------
    async def preview(self, request: Request) -> Response:
        posted = await self._posted(request, ZoneEdit, act=False)
        if isinstance(posted, Response):
            return posted
        cid, edit = posted
        try:
            body = await run_in_threadpool(self._preview, cid, edit, self.console.lang(request))
        except LookoutError as exc:
            return self._failed(request, exc, 409)
        return JSONResponse(body)

    def _preview(self, cid: str, edit: ZoneEdit, lang: Language) -> dict[str, Any]:
        checked = check_edit(edit, lang, self.host.grid)
        cam = edited_camera(self._camera(cid), edit.preset, checked)
        width, height = self._frame_size(cid, preset_key(edit.preset))
        plan = plan_json(cam, edit.preset, width, height, self.host.input_size())
        return {"errors": checked.errors_json(), "plan": plan}

    async def save_zones(self, request: Request) -> Response:
        posted = await self._posted(request, ZoneEdit, act=True)
        if isinstance(posted, Response):
            return posted
        cid, edit = posted
        lang = self.console.lang(request)
        checked = check_edit(edit, lang, self.host.grid)
        if not checked.ok:
            return JSONResponse({"errors": checked.errors_json()}, status_code=422)

        def write() -> dict[str, Any]:
            def change(doc: ConfigDocument) -> None:
                apply_edit(doc, cid, edit, checked)

            with self._write_lock:
                result = edit_config(self.host.config_path, change)
            if result.changed:
                zones = [str(z.get("id", "")) for z in edit.zones]
                self.console.record(request, "zones", cid, preset=edit.preset, zones=zones)
            return self._written(result.changed, result.backup, f"zones of camera {cid}")

        return await self._write(write, lang)

    async def _write(self, write: Any, lang: Language) -> Response:
        try:
            body = await run_in_threadpool(write)
        except LookoutError as exc:
            text = t(lang, "editor.error.not_written", detail=mask(str(exc)))
            return JSONResponse({"errors": [{"field": "", "message": text}]}, status_code=422)
        if body["changed"]:
            body["reloaded"] = await self._reloaded(body.pop("_reloads"))
        else:
            body.pop("_reloads")
        return JSONResponse(body)

    def _written(self, changed: bool, backup: Path | None, what: str) -> dict[str, Any]:
        reloads = self.host.reloads
        if changed:
            log.info("console: %s saved to %s; reloading", what, self.host.config_path)
            self.host.request_reload()
        return {
            "changed": changed,
            "file": self.host.config_path.name,
            "backup": None if backup is None else backup.name,
            "_reloads": reloads,
        }

    async def _reloaded(self, before: int) -> bool:
        """Wait for the daemon's reload after a write; whether it took the new file."""
        end = time.monotonic() + RELOAD_WAIT_S
        while self.host.reloads == before and time.monotonic() < end:
            await asyncio.sleep(0.05)
        return self.host.reloads != before and self.host.last_reload_ok

    # -- PTZ -----------------------------------------------------------------------------
    async def goto(self, request: Request) -> Response:
        """Send the camera to a preset, then wait until a picture taken there, settled,
        is in the snapshot store: frames taken while the camera moves carry no preset
        (lookout/streams/ptz.py), so no snapshot of a move can be shown as the preset."""
        if denied := await self.console.guard_post(request, act=True):
            return denied
        cid = self._known(request)
        if cid is None:
            return self._no_camera(request)
        try:
            data: dict[str, object] | None = await json_object(request)
        except BadInput:
            data = None
        token = str(data.get("preset") or "") if data is not None else ""
        if not token:
            text = t(self.console.lang(request), "editor.error.preset_required")
            return JSONResponse({"error": text}, status_code=400)
        asked = time.monotonic()
        try:
            await run_in_threadpool(self.host.goto_preset, cid, token)
        except LookoutError as exc:
            return self._failed(request, exc, 409)
        await run_in_threadpool(self.console.record, request, "ptz_hold", cid, preset=token)
        store = self.console.store
        end = asked + GOTO_WAIT_S
        while time.monotonic() < end:
            store.touch()
            jpeg = store.jpeg(cid, token, current=False)
            if jpeg is not None and jpeg.seen_at > asked:
                return JSONResponse({"preset": token, "seq": jpeg.seq})
            await asyncio.sleep(0.1)
        text = t(self.console.lang(request), "editor.error.no_picture", camera=cid, preset=token)
        return JSONResponse({"error": text}, status_code=504)

    # -- calibration ---------------------------------------------------------------------
    async def fit(self, request: Request) -> Response:
        posted = await self._posted_calibration(request, act=False)
        if isinstance(posted, Response):
            return posted
        cid, edit, cal_cfg = posted
        preset = preset_key(edit.preset)
        try:
            cal, body = fit_json(cal_cfg, "calibration")
        except LookoutError as exc:
            msg = t(self.console.lang(request), "editor.error.fit", detail=mask(str(exc)))
            return JSONResponse(
                {"errors": [{"field": "calibration", "message": msg}]}, status_code=422
            )
        width, height = self._frame_size(cid, preset)
        return JSONResponse(
            {"fit": body, "grid": grid_json(self.host.grid, cal, width, height), "errors": []}
        )

    async def save_calibration(self, request: Request) -> Response:
        posted = await self._posted_calibration(request, act=True)
        if isinstance(posted, Response):
            return posted
        cid, edit, cal_cfg = posted
        key = calibration_key(edit.preset)

        def write() -> dict[str, Any]:
            fit_calibration(cal_cfg, "calibration")  # a fit that fails is not stored
            with self._write_lock:
                result = write_calibration(self.host.config_path, cid, key, cal_cfg)
            if result.changed:
                self.console.record(request, "calibration", cid, preset=key)
            return self._written(result.changed, result.backup, f"calibration {cid}/{key}")

        return await self._write(write, self.console.lang(request))
