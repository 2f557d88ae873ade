"""Status updates: an operator's verdict on a draft case, as the message the sinks get
(docs/CASE_STATUS.md).

A draft case is version 0 of its record (`status: "draft"`, docs/DELIVERY.md "Case JSON"). Every
verdict an operator records — confirmed, false alarm, closed — makes the next version,
1, 2, ..., stored in the outbox's `verdicts` table and delivered to every remote sink as
one `StatusUpdate`, exactly once per sink and version, after the case itself and after
the versions before it. Its idempotency key is `<case id>:v<version>`: the Redis sink's
guard key and stream entry `id`, and the webhook's `Idempotency-Key` header.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator

from lookout.base.model import StrictModel

#: What an operator can decide about a draft case.
Verdict = Literal["confirmed", "false_alarm", "closed"]
VERDICTS: tuple[Verdict, ...] = ("confirmed", "false_alarm", "closed")
#: The status of a case: its latest verdict, or "draft" before any; "held" while the
#: second look holds a draft (cases/second_look.py; never stored in `cases.status`).
CaseStatus = Literal["draft", "held", "confirmed", "false_alarm", "closed"]
STATUSES: tuple[CaseStatus, ...] = ("draft", "held", *VERDICTS)

_KEY = re.compile(r"^(?P<case_id>.+):v(?P<version>[1-9]\d*)$")


def status_key(case_id: str, version: int) -> str:
    """The idempotency key of one version of a case's status: `<case id>:v<version>`."""
    if version < 1:
        raise ValueError(f"status versions start at 1, got {version}")
    return f"{case_id}:v{version}"


def parse_status_key(key: str) -> tuple[str, int]:
    """(case id, version) of a key made by `status_key`; ValueError otherwise."""
    m = _KEY.match(key)
    if m is None:
        raise ValueError(f"not a status key: {key!r}")
    return m["case_id"], int(m["version"])


class StatusUpdate(StrictModel):
    """One version of a case's status, as delivered (docs/CASE_STATUS.md)."""

    kind: Literal["status"] = Field(default="status", description="Message kind.")
    case_id: str = Field(description="The case this update is about (its `id`).")
    version: int = Field(ge=1, description="1, 2, ... per case, in the order recorded.")
    status: Verdict = Field(description="The case's status from this version on.")
    previous: CaseStatus = Field(description="The status this version replaces.")
    by: str = Field(min_length=1, max_length=100, description="Who decided (operator).")
    at: datetime = Field(description="When it was decided (ISO 8601 with offset).")
    note: str | None = Field(default=None, max_length=2000, description="Operator's note.")
    rebase: bool = Field(
        default=False,
        description="Construction cases: the current view becomes the zone's reference.",
    )
    type: str = Field(description="Event type of the case.")
    camera_id: str = Field(description="Camera of the case.")
    preset: str | None = Field(description="PTZ preset of the case.")
    zone_id: str = Field(description="Zone of the case.")
    grid_code: str | None = Field(description="Unit grid cell of the case.")

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("needs a UTC offset")
        return value

    @field_validator("by")
    @classmethod
    def _one_line(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("must not be blank")
        return value

    @property
    def key(self) -> str:
        """The idempotency key `<case id>:v<version>`."""
        return status_key(self.case_id, self.version)

    def to_json(self) -> str:
        return self.model_dump_json()
