"""Browser fixtures: Debian's chromium driven by its chromedriver through selenium,
headless and offline (scripts/setup.sh --with-test-deps installs both), and a daemon
started as a subprocess like `lookout run` on site."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lookout.base.paths import REPO_ROOT
from tests.support.helpers import free_port as free_port  # benchmarks/ import it from here
from tests.support.helpers import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Screenshots of every page, for the README (`out/` is git-ignored).
SCREENSHOTS = REPO_ROOT / "out" / "console-screenshots"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless chromium (root: --no-sandbox) that reaches nothing but 127.0.0.1. It
    asks for zh-CN, as the centre's browsers do: every browser flow runs in Chinese
    (docs/I18N.md; the completeness check renders the English pages too)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file():
            pytest.fail(f"{path} not found: run scripts/setup.sh --with-test-deps")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        "--no-first-run",
        "--disable-extensions",
        "--disable-sync",
        "--disable-background-networking",
        "--disable-component-update",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--lang=zh-CN",
    ):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log"))
    driver = webdriver.Chrome(options=opts, service=service)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


@dataclass
class DaemonProcess:
    """`lookout <command> --config FILE` as a subprocess, its log in a file."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


def start_lookout(
    args: list[str], tmp_path: Path, port: int, env: dict[str, str] | None = None
) -> DaemonProcess:
    log_path = tmp_path / "lookout.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lookout.cli.main", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
        )
    return DaemonProcess(proc, log_path, port)


def wait_page(cond: Callable[[], Any], timeout: float, step: float = 0.05) -> Any:
    """`wait_until` for a page: an element not there yet (the page still loading or
    being replaced) counts as False, as a server not up yet does."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
    )

    return wait_until(
        cond,
        timeout,
        step,
        ignore=(OSError, NoSuchElementException, StaleElementReferenceException),
    )
