"""Credentials never reach logs, errors, metric labels or cases.

`redact(text)` masks the user-info of every URL in a string
(`rtsp://admin:secret@host/...` → `rtsp://***@host/...`); `RedactingFilter` applies it
to every log record, including its arguments and exception text.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

from lookout.base.secrets import mask

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


def redact(text: str) -> str:
    """Mask `user:password@` in every URL inside `text`."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Return (url without user-info, username, password)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc)), parts.username, parts.password


class RedactingFilter(logging.Filter):
    """Logging filter that masks URL credentials in messages and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        clean = mask(redact(msg))  # URL credentials, and every `${…}` secret's value
        if clean != msg or record.args:
            record.msg = clean
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask(redact(logging.Formatter().formatException(record.exc_info)))
            record.exc_info = None
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of `logger` (default: the root logger)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
