"""The console's case review: the cases page, its JSON API, evidence, verdicts, report.

Backed by `CaseReview` (docs/CASE_STATUS.md "Recording a verdict"): the list is
`CaseReview.cases(CaseFilter(...))`, a case's verdict history `CaseReview.history`, and
a verdict `CaseReview.verdict(...)` made by the logged-in role (or `console` when the
console needs no login). After a verdict the daemon's delivery worker is woken
(`notify`) so the status update goes out at once. Evidence pictures are served only
for known cases, only the files the case names under the output folder's `evidence/`.
The report page renders `lookout/report/build.py`'s figures (read-only, viewers too).
Every call into SQLite runs on Starlette's thread pool.
"""

from __future__ import annotations

import html
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from lookout.base.errors import LookoutError
from lookout.base.i18n import Language, t
from lookout.cases.status import STATUSES, VERDICTS, StatusUpdate
from lookout.cases.verdicts import CaseFilter, CaseReview, CaseRow, ReviewError
from lookout.console.body import BadInput, json_object, query_int
from lookout.console.views import Console
from lookout.report.build import build_report, parse_bound
from lookout.report.figures import open_history
from lookout.report.render import _STYLE as REPORT_STYLE
from lookout.report.render import JUDGEMENT_COLOURS, TYPE_COLOURS, render_html

log = logging.getLogger(__name__)

