"""Issue 14's "Must show", in a real browser against the real daemon: the van case of
vtest.avi reaches a real redis-server stream and a local webhook receiver; the operator
marks it a false alarm on the console's cases page; the versioned status update reaches
each sink exactly once; a new replay of the same footage with a later start time (so
the ids differ) makes no case at that place; the same footage from a tower ~41 m east
(another place) still makes a case, which the operator confirms on the page and which
goes out too. Screenshots: out/console-screenshots/cases.png and report.png."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from lookout.base.i18n import Translator
from lookout.cases.status import status_key
from lookout.cases.verdicts import CaseFilter, CaseReview
from lookout.cli.main import main
from tests.console.conftest import DaemonProcess, start_lookout
from tests.console.conftest import wait_page as wait_until
from tests.console.test_browser import get_json
from tests.support.case_endpoint import CaseEndpoint
from tests.support.config import demo_config, moved_east, write_config
from tests.support.helpers import free_port, new_cases
from tests.support.redis_server import RedisServer, stream_entries

pytestmark = [pytest.mark.slow]

TZ = ZoneInfo("Asia/Shanghai")
#: The browser asks for zh-CN (tests/console/conftest.py): what the page says, in Chinese.
ZH = Translator("zh-CN")
RECORDED = ZH("cases.recorded").split("{")[0]  # 已记录：
REFUSED = ZH("cases.refused").split("{")[0]


def site_config(
    path: Path, video: Path, out: Path, port: int, redis_url: str, webhook: str, north: bool
) -> Path:
    """configs/demo.yaml with its no-parking zone, the clip as a looping camera, and
    the remote sinks; `north` adds the same footage from a tower ~41 m east (as
    tests/integration/test_review_replay.py does), for the replay only."""
    cfg = demo_config()
    cam = cfg["cameras"][0]
    cam["source"] = str(video)
    cam["stream"] = {"loop": True}
    cam["zones"] = [z for z in cam["zones"] if z["id"] == "no-parking-building"]
    cfg["cameras"] = [cam]
    if north:
        cfg["cameras"].append(moved_east(cam, "north"))
    cfg["sinks"] = [
        {"type": "sqlite", "path": "cases.db"},
        {"type": "jsonl", "path": "cases.jsonl"},
        {"type": "redis_stream", "url": redis_url},
        {"type": "webhook", "url": webhook, "timeout_s": 2},
    ]
    cfg["delivery"] = {"poll_s": 0.5, "backoff": {"initial_s": 0.2, "max_s": 1}}
    cfg["daemon"] = {"out_dir": str(out), "shutdown_timeout_s": 8, "http": {"port": port}}
    return write_config(path.parent, name=path.name, **cfg)


def replay(video: Path, cfg: Path, out: Path, camera: str, start: datetime, capsys: Any) -> str:
    capsys.readouterr()
    argv = ["replay", str(video), "--config", str(cfg), "--out", str(out), "--no-progress"]
    assert main([*argv, "--camera", camera, "--start", start.isoformat()]) == 0
    return str(capsys.readouterr().out)


def stream_ids(url: str, kind: str) -> Counter[str]:
    """Stream entry `id` -> how many entries of `kind` (case | status) carry it."""
    return Counter(e["id"] for e in stream_entries(url) if e.get("kind") == kind)


def decide(driver: Any, case_id: str, verdict: str, note: str = "") -> str:
    """Select the case on the page, record `verdict` by its button; the page's answer."""
    from selenium.webdriver.common.by import By

    driver.get(driver.current_url.split("?")[0])
    row = wait_until(
        lambda: driver.find_elements(By.CSS_SELECTOR, f'tr.case-row[data-case="{case_id}"]'), 20
    )
    assert row, driver.page_source[-2000:]
    row[0].click()
    assert wait_until(
        lambda: driver.find_element(By.ID, "detail").get_attribute("data-case") == case_id, 10
    )
    # The evidence pictures are served and shown (full frame and crop).
    loaded = (
        "return [...document.querySelectorAll('#d-evidence img')]"
        ".filter((i) => i.complete && i.naturalWidth > 0).length"
    )
    assert wait_until(lambda: driver.execute_script(loaded) >= 2, 10)
    if note:
        driver.find_element(By.ID, "v-note").send_keys(note)
    driver.find_element(By.ID, f"v-{verdict}").click()
    result = wait_until(
        lambda: (
            driver.find_element(By.ID, "v-result").text.startswith((RECORDED, REFUSED))
            and driver.find_element(By.ID, "v-result").text
        ),
        10,
    )
    assert result, (driver.find_element(By.ID, "v-result").text, driver.get_log("browser"))
    history = 'document.querySelectorAll("#d-history tr[data-version]").length'
    assert wait_until(lambda: driver.execute_script(f"return {history}") >= 1, 10)
    return str(result)


