"""The console's language (docs/I18N.md): the page's switch (a cookie), then the
browser's Accept-Language, then the site's `daemon.http.console.language`; the page's
catalogue served as a script for `LO.t`; a bad switch request is a 400."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lookout.base.i18n import messages
from tests.console.test_server import Client, open_console_, start

__all__ = ["open_console_"]


def test_the_switch_the_browser_and_the_site_choose_the_language(
    open_console_: Any, tmp_path: Path
) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    body = c.call("/cameras")[2].decode()
    assert (
        '<html lang="en">' in body and ">Cases</a>" in body and "<title>lookout · Cameras" in body
    )
    zh = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
    body = c.call("/cameras", None, zh)[2].decode()
    assert '<html lang="zh-CN">' in body and ">案件</a>" in body and "/i18n/zh-CN.js" in body
    # The switch: remembered for this browser, over its Accept-Language.
    code, headers, _ = c.call("/lang?to=en&next=/health", None, zh)
    assert code == 303 and headers["location"] == "/health"
    assert "lookout_lang=en" in headers["set-cookie"] and "HttpOnly" in headers["set-cookie"]
    assert '<html lang="en">' in c.call("/health", None, zh)[2].decode()
    # Only a path of this site is a place to go back to; an unknown language is a 400.
    assert c.call("/lang?to=zh-CN&next=//evil.example/x")[1]["location"] == "/cameras"
    assert c.call("/lang?to=zh-CN&next=https://evil.example/")[1]["location"] == "/cameras"
    code, _, answer = c.call("/lang?to=fr")
    assert code == 400 and b"to: one of zh-CN, en" in answer


def test_the_catalogue_script_is_the_catalogue(open_console_: Any) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    code, headers, body = c.call("/i18n/zh-CN.js")
    assert code == 200 and headers["content-type"].startswith("text/javascript")
    m = re.fullmatch(r"window\.LO_MESSAGES = (.*);\n", body.decode())
    assert m and json.loads(m.group(1)) == dict(messages("zh-CN"))
    assert c.call("/i18n/fr.js")[0] == 404 and c.call("/i18n/zh-cn.js")[0] == 404


def test_the_site_default_and_the_login_page(tmp_path: Path) -> None:
    parts, _ = start(tmp_path, require_login=True, operator_password="op-pass-1", language="zh-CN")
    try:
        c = Client(parts.port)
        body = c.call("/login")[2].decode()
        assert '<html lang="zh-CN">' in body and "密码" in body
        form = f"csrf_token={c.csrf()}&password=wrong".encode()
        code, _, page = c.call("/login", form)
        assert code == 401 and "密码错误。" in page.decode()
        en = {"Accept-Language": "en-GB"}
        assert "Wrong user name or password." in c.call("/login", form, en)[2].decode()
    finally:
        parts.stop()
