"""Retention (cases/retention.py, docs/OPERATIONS.md "Retention and full disks"): what goes, in
which order, and that an undelivered case never does. Real SQLite outbox, real JPEG
files, real delivery to a local webhook endpoint."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lookout.base.backoff import BackoffConfig
from lookout.cases.delivery import DeliveryWorker
from lookout.cases.model import DraftCase
from lookout.cases.retention import GB, Retention
from lookout.cases.settings import RetentionConfig
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.spool import StorageStats
from lookout.cases.verdicts import CaseReview
from lookout.cases.webhook import WebhookSink
from lookout.cli.main import main
from lookout.daemon.metrics import StorageCollector
from tests.cases.conftest import T0
from tests.support.case_endpoint import CaseEndpoint

FAST = BackoffConfig(initial_s=0.2, max_s=2.0)
#: "Now" for retention: 60 days after the first test case.
NOW = (T0 + timedelta(days=60)).timestamp()
MakeCase = Callable[..., DraftCase]


def write_case(out: Path, make_case: MakeCase, i: int, *, days: float = 0.0) -> DraftCase:
    """A case confirmed `days` after T0, with two real JPEG evidence files."""
    cid = make_case(i).id
    at = T0 + timedelta(days=days, seconds=i)
    case = make_case(
        i,
        confirmed_at=at,
        first_seen=at - timedelta(seconds=300),
        last_seen=at,
        evidence=[f"evidence/{cid}_full.jpg", f"evidence/{cid}_crop.jpg"],
    )
    rng = np.random.default_rng(i)
    (out / "evidence").mkdir(parents=True, exist_ok=True)
    for rel, size in zip(case.evidence, (96, 48), strict=True):
        ok, buf = cv2.imencode(".jpg", rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
        assert ok
        (out / rel).write_bytes(buf.tobytes())
    outbox = SqliteOutbox.open(out / "cases.db")
    try:
        assert outbox.write(case)
    finally:
        outbox.close()
    return case


def rows(db: Path) -> dict[str, str]:
    """Case id → evidence_state of every outbox row."""
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, evidence_state FROM cases").fetchall())


def deliver(db: Path, endpoint: CaseEndpoint, status: int) -> None:
    """One delivery pass to the webhook sink, the endpoint answering `status` (rows
    waiting for a retry are due at once)."""
    endpoint.set(status)
    with sqlite3.connect(db) as conn:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'deliveries'").fetchone():
            conn.execute("UPDATE deliveries SET next_attempt_at = 0")
    worker = DeliveryWorker(db, [WebhookSink(endpoint.url, name="hook")], backoff=FAST)
    try:
        worker.run_once()
    finally:
        worker.close()


def test_prune_keeps_undelivered_cases_that_age_would_take(
    tmp_path: Path, make_case: MakeCase, endpoint: CaseEndpoint
) -> None:
    out, db = tmp_path, tmp_path / "cases.db"
    delivered = [write_case(out, make_case, i) for i in range(4)]
    with CaseReview.open(db) as review:  # reviewed and closed: its status goes too
        review.verdict(delivered[0].id, "closed", "op")
    deliver(db, endpoint, 200)
    undelivered = [write_case(out, make_case, i) for i in range(4, 7)]
    deliver(db, endpoint, 500)  # the case system is down: these stay pending
    recent = [write_case(out, make_case, i, days=50) for i in range(7, 9)]
    cfg = RetentionConfig(max_days=30, max_gb=None, min_free_gb=None)
    retention = Retention(cfg, out, db, ["hook"], clock=lambda: NOW)

    plan, done = retention.run_once()

    assert sorted(m.case_id for m in done) == sorted(c.id for c in delivered)
    assert {(m.what, m.reason) for m in done} == {("case", "age")}
    assert plan.kept_undelivered == len(undelivered)
    left = rows(db)
    assert sorted(left) == sorted(c.id for c in undelivered + recent)
    for case in undelivered + recent:
        assert all((out / rel).is_file() for rel in case.evidence)
    for case in delivered:
        assert not any((out / rel).exists() for rel in case.evidence)
    with sqlite3.connect(db) as conn:  # the case's other rows went with it
        for table in ("verdicts", "deliveries", "status_deliveries"):
            ids = {r[0] for r in conn.execute(f"SELECT case_id FROM {table}")}
            assert not ids & {c.id for c in delivered}, table
    assert retention.stats.deleted[("case", "age")] == 4

    # Once delivered, the same cases are old enough to go: delivery was what kept them.
    deliver(db, endpoint, 200)
    _, done = retention.run_once()
    assert sorted(m.case_id for m in done) == sorted(c.id for c in undelivered)
    assert sorted(rows(db)) == sorted(c.id for c in recent)

    registry = CollectorRegistry()
    idle = StorageStats(0, 0, 0, 0, 0, 0, 0, 0, 0)
    registry.register(StorageCollector(lambda: idle, lambda: retention.stats))
    text = generate_latest(registry).decode()
    assert 'lookout_retention_deleted_total{reason="age",what="case"} 7.0' in text
    assert 'lookout_retention_deleted_total{reason="size",what="evidence"} 0.0' in text
    assert "lookout_retention_kept_undelivered 0.0" in text


def test_size_limit_takes_finished_cases_evidence_first_then_the_oldest(
    tmp_path: Path, make_case: MakeCase
) -> None:
    out, db = tmp_path, tmp_path / "cases.db"
    cases = [write_case(out, make_case, i, days=i) for i in range(8)]
    with CaseReview.open(db) as review:
        review.verdict(cases[5].id, "closed", "op")
        review.verdict(cases[6].id, "false_alarm", "op")
        review.verdict(cases[3].id, "confirmed", "op")
    sizes = {c.id: sum((out / r).stat().st_size for r in c.evidence) for c in cases}
    probe = Retention(RetentionConfig(max_days=None, max_gb=None, min_free_gb=None), out, db)
    used = probe.plan().used_bytes
    # Room for all but four cases' evidence: the two finished ones, the confirmed one,
    # then the oldest draft.
    expected = [cases[5].id, cases[6].id, cases[3].id, cases[0].id]
    need = sum(sizes[c] for c in expected) - sizes[cases[0].id] // 2
    cfg = RetentionConfig(max_days=None, max_gb=(used - need) / GB, min_free_gb=None)

    _, done = Retention(cfg, out, db, clock=lambda: NOW).run_once()

    assert [m.case_id for m in done] == expected
    assert {(m.what, m.reason) for m in done} == {("evidence", "size")}
    state = rows(db)
    assert len(state) == 8  # rows stay; only evidence went
    for case in cases:
        gone = case.id in expected
        assert state[case.id] == ("pruned" if gone else "written")
        assert all((out / r).exists() != gone for r in case.evidence)


def test_free_space_floor_spares_undelivered_evidence(
    tmp_path: Path, make_case: MakeCase, endpoint: CaseEndpoint
) -> None:
    out, db = tmp_path, tmp_path / "cases.db"
    old_pending = write_case(out, make_case, 0)
    deliver(db, endpoint, 500)
    delivered = [write_case(out, make_case, i, days=i) for i in range(1, 4)]
    deliver(db, endpoint, 200)  # the pending one went out too: the sink lost it again
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE deliveries SET state = 'pending' WHERE case_id = ?", (old_pending.id,))
    free = 10 * 2**20
    cfg = RetentionConfig(max_days=None, max_gb=None, min_free_gb=(free + 2**30) / GB)
    retention = Retention(cfg, out, db, ["hook"], clock=lambda: NOW, disk_free=lambda _: free)

    plan, done = retention.run_once()

    # Everything that may go went, oldest first; the oldest case, undelivered, stayed.
    assert [m.case_id for m in done] == [c.id for c in delivered]
    assert {(m.what, m.reason) for m in done} == {("evidence", "free_space")}
    assert plan.short_bytes > 0 and plan.kept_undelivered == 1
    assert rows(db)[old_pending.id] == "written"
    assert all((out / r).is_file() for r in old_pending.evidence)


def _snapshot(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _config(tmp_path: Path, endpoint: CaseEndpoint, retention: str) -> Path:
    cfg = tmp_path / "site.yaml"
    cfg.write_text(
        "model: {manifest: model.yaml}\n"
        "cameras: [{id: cam-roof-1}]\n"
        "daemon: {out_dir: out}\n"
        f"sinks: [{{type: sqlite}}, {{type: webhook, url: '{endpoint.url}', name: hook}}]\n"
        f"retention: {retention}\n"
    )
    return cfg


def test_prune_dry_run_lists_and_changes_nothing(
    tmp_path: Path, make_case: MakeCase, endpoint: CaseEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    db = out / "cases.db"
    old = [write_case(out, make_case, i) for i in range(3)]
    deliver(db, endpoint, 200)
    kept = write_case(out, make_case, 3)
    deliver(db, endpoint, 500)
    cfg = _config(tmp_path, endpoint, "{max_days: 30, min_free_gb: null}")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        before_rows = list(conn.iterdump())
    before = _snapshot(out)

    assert main(["cases", "prune", "--config", str(cfg), "--dry-run"]) == 0

    printed = capsys.readouterr().out
    lines = [ln for ln in printed.splitlines() if ln.startswith("would delete")]
    assert sorted(ln.split()[-3] for ln in lines) == sorted(c.id for c in old)
    assert "1 undelivered case(s) kept" in printed and kept.id not in printed
    assert _snapshot(out) == before
    with sqlite3.connect(db) as conn:
        assert list(conn.iterdump()) == before_rows

    assert main(["cases", "prune", "--config", str(cfg)]) == 0
    assert "3 case(s) and the evidence of 0 more deleted" in capsys.readouterr().out
    assert sorted(rows(db)) == [kept.id]


@pytest.mark.parametrize(
    ("retention", "needle"),
    [("{max_days: 0}", "max_days"), ("{min_free_gb: -1}", "min_free_gb"), ("{keep: 3}", "keep")],
)
def test_prune_bad_retention_config_is_one_line_and_exit_2(
    tmp_path: Path,
    endpoint: CaseEndpoint,
    capsys: pytest.CaptureFixture[str],
    retention: str,
    needle: str,
) -> None:
    cfg = _config(tmp_path, endpoint, retention)
    assert main(["cases", "prune", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err and "Traceback" not in err
