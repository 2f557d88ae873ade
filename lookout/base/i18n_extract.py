"""pybabel's extractor for the `{{t:key}}` markers of the console's pages (docs/I18N.md):
babel.cfg names it as `[lookout.base.i18n_extract:extract_markers: ...]`."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from typing import IO, Any

#: A marker whose key is written out: `{{t:nav.cameras}}` (not `{{t:nav.{{page}}}}`).
MARKER = re.compile(rb"\{\{t:([A-Za-z0-9_.]+)\}\}")


def extract_markers(
    fileobj: IO[bytes],
    keywords: Mapping[str, Any],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Each `{{t:key}}` of an HTML page: (line, no keyword, key, no comments)."""
    for lineno, line in enumerate(fileobj, 1):
        for m in MARKER.finditer(line):
            yield lineno, "", m.group(1).decode("ascii"), []
