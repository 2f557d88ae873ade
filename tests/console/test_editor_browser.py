"""The zone editor in a real browser (Debian's chromium through selenium) against the
real daemon: a zone drawn with mouse clicks on the vtest snapshot and saved (comments
and a `${VAR}` secret kept, the daemon reloads and makes the same case as the
hand-written demo zone), a self-crossing polygon refused beside its field with the
file untouched, the demo's calibration clicked on the picture (the fit matches
`lookout calibrate`), and a zone drawn at preset 2 of the ONVIF test camera."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from lookout.base.i18n import Translator
from lookout.base.paths import REPO_ROOT, assets_dir
from tests.console.conftest import DaemonProcess, start_lookout
from tests.console.conftest import wait_page as wait_until
from tests.support.helpers import free_port
from tests.support.media import start_rtsp_server, vtest_h264
from tests.support.onvif_responder import OnvifResponder

pytestmark = [pytest.mark.slow, pytest.mark.timing]

DEMO = REPO_ROOT / "configs" / "demo.yaml"
MANIFEST = REPO_ROOT / "models" / "yolox_nano.yaml"
VAN = [(600, 62), (730, 62), (730, 118), (600, 118)]
BOW_TIE = [(100, 380), (300, 540), (300, 380), (100, 540)]
PASSWORD = "ed-7Hq2"
ENV = {"EDITOR_TEST_PW": PASSWORD}
VTEST = assets_dir() / "footage" / "vtest.avi"
#: The browser asks for zh-CN (tests/console/conftest.py): what the editor says, in Chinese.
ZH = Translator("zh-CN")
RELOADED = ZH("editor.saved_cal", file="\0").split("\0")[1]  # "；后台服务已重新加载。"
# " 个分块": the words after the number of crops, with or without the whole frame too.
CROPS = ZH("editor.plan.crops", n="\0", scale="", px="").split("\0")[1].split("，")[0]


def demo_without_van_zone(tmp_path: Path) -> tuple[Path, Path]:
    """The demo config (hand-written van zone and calibration included) and the same
    file without both, with a console login whose password is a `${VAR}` reference."""
    text = DEMO.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    text += (
        "\ndaemon:\n  http:\n    # The operator's password comes from the environment.\n"
        '    console: {require_login: true, operator_password: "${EDITOR_TEST_PW}"}\n'
    )
    (tmp_path / "demo-grid.geojson").write_text((DEMO.parent / "demo-grid.geojson").read_text())
    hand = tmp_path / "hand.yaml"
    hand.write_text(text)
    start = text.index("    calibration:\n")
    text = text[:start] + text[text.index("    zones:\n") :]
    start = text.index("      - id: no-parking-building\n")
    text = text[:start] + text[text.index("      - id: no-vending-road\n") :]
    site = tmp_path / "site.yaml"
    site.write_text(text)
    return hand, site


def demo_points() -> list[dict[str, Any]]:
    cam = yaml.safe_load(DEMO.read_text())["cameras"][0]
    return list(cam["calibration"]["default"]["points"])


def up(url: str) -> bool:
    with urllib.request.urlopen(url + "/healthz", timeout=3) as resp:
        return bool(resp.status == 200)


def login(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By

    assert wait_until(lambda: up(url), 60)
    driver.get(url + "/login")
    field = wait_until(lambda: driver.find_element(By.ID, "password"), 15)
    field.send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    assert wait_until(lambda: "/cameras" in driver.current_url, 15), driver.current_url


def open_editor(driver: Any, url: str, camera: str) -> None:
    assert wait_until(lambda: up(url), 60)
    driver.get(f"{url}/editor?camera={camera}")
    # The snapshot is shown and the picture is laid out.
    loaded = (
        "return document.body.dataset.picture && document.getElementById('editor-img').complete"
    )
    assert wait_until(lambda: driver.execute_script(loaded), 30), driver.page_source[:2000]


def click_frame(driver: Any, x: float, y: float) -> None:
    """A mouse click at frame pixel (x, y) of the editor's picture."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    svg = driver.find_element(By.ID, "editor-svg")
    w, h, fw, fh = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(), v = arguments[0].viewBox.baseVal;"
        " return [r.width, r.height, v.width, v.height];",
        svg,
    )
    dx, dy = round(x * w / fw - w / 2), round(y * h / fh - h / 2)
    ActionChains(driver).move_to_element_with_offset(svg, dx, dy).click().perform()


def field_error(driver: Any, field: str) -> str:
    from selenium.webdriver.common.by import By

    spans = driver.find_elements(By.CSS_SELECTOR, f'#zone-form .field-error[data-field="{field}"]')
    return " ".join(s.text for s in spans)


