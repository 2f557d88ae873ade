"""Password guessing against a real `lookout run` (docs/ACCOUNTS.md "Guessing"): 20
wrong guesses sent at once against one account are checked at most 5 at a time and
cost the server less CPU than 6 ordinary logins; the account locks, the right password
is refused during the lockout and accepted after it; a logout's cookie is worth
nothing; a session outlives a restart; every try is in the audit log."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lookout.base.paths import REPO_ROOT
from tests.console.conftest import DaemonProcess, start_lookout
from tests.console.test_server import Client
from tests.support.config import write_config
from tests.support.helpers import free_port, wait_until

pytestmark = [pytest.mark.slow]

PASSWORDS = {"wang.li": "wang-Secret-1", "li.si": "li-Secret-22"}
LOCKOUT_S = 4.0


def lookout(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lookout.cli.main", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(c: Client, name: str, label: str) -> float:
    text = c.call("/metrics")[2].decode()
    m = re.search(rf"^{name}_total{{{label}}} ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def start(tmp_path: Path, port: int) -> DaemonProcess:
    daemon = start_lookout(["run", "--config", str(tmp_path / "site.yaml")], tmp_path, port)
    assert wait_until(lambda: Client(port).call("/healthz")[0] in (200, 503), 60), daemon.log()
    return daemon


def test_guessing_is_throttled_before_any_hash(tmp_path: Path) -> None:
    port = free_port()
    # A camera that never answers: the daemon idles, so its CPU time is the logins'.
    cam = {"id": "cam1", "source": "rtsp://127.0.0.1:9/none", "zones": []}
    console = {
        "require_login": True,
        "login_throttle": {"delay_s": 0.1, "lockout_s": LOCKOUT_S},
    }
    write_config(
        tmp_path, [cam], daemon={"http": {"port": port, "console": console}}, name="site.yaml"
    )
    for name, password in PASSWORDS.items():
        made = lookout(
            "users",
            "add",
            name,
            "--role",
            "operator",
            "--config",
            str(tmp_path / "site.yaml"),
            stdin=password + "\n",
        )
        assert made.returncode == 0, made.stderr
    daemon = start(tmp_path, port)
    try:
        c = Client(port)
        # 6 ordinary logins, one after the other: what a login costs the server.
        sessions = [Client(port) for _ in range(6)]
        forms = [s.login_form(PASSWORDS["li.si"], "li.si") for s in sessions]
        before = cpu_seconds(daemon.proc.pid)
        for s, form in zip(sessions, forms, strict=True):
            assert s.call("/login", form)[0] == 303
        six_logins = cpu_seconds(daemon.proc.pid) - before

        # 20 wrong guesses against one account, all at once.
        guessers = [Client(port) for _ in range(20)]
        forms = [g.login_form(f"guess-{i}", "wang.li") for i, g in enumerate(guessers)]
        before = cpu_seconds(daemon.proc.pid)
        with ThreadPoolExecutor(20) as pool:
            codes = list(
                pool.map(
                    lambda gf: gf[0].call("/login", gf[1])[0], zip(guessers, forms, strict=True)
                )
            )
        twenty_guesses = cpu_seconds(daemon.proc.pid) - before
        checked = metric(c, "lookout_console_logins", 'outcome="wrong"')
        refused = metric(c, "lookout_console_logins", 'outcome="delayed"') + metric(
            c, "lookout_console_logins", 'outcome="locked"'
        )
        assert 1 <= checked <= 5 and checked + refused == 20, (checked, refused)
        assert codes.count(401) == checked and codes.count(429) == 20 - checked
        print(
            f"\nCPU: 6 logins {six_logins:.3f} s, 20 guesses at once {twenty_guesses:.3f} s; "
            f"{checked:.0f} of 20 checked"
        )
        assert twenty_guesses <= six_logins

        # Go on guessing as fast as the server lets: the account locks.
        end = time.monotonic() + 30
        while metric(c, "lookout_console_lockouts", 'scope="account"') < 1:
            assert time.monotonic() < end
            code, headers, _ = c.call("/login", c.login_form("still-wrong", "wang.li"))
            if code == 429:
                time.sleep(float(headers["retry-after"]) if "retry-after" in headers else 0.1)
        locked_at = time.monotonic()
        assert metric(c, "lookout_console_logins", 'outcome="wrong"') <= 5
        right = PASSWORDS["wang.li"]
        code, headers, body = c.call("/login", c.login_form(right, "wang.li"))
        assert code == 429 and int(headers["retry-after"]) >= 1, body[:200]
        time.sleep(max(0.0, LOCKOUT_S - (time.monotonic() - locked_at)) + 0.5)
        assert c.login(right, "wang.li") == 303
        assert c.call("/api/session")[2].decode().count('"user":"wang.li"') == 1

        # A logout ends the session: its cookie, kept and sent again, opens nothing.
        keep = Client(port)
        assert keep.login(PASSWORDS["li.si"], "li.si") == 303
        cookies = list(keep.jar)
        assert keep.call("/api/cameras")[0] == 200
        token = re.search(rb'"csrf":"([^"]+)"', keep.call("/api/session")[2])
        assert token is not None
        out = keep.call("/logout", f"csrf_token={token.group(1).decode()}".encode())
        assert out[0] == 303
        for cookie in cookies:
            keep.jar.set_cookie(cookie)
        assert keep.call("/api/cameras")[0] == 401
    finally:
        assert daemon.stop() == 0, daemon.log()[-3000:]

    # A session outlives a restart of the daemon.
    daemon = start(tmp_path, port)
    try:
        assert c.call("/api/cameras")[0] == 200
    finally:
        assert daemon.stop() == 0
    text = daemon.log()
    assert "Traceback" not in text
    assert not any(p in text for p in PASSWORDS.values())
    audit = lookout("audit", "--config", str(tmp_path / "site.yaml"))
    assert audit.returncode == 0, audit.stderr
    lines = audit.stdout.splitlines()
    assert sum(" login_failed " in line and "wang.li" in line for line in lines) >= checked
    assert sum(" login_refused " in line for line in lines) >= 20 - checked
    assert sum(" login " in line and "li.si" in line for line in lines) == 7
    assert sum(" logout " in line for line in lines) == 1
    assert not any(p in audit.stdout for p in PASSWORDS.values())
    verify = lookout("audit", "--config", str(tmp_path / "site.yaml"), "--verify")
    assert verify.returncode == 0 and "intact" in verify.stdout
