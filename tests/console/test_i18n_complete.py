"""Nothing a person reads is left untranslated (docs/I18N.md): every console page and
the report are rendered in Chromium in zh-CN and in en against the real console (the
demo config on vtest, its outbox holding the demo's case; logged in as an admin, so
the audit log too); a visible text node, the
title, a placeholder, a title or an aria-label that is the same in both languages and
holds a word of three or more letters is untranslated, unless it is data (inside
`translate="no"`). Screenshots of every page in zh-CN and one in en go to
out/console-screenshots/i18n/ (docs/img holds the README's)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from lookout.base.paths import REPO_ROOT
from tests.console.conftest import start_lookout
from tests.console.conftest import wait_page as wait_until
from tests.console.test_accounts_browser import lookout_cli
from tests.console.test_editor_browser import ENV, up
from tests.support.helpers import free_port

pytestmark = [pytest.mark.slow]

DEMO = REPO_ROOT / "configs" / "demo.yaml"
#: Every text a person reads on the page: text nodes, the title and the attributes
#: people see; data (inside translate="no"), scripts and hidden parts left out.
COLLECT = """
const skip = (el) => !el || el.closest('[translate="no"], script, style, noscript, [hidden]');
const out = [document.title];
const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
while (walk.nextNode()) {
  const node = walk.currentNode, el = node.parentElement, text = node.textContent.trim();
  if (!text || skip(el)) continue;
  const st = getComputedStyle(el);
  if (st.display === 'none' || st.visibility === 'hidden') continue;
  out.push(text);
}
for (const el of document.querySelectorAll('[title], [placeholder], [aria-label], [alt]')) {
  if (skip(el)) continue;
  for (const a of ['title', 'placeholder', 'aria-label', 'alt']) {
    const v = el.getAttribute(a);
    if (v && v.trim()) out.push(v.trim());
  }
}
return out;
"""
WORD = re.compile(r"[A-Za-z]{3,}")
#: Page → what says it finished loading (the page's own data rendered).
PAGES = {
    "login": None,
    "cameras": "#tiles .tile",
    "health": "#health-table tbody tr",
    "cases": "#cases-table tbody tr.case-row",
    "editor": "#editor-img",
    "report": ".tile",
    "audit": "#audit-table tbody tr.audit-row",
}
#: The account that logs in: an admin, so that the audit log is rendered too.
ADMIN, ADMIN_PW = "i18n.admin", "i18n-Admin-pw9"


def site(tmp_path: Path, demo_replay: Path) -> tuple[Path, Path]:
    """The demo config with a console login and an admin account, and an output folder
    holding the demo replay's outbox and evidence (so the cases page and the report
    have a case)."""
    text = DEMO.read_text().replace("../models/", f"{REPO_ROOT}/models/")
    text += (
        "\ndaemon:\n  out_dir: out\n  http:\n"
        '    console: {require_login: true, operator_password: "${EDITOR_TEST_PW}"}\n'
    )
    shutil.copy(DEMO.parent / "demo-grid.geojson", tmp_path / "demo-grid.geojson")
    path = tmp_path / "site.yaml"
    path.write_text(text)
    out = tmp_path / "out"
    shutil.copytree(demo_replay, out)
    args = ["users", "add", ADMIN, "--role", "admin", "--config", str(path)]
    lookout_cli(*args, stdin=ADMIN_PW, env=ENV)
    return path, out


def visible_texts(driver: Any) -> list[str]:
    return [str(s) for s in driver.execute_script(COLLECT)]


def load(driver: Any, url: str, page: str) -> None:
    from selenium.webdriver.common.by import By

    path = {"login": "/login", "report": "/report?from=2026-11-26&to=2026-11-26"}.get(
        page, f"/{page}"
    )
    if page == "editor":
        path += "?camera=vtest"
    driver.get(url + path)
    ready = PAGES[page]
    if ready is not None:
        found = wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ready), 30)
        assert found, (page, driver.page_source[:3000])
    if page == "cases":  # the detail of the first case shown too
        driver.find_elements(By.CSS_SELECTOR, "tr.case-row")[0].click()
        assert wait_until(lambda: driver.find_element(By.ID, "d-facts").text, 10)
    driver.execute_script("return document.fonts ? document.fonts.ready : true")


def switch(driver: Any, url: str, lang: str) -> None:
    driver.get(f"{url}/lang?to={lang}&next=/login")


def test_every_page_in_both_languages(
    browser: Any, tmp_path: Path, demo_replay: Path, screenshots: Path
) -> None:
    from selenium.webdriver.common.by import By

    config, out = site(tmp_path, demo_replay)
    port = free_port()
    daemon = start_lookout(
        ["console", "--config", str(config), "--out", str(out), "--port", str(port)],
        tmp_path,
        port,
        env=ENV,
    )
    shots = screenshots / "i18n"
    shots.mkdir(parents=True, exist_ok=True)
    seen: dict[str, dict[str, set[str]]] = {}
    try:
        url = daemon.url
        assert wait_until(lambda: up(url), 60), daemon.log()[-3000:]
        for lang in ("zh-CN", "en"):
            switch(browser, url, lang)
            for page in PAGES:
                if page == "login":
                    browser.delete_cookie("lookout_session")
                    load(browser, url, page)
                    seen.setdefault(page, {})[lang] = set(visible_texts(browser))
                    browser.find_element(By.ID, "username").clear()
                    browser.find_element(By.ID, "username").send_keys(ADMIN)
                    browser.find_element(By.ID, "password").send_keys(ADMIN_PW)
                    browser.find_element(By.ID, "login-submit").click()
                    assert wait_until(lambda: "/cameras" in browser.current_url, 15)
                    continue
                load(browser, url, page)
                html_lang = browser.find_element(By.TAG_NAME, "html").get_attribute("lang")
                assert html_lang == lang, (page, html_lang)
                seen.setdefault(page, {})[lang] = set(visible_texts(browser))
                if lang == "zh-CN" or page == "cameras":
                    browser.save_screenshot(str(shots / f"{page}-{lang}.png"))
    finally:
        code = daemon.stop()
    assert code == 0 and "Traceback" not in daemon.log(), daemon.log()[-3000:]

    untranslated = {
        page: sorted(s for s in langs["zh-CN"] & langs["en"] if WORD.search(s))
        for page, langs in seen.items()
    }
    untranslated = {p: s for p, s in untranslated.items() if s}
    assert untranslated == {}, untranslated
    for page, langs in seen.items():  # the zh-CN page is Chinese, not empty
        assert any(re.search(r"[\u4e00-\u9fff]", s) for s in langs["zh-CN"]), page
