"""A local case-system webhook endpoint for delivery tests: a real HTTP server in a
thread, bound to 127.0.0.1, that records every POST and answers what the test says."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


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
