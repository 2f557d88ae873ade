"""`${…}` references in configuration values: credentials stay out of the YAML files.

Every YAML file read through `lookout.base.yamlfile` (configs, model manifests, scenarios)
has its string values substituted right after parsing, before validation:

    ${VAR}            environment variable VAR; unset → ConfigError
    ${VAR:-default}   VAR, or `default` when VAR is unset or empty
    ${file:PATH}      contents of the file PATH (a mounted secret, e.g. /run/secrets/x),
                      trailing newlines dropped; a relative PATH is relative to the
                      YAML file's folder
    $${               a literal `${`

`LOOKOUT_ASSETS` (the shared assets folder, `lookout.base.paths.assets_dir`) and
`LOOKOUT_ROOT` (the repository) are variables with a default: they never fail.
Only string values are substituted (not keys), once: a resolved value is not scanned
again (except that `expand_path` expands the paths it is given, so a
path cannot hold a literal `${`). Errors name the file, the key path and the variable
or file, never a value.

Values that came from the environment or a file (not the built-in defaults) are
remembered so that `mask` can hide them in any message; `lookout.base.yamlfile` masks its
validation errors with it.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

from lookout.base.errors import ConfigError
from lookout.base.paths import REPO_ROOT, assets_dir

#: `$${` (escape), a reference `${…}` without braces inside, or a `${` that starts none.
_TOKEN = re.compile(r"\$\$\{|\$\{(?P<body>[^{}]*)\}|\$\{")
_VAR = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)
SYNTAX = "${VAR}, ${VAR:-default}, ${file:PATH}; $${ for a literal ${"

#: Resolved values shorter than this are not masked (masking "1" would mangle messages).
MIN_MASKED_LEN = 4
_known: set[str] = set()
_known_lock = threading.Lock()


def _builtin(name: str) -> str | None:
    """Default of a built-in variable, or None for any other name."""
    if name == "LOOKOUT_ASSETS":
        return str(assets_dir())  # honours LOOKOUT_ASSETS itself
    if name == "LOOKOUT_ROOT":
        return os.environ.get("LOOKOUT_ROOT") or str(REPO_ROOT)
    return None


def _remember(value: str) -> None:
    if len(value) >= MIN_MASKED_LEN:
        with _known_lock:
            _known.add(value)


def mask(text: str) -> str:
    """`text` with every resolved secret value replaced by `***`."""
    with _known_lock:
        values = sorted(_known, key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, "***")
    return text


def _read_secret_file(spec: str, base: Path) -> str:
    """The contents of a `${file:…}` secret. Raises ValueError (no contents in it)."""
    if not spec.strip():
        raise ValueError("${file:} needs a path")
    path = Path(spec).expanduser()
    if not path.is_absolute():
        path = base / path
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ValueError(f"secret file {path} not found") from None
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror or 'error'}") from None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"secret file {path} is not UTF-8 text") from None
    value = value.rstrip("\r\n")
    _remember(value)
    return value


def _resolve_one(body: str, base: Path) -> str:
    if body.startswith("file:"):
        return _read_secret_file(body[len("file:") :], base)
    m = _VAR.fullmatch(body)
    if m is None:
        raise ValueError(f"invalid ${{…}} reference (use {SYNTAX})")
    name, default = m.group("name"), m.group("default")
    builtin = _builtin(name)
    if builtin is not None:
        return builtin
    value = os.environ.get(name)
    if default is not None and not value:
        return default
    if value is None:
        raise ValueError(f"environment variable {name} is not set")
    _remember(value)
    return value


def substitute(value: str, base: Path) -> str:
    """Resolve every reference in one string. Raises ValueError with a message that
    names the variable or file but never a value."""
    if "$" not in value:
        return value

    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$${":
            return "${"
        body = m.group("body")
        if body is None:  # a `${` that starts no reference
            raise ValueError(f"unterminated or nested ${{ (use {SYNTAX})")
        return _resolve_one(body, base)

    return _TOKEN.sub(repl, value)


def _key(path: str, part: int | str) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def resolve(data: Any, source: str, base: Path) -> Any:
    """A copy of parsed YAML `data` with the references in its string values resolved.
    `source` names the file in errors; `base` is its folder (for relative `${file:…}`).
    Raises `ConfigError`: `source: key.path: problem`."""

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            try:
                return substitute(node, base)
            except ValueError as exc:
                raise ConfigError(f"{source}: {path or '(top level)'}: {exc}") from None
        if isinstance(node, dict):
            return {k: walk(v, _key(path, str(k))) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, _key(path, i)) for i, v in enumerate(node)]
        return node

    return walk(data, "")


def expand_path(value: str, base: Path) -> Path:
    """Expand `${…}` references (`substitute`: `${LOOKOUT_ASSETS}`,
    `${LOOKOUT_ROOT}`, any `${VAR}`; values read from YAML files arrive already
    expanded) and `~`, then resolve a relative path against `base` (the folder of the
    file that named it). Raises ConfigError for an unset variable."""
    try:
        value = substitute(value, base)
    except ValueError as exc:
        raise ConfigError(f"{value}: {exc}") from None
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    return path.resolve()
