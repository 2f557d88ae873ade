"""`lookout model compare A B [--scenarios FILE...] [--json FILE]`: two model manifests
through the same evaluation scenarios, side by side; exit 1 when B does worse than A on
any of them (lookout/evaluation/compare.py, docs/LEARNING.md "Judging a model")."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lookout.base.paths import REPO_ROOT
from lookout.cli.parsing import subcommands


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = subcommands(parser, "model_command")
    p = group.add_parser("compare", help="Compare two model manifests on the scenarios.")
    p.add_argument("a", type=Path, help="Manifest of the model in use (models/*.yaml).")
    p.add_argument("b", type=Path, help="Manifest of the candidate model.")
    p.add_argument(
        "--scenarios",
        nargs="+",
        type=Path,
        help="Scenario files (default: every scenario in scenarios/, the far views and "
        "the pixel scenarios included).",
    )
    p.add_argument("--json", type=Path, help="Write the comparison as JSON here.")


def run(args: argparse.Namespace) -> int:
    from lookout.evaluation.compare import compare

    scenarios = args.scenarios or sorted((REPO_ROOT / "scenarios").glob("*.yaml"))
    result = compare(args.a, args.b, scenarios)
    print(result.table())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.as_json(), indent=2, ensure_ascii=False) + "\n")
    for loss in result.losses:
        print(f"B LOSES: {loss}")
    return 1 if result.losses else 0
