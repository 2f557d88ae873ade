"""The one writer of configuration files: read the round-trip document, edit it,
validate the result, replace the file atomically.

    def set_zones(doc: ConfigDocument) -> None:
        doc.set(["cameras", doc.camera_index("gate-east"), "zones"], zones)

    result = edit_config(Path("site.yaml"), set_zones)   # result.config: the AppConfig

What it guarantees:

- The file is parsed with ruamel.yaml in round-trip mode: comments, key order,
  quoting, flow/block style and `${…}` references stay exactly as written. Outside
  the edited section the bytes do not change (the indentation style is taken from
  the file; comment lines that ruamel would drop or misplace next to an edit are put
  back — `_keep_comments`).
- `${…}` references are resolved only to validate (`load_config(path, text=...)`,
  the same validation as loading), never written: a resolved secret never reaches
  the file.
- The edited text is validated *before* anything is written. An invalid edit raises
  `ConfigError` and leaves the file untouched.
- The new text goes to a temporary file in the same folder (same permissions),
  is synced, the previous file is copied to `<file>.bak`, then `os.replace` puts
  the new one in place: a reader never sees half a file. A symlinked config is
  written through to its target. If the file changed since it was read, nothing is
  written.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import io
import logging
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, SingleQuotedScalarString

from lookout.base.errors import ConfigError

if TYPE_CHECKING:
    from lookout.config.app import AppConfig

log = logging.getLogger(__name__)
T = TypeVar("T")
KeyPath = str | Sequence[str | int]

#: Indentation styles tried, in order (mapping, sequence, dash offset); the first that
#: reproduces the unedited file exactly is used. (2, 4, 2) is this project's style,
#: (2, 2, 0) PyYAML's.
_INDENTS: tuple[tuple[int, int, int], ...] = (
    (2, 4, 2),
    (2, 2, 0),
    (4, 4, 2),
    (4, 6, 4),
    (4, 4, 0),
    (3, 3, 0),
    (3, 5, 3),
)
_KEY_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def parse_key_path(key: KeyPath) -> list[str | int]:
    """`"cameras[0].calibration.default"` → `["cameras", 0, "calibration", "default"]`
    (the form of error messages). A sequence is taken as is: use it for keys that
    contain `.` or `[`."""
    if not isinstance(key, str):
        return list(key)
    parts: list[str | int] = []
    pos = 0
    while pos < len(key):
        if parts and key[pos] == ".":
            pos += 1
        m = _KEY_PART.match(key, pos)
        if m is None:
            raise ValueError(f"invalid key path {key!r}")
        parts.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        pos = m.end()
    if not parts:
        raise ValueError("empty key path")
    return parts


def format_key_path(parts: Sequence[str | int]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(top level)"


def flow(value: Any) -> Any:
    """`value` (lists and dicts, nested) marked for flow style: `[1, 2]`, `{a: 1}`."""
    if isinstance(value, dict):
        out: Any = CommentedMap((k, flow(v)) for k, v in value.items())
    elif isinstance(value, list | tuple):
        out = CommentedSeq(flow(v) for v in value)
    else:
        return value
    out.fa.set_flow_style()
    return out


def text_like(old: Any, value: str) -> Any:
    """`value` as a string scalar quoted as `old` (the file's scalar it replaces) was:
    '…' or "…" kept; otherwise "…", so that a code of digits reads back as text."""
    if isinstance(old, SingleQuotedScalarString):
        return SingleQuotedScalarString(value)
    return DoubleQuotedScalarString(value)


def _round_trip(value: Any) -> Any:
    """Plain dicts and lists → ruamel's commented types (block style); values that
    are commented types already (e.g. from `flow`) are kept as they are."""
    if isinstance(value, CommentedMap | CommentedSeq):
        return value
    if isinstance(value, dict):
        return CommentedMap((k, _round_trip(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return CommentedSeq(_round_trip(v) for v in value)
    return value


def _yaml(indent: tuple[int, int, int]) -> YAML:
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 100_000  # never re-wrap long lines
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    return y


class ConfigDocument:
    """A YAML file loaded for a round-trip edit. Edit `data` (ruamel's
    `CommentedMap`) in place, or use `set` / `delete`; `render` gives the new text."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.original = text
        self.exact = False  # whether ruamel reproduces the unedited text byte for byte
        try:
            data = _yaml(_INDENTS[0]).load(text)
        except YAMLError as exc:
            where = ""
            if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
                where = f":{exc.problem_mark.line + 1}:{exc.problem_mark.column + 1}"
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(f"{path}{where}: invalid YAML: {problem}") from None
        if not isinstance(data, CommentedMap):
            raise ConfigError(f"{path}: config must be a YAML mapping at the top level")
        self.data: CommentedMap = data
        self._yaml = _yaml(_INDENTS[0])
        for indent in _INDENTS:
            y = _yaml(indent)
            if self._dump(y, self.data) == text:
                self._yaml, self.exact = y, True
                break

    @classmethod
    def read(cls, path: str | Path) -> ConfigDocument:
        """Load `path` (a symlink is followed: its target is what gets written)."""
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"{p}: config file not found")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{p}: cannot read config: {exc}") from None
        return cls(p, text)

    @staticmethod
    def _dump(y: YAML, data: Any) -> str:
        buf = io.StringIO()
        y.dump(data, buf)
        return buf.getvalue()

    # --- navigation and edits ----------------------------------------------------------

    def _missing(self, parts: Sequence[str | int], i: int) -> ConfigError:
        return ConfigError(f"{self.path}: {format_key_path(parts[: i + 1])}: not in the file")

    def get(self, key: KeyPath) -> Any:
        """The value at `key` (round-trip types); ConfigError when absent."""
        parts = parse_key_path(key)
        node: Any = self.data
        for i, part in enumerate(parts):
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                raise self._missing(parts, i) from None
        return node

    def set(self, key: KeyPath, value: Any, *, insert_before: Sequence[str] = ()) -> None:
        """Set the value at `key`. Missing mappings on the way are created; a key that
        exists keeps its place, a new one goes before the first of `insert_before`
        present in its mapping, else last. Plain dicts and lists are written in block
        style; wrap them in `flow` for `[x, y]` style."""
        parts = parse_key_path(key)
        value = _round_trip(copy.deepcopy(value))  # no shared nodes: no YAML anchors
        node: Any = self.data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            new = value if last else CommentedMap()
            if isinstance(node, CommentedMap) and isinstance(part, str):
                if part in node:
                    if last or node[part] is None:  # `key:` with no value: a new mapping
                        node[part] = new
                    node = node[part]
                    continue
                pos = next((list(node).index(k) for k in insert_before if k in node), len(node))
                node.insert(pos, part, new)
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int):
                if not -len(node) <= part < len(node):
                    raise self._missing(parts, i)
                if last:
                    node[part] = new
                node = node[part]
            else:
                raise self._missing(parts, i)

    def delete(self, key: KeyPath) -> None:
        """Remove the key (or list item) at `key`; ConfigError when absent."""
        parts = parse_key_path(key)
        parent = self.get(parts[:-1]) if len(parts) > 1 else self.data
        try:
            del parent[parts[-1]]
        except (KeyError, IndexError, TypeError):
            raise self._missing(parts, len(parts) - 1) from None

    def camera_index(self, camera_id: str) -> int:
        """Index of the camera `camera_id` in `cameras`; ConfigError when absent."""
        cameras = self.data.get("cameras")
        if isinstance(cameras, list):
            for i, cam in enumerate(cameras):
                if isinstance(cam, dict) and cam.get("id") == camera_id:
                    return i
        raise ConfigError(f"{self.path}: camera {camera_id!r} is not in the config")

    # --- output ------------------------------------------------------------------------

    def render(self) -> str:
        """The text of the edited document: the original bytes outside the edits."""
        dumped = self._dump(self._yaml, self.data)
        if dumped == self.original:
            return dumped
        if not self.exact:
            log.warning(
                "%s: indentation not recognised; lines outside the edit may be re-indented",
                self.path,
            )
        kept = _keep_comments(self.original, dumped)
        try:
            same = yaml.safe_load(kept) == yaml.safe_load(dumped)
        except yaml.YAMLError:
            same = False
        return kept if same else dumped


