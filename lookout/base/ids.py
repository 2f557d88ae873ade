"""The alphabet of ids a person gives (camera, zone and preset ids, grid codes, login
names; docs/CONFIGURATION.md):
letters of any script (CJK ideographs included), digits, `-`, `_` and `.`, with at
least one letter, digit or `_` — no markup, no spaces, no control characters, no path
separators. Ids name files, travel in case JSON, sinks, logs and CSV, and are shown in
the console, so the config loader and the zone editor refuse anything else."""

from __future__ import annotations

#: A pattern pydantic checks (Unicode `\w`: letters and digits of every script, `_`).
ID_PATTERN = r"^[\w.-]*\w[\w.-]*$"
#: How the alphabet is described in a field's description and an error.
ID_ALPHABET = "letters, digits, - _ . (CJK ideographs included)"
