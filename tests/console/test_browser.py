"""The console in a real browser (Debian's chromium through selenium), against the
real daemon: four RTSP cameras, one of which is stopped and one hung (SIGSTOP, as a
storm does); logins, CSRF and the read-only role. Screenshots of every page go to
out/console-screenshots/."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from lookout.base.i18n import messages, t
from tests.console.conftest import DaemonProcess, start_lookout
from tests.console.conftest import wait_page as wait_until
from tests.support.config import write_config
from tests.support.helpers import free_port
from tests.support.media import RtspServer, start_rtsp_server, vtest_h264

pytestmark = [pytest.mark.slow, pytest.mark.timing]

VAN_ZONE = [[600, 62], [730, 62], [730, 118], [600, 118]]
SECRET = "pw-9f3k"
#: The UI's own time from a click on a tile to that camera's state and picture shown.
SWITCH_LIMIT_MS = 1000


def camera(cam_id: str, source: str) -> dict[str, Any]:
    return {
        "id": cam_id,
        "source": source,
        "analysis_fps": 2,
        "stream": {
            "stall_timeout_s": 2,
            "open_timeout_s": 3,
            "loop": True,
            "backoff": {"initial_s": 0.3, "max_s": 1},
        },
        "zones": [
            {
                "id": "no-parking",
                "polygon": VAN_ZONE,
                "policies": [
                    {"type": "illegal_parking", "classes": ["car", "truck", "bus"], "dwell_s": 4}
                ],
            }
        ],
    }


def site_config(
    tmp_path: Path, port: int, cameras: list[dict[str, Any]], console: dict[str, Any]
) -> Path:
    """tmp_path/lookout.yaml: the cameras, the console on `port` with `console` settings."""
    return write_config(
        tmp_path,
        cameras,
        site={"timezone": "Asia/Shanghai"},
        model={"batch_size": 4},
        daemon={"shutdown_timeout_s": 8, "http": {"port": port, "console": console}},
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=3) as resp:
        return json.loads(resp.read())


def tile(driver: Any, cam: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'.tile[data-camera="{cam}"]')


def seqs(driver: Any) -> dict[str, int]:
    """Snapshot sequence number each tile shows (grows with every new picture)."""
    got = driver.execute_script(
        "const o = {}; for (const t of document.querySelectorAll('.tile'))"
        " { const i = t.querySelector('img');"
        "   if (t.dataset.seq && i.complete && i.naturalWidth > 0) o[t.dataset.camera] ="
        " Number(t.dataset.seq); } return o;"
    )
    return dict(got)


def switch_to(driver: Any, cam: str) -> dict[str, Any]:
    """Click a camera's tile; wait (generously) until the page says it showed it, and
    return what it showed (`code` the reader's state, `state` its text on the page), with
    the page's own click-to-shown time."""

    tile(driver, cam).click()
    # Read in one script: the page re-renders its facts every second.
    read = """
      const v = document.getElementById('view'), i = document.getElementById('view-img');
      const t = (id) => document.getElementById(id).textContent;
      if (v.dataset.shownCamera !== arguments[0]) return null;
      return {ms: Number(v.dataset.shownMs), code: v.dataset.shownState,
              state: t('fact-state'), age: t('fact-age'),
              badge: t('view-badge'), src: i.src, loaded: i.complete && i.naturalWidth > 0};
    """
    shown = wait_until(lambda: driver.execute_script(read, cam), 15)
    assert isinstance(shown, dict), f"camera {cam} never shown"
    print(f"switched to {cam}: {shown['state']} shown {shown['ms']} ms after the click")
    return shown


def test_cameras_page_never_waits_on_a_camera(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:

    clip = vtest_h264()
    port = free_port()
    with ExitStack() as stack:
        servers: list[RtspServer] = [
            stack.enter_context(start_rtsp_server({"/cam": clip}, user="op", password=SECRET))
            for _ in range(4)
        ]
        cams = [
            camera(f"cam{i + 1}", s.url("/cam", user="op", password=SECRET))
            for i, s in enumerate(servers)
        ]
        cfg = site_config(tmp_path, port, cams, {"history_interval_s": 1})
        daemon = start_lookout(["run", "--config", str(cfg)], tmp_path, port)
        hung = servers[3]
        try:
            _check_cameras_page(browser, daemon, servers, screenshots)
        finally:
            if hung.running and hung._proc is not None:  # never leave it stopped
                os.kill(hung._proc.pid, signal.SIGCONT)
            code = daemon.stop()
        text = daemon.log()
        assert code == 0, text[-3000:]
        assert SECRET not in text and "Traceback" not in text, text[-3000:]


def _check_cameras_page(
    driver: Any, daemon: DaemonProcess, servers: list[RtspServer], shots: Path
) -> None:
    from selenium.webdriver.common.by import By

    names = [f"cam{i}" for i in range(1, 5)]

    revived: list[int] = []

    def revive(up: list[RtspServer]) -> None:
        # Debian's gst-rtsp-server can abort on a PLAY racing its own preroll on a
        # loaded machine (see tests/streams/test_rtsp_reader.py): that is the test
        # server dying, not the console. Start it again on its port.
        for server in up:
            if not server.running:
                revived.append(server.port)
                server.restart()

    def all_streaming() -> bool:
        revive(servers)
        h = get_json(daemon.url + "/healthz")["cameras"]
        return all(h[c]["state"] == "streaming" and h[c]["frames_analysed"] > 0 for c in names)

    assert wait_until(all_streaming, 60), (
        [(s.port, s.running) for s in servers],
        revived,
        daemon.log()[-1500:],
    )
    driver.get(daemon.url + "/")
    assert wait_until(lambda: set(seqs(driver)) == set(names), 30), seqs(driver)
    assert SECRET not in driver.page_source
    assert SECRET not in json.dumps(get_json(daemon.url + "/api/cameras"))
    driver.find_element(By.ID, "show-debug").click()
    wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "#view-overlay polygon.zone"), 10)
    driver.save_screenshot(str(shots / "cameras.png"))

    # cam3's server is gone; cam4's hangs: it accepts and then never answers.
    servers[2].stop()
    hung = servers[3]
    assert hung._proc is not None
    os.kill(hung._proc.pid, signal.SIGSTOP)

    def reader_state(cam: str) -> str:
        return str(get_json(daemon.url + "/healthz")["cameras"][cam]["state"])

    assert wait_until(lambda: reader_state("cam3") != "streaming", 20)
    assert wait_until(lambda: reader_state("cam4") != "streaming", 30)

    switch_to(driver, "cam1")
    down = switch_to(driver, "cam3")
    assert down["ms"] < SWITCH_LIMIT_MS, down
    assert down["loaded"] and "/cam3/" in down["src"], down
    assert down["code"] in {"backoff", "connecting", "stalled"}, down
    # The browser asks for zh-CN (tests/console/conftest.py): the page's words are Chinese.
    assert down["state"] == messages("zh-CN")[f"state.{down['code']}"], down
    ago = t("zh-CN", "cameras.last_picture", age=down["age"])
    assert down["badge"].startswith(down["state"]) and ago in down["badge"], down
    driver.save_screenshot(str(shots / "cameras-down.png"))

    switch_to(driver, "cam2")
    silent = switch_to(driver, "cam4")
    assert silent["ms"] < SWITCH_LIMIT_MS, silent
    assert silent["loaded"] and "/cam4/" in silent["src"], silent
    quiet = t("zh-CN", "cameras.silent", state="")[:4]  # 无新画面
    assert silent["code"] in {"backoff", "connecting", "stalled"} or quiet in silent["state"]
    assert t("zh-CN", "cameras.last_picture", age=silent["age"]) in silent["badge"], silent
    driver.save_screenshot(str(shots / "cameras-silent.png"))

    # The others keep refreshing: new pictures in their tiles. A tile whose next
    # picture is still loading is not counted by seqs(), so wait until both show one.
    def both_shown() -> dict[str, int]:
        got = seqs(driver)
        return got if {"cam1", "cam2"} <= set(got) else {}

    before = wait_until(both_shown, 20)
    assert isinstance(before, dict) and before, seqs(driver)

    def refreshed() -> bool:
        revive(servers[:2])
        return all(seqs(driver).get(c, 0) > before[c] for c in ("cam1", "cam2"))

    assert wait_until(refreshed, 20), (before, seqs(driver), revived)
    assert len(revived) <= 2, revived  # the test servers themselves are mostly stable
    age3 = float(get_json(daemon.url + "/api/cameras/cam3")["snapshot"]["age_s"])
    assert age3 > 1.0

    driver.get(daemon.url + "/health")
    # The history is sampled every second here; the page reloads it every 5 s.
    assert wait_until(lambda: int(health_rows(driver).get("cam3", {}).get("reconnects", 0)), 30)
    rows = health_rows(driver)
    assert list(rows) == names
    observed = t("zh-CN", "unit.seconds", n="")  # "… 秒": the time the share was observed over
    assert all(observed.strip() in r["uptime"] and "%" in r["uptime"] for r in rows.values()), rows
    driver.save_screenshot(str(shots / "health.png"))


