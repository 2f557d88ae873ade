"""Reading YAML files into pydantic models, with one-line errors that name the file,
the line (for syntax errors) and the key path (for validation errors).

`${VAR}`, `${VAR:-default}` and `${file:PATH}` references in string values are
resolved right after parsing (`lookout.base.secrets`); resolved values never appear in
an error message."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lookout.base.errors import ConfigError
from lookout.base.secrets import mask, resolve

M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _without_tags(loc: tuple[int | str, ...], data: Any) -> tuple[int | str, ...]:
    """Drop the tags pydantic puts into the path of a discriminated union
    (`policies[0].illegal_parking.dwell_s` → `policies[0].dwell_s`): a key that the
    mapping at that point does not have but names its `type`."""
    out: list[int | str] = []
    node = data
    for part in loc:
        tag = isinstance(node, dict) and part not in node and node.get("type") == part
        if isinstance(part, str) and tag:
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out)


def format_validation_error(source: str, exc: ValidationError, data: Any = None) -> str:
    """One line: `file: key.path: problem; key2: problem2`. `data`: the validated
    input, to drop discriminated-union tags from the paths."""
    parts = [f"{key}: {msg}" for key, msg in field_errors(exc, data)]
    return f"{source}: " + mask("; ".join(parts))


def field_errors(exc: ValidationError, data: Any = None) -> list[tuple[str, str]]:
    """(key path, problem) per error, e.g. `("zones[0].polygon", "invalid polygon …")`:
    the parts of `format_validation_error`'s line, for a form that shows each error
    beside its field (lookout/console/editor.py). Not masked: callers mask."""
    out = []
    for err in exc.errors():
        # Drop pydantic's union-branch tags such as "function-after[...]".
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        loc = _without_tags(loc, data)
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        out.append((_loc(loc), msg.removeprefix("Value error, ")))
    return out


#: Values a YAML file may hold once its aliases are expanded: far above a config of
#: 10,000 cameras, far below a "billion laughs" alias bomb (docs/OPERATIONS.md "Troubleshooting").
MAX_VALUES = 2_000_000


def _expanded(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values `node` stands for with every alias expanded (each node counted
    once per use, computed once per node)."""
    key = id(node)
    if key not in memo:
        memo[key] = 1  # PyYAML refuses recursive anchors; this only guards the count
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        memo[key] = 1 + sum(_expanded(child, memo) for child in children)
    return memo[key]


def _safe_load(text: str) -> Any:
    """`yaml.safe_load`, refusing a document whose aliases expand to more than
    MAX_VALUES values before anything walks it. libyaml's loader when PyYAML has it:
    ten times faster on a config of 10,000 cameras, and it refuses deep nesting."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded(node, {}) > MAX_VALUES:
            raise yaml.YAMLError(
                f"its aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def read_mapping(path: Path, what: str, *, text: str | None = None) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping and resolve the `${…}`
    references in its values. `what` names the file's role in messages ("config",
    "manifest"). With `text`, parse that as if it were the file's content (the file
    need not exist; relative `${file:…}` paths still start at its folder)."""
    if text is None and not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        data = _safe_load(path.read_text(encoding="utf-8") if text is None else text)
    except RecursionError:
        raise ConfigError(f"{path}: invalid YAML: nesting too deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a YAML mapping at the top level")
    resolved: dict[str, Any] = resolve(data, str(path), path.parent)
    return resolved


def load_model(path: Path, model: type[M], what: str, *, text: str | None = None) -> M:
    """Read `path` (or `text` as its content) and validate it as `model`; raise
    `ConfigError` with one line."""
    data = read_mapping(path, what, text=text)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc, data)) from None
