"""Signed webhook deliveries (issue 16): lookout's real webhook sink against the README's
example receiver (examples/webhook_receiver.py), on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.webhook_receiver import TOLERANCE_S, Receiver, SignatureError, verify
from lookout.base.paths import REPO_ROOT
from lookout.base.redact import install_redaction
from lookout.cases.delivery import PermanentError
from lookout.cases.model import DraftCase
from lookout.cases.remote import build_delivery
from lookout.cases.sinks import SqliteOutbox
from lookout.cases.status import StatusUpdate
from lookout.cases.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSink, sign
from lookout.config.app import load_config
from tests.support.config import MakeConfig

SECRET = "whsec-test-3f9c1a7e"
MakeCase = Callable[..., DraftCase]


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver(SECRET.encode()).start()
    try:
        yield r
    finally:
        r.stop()


def test_verify_accepts_a_signed_body_and_rejects_changes() -> None:
    body = b'{"id": "c1", "type": "illegal_parking"}'
    now = 1_780_000_000
    good = sign(SECRET.encode(), now, body)
    assert good.startswith("sha256=") and len(good) == len("sha256=") + 64
    verify(SECRET.encode(), str(now), good, body, now=now + 10)  # no exception

    rejected = {
        "tampered body": (str(now), good, body.replace(b"c1", b"c2"), now),
        "old timestamp": (str(now), good, body, now + TOLERANCE_S + 1),
        "future timestamp": (str(now), good, body, now - TOLERANCE_S - 1),
        "timestamp changed": (str(now + 1), good, body, now),
        "other secret": (str(now), sign(b"other", now, body), body, now),
        "no signature": (str(now), None, body, now),
        "no timestamp": (None, good, body, now),
        "not sha256": (str(now), good.replace("sha256=", "sha1="), body, now),
    }
    for why, (ts, sig, data, at) in rejected.items():
        with pytest.raises(SignatureError):
            verify(SECRET.encode(), ts, sig, data, now=at)
            pytest.fail(f"accepted: {why}")


def test_signed_case_and_status_are_verified_and_accepted(
    receiver: Receiver, make_case: MakeCase
) -> None:
    sink = WebhookSink(receiver.url, timeout_s=2, secret=SECRET)
    case = make_case(1)
    sink.deliver(case.to_json(), case.id)
    sink.deliver(case.to_json(), case.id)  # a retry after a lost answer: stored once
    update = StatusUpdate(
        case_id=case.id,
        version=1,
        status="confirmed",
        previous="draft",
        by="op-1",
        at=case.confirmed_at,
        type=case.type,
        camera_id=case.camera_id,
        preset=case.preset,
        zone_id=case.zone_id,
        grid_code=case.grid_code,
    )
    sink.deliver_status(update.to_json(), update.key)
    assert receiver.answers == [(200, "stored"), (200, "already stored"), (200, "stored")]
    assert receiver.stored[case.id]["id"] == case.id
    assert receiver.stored[update.key]["status"] == "confirmed"


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    host, port = url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=2)
    try:
        conn.request("POST", "/cases", body=body, headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()


def test_tampered_body_and_old_timestamp_are_rejected_over_http(
    receiver: Receiver, make_case: MakeCase
) -> None:
    case = make_case(2)
    body = case.to_json().encode()
    now = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "Idempotency-Key": case.id,
        TIMESTAMP_HEADER: str(now),
        SIGNATURE_HEADER: sign(SECRET.encode(), now, body),
    }
    tampered = body.replace(b'"dwell_s":300.0', b'"dwell_s":30.0')
    assert tampered != body
    assert _post(receiver.url, tampered, headers) == 401
    assert receiver.answers[-1] == (401, "signature does not match")

    # A captured request replayed 6 minutes later: lookout's sink on a clock 6 min behind.
    stale = WebhookSink(receiver.url, timeout_s=2, secret=SECRET, clock=lambda: now - 360)
    with pytest.raises(PermanentError, match="HTTP 401"):
        stale.deliver(case.to_json(), case.id)
    assert receiver.answers[-1][0] == 401 and "timestamp" in receiver.answers[-1][1]

    wrong = WebhookSink(receiver.url, timeout_s=2, secret="not-the-secret")
    with pytest.raises(PermanentError, match="HTTP 401"):
        wrong.deliver(case.to_json(), case.id)
    assert receiver.stored == {}  # none of them was stored

    assert _post(receiver.url, body, headers) == 200  # the untouched request is good
    assert list(receiver.stored) == [case.id]


def test_secret_from_env_through_config_and_never_logged(
    tmp_path: Path,
    receiver: Receiver,
    make_case: MakeCase,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    make_config: MakeConfig,
) -> None:
    monkeypatch.setenv("LOOKOUT_TEST_HOOK_SECRET", SECRET)
    secret = "${LOOKOUT_TEST_HOOK_SECRET}"
    config = make_config(
        [{"id": "cam"}],
        name="site.yaml",
        sinks=[
            {"type": "sqlite"},
            {"type": "webhook", "url": receiver.url, "secret": secret},
            {
                "type": "webhook",
                "name": "wrong",
                "url": receiver.url,
                "secret": f"{secret}-but-changed",
            },
        ],
    )
    cfg = load_config(config)
    assert SECRET not in repr(cfg) and SECRET not in cfg.model_dump_json()
    out = tmp_path / "out"
    outbox = SqliteOutbox.open(out / "cases.db")
    case = make_case(3)
    outbox.write(case)
    worker = build_delivery(cfg.sinks, cfg.delivery, out)
    assert worker is not None
    install_redaction(logging.getLogger())
    with caplog.at_level(logging.DEBUG):
        worker.run_once()
    stats = worker.stats()
    assert stats["webhook"]["delivered"] == 1, stats
    assert stats["wrong"]["rejected"] == 1, stats  # its signature did not verify
    assert json.loads(json.dumps(receiver.stored[case.id]))["id"] == case.id
    assert SECRET not in caplog.text
    errors = outbox.conn.execute("SELECT last_error FROM deliveries").fetchall()
    assert SECRET not in repr(errors)
    worker.close()
    outbox.close()


def test_docs_show_the_example_receivers_verify() -> None:
    readme = (REPO_ROOT / "docs" / "DELIVERY.md").read_text()
    section = re.split(r"\n##+ ", readme.split("### Signed webhooks", 1)[1], maxsplit=1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    assert blocks, "docs/DELIVERY.md's 'Signed webhooks' has no python example"
    example = (REPO_ROOT / "examples" / "webhook_receiver.py").read_text()
    assert blocks[0] in example, (
        "docs/DELIVERY.md's verify() differs from examples/webhook_receiver.py"
    )
    assert "examples/webhook_receiver.py" in section
