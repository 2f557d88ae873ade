"""The command line's parser kit: one-line usage errors, -v/--verbose at every level,
subcommand groups (lookout/cli/main.py builds the parser from the command table)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse's default prints the usage block too; keep to one line.
        self.exit(EXIT_USAGE, f"lookout: error: {message} (see --help)\n")


VERBOSE_HELP = "More log output (-v info, -vv debug); also after the subcommand."


def _verbosity() -> argparse.ArgumentParser:
    """Parent parser of every subcommand: -v/--verbose after the subcommand too. SUPPRESS
    keeps a subcommand from resetting the count given before it."""
    v = argparse.ArgumentParser(add_help=False)
    v.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return v


if TYPE_CHECKING:
    _SubParsersAction = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    _SubParsersAction = argparse._SubParsersAction


class Subcommands(_SubParsersAction):
    """Subcommands that all take -v/--verbose, its counts adding up across levels
    (`lookout -v cases -v list -v` is 3). argparse parses a subcommand into a fresh
    namespace and copies it over the parent's, which would replace the count."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [_verbosity()])
        return super().add_parser(name, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        before = getattr(namespace, "verbose", 0)
        namespace.verbose = 0  # stays 0 unless the subcommand's own -v sets it
        super().__call__(parser, namespace, values, option_string)
        namespace.verbose += before


def iso_time(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None


def subcommands(parser: argparse.ArgumentParser, dest: str) -> Subcommands:
    """The subcommand group of a command (`lookout cases list|verdict|prune`): each
    subcommand gets one-line errors and -v/--verbose like every other parser."""
    group = parser.add_subparsers(dest=dest, required=True, parser_class=Parser, action=Subcommands)
    return cast(Subcommands, group)  # the action class asked for
