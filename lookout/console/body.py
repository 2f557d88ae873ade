"""The one way the console reads a request's JSON body and its query numbers
(docs/CONSOLE.md, "Hardening"): bounded before it is parsed, so no input reaches a
handler that could crash it.

- **Size**: at most `MAX_BYTES` (the app's own body limit refuses more first).
- **Depth**: arrays and objects nested at most `MAX_DEPTH` deep, counted by a scan of
  the raw text before `json.loads` (whose recursive decoder would otherwise raise
  RecursionError on a deeply nested body).
- **Numbers**: finite only (`NaN`, `Infinity` and numbers that overflow to them are
  refused), integers of at most 18 digits.
- **Text**: UTF-8.

Anything else is a `BadInput` naming the field, which the handlers turn into one 400.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
#: Query integers (offsets, limits) lie in [0, MAX_QUERY_INT].
MAX_QUERY_INT = 1_000_000_000


class BadInput(ValueError):
    """A request input that is refused: `field` names it, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def nesting(text: str) -> int:
    """The deepest nesting of arrays and objects in JSON `text` (strings skipped),
    without recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _constant(name: str) -> Any:
    raise BadInput("body", f"{name} is not a number this API takes")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput("body", f"number {text[:20]} is out of range")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 18:
        raise BadInput("body", f"number {text[:20]}… has too many digits")
    return int(text)


def parse_json(raw: bytes) -> Any:
    """The JSON value of `raw`, within the bounds above (BadInput otherwise)."""
    if len(raw) > MAX_BYTES:
        raise BadInput("body", f"larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("body", "not UTF-8 text") from None
    if nesting(text) > MAX_DEPTH:
        raise BadInput("body", f"nested more than {MAX_DEPTH} levels")
    try:
        return json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except BadInput:
        raise
    except (ValueError, RecursionError) as exc:
        raise BadInput("body", f"not JSON ({str(exc).splitlines()[0][:80]})") from None


async def json_object(request: Request) -> dict[str, Any]:
    """The request's body as a JSON object (BadInput otherwise)."""
    value = parse_json(await request.body())
    if not isinstance(value, dict):
        raise BadInput("body", "must be a JSON object")
    return value


def query_int(request: Request, name: str, default: int, low: int = 0) -> int:
    """Query parameter `name` as an integer in [low, MAX_QUERY_INT] (BadInput otherwise)."""
    text = request.query_params.get(name, "").strip()
    if not text:
        return default
    if not text.lstrip("-").isdigit() or len(text) > 12:
        raise BadInput(name, "must be a whole number")
    value = int(text)
    if not low <= value <= MAX_QUERY_INT:
        raise BadInput(name, f"must be between {low} and {MAX_QUERY_INT}")
    return value
