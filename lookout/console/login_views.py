"""The console's door: the login form and its throttle, logout, the session's answer
to the pages' scripts, and the language switch (docs/ACCOUNTS.md, docs/I18N.md). A
login is throttled before any password hash (lookout/console/throttle.py) and written
to the audit log whether it succeeds or not; a logout ends the server-side session
(lookout/console/auth.py)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from lookout.base.i18n import COOKIE, LANGUAGES, Language, messages, normalise, t
from lookout.console.auth import CSRF_FIELD, Identity, csrf_ok, csrf_token
from lookout.console.throttle import Gate, Outcome
from lookout.console.views import Console, client_address
from lookout.report.audit import AuditEntry

log = logging.getLogger(__name__)

#: A failed login waits this long: slows down guessing.
LOGIN_DELAY_S = 0.5


@functools.cache
def _catalogue_script(lang: Language) -> str:
    """The script /i18n/<lang>.js serves (the catalogues are read once per process)."""
    return "window.LO_MESSAGES = " + json.dumps(dict(messages(lang)), ensure_ascii=False) + ";\n"


@dataclass
class LoginViews:
    """The endpoints around a login; `c` is the console they serve."""

    c: Console

    # -- language --------------------------------------------------------------------------
    async def catalogue_js(self, request: Request) -> Response:
        """GET /i18n/{lang}.js: the language's catalogue for the pages' scripts (LO.t)."""
        lang = normalise(request.path_params["lang"])
        if lang is None or request.path_params["lang"] != lang:
            return JSONResponse({"error": f"lang: one of {', '.join(LANGUAGES)}"}, 404)
        return Response(
            _catalogue_script(lang),
            media_type="text/javascript; charset=utf-8",
            headers={"Cache-Control": "private, max-age=300"},
        )

    async def switch_language(self, request: Request) -> Response:
        """GET /lang?to=zh-CN&next=/cases: remember the language for this browser (a
        cookie, a year) and go back to the page (only a path of this site)."""
        lang = normalise(request.query_params.get("to"))
        if lang is None:
            return JSONResponse({"error": f"to: one of {', '.join(LANGUAGES)}"}, 400)
        target = request.query_params.get("next") or "/cameras"
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            target = "/cameras"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return response

    # -- login ------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        if not self.c.access.login_required:
            return RedirectResponse("/cameras", status_code=303)
        return self.c.render("login.html", request, error="", username="")

    async def login_post(self, request: Request) -> Response:
        """POST /login (form: username, password, csrf_token): throttled before any hash
        (lookout/console/throttle.py), audited either way."""
        form = await request.form()
        sent = form.get(CSRF_FIELD)
        if not csrf_ok(request.session, sent if isinstance(sent, str) else None):
            return self.c.refuse(request, 403, "csrf")
        name, password = form.get("username"), form.get("password")
        name = name.strip() if isinstance(name, str) else ""
        if len(name) > 64 or not isinstance(password, str) or len(password) > 1024:
            name, password = name[:64], ""
        address = client_address(request)
        lang = self.c.lang(request)
        who: Identity | None = None
        gate = Gate(Outcome.WRONG)
        if password and self.c.throttle is not None:
            who, gate = await self.c.throttle.attempt(
                name or "*shared*", address, lambda: self.c.access.authenticate(name, password)
            )
        elif password:
            who = await run_in_threadpool(self.c.access.authenticate, name, password)
        outcome = gate.outcome or Outcome.WRONG
        if who is None:
            shown = name if name else "*shared*"
            await run_in_threadpool(self._audit_login_failure, request, shown, outcome)
            if outcome in (Outcome.DELAYED, Outcome.LOCKED):
                wait = max(1, math.ceil(gate.retry_after_s))
                error = t(lang, "login.throttled", seconds=wait)
                page = self.c.render("login.html", request, error=error, username=name)
                page.status_code = 429
                page.headers["Retry-After"] = str(wait)
                return page
            await asyncio.sleep(LOGIN_DELAY_S)
            page = self.c.render("login.html", request, error=t(lang, "login.wrong"), username=name)
            page.status_code = 401
            return page
        await run_in_threadpool(self.c.access.start, request.session, who, address)
        request.scope["lookout.identity"] = who
        await run_in_threadpool(self.c.record, request, "login", who.user)
        log.info("console: %s (%s) logged in from %s", who.user, who.role.value, address)
        return RedirectResponse("/cameras", status_code=303)

    def _audit_login_failure(self, request: Request, name: str, outcome: Outcome) -> None:
        action = "login_failed" if outcome is Outcome.WRONG else "login_refused"
        address = client_address(request)
        log.warning("console: %s login for %s from %s", outcome.value, name, address)
        if self.c.audit is not None:
            self.c.audit.record(AuditEntry(name, "", address, action, name, {"why": outcome.value}))

    async def logout(self, request: Request) -> Response:
        denied = await self.c.guard_post(request, act=False)
        if denied is not None:
            return denied
        if self.c.access.login_required:
            await run_in_threadpool(self.c.record, request, "logout", self.c.who(request))
        await run_in_threadpool(self.c.access.end, request.session)
        return RedirectResponse("/login" if self.c.access.login_required else "/", status_code=303)

    async def api_session(self, request: Request) -> Response:
        role = self.c.role(request)
        return JSONResponse(
            {
                "role": role.value if role else None,
                "user": self.c.who(request) if role else None,
                "csrf": csrf_token(request.session),
                "login_required": self.c.access.login_required,
            },
            headers={"Cache-Control": "no-store"},
        )
