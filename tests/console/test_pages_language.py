"""The cases page and the zone editor in Chinese for a zh-CN browser (docs/I18N.md):
the pages' words, a verdict refused and an editor field error come back from the
catalogue of the request's language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.console.test_cases_api import console, start  # noqa: F401
from tests.console.test_editor_api import ZONE, editor  # noqa: F401
from tests.console.test_server import Client

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_cases_page_and_refusals_in_chinese(console: Any) -> None:  # noqa: F811
    parts, cases, _ = console
    c = Client(parts.port)
    page = c.call("/cases", None, ZH)[2].decode()
    assert '<html lang="zh-CN">' in page
    for word in ("单元网格", "确认", "误报", "结案", "发现时长", "核实记录", "年-月-日"):
        assert word in page, word
    assert "Verdict history" not in page and "{{t:" not in page
    assert "Verdict history" in c.call("/cases")[2].decode()
    token = c.csrf("/cases")
    headers = {**ZH, "Content-Type": "application/json", "X-CSRF-Token": token}
    url = f"/api/cases/{cases[0].id}/verdict"
    code, _, body = c.call(url, json.dumps({"verdict": "maybe"}).encode(), headers)
    assert code == 400 and json.loads(body)["error"].startswith("核实结论必须是以下之一")
    rebase = json.dumps({"verdict": "closed", "rebase": True}).encode()
    code, _, body = c.call(url, rebase, headers)
    assert code == 400 and "违法建设" in json.loads(body)["error"]
    code, _, body = c.call(f"/api/cases/{cases[0].id}/release", b"{}", headers)
    assert code == 400 and json.loads(body)["error"] == "该案件未被二次研判暂缓"


def test_editor_page_and_field_errors_in_chinese(editor: Any, tmp_path: Path) -> None:  # noqa: F811
    parts, _ = editor
    c = Client(parts.port)
    assert c.login("op-1") == 303
    page = c.call("/editor", None, ZH)[2].decode()
    assert '<html lang="zh-CN">' in page
    for word in ("预置位", "标定", "保存区域", "检测设置", "经度"):
        assert word in page, word
    token = c.csrf("/editor")
    headers = {**ZH, "Content-Type": "application/json", "X-CSRF-Token": token}
    bow_tie = {**ZONE, "polygon": [[10, 10], [100, 100], [100, 10], [10, 100]]}
    code, _, raw = c.call(
        "/api/editor/cam1/zones", json.dumps({"zones": [bow_tie]}).encode(), headers
    )
    error = json.loads(raw)["errors"][0]
    assert code == 422 and error["field"] == "zones[0].polygon"
    assert error["message"].startswith("取值无效：")
    code, _, raw = c.call("/api/editor/nope/zones", json.dumps({"zones": []}).encode(), headers)
    assert code == 404 and json.loads(raw)["error"] == "没有这台摄像机"
