"""The exception hierarchy. A `LookoutError` is a user-facing problem: the CLI prints
its message as one line on stderr and exits with code 2."""

from __future__ import annotations


class LookoutError(Exception):
    """Base for problems a user can fix (bad input, missing file, invalid config)."""


class ConfigError(LookoutError):
    """The configuration file is missing, not YAML, or fails validation."""


class ModelError(LookoutError):
    """The model file or its manifest cannot be used."""


class SourceError(LookoutError):
    """A video source cannot be opened or decoded."""


class SinkError(LookoutError):
    """A case sink failed."""
