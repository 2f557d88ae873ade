"""Delivery of outbox cases to real sinks: a real redis-server (the shared one, or a
private one for the outages) and a local HTTP endpoint, through the real SQLite outbox.
Outages, restarts and idempotency."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from lookout.base.backoff import BackoffConfig
from lookout.cases.delivery import DeliveryWorker, PermanentError, RemoteSink, TransientError
from lookout.cases.model import DraftCase
from lookout.cases.redis_stream import CaseStreamReader, RedisStreamSink
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.webhook import WebhookSink
from tests.support.case_endpoint import CaseEndpoint
from tests.support.helpers import free_port, wait_until
from tests.support.redis_server import RedisServer

FAST = BackoffConfig(initial_s=0.2, max_s=2.0)
MakeCase = Callable[..., DraftCase]


def stream_ids(url: str, stream: str = "lookout:cases") -> Counter[str]:
    """Case id → number of stream entries carrying it."""
    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        entries: Any = client.xrange(stream, "-", "+")
        return Counter(f[b"id"].decode() for _eid, f in entries)
    finally:
        client.close()


def rows(path: Path, sink: str) -> dict[str, tuple[str, int, str | None]]:
    """case id → (state, attempts, last_error) of one sink, read like an operator would."""
    outbox = SqliteOutbox.open(path)
    try:
        got = outbox.conn.execute(
            "SELECT case_id, state, attempts, last_error FROM deliveries WHERE sink = ?", (sink,)
        ).fetchall()
    finally:
        outbox.close()
    return {c: (s, a, e) for c, s, a, e in got}


def delivered(worker: DeliveryWorker, sink: str, n: int) -> Callable[[], bool]:
    return lambda: worker.stats()[sink]["delivered"] == n


@pytest.mark.slow
@pytest.mark.timing
def test_redis_down_30s_while_producing_loses_and_duplicates_nothing(
    tmp_path: Path, private_redis: RedisServer, make_case: MakeCase
) -> None:
    # A production Redis persists its data; the test server does not by default, so
    # ask it to save on shutdown: the outage must not wipe what was delivered before.
    admin = redis.Redis.from_url(private_redis.url)
    admin.config_set("save", "3600 1")
    admin.close()
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    worker = DeliveryWorker(
        db, [RedisStreamSink(private_redis.url, socket_timeout=1.0)], backoff=FAST, poll_s=0.2
    )
    cases = [make_case(i) for i in range(60)]
    write_s: list[float] = []

    def produce() -> None:  # the detector: ~60 cases over ~35 s at a steady rate
        t0 = time.monotonic()
        for i, case in enumerate(cases):
            t = time.monotonic()
            assert outbox.write(case)
            write_s.append(time.monotonic() - t)
            worker.notify()
            time.sleep(max(0.0, t0 + (i + 1) * 35 / 60 - time.monotonic()))

    worker.start()
    producer = threading.Thread(target=produce)
    start = time.monotonic()
    producer.start()
    try:
        assert wait_until(lambda: worker.stats()["redis"]["delivered"] >= 3, 5)
        private_redis.stop()
        time.sleep(30.0)
        during = worker.stats()["redis"]
        private_redis.start()
        backlog = len(write_s)
        up_at = time.monotonic()
        assert wait_until(lambda: worker.stats()["redis"]["delivered"] >= backlog, 10)
        catch_up_s = time.monotonic() - up_at
        producer.join(30)
        assert wait_until(delivered(worker, "redis", 60), 10), worker.stats()
    finally:
        assert worker.stop(5)
        worker.close()
        outbox.close()

    counts = stream_ids(private_redis.url)
    ids = {c.id for c in cases}
    lost = len(ids - set(counts))
    duplicated = sum(n - 1 for n in counts.values())
    print(
        f"\nredis outage 30 s: delivered={len(ids & set(counts))} lost={lost} "
        f"duplicated={duplicated} foreign={len(set(counts) - ids)}; pending during outage="
        f"{during['pending']}; backlog of {backlog} caught up {catch_up_s:.1f} s after restart; "
        f"max outbox write {max(write_s) * 1000:.1f} ms; total {time.monotonic() - start:.1f} s"
    )
    assert lost == 0 and duplicated == 0 and set(counts) == ids
    assert during["pending"] >= 40  # cases kept coming and waited, none dropped
    assert max(write_s) < 0.5  # detection never waited for Redis
    states = rows(db, "redis")
    assert {s for s, _a, _e in states.values()} == {"delivered"}
    assert max(a for _s, a, _e in states.values()) > 1  # retried with backoff


def test_webhook_500_then_200_delivers_each_case_once(
    tmp_path: Path, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    endpoint.set(500)
    worker = DeliveryWorker(db, [WebhookSink(endpoint.url, timeout_s=2)], backoff=FAST, poll_s=0.1)
    cases = [make_case(i) for i in range(12)]
    worker.start()
    try:
        for case in cases:
            outbox.write(case)
            worker.notify()
        assert wait_until(lambda: len(endpoint.requests()) >= 3, 10)
        assert worker.stats()["webhook"]["pending"] == 12
        endpoint.set(200)
        assert wait_until(delivered(worker, "webhook", 12), 15), worker.stats()
    finally:
        assert worker.stop(5)
        worker.close()
        outbox.close()

    keys = endpoint.accepted_keys()
    assert keys == Counter({c.id: 1 for c in cases})  # each case accepted exactly once
    assert sum(r.status == 500 for r in endpoint.requests()) >= 3
    for r in endpoint.requests():
        assert r.headers["content-type"] == "application/json"
        assert r.json()["id"] == r.key
    assert {s for s, _a, _e in rows(db, "webhook").values()} == {"delivered"}


def test_webhook_400_is_rejected_and_not_retried(
    tmp_path: Path, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    endpoint.set(400)
    worker = DeliveryWorker(db, [WebhookSink(endpoint.url)], backoff=FAST, poll_s=0.05)
    worker.start()
    try:
        for i in range(3):
            outbox.write(make_case(i))
        worker.notify()
        assert wait_until(lambda: worker.stats()["webhook"]["rejected"] == 3, 5)
        time.sleep(1.0)  # many polls and backoff periods: nothing is sent again
        assert len(endpoint.requests()) == 3
        for state, attempts, error in rows(db, "webhook").values():
            assert (state, attempts) == ("rejected", 1)
            assert error is not None and "HTTP 400" in error
        endpoint.set(200)  # the operator fixed the receiving side: re-queue by hand
        assert worker.retry_rejected("webhook") == 3
        worker.notify()
        assert wait_until(delivered(worker, "webhook", 3), 5)
    finally:
        assert worker.stop(5)
        worker.close()
        outbox.close()


def test_restart_resumes_pending_and_picks_up_cases_written_while_down(
    tmp_path: Path, redis_server: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    cases = [make_case(i) for i in range(15)]
    for case in cases[:10]:
        outbox.write(case)
    first_sink = RedisStreamSink(redis_server.url)
    first = DeliveryWorker(db, [first_sink], batch=4)
    assert first.run_once() == 4
    # Killed mid-delivery: case 5 reached Redis but its state was never recorded.
    first_sink.deliver(cases[4].to_json(), cases[4].id)
    first.conn.close()  # SIGKILL: no stop(), no close() of the sink, rows left pending
    del first
    for case in cases[10:]:  # detection went on while no worker ran
        outbox.write(case)

    # The new box also has a webhook configured: it gets every old case too.
    second = DeliveryWorker(
        db, [RedisStreamSink(redis_server.url), WebhookSink(endpoint.url)], backoff=FAST, poll_s=0.1
    )
    assert second.enqueue_new() == 5 + 15  # new cases for redis, all cases for webhook
    second.start()
    try:
        assert wait_until(delivered(second, "redis", 15), 10), second.stats()
        assert wait_until(delivered(second, "webhook", 15), 10), second.stats()
    finally:
        assert second.stop(5)
        second.close()
        first_sink.close()
        outbox.close()
    ids = {c.id for c in cases}
    assert stream_ids(redis_server.url) == Counter(dict.fromkeys(ids, 1))
    assert endpoint.accepted_keys() == Counter(dict.fromkeys(ids, 1))


def test_redis_sink_is_idempotent_and_follows_the_consumer_contract(
    redis_server: RedisServer, make_case: MakeCase
) -> None:
    sink = RedisStreamSink(redis_server.url)
    reader = CaseStreamReader(redis.Redis.from_url(redis_server.url), consumer="c1")
    assert reader.ensure_group("0") and not reader.ensure_group("0")
    case = make_case(1)
    sink.deliver(case.to_json(), case.id)
    sink.deliver(case.to_json(), case.id)  # a retry after a lost reply
    assert sink.add_once(case.id, case.type, case.to_json()) is None
    assert stream_ids(redis_server.url) == Counter({case.id: 1})
    entries = reader.read()
    assert [f["id"] for _e, f in entries] == [case.id]
    fields = entries[0][1]
    assert fields["type"] == "illegal_parking"
    assert DraftCase.model_validate_json(fields["case"]) == case
    assert reader.pending() == 1  # read, not yet stored: stays pending for XAUTOCLAIM
    other = CaseStreamReader(reader.client, consumer="c2")
    assert other.claim_stale(min_idle_ms=0) == [entries[0][0]]
    assert other.ack(entries[0][0]) == 1 and reader.pending() == 0
    reader.client.close()
    sink.close()

    capped = RedisStreamSink(redis_server.url, stream="capped", maxlen=10)
    for i in range(500):
        c = make_case(1000 + i)
        capped.deliver(c.to_json(), c.id)
    assert 10 <= stream_ids(redis_server.url, "capped").total() <= 200  # MAXLEN ~ 10
    capped.close()


def test_a_down_sink_does_not_block_the_other(
    tmp_path: Path, private_redis: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    sinks: list[RemoteSink] = [
        RedisStreamSink(private_redis.url, socket_timeout=1.0),
        WebhookSink(endpoint.url, timeout_s=0.5),
    ]
    worker = DeliveryWorker(db, sinks, backoff=FAST, poll_s=0.1)
    worker.start()
    try:
        private_redis.stop()  # Redis refuses connections: the webhook goes on
        for i in range(10):
            outbox.write(make_case(i))
            worker.notify()
        assert wait_until(delivered(worker, "webhook", 10), 3), worker.stats()
        assert worker.stats()["redis"]["pending"] == 10
        private_redis.start()
        assert wait_until(delivered(worker, "redis", 10), 6), worker.stats()

        endpoint.set(200, delay_s=3.0)  # the webhook hangs: every POST times out
        t = time.monotonic()
        for i in range(10, 20):
            outbox.write(make_case(i))
            worker.notify()
        assert wait_until(delivered(worker, "redis", 20), 2), worker.stats()
        redis_s = time.monotonic() - t
        assert worker.stats()["webhook"]["pending"] == 10
        t = time.monotonic()
        assert worker.stop(5)  # a hanging sink never blocks shutdown for long
        stop_s = time.monotonic() - t
    finally:
        worker.stop(5)
        worker.close()
        outbox.close()
    assert redis_s < 2.0 and stop_s < 1.5
    errors = {e for s, _a, e in rows(db, "webhook").values() if s == "pending"}
    assert any(e and "no answer in 0.5 s" in e for e in errors), errors


def test_backoff_schedules_retries_per_row_and_pauses_the_sink(
    tmp_path: Path, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    for i in range(3):
        outbox.write(make_case(i))
    now = [1000.0]
    cfg = BackoffConfig(initial_s=10.0, max_s=100.0, multiplier=2.0, jitter=0.3)
    worker = DeliveryWorker(db, [WebhookSink(endpoint.url)], backoff=cfg, clock=lambda: now[0])
    endpoint.set(503)
    assert worker.run_once() == 0
    assert len(endpoint.requests()) == 1  # the sink is down: the rest of the batch waits
    state, attempts, error = rows(db, "webhook")[make_case(0).id]
    assert (state, attempts) == ("pending", 1) and error is not None and "HTTP 503" in error
    due = worker.conn.execute("SELECT MAX(next_attempt_at) FROM deliveries").fetchone()[0]
    assert 1007.0 <= due <= 1013.0  # 10 s ± 30 %
    assert worker.run_once() == 0 and len(endpoint.requests()) == 1  # still paused
    endpoint.set(200)
    now[0] += 14.0
    assert worker.run_once() == 3  # oldest first, all three
    assert [r.key for r in endpoint.requests()[1:]] == [make_case(i).id for i in range(3)]
    assert worker.stats() == {"webhook": {"pending": 0, "delivered": 3, "rejected": 0}}
    worker.close()
    outbox.close()


def test_credentials_never_appear_in_errors(
    tmp_path: Path, redis_server: RedisServer, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    admin = redis.Redis.from_url(redis_server.url)
    admin.acl_setuser(
        "lookout", enabled=True, passwords=["+right-pw-1"], keys=["*"], categories=["+@all"]
    )
    admin.close()
    case = make_case(7)
    base = f"127.0.0.1:{redis_server.port}/0"
    for url in (
        f"redis://lookout:wrong-pw-2@{base}",
        f"redis://lookout:right-pw-1@127.0.0.1:{free_port()}/0",
    ):
        sink = RedisStreamSink(url, socket_timeout=0.5)
        with pytest.raises(TransientError) as err:
            sink.deliver(case.to_json(), case.id)
        assert "-pw-" not in str(err.value) and "***" not in repr(sink)
        sink.close()
    good = RedisStreamSink(f"redis://lookout:right-pw-1@{base}")
    good.deliver(case.to_json(), case.id)
    good.close()

    hook = WebhookSink(f"http://alice:web-pw-3@127.0.0.1:{free_port()}/x", timeout_s=0.5)
    with pytest.raises(TransientError) as err:
        hook.deliver(case.to_json(), case.id)
    assert "web-pw-3" not in str(err.value)
    host = endpoint.url.replace("http://", "http://alice:web-pw-3@")
    endpoint.set(401)
    with pytest.raises(PermanentError) as perm:
        WebhookSink(host).deliver(case.to_json(), case.id)
    assert "web-pw-3" not in str(perm.value)
    assert endpoint.requests()[-1].headers["authorization"].startswith("Basic ")

    db = tmp_path / "cases.db"
    outbox = SqliteOutbox.open(db)
    outbox.write(case)
    worker = DeliveryWorker(db, [RedisStreamSink(f"redis://lookout:wrong-pw-2@{base}")])
    worker.run_once()
    _state, _attempts, error = rows(db, "redis")[case.id]
    assert error is not None and "-pw-" not in error and "\n" not in error
    worker.close()
    outbox.close()


def test_webhook_inline_evidence(
    tmp_path: Path, endpoint: CaseEndpoint, make_case: MakeCase
) -> None:
    root = tmp_path / "out"
    (root / "evidence").mkdir(parents=True)
    jpeg = b"\xff\xd8\xff\xe0fake-jpeg\xff\xd9"
    (root / "evidence" / "0003_full.jpg").write_bytes(jpeg)  # the crop is missing
    case = make_case(3)
    sink = WebhookSink(endpoint.url, evidence="inline", evidence_root=root)
    sink.deliver(case.to_json(), case.id)
    body = endpoint.requests()[0].json()
    assert body["id"] == case.id and body["evidence"] == case.evidence
    inline = body["evidence_inline"]
    assert isinstance(inline, list) and len(inline) == 1
    assert inline[0]["path"] == "evidence/0003_full.jpg"
    assert inline[0]["content_type"] == "image/jpeg"
    assert base64.b64decode(inline[0]["data_base64"]) == jpeg
    escape = make_case(4, evidence=["../../etc/passwd"])
    sink.deliver(escape.to_json(), escape.id)
    assert json.loads(endpoint.requests()[1].body)["evidence_inline"] == []