@dataclass(frozen=True)
class Written(Generic[T]):
    """What `write_document` did."""

    value: T  # what the validator returned (the AppConfig for `edit_config`)
    path: Path  # the file written (a symlink's target)
    changed: bool  # False: the edit changed nothing, no file was touched
    backup: Path | None  # the previous version, when changed


def write_document(
    doc: ConfigDocument, validate: Callable[[Path, str], T], *, backup: bool = True
) -> Written[T]:
    """Validate `doc`'s rendered text with `validate(path, text)` (which raises
    ConfigError), then replace the file atomically, keeping `<file>.bak`. Nothing is
    written when validation fails or when the file changed since it was read."""
    text = doc.render()
    try:
        value = validate(doc.path, text)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (not written; {doc.path} is unchanged)") from None
    target = doc.path.resolve()
    if text == doc.original:
        return Written(value, target, changed=False, backup=None)
    try:
        current = target.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{doc.path}: cannot read config: {exc}") from None
    if current != doc.original:
        raise ConfigError(f"{doc.path}: changed by someone else while editing; not written")
    bak = target.with_name(target.name + ".bak") if backup else None
    _atomic_write(target, text, bak)
    return Written(value, target, changed=True, backup=bak)


def validate_config(path: Path, text: str) -> AppConfig:
    """`text` as the config file `path`: the validation `load_config` does."""
    from lookout.config.app import load_config

    return load_config(path, text=text)


