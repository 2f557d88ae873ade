"""The bottom layer every other layer may import: errors, paths, YAML loading,
redaction, backoff, event types and box geometry (docs/ARCHITECTURE.md, "Package map")."""
