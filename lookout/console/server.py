"""The daemon's one HTTP server: /healthz, /metrics and the web console.

Starlette (routing, sessions, static files, form parsing) on uvicorn (HTTP/1.1 with
h11), run on a thread of its own: `ConsoleServer.start()` binds the socket itself (so
a bad address fails at once, as one line, and port 0 is known before anything is
served), `stop()` sets the stop Event and uvicorn's `should_exit`, which its main
loop checks ten times a second, then joins the thread. The event loop only answers
from memory; calls into the daemon (/healthz, /metrics, the sink backlogs, SQLite)
run on Starlette's thread pool.

`open_console` builds the console's parts (snapshot store, status board, history,
the case review of lookout/console/cases_views.py) and the app; with
`daemon.http.console.enabled: false` the app serves only /healthz and /metrics.
With `daemon.http.tls` it serves HTTPS (lookout/console/tls.py), the session cookie is
Secure and every answer carries Strict-Transport-Security; off loopback the Host header
must be the bind address or a name of `allowed_hosts` (docs/CONSOLE.md, "TLS and Host
names").
"""

from __future__ import annotations

import logging
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, tzinfo
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookout.base.errors import ConfigError
from lookout.cases.verdicts import CaseReview
from lookout.config.daemon import HttpConfig, is_loopback
from lookout.console.audit_views import AuditConsole
from lookout.console.auth import Access
from lookout.console.cases_views import CaseConsole
from lookout.console.editor import Editor, EditorHost
from lookout.console.login_views import LoginViews
from lookout.console.security import Security, SecuritySetup, open_security
from lookout.console.snapshots import SnapshotStore
from lookout.console.state import ConsoleHost, StatusBoard
from lookout.console.tls import HSTS, server_context
from lookout.console.views import Console
from lookout.report.health_store import HealthHistory

log = logging.getLogger(__name__)

#: Largest request body accepted (logins and actions are tiny).
MAX_BODY = 64 * 1024
LOOPBACK_NAMES = ["127.0.0.1", "localhost", "::1", "[::1]"]
#: Bind addresses that are no name a browser asks for.
WILDCARDS = {"0.0.0.0", "::", "[::]"}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; form-action 'self'",
    ),
]


class SecurityHeaders:
    """Adds the headers above to every response (no inline script can run), and
    Strict-Transport-Security when served over TLS (`hsts`)."""

    def __init__(self, app: ASGIApp, hsts: bool = False) -> None:
        self.app = app
        self.headers = [*SECURITY_HEADERS, HSTS] if hsts else SECURITY_HEADERS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


