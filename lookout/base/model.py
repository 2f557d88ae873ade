"""The one strict pydantic base of every settings and data model (docs/ARCHITECTURE.md,
"Configuration"): unknown keys are an error, and a loaded model is never mutated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Forbids unknown keys (a typo is a one-line error naming its key path) and is
    frozen (configuration is shared across threads and never changed at run time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
