"""Unit tests of the live-path building blocks (no network)."""

from __future__ import annotations

import logging
import threading

import pytest

from lookout.base.backoff import Backoff, BackoffConfig
from lookout.base.redact import RedactingFilter, redact, split_credentials
from lookout.streams.connection import describe_error
from lookout.streams.frame_queue import FrameQueue


def test_backoff_grows_caps_and_resets() -> None:
    b = Backoff(BackoffConfig(initial_s=0.5, max_s=4, multiplier=2, jitter=0), rng=lambda: 0.5)
    assert [b.next_delay() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    b.reset()
    assert b.next_delay() == 0.5


def test_backoff_jitter_spreads_cameras() -> None:
    import random

    delays = []
    for seed in range(40):
        rng = random.Random(seed)
        b = Backoff(BackoffConfig(initial_s=1, max_s=30, jitter=0.3), rng=rng.random)
        delays.append(b.next_delay())
    assert min(delays) >= 0.7 and max(delays) <= 1.3
    assert len({round(d, 3) for d in delays}) > 30  # not in lockstep


def test_frame_queue_drops_oldest_and_counts() -> None:
    signal = threading.Event()
    q: FrameQueue[int] = FrameQueue(3, "drop_oldest", signal)
    for i in range(5):
        q.put(i)
    assert signal.is_set()
    assert q.dropped == 2 and len(q) == 3
    assert [q.get_nowait() for _ in range(3)] == [2, 3, 4]
    assert q.get(timeout=0.01) is None


def test_frame_queue_get_waits_for_a_put() -> None:
    q: FrameQueue[str] = FrameQueue(2)
    threading.Timer(0.05, q.put, args=("x",)).start()
    assert q.get(timeout=2.0) == "x"


def test_a_full_drop_newest_queue_refuses_before_anything_is_made() -> None:
    q: FrameQueue[int] = FrameQueue(2, "drop_newest")
    assert not q.refuses()
    q.put(1)
    q.put(2)
    assert q.refuses()
    q.refused()  # the producer made nothing, the drop is counted
    assert q.dropped == 1 and len(q) == 2
    assert q.get_nowait() == 1 and not q.refuses()
    old: FrameQueue[int] = FrameQueue(1, "drop_oldest")
    old.put(1)
    assert not old.refuses()  # drop_oldest always takes the newest


def test_frame_queue_oldest_is_the_next_get_left_in_the_queue() -> None:
    q: FrameQueue[int] = FrameQueue(3)
    assert q.oldest() is None
    q.put(1)
    q.put(2)
    assert q.oldest() == 1 and len(q) == 2
    assert q.get_nowait() == 1 and q.oldest() == 2


def test_frame_queue_drop_newest_keeps_old_items() -> None:
    q: FrameQueue[int] = FrameQueue(2, "drop_newest")
    assert q.put(1) and q.put(2) and not q.put(3)
    assert [q.get_nowait(), q.get_nowait()] == [1, 2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:s3cret@127.0.0.1:8554/cam", "rtsp://***@127.0.0.1:8554/cam"),
        (
            "open rtsp://u:p@h/x and http://a:b@c/ failed",
            "open rtsp://***@h/x and http://***@c/ failed",
        ),
        ("rtsp://127.0.0.1/cam", "rtsp://127.0.0.1/cam"),
        ("rtsp://user@host/x", "rtsp://***@host/x"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_split_credentials() -> None:
    assert split_credentials("rtsp://u:p%40ss@127.0.0.1:554/a") == (
        "rtsp://127.0.0.1:554/a",
        "u",
        "p%40ss",
    )
    assert split_credentials("rtsp://127.0.0.1/a") == ("rtsp://127.0.0.1/a", None, None)


def test_log_filter_redacts_messages_args_and_exceptions(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redact")
    handler = caplog.handler
    handler.addFilter(RedactingFilter())
    try:
        logger.warning("cannot open %s", "rtsp://admin:hunter2@127.0.0.1/x")
        try:
            raise OSError("rtsp://admin:hunter2@127.0.0.1/x: 401 Unauthorized")
        except OSError:
            logger.exception("failed")
    finally:
        handler.removeFilter(handler.filters[-1])
    assert "hunter2" not in caplog.text
    assert "rtsp://***@127.0.0.1/x" in caplog.text


def test_describe_error_is_short_and_redacted() -> None:
    assert describe_error(ConnectionRefusedError(111, "Connection refused")) == "connection refused"
    msg = describe_error(OSError("rtsp://a:secret@h/x: 401 Unauthorized"))
    assert "secret" not in msg and "authentication" in msg
    assert "not found" in describe_error(OSError("Server returned 404 Not Found"))
