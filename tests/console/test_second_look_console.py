"""Held cases in the console (docs/LEARNING.md, "The second look"): listed as held with
their score, filtered by status, released by one click (CSRF and the operator role
first), and then delivered as drafts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lookout.base.i18n import Translator
from lookout.cases.model import DraftCase
from lookout.cases.second_look import Look
from lookout.cases.sinks import SqliteOutbox
from lookout.console.server import ConsoleParts
from tests.console.conftest import wait_page as wait_until
from tests.console.test_cases_api import listed, make_case, start
from tests.console.test_server import Client


def held_case(tmp_path: Path) -> DraftCase:
    """A street-vendor case the second look held, written beside start()'s cases."""
    case = make_case(30, type="street_vendor", location=None, evidence=[])
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    look = Look("yolox_nano", "/backbone", np.zeros(4, np.float32), 0.97, True)
    assert outbox.write(case, look=look)
    outbox.close()
    return case


@pytest.fixture()
def console(tmp_path: Path) -> Iterator[tuple[ConsoleParts, DraftCase, list[int]]]:
    parts, _, woken = start(tmp_path)
    yield parts, held_case(tmp_path), woken
    parts.stop()


def test_a_held_case_is_listed_with_its_score_and_released(console: Any) -> None:
    parts, held, woken = console
    c = Client(parts.port)
    assert listed(c, "?status=held") == [held.id]
    assert held.id not in listed(c, "?status=draft")
    detail = json.loads(c.call(f"/api/cases/{held.id}")[2])
    assert (detail["status"], detail["held"], detail["score"]) == ("held", True, 0.97)

    token = c.csrf("/cases")
    url = f"/api/cases/{held.id}/release"
    assert c.call(url, b"{}", {"Content-Type": "application/json"})[0] == 403  # no CSRF
    headers = {"Content-Type": "application/json", "X-CSRF-Token": token}
    code, _, body = c.call(url, b"{}", headers)
    assert code == 200 and json.loads(body) == {"case_id": held.id, "by": "console"}
    assert woken == [1]  # the delivery worker takes it now
    detail = json.loads(c.call(f"/api/cases/{held.id}")[2])
    assert (detail["status"], detail["held"], detail["score"]) == ("draft", False, 0.97)
    code, _, body = c.call(url, b"{}", headers)  # released already
    assert code == 400 and b"not held" in body
    assert c.call("/api/cases/no-such-case/release", b"{}", headers)[0] == 404


def test_the_viewer_cannot_release(tmp_path: Path) -> None:
    parts, _, woken = start(tmp_path, require_login=True, operator_password="op-pass-1",
                            viewer_password="view-pass-2")  # fmt: skip
    held = held_case(tmp_path)
    try:
        c = Client(parts.port)
        assert c.login("view-pass-2") == 303
        headers = {"Content-Type": "application/json", "X-CSRF-Token": c.csrf("/cases")}
        code, _, body = c.call(f"/api/cases/{held.id}/release", b"{}", headers)
        assert code == 403 and b"read-only" in body and woken == []
        assert listed(c, "?status=held") == [held.id]
    finally:
        parts.stop()


@pytest.mark.slow
def test_release_from_the_cases_page(console: Any, browser: Any, screenshots: Path) -> None:
    from selenium.webdriver.common.by import By

    parts, held, _ = console
    browser.get(f"http://127.0.0.1:{parts.port}/cases")
    row = wait_until(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'tr.case-row[data-case="{held.id}"]'), 20
    )
    zh = Translator("zh-CN")  # the browser asks for zh-CN (tests/console/conftest.py)
    assert row and f"{zh('status.held')} 0.97" in row[0].text, browser.page_source[-2000:]
    row[0].click()
    button = browser.find_element(By.ID, "v-release")
    assert wait_until(lambda: button.is_displayed(), 10)
    score = browser.find_element(By.ID, "d-score").text
    assert zh("cases.score", score="0.97") in score and zh("cases.held_note") in score, score
    browser.save_screenshot(str(screenshots / "held-case.png"))
    button.click()
    said = wait_until(lambda: browser.find_element(By.ID, "v-result").text, 10)
    assert said == zh("cases.released", by="console"), said
    assert wait_until(lambda: not browser.find_element(By.ID, "v-release").is_displayed(), 10)
    assert browser.find_element(By.ID, "d-status").text.startswith(zh("status.draft"))
