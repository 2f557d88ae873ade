"""Named accounts and the audit log in a real browser (issue 27; docs/ACCOUNTS.md), against
the real `lookout console` on the demo config with the demo replay's case and a login
required. Accounts made with `lookout users add` (the password on stdin): two operators,
wang.li and 李四, and an admin.

- Each operator logs in (one after the other in the same browser), gives the demo
  case a verdict, and logs out; the case's history on the page names each account.
- An operator is refused the audit log (403 on /api/audit and /audit) and does not
  see its link.
- Logging out ends the session on the server: the old cookie, put back, gets 401.
- `lookout users disable` ends a disabled account's live session within seconds.
- The admin sees the audit log: both operators' logins and verdicts, a failed login
  and the disabled account; screenshot out/console-screenshots/audit.png (docs).
- No traceback in the daemon's log; no password in the log or a page.

Pages are read in zh-CN (the test browser asks for it: tests/console/conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lookout.base.i18n import t
from lookout.base.paths import REPO_ROOT
from tests.console.conftest import DaemonProcess, start_lookout
from tests.console.conftest import wait_page as wait_until
from tests.console.test_cases_browser import decide
from tests.console.test_editor_browser import up
from tests.support.helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timing]

DEMO = REPO_ROOT / "configs" / "demo.yaml"
COOKIE = "lookout_session"
#: name -> (role, password). The passwords must show up nowhere.
ACCOUNTS = {
    "wang.li": ("operator", "Wang-pw-7c41e"),
    "李四": ("operator", "Li-pw-3a9d2f"),
    "zhao.admin": ("admin", "Zhao-pw-5be87"),
}
WRONG = "Not-the-pw-0f3"
#: A GET from the page (its cookie, no CSRF token needed): [status, body].
GET = """
const [url, done] = arguments;
fetch(url, {credentials: "same-origin", cache: "no-store"})
  .then(async (r) => done([r.status, await r.text()]))
  .catch((e) => done([0, String(e)]));
