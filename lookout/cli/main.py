"""The `lookout` command line: the parser built from the command table
(lookout/cli/commands.py) and the one place user errors become one line and exit 2.

Commands:
  replay VIDEO --config FILE [--camera ID] [--out DIR]   analyse a recorded file
  run --config FILE                                       the daemon for live cameras
  console --config FILE [--source VIDEO]                  the web console on a recording
  bench [--out DIR] [--no-sweep] [--update-readme]        the benchmark runner
  calibrate POINTS --config FILE --camera ID [--write]    fit a preset's ground calibration
  regions --config FILE --camera ID --out PLAN.png        a camera's region plan on a frame
  eval SCENARIO... [--baseline FILE]                      score scenarios against the truth
  reference capture --config FILE --camera ID             take a view as the reference
  cases list|verdict|release|prune ...                    read and judge the outbox's cases
  report --from DATE --to DATE [--config FILE | --out DIR] the period report
  dataset export|import ...                               kept frames as YOLO; check labels
  verdicts learn --config FILE                            fit the second look on verdicts
  model compare|install ...                               judge a model; install it if no worse
  train --data DATA.yaml --base B --out DIR/NAME          train, export ONNX + its manifest
  cluster status --config FILE [--json]                   boxes and camera leases
  users add|passwd|role|disable|enable|list ...           the console's named accounts
  audit --config FILE [--from DATE] [--to DATE]           who did what in the console

User errors print one line on stderr and exit with code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lookout.base.errors import LookoutError
from lookout.base.logs import setup_logging
from lookout.base.memory import prepare_process
from lookout.cli.commands import COMMANDS
from lookout.cli.parsing import EXIT_USAGE, VERBOSE_HELP, Parser, Subcommands


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="lookout", description="Rooftop camera analytics → draft cases.")
    p.add_argument("-v", "--verbose", action="count", default=0, help=VERBOSE_HELP)
    sub = p.add_subparsers(dest="command", required=True, parser_class=Parser, action=Subcommands)
    for command in COMMANDS:
        command.load().add_arguments(sub.add_parser(command.name, help=command.help))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    prepare_process()  # before any thread starts (lookout/base/memory.py)
    args = build_parser().parse_args(argv)
    setup_logging(logging.WARNING - 10 * min(args.verbose, 2))
    command = next(c for c in COMMANDS if c.name == args.command)
    try:
        return command.load().run(args)
    except LookoutError as exc:
        print(f"lookout: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("lookout: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