def build_app(
    console: Console | None,
    http: HttpConfig,
    probes: Console,
    cases: CaseConsole | None = None,
    editor: Editor | None = None,
    session_secret: str | None = None,
    audit: AuditConsole | None = None,
) -> Starlette:
    """The ASGI app: probes always, the console when given. `probes` answers
    /healthz and /metrics (a Console whose host is the daemon); `cases` adds the case
    review pages (lookout/console/cases_views.py), `editor` the zone editor
    (lookout/console/editor.py)."""
    routes: list[Route | Mount] = [
        Route("/healthz", probes.healthz),
        Route("/metrics", probes.metrics),
    ]
    middleware = [Middleware(SecurityHeaders, hsts=http.tls is not None)]
    # A page on another site cannot reach the console by DNS rebinding.
    middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=host_names(http)))
    if console is not None:
        c, door = console, LoginViews(console)
        routes += [
            Route("/", c.index),
            Route("/login", door.login_page, methods=["GET"]),
            Route("/lang", door.switch_language),
            Route("/i18n/{lang}.js", door.catalogue_js),
            Route("/login", door.login_post, methods=["POST"]),
            Route("/logout", door.logout, methods=["POST"]),
            Route("/cameras", c.cameras_page),
            Route("/health", c.health_page),
            Route("/api/session", door.api_session),
            Route("/api/cameras", c.api_cameras),
            Route("/api/cameras/{camera}", c.api_camera),
            Route("/api/cameras/{camera}/snapshot.jpg", c.snapshot_jpg),
            Route("/api/cameras/{camera}/snapshot", c.take_snapshot, methods=["POST"]),
            Route("/api/cameras/{camera}/acknowledge", c.acknowledge, methods=["POST"]),
            Route("/api/health", c.api_health),
        ]
        if cases is not None:
            routes += [
                Route("/cases", cases.cases_page),
                Route("/report", cases.report_page),
                Route("/report.css", cases.report_css),
                Route("/api/cases", cases.api_cases),
                Route("/api/cases/{case_id}", cases.api_case),
                Route("/api/cases/{case_id}/evidence/{kind}", cases.evidence),
                Route("/api/cases/{case_id}/verdict", cases.verdict, methods=["POST"]),
                Route("/api/cases/{case_id}/release", cases.release, methods=["POST"]),
            ]
        if editor is not None:
            e = editor
            routes += [
                Route("/editor", e.editor_page),
                Route("/api/editor/{camera}", e.api_state),
                Route("/api/editor/{camera}/preview", e.preview, methods=["POST"]),
                Route("/api/editor/{camera}/zones", e.save_zones, methods=["POST"]),
                Route("/api/editor/{camera}/goto", e.goto, methods=["POST"]),
                Route("/api/editor/{camera}/fit", e.fit, methods=["POST"]),
                Route("/api/editor/{camera}/calibration", e.save_calibration, methods=["POST"]),
            ]
        if audit is not None:
            routes += [
                Route("/audit", audit.audit_page),
                Route("/api/audit", audit.api_audit),
            ]
        routes += [
            Mount("/static", StaticFiles(packages=[("lookout.console", "static")]), name="static"),
        ]
        middleware.append(
            Middleware(
                SessionMiddleware,
                # The store's secret: a login outlives a restart (lookout/console/security.py).
                secret_key=session_secret or secrets.token_urlsafe(32),
                session_cookie="lookout_session",
                max_age=c.access.max_age_s,
                same_site="strict",
                https_only=http.tls is not None,
            )
        )
    return Starlette(routes=routes, middleware=middleware, max_body_size=MAX_BODY)


def host_names(http: HttpConfig) -> list[str]:
    """The Host header names the server answers: the loopback names on loopback,
    elsewhere the bind address and `allowed_hosts`."""
    if is_loopback(http.host):
        return LOOPBACK_NAMES
    return [http.host, *http.allowed_hosts]


def start_warnings(http: HttpConfig) -> list[str]:
    """What `ConsoleParts.start` warns about at every start: plain HTTP off loopback
    (`insecure_http`), and a wildcard bind address that no Host name matches."""
    out = []
    if http.tls is None and not is_loopback(http.host):
        out.append(
            f"daemon.http: serving {http.host} without TLS (insecure_http: true): "
            "passwords and the session cookie cross the network in clear; "
            "set daemon.http.tls"
        )
    if http.host in WILDCARDS and not http.allowed_hosts:
        out.append(
            f"daemon.http: host {http.host} and no allowed_hosts: every request gets 400; "
            "list the names browsers use in daemon.http.allowed_hosts"
        )
    return out


class ConsoleServer:
    """uvicorn serving `app` on its own thread until `stop()`; over TLS with `tls`."""

    def __init__(
        self, app: ASGIApp, host: str, port: int, tls: ssl.SSLContext | None = None
    ) -> None:
        self.app = app
        self.host = host
        self.tls = tls
        self._sock = _bind(host, port)
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_config=None,  # records go to the root logger, through its redaction
            log_level="warning",
            access_log=False,
            lifespan="off",
            ws="none",
            http="h11",
            server_header=False,
            timeout_graceful_shutdown=1,
            # uvicorn asks this for its context when it loads the config (server.run).
            ssl_context_factory=None if tls is None else lambda _config, _default: tls,
        )
        self.server = uvicorn.Server(config)
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="http", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self._sock])
        except Exception:
            log.exception("http server failed")
        finally:
            self.stop_event.set()

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    def start(self, timeout: float = 5.0) -> None:
        self._thread.start()
        end = time.monotonic() + timeout
        while not self.server.started and not self.stop_event.is_set():
            if time.monotonic() > end:
                raise ConfigError(f"daemon.http: the server on {self.host} did not start")
            time.sleep(0.01)

    def stop(self, timeout: float = 3.0) -> bool:
        self.stop_event.set()
        self.server.should_exit = True
        self._thread.join(timeout)
        self._sock.close()
        return not self._thread.is_alive()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"daemon.http: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@dataclass(frozen=True)
