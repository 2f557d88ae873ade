"""The cameras and health pages and the server's refusals in the reader's language
(docs/I18N.md): the pages' texts come from the catalogue (`{{t:key}}` in the HTML,
`LO.t` in the scripts), a refused request says why in the browser's language and keeps
its HTTP status and a code for programs."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from lookout.base.i18n import messages
from tests.console.test_server import Client, open_console_, start

__all__ = ["open_console_"]

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
PAGES = ("cameras", "health")


def _static(name: str) -> str:
    return (resources.files("lookout.console") / "static" / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("page", PAGES)
def test_every_key_a_page_uses_is_in_both_catalogues(page: str) -> None:
    keys = set(re.findall(r"\{\{t:([a-z0-9_.-]+)\}\}", _static(f"{page}.html")))
    keys |= set(re.findall(r"""\bt\(\s*"([a-z0-9_.]+)"\s*[,)]""", _static(f"{page}.js")))
    assert len(keys) > 10
    for lang in ("zh-CN", "en"):
        assert keys <= set(messages(lang)), sorted(keys - set(messages(lang)))


@pytest.mark.parametrize(
    ("page", "zh", "en"),
    [
        ("cameras", ["抓拍", "预置位", "分析区域", "请选择一台摄像机。"], ["Take snapshot"]),
        ("health", ["在线率", "案件推送积压", "重连次数"], ["Sink backlogs", "Uptime"]),
    ],
)
def test_the_pages_render_in_chinese_and_english(
    open_console_: Any, page: str, zh: list[str], en: list[str]
) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    code, _, body = c.call(f"/{page}", None, ZH)
    text = body.decode()
    assert code == 200 and '<html lang="zh-CN">' in text
    assert "{{" not in text, re.findall(r"\{\{[^}]*\}\}", text)
    for word in zh:
        assert word in text, word
    for word in en:
        assert word not in text, word
    text = c.call(f"/{page}", None, EN)[2].decode()
    assert '<html lang="en">' in text and all(word in text for word in en)


def test_a_refused_post_says_why_in_the_browsers_language(open_console_: Any) -> None:
    parts, _ = open_console_
    c = Client(parts.port)
    c.csrf("/cameras")  # a session, but no token sent
    for headers, text in ((ZH, "安全令牌缺失或错误"), (EN, "missing or wrong CSRF token")):
        code, _, body = c.call("/api/cameras/cam1/snapshot", b"{}", headers)
        answer = json.loads(body)
        assert code == 403 and answer["reason"] == "csrf" and text in answer["error"], answer
    code, _, body = c.call("/api/cameras/nope", None, ZH)
    answer = json.loads(body)
    assert code == 404 and answer == {"error": "没有这台摄像机", "reason": "no_such_camera"}


def test_the_viewer_is_told_in_chinese(tmp_path: Path) -> None:
    parts, _ = start(
        tmp_path, require_login=True, operator_password="op-pass-1", viewer_password="view-pass-2"
    )
    try:
        c = Client(parts.port)
        code, _, body = c.call("/api/cameras", None, ZH)
        assert code == 401 and json.loads(body)["error"] == "请先登录"
        assert c.login("view-pass-2") == 303
        token = {"X-CSRF-Token": c.csrf("/cameras"), **ZH}
        for action in ("snapshot", "acknowledge"):
            code, _, body = c.call(f"/api/cameras/cam1/{action}", b"{}", token)
            answer = json.loads(body)
            assert code == 403 and answer["reason"] == "read_only", answer
            assert answer["error"] == "查看员角色只能查看，不能操作"
    finally:
        parts.stop()
