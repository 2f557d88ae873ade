"""HTTP webhook sink: POST each draft case, and each version of its status, as JSON to
the case system.

Request of a case:

    POST <url>
    Content-Type: application/json
    Idempotency-Key: <case id>
    Lookout-Kind: case
    <extra configured headers>
    body: the case JSON (docs/DELIVERY.md "Case JSON"); with evidence="inline" also
          "evidence_inline": [{"path", "content_type", "data_base64"}, ...]

Request of a status update (an operator's verdict, docs/CASE_STATUS.md):

    POST <status_url, default url>
    Idempotency-Key: <case id>:v<version>
    Lookout-Kind: status
    body: the status update JSON ({"kind": "status", "case_id", "version", ...})

Signed requests (a `secret` is configured, docs/DELIVERY.md "Signed webhooks"):

    X-Lookout-Timestamp: <unix seconds when this attempt was sent>
    X-Lookout-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)>

Every attempt, retries included, is signed afresh with its own timestamp. The receiver
recomputes the HMAC over the raw body, compares it in constant time, and rejects a
timestamp more than 5 minutes away from its clock (a replayed request); a replay within
those 5 minutes carries an Idempotency-Key it has already stored.
examples/webhook_receiver.py is a complete receiver.

The receiver must treat a repeated Idempotency-Key as the same message (answer 2xx,
store nothing new): the delivery worker retries until it sees a 2xx, so a request
whose response was lost is sent again. Each version of a status has its own key.

Answers: 2xx → delivered; 408, 425, 429, 5xx, other non-4xx answers, timeouts and
connection errors → `TransientError` (retried with backoff); any other 4xx →
`PermanentError` (state 'rejected', never retried). User-info in the URL
(`https://user:pass@host/...`) becomes HTTP Basic auth and never appears in errors.
Only the standard library is used (`http.client`), one connection per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import logging
import mimetypes
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from lookout.base.redact import split_credentials
from lookout.cases.delivery import PermanentError, TransientError, one_line

log = logging.getLogger(__name__)

#: 4xx answers that mean "not now" rather than "never".
RETRY_STATUSES = frozenset({408, 425, 429})
TIMESTAMP_HEADER = "X-Lookout-Timestamp"
SIGNATURE_HEADER = "X-Lookout-Signature"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Lookout-Signature` value: `sha256=` + hex HMAC-SHA256 of `<ts>.<body>`."""
    mac = hmac.new(secret, f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookSink:
    """POSTs cases to one URL (see the module docstring)."""

    def __init__(
        self,
        url: str,
        timeout_s: float = 5.0,
        headers: Mapping[str, str] | None = None,
        evidence: Literal["path", "inline"] = "path",
        evidence_root: Path | None = None,
        *,
        name: str = "webhook",
        retry_statuses: frozenset[int] = RETRY_STATUSES,
        status_url: str | None = None,
        secret: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`secret`: sign every request (module docstring); `clock`: epoch seconds of
        the signature timestamps."""
        plain, user, password = split_credentials(url)
        parts = urlsplit(plain)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL must be http(s)://host[:port]/path, got {plain!r}")
        #: Where status updates go: its own sink on the same settings, or this one.
        self._status: WebhookSink | None = None
        if status_url is not None and status_url != url:
            self._status = WebhookSink(
                status_url,
                timeout_s,
                headers,
                name=f"{name}-status",
                retry_statuses=retry_statuses,
                secret=secret,
                clock=clock,
            )
        if evidence not in ("path", "inline"):
            raise ValueError(f"evidence must be 'path' or 'inline', got {evidence!r}")
        if evidence == "inline" and evidence_root is None:
            raise ValueError("evidence='inline' needs evidence_root")
        self.name = name
        self.url = plain  # without credentials
        self.timeout_s = timeout_s
        self.evidence = evidence
        self.evidence_root = evidence_root
        self.retry_statuses = retry_statuses
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._headers = dict(headers or {})
        if secret is not None and not secret:
            raise ValueError("webhook secret is empty (is its ${ENV} variable set?)")
        self._key = secret.encode("utf-8") if secret else None
        self._clock = clock
        self._secrets = [s for s in (password, secret, *self._headers.values()) if s]
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self._headers.setdefault("Authorization", f"Basic {token}")

    def __repr__(self) -> str:
        return f"WebhookSink({self.url!r})"

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return one_line(text)

    def body(self, case_json: str) -> bytes:
        """The request body: the case JSON as is, or with `evidence_inline` added."""
        if self.evidence == "path":
            return case_json.encode("utf-8")
        try:
            case: Any = json.loads(case_json)
        except ValueError as exc:
            raise PermanentError(f"case body is not JSON ({exc})") from None
        if not isinstance(case, dict):
            raise PermanentError("case body is not a JSON object")
        root = (self.evidence_root or Path()).resolve()
        case["evidence_inline"] = self._inline(root, case.get("evidence") or [])
        return json.dumps(case, ensure_ascii=False).encode("utf-8")

    def _inline(self, root: Path, paths: list[Any]) -> list[dict[str, str]]:
        """Evidence files under `root` as base64. A missing file, or a path leading
        outside the root, is left out (logged): retrying would not bring it back."""
        out: list[dict[str, str]] = []
        for rel in paths:
            path = (root / str(rel)).resolve()
            if not path.is_relative_to(root):
                log.warning("webhook %s: evidence %r is outside the evidence root", self.url, rel)
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                log.warning("webhook %s: evidence %r unreadable: %s", self.url, rel, exc)
                continue
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            out.append(
                {
                    "path": str(rel),
                    "content_type": content_type,
                    "data_base64": base64.b64encode(data).decode("ascii"),
                }
            )
        return out

    def deliver(self, case_json: str, case_id: str) -> None:
        """POST the case; return on 2xx, raise TransientError / PermanentError."""
        self._post(self.body(case_json), case_id, "case")

    def deliver_status(self, update_json: str, key: str) -> None:
        """POST a status update with `Idempotency-Key: <case id>:v<version>`."""
        if self._status is not None:
            self._status.deliver_status(update_json, key)
            return
        self._post(update_json.encode("utf-8"), key, "status")

    def _post(self, payload: bytes, key: str, kind: str) -> None:
        headers = {
            **self._headers,
            "Content-Type": "application/json",
            "Idempotency-Key": key,
            "Lookout-Kind": kind,
            "Content-Length": str(len(payload)),
        }
        if self._key is not None:
            ts = int(self._clock())
            headers[TIMESTAMP_HEADER] = str(ts)
            headers[SIGNATURE_HEADER] = sign(self._key, ts, payload)
        conn_cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = conn_cls(self._host, self._port, timeout=self.timeout_s)
        try:
            conn.request("POST", self._target, body=payload, headers=headers)
            resp = conn.getresponse()
            status = resp.status
            detail = resp.read(300).decode("utf-8", "replace")
        except TimeoutError:
            raise TransientError(f"POST {self.url}: no answer in {self.timeout_s:g} s") from None
        except (OSError, http.client.HTTPException) as exc:
            kind = type(exc).__name__
            raise TransientError(f"POST {self.url}: {kind}: {self._clean(str(exc))}") from None
        finally:
            conn.close()
        if 200 <= status < 300:
            return
        msg = f"POST {self.url}: HTTP {status} {self._clean(detail)}".rstrip()
        if 400 <= status < 500 and status not in self.retry_statuses:
            raise PermanentError(msg)
        raise TransientError(msg)

    def close(self) -> None:
        """Nothing to release: one connection per request."""