class CaseConsoleSetup:
    """What the case review needs from the daemon: its outbox's `CaseReview` (None
    without a SQLite outbox), the site's time zone, and the delivery worker's
    `notify` (None without remote sinks)."""

    review: CaseReview | None
    tz: tzinfo
    notify: Callable[[], None] | None = None


@dataclass
class ConsoleParts:
    """What `open_console` made; `stop()` ends the threads in order."""

    server: ConsoleServer
    console: Console | None
    store: SnapshotStore | None
    board: StatusBoard | None
    history: HealthHistory | None
    cases: CaseConsole | None = None
    #: Logged as warnings at every start (`start_warnings`).
    warnings: tuple[str, ...] = ()
    #: Accounts, sessions, audit log, throttle (lookout/console/security.py).
    security: Security | None = None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def scheme(self) -> str:
        return self.server.scheme

    def start(self) -> None:
        for warning in self.warnings:
            log.warning("%s", warning)
        if self.board is not None:
            self.board.refresh()  # the first requests already see every camera
            self.board.start()
        if self.store is not None:
            self.store.start()
        self.server.start()

    def stop(self) -> None:
        self.server.stop()
        if self.board is not None:
            self.board.stop()
        if self.store is not None:
            self.store.stop()
        if self.history is not None:
            self.history.close()
        if self.cases is not None and self.cases.review is not None:
            self.cases.review.close()
        if self.security is not None:
            self.security.close()


def open_console(
    http: HttpConfig,
    host: ConsoleHost,
    class_names: list[str],
    out_dir: Path,
    source: str = "config",
    cases: CaseConsoleSetup | None = None,
    editor: EditorHost | None = None,
    tz: tzinfo | None = None,
    security: SecuritySetup | None = None,
) -> ConsoleParts:
    """Bind the server and build the console (not started: see `ConsoleParts.start`).
    With `cases` the console also serves the case review (its `review` is closed by
    `ConsoleParts.stop`, or here if the server cannot bind or `daemon.http.tls` is
    not usable); with `editor` the zone editor."""
    c = http.console
    # The site's time zone (`site.timezone`; else the case setup's, else UTC): every
    # time a person reads on the console is in it (docs/ARCHITECTURE.md, "Time").
    tz = tz if tz is not None else cases.tz if cases is not None else UTC
    sec = None
    if c.enabled:
        sec = open_security(http, security or SecuritySetup(out_dir / "console.db", None), source)
    access = sec.access if sec is not None else Access.from_config(http, source)
    store = SnapshotStore(
        interval_s=c.snapshot_interval_s,
        active_for_s=c.active_for_s,
        max_width=c.snapshot_max_width,
        quality=c.jpeg_quality,
    )
    history = HealthHistory.open(out_dir / "console.db", c.history_days) if c.enabled else None
    board = StatusBoard(host, store, history, c.history_interval_s)
    console = Console(host, store, board, history, access, class_names, out_dir, c.language, tz)
    if sec is not None:
        console.audit, console.throttle = sec.audit, sec.throttle
    review = None
    if c.enabled:
        # Without a setup the cases page is there and says that there is no outbox.
        setup = cases or CaseConsoleSetup(None, tz)
        review = CaseConsole(console, setup.review, out_dir, setup.tz, setup.notify)
    zone_editor = Editor(console, editor) if c.enabled and editor is not None else None
    secret = sec.secret if sec is not None else None
    audit = AuditConsole(console, tz) if c.enabled else None
    app = build_app(
        console if c.enabled else None, http, console, review, zone_editor, secret, audit
    )
    try:
        tls = None if http.tls is None else server_context(http.tls)
        server = ConsoleServer(app, http.host, http.port, tls)
    except ConfigError:
        if sec is not None:
            sec.close()
        if history is not None:
            history.close()
        if cases is not None and cases.review is not None:
            cases.review.close()
        raise
    warns = tuple(start_warnings(http))
    if not c.enabled:
        if cases is not None and cases.review is not None:
            cases.review.close()
        return ConsoleParts(server, None, None, None, None, warnings=warns)
    return ConsoleParts(server, console, store, board, history, review, warns, sec)