"""


def zh(key: str, **params: object) -> str:
    return t("zh-CN", key, **params)


def lookout_cli(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`lookout ARGS` as a subprocess (a password as one line on stdin, as from a pipe)."""
    done = subprocess.run(
        [sys.executable, "-m", "lookout.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


def site(tmp_path: Path, demo_replay: Path) -> tuple[Path, Path]:
    """The demo config with a login required and its outbox (where the console keeps
    sessions and the audit log, and `lookout users` writes its rows) in an output folder
    holding the demo replay's case; the accounts in users.yaml beside it."""
    out = tmp_path / "out"
    shutil.copytree(demo_replay, out)
    shutil.copy(DEMO.parent / "demo-grid.geojson", tmp_path / "demo-grid.geojson")
    text = DEMO.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    text += (
        f"\ndaemon:\n  out_dir: {json.dumps(str(out))}\n  http:\n"
        "    console: {require_login: true}\n"
    )
    config = tmp_path / "site.yaml"
    config.write_text(text)
    for name, (role, password) in ACCOUNTS.items():
        lookout_cli("users", "add", name, "--role", role, "--config", str(config), stdin=password)
    return config, out


def test_two_operators_an_admin_and_the_audit_log(
    browser: Any, tmp_path: Path, demo_replay: Path, screenshots: Path
) -> None:
    t0 = time.monotonic()
    config, out = site(tmp_path, demo_replay)
    case_id = json.loads((out / "cases.jsonl").read_text().splitlines()[0])["id"]
    port = free_port()
    daemon = start_lookout(
        ["console", "--config", str(config), "--out", str(out), "--port", str(port)],
        tmp_path,
        port,
    )
    timings: dict[str, float] = {"set-up (3 accounts)": time.monotonic() - t0}
    sources: list[str] = []
    try:
        assert wait_until(lambda: up(daemon.url), 90), daemon.log()[-3000:]
        timings["console up"] = time.monotonic() - t0 - timings["set-up (3 accounts)"]
        _flows(browser, daemon, config, case_id, screenshots, sources, timings)
    finally:
        code = daemon.stop()
    log = daemon.log()
    assert code == 0, log[-3000:]
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
    for _, password in ACCOUNTS.values():
        assert password not in log
        assert not [s for s in sources if password in s]
    assert WRONG not in log and not [s for s in sources if WRONG in s]
    timings["total"] = time.monotonic() - t0
    print("timings (s):", {k: round(v, 1) for k, v in timings.items()})


def _flows(
    driver: Any,
    daemon: DaemonProcess,
    config: Path,
    case_id: str,
    shots: Path,
    sources: list[str],
    timings: dict[str, float],
) -> None:
    from selenium.webdriver.common.by import By

    url = daemon.url
    last = [time.monotonic()]

    def lap(stage: str) -> None:
        """How long the stage since the previous one took."""
        now = time.monotonic()
        timings[stage], last[0] = now - last[0], now

    def login(name: str, password: str, ok: bool = True) -> None:
        driver.get(url + "/login")
        assert wait_until(lambda: driver.find_elements(By.ID, "login-submit"), 15)
        for field, value in (("username", name), ("password", password)):
            box = driver.find_element(By.ID, field)
            box.clear()
            box.send_keys(value)
        driver.find_element(By.ID, "login-submit").click()
        if ok:
            landed = wait_until(lambda: driver.current_url.endswith("/cameras"), 20)
            assert landed, (name, driver.current_url, driver.page_source[-1500:])
            role = zh(f"role.{ACCOUNTS[name][0]}")
            assert wait_until(lambda: who() == f"{name} · {role}", 15), (name, who())
            sources.append(driver.page_source)

    def who() -> str:
        found = driver.find_elements(By.ID, "who")
        return str(found[0].text) if found else ""

    def audit_link_shown() -> bool:
        return bool(driver.find_element(By.ID, "nav-audit").is_displayed())

    def logout() -> dict[str, Any]:
        """Log out by the header's button; the session cookie it had."""
        cookie = driver.get_cookie(COOKIE)
        assert cookie, driver.get_cookies()
        driver.find_element(By.ID, "logout").click()
        assert wait_until(lambda: driver.current_url.endswith("/login"), 15), driver.current_url
        return dict(cookie)

    def get(path: str) -> tuple[int, str]:
        status, body = driver.execute_async_script(GET, url + path)
        return int(status), str(body)

    def on_cases() -> None:
        driver.get(f"{url}/cases")
        loaded = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "tr.case-row"), 20)
        assert loaded, driver.page_source[-2000:]

    # A wrong password first: the login page says so (and the audit log will).
    login("wang.li", WRONG, ok=False)
    assert wait_until(lambda: zh("login.wrong") in driver.page_source, 15)
    sources.append(driver.page_source)

    # The first operator: no audit log for him; he confirms the case.
    login("wang.li", ACCOUNTS["wang.li"][1])
    assert not audit_link_shown()
    status, body = get("/api/audit")
    assert status == 403 and json.loads(body)["reason"] == "admin_only", (status, body)
    assert get("/audit")[0] == 403
    on_cases()
    said = decide(driver, case_id, "confirmed", "车辆占用出入口")
    confirmed = zh("status.confirmed")
    assert said == zh("cases.recorded", status=confirmed, version=1, by="wang.li"), said
    logout()
    lap("operator 1: login, 403, verdict")

    # The second operator closes it; the history names both.
    login("李四", ACCOUNTS["李四"][1])
    on_cases()
    said = decide(driver, case_id, "closed", "已处置")
    assert said == zh("cases.recorded", status=zh("status.closed"), version=2, by="李四"), said
    history = driver.execute_script(
        "return [...document.querySelectorAll('#d-history tr[data-version]')]"
        ".map((r) => [r.dataset.version, r.cells[1].textContent, r.cells[3].textContent,"
        " r.cells[3].getAttribute('translate')])"
    )
    assert sorted(map(tuple, history)) == [
        ("1", confirmed, "wang.li", "no"),
        ("2", zh("status.closed"), "李四", "no"),
    ], history
    sources.append(driver.page_source)
    driver.execute_script("document.getElementById('d-history').scrollIntoView()")
    driver.save_screenshot(str(shots / "cases-two-operators.png"))

    # Logging out ends the session on the server: its old cookie is worth nothing.
    old = logout()
    driver.delete_cookie(COOKIE)
    keep = ("name", "value", "path", "httpOnly", "secure", "sameSite")
    driver.add_cookie({k: v for k, v in old.items() if k in keep})
    assert driver.get_cookie(COOKIE)["value"] == old["value"]
    status, body = get("/api/cameras")
    assert status == 401 and json.loads(body)["reason"] == "login_required", (status, body)
    driver.get(url + "/cases")
    assert wait_until(lambda: driver.current_url.endswith("/login"), 15), driver.current_url
    lap("operator 2: verdict, logout, old cookie 401")

    # A disabled account's live session ends within seconds.
    login("wang.li", ACCOUNTS["wang.li"][1])
    on_cases()
    assert get("/api/cameras")[0] == 200
    # The page keeps asking while the command runs; the session ends once the console
    # sees the changed users file (re-read at most every second), not at the next login.
    users = config.parent / "users.yaml"
    before = users.stat().st_mtime_ns
    argv = ["users", "disable", "wang.li", "--config", str(config)]
    disable = subprocess.Popen(
        [sys.executable, "-m", "lookout.cli.main", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=REPO_ROOT,
    )
    try:
        assert wait_until(lambda: get("/api/cameras")[0] == 401, 30, step=0.1)
        ended_at = time.time()
    finally:
        output = disable.communicate(timeout=60)[0]
    assert disable.returncode == 0, output
    changed = users.stat().st_mtime_ns
    assert changed != before
    ended_s = ended_at - changed / 1e9
    assert ended_s < 5, ended_s  # the users file is re-read within a second or two
    timings["disabled: session ended after the users file changed"] = ended_s
    driver.get(url + "/cases")
    assert wait_until(lambda: driver.current_url.endswith("/login"), 15), driver.current_url
    login("wang.li", ACCOUNTS["wang.li"][1], ok=False)  # and no new one
    assert wait_until(lambda: zh("login.wrong") in driver.page_source, 15)
    lap("operator 1 again: disabled, session ended, no new login")

    # The admin: the audit link, the table with both operators' logins and verdicts.
    login("zhao.admin", ACCOUNTS["zhao.admin"][1])
    assert audit_link_shown()
    driver.find_element(By.ID, "nav-audit").click()
    assert wait_until(lambda: driver.current_url.endswith("/audit"), 15)
    rows = wait_until(lambda: audit_rows(driver), 20)
    assert rows, (driver.page_source[-2000:], driver.get_log("browser"))
    assert driver.title == f"lookout · {zh('nav.audit')}"
    verdicts = [(r["who"], r["target"]) for r in rows if r["action"] == "verdict"]
    assert sorted(verdicts) == [("wang.li", case_id), ("李四", case_id)], rows
    (first,) = [r for r in rows if r["action"] == "verdict" and r["who"] == "wang.li"]
    assert first["text"] == zh("audit.action.verdict") and first["role"] == zh("role.operator")
    assert "status=confirmed" in first["detail"] and "version=1" in first["detail"], first
    logins = {r["who"] for r in rows if r["action"] == "login"}
    assert {"wang.li", "李四", "zhao.admin"} <= logins, rows
    failed = [r for r in rows if r["action"] == "login_failed"]
    assert [r["who"] for r in failed] == ["wang.li", "wang.li"], failed
    assert {r["target"] for r in rows if r["action"] == "user_disable"} == {"wang.li"}, rows
    assert {r["target"] for r in rows if r["action"] == "user_add"} == set(ACCOUNTS), rows
    assert [int(r["seq"]) for r in rows] == sorted((int(r["seq"]) for r in rows), reverse=True)
    assert driver.find_element(By.ID, "audit-note").text == zh(
        "audit.range", first=1, last=len(rows)
    )
    sources.append(driver.page_source)
    driver.save_screenshot(str(shots / "audit.png"))

    # The filters: one person's verdicts.
    driver.find_element(By.ID, "f-who").send_keys("李四")
    driver.find_element(By.CSS_SELECTOR, '#f-action option[value="verdict"]').click()
    driver.find_element(By.ID, "f-apply").click()
    assert wait_until(lambda: len(audit_rows(driver)) == 1, 15), audit_rows(driver)
    (only,) = audit_rows(driver)
    assert (only["who"], only["action"], only["target"]) == ("李四", "verdict", case_id)
    logout()
    lap("admin: audit log")


def audit_rows(driver: Any) -> list[dict[str, str]]:
    """The audit table as the page shows it, read in one script."""
    got = driver.execute_script(
        "return [...document.querySelectorAll('#audit-table tbody tr.audit-row')].map((r) => ({"
        " seq: r.dataset.seq, action: r.dataset.action,"
        " who: r.querySelector('.by').textContent, role: r.querySelector('.role').textContent,"
        " text: r.querySelector('.action').textContent,"
        " target: r.querySelector('.target').textContent,"
        " detail: r.querySelector('.detail').textContent}))"
    )
    return [dict(r) for r in got]