def set_input(driver: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    el = driver.find_element(By.CSS_SELECTOR, css)
    el.send_keys(Keys.CONTROL, "a")
    el.send_keys(Keys.DELETE)
    el.send_keys(value)


def draw_zone(driver: Any, points: Sequence[tuple[float, float]]) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "new-zone").click()
    for x, y in points:
        click_frame(driver, x, y)
    shown = lambda: json.loads(driver.find_element(By.ID, "zone-polygon").get_property("value"))  # noqa: E731
    assert wait_until(lambda: len(shown()) == len(points), 10), shown()


def replay(config: Path, out: Path) -> list[dict[str, Any]]:
    args = ["replay", str(VTEST), "--config", str(config), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "lookout.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ENV},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(line) for line in (out / "cases.jsonl").read_text().splitlines()]


def metres(a: dict[str, float], b: dict[str, float]) -> float:
    dy = (a["lat"] - b["lat"]) * 111_320
    dx = (a["lon"] - b["lon"]) * 111_320 * math.cos(math.radians(a["lat"]))
    return math.hypot(dx, dy)


def test_draw_calibrate_and_save_on_the_vtest_snapshot(
    browser: Any, tmp_path: Path, screenshots: Path
) -> None:

    hand, site = demo_without_van_zone(tmp_path)
    original = site.read_text()
    port = free_port()
    out = tmp_path / "out"
    daemon = start_lookout(
        ["console", "--config", str(site), "--out", str(out), "--port", str(port)],
        tmp_path,
        port,
        env=ENV,
    )
    try:
        login(browser, daemon.url)
        open_editor(browser, daemon.url, "vtest")
        _refuse_a_self_crossing_zone(browser, site, original)
        _calibrate_by_clicking(browser, hand, tmp_path)
        _draw_the_van_zone(browser, daemon, screenshots)
    finally:
        code = daemon.stop()
    log = daemon.log()
    assert code == 0 and "Traceback" not in log, log[-3000:]
    assert PASSWORD not in log

    saved = site.read_text()
    assert '"${EDITOR_TEST_PW}"' in saved and PASSWORD not in saved
    for line in original.splitlines():  # every comment of the file is still there
        if line.strip().startswith("#"):
            assert line in saved, line
    cam = yaml.safe_load(saved)["cameras"][0]
    zone = next(z for z in cam["zones"] if z["id"] == "no-parking-building")
    assert [tuple(p) for p in zone["polygon"]] == VAN
    clicked = [(p["image"], p["lonlat"]) for p in cam["calibration"]["default"]["points"]]
    assert clicked == [(p["image"], p["lonlat"]) for p in demo_points()]
    assert (tmp_path / "site.yaml.bak").is_file()

    # The reloaded daemon used the drawn zone: a case of the parked van in it, as the
    # hand-written zone gives in a replay; a replay of the saved file gives that very case.
    by_hand = replay(hand, tmp_path / "replay-hand")
    drawn = replay(site, tmp_path / "replay-drawn")
    key = ("id", "type", "zone_id", "grid_code", "object_class", "bbox", "confirmed_at")
    assert [{k: c[k] for k in key} for c in drawn] == [{k: c[k] for k in key} for c in by_hand]
    live = [
        json.loads(line)
        for line in (out / "cases.jsonl").read_text().splitlines()
        if '"no-parking-building"' in line
    ]
    assert live, daemon.log()[-2000:]
    ref = by_hand[0]
    for case in live:
        assert (case["type"], case["grid_code"], case["object_class"]) == (
            ref["type"],
            ref["grid_code"],
            ref["object_class"],
        )
        assert metres(case["location"], ref["location"]) < 2.0, (case["location"], ref)


def _refuse_a_self_crossing_zone(driver: Any, site: Path, original: str) -> None:
    from selenium.webdriver.common.by import By

    draw_zone(driver, BOW_TIE)
    assert wait_until(lambda: "Self-intersection" in field_error(driver, "polygon"), 10)
    driver.find_element(By.ID, "save-zones").click()
    result = lambda: driver.find_element(By.ID, "save-result").text  # noqa: E731
    assert wait_until(lambda: ZH("editor.not_saved_fields") in result(), 10), result()
    assert "invalid polygon" in field_error(driver, "polygon")
    assert site.read_text() == original and not site.with_name("site.yaml.bak").exists()
    _offer_the_policy_types(driver)
    driver.find_element(By.ID, "delete-zone").click()
    assert wait_until(lambda: field_error(driver, "polygon") == "", 10)


def _offer_the_policy_types(driver: Any) -> None:
    """Every policy type is offered, each with its own fields and defaults; a bad value
    is shown beside its field (docs/CONSOLE.md, "Zone editor")."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    select = Select(driver.find_element(By.CSS_SELECTOR, ".policy-type"))
    assert [o.get_attribute("value") for o in select.options] == [
        "illegal_parking",
        "street_vendor",
        "occupation",
        "non_motor_parking",
        "illegal_construction",
    ]
    select.select_by_value("occupation")
    classes = driver.find_element(By.CSS_SELECTOR, ".policy-classes").get_property("value")
    assert classes == "static_object"
    radius = driver.find_element(By.CSS_SELECTOR, ".policy-attended-radius")
    assert radius.get_attribute("placeholder") == ZH("editor.default", value="1.5")
    offered = driver.execute_script(
        "return [...document.querySelectorAll('#class-names option')].map((o) => o.value)"
    )
    assert {"static_object", "non_motor"} <= set(offered), offered
    Select(driver.find_element(By.CSS_SELECTOR, ".policy-type")).select_by_value(
        "non_motor_parking"
    )
    assert not driver.find_elements(By.CSS_SELECTOR, ".policy-attended-radius")
    assert driver.find_element(By.CSS_SELECTOR, ".policy-classes").get_property("value") == (
        "non_motor"
    )
    set_input(driver, ".policy-min-count", "0")
    min_count = lambda: field_error(driver, "policies[0].min_count")  # noqa: E731
    assert wait_until(lambda: "greater than or equal to 1" in min_count(), 10), min_count()


def _calibrate_by_clicking(driver: Any, hand: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "tab-calibration").click()
    points = demo_points()
    for p in points:
        click_frame(driver, *p["image"])
    rows = lambda: driver.find_elements(By.CSS_SELECTOR, "#cal-table tbody tr")  # noqa: E731
    assert wait_until(lambda: len(rows()) == len(points), 10)
    for k, p in enumerate(points):
        row = f'#cal-table tbody tr[data-index="{k}"]'
        got = [
            float(driver.find_element(By.CSS_SELECTOR, f"{row} .cal-{a}").get_property("value"))
            for a in "xy"
        ]
        assert got == pytest.approx(p["image"], abs=0.05), (k, got, p["image"])
        set_input(driver, f"{row} .cal-lon", repr(p["lonlat"][0]))
        set_input(driver, f"{row} .cal-lat", repr(p["lonlat"][1]))
    driver.find_element(By.ID, "cal-fit").click()
    assert wait_until(lambda: driver.find_element(By.ID, "cal-rms").get_attribute("data-rms"), 10)
    shown = [float(e.text) for e in driver.find_elements(By.CSS_SELECTOR, ".cal-err-px")]
    rms = float(driver.find_element(By.ID, "cal-rms").get_attribute("data-rms"))

    # `lookout calibrate` on the demo's points, as an installer runs it.
    pts = tmp_path / "points.yaml"
    pts.write_text(yaml.safe_dump({"points": points}))
    cli = subprocess.run(
        [
            sys.executable,
            "-m",
            "lookout.cli.main",
            "calibrate",
            str(pts),
            "--config",
            str(hand),
            "--camera",
            "vtest",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **ENV},
    )
    assert cli.returncode == 0, cli.stderr
    table = [line.split() for line in cli.stdout.splitlines() if re.match(r"^\s+\d+\s", line)]
    expected = [float(r[5]) for r in table]
    assert len(shown) == len(expected) == len(points)
    assert shown == pytest.approx(expected, abs=0.1), (shown, expected)
    cli_rms = float(re.search(r"rms ([\d.]+) px", cli.stdout).group(1))  # type: ignore[union-attr]
    assert rms == pytest.approx(cli_rms, abs=0.1)
    cells = driver.find_elements(By.CSS_SELECTOR, "#grid-layer polygon.grid-cell")
    assert {c.get_attribute("data-code") for c in cells} == {"44030510100101", "44030510100102"}

    driver.find_element(By.ID, "cal-save").click()
    saved = lambda: driver.find_element(By.ID, "cal-result").get_attribute("data-saved")  # noqa: E731
    assert wait_until(lambda: saved() == "1", 20), driver.find_element(By.ID, "cal-result").text
    assert RELOADED in driver.find_element(By.ID, "cal-result").text
    driver.find_element(By.ID, "tab-zones").click()


def _draw_the_van_zone(driver: Any, daemon: DaemonProcess, shots: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    draw_zone(driver, VAN)
    set_input(driver, "#zone-id", "no-parking-building")
    set_input(driver, "#zone-grid", "44030510100101")
    set_input(driver, ".policy-classes", "car, truck, bus, motorcycle")
    set_input(driver, ".policy-dwell-s", "20")
    # The region plan follows the settings: regions mode crops around the zones.
    Select(driver.find_element(By.ID, "detect-mode")).select_by_value("regions")
    crops = lambda: driver.find_elements(By.CSS_SELECTOR, "#plan-layer rect.plan-crop")  # noqa: E731
    assert wait_until(lambda: len(crops()) >= 2, 10)
    assert CROPS in driver.find_element(By.ID, "plan-info").text
    driver.save_screenshot(str(shots / "editor.png"))
    Select(driver.find_element(By.ID, "detect-mode")).select_by_value("auto")
    assert wait_until(lambda: not crops(), 10)
    assert wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, "#errors li"), 5)

    driver.find_element(By.ID, "save-zones").click()
    saved = lambda: driver.find_element(By.ID, "save-result").get_attribute("data-saved")  # noqa: E731
    assert wait_until(lambda: saved() == "1", 30), driver.find_element(By.ID, "save-result").text
    assert RELOADED in driver.find_element(By.ID, "save-result").text
    assert "reload: +0 -0 ~1 camera(s)" in daemon.log()
    # The van has been parked since the clip's start: a case once the dwell has passed
    # after the restart of the camera.
    cases = daemon.log_path.parent / "out" / "cases.jsonl"
    found = lambda: cases.is_file() and '"no-parking-building"' in cases.read_text()  # noqa: E731
    assert wait_until(found, 120), daemon.log()[-2000:]


def test_zone_drawn_at_preset_2_of_an_onvif_camera(browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    port = free_port()
    with (
        start_rtsp_server({"/cam": vtest_h264()}) as server,
        OnvifResponder(move_s=0.5) as cam,
    ):
        cfg = tmp_path / "tower.yaml"
        cfg.write_text(f"""# A tower camera touring its own presets; lookout follows.
site: {{timezone: Asia/Shanghai}}
model: {{manifest: {MANIFEST}, batch_size: 4}}
daemon:
  out_dir: {tmp_path / "out"}
  shutdown_timeout_s: 8
  http: {{port: {port}}}
cameras:
  - id: tower
    source: "{server.url("/cam")}"
    analysis_fps: 2
    stream: {{stall_timeout_s: 3, open_timeout_s: 5, backoff: {{initial_s: 0.3, max_s: 1}}}}
    onvif:
      host: 127.0.0.1
      port: {cam.port}
      username: {cam.username}
      password: {cam.password}
      ptz: {{mode: follow, settle_s: 0.3, poll_s: 0.2}}
    zones:
      - id: kerb-at-A   # preset 1's zone stays as it is
        preset: "1"
        polygon: [[600, 62], [730, 62], [730, 118], [600, 118]]
        policies: [{{type: illegal_parking, classes: [vehicle], dwell_s: 30}}]
""")
        daemon = start_lookout(["run", "--config", str(cfg)], tmp_path, port)
        try:
            driver = browser
            open_editor(driver, daemon.url, "tower")

            def options() -> list[str]:
                found = driver.find_elements(By.CSS_SELECTOR, "#preset-select option")
                return [o.get_attribute("value") for o in found]

            assert wait_until(lambda: {"1", "2", "3"} <= set(options()), 20), options()
            Select(driver.find_element(By.ID, "preset-select")).select_by_value("2")
            status = lambda: driver.find_element(By.ID, "ptz-status").text  # noqa: E731
            at_2 = (
                "return document.body.dataset.picture === '2'"
                " && document.getElementById('editor-img').complete"
            )
            assert wait_until(lambda: driver.execute_script(at_2), 60), status()
            assert ZH("editor.at_preset", preset="2") in status()
            draw_zone(driver, [(100, 300), (400, 300), (400, 500), (100, 500)])
            set_input(driver, "#zone-id", "lawn-at-B")
            driver.find_element(By.ID, "save-zones").click()
            saved = lambda: driver.find_element(By.ID, "save-result").get_attribute("data-saved")  # noqa: E731
            assert wait_until(lambda: saved() == "1", 30), driver.find_element(
                By.ID, "save-result"
            ).text
        finally:
            code = daemon.stop()
    assert code == 0 and "Traceback" not in daemon.log(), daemon.log()[-3000:]
    assert cam.password not in daemon.log()
    gotos = [c.args for c in cam.calls if c.operation == "GotoPreset"]
    assert any(a.get("PresetToken") == "2" for a in gotos), gotos
    zones = yaml.safe_load(cfg.read_text())["cameras"][0]["zones"]
    assert [(z["id"], z["preset"]) for z in zones] == [("kerb-at-A", "1"), ("lawn-at-B", "2")]
    assert zones[1]["polygon"] == [[100, 300], [400, 300], [400, 500], [100, 500]]
    assert "# preset 1's zone stays as it is" in cfg.read_text()
