"""The audit log in the console, for admins only (docs/ACCOUNTS.md "Audit log"):
the page /audit and GET /api/audit?from=&to=&who=&action=&limit=&offset= (newest
first, times in the site's zone)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from lookout.base.errors import LookoutError
from lookout.base.i18n import t
from lookout.console.body import BadInput, query_int
from lookout.console.views import Console
from lookout.report.audit import ACTIONS
from lookout.report.build import parse_bound

#: Most rows one request returns.
MAX_LIMIT = 1000
_NO_STORE = {"Cache-Control": "no-store"}


@dataclass
class AuditConsole:
    console: Console
    tz: tzinfo

    def _guard(self, request: Request, page: bool = False) -> Response | None:
        """A login first (a page redirects to it, the API says 401), then admin (403)."""
        c = self.console
        if denied := (c.guard_page(request) if page else c.guard_api(request)):
            return denied
        role = c.role(request)
        if role is None or not role.is_admin:
            return c.refuse(request, 403, "admin_only")
        return None

    async def audit_page(self, request: Request) -> Response:
        return self._guard(request, page=True) or self.console.render("audit.html", request)

    async def api_audit(self, request: Request) -> Response:
        if denied := self._guard(request):
            return denied
        c, lang = self.console, self.console.lang(request)
        q = request.query_params
        try:
            limit = min(query_int(request, "limit", 200, 1), MAX_LIMIT)
            offset = query_int(request, "offset", 0)
            start = q.get("from") or None
            end = q.get("to") or None
            t0 = None if start is None else parse_bound(start, self.tz, end=False).timestamp()
            t1 = None if end is None else parse_bound(end, self.tz, end=True).timestamp()
            action = q.get("action") or None
            if action is not None and action not in ACTIONS:
                raise BadInput("action", "one of " + ", ".join(ACTIONS))
            who = (q.get("who") or "").strip()[:100] or None
        except BadInput as exc:
            text = t(lang, "server.bad_input", field=exc.field, reason=exc.reason)
            return JSONResponse({"error": text, "reason": "bad_input"}, status_code=400)
        except LookoutError as exc:
            text = t(lang, "server.bad_input", field="from/to", reason=str(exc))
            return JSONResponse({"error": text, "reason": "bad_input"}, status_code=400)
        log = c.audit
        if log is None:
            return JSONResponse({"entries": [], "kept": False}, headers=_NO_STORE)
        rows = await run_in_threadpool(
            lambda: log.entries(
                t0, t1, who=who, action=action, limit=limit, offset=offset, newest_first=True
            )
        )
        return JSONResponse(
            {"entries": [e.json(self.tz) for e in rows], "kept": True, "limit": limit},
            headers=_NO_STORE,
        )
