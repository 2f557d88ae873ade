"""The daemon killed with undelivered cases, then restarted: the outbox resumes, every
case reaches the webhook exactly once, and the ongoing violation is not proposed again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from lookout.base.paths import REPO_ROOT
from tests.support.case_endpoint import CaseEndpoint
from tests.support.config import MakeConfig, demo_config
from tests.support.helpers import wait_until

DB_BUSY = (OSError, sqlite3.Error)  # the daemon is creating or writing the outbox


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=5) as conn:
        return conn.execute(sql).fetchall()


def start(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("a") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "lookout.cli.main", "run", "--config", str(cfg)],
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
            env={**os.environ},
        )


@pytest.mark.slow
@pytest.mark.timing
def test_sigkill_then_restart_delivers_once_and_does_not_repropose(
    assets: Path, tmp_path: Path, make_config: MakeConfig
) -> None:
    endpoint = CaseEndpoint().start()
    endpoint.set(500)  # the case system is down at first
    demo = demo_config()
    cam = demo["cameras"][0]
    cam["source"] = str(assets / "footage" / "vtest.avi")
    cam["stream"] = {"loop": True}
    cam["zones"] = cam["zones"][:1]  # the parking strip
    cam["zones"][0]["policies"][0]["dwell_s"] = 5
    out = tmp_path / "out"
    demo.update(
        daemon={"out_dir": str(out), "http": {"enabled": False}},
        sinks=[{"type": "sqlite"}, {"type": "webhook", "url": endpoint.url, "timeout_s": 2}],
        delivery={"backoff": {"initial_s": 0.2, "max_s": 1.0}, "poll_s": 0.2},
    )
    demo["site"].pop("replay_start", None)
    cfg = make_config(name="live.yaml", **demo)
    db, log = out / "cases.db", tmp_path / "daemon.log"
    proc = start(cfg, log)
    try:
        assert wait_until(
            lambda: db.is_file() and bool(rows(db, "SELECT id FROM cases")), 60, ignore=DB_BUSY
        ), log.read_text()[-2000:]
        assert wait_until(lambda: len(endpoint.requests()) >= 2, 15)  # retried, failing
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        ((case_id,),) = rows(db, "SELECT id FROM cases")
        state = rows(db, "SELECT state FROM deliveries")
        assert state == [("pending",)], state
        ((first_last_seen,),) = rows(db, "SELECT json_extract(body, '$.last_seen') FROM cases")

        endpoint.set(200)  # the case system is back
        proc = start(cfg, log)
        assert wait_until(lambda: endpoint.accepted_keys()[str(case_id)] == 1, 30), log.read_text()[
            -2000:
        ]
        # The van is still parked: the restarted daemon sees it again (the case's
        # last_seen moves on), but proposes no new case.
        assert wait_until(
            lambda: (
                rows(db, "SELECT json_extract(body, '$.last_seen') FROM cases")[0][0]
                != first_last_seen
            ),
            40,
            ignore=DB_BUSY,
        ), log.read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        endpoint.stop()
    assert [r[0] for r in rows(db, "SELECT id FROM cases")] == [case_id]
    assert rows(db, "SELECT state FROM deliveries") == [("delivered",)]
    accepted = endpoint.accepted_keys()
    assert dict(accepted) == {case_id: 1}, accepted
    assert "Traceback" not in log.read_text()