def edit_config(
    path: str | Path, edit: Callable[[ConfigDocument], None], *, backup: bool = True
) -> Written[AppConfig]:
    """Read the config at `path`, apply `edit` to its round-trip document, validate
    the result as an AppConfig and write it (see the module docstring)."""
    doc = ConfigDocument.read(path)
    edit(doc)
    return write_document(doc, validate_config, backup=backup)


def _atomic_write(target: Path, text: str, bak: Path | None) -> None:
    mode = stat.S_IMODE(target.stat().st_mode)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if bak is not None:
            shutil.copy2(target, bak)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"{target}: cannot write config: {exc}") from None
    with contextlib.suppress(OSError):  # make the rename durable
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# --- keeping comments next to edits ------------------------------------------------------
#
# ruamel.yaml keeps a comment on the node *before* it. So replacing a value drops the
# comment lines that followed it (they introduced the next key), and a key inserted
# after a node lands below the comments that introduce the next key. `_keep_comments`
# compares the original text with ruamel's output line by line and, at each change:
# keeps the comment/blank lines that ended a replaced section (after the new lines),
# moves inserted lines above comment lines that belong to the line that follows them,
# and keeps end-of-line comments on lines whose content did not change.


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _is_filler(line: str) -> bool:
    return not line.strip() or _is_comment(line)


def _content(line: str) -> str:
    """`line` without its end-of-line comment (a `#` after a space, outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i].rstrip()
    return line.rstrip()


def _keep_eol_comments(old: Sequence[str], new: Sequence[str]) -> list[str]:
    commented: dict[str, list[str]] = {}
    for line in old:
        content = _content(line)
        if content.strip() and content != line.rstrip():
            commented.setdefault(content, []).append(line)
    out = []
    for line in new:
        same = commented.get(line.rstrip())
        out.append(same.pop(0) if same else line)
    return out


def _keep_comments(original: str, dumped: str) -> str:
    old = original.splitlines(keepends=True)
    new = dumped.splitlines(keepends=True)
    out: list[str] = []
    floor = 0  # lines before this index came from an earlier change: never move past them
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out.extend(old[i1:i2])
            continue
        added = new[j1:j2]
        if tag == "insert":
            following = next((ln for ln in old[i2:] if not _is_filler(ln)), "")
            limit = _indent(following)
            k = len(out)
            while k > floor and (
                not out[k - 1].strip() or (_is_comment(out[k - 1]) and _indent(out[k - 1]) <= limit)
            ):
                k -= 1
            first = next((ln for ln in added if not _is_filler(ln)), "")
            if (k == floor or not _is_comment(out[k - 1])) and _indent(first) <= limit:
                # A sibling of the line that follows: the blank lines before it stay
                # above. (The end of a nested block goes right after its last line.)
                while k < len(out) and not out[k].strip():
                    k += 1
            out[k:k] = added
            floor = k + len(added)
            continue
        removed = old[i1:i2]
        n = len(removed)
        while n > 0 and _is_filler(removed[n - 1]):
            n -= 1
        out.extend(_keep_eol_comments(removed[:n], added))
        out.extend(removed[n:])
        floor = len(out)
    return "".join(out)