def test_false_alarm_from_the_cases_page_reaches_the_sinks_once_and_dedup(
    browser: Any,
    tmp_path: Path,
    screenshots: Path,
    assets: Path,
    capsys: Any,
    redis_server: RedisServer,
) -> None:
    from selenium.webdriver.common.by import By

    video = assets / "footage" / "vtest.avi"
    out, port = tmp_path / "out", free_port()
    t0 = time.monotonic()
    rs = redis_server
    hook = CaseEndpoint().start()
    daemon: DaemonProcess | None = None
    try:
        args = (video, out, port, rs.url, hook.url)
        cfg = site_config(tmp_path / "site.yaml", *args, north=False)
        replay_cfg = site_config(tmp_path / "site-replay.yaml", *args, north=True)
        daemon = start_lookout(["run", "--config", str(cfg)], tmp_path, port)
        url = daemon.url

        def cases() -> list[dict[str, Any]]:
            return list(get_json(url + "/api/cases")["cases"])

        assert wait_until(cases, 150, step=0.5), daemon.log()[-3000:]
        (van,) = cases()
        assert van["camera_id"] == "vtest" and van["location"] is not None, van
        # The case went out to both sinks before any verdict.
        assert wait_until(lambda: stream_ids(rs.url, "case")[van["id"]] == 1, 20)
        assert wait_until(lambda: hook.accepted_keys()[van["id"]] == 1, 20)
        print(f"van case {van['id']} after {time.monotonic() - t0:.0f} s")

        browser.get(url + "/cases")
        said = decide(browser, van["id"], "false_alarm", "loading bay")
        fa = ZH("status.false_alarm")
        assert said == ZH("cases.recorded", status=fa, version=1, by="console"), said
        assert browser.find_element(By.ID, "d-status").text.startswith(fa)
        assert ZH("cases.not_located") not in browser.find_element(By.ID, "d-location").text
        browser.save_screenshot(str(screenshots / "cases.png"))

        key = status_key(van["id"], 1)
        assert wait_until(lambda: stream_ids(rs.url, "status")[key] == 1, 20)
        assert wait_until(lambda: hook.accepted_keys()[key] == 1, 20)
        (entry,) = [e for e in stream_entries(rs.url) if e.get("id") == key]
        update = json.loads(entry["update"])
        assert (update["status"], update["by"], update["note"]) == (
            "false_alarm",
            "console",
            "loading bay",
        )
        (post,) = [r for r in hook.requests() if r.key == key]
        assert post.headers["lookout-kind"] == "status" and post.json()["version"] == 1

        # Three hours later (past dedup's cooldown; new ids), the same footage.
        later = datetime.now(TZ).replace(microsecond=0) + timedelta(hours=3)
        assert new_cases(replay(video, replay_cfg, out, "vtest", later, capsys)) == 0
        # The same footage from ~41 m east: another place, so a case.
        assert new_cases(replay(video, replay_cfg, out, "north", later, capsys)) == 1
        with CaseReview.open(out / "cases.db") as review:
            (north,) = review.cases(CaseFilter(camera_id="north"))
            assert [r.case.id for r in review.cases(CaseFilter(camera_id="vtest"))] == [van["id"]]
        # The running daemon's delivery worker sends the replay's case out.
        assert wait_until(lambda: stream_ids(rs.url, "case")[north.case.id] == 1, 20)
        assert wait_until(lambda: hook.accepted_keys()[north.case.id] == 1, 20)
        said = decide(browser, north.case.id, "confirmed")
        ok = ZH("cases.recorded", status=ZH("status.confirmed"), version=1, by="console")
        assert said == ok, said
        confirmed = status_key(north.case.id, 1)
        assert wait_until(lambda: stream_ids(rs.url, "status")[confirmed] == 1, 20)
        assert wait_until(lambda: hook.accepted_keys()[confirmed] == 1, 20)

        time.sleep(1.5)  # a few more delivery rounds: still exactly once each
        assert stream_ids(rs.url, "status") == Counter({key: 1, confirmed: 1})
        statuses = {k: n for k, n in hook.accepted_keys().items() if ":v" in k}
        assert statuses == {key: 1, confirmed: 1}
        assert stream_ids(rs.url, "case") == Counter({van["id"]: 1, north.case.id: 1})

        # The period report, as the console renders it (read-only).
        day = datetime.now(TZ).date()
        browser.get(f"{url}/report?from={day - timedelta(days=1)}&to={day + timedelta(days=1)}")
        tiles = wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".tile b"), 10)
        assert tiles, browser.page_source[-2000:]
        got = [t.text for t in tiles]
        assert got[:3] == ["2", "1", "1"], got
        browser.save_screenshot(str(screenshots / "report.png"))
    finally:
        code = daemon.stop() if daemon is not None else 0
        hook.stop()
    assert daemon is not None
    text = daemon.log()
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    print(f"test took {time.monotonic() - t0:.0f} s")
