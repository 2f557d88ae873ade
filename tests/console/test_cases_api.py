"""The console's case review API with a stand-in daemon and a real outbox: filters,
a case's evidence (only its own files), verdicts with CSRF and the operator role, the
delivery worker woken, the report page."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lookout.cases.model import DraftCase, Location
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.verdicts import CaseReview
from lookout.config.daemon import HttpConfig
from lookout.console.server import CaseConsoleSetup, ConsoleParts, open_console
from lookout.console.state import CameraInfo
from tests.console.test_server import Client, FakeHost, camera, snap

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 26, 9, 30, tzinfo=TZ)
JPEG = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"


def make_case(i: int, **overrides: Any) -> DraftCase:
    confirmed = T0 + timedelta(hours=i)
    cid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"console-case-{i}"))
    fields: dict[str, Any] = dict(
        id=cid,
        type="illegal_parking",
        code="09001",
        code_name="机动车乱停放",
        camera_id="cam1",
        preset=None,
        zone_id="z1",
        grid_code="44030510100101",
        first_seen=confirmed - timedelta(seconds=60),
        confirmed_at=confirmed,
        last_seen=confirmed + timedelta(seconds=30),
        dwell_s=60.0,
        bbox=[10.0, 10.0, 50.0, 50.0],
        location=Location(lon=114.05, lat=22.54),
        confidence=0.8,
        track_id=i,
        object_class="car",
        evidence=[f"evidence/{cid}_full.jpg", f"evidence/{cid}_crop.jpg"],
    )
    fields.update(overrides)
    return DraftCase.model_validate(fields)


def start(
    tmp_path: Path, extra: tuple[DraftCase, ...] = (), **console: object
) -> tuple[ConsoleParts, list[DraftCase], list[int]]:
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    cases = [
        make_case(0),
        make_case(1, camera_id="cam2", zone_id="z2", grid_code="44030510100102"),
        make_case(26, type="street_vendor", location=None, evidence=[]),
        *extra,
    ]
    for case in cases:
        outbox.write(case)
    outbox.close()
    (tmp_path / "evidence").mkdir()
    for case in cases:
        for rel in case.evidence:
            (tmp_path / rel).write_bytes(JPEG)
    (tmp_path / "secret.txt").write_text("not evidence")
    woken: list[int] = []
    setup = CaseConsoleSetup(CaseReview.open(tmp_path / "cases.db"), TZ, lambda: woken.append(1))
    host = FakeHost([CameraInfo(camera(), snap("cam1"))])
    cfg = HttpConfig.model_validate({"port": 0, "console": console})
    parts = open_console(cfg, host, ["person", "car"], tmp_path, cases=setup)
    parts.start()
    return parts, cases, woken


@pytest.fixture()
def console(tmp_path: Path) -> Iterator[tuple[ConsoleParts, list[DraftCase], list[int]]]:
    parts, cases, woken = start(tmp_path)
    yield parts, cases, woken
    parts.stop()


def listed(c: Client, query: str = "") -> list[str]:
    code, _, body = c.call("/api/cases" + query)
    assert code == 200, body
    return [row["id"] for row in json.loads(body)["cases"]]


def test_list_filters_detail_and_evidence(console: Any) -> None:
    parts, cases, _ = console
    c = Client(parts.port)
    code, _, page = c.call("/cases")
    assert code == 200 and b'id="cases-table"' in page and b'href="/cases"' in page
    assert b'href="/cases"' in c.call("/cameras")[2] and b'href="/cases"' in c.call("/health")[2]
    ids = [case.id for case in cases]
    assert listed(c) == ids[::-1]  # newest first
    assert listed(c, "?camera=cam2") == [ids[1]]
    assert listed(c, "?zone=z1&type=illegal_parking") == [ids[0]]
    assert listed(c, "?grid=44030510100102") == [ids[1]]
    assert listed(c, "?type=street_vendor") == [ids[2]]
    assert listed(c, "?status=draft") == ids[::-1] and listed(c, "?status=confirmed") == []
    assert listed(c, "?from=2026-11-27") == [ids[2]]
    assert listed(c, "?to=2026-11-26") == ids[1::-1]
    assert c.call("/api/cases?status=maybe")[0] == 400
    assert c.call("/api/cases?from=yesterday")[0] == 400

    detail = json.loads(c.call(f"/api/cases/{ids[0]}")[2])
    assert detail["status"] == "draft" and detail["history"] == []
    assert detail["location"] == {"lon": 114.05, "lat": 22.54}
    assert detail["last_seen"] == "2026-11-26T09:30:30+08:00"
    assert set(detail["evidence"]) == {"full", "crop"}
    code, headers, jpg = c.call(detail["evidence"]["full"])
    assert code == 200 and jpg == JPEG and headers["content-type"] == "image/jpeg"
    assert json.loads(c.call(f"/api/cases/{ids[2]}")[2])["evidence"] == {}
    # Only a known case's own pictures: no other kind, no other file, no traversal.
    for path in (
        f"/api/cases/{ids[0]}/evidence/before",
        f"/api/cases/{ids[0]}/evidence/..%2F..%2Fsecret.txt",
        f"/api/cases/{ids[2]}/evidence/full",
        "/api/cases/..%2Fsecret.txt/evidence/full",
        f"/api/cases/{uuid.uuid4()}/evidence/full",
    ):
        assert c.call(path)[0] == 404, path
    assert c.call(f"/api/cases/{uuid.uuid4()}")[0] == 404


def test_verdicts_need_csrf_and_the_operator(console: Any) -> None:
    parts, cases, woken = console
    c = Client(parts.port)
    token = c.csrf("/cases")
    url = f"/api/cases/{cases[0].id}/verdict"
    body = json.dumps({"verdict": "false_alarm", "note": "loading bay"}).encode()
    json_type = {"Content-Type": "application/json"}
    assert c.call(url, body, json_type)[0] == 403
    assert c.call(url, body, {**json_type, "X-CSRF-Token": "x" * 43})[0] == 403
    assert woken == []
    headers = {**json_type, "X-CSRF-Token": token}
    code, _, answer = c.call(url, body, headers)
    assert code == 200, answer
    update = json.loads(answer)["update"]
    assert (update["version"], update["status"], update["by"]) == (1, "false_alarm", "console")
    assert woken == [1]
    # A double submit is no second version.
    assert json.loads(c.call(url, body, headers)[2])["update"]["version"] == 1
    detail = json.loads(c.call(f"/api/cases/{cases[0].id}")[2])
    assert detail["status"] == "false_alarm" and [u["note"] for u in detail["history"]] == [
        "loading bay"
    ]
    assert listed(c, "?status=false_alarm") == [cases[0].id]
    for bad in (
        {"verdict": "maybe"},
        {"verdict": "closed", "rebase": True},  # not a construction case
        {"verdict": "closed", "note": "x" * 2001},
    ):
        assert c.call(url, json.dumps(bad).encode(), headers)[0] == 400, bad
    assert c.call(url, b"not json", headers)[0] == 400
    missing = f"/api/cases/{uuid.uuid4()}/verdict"
    assert c.call(missing, b'{"verdict": "closed"}', headers)[0] == 404


def test_the_viewer_reads_cases_and_the_report_but_cannot_decide(tmp_path: Path) -> None:
    parts, cases, woken = start(
        tmp_path, require_login=True, operator_password="op-pass-1", viewer_password="view-pass-2"
    )
    try:
        c = Client(parts.port)
        assert c.call("/cases")[0] == 303 and c.call("/api/cases")[0] == 401
        assert c.call(f"/api/cases/{cases[0].id}/evidence/full")[0] == 401
        assert c.login("view-pass-2") == 303
        token = c.csrf("/cases")
        assert len(listed(c)) == 3
        verdict = b'{"verdict": "confirmed"}'
        url = f"/api/cases/{cases[0].id}/verdict"
        headers = {"Content-Type": "application/json", "X-CSRF-Token": token}
        code, _, body = c.call(url, verdict, headers)
        assert code == 403 and b"read-only" in body and woken == []
        code, _, page = c.call("/report?from=2026-11-26&to=2026-11-27")
        assert code == 200 and b"Case report" in page and b"<style>" not in page
        assert b'href="/report.css"' in page and b' style="' not in page
        assert b"26 November 2026 to 27 November 2026" in page
        assert str(tmp_path).encode() not in page
        zh = {"Accept-Language": "zh-CN,zh;q=0.9"}
        text = c.call("/report?from=2026-11-26&to=2026-11-27", None, zh)[2].decode()
        assert "案件统计报告" in text and "发现案件数" in text and "2026年11月26日" in text
        assert c.call("/report.css")[0] == 200
        assert c.call("/report?from=nonsense")[0] == 400
        assert c.call("/logout", f"csrf_token={token}".encode())[0] == 303
        assert c.login("op-pass-1") == 303
        token = c.csrf("/cases")
        headers = {"Content-Type": "application/json", "X-CSRF-Token": token}
        code, _, body = c.call(url, verdict, headers)
        assert code == 200 and json.loads(body)["update"]["by"] == "operator"
        assert woken == [1]
    finally:
        parts.stop()


def test_cluster_cases_show_their_count_and_code(tmp_path: Path) -> None:
    """docs/CONSOLE.md, "Web console": a non_motor_parking case (one per cluster) carries
    its count in the list and the detail; occupation and non_motor_parking cases are
    listed and filtered by type, with their codes, as the other types are."""
    bicycles = make_case(
        30,
        type="non_motor_parking",
        code="09002",
        code_name="非机动车乱停放",
        object_class="bicycle",
        count=5,
    )
    goods = make_case(
        31, type="occupation", code="09008", code_name="占道堆物", object_class="static_object"
    )
    parts, _, _ = start(tmp_path, extra=(bicycles, goods))
    try:
        c = Client(parts.port)
        page = c.call("/cases")[2]
        assert b'<option value="occupation">' in page
        assert b'<option value="non_motor_parking">' in page
        assert listed(c, "?type=non_motor_parking") == [bicycles.id]
        assert listed(c, "?type=occupation") == [goods.id]
        rows = json.loads(c.call("/api/cases")[2])["cases"]
        counts = {r["type"]: r["count"] for r in rows}
        assert counts == {
            "occupation": None,
            "non_motor_parking": 5,
            "street_vendor": None,
            "illegal_parking": None,
        }
        detail = json.loads(c.call(f"/api/cases/{bicycles.id}")[2])
        assert detail["count"] == 5 and detail["case"]["count"] == 5
        assert (detail["code"], detail["code_name"]) == ("09002", "非机动车乱停放")
        detail = json.loads(c.call(f"/api/cases/{goods.id}")[2])
        assert (detail["code"], detail["code_name"], detail["count"]) == ("09008", "占道堆物", None)
        assert detail["object_class"] == "static_object"
    finally:
        parts.stop()
