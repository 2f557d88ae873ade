"""No request crashes a handler (issue 27; docs/CONSOLE.md, "Hardening"): the real
`lookout console` on the demo config, with the demo's case in its outbox, is driven on
every endpoint with malformed JSON, wrong types, huge and negative numbers,
NaN/Infinity, deep nesting, long and control-character strings, and odd query values
and path parts; the audit log's filters and the login form (missing fields, a
5000-character name, control characters, broken encodings and multipart bodies) too.
Every answer is below 500, and the log has no traceback."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from lookout.base.paths import REPO_ROOT
from tests.console.conftest import start_lookout
from tests.console.test_editor_browser import up
from tests.console.test_server import Client
from tests.support.helpers import free_port, wait_until

pytestmark = [pytest.mark.slow]

DEMO = REPO_ROOT / "configs" / "demo.yaml"
DEEP = "[" * 20_000 + "]" * 20_000  # 40 KB: under the size bound, past the depth one
#: Bodies a careless or hostile client sends.
BODIES: list[bytes] = [
    b"",
    b"not json",
    b"{",
    b"[]",
    b'"text"',
    b"null",
    b"1e400",
    b"NaN",
    b'{"verdict": NaN}',
    b'{"x": Infinity}',
    b'{"x": -Infinity}',
    b'{"x": 1' + b"0" * 400 + b"}",
    b'{"x": -99999999999999999999999}',
    DEEP.encode(),
    ("{" + '"a":{' * 5000 + "}" * 5001).encode(),
    b'{"verdict": "confirmed", "note": "' + b"x" * 60_000 + b'"}',
    b'{"verdict": "confirmed", "note": "\\u0000\\u0007<script>"}',
    b'{"verdict": ["confirmed"], "rebase": "yes"}',
    b'{"verdict": "false_alarm", "rebase": 1}',
    b'{"preset": {"a": 1}}',
    b'{"preset": "' + "预".encode() * 1000 + b'"}',
    b'{"zones": [{"id": "<b>", "polygon": [[0, 0], [1e308, 1e308], [0, 1]]}]}',
    b'{"zones": [{"id": "z", "polygon": [[0, 0], [NaN, 0], [0, 1]], "policies": []}]}',
    b'{"zones": "all"}',
    b'{"preset": null, "zones": [], "points": [[1, 2, 3]]}',
    b'{"points": [{"image": [1e999, 0], "lonlat": [0, 0]}]}',
    b"\xff\xfe\x00garbage",
]
#: Query strings for the listing and the report.
QUERIES = [
    "offset=99999999999999999999999999",
    "offset=-1",
    "limit=0",
    "limit=1e9",
    "limit=NaN",
    "from=0001-01-01&to=9999-12-31",
    "from=9999-12-31",
    "to=0000-00-00",
    "from=2026-13-45",
    "status=%3Cscript%3E",
    "camera=%00%01",
    "type=" + "x" * 5000,
    "grid=%E0%A4",
    "from=2026-11-26T25:61:00",
]
PATHS = ["vtest", "nope", "%2e%2e", "%00", "a" * 300, "%3Cb%3E", quote("预置位")]
#: More for the audit log (the console's local user is admin without a login).
AUDIT_QUERIES = [
    "action=<script>",
    "action=%3Cscript%3Ealert(1)%3C/script%3E",
    "action=" + "login" * 1000,
    "who=" + "x" * 5000,
    "who=" + quote("李四") * 2000,
    "who=%00%01%1b[31m",
    "who=%FF%FE",
    "from=2026-11-26&to=2026-11-25&who=wang.li&action=verdict",
    "limit=-5&offset=1e3",
]
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data; boundary=xyz"


def login_forms(token: str) -> list[tuple[str, bytes]]:
    """Hostile login forms (content type, body); most carry the session's CSRF token so
    that they reach the password check."""

    def form(**fields: str) -> tuple[str, bytes]:
        return FORM, urlencode(fields).encode()

    return [
        (FORM, b""),
        form(csrf_token=token),
        form(csrf_token=token, username="wang.li"),
        form(csrf_token=token, password="whatever-1"),
        form(username="wang.li", password="no-token-1"),
        form(csrf_token=token, username="u" * 5000, password="long-name-1"),
        form(csrf_token=token, username="wang.li", password="p" * 5000),
        form(csrf_token=token, username="\x00\x01\x07\x1b[2J\r\n", password="ctrl-chars-1"),
        form(csrf_token=token, username="\u202e李四", password="\x00\x00\x00\x00"),
        form(csrf_token=token, username="<script>alert(1)</script>", password="markup-1"),
        form(csrf_token=token, username="   ", password="spaces-only-1"),
        form(csrf_token="x" * 5000, username="a", password="bad-token-1"),
        (FORM, f"csrf_token={token}&username=%FF%FE&password=%C3%28".encode()),
        (FORM, f"csrf_token={token}&username=a&username=b&password=p&password=q".encode()),
        (FORM, f"csrf_token={token}&username&password".encode()),
        (FORM, f"csrf_token={token}&%%%=%%%&password=%ZZ".encode()),
        (FORM, f"csrf_token={token}&username=a&password=".encode() + b"x" * 100_000),
        ("application/json", json.dumps({"csrf_token": token, "username": "a"}).encode()),
        (MULTIPART, b'--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nab'),
        (MULTIPART, b"not multipart at all"),
        ("multipart/form-data", b"--\r\n"),
    ]


def test_no_request_crashes_a_handler(tmp_path: Path, demo_replay: Path) -> None:
    text = DEMO.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    shutil.copy(DEMO.parent / "demo-grid.geojson", tmp_path / "demo-grid.geojson")
    (tmp_path / "site.yaml").write_text(text)
    out = tmp_path / "out"
    shutil.copytree(demo_replay, out)
    case_id = json.loads((out / "cases.jsonl").read_text().splitlines()[0])["id"]
    port = free_port()
    daemon = start_lookout(
        [
            "console",
            "--config",
            str(tmp_path / "site.yaml"),
            "--out",
            str(out),
            "--port",
            str(port),
        ],
        tmp_path,
        port,
    )
    counts: Counter[str] = Counter()
    crashes: list[tuple[str, int, str]] = []
    login_codes: Counter[int] = Counter()
    try:
        assert wait_until(lambda: up(daemon.url), 60), daemon.log()[-3000:]
        c = Client(port)
        token = c.csrf("/cameras")
        json_headers = {"Content-Type": "application/json", "X-CSRF-Token": token}

        def hit(route: str, path: str, body: bytes | None = None) -> None:
            code, _, answer = c.call(path, body, json_headers if body is not None else None)
            counts[route] += 1
            if code >= 500:
                crashes.append((path[:120], code, answer[:200].decode("utf-8", "replace")))

        posts = {
            "/api/cases/{id}/verdict": f"/api/cases/{case_id}/verdict",
            "/api/cases/{id}/release": f"/api/cases/{case_id}/release",
            "/api/cameras/{camera}/snapshot": "/api/cameras/vtest/snapshot",
            "/api/cameras/{camera}/acknowledge": "/api/cameras/vtest/acknowledge",
            "/api/editor/{camera}/preview": "/api/editor/vtest/preview",
            "/api/editor/{camera}/zones": "/api/editor/vtest/zones",
            "/api/editor/{camera}/goto": "/api/editor/vtest/goto",
            "/api/editor/{camera}/fit": "/api/editor/vtest/fit",
            "/api/editor/{camera}/calibration": "/api/editor/vtest/calibration",
        }
        for route, path in posts.items():
            for body in BODIES:
                hit(route, path, body)
        for route in ("/api/cases", "/report", "/cases", "/api/health"):
            for q in QUERIES:
                hit(route, f"{route}?{q}")
        for part in PATHS:
            for route, path in {
                "/api/cameras/{camera}": f"/api/cameras/{part}",
                "/api/cameras/{camera}/snapshot.jpg": (
                    f"/api/cameras/{part}/snapshot.jpg?preset={part}"
                ),
                "/api/editor/{camera}": f"/api/editor/{part}?preset={part}",
                "/api/cases/{id}": f"/api/cases/{part}",
                "/api/cases/{id}/evidence/{kind}": f"/api/cases/{case_id}/evidence/{part}",
                "/lang": f"/lang?to={part}&next=/{part}",
                "/i18n/{lang}.js": f"/i18n/{part}.js",
                "/editor": f"/editor?camera={part}",
                "/api/cases/{id}/verdict": f"/api/cases/{part}/verdict",
            }.items():
                hit(route, path, b'{"verdict": "closed"}' if route.endswith("verdict") else None)
        for q in ("", "camera=vtest&preset=%00", "camera=" + "x" * 3000):
            hit("/api/editor/{camera}", f"/api/editor/vtest?{q}")
        for route in ("/api/audit", "/audit"):
            for q in QUERIES + AUDIT_QUERIES:
                hit(route, f"{route}?{q}")
        # Last: wrong logins count towards the address's lockout (429 from then on).
        for content_type, body in login_forms(token):
            code, _, answer = c.call("/login", body, {"Content-Type": content_type})
            counts["POST /login"] += 1
            login_codes[code] += 1
            if code >= 500:
                said = answer[:200].decode("utf-8", "replace")
                crashes.append(("/login " + body[:100].decode("utf-8", "replace"), code, said))
    finally:
        code = daemon.stop()
    log = daemon.log()
    print("requests per endpoint:", dict(sorted(counts.items())))  # the count
    print("POST /login answers:", dict(sorted(login_codes.items())))
    assert crashes == [], crashes
    assert code == 0 and "Traceback" not in log and "Exception in ASGI" not in log, log[-4000:]
    assert sum(counts.values()) >= 400 and len(counts) >= 23, counts
    assert login_codes[401] >= 5, login_codes  # the forms reached the password check


def test_the_depth_scan_and_the_number_bounds() -> None:
    from lookout.console.body import MAX_DEPTH, BadInput, nesting, parse_json

    assert nesting('{"a": "[[[[", "b": [[1]]}') == 3
    assert nesting('"\\"[["') == 0
    assert parse_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for raw, why in (
        (DEEP.encode(), f"nested more than {MAX_DEPTH}"),
        (b"[NaN]", "NaN is not a number"),
        (b"[1e400]", "out of range"),
        (b"[" + b"9" * 30 + b"]", "too many digits"),
        (b"\xff", "not UTF-8"),
        (b"{", "not JSON"),
    ):
        with pytest.raises(BadInput, match=re.escape(why)):
            parse_json(raw)
