"""What a person reads, in their language (docs/I18N.md): zh-CN and en message
catalogues, one source of truth for the console (server and JavaScript), the report
and the evidence labels. The CLI, logs and configuration keys stay English.

The catalogues are gettext `.po` files, one per area and language, under
`lookout/base/locale/<lang>/<area>.po` (`zh_CN`, `en`), read with Babel. A message id is a
key (`cases.filter.type`), its text the translation; parameters are written
`{name}` and filled with `str.format` in Python and `LO.t` in JavaScript (the console
serves a language's catalogue as a script: lookout/console/views.py). Both languages
must hold the same keys with the same parameters: `catalogue_problems` says where not
(tests/base/test_i18n.py).

Which language a page speaks: the browser's own choice on the page's switch (a
cookie), else the first supported language of its Accept-Language, else the site's
default (`daemon.http.console.language`).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from importlib import resources
from typing import Literal, cast

from babel.messages.pofile import read_po

Language = Literal["zh-CN", "en"]
LANGUAGES: tuple[Language, ...] = ("zh-CN", "en")
DEFAULT: Language = "en"
#: The folder of each language's catalogues (gettext's locale names).
_FOLDERS: dict[Language, str] = {"zh-CN": "zh_CN", "en": "en"}
#: The cookie the language switch sets (docs/I18N.md).
COOKIE = "lookout_lang"


def normalise(code: str | None) -> Language | None:
    """A supported language for a tag such as `zh`, `zh-cn`, `zh_CN`, `zh-Hans-CN`,
    `en-US`; None for anything else."""
    if not code:
        return None
    tag = code.strip().replace("_", "-").lower()
    if tag == "zh" or tag.startswith(("zh-cn", "zh-hans", "zh-sg")):
        return "zh-CN"
    if tag == "en" or tag.startswith("en-"):
        return "en"
    return None


_QUALITY = re.compile(r"^\s*q\s*=\s*([0-9.]+)\s*$")


def negotiate(accept_language: str | None) -> Language | None:
    """The supported language an Accept-Language header prefers most, or None."""
    ranked: list[tuple[float, int, Language]] = []
    for i, part in enumerate((accept_language or "").split(",")[:32]):
        tag, *params = part.split(";")
        q = 1.0
        for p in params:
            m = _QUALITY.match(p)
            if m:
                try:
                    q = float(m.group(1))
                except ValueError:
                    q = 0.0
        lang = normalise(tag)
        if lang is not None and q > 0:
            ranked.append((-q, i, lang))
    return min(ranked)[2] if ranked else None


def choose(cookie: str | None, accept_language: str | None, site: Language) -> Language:
    """The page's language: the switch's cookie, the browser's, the site's."""
    return normalise(cookie) or negotiate(accept_language) or site


def _catalogue_files(lang: Language) -> list[resources.abc.Traversable]:
    folder = resources.files("lookout.base") / "locale" / _FOLDERS[lang]
    return sorted((f for f in folder.iterdir() if f.name.endswith(".po")), key=lambda f: f.name)


@functools.cache
def messages(lang: Language) -> Mapping[str, str]:
    """Every key of `lang` and its text (all areas merged; read once)."""
    out: dict[str, str] = {}
    for f in _catalogue_files(lang):
        with f.open("rb") as fh:
            for message in read_po(fh, locale=_FOLDERS[lang]):
                if message.id and isinstance(message.id, str) and message.string:
                    out[message.id] = str(message.string)
    return out


def t(lang: Language, key: str, /, **params: object) -> str:
    """The text of `key` in `lang` (English when `lang` lacks it, the key itself when
    both do), its `{name}` parameters filled from `params`."""
    text = messages(lang).get(key) or messages("en").get(key) or key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):
        return text


class Translator:
    """`t` bound to one language: `tr("report.title", site=...)`."""

    def __init__(self, lang: Language) -> None:
        self.lang = lang

    def __call__(self, key: str, /, **params: object) -> str:
        return t(self.lang, key, **params)


def language(value: str) -> Language:
    """A supported language for a config value or `--lang` (ValueError otherwise)."""
    lang = normalise(value)
    if lang is None:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {value!r}")
    return cast(Language, lang)


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def catalogue_problems() -> list[str]:
    """Keys missing in a language, or whose parameters differ between languages."""
    problems = []
    zh, en = messages("zh-CN"), messages("en")
    for key in sorted(set(zh) | set(en)):
        for lang, cat in (("zh-CN", zh), ("en", en)):
            if key not in cat:
                problems.append(f"{key}: missing in {lang}")
        if key in zh and key in en and _fields(zh[key]) != _fields(en[key]):
            problems.append(f"{key}: parameters differ ({_fields(en[key])} / {_fields(zh[key])})")
    return problems
