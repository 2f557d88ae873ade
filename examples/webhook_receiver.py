"""A case system's webhook endpoint that verifies lookout's signed deliveries
(docs/DELIVERY.md "Signed webhooks"). Standard library only: copy it, or port `verify`.

    LOOKOUT_WEBHOOK_SECRET=... python examples/webhook_receiver.py --port 8080

lookout signs each request (lookout/cases/webhook.py) with the shared secret:

    X-Lookout-Timestamp: <unix seconds when the request was sent>
    X-Lookout-Signature: sha256=<hex HMAC-SHA256(secret, b"<timestamp>." + raw body)>

The receiver recomputes the HMAC over the raw body it received, compares in constant
time, and rejects a timestamp more than 5 minutes from its own clock, so a captured
request cannot be replayed later. Within those 5 minutes a replay carries an
Idempotency-Key already stored, and is answered 200 without storing anything (lookout
retries until it sees a 2xx, so the same key also arrives after a lost answer).

Answers: 200 stored (or already stored); 401 bad or missing signature, or a stale
timestamp (lookout then marks the case 'rejected' and does not retry: fix the secret or
the clock, then re-queue); 400 not JSON; 413 too large.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOLERANCE_S = 300  # 5 minutes
MAX_BODY = 64 * 1024 * 1024  # inline evidence can make a case a few MB


class SignatureError(ValueError):
    """The request is not from lookout, was changed, or is too old."""


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> None:
    """Check one request's `X-Lookout-Timestamp` and `X-Lookout-Signature` headers
    against its raw `body`. Returns None when it is good; raises SignatureError."""
    if not timestamp or not signature:
        raise SignatureError("missing X-Lookout-Timestamp or X-Lookout-Signature")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError("X-Lookout-Timestamp is not an integer") from None
    age = (time.time() if now is None else now) - ts
    if abs(age) > tolerance_s:
        raise SignatureError(f"timestamp is {age:+.0f} s from now (limit {tolerance_s:g} s)")
    scheme, _, given = signature.partition("=")
    if scheme != "sha256":
        raise SignatureError("X-Lookout-Signature must be sha256=<hex>")
    expected = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.strip().lower()):
        raise SignatureError("signature does not match")


class Receiver:
    """An HTTP server on `host:port` (port 0: a free one) that verifies each POST and
    stores each verified message once per Idempotency-Key."""

    def __init__(
        self,
        secret: bytes,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        self.secret = secret
        self.clock = clock
        #: Idempotency-Key → the stored message (a real system: its database).
        self.stored: dict[str, dict[str, Any]] = {}
        #: (HTTP status, reason) of every request, in order.
        self.answers: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/cases"

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, str]:
        """Verify and store one request (headers with lower-case names)."""
        try:
            verify(
                self.secret,
                headers.get("x-lookout-timestamp"),
                headers.get("x-lookout-signature"),
                body,
                now=self.clock(),
            )
        except SignatureError as exc:
            return 401, str(exc)
        try:
            message = json.loads(body)
        except ValueError:
            return 400, "body is not JSON"
        key = headers.get("idempotency-key") or ""
        with self._lock:
            if key in self.stored:
                return 200, "already stored"
            self.stored[key] = message
        return 200, "stored"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                if size > MAX_BODY:
                    status, reason = 413, "body too large"
                else:
                    body = self.rfile.read(size)
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    status, reason = receiver.handle(headers, body)
                with receiver._lock:
                    receiver.answers.append((status, reason))
                reply = json.dumps({"status": status, "reason": reason}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: object) -> None:
                pass  # a real receiver logs; never the secret

        return Handler

    def start(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    secret = os.environ.get("LOOKOUT_WEBHOOK_SECRET", "")
    if not secret:
        print("set LOOKOUT_WEBHOOK_SECRET to the webhook secret", file=sys.stderr)
        return 2
    receiver = Receiver(secret.encode(), args.host, args.port)
    print(f"listening on {receiver.url}", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        receiver.server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