def health_rows(driver: Any) -> dict[str, dict[str, str]]:
    """The health table, read in one script (the page re-renders it)."""
    got = driver.execute_script(
        "const o = {}; for (const r of document.querySelectorAll('#health-table tbody tr'))"
        " o[r.dataset.camera] = {uptime: r.querySelector('.uptime').textContent,"
        " reconnects: r.querySelector('.reconnects').textContent,"
        " state: r.querySelector('.state').textContent}; return o;"
    )
    return dict(got)


FETCH = """
const [url, token, done] = arguments;
const headers = {"Content-Type": "application/json"};
if (token) headers["X-CSRF-Token"] = token;
fetch(url, {method: "POST", headers, body: "{}", credentials: "same-origin"})
  .then(async (r) => done([r.status, await r.text()]))
  .catch((e) => done([0, String(e)]));
"""


def test_login_csrf_and_the_read_only_viewer(
    browser: Any, tmp_path: Path, screenshots: Path, assets: Path
) -> None:
    from selenium.webdriver.common.by import By

    port = free_port()
    console = {
        "require_login": True,
        "operator_password": "${LOOKOUT_TEST_OPERATOR}",
        "viewer_password": "${LOOKOUT_TEST_VIEWER}",
    }
    cam = camera("cam1", str(assets / "footage" / "vtest.avi"))
    cfg = site_config(tmp_path, port, [cam], console)
    env = {"LOOKOUT_TEST_OPERATOR": "op-Secret-1", "LOOKOUT_TEST_VIEWER": "view-Secret-2"}
    daemon = start_lookout(["run", "--config", str(cfg)], tmp_path, port, env)
    driver = browser
    try:
        assert wait_until(lambda: get_json(daemon.url + "/healthz"), 30), daemon.log()[-2000:]
        snap_url = daemon.url + "/api/cameras/cam1/snapshot"

        def login(password: str) -> None:
            driver.get(daemon.url + "/cameras")
            assert driver.current_url.endswith("/login")
            assert wait_until(lambda: driver.find_elements(By.ID, "login-submit"), 10)
            field = driver.find_element(By.ID, "password")
            field.clear()
            field.send_keys(password)
            driver.find_element(By.ID, "login-submit").click()

        def who() -> str:
            """The role the page shows ("" while the page is still loading)."""
            found = driver.find_elements(By.ID, "who")
            return str(found[0].text) if found else ""

        login("not-the-password")
        assert wait_until(lambda: t("zh-CN", "login.wrong") in driver.page_source, 10)
        driver.save_screenshot(str(screenshots / "login.png"))

        login("op-Secret-1")
        assert wait_until(lambda: driver.current_url.endswith("/cameras"), 10)
        assert wait_until(lambda: who() == t("zh-CN", "role.operator"), 10)
        token = driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute(
            "content"
        )
        # The same session without the token is refused; with it the action is done.
        assert driver.execute_async_script(FETCH, snap_url, None)[0] == 403
        assert driver.execute_async_script(FETCH, snap_url, "x" * 43)[0] == 403
        assert wait_until(lambda: seqs(driver).get("cam1"), 30)
        status, body = driver.execute_async_script(FETCH, snap_url, token)
        assert status == 200, body
        assert (tmp_path / "out" / json.loads(body)["saved"]).is_file()
        driver.find_element(By.ID, "take-snapshot").click()
        assert wait_until(
            lambda: driver.find_element(By.ID, "action-result").text.startswith(
                t("zh-CN", "cameras.saved", path="")
            ),
            10,
        )
        saved = set((tmp_path / "out" / "console" / "snapshots").rglob("*.jpg"))

        driver.find_element(By.ID, "logout").click()
        assert wait_until(lambda: driver.current_url.endswith("/login"), 10)

        login("view-Secret-2")
        assert wait_until(lambda: driver.current_url.endswith("/cameras"), 10), driver.current_url
        viewer = t("zh-CN", "role.viewer") + t("zh-CN", "role.read_only_suffix")
        assert wait_until(lambda: who() == viewer, 10), who()
        assert wait_until(lambda: seqs(driver).get("cam1"), 30)
        assert not driver.find_element(By.ID, "take-snapshot").is_enabled()
        driver.save_screenshot(str(screenshots / "cameras-viewer.png"))
        token = driver.find_element(By.CSS_SELECTOR, 'meta[name="csrf-token"]').get_attribute(
            "content"
        )
        status, body = driver.execute_async_script(FETCH, snap_url, token)
        assert status == 403 and json.loads(body)["reason"] == "read_only"
        ack_url = daemon.url + "/api/cameras/cam1/acknowledge"
        assert driver.execute_async_script(FETCH, ack_url, token)[0] == 403
        driver.get(daemon.url + "/health")
        assert wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, "button.ack"), 15)
        assert not any(b.is_enabled() for b in driver.find_elements(By.CSS_SELECTOR, "button.ack"))
        driver.save_screenshot(str(screenshots / "health-viewer.png"))
        assert set((tmp_path / "out" / "console" / "snapshots").rglob("*.jpg")) == saved
        for secret in env.values():
            assert secret not in driver.page_source
    finally:
        code = daemon.stop()
    text = daemon.log()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text
    for secret in env.values():
        assert secret not in text
