"""The command table (lookout/cli/commands.py) is the one list of commands: the parser,
`lookout --help` and lookout/cli/main.py's docstring all show every entry of it."""

from __future__ import annotations

import re

import pytest

import lookout.cli.main as cli_main
from lookout.cli.commands import COMMANDS
from lookout.cli.main import build_parser, main


def test_every_command_module_has_add_arguments_and_run() -> None:
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    for command in COMMANDS:
        module = command.load()
        assert callable(module.add_arguments), command.module
        assert callable(module.run), command.module


def test_help_and_the_docstring_list_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    shown = capsys.readouterr().out
    doc = cli_main.__doc__ or ""
    listed = re.findall(r"^  (\w+) ", doc.split("Commands:", 1)[1], re.M)
    assert listed == [c.name for c in COMMANDS]
    for command in COMMANDS:
        assert re.search(rf"^\s+{command.name}\s+{re.escape(command.help[:20])}", shown, re.M), (
            command.name
        )


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
def test_each_command_has_its_own_help(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, "--help"])
    assert exc.value.code == 0
    assert f"lookout {name}" in capsys.readouterr().out


def test_a_command_group_without_its_subcommand_is_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["cases"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("lookout: error:"), err
