"""The event types lookout proposes cases for (the case system's codes are config)."""

from __future__ import annotations

from typing import Literal, get_args

EventType = Literal[
    "illegal_parking",
    "street_vendor",
    "illegal_construction",
    "occupation",
    "non_motor_parking",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
