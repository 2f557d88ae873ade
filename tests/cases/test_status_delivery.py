"""Operators' verdicts as versioned status updates (docs/CASE_STATUS.md), delivered by
the outbox worker to a real redis-server stream and a real local webhook endpoint."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from lookout.base.backoff import BackoffConfig
from lookout.cases.delivery import DeliveryWorker
from lookout.cases.model import DraftCase
from lookout.cases.redis_stream import CaseStreamReader, RedisStreamSink
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.status import StatusUpdate, parse_status_key, status_key
from lookout.cases.verdicts import CaseFilter, CaseReview, ReviewError, record_verdict
from lookout.cases.webhook import WebhookSink
from tests.cases.conftest import T0
from tests.support.case_endpoint import CaseEndpoint
from tests.support.helpers import wait_until
from tests.support.redis_server import RedisServer, stream_entries

FAST = BackoffConfig(initial_s=0.2, max_s=2.0)
MakeCase = Callable[..., DraftCase]


def status_entries(url: str) -> Counter[str]:
    """Idempotency key of each status entry → how many entries carry it."""
    return Counter(e["id"] for e in stream_entries(url) if e.get("kind") == "status")


def sinks(redis_url: str, endpoint: CaseEndpoint) -> list[Any]:
    return [RedisStreamSink(redis_url), WebhookSink(endpoint.url, timeout_s=2)]


def test_false_alarm_reaches_redis_and_the_webhook_exactly_once_each(
    tmp_path: Path, redis_server: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    case = make_case(1)
    outbox.write(case)
    worker = DeliveryWorker(db, sinks(redis_server.url, endpoint), backoff=FAST)
    assert worker.run_once() == 2  # the case, to both sinks

    at = T0 + timedelta(hours=2)
    update = record_verdict(db, case.id, "false_alarm", "op-li", "legal loading bay", at)
    assert (update.version, update.status, update.previous) == (1, "false_alarm", "draft")
    assert update.key == f"{case.id}:v1" and update.at == at
    assert worker.run_once() == 2  # the status update, to both sinks
    assert worker.run_once() == 0  # delivering again: nothing due
    worker.close()
    # A restarted worker (new process) finds nothing to send again.
    again = DeliveryWorker(db, sinks(redis_server.url, endpoint), backoff=FAST)
    assert again.enqueue_new() == 0 and again.run_once() == 0
    assert again.status_stats() == {
        "redis": {"pending": 0, "delivered": 1, "rejected": 0},
        "webhook": {"pending": 0, "delivered": 1, "rejected": 0},
    }
    again.close()
    outbox.close()

    key = status_key(case.id, 1)
    assert status_entries(redis_server.url) == Counter({key: 1})
    (entry,) = [e for e in stream_entries(redis_server.url) if e.get("kind") == "status"]
    assert entry["case_id"] == case.id and entry["version"] == "1"
    assert entry["status"] == "false_alarm"
    assert StatusUpdate.model_validate_json(entry["update"]) == update
    # The case's own entry is still there once, and its guard did not swallow v1.
    assert [e["id"] for e in stream_entries(redis_server.url) if e.get("kind") == "case"] == [
        case.id
    ]

    assert endpoint.accepted_keys() == Counter({case.id: 1, key: 1})
    (post,) = [r for r in endpoint.requests() if r.key == key]
    assert post.headers["lookout-kind"] == "status" and post.path == "/cases"
    body = post.json()
    assert body["kind"] == "status" and body["version"] == 1 and body["by"] == "op-li"
    assert body["at"] == "2025-05-06T11:30:00+08:00"


def test_a_lost_reply_or_a_crash_before_recording_adds_no_second_entry(
    tmp_path: Path, redis_server: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    case = make_case(2)
    outbox.write(case)
    update = record_verdict(db, case.id, "confirmed", "op-wang")
    worker = DeliveryWorker(db, sinks(redis_server.url, endpoint), backoff=FAST)
    assert worker.run_once() == 4
    # The box died after sending v1 but before recording it: the row is pending again.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE status_deliveries SET state = 'pending', attempts = 0")
    worker.close()
    restarted = DeliveryWorker(db, sinks(redis_server.url, endpoint), backoff=FAST)
    assert restarted.run_once() == 2
    RedisStreamSink(redis_server.url).deliver_status(update.to_json(), update.key)
    restarted.close()
    outbox.close()
    assert status_entries(redis_server.url) == Counter({update.key: 1})
    # The webhook saw the key twice; a receiver that keeps one message per
    # Idempotency-Key (the contract) stores it once.
    assert endpoint.accepted_keys()[update.key] == 2
    assert len({r.body for r in endpoint.requests() if r.key == update.key}) == 1


def test_versions_follow_the_case_and_each_other(
    tmp_path: Path, redis_server: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    case = make_case(3)
    outbox.write(case)
    review = CaseReview(outbox)
    v1 = review.verdict(case.id, "confirmed", "op-li", at=T0 + timedelta(minutes=5))
    # A double submit of the same verdict is no second version.
    assert review.verdict(case.id, "confirmed", "op-li", at=T0 + timedelta(minutes=6)) == v1
    v2 = review.verdict(case.id, "closed", "op-zhao", "dispatched, cleared")
    assert (v2.version, v2.previous) == (2, "confirmed")
    endpoint.set(500)  # the webhook is down: the case and both versions wait
    worker = DeliveryWorker(db, sinks(redis_server.url, endpoint), backoff=FAST, poll_s=0.1)
    worker.start()
    try:
        assert wait_until(lambda: worker.status_stats()["redis"]["delivered"] == 2, 5)
        assert worker.status_stats()["webhook"]["pending"] == 2
        assert {r.key for r in endpoint.requests()} == {case.id}  # never a version first
        endpoint.set(200)
        assert wait_until(lambda: worker.status_stats()["webhook"]["delivered"] == 2, 10)
    finally:
        worker.close()
    accepted = [r.key for r in endpoint.requests() if r.status == 200]
    assert accepted == [case.id, v1.key, v2.key]
    stream = [e["id"] for e in stream_entries(redis_server.url)]
    assert stream == [case.id, v1.key, v2.key]
    reader = CaseStreamReader(redis.Redis.from_url(redis_server.url), consumer="c1")
    reader.ensure_group("0")
    kinds = [f["kind"] for _e, f in reader.read()]
    assert kinds == ["case", "status", "status"]
    reader.client.close()

    row = review.case(case.id)
    assert row is not None and (row.status, row.version) == ("closed", 2)
    assert row.verdict == v2 and [u.version for u in review.history(case.id)] == [1, 2]
    review.close()


def test_an_outbox_of_an_earlier_version_is_migrated(tmp_path: Path, make_case: MakeCase) -> None:
    db = tmp_path / "old.db"
    case = make_case(4)
    with sqlite3.connect(db) as conn:  # the outbox schema before verdicts existed
        conn.execute(
            "CREATE TABLE cases (id TEXT PRIMARY KEY, type TEXT NOT NULL, camera_id TEXT"
            " NOT NULL, zone_id TEXT NOT NULL, confirmed_at TEXT NOT NULL, body TEXT NOT NULL,"
            " created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
        )
        conn.execute(
            "INSERT INTO cases (id, type, camera_id, zone_id, confirmed_at, body)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                case.id,
                case.type,
                case.camera_id,
                case.zone_id,
                case.confirmed_at.isoformat(),
                case.to_json(),
            ),
        )
    with CaseReview.open(db) as review:
        (row,) = review.cases()
        assert (row.status, row.version, row.verdict) == ("draft", 0, None)
        review.verdict(case.id[:8], "false_alarm", "op-li")
        assert [r.case.id for r in review.cases(CaseFilter(status="false_alarm"))] == [case.id]
        assert review.cases(CaseFilter(status="draft")) == []


def test_case_filters(tmp_path: Path, make_case: MakeCase) -> None:
    outbox = SqliteOutbox.open(tmp_path / "cases.db")
    for i in range(6):
        outbox.write(
            make_case(
                i,
                camera_id=f"cam{i % 2}",
                grid_code=f"4403051010010{i % 3}",
                type="street_vendor" if i == 5 else "illegal_parking",
            )
        )
    review = CaseReview(outbox)
    ids = [r.case.id for r in review.cases()]
    review.verdict(ids[0], "confirmed", "a")
    got = review.cases
    assert len(got(CaseFilter(camera_id="cam1"))) == 3
    assert len(got(CaseFilter(grid_code="44030510100100"))) == 2
    assert [r.case.type for r in got(CaseFilter(type="street_vendor"))] == ["street_vendor"]
    assert [r.case.id for r in got(CaseFilter(status="confirmed"))] == ids[:1]
    window = CaseFilter(since=T0 + timedelta(seconds=10), until=T0 + timedelta(seconds=30))
    assert [r.case.id for r in got(window)] == ids[1:3]
    newest = got(CaseFilter(newest_first=True, limit=2, offset=1))
    assert [r.case.id for r in newest] == [ids[4], ids[3]]
    with pytest.raises(ReviewError, match="one of"):
        review.verdict(ids[1], "maybe", "a")
    with pytest.raises(ReviewError, match="no case"):
        review.verdict("0000000000", "closed", "a")
    with pytest.raises(ReviewError, match="illegal_construction"):
        review.verdict(ids[1], "closed", "a", rebase=True)
    review.close()


def test_status_keys_round_trip() -> None:
    key = status_key("9ffe9315-03e7-57e6-9621-afc0aedf5e6c", 12)
    assert parse_status_key(key) == ("9ffe9315-03e7-57e6-9621-afc0aedf5e6c", 12)
    for bad in ("abc", "abc:v0", "abc:v", ":v1x"):
        with pytest.raises(ValueError):
            parse_status_key(bad)
