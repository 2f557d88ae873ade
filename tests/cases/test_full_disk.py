"""A full disk (docs/OPERATIONS.md "Retention and full disks") on a real small
filesystem: a 2 MiB tmpfs the test mounts (root only; CI runs as root). No case row is
lost, the evidence is written once space returns, the log says so once, not per case."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from lookout.cases.dedup import CaseDeduper
from lookout.cases.evidence import EvidenceWriter
from lookout.cases.manager import CaseManager
from lookout.cases.retention import GB, Retention, RetentionWorker
from lookout.cases.settings import CodeEntry, RetentionConfig
from lookout.cases.sinks import JsonlSink, SqliteOutbox
from lookout.daemon.metrics import StorageCollector
from lookout.streams.frame import replace
from lookout.zones.events import ViolationEvent
from tests.support.helpers import frame, parked_event, wait_until

CODES = {"illegal_parking": CodeEntry(code="09001", name="机动车乱停放")}


@pytest.fixture()
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for this test, unmounted after it."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs .ci/run as root)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill the disk with one file, then free `leave` bytes of it."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as fh:
        chunk = b"\0" * 65536
        while True:
            try:
                if fh.write(chunk) < len(chunk):
                    break
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
        if leave:
            fh.truncate(max(0, fh.tell() - leave))
    return filler


def event(i: int, size: tuple[int, int] = (120, 160)) -> ViolationEvent:
    """A parking event at its own place and time (its own case); `size` of the frame
    (noise: a large JPEG)."""
    f = frame(30.0 + 100 * i, size=size)
    f = replace(f, image=np.random.default_rng(i).integers(0, 255, (*size, 3), dtype=np.uint8))
    x = 10.0 + (i % 5) * 28
    return parked_event(f, track=i, bbox=(x, 40.0, x + 20, 70.0), grid_code=None)


def manager(out: Path) -> CaseManager:
    m = CaseManager(
        codes=CODES,
        deduper=CaseDeduper(cooldown_s=1, iou=0.3),
        evidence=EvidenceWriter(out),
        tz=ZoneInfo("Asia/Shanghai"),
        sinks=[SqliteOutbox.open(out / "cases.db"), JsonlSink.open(out / "cases.jsonl")],
    )
    m.retry_s = 0.1
    return m


def outbox_rows(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT id, evidence_state FROM cases").fetchall())


def assert_all_written(out: Path, ids: list[str]) -> None:
    """Every case once in the outbox and the JSONL, its evidence whole on disk."""
    assert outbox_rows(out / "cases.db") == dict.fromkeys(ids, "written")
    lines = (out / "cases.jsonl").read_text().splitlines()
    assert sorted(ln.split('"id":"')[1].split('"')[0] for ln in lines) == sorted(ids)
    for cid in ids:
        for suffix in ("full", "crop"):
            img = cv2.imread(str(out / "evidence" / f"{cid}_{suffix}.jpg"))
            assert img is not None and img.size > 0
    assert not list((out / "evidence").glob("*.tmp"))


def test_full_disk_loses_no_case_and_writes_evidence_once_space_returns(
    small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    m = manager(small_disk)
    first = m.handle(event(0))  # the outbox and JSONL exist before the disk fills
    assert first is not None and m.flush()
    filler = fill(small_disk)
    caplog.set_level(logging.WARNING, logger="lookout.cases")

    cases = [m.handle(event(i)) for i in range(1, 13)]
    ids = [c.id for c in cases if c is not None]
    assert len(ids) == 12
    assert wait_until(
        lambda: m.storage_stats().evidence_write_failures == 12, 10, step=0.02, ignore=()
    )
    full = m.storage_stats()
    assert full.evidence_pending == 12 and full.evidence_pending_bytes > 0
    assert full.cases_held > 0 and full.outbox_write_failures >= full.cases_held
    stored = outbox_rows(small_disk / "cases.db")
    assert len(stored) - 1 + full.cases_held == 12  # every case: a row, or held
    assert set(stored.values()) <= {"written", "pending"}
    # Once a minute, not once per case.
    evidence_lines = [r for r in caplog.records if "evidence not written" in r.message]
    held_lines = [r for r in caplog.records if "held in memory" in r.message]
    assert len(evidence_lines) == 1 and len(held_lines) == 1

    filler.unlink()  # space returns
    assert wait_until(
        lambda: m.storage_stats().evidence_pending + m.storage_stats().cases_held == 0,
        10,
        step=0.02,
        ignore=(),
    )
    assert m.storage_stats().evidence_written_late == 12
    assert m.storage_stats().cases_written_late == full.cases_held
    # Logged by the writer thread just after the last write (the counters are 0 first).
    assert wait_until(lambda: any("disk writable again" in r.message for r in caplog.records), 5)
    registry = CollectorRegistry()
    registry.register(StorageCollector(m.storage_stats, lambda: None))
    text = generate_latest(registry).decode()
    assert "lookout_evidence_written_late_total 12.0" in text
    assert "lookout_cases_held 0.0" in text and "lookout_cases_dropped_total 0.0" in text
    m.close()
    assert_all_written(small_disk, [first.id, *ids])


def test_evidence_that_does_not_fit_leaves_the_row_flagged_pending(small_disk: Path) -> None:
    m = manager(small_disk)
    first = m.handle(event(0))
    assert first is not None and m.flush()
    filler = fill(small_disk, leave=160 * 1024)  # room for rows, not for a big JPEG
    big = [m.handle(event(i, size=(600, 800))) for i in (1, 2)]
    ids = [c.id for c in big if c is not None]
    assert wait_until(
        lambda: m.storage_stats().evidence_write_failures == 2, 10, step=0.02, ignore=()
    )
    assert m.storage_stats().cases_held == 0
    state = outbox_rows(small_disk / "cases.db")
    assert [state[c] for c in ids] == ["pending", "pending"]

    filler.unlink()
    assert wait_until(lambda: m.storage_stats().evidence_pending == 0, 10, step=0.02, ignore=())
    m.close()
    assert_all_written(small_disk, [first.id, *ids])


def test_retention_frees_a_full_disk_for_new_evidence(small_disk: Path) -> None:
    """Evidence fills the disk: the case writer wakes retention (its first timed run is
    an hour away), which deletes the oldest delivered evidence (free_space), and the
    evidence that did not fit goes in."""
    m = manager(small_disk)
    cfg = RetentionConfig(max_days=None, max_gb=None, min_free_gb=256 * 1024 / GB)
    worker = RetentionWorker(
        Retention(cfg, small_disk, small_disk / "cases.db"),
        interval_s=3600,
        min_gap_s=0.1,
        first_run_s=3600,
    )
    m.store.on_full = worker.wake
    worker.start()
    ids = []
    try:
        for i in range(60):
            case = m.handle(event(i, size=(240, 320)))
            assert case is not None
            ids.append(case.id)
            assert m.flush()
            if m.storage_stats().evidence_write_failures:
                break
        assert m.storage_stats().evidence_write_failures >= 1  # the disk was full
        more = m.handle(event(99, size=(240, 320)))  # the daemon goes on
        assert more is not None
        ids.append(more.id)
        assert wait_until(
            lambda: m.storage_stats().evidence_pending + m.storage_stats().cases_held == 0,
            10,
            step=0.02,
            ignore=(),
        )
    finally:
        assert worker.stop()
    m.close()
    stats = worker.retention.stats
    assert stats.runs >= 1 and stats.deleted[("evidence", "free_space")] >= 1
    state = outbox_rows(small_disk / "cases.db")
    assert sorted(state) == sorted(ids)  # no row lost
    pruned = [cid for cid in ids if state[cid] == "pruned"]
    assert pruned == ids[: len(pruned)]  # the oldest went first
    assert all(state[cid] == "written" for cid in ids[len(pruned) :])
    assert all((small_disk / "evidence" / f"{cid}_full.jpg").is_file() for cid in ids[-3:])