#: Evidence pictures a case may have (cases/evidence.py `EvidenceWriter.paths`).
EVIDENCE_KINDS = ("full", "crop", "before", "after")
#: Most cases one list request returns.
MAX_LIMIT = 500
NOTE_MAX = 2000
_STYLE_TAG = re.compile(r"<style>.*?</style>", re.S)
_SWATCH = re.compile(r'<i style="background:#([0-9a-fA-F]{3,8})"></i>')
#: The report's legend swatches as classes (inline style attributes are blocked too).
_SWATCH_CSS = "".join(
    f".sw-{c[1:]} {{ background: {c}; }}\n"
    for c in sorted({*TYPE_COLOURS.values(), *JUDGEMENT_COLOURS.values()})
)
_NO_STORE = {"Cache-Control": "no-store"}


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@dataclass
class CaseConsole:
    """The case endpoints: `console` for roles, CSRF and pages; `review` the outbox
    (None: no SQLite outbox configured, the page says so)."""

    console: Console
    review: CaseReview | None
    out_dir: Path
    tz: tzinfo
    #: Wakes the delivery worker after a verdict (None without remote sinks).
    notify: Callable[[], None] | None = None

    # -- pages ---------------------------------------------------------------------------
    async def cases_page(self, request: Request) -> Response:
        c = self.console
        return c.guard_page(request) or c.render("cases.html", request)

    async def report_page(self, request: Request) -> Response:
        """`/report?from=DATE&to=DATE` (default: the last 30 days): the report's HTML in
        the request's language, its style served by /report.css (the console's CSP
        allows no inline style)."""
        if denied := self.console.guard_page(request):
            return denied
        lang = self.console.lang(request)
        if self.review is None:
            text = html.escape(t(lang, "report.no_outbox"))
            return HTMLResponse(f'<p lang="{lang}">{text}</p>', status_code=404)
        today = datetime.now(self.tz).date()
        start_text = request.query_params.get("from") or (today - timedelta(days=29)).isoformat()
        end_text = request.query_params.get("to") or today.isoformat()
        try:
            start = parse_bound(start_text, self.tz, end=False)
            end = parse_bound(end_text, self.tz, end=True)
            page = await run_in_threadpool(self._report_html, start, end, lang)
        except LookoutError as exc:
            detail = f'<span translate="no">{html.escape(str(exc))}</span>'
            text = html.escape(t(lang, "report.bad_period", detail="\0")).replace("\0", detail)
            return HTMLResponse(f'<p lang="{lang}">{text}</p>', status_code=400)
        link = '<link rel="stylesheet" href="/report.css">'
        back = html.escape(t(lang, "report.back"))
        nav = f'<p class="meta noprint"><a href="/cases">← {back}</a></p>'
        page = _STYLE_TAG.sub(link, page, count=1).replace("<body>", f"<body>{nav}", 1)
        page = _SWATCH.sub(r'<i class="sw-\1"></i>', page)
        return HTMLResponse(page, headers=_NO_STORE)

    def _report_html(self, start: datetime, end: datetime, lang: Language = "en") -> str:
        assert self.review is not None
        history = open_history(self.out_dir / "console.db")
        try:
            report = build_report(self.review, start, end, history, tz=self.tz)
        finally:
            if history is not None:
                history.close()
        return render_html(report, lang)

    async def report_css(self, request: Request) -> Response:
        return Response(REPORT_STYLE + _SWATCH_CSS, media_type="text/css")

    # -- API -----------------------------------------------------------------------------
    def _filter(self, request: Request, lang: Language) -> CaseFilter:
        q = request.query_params

        def text(name: str) -> str | None:
            value = q.get(name, "").strip()
            return value or None

        status = text("status")
        if status is not None and status not in STATUSES:
            raise ReviewError(t(lang, "cases.error.status", values=", ".join(STATUSES)))
        since = until = None
        try:
            if (value := text("from")) is not None:
                since = parse_bound(value, self.tz, end=False)
            if (value := text("to")) is not None:
                until = parse_bound(value, self.tz, end=True)
        except LookoutError:
            raise ReviewError(t(lang, "cases.error.date", value=value)) from None
        try:
            limit = min(MAX_LIMIT, query_int(request, "limit", 200, low=1))
            offset = query_int(request, "offset", 0)
        except BadInput:
            raise ReviewError(t(lang, "cases.error.limit")) from None
        return CaseFilter(
            type=text("type"),
            camera_id=text("camera"),
            zone_id=text("zone"),
            grid_code=text("grid"),
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            newest_first=True,
        )

    async def api_cases(self, request: Request) -> Response:
        """GET /api/cases?type=&camera=&zone=&grid=&status=&from=&to=&limit=&offset="""
        if denied := self.console.guard_api(request):
            return denied
        if self.review is None:
            return JSONResponse({"cases": [], "outbox": False}, headers=_NO_STORE)
        try:
            filt = self._filter(request, self.console.lang(request))
        except LookoutError as exc:
            return _error(str(exc))
        rows = await run_in_threadpool(self.review.cases, filt)
        return JSONResponse(
            {"cases": [_row_json(r) for r in rows], "outbox": True, "limit": filt.limit},
            headers=_NO_STORE,
        )

    async def api_case(self, request: Request) -> Response:
        """GET /api/cases/{case_id}: the case, its evidence URLs and verdict history."""
        if denied := self.console.guard_api(request):
            return denied
        lang = self.console.lang(request)
        if self.review is None:
            return _error(t(lang, "cases.error.no_outbox"), 404)
        case_id = request.path_params["case_id"]
        row = await run_in_threadpool(self.review.case, case_id)
        if row is None:
            return _error(t(lang, "cases.error.no_case"), 404)
        history = await run_in_threadpool(self.review.history, row.case.id)
        body = _row_json(row)
        body["case"] = json.loads(row.case.to_json())
        body["evidence"] = {
            kind: f"/api/cases/{row.case.id}/evidence/{kind}"
            for kind in EVIDENCE_KINDS
            if self._evidence_file(row, kind) is not None
        }
        body["history"] = [_update_json(u) for u in history]
        return JSONResponse(body, headers=_NO_STORE)

    def _evidence_file(self, row: CaseRow, kind: str) -> Path | None:
        """The case's own evidence picture of `kind`, inside `out_dir/evidence/`, if it
        exists: only names the case lists, never a path the request made up."""
        if kind not in EVIDENCE_KINDS:
            return None
        folder = (self.out_dir / "evidence").resolve()
        name = f"{row.case.id}_{kind}.jpg"
        for rel in row.case.evidence:
            if Path(rel).name != name:
                continue
            path = (self.out_dir / rel).resolve()
            if path.parent == folder and path.is_file():
                return path
        return None

    async def evidence(self, request: Request) -> Response:
        """GET /api/cases/{case_id}/evidence/{kind} (full, crop, before, after)."""
        if denied := self.console.guard_api(request):
            return denied
        lang = self.console.lang(request)
        if self.review is None:
            return _error(t(lang, "cases.error.no_outbox"), 404)
        row = await run_in_threadpool(self.review.case, request.path_params["case_id"])
        path = None if row is None else self._evidence_file(row, request.path_params["kind"])
        if path is None:
            return _error(t(lang, "cases.error.no_evidence"), 404)
        return FileResponse(
            path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
        )

    # -- verdicts ------------------------------------------------------------------------
    async def verdict(self, request: Request) -> Response:
        """POST /api/cases/{case_id}/verdict, JSON {verdict, note, rebase}: CSRF and the
        operator role first (auth.py), then `CaseReview.verdict`."""
        c = self.console
        if denied := await c.guard_post(request, act=True):
            return denied
        lang = c.lang(request)
        if self.review is None:
            return _error(t(lang, "cases.error.no_outbox"), 409)
        try:
            data = await json_object(request)
        except BadInput as exc:
            return _error(t(lang, "server.bad_input", field=exc.field, reason=exc.reason))
        verdict, note, rebase = data.get("verdict"), data.get("note"), data.get("rebase", False)
        if verdict not in VERDICTS:
            return _error(t(lang, "cases.error.verdict", values=", ".join(VERDICTS)))
        if note is not None and (not isinstance(note, str) or len(note) > NOTE_MAX):
            return _error(t(lang, "cases.error.note", n=NOTE_MAX))
        if not isinstance(rebase, bool):
            return _error(t(lang, "cases.error.rebase"))
        case_id = request.path_params["case_id"]
        row = await run_in_threadpool(self.review.case, case_id)
        if row is None:
            return _error(t(lang, "cases.error.no_case"), 404)
        # The refusals CaseReview.verdict would make, in the page's language (its own
        # texts are the CLI's, in English: docs/CASE_STATUS.md).
        if rebase and row.case.type != "illegal_construction":
            return _error(t(lang, "cases.error.rebase_type"))
        if rebase and verdict == "confirmed":
            return _error(t(lang, "cases.error.rebase_confirmed"))
        by = self.console.who(request)
        review, cid, text = self.review, row.case.id, (note or "").strip() or None
        try:
            update = await run_in_threadpool(
                lambda: review.verdict(cid, verdict, by, text, rebase=rebase)
            )
        except ReviewError as exc:
            return _error(t(lang, "cases.error.refused", detail=str(exc)))
        log.info(
            "console: case %s %s (version %d) by %s",
            update.case_id,
            update.status,
            update.version,
            by,
        )
        await run_in_threadpool(
            c.record,
            request,
            "verdict",
            update.case_id,
            status=update.status,
            version=update.version,
            note=text,
            rebase=rebase,
        )
        if self.notify is not None:
            self.notify()
        return JSONResponse({"update": _update_json(update)})

    async def release(self, request: Request) -> Response:
        """POST /api/cases/{case_id}/release: a case the second look held is delivered
        as a draft from now on (CSRF and the operator role first, as for a verdict)."""
        c = self.console
        if denied := await c.guard_post(request, act=True):
            return denied
        lang = c.lang(request)
        if self.review is None:
            return _error(t(lang, "cases.error.no_outbox"), 409)
        row = await run_in_threadpool(self.review.case, request.path_params["case_id"])
        if row is None:
            return _error(t(lang, "cases.error.no_case"), 404)
        if not row.held:
            return _error(t(lang, "cases.error.not_held"))
        by = self.console.who(request)
        review, cid = self.review, row.case.id
        try:
            await run_in_threadpool(lambda: review.release(cid, by))
        except ReviewError as exc:
            return _error(t(lang, "cases.error.refused", detail=str(exc)))
        log.info("console: case %s released from the second look's hold by %s", cid, by)
        await run_in_threadpool(c.record, request, "release", cid)
        if self.notify is not None:
            self.notify()
        return JSONResponse({"case_id": cid, "by": by})


