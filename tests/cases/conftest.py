"""Fixtures for delivery tests: a private Redis, a local case-system HTTP endpoint, and
a factory of complete `DraftCase` objects. Everything binds to 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest

from lookout.cases.model import DraftCase, Location
from tests.support.redis_server import RedisServer

T0 = datetime(2025, 5, 6, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
TEST_NAMESPACE = uuid.UUID("0b6f5a8e-3c1d-4e8b-9b1f-5c2a7d9e4f10")


@dataclass(frozen=True)
class Received:
    """One request the case-system endpoint saw, and the status it answered."""

    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def key(self) -> str | None:
        return self.headers.get("idempotency-key")

    def json(self) -> dict[str, object]:
        data = json.loads(self.body)
        assert isinstance(data, dict)
        return data


class CaseEndpoint:
    """A real HTTP server in a thread that records every POST and answers `status`
    (switchable at run time: 500 → 200, 400, ...) after an optional `delay_s`."""

    def __init__(self) -> None:
        self.status = 200
        self.delay_s = 0.0
        self.received: list[Received] = []
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size)
                with endpoint._lock:
                    status, delay = endpoint.status, endpoint.delay_s
                if delay:
                    time.sleep(delay)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with endpoint._lock:
                    endpoint.received.append(Received(self.path, headers, body, status))
                reply = json.dumps({"status": status}).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:  # the client gave up (timeout) first
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/cases"

    def set(self, status: int, delay_s: float = 0.0) -> None:
        with self._lock:
            self.status, self.delay_s = status, delay_s

    def requests(self) -> list[Received]:
        with self._lock:
            return list(self.received)

    def accepted_keys(self) -> Counter[str]:
        """Idempotency-Key → how many 2xx answers it got (exactly once = 1)."""
        return Counter(r.key or "" for r in self.requests() if 200 <= r.status < 300)

    def start(self) -> CaseEndpoint:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def redis_server() -> Iterator[RedisServer]:
    """A private `redis-server` on a free loopback port (stop()/start() keep the port)."""
    with RedisServer() as server:
        yield server


@pytest.fixture()
def endpoint() -> Iterator[CaseEndpoint]:
    """The case system's webhook endpoint, answering 200 until told otherwise."""
    server = CaseEndpoint().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def make_case() -> Callable[..., DraftCase]:
    """`make_case(i, **overrides)`: a complete, valid draft case with a stable id."""

    def build(i: int, **overrides: object) -> DraftCase:
        confirmed = T0 + timedelta(seconds=10 * i)
        fields: dict[str, object] = dict(
            id=str(uuid.uuid5(TEST_NAMESPACE, f"case-{i}")),
            type="illegal_parking",
            code="09001",
            code_name="机动车乱停放",
            camera_id="cam-roof-1",
            preset="A",
            zone_id="no-parking-1",
            grid_code="44030510100101",
            first_seen=confirmed - timedelta(seconds=300),
            confirmed_at=confirmed,
            last_seen=confirmed,
            dwell_s=300.0,
            bbox=[100.0, 200.0, 180.0, 260.0],
            location=Location(lon=113.93 + i * 1e-5, lat=22.53),
            confidence=0.87,
            track_id=i,
            object_class="car",
            support=[],
            evidence=[f"evidence/{i:04d}_full.jpg", f"evidence/{i:04d}_crop.jpg"],
        )
        fields.update(overrides)
        return DraftCase.model_validate(fields)

    return build
