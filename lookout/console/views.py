"""The console's endpoints: pages, the JSON API, snapshots and the operator actions.

Every answer comes from memory (`SnapshotStore`, `StatusBoard`) or the console's own
SQLite file; nothing here calls into a camera reader. Pages and the API need a role
(`auth.Access`); POSTs need the session's CSRF token, and actions need the operator
role. /healthz and /metrics stay open, as they were before the console.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)

from lookout.base.i18n import COOKIE, Language, choose, t
from lookout.console.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    Access,
    Identity,
    Role,
    csrf_ok,
    csrf_token,
)
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import CameraInfo, ConsoleHost, StatusBoard, jsonable, safe_source
from lookout.console.state import zones_json as _zones
from lookout.console.throttle import LoginThrottle
from lookout.report.audit import AuditEntry, AuditLog
from lookout.report.health_store import HealthHistory

log = logging.getLogger(__name__)

PROMETHEUS = "text/plain; version=0.0.4; charset=utf-8"  # the exposition format
#: How long a snapshot request waits for the first encode of a camera's picture.
FIRST_PICTURE_WAIT_S = 1.5
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


#: `{{t:key}}` in a page: the key's text in the page's language.
_TRANSLATE = re.compile(r"\{\{t:([a-z0-9_.-]+)\}\}")


def _page(name: str) -> str:
    return (resources.files("lookout.console") / "static" / name).read_text(encoding="utf-8")


@dataclass
class Console:
    """Everything the endpoints read: the host, memory stores, access rules."""

    host: ConsoleHost
    store: SnapshotStore
    board: StatusBoard
    history: HealthHistory | None
    access: Access
    class_names: list[str]
    out_dir: Path
    #: The site's language (`daemon.http.console.language`), after the browser's.
    language: Language = "en"
    #: The site's time zone (`site.timezone`): every time a person reads here is
    #: in it, whatever the server's own zone (docs/ARCHITECTURE.md, "Time").
    tz: tzinfo = UTC
    #: Who did what (lookout/report/audit.py); None: not kept (a test's console).
    audit: AuditLog | None = None
    #: Slows down password guessing (lookout/console/throttle.py); None: no login.
    throttle: LoginThrottle | None = None

    # -- helpers -----------------------------------------------------------------------
    def identity(self, request: Request) -> Identity | None:
        """Who sent the request (lookout/console/auth.py), computed once per request."""
        if "lookout.identity" not in request.scope:
            request.scope["lookout.identity"] = self.access.identity(request.session)
        who: Identity | None = request.scope["lookout.identity"]
        return who

    def role(self, request: Request) -> Role | None:
        who = self.identity(request)
        return None if who is None else who.role

    def lang(self, request: Request) -> Language:
        """The language of this request's pages (lookout/base/i18n.py `choose`): the
        page's switch, else the person's own language, else the browser's, else the
        site's."""
        cookie = request.cookies.get(COOKIE)
        if cookie is None and "session" in request.scope:
            who = self.identity(request)
            cookie = who.language if who is not None else None
        return choose(cookie, request.headers.get("accept-language"), self.language)

    def who(self, request: Request) -> str:
        """The name a verdict, a release or the audit log records: the account, the
        shared role, or "console" where no login is asked."""
        who = self.identity(request)
        if who is None or not self.access.login_required:
            return "console"
        return who.user

    def record(self, request: Request, action: str, target: str = "", **detail: Any) -> None:
        """One audit row for this request (blocking: call from the thread pool)."""
        if self.audit is None:
            return
        who = self.identity(request)
        self.audit.record(
            AuditEntry(
                who=self.who(request),
                role=who.role.value if who is not None else "",
                address=client_address(request),
                action=action,
                target=target,
                detail=detail,
            )
        )

    def render(self, name: str, request: Request, **values: str) -> HTMLResponse:
        """Page `name` from static/, its {{key}} markers filled (escaped) from the session
        and `values`, its {{t:key}} markers from the catalogue of the request's language.
        A page after login starts with the head marker: static/_head.html, which wants
        `title` (a catalogue key) and loads the catalogue, common.js and the page's own
        script (static/NAME.js); its header marker becomes static/_header.html with the
        page's own link active."""
        text = _page(name)
        page = name.removesuffix(".html")
        if "{{head}}" in text:  # one <head> for every page: its title, its own script
            text = text.replace("{{head}}", _page("_head.html"))
        if "{{header}}" in text:  # one header bar for every page, its own link active
            nav = f'id="nav-{page}"'
            text = text.replace(
                "{{header}}", _page("_header.html").replace(nav, f'class="active" {nav}')
            )
        role = self.role(request)
        lang = self.lang(request)
        text = text.replace("{{page}}", page)  # before translating: {{t:nav.{{page}}}}
        text = _TRANSLATE.sub(lambda m: html.escape(t(lang, m.group(1))), text)
        fields = {
            "lang": lang,
            "path": request.url.path,
            "page": page,
            "csrf": csrf_token(request.session),
            "role": role.value if role else "",
            "user": self.who(request) if role else "",
            "login": "1" if self.access.login_required else "0",
            **values,
        }
        for key, value in fields.items():
            text = text.replace("{{" + key + "}}", html.escape(value))
        return HTMLResponse(text, headers={"Cache-Control": "no-store"})

    def refuse(self, request: Request, status: int, code: str) -> JSONResponse:
        """A refused request, its HTTP status kept: `reason` (a code) for programs, `error`
        its text (server.po's `server.CODE`) in the request's language (docs/I18N.md)."""
        text = t(self.lang(request), f"server.{code}")
        return JSONResponse({"error": text, "reason": code}, status_code=status)

    def guard_page(self, request: Request) -> Response | None:
        if self.role(request) is None:
            return RedirectResponse("/login", status_code=303)
        return None

    def guard_api(self, request: Request) -> Response | None:
        if self.role(request) is None:
            return self.refuse(request, 401, "login_required")
        return None

    async def guard_post(self, request: Request, act: bool) -> Response | None:
        """CSRF first (403), then a role (401), then the operator role if `act` (403)."""
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if not csrf_ok(request.session, sent):
            return self.refuse(request, 403, "csrf")
        role = self.role(request)
        if role is None:
            return self.refuse(request, 401, "login_required")
        if act and not role.can_act:
            return self.refuse(request, 403, "read_only")
        return None

    def camera(self, request: Request) -> CameraInfo | None:
        return self.board.cameras.get(request.path_params["camera"])

    # -- open endpoints ----------------------------------------------------------------
    def healthz(self, request: Request) -> Response:
        code, body = self.host.health()
        return JSONResponse(body, status_code=code)

    def metrics(self, request: Request) -> Response:
        return Response(self.host.render_metrics(), media_type=PROMETHEUS)

    # -- pages -------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return RedirectResponse("/cameras", status_code=303)

    async def cameras_page(self, request: Request) -> Response:
        return self.guard_page(request) or self.render("cameras.html", request)

    async def health_page(self, request: Request) -> Response:
        return self.guard_page(request) or self.render("health.html", request)

    # -- API ---------------------------------------------------------------------------
    def camera_summary(self, info: CameraInfo) -> dict[str, Any]:
        s, cid = info.status, info.status.camera_id
        now = time.monotonic()
        jpeg = self.store.jpeg(cid)
        case = self.store.last_case(cid)
        seen = self.store.seen_at(cid)
        return {
            "id": cid,
            "source": safe_source(info.camera),
            "state": s.state,
            "preset": s.preset,
            "fps": self.store.analysed_fps(cid),
            "analysis_fps": info.camera.analysis_fps,
            "frames_analysed": s.frames_analysed,
            "reconnects": s.reconnects,
            "dropped": s.frames_dropped,
            "last_error": jsonable(s.last_error),
            "last_frame_age_s": None if seen is None else round(now - seen, 2),
            "snapshot": None
            if jpeg is None
            else {
                "seq": jpeg.seq,
                "age_s": round(now - jpeg.seen_at, 2),
                "captured_at": _at(jpeg.captured_at, self.tz),
                "width": jpeg.width,
                "height": jpeg.height,
                "preset": jpeg.preset,
            },
            "presets": [p for p in self.store.presets(cid) if p is not None],
            "last_case": None if case is None else _case_json(case, self.tz),
            "quality": jsonable(info.quality),
        }

    async def api_cameras(self, request: Request) -> Response:
        if denied := self.guard_api(request):
            return denied
        self.store.touch()
        cams = [self.camera_summary(c) for c in self.board.cameras.values()]
        age = time.monotonic() - self.board.updated_at
        return JSONResponse(
            {"cameras": cams, "status_age_s": round(age, 2), "time": _now(self.tz)},
            headers={"Cache-Control": "no-store"},
        )

    async def api_camera(self, request: Request) -> Response:
        if denied := self.guard_api(request):
            return denied
        info = self.camera(request)
        if info is None:
            return self.refuse(request, 404, "no_such_camera")
        self.store.touch()
        body = self.camera_summary(info)
        body["zones"] = _zones(info.camera)
        body["overlay"] = self.overlay_json(info.status.camera_id)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def overlay_json(self, camera_id: str) -> dict[str, Any] | None:
        ov = self.store.overlay(camera_id)
        if ov is None or ov.width == 0:
            return None
        t = ov.tracked
        names = self.class_names
        dets = [
            {
                "box": [round(float(v), 1) for v in t.xyxy[i]],
                "label": names[int(t.class_id[i])] if 0 <= t.class_id[i] < len(names) else "?",
                "confidence": round(float(t.confidence[i]), 2),
                "track": int(t.tracker_id[i]),
            }
            for i in range(len(t))
        ]
        plan = ov.plan
        return {
            "width": ov.width,
            "height": ov.height,
            "preset": ov.preset,
            "gated": ov.gated,
            "detections": dets,
            "motion": [list(b) for b in ov.motion],
            "plan": None
            if plan is None
            else {
                "crops": [
                    [c.x, c.y, c.width, c.height, i in plan.still] for i, c in enumerate(plan.crops)
                ],
                "full_frame": plan.full_frame,
                "scale": round(plan.scale, 3),
                "smallest_px": round(plan.smallest_px, 1),
            },
        }

    async def snapshot_jpg(self, request: Request) -> Response:
        if denied := self.guard_api(request):
            return denied
        cid = request.path_params["camera"]
        self.store.touch()
        preset = request.query_params.get("preset")
        jpeg = self.store.jpeg(cid, preset, current=preset is None)
        end = time.monotonic() + FIRST_PICTURE_WAIT_S
        while jpeg is None and preset is None and time.monotonic() < end:
            if not self.store.pending(cid):
                break
            await asyncio.sleep(0.05)  # the encoder thread makes the first one
            jpeg = self.store.jpeg(cid)
        if jpeg is None:
            return self.refuse(request, 404, "no_picture")
        cache = "private, max-age=60" if "seq" in request.query_params else "no-store"
        return Response(
            jpeg.data,
            media_type="image/jpeg",
            headers={"Cache-Control": cache, "X-Snapshot-Seq": str(jpeg.seq)},
        )

    async def api_health(self, request: Request) -> Response:
        if denied := self.guard_api(request):
            return denied
        self.store.touch()
        body = await run_in_threadpool(self._health_body)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _health_body(self) -> dict[str, Any]:
        hist = self.history
        sums = hist.summaries() if hist is not None else {}
        lines = hist.timeline() if hist is not None else {}
        acks = hist.acks() if hist is not None else {}
        cams = []
        for cid, info in self.board.cameras.items():
            s = sums.get(cid)
            ack = acks.get(cid)
            cams.append(
                {
                    "id": cid,
                    "state": info.status.state,
                    "last_error": jsonable(info.status.last_error),
                    "uptime_24h": None if s is None or s.uptime is None else round(s.uptime, 4),
                    "observed_24h_s": 0.0 if s is None else round(s.observed_s, 1),
                    "reconnects_24h": 0 if s is None else s.reconnects,
                    "dropped_24h": 0 if s is None else s.dropped,
                    "analysed_24h": 0 if s is None else s.analysed,
                    "timeline": lines.get(cid, []),
                    "acknowledged": None
                    if ack is None
                    else {"at": _iso(ack.t, self.tz), "state": ack.state, "role": ack.role},
                }
            )
        try:
            sinks = self.host.deliveries()
        except Exception as exc:  # a locked outbox must not break the page
            log.warning("console: sink backlog unavailable: %s", exc)
            sinks = {}
        return {"cameras": cams, "sinks": sinks, "time": _now(self.tz), "window_s": 86400}

    # -- operator actions ----------------------------------------------------------------
    async def take_snapshot(self, request: Request) -> Response:
        if denied := await self.guard_post(request, act=True):
            return denied
        cid = request.path_params["camera"]
        if cid not in self.board.cameras:
            return self.refuse(request, 404, "no_such_camera")
        jpeg = await run_in_threadpool(self.store.encode_now, cid)
        if jpeg is None:
            return self.refuse(request, 409, "no_picture")
        stamp = jpeg.captured_at.astimezone(self.tz).strftime("%Y%m%dT%H%M%S")
        rel = Path("console") / "snapshots" / _SAFE_NAME.sub("_", cid) / f"{stamp}.jpg"
        path = self.out_dir / rel
        await run_in_threadpool(_write, path, jpeg.data)
        log.info("console: snapshot of camera %s saved to %s", cid, path)
        return JSONResponse({"saved": str(rel), "width": jpeg.width, "height": jpeg.height})

    async def acknowledge(self, request: Request) -> Response:
        if denied := await self.guard_post(request, act=True):
            return denied
        info = self.camera(request)
        if info is None:
            return self.refuse(request, 404, "no_such_camera")
        if self.history is None:
            return self.refuse(request, 409, "no_history")
        ack = await run_in_threadpool(
            self.history.acknowledge, info.status.camera_id, info.status.state, self.who(request)
        )
        await run_in_threadpool(
            self.record, request, "acknowledge", info.status.camera_id, state=ack.state
        )
        return JSONResponse({"acknowledged": {"at": _iso(ack.t, self.tz), "state": ack.state}})


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)


def _case_json(case: Any, tz: tzinfo) -> dict[str, Any]:
    return {
        "id": case.id,
        "type": case.type,
        "zone_id": case.zone_id,
        "preset": case.preset,
        "confirmed_at": _at(case.confirmed_at, tz),
        "dwell_s": round(case.dwell_s, 1),
        "confidence": round(case.confidence, 2),
        "object_class": case.object_class,
        "count": case.count,
    }


def _at(when: datetime, tz: tzinfo) -> str:
    """A time as the console shows it: in the site's zone `tz`, with its offset."""
    return when.astimezone(tz).isoformat(timespec="seconds")


def _iso(t: float, tz: tzinfo) -> str:
    """A Unix time in the site's zone (not the server's: the console may run on a
    box set to UTC while the site and its operators are at UTC+8)."""
    return _at(datetime.fromtimestamp(t, UTC), tz)


def _now(tz: tzinfo) -> str:
    return _at(datetime.now(UTC), tz)