def _row_json(row: CaseRow) -> dict[str, Any]:
    c = row.case
    return {
        "id": c.id,
        "type": c.type,
        "code": c.code,
        "code_name": c.code_name,
        "camera_id": c.camera_id,
        "preset": c.preset,
        "zone_id": c.zone_id,
        "grid_code": c.grid_code,
        "grid_unit": c.grid_unit,
        "first_seen": c.first_seen.isoformat(timespec="seconds"),
        "confirmed_at": c.confirmed_at.isoformat(timespec="seconds"),
        "last_seen": c.last_seen.isoformat(timespec="seconds"),
        "dwell_s": round(c.dwell_s, 1),
        "confidence": round(c.confidence, 2),
        "object_class": c.object_class,
        "count": c.count,
        "location": None if c.location is None else {"lon": c.location.lon, "lat": c.location.lat},
        "status": row.status,
        "score": None if row.score is None else round(row.score, 3),
        "held": row.held,
        "version": row.version,
        "verdict": None if row.verdict is None else _update_json(row.verdict),
    }


def _update_json(u: StatusUpdate) -> dict[str, Any]:
    return {
        "version": u.version,
        "status": u.status,
        "previous": u.previous,
        "by": u.by,
        "at": u.at.isoformat(timespec="seconds"),
        "note": u.note,
        "rebase": u.rebase,
    }
