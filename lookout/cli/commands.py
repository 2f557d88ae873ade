"""The command table: every `lookout` command, its one-line help and the module under
lookout/cli/ that holds it. Each such module has `add_arguments(parser)` and
`run(args) -> int`; a command with subcommands (`cases list|verdict|prune`) adds them
in its own `add_arguments`. `lookout --help` lists this table, and tests/cli checks
that lookout/cli/main.py's docstring does too."""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Protocol, cast


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    module: str  # lookout.cli.<module>

    def load(self) -> CommandModule:
        return cast(CommandModule, importlib.import_module(f"lookout.cli.{self.module}"))


COMMANDS: tuple[Command, ...] = (
    Command("replay", "Analyse a recorded video file.", "replay"),
    Command("run", "Run the daemon for the live cameras of a config.", "run"),
    Command(
        "console", "Serve the web console on a recorded file instead of live cameras.", "console"
    ),
    Command("bench", "Benchmark runner: simulated cameras vs bare ONNX Runtime.", "bench"),
    Command("calibrate", "Fit a camera's ground calibration from point pairs.", "calibrate"),
    Command("regions", "Draw a camera's region plan on a frame; print what it sees.", "regions"),
    Command("eval", "Score scenarios against their ground truth.", "evaluate"),
    Command("reference", "Construction and view references (capture).", "reference"),
    Command("cases", "Draft cases in an outbox: list, verdict, prune.", "cases"),
    Command("report", "Period report: HTML with charts, and CSV.", "report"),
    Command(
        "dataset", "Learning data: export kept frames as YOLO, check a labelled set.", "dataset"
    ),
    Command("verdicts", "Learn the second look from the operators' verdicts.", "verdicts"),
    Command("model", "Compare two model manifests; install one into a config.", "model"),
    Command(
        "train", "Train a detector on a dataset (in .venv-train), export ONNX + manifest.", "train"
    ),
    Command("cluster", "Several boxes sharing the cameras (cluster:): status.", "cluster"),
    Command("users", "Console accounts: add, passwd, role, disable, enable, list.", "users"),
    Command("audit", "Print the console's audit log: who did what, when.", "audit"),
)
