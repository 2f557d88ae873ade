"""Fixtures for delivery tests: a local case-system HTTP endpoint (bound to 127.0.0.1)
and a factory of complete `DraftCase` objects. Redis comes from the root conftest
(`redis_server`, shared; `private_redis`, a server of the test's own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from lookout.cases.model import DraftCase
from tests.support.case_endpoint import CaseEndpoint
from tests.support.cases import T0, build_case

__all__ = ["T0", "build_case"]


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
    return build_case
