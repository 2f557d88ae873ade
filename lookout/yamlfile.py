"""Reading YAML files into pydantic models, with one-line errors that name the file,
the line (for syntax errors) and the key path (for validation errors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from lookout.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line: `file: key.path: problem; key2: problem2`."""
    parts = []
    for err in exc.errors():
        # Drop pydantic's union-branch tags such as "function-after[...]".
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{_loc(loc)}: {msg.removeprefix('Value error, ')}")
    return f"{source}: " + "; ".join(parts)


def read_mapping(path: Path, what: str) -> dict[str, Any]:
    """Parse a YAML file whose top level must be a mapping. `what` names the file's
    role in messages ("config", "manifest")."""
    if not path.is_file():
        raise ConfigError(f"{path}: {what} file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: {what} must be a YAML mapping at the top level")
    return data


def load_model(path: Path, model: type[M], what: str) -> M:
    """Read `path` and validate it as `model`; raise `ConfigError` with one line."""
    data = read_mapping(path, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(str(path), exc)) from None
